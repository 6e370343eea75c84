"""Role assignments: the narrowest scope, never a role that administers everything."""

from __future__ import annotations

import re
from typing import Any

from pulumi_policy import ReportViolation, ResourceValidationArgs

from policies.rules.base import MANDATORY, config_value, resource_policy

ROLE_ASSIGNMENT = "azure-native:authorization:RoleAssignment"

BROAD_ROLES = {
    "8e3af657-a8ff-443c-a75c-2fe8c4bcb635": "Owner",
    "b24988ac-6180-42a0-ab88-20f7382dd24c": "Contributor",
    "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9": "User Access Administrator",
    "f58310d9-a9f6-439a-9e8d-f62e7b41a168": "Role Based Access Control Administrator",
}
"""Built-in roles that administer whatever they are assigned on (Azure's fixed role ids)."""

_SUBSCRIPTION = re.compile(r"^/subscriptions/[^/]+/?$", re.IGNORECASE)
_RESOURCE_GROUP = re.compile(r"^/subscriptions/[^/]+/resourceGroups/(?P<group>[^/]+)/?$", re.IGNORECASE)

SCOPE_SCHEMA: dict[str, dict[str, Any]] = {
    "resourceGroupScopes": {
        "type": "array",
        "items": {"type": "string"},
        "default": [".+-agents"],
        "description": (
            "Resource groups (full-match regular expressions) where a role may be assigned on the whole group: "
            "the agents' pool group, which holds only agent VMs the control plane creates and deletes."
        ),
    }
}


def _narrow(args: ResourceValidationArgs, report: ReportViolation) -> None:
    scope = str(args.props.get("scope") or "")
    role = str(args.props.get("roleDefinitionId") or "").rsplit("/", 1)[-1].lower()
    if role in BROAD_ROLES:
        report(f"assigns {BROAD_ROLES[role]}: grant the few actions needed, on the one resource", None)
    if scope == "/" or _SUBSCRIPTION.match(scope) or scope.lower().startswith("/providers/microsoft.management"):
        report(f"assigned on a whole subscription or management group ({scope})", None)
    elif group := _RESOURCE_GROUP.match(scope):
        allowed = config_value(args, SCOPE_SCHEMA, "resourceGroupScopes")
        if not any(re.fullmatch(pattern, group["group"]) for pattern in allowed):
            report(f"assigned on the whole resource group {group['group']}: assign it on the resource", None)


POLICIES = [
    resource_policy(
        "roles-narrowest-scope",
        resource_type=ROLE_ASSIGNMENT,
        description="No Owner, Contributor or access-administrator role; no subscription scope; no resource-group "
        "scope except the agents' own pool group.",
        level=MANDATORY,
        remediation="Assign a built-in data role or a custom role with the exact actions, on the resource itself.",
        check=_narrow,
        config=SCOPE_SCHEMA,
    ),
]
