"""What every rule shares: the policy shape (name, description, level, remediation) and small readers of the
props the SDK passes (inputs as the engine sees them, camelCase as the provider names them)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)

MANDATORY = EnforcementLevel.MANDATORY
ADVISORY = EnforcementLevel.ADVISORY

Check = Callable[[ResourceValidationArgs, ReportViolation], None]

RESOURCE_TYPES: dict[str, frozenset[str]] = {}
"""The resource types each rule looks at, by rule name (for the review's coverage and its tests)."""


def resource_policy(
    name: str,
    *,
    resource_type: str | tuple[str, ...],
    description: str,
    level: EnforcementLevel,
    remediation: str,
    check: Check,
    config: dict[str, dict[str, Any]] | None = None,
) -> ResourceValidationPolicy:
    """A policy that looks only at resources of `resource_type` (one type or several; the Python SDK has no type
    filter of its own)."""
    types = frozenset({resource_type} if isinstance(resource_type, str) else resource_type)
    RESOURCE_TYPES[name] = types

    def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
        if args.resource_type in types:
            check(args, report)

    return ResourceValidationPolicy(
        name=name,
        description=description,
        validate=validate,
        enforcement_level=level,
        config_schema=PolicyConfigSchema(properties=config) if config else None,
        remediation_steps=remediation,
    )


def config_value(args: ResourceValidationArgs, schema: dict[str, dict[str, Any]], key: str) -> Any:
    """The pack config's value for `key`, or the schema's default (the CLI fills defaults in; the offline
    plan passes none)."""
    return args.get_config().get(key, schema[key]["default"])


def dig(props: Mapping[str, Any], *path: str) -> Any:
    """`props[path[0]][path[1]]...`, or None where a step is missing."""
    value: Any = props
    for step in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(step)
    return value


def environment(args: ResourceValidationArgs) -> str | None:
    """The stack's environment, as the chain tags every Azure resource (`environment`)."""
    tags = args.props.get("tags")
    return str(tags.get("environment")) if isinstance(tags, Mapping) and tags.get("environment") else None
