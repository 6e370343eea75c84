"""The container registry: nobody pulls without an identity, nothing leaves it, its endpoint is private, and a push
reaches only the repositories a grant names.

The registry is planned either as pulumi-azure-native's typed `containerregistry:Registry` (flat inputs, the
provider's names) or as its generic ARM resource (`resources:Resource` for `Microsoft.ContainerRegistry/registries`,
the body in ARM's terms under `properties`, as the program creates it for API 2025-11-01). `RegistrySettings` reads
either in ARM's terms, so each rule is written once."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from pulumi_policy import PolicyResource, ReportViolation, ResourceValidationArgs, StackValidationArgs

from components.model.registry_permissions import (
    ABAC_MODE,
    ACR_PUSH,
    REPOSITORY_NAME_ATTRIBUTE,
    REPOSITORY_WRITER,
    REPOSITORY_WRITER_DATA_ACTIONS,
)
from policies.rules.base import ADVISORY, MANDATORY, Check, dig, resource_policy
from policies.rules.network import too_wide

REGISTRY = "azure-native:containerregistry:Registry"
GENERIC_RESOURCE = "azure-native:resources:Resource"
REGISTRY_TYPES = (REGISTRY, GENERIC_RESOURCE)
"""Every type token a registry can be planned as (a generic resource only when its inputs name a registry)."""
ROLE_ASSIGNMENT = "azure-native:authorization:RoleAssignment"


FIRST_API_WITH_REPOSITORY_PERMISSIONS = "2025-03-01"
"""The date of ACR's first API version (2025-03-01-preview) with `roleAssignmentMode`."""


class RegistrySettings(Mapping[str, Any]):
    """A planned registry's settings in ARM's terms, read lazily: a value a `pulumi preview` does not know yet
    is only touched (and only makes the SDK skip the rule) when a rule asks for it."""

    def __init__(self, resource_type: str, props: Mapping[str, Any]) -> None:
        self._typed = resource_type == REGISTRY
        self._props = props

    def _body(self) -> Mapping[str, Any]:
        if self._typed:
            return self._props
        body = self._props.get("properties")
        return body if isinstance(body, Mapping) else {}

    def __getitem__(self, key: str) -> Any:
        value = self._body()[key]
        if self._typed and key == "networkRuleSet" and isinstance(value, Mapping):
            # the typed resource calls an IP rule's range `iPAddressOrRange`; ARM (and the generic body) `value`
            rules = [
                {"value": r.get("iPAddressOrRange"), "action": r.get("action")} for r in value.get("ipRules") or []
            ]
            return {**value, "ipRules": rules}
        return value

    def __iter__(self) -> Iterator[str]:
        return iter(self._body())

    def __len__(self) -> int:
        return len(self._body())

    @property
    def name(self) -> Any:
        """The registry's Azure name."""
        return self._props.get("registryName" if self._typed else "resourceName")

    @property
    def knows_repository_permissions(self) -> bool:
        """Whether the API version the registry is written with has `roleAssignmentMode` (2025-03-01-preview and
        later; the typed resource's 2023-01-01-preview does not): under an older one Azure ignores the mode."""
        if self._typed:
            return False
        return str(self._props.get("apiVersion") or "")[:10] >= FIRST_API_WITH_REPOSITORY_PERMISSIONS

    @property
    def ip_ranges(self) -> list[str]:
        """The public ranges its network rules allow."""
        return [str(rule.get("value") or "") for rule in dig(self, "networkRuleSet", "ipRules") or []]


def registry_settings(resource_type: str, props: Mapping[str, Any]) -> RegistrySettings | None:
    """The registry a planned resource is, in ARM's terms; None for a resource that is no registry."""
    if resource_type == REGISTRY:
        return RegistrySettings(resource_type, props)
    if (
        resource_type == GENERIC_RESOURCE
        and str(props.get("resourceProviderNamespace", "")).lower() == "microsoft.containerregistry"
        and str(props.get("resourceType", "")).lower() == "registries"
        and not props.get("parentResourcePath")
    ):
        return RegistrySettings(resource_type, props)
    return None


def registries(args: StackValidationArgs) -> Iterator[tuple[PolicyResource, RegistrySettings]]:
    """Every registry of the stack, whichever resource form made it."""
    for resource in args.resources:
        if (settings := registry_settings(resource.resource_type, resource.props)) is not None:
            yield resource, settings


def _registry_rule(check: Callable[[RegistrySettings, ReportViolation], None]) -> Check:
    """A check of one registry's settings as a rule over every resource type a registry can be planned as."""

    def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
        if (settings := registry_settings(args.resource_type, args.props)) is not None:
            check(settings, report)

    return validate


def _no_shared_access(registry: RegistrySettings, report: ReportViolation) -> None:
    if registry.get("adminUserEnabled") is not False:
        report("the admin user is on: one shared password pushes and pulls every image", None)
    if registry.get("anonymousPullEnabled") is True:
        report("anonymous pull is on: anyone who reaches the registry reads every image", None)


def _export_off(registry: RegistrySettings, report: ReportViolation) -> None:
    if dig(registry, "policies", "exportPolicy", "status") != "disabled":
        report("export is allowed: images can be copied out of the registry's network rules", None)


def _public_endpoint_allowlisted(registry: RegistrySettings, report: ReportViolation) -> None:
    if registry.get("publicNetworkAccess") == "Disabled":
        return
    rules = registry.get("networkRuleSet") or {}
    if rules.get("defaultAction") != "Deny" or not rules.get("ipRules"):
        report("the public endpoint is open without an IP allowlist (default action Deny with listed ranges)", None)
    for ip_range in registry.ip_ranges:
        if too_wide(ip_range):
            report(f"the allowlist holds {ip_range}: the Internet, not a list", None)


