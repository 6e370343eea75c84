"""The role assignments of a plan by name, for the trust summary: built-in roles by their Azure name (their GUIDs
are fixed across tenants), custom roles by their planned name and actions, each with its principal, scope and
condition, and whether it lets its holder sign with a vault key."""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from components.model.registry_permissions import ROLE_NAMES as REGISTRY_ROLE_NAMES

if TYPE_CHECKING:
    from scripts.planning import Plan

BUILT_IN_ROLES: Mapping[str, str] = {
    **REGISTRY_ROLE_NAMES,  # AcrPush, AcrPull and the ABAC-mode Container Registry Repository Reader / Writer
    "4633458b-17de-408a-b874-0445c86b69e6": "Key Vault Secrets User",
    "12338af0-0e69-4776-bea7-57ae8d297424": "Key Vault Crypto User",
    "14b46e9e-c2b7-41b4-b07b-48a6ebf60603": "Key Vault Crypto Officer",
    "00482a5a-887f-4fb3-b363-3b7fe8e74483": "Key Vault Administrator",
    "b7e6dc6d-f1e8-4753-8033-0f276bb0955b": "Storage Blob Data Owner",
    "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3": "Storage Table Data Contributor",
    "acdd72a7-3385-48ef-bd42-f606fba81ae7": "Reader",
    "8e3af657-a8ff-443c-a75c-2fe8c4bcb635": "Owner",
    "b24988ac-6180-42a0-ab88-20f7382dd24c": "Contributor",
    "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9": "User Access Administrator",
    "f58310d9-a9f6-439a-9e8d-f62e7b41a168": "Role Based Access Control Administrator",
}
"""Azure's built-in role definitions by their fixed GUID: the ones the program assigns and the broad ones."""

SIGNING_BUILT_IN_ROLES = frozenset(
    {
        "12338af0-0e69-4776-bea7-57ae8d297424",  # Key Vault Crypto User
        "14b46e9e-c2b7-41b4-b07b-48a6ebf60603",  # Key Vault Crypto Officer
        "00482a5a-887f-4fb3-b363-3b7fe8e74483",  # Key Vault Administrator
    }
)
"""Built-in roles whose data actions include signing with a vault key."""

KEY_SIGN_ACTION = "Microsoft.KeyVault/vaults/keys/sign/action"

ROLE_ASSIGNMENT = "azure-native:authorization:RoleAssignment"
ROLE_DEFINITION = "azure-native:authorization:RoleDefinition"
IDENTITY = "azure-native:managedidentity:UserAssignedIdentity"


def _last(resource_id: object) -> str:
    return str(resource_id).rstrip("/").rsplit("/", 1)[-1]


def role_assignments(plan: Plan) -> list[dict[str, Any]]:
    """Every planned role assignment: the role by name (built-in by GUID, custom by its planned name and
    actions), the principal (the planned managed identity's name when it is one), the scope and the ABAC condition
    when it has one (which repositories a registry role reaches)."""
    definitions = {str(r.outputs.get("id")): r for r in plan.of_type(ROLE_DEFINITION)}
    identities = {
        str(r.outputs.get("principalId")): str(r.inputs.get("resourceName", r.name)) for r in plan.of_type(IDENTITY)
    }
    out = []
    for assignment in plan.of_type(ROLE_ASSIGNMENT):
        role_id = str(assignment.inputs.get("roleDefinitionId", ""))
        principal = str(assignment.inputs.get("principalId", ""))
        entry: dict[str, Any] = {
            "assignment": assignment.name,
            "principal": identities.get(principal, principal),
            "principalKind": "managed identity" if principal in identities else "principal id",
            "scope": str(assignment.inputs.get("scope", "")),
        }
        if (custom := definitions.get(role_id)) is not None:
            permissions = custom.inputs.get("permissions") or [{}]
            entry["role"] = str(custom.inputs.get("roleName", custom.name))
            entry["roleKind"] = "custom"
            entry["actions"] = sorted({a for p in permissions for a in p.get("actions", [])})
            entry["dataActions"] = sorted({a for p in permissions for a in p.get("dataActions", [])})
        else:
            guid = _last(role_id).lower()
            entry["role"] = BUILT_IN_ROLES.get(guid, f"built-in role {guid}")
            entry["roleKind"] = "built-in"
        if condition := assignment.inputs.get("condition"):
            entry["condition"] = str(condition)
        entry["grantsKeySign"] = guid_signs(role_id) or any(
            fnmatch.fnmatchcase(KEY_SIGN_ACTION.lower(), a.lower()) for a in entry.get("dataActions", [])
        )
        out.append(entry)
    return sorted(out, key=lambda e: (e["principal"], e["role"], e["scope"], e["assignment"]))


def guid_signs(role_definition_id: str) -> bool:
    """Whether a role definition id names a built-in role that may sign with vault keys."""
    return _last(role_definition_id).lower() in SIGNING_BUILT_IN_ROLES
