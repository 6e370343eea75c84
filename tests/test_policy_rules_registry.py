"""The registry rules over both forms a registry is planned as: pulumi-azure-native's typed `Registry` (flat inputs,
the provider's names) and its generic ARM resource (the body under `properties`, ARM's names), as the program now
creates it for API 2025-11-01. Every verdict is the same for both; the repository-permission rules report a registry
outside ABAC mode and a push grant that reaches every repository."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import pytest

from components.model.registry_permissions import (
    ACR_PULL,
    ACR_PUSH,
    REPOSITORY_READER,
    REPOSITORY_READER_DATA_ACTIONS,
    REPOSITORY_WRITER,
    push_condition,
    repository_condition,
)
from policies.rules import ALL_POLICIES
from policies.rules.registry import registry_settings
from tests.policy_args import (
    LOCKED_REGISTRY,
    policy_resource,
    resource_violations,
    stack_findings,
    stack_violations,
)

RULES = {policy.name: policy for policy in ALL_POLICIES}
TYPED = "azure-native:containerregistry:Registry"
GENERIC = "azure-native:resources:Resource"
ASSIGNMENT = "azure-native:authorization:RoleAssignment"
SUB = "/subscriptions/9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
REGISTRY_ID = f"{SUB}/resourceGroups/rg-sc/providers/Microsoft.ContainerRegistry/registries/crprod"

LOCKED = {**LOCKED_REGISTRY, "roleAssignmentMode": "AbacRepositoryPermissions"}
"""A compliant registry's settings in ARM's terms."""


def _typed(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The settings as the typed resource's inputs: flat, an IP rule's range named `iPAddressOrRange`."""
    props = copy.deepcopy(dict(settings))
    props.pop("roleAssignmentMode", None)  # its API (2023-01-01-preview) has no such property
    rules = props.get("networkRuleSet", {}).get("ipRules", [])
    for rule in rules:
        rule["iPAddressOrRange"] = rule.pop("value")
    return {"registryName": "crprod", **props}


def _generic(settings: Mapping[str, Any], **outside: Any) -> dict[str, Any]:
    """The settings as the generic ARM resource's inputs."""
    return {
        "resourceProviderNamespace": "Microsoft.ContainerRegistry",
        "resourceType": "registries",
        "parentResourcePath": "",
        "apiVersion": "2025-11-01",
        "resourceName": "crprod",
        "properties": copy.deepcopy(dict(settings)),
        **outside,
    }


def _public(*ranges: str) -> dict[str, Any]:
    rules = [{"value": r, "action": "Allow"} for r in ranges]
    return {"publicNetworkAccess": "Enabled", "networkRuleSet": {"defaultAction": "Deny", "ipRules": rules}}


BREAKS = [
    ("registry-no-shared-access", {"adminUserEnabled": True},
     "the admin user is on: one shared password pushes and pulls every image"),
    ("registry-no-shared-access", {"anonymousPullEnabled": True},
     "anonymous pull is on: anyone who reaches the registry reads every image"),
    ("registry-export-off", {"policies": {"exportPolicy": {"status": "enabled"}}},
     "export is allowed: images can be copied out of the registry's network rules"),
    ("registry-public-endpoint-allowlisted", {"publicNetworkAccess": "Enabled"},
     "the public endpoint is open without an IP allowlist (default action Deny with listed ranges)"),
    ("registry-public-endpoint-allowlisted",
     _public("0.0.0.0/0"),
     "the allowlist holds 0.0.0.0/0: the Internet, not a list"),
    ("registry-endpoint-private",
     _public("52.174.10.0/24"),
     "the public endpoint is on (allowed: 52.174.10.0/24)"),
    ("registry-bypass-off", {"networkRuleBypassOptions": "AzureServices"},
     "trusted Azure services bypass the network rules"),
    ("registry-retention-keeps-running-images", {"policies": {"retentionPolicy": {"status": "enabled", "days": 7}}},
     "untagged manifests are deleted after 7 days, including images still running by digest after their tag moved"),
]  # fmt: skip


@pytest.mark.parametrize(("rule", "change", "message"), BREAKS, ids=[f"{b[0]}: {b[2][:30]}" for b in BREAKS])
@pytest.mark.parametrize("form", ["typed", "generic"])
def test_each_registry_rule_judges_both_forms_alike(rule: str, change: dict[str, Any], message: str, form: str) -> None:
    resource_type, shaped = (TYPED, _typed) if form == "typed" else (GENERIC, _generic)
    assert resource_violations(RULES[rule], resource_type, shaped(LOCKED)) == []
    assert resource_violations(RULES[rule], resource_type, shaped({**LOCKED, **change})) == [message]


def test_a_generic_resource_that_is_no_registry_is_left_alone() -> None:
    broken = {**LOCKED, "adminUserEnabled": True}
    vault = _generic(broken, resourceProviderNamespace="Microsoft.KeyVault", resourceType="vaults")
    replication = _generic(broken, parentResourcePath="registries/crprod", resourceType="replications")
    for props in (vault, replication):
        assert registry_settings(GENERIC, props) is None
        assert resource_violations(RULES["registry-no-shared-access"], GENERIC, props) == []
    # ARM compares namespaces and types without case, and so does the pack
    shouting = _generic(broken, resourceProviderNamespace="MICROSOFT.CONTAINERREGISTRY", resourceType="Registries")
    assert resource_violations(RULES["registry-no-shared-access"], GENERIC, shouting) != []


