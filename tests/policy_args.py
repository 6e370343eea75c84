"""The policy SDK's own argument bags, built the way the Pulumi CLI hands them to a rule, for the pack's tests."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pulumi_policy import (
    Policy,
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

OPTIONS = PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [])
MODE_LABEL = "supply-chain/admission-mode"


def policy_resource(resource_type: str, props: Mapping[str, Any], name: str = "r") -> PolicyResource:
    """A resource of a stack as a stack rule sees it."""
    return PolicyResource(
        resource_type, props, f"urn:pulumi:s::p::{resource_type}::{name}", name, OPTIONS, None, None, [], {}
    )


def namespace(name: str, mode: str, until: str | None = None) -> PolicyResource:
    """A namespace the chain labels with its admission mode (and audit deadline)."""
    metadata: dict[str, Any] = {"name": name, "labels": {MODE_LABEL: mode}}
    if until:
        metadata["annotations"] = {"supply-chain/audit-until": until}
    return policy_resource("kubernetes:core/v1:Namespace", {"metadata": metadata}, name)


class _Reported(list[str]):
    """A `ReportViolation` that keeps each message (and, in `at`, the name of the resource each is about)."""

    def __init__(self) -> None:
        super().__init__()
        self.at: list[tuple[str, str | None]] = []

    def __call__(self, message: str, urn: str | None = None) -> None:
        self.append(message)
        self.at.append((message, urn.rsplit("::", 1)[-1] if urn else None))


def resource_violations(policy: Policy, resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """What a resource rule reports about one resource."""
    assert isinstance(policy, ResourceValidationPolicy)
    found = _Reported()
    args = ResourceValidationArgs(resource_type, props, f"urn:pulumi:s::p::{resource_type}::r", "r", OPTIONS, None, {})
    policy.validate(args, found)
    return list(found)


def stack_violations(
    policy: Policy, resources: Iterable[PolicyResource], config: Mapping[str, Any] | None = None
) -> list[str]:
    """What a stack rule reports about a stack of `resources`."""
    assert isinstance(policy, StackValidationPolicy)
    found = _Reported()
    policy.validate(StackValidationArgs(list(resources), config), found)
    return list(found)


def stack_findings(
    policy: Policy, resources: Iterable[PolicyResource], config: Mapping[str, Any] | None = None
) -> list[tuple[str, str | None]]:
    """What a stack rule reports, each message with the name of the resource it is about (None: the stack)."""
    assert isinstance(policy, StackValidationPolicy)
    found = _Reported()
    policy.validate(StackValidationArgs(list(resources), config), found)
    return found.at


LOCKED_REGISTRY: dict[str, object] = {
    "adminUserEnabled": False,
    "anonymousPullEnabled": False,
    "publicNetworkAccess": "Disabled",
    "networkRuleBypassOptions": "None",
    "networkRuleSet": {"defaultAction": "Deny", "ipRules": []},
    "policies": {"exportPolicy": {"status": "disabled"}, "retentionPolicy": {"status": "disabled"}},
}
"""A registry's settings (ARM names) that no registry rule reports: the rules' tests change one at a time."""