def _endpoint_private(registry: RegistrySettings, report: ReportViolation) -> None:
    if registry.get("publicNetworkAccess") != "Disabled":
        report(f"the public endpoint is on (allowed: {', '.join(registry.ip_ranges) or 'nobody listed'})", None)


def _bypass_off(registry: RegistrySettings, report: ReportViolation) -> None:
    if registry.get("networkRuleBypassOptions") != "None":
        report("trusted Azure services bypass the network rules", None)


def _retention_keeps_running_images(registry: RegistrySettings, report: ReportViolation) -> None:
    retention = dig(registry, "policies", "retentionPolicy") or {}
    if retention.get("status") == "enabled":
        report(
            f"untagged manifests are deleted after {retention.get('days')} days, including images still running "
            "by digest after their tag moved",
            None,
        )


def _repository_permissions(registry: RegistrySettings, report: ReportViolation) -> None:
    # The typed resource's API (2023-01-01-preview) has no mode at all, and an older API version silently drops it:
    # those registries are registry-wide whatever the body says.
    if registry.get("roleAssignmentMode") != ABAC_MODE or not registry.knows_repository_permissions:
        report(
            "the registry's permissions are registry-wide (legacy mode): AcrPush writes every repository, so a build "
            "can overwrite another team's images and signature tags",
            None,
        )


def pushes_everywhere(role_definition_id: str, condition: Any) -> str | None:
    """Why a role assignment on a registry lets its holder push to every repository, if it does: AcrPush, or
    Container Registry Repository Writer without a condition that names repositories for its writes."""
    role = role_definition_id.rsplit("/", 1)[-1].lower()
    if role == ACR_PUSH:
        return "AcrPush writes every repository of the registry"
    if role != REPOSITORY_WRITER:
        return None
    text = condition if isinstance(condition, str) else ""
    writes = [a for a in REPOSITORY_WRITER_DATA_ACTIONS if a.endswith("/write")]
    if REPOSITORY_NAME_ATTRIBUTE not in text or not all(f"ActionMatches{{'{a}'}}" in text for a in writes):
        return "Container Registry Repository Writer without a condition on the repository name writes every repository"
    return None


def _push_grant_limited(args: ResourceValidationArgs, report: ReportViolation) -> None:
    reason = pushes_everywhere(str(args.props.get("roleDefinitionId") or ""), args.props.get("condition"))
    if reason is not None:
        report(f"{reason}: a build can overwrite another team's images and signature tags", None)


POLICIES = [
    resource_policy(
        "registry-no-shared-access",
        resource_type=REGISTRY_TYPES,
        description="The registry has no admin user and no anonymous pull: every push and pull is an identity's.",
        level=MANDATORY,
        remediation="Set adminUserEnabled and anonymousPullEnabled to false; grant the repository roles to identities.",
        check=_registry_rule(_no_shared_access),
    ),
    resource_policy(
        "registry-export-off",
        resource_type=REGISTRY_TYPES,
        description="The registry's export policy is disabled, so images cannot be exported past its network rules.",
        level=MANDATORY,
        remediation="Set policies.exportPolicy.status to disabled (needs public network access off).",
        check=_registry_rule(_export_off),
    ),
    resource_policy(
        "registry-public-endpoint-allowlisted",
        resource_type=REGISTRY_TYPES,
        description="If the registry's public endpoint is on at all, it denies by default and admits listed ranges.",
        level=MANDATORY,
        remediation="Set registry.allowedIpRanges, or turn registry.publicNetworkAccessEnabled off.",
        check=_registry_rule(_public_endpoint_allowlisted),
    ),
    resource_policy(
        "registry-endpoint-private",
        resource_type=REGISTRY_TYPES,
        description="The registry is reached through its private endpoint only.",
        level=ADVISORY,
        remediation="Turn registry.publicNetworkAccessEnabled off and reach the registry over its private endpoint.",
        check=_registry_rule(_endpoint_private),
    ),
    resource_policy(
        "registry-bypass-off",
        resource_type=REGISTRY_TYPES,
        description="No trusted-services bypass of the registry's network rules.",
        level=ADVISORY,
        remediation="Turn registry.azureServicesBypassEnabled off.",
        check=_registry_rule(_bypass_off),
    ),
    resource_policy(
        "registry-retention-keeps-running-images",
        resource_type=REGISTRY_TYPES,
        description="Untagged manifests are kept: admission pins images by digest, and a running digest must stay.",
        level=ADVISORY,
        remediation="Remove registry.retentionDays where images run by digest (prod keeps untagged manifests).",
        check=_registry_rule(_retention_keeps_running_images),
    ),
    resource_policy(
        "registry-repository-permissions",
        resource_type=REGISTRY_TYPES,
        description="The registry is in ACR's ABAC repository-permission mode, where a role assignment can be kept "
        "to some repositories (and AcrPush, which writes all of them, is not honoured).",
        level=ADVISORY,
        remediation="Remove registry.repositoryPermissionsEnabled: false and list buildAgents.pushRepositories.",
        check=_registry_rule(_repository_permissions),
    ),
    resource_policy(
        "registry-push-limited-to-repositories",
        resource_type=ROLE_ASSIGNMENT,
        description="No identity may push to every repository of a registry: no AcrPush, and Container Registry "
        "Repository Writer only with a condition naming the repositories it writes.",
        level=ADVISORY,
        remediation="Keep registry.repositoryPermissionsEnabled on (the default) and list the repositories the "
        "pool builds in buildAgents.pushRepositories.",
        check=_push_grant_limited,
    ),
]