def test_a_registry_outside_abac_mode_is_reported() -> None:
    rule = RULES["registry-repository-permissions"]
    legacy = (
        "the registry's permissions are registry-wide (legacy mode): AcrPush writes every repository, so a build "
        "can overwrite another team's images and signature tags"
    )
    assert resource_violations(rule, GENERIC, _generic(LOCKED)) == []
    assert resource_violations(
        rule, GENERIC, _generic({**LOCKED, "roleAssignmentMode": "LegacyRegistryPermissions"})
    ) == [legacy]
    unset = {k: v for k, v in LOCKED.items() if k != "roleAssignmentMode"}
    assert resource_violations(rule, GENERIC, _generic(unset)) == [legacy], "Azure's default is the legacy mode"
    assert resource_violations(rule, TYPED, _typed(LOCKED)) == [legacy], "the typed resource's API has no ABAC mode"
    for old_api in ("2023-01-01-preview", "2024-11-01-preview", ""):  # Azure drops a property its API lacks
        assert resource_violations(rule, GENERIC, _generic(LOCKED, apiVersion=old_api)) == [legacy], old_api
    assert resource_violations(rule, GENERIC, _generic(LOCKED, apiVersion="2025-03-01-preview")) == []


def _grant(role: str, condition: str | None = None) -> dict[str, Any]:
    grant = {
        "scope": REGISTRY_ID,
        "roleDefinitionId": f"{SUB}/providers/Microsoft.Authorization/roleDefinitions/{role}",
    }
    return {**grant, "condition": condition, "conditionVersion": "2.0"} if condition else grant


def test_a_push_grant_that_reaches_every_repository_is_reported() -> None:
    rule = RULES["registry-push-limited-to-repositories"]
    tail = ": a build can overwrite another team's images and signature tags"
    assert resource_violations(rule, ASSIGNMENT, _grant(REPOSITORY_WRITER, push_condition(["payments/**"]))) == []
    assert resource_violations(rule, ASSIGNMENT, _grant(REPOSITORY_READER)) == [], "reading every repository is a pull"
    assert resource_violations(rule, ASSIGNMENT, _grant(ACR_PULL)) == []
    assert resource_violations(rule, ASSIGNMENT, _grant(ACR_PUSH)) == [
        f"AcrPush writes every repository of the registry{tail}"
    ]
    unconditioned = (
        "Container Registry Repository Writer without a condition on the repository name writes every repository"
    )
    assert resource_violations(rule, ASSIGNMENT, _grant(REPOSITORY_WRITER)) == [f"{unconditioned}{tail}"]
    # a condition that keeps only the reads to some repositories leaves the writes everywhere
    reads_only = repository_condition(REPOSITORY_READER_DATA_ACTIONS, ["payments/**"])
    assert resource_violations(rule, ASSIGNMENT, _grant(REPOSITORY_WRITER, reads_only)) == [f"{unconditioned}{tail}"]
    # role ids as Azure writes them, in upper case
    assert resource_violations(rule, ASSIGNMENT, _grant(ACR_PUSH.upper())) != []


def test_the_stack_rules_find_the_generic_registry() -> None:
    prod = {"environment": "prod"}
    registry = policy_resource(GENERIC, {**_generic(LOCKED), "tags": prod}, "acr")
    lock = policy_resource(
        "azure-native:authorization:ManagementLockByScope", {"scope": REGISTRY_ID, "level": "CanNotDelete"}, "lock"
    )
    assert stack_violations(RULES["prod-safeguards"], [registry, lock]) == []
    assert stack_findings(RULES["prod-safeguards"], [registry]) == [
        ("crprod has no delete lock: one mistaken destroy removes it", "acr")
    ]


def test_a_generic_registry_without_a_body_is_judged_as_an_empty_one() -> None:
    # no `properties` at all: every setting is Azure's default, and the admin user is not switched off
    bare = {k: v for k, v in _generic(LOCKED).items() if k != "properties"}
    admin = "the admin user is on: one shared password pushes and pulls every image"
    assert resource_violations(RULES["registry-no-shared-access"], GENERIC, bare) == [admin]
    assert resource_violations(RULES["registry-no-shared-access"], GENERIC, {**bare, "properties": None}) == [admin]


def test_a_generic_resource_under_a_parent_is_not_the_registry_whatever_its_type_says() -> None:
    nested = _generic({**LOCKED, "adminUserEnabled": True}, parentResourcePath="registries/crprod")
    assert nested["resourceType"] == "registries"
    assert registry_settings(GENERIC, nested) is None
    assert resource_violations(RULES["registry-no-shared-access"], GENERIC, nested) == []


def test_a_push_grant_named_by_its_bare_role_id_is_judged_too() -> None:
    rule = RULES["registry-push-limited-to-repositories"]
    acr_push = "8311e382-0749-4cb8-b61a-304f252e45ec"  # AcrPush's built-in role id, without the path in front
    assert resource_violations(rule, ASSIGNMENT, {"scope": REGISTRY_ID, "roleDefinitionId": acr_push}) == [
        "AcrPush writes every repository of the registry: a build can overwrite another team's images and "
        "signature tags"
    ]
    assert resource_violations(rule, ASSIGNMENT, {"scope": REGISTRY_ID}) == [], "no role, no push"
