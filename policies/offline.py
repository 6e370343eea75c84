"""The pack's rules over planned resources, without the Pulumi CLI: each policy gets the argument bag the policy
SDK would pass it during `pulumi preview --policy-pack policies`, built from the resource's planned inputs."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from policies.rules import ALL_POLICIES

FailOn = Literal["mandatory", "advisory", "never"]


class PlannedResourceLike(Protocol):
    """What the offline plan knows of a resource (scripts.planning.PlannedResource has it)."""

    @property
    def urn(self) -> str:
        """The resource's URN."""

    @property
    def type(self) -> str:
        """Its type token (`azure-native:network:VirtualNetwork`)."""

    @property
    def name(self) -> str:
        """Its logical name."""

    @property
    def parent(self) -> str | None:
        """Its parent's URN."""

    @property
    def inputs(self) -> dict[str, Any]:
        """Its inputs as registered: what the policy SDK hands a policy as `props`."""

    @property
    def custom(self) -> bool:
        """Whether it is a cloud resource (components hold no settings to check)."""

    @property
    def outputs(self) -> dict[str, Any]:
        """What the (mock) provider answered for it."""


@dataclass(frozen=True)
class Violation:
    """One rule broken by one resource, as review.json records it."""

    rule: str
    urn: str
    level: str
    message: str

    def as_json(self) -> dict[str, str]:
        """The violation as review.json records it."""
        return {"rule": self.rule, "urn": self.urn, "level": self.level, "message": self.message}


class PackConfigError(ValueError):
    """The pack config file is unusable; the message names the file and the key."""


LEVELS = tuple(level.value for level in EnforcementLevel if level is not EnforcementLevel.REMEDIATE)


def read_pack_config(path: Path, policies: Iterable[Policy] = ALL_POLICIES) -> dict[str, Any]:
    """The pack config file (`pulumi preview --policy-pack-config` format), checked before it is used: a rule
    name the pack does not have (a typo that would silently keep the default) or a level it does not know is
    refused, naming the key."""
    try:
        config = json.loads(path.read_text())
    except OSError as exc:
        raise PackConfigError(f"{path}: cannot read the pack config ({exc.strerror})") from exc
    except json.JSONDecodeError as exc:
        raise PackConfigError(f"{path}: not JSON ({exc.msg} at line {exc.lineno})") from exc
    except UnicodeDecodeError as exc:
        raise PackConfigError(f"{path}: not UTF-8 text") from exc
    if not isinstance(config, dict):
        raise PackConfigError(f"{path}: a JSON object of rule names is expected")
    names = {policy.name for policy in policies}
    for rule, value in config.items():
        if rule not in names:
            raise PackConfigError(f"{path}: {rule[:80]!r} is not a rule of the pack (see the README's rule table)")
        if not isinstance(value, (str, dict)):
            raise PackConfigError(f"{path}: {rule}: a level or an object of settings is expected")
        level = value.get("enforcementLevel") if isinstance(value, dict) else value
        if level is not None and level not in LEVELS:
            raise PackConfigError(f"{path}: {rule}: level {str(level)[:40]!r} is not one of {', '.join(LEVELS)}")
    return config


def _level(policy: Policy, config: Mapping[str, Any]) -> EnforcementLevel:
    own = config.get(policy.name)
    if isinstance(own, str):
        return EnforcementLevel(own)
    if isinstance(own, Mapping) and "enforcementLevel" in own:
        return EnforcementLevel(own["enforcementLevel"])
    assert policy.enforcement_level is not None  # every rule of the pack names its level
    return policy.enforcement_level


def _options(resource: PlannedResourceLike) -> PolicyResourceOptions:
    return PolicyResourceOptions(
        protect=False,
        ignore_changes=[],
        delete_before_replace=None,
        aliases=[],
        custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
        additional_secret_outputs=[],
        parent=resource.parent,
    )


def _args(resource: PlannedResourceLike, own: Mapping[str, Any]) -> ResourceValidationArgs:
    return ResourceValidationArgs(
        resource.type, resource.inputs, resource.urn, resource.name, _options(resource), None, own
    )


def _stack_args(resources: Sequence[PlannedResourceLike], own: Mapping[str, Any]) -> StackValidationArgs:
    """The stack as the SDK hands it to a stack policy: every cloud resource with its properties. In a preview
    those are the inputs, overlaid by whatever the provider already answers; the offline plan does the same
    (its mock answers no Kubernetes spec back, so the inputs carry it)."""
    policy_resources = [
        PolicyResource(r.type, {**r.inputs, **r.outputs}, r.urn, r.name, _options(r), None, None, [], {})
        for r in resources
        if r.custom
    ]
    return StackValidationArgs(policy_resources, own)


def _reporter(found: list[Violation], rule: str, level: EnforcementLevel, urn: str) -> Any:
    def report(message: str, other_urn: str | None = None) -> None:
        found.append(Violation(rule, other_urn or urn, level.value, message))

    return report


def check_resources(
    resources: Sequence[PlannedResourceLike],
    pack_config: Mapping[str, Any] | None = None,
    policies: Iterable[Policy] = ALL_POLICIES,
) -> list[Violation]:
    """Every violation of the planned resources, mandatory first, then by rule and resource. `pack_config` is
    the pack's config as `pulumi preview --policy-pack-config` reads it (`{rule: level | {enforcementLevel, ...}}`)."""
    config = dict(pack_config or {})
    found: list[Violation] = []
    for policy in policies:
        level = _level(policy, config)
        if level is EnforcementLevel.DISABLED:
            continue
        own = config.get(policy.name)
        settings = {k: v for k, v in own.items() if k != "enforcementLevel"} if isinstance(own, Mapping) else {}
        if isinstance(policy, StackValidationPolicy):
            policy.validate(_stack_args(resources, settings), _reporter(found, policy.name, level, ""))
            continue
        assert isinstance(policy, ResourceValidationPolicy)
        for resource in resources:
            if resource.custom:
                policy.validate(_args(resource, settings), _reporter(found, policy.name, level, resource.urn))
    order = {"mandatory": 0, "advisory": 1}
    return sorted(found, key=lambda v: (order.get(v.level, 2), v.rule, v.urn, v.message))


def fails(violations: Iterable[Violation], fail_on: FailOn) -> bool:
    """Whether the review should fail the plan: on any mandatory violation, on any at all, or never."""
    if fail_on == "never":
        return False
    levels = {v.level for v in violations}
    return "mandatory" in levels or (fail_on == "advisory" and "advisory" in levels)
