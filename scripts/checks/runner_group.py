"""The agents' runner group as GitHub holds it, compared with the stack's `agentRunnerGroup` output: the
group decides which repositories (and workflows) can send jobs to the agents, and it lives in GitHub,
outside the stack, so it is checked after every deploy.

Reads GitHub's REST API with a token from `GITHUB_TOKEN` (a fine-grained token or App token with read
access to the organisation's self-hosted runners); without one the check is skipped, saying so.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

import requests

from components.model.contract import StackOutputs
from scripts.checks.results import Check, CheckFailed, CheckResult, Observation, passed_if, run_check

GITHUB_API = "https://api.github.com"
COMPARED = ("visibility", "allows_public_repositories", "restricted_to_workflows", "selected_workflows")


def github_token_from_environment() -> str | None:
    """`GITHUB_TOKEN`, if set."""
    return os.environ.get("GITHUB_TOKEN") or None


def _get(session: requests.Session, url: str) -> Any:
    try:
        response = session.get(url, timeout=20)
    except requests.RequestException as error:
        raise CheckFailed(f"GitHub's API is not reachable: {type(error).__name__}") from None
    if response.status_code in (401, 403, 404):
        raise CheckFailed(f"GitHub answered {response.status_code} for {url.split('/orgs/', 1)[-1]} (token scope?)")
    if not response.ok:
        raise CheckFailed(f"GitHub answered {response.status_code}")
    try:
        return response.json()
    except ValueError:
        raise CheckFailed("GitHub answered something other than JSON") from None


def _pages(session: requests.Session, url: str, key: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for page in range(1, 50):
        batch = _get(session, f"{url}?per_page=100&page={page}").get(key) or []
        items += batch
        if len(batch) < 100:
            return items
    return items


def actual_group(session: requests.Session, api: str, organization: str, name: str) -> dict[str, Any] | None:
    """The runner group named `name` with its repositories, as GitHub's API gives them; None if missing."""
    groups = _pages(session, f"{api}/orgs/{organization}/actions/runner-groups", "runner_groups")
    group = next((g for g in groups if g.get("name") == name), None)
    if group is None:
        return None
    settings = {key: group.get(key) for key in COMPARED}
    settings["selected_workflows"] = sorted(settings["selected_workflows"] or [])
    settings["selected_repositories"] = sorted(
        (
            r["full_name"]
            for r in _pages(
                session, f"{api}/orgs/{organization}/actions/runner-groups/{group['id']}/repositories", "repositories"
            )
        ),
        key=str.lower,
    )
    return settings


def runner_group_matches(
    expected: Mapping[str, Any], organization: str, token: str | None, api: str = GITHUB_API
) -> Check:
    """GitHub's runner group has exactly the settings the stack output names."""

    def observe() -> Observation:
        if token is None:
            return Observation("no GITHUB_TOKEN: set one that can read the organisation's runner groups", "skip")
        session = requests.Session()
        session.headers.update(
            {
                "Authorization": f"Bearer {token}",
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": "2022-11-28",
            }
        )
        actual = actual_group(session, api.rstrip("/"), organization, str(expected["name"]))
        if actual is None:
            raise CheckFailed(
                f"no runner group {expected['name']!r} in {organization}: create it as agentRunnerGroup says"
            )
        wanted = {key: expected[key] for key in (*COMPARED, "selected_repositories")}
        wanted["selected_repositories"] = sorted(wanted["selected_repositories"], key=str.lower)
        differences = {
            key: {"github": actual[key], "stack": wanted[key]} for key in wanted if actual[key] != wanted[key]
        }
        observed = "as the stack says" if not differences else "differs in " + ", ".join(sorted(differences))
        return passed_if(not differences, observed, {"differences": differences})

    return Check(
        "agents/runner-group",
        "GitHub's runner group lets only the listed repositories (and workflows) reach the agents",
        "the settings of agentRunnerGroup",
        observe,
    )


def runner_group_posture(
    outputs: StackOutputs, token: Callable[[], str | None] = github_token_from_environment, api: str = GITHUB_API
) -> list[CheckResult]:
    """The runner-group check, for stacks with build agents."""
    if not outputs.agent_runner_group:
        return []
    organization = str(outputs.agent_runner_group.get("organization") or "")
    return [run_check(runner_group_matches(outputs.agent_runner_group, organization, token(), api))]
