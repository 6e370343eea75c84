"""The GitHub runner group the agents join, kept by the Pulumi GitHub provider when the stack manages it."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_github as github


class RunnerGroup(pulumi.ComponentResource):
    """A runner group open only to the listed repositories (never public ones), and to the listed
    workflows when the settings name any; the provider is bound to the settings' organisation, so a token
    that can reach several organisations cannot create the group in another one."""

    group_id: pulumi.Output[str]
    """GitHub's id of the group."""

    def __init__(self, name: str, settings: dict[str, Any], opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("supply-chain:github:RunnerGroup", name, {}, opts)
        organization = str(settings["organization"])
        provider = github.Provider(f"{name}-github", owner=organization, opts=pulumi.ResourceOptions(parent=self))
        child = pulumi.ResourceOptions(parent=self, provider=provider)
        invoke = pulumi.InvokeOutputOptions(parent=self, provider=provider)
        repository_ids = [
            github.get_repository_output(full_name=repository, opts=invoke).repo_id
            for repository in settings["selected_repositories"]
        ]
        group = github.ActionsRunnerGroup(
            name,
            name=settings["name"],
            visibility=settings["visibility"],
            selected_repository_ids=repository_ids,
            allows_public_repositories=settings["allows_public_repositories"],
            restricted_to_workflows=settings["restricted_to_workflows"],
            selected_workflows=settings["selected_workflows"],
            opts=child,
        )
        self.group_id = group.id
        self.register_outputs({"groupId": group.id})
