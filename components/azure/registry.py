"""The container registry: a Premium ACR reachable only through its private endpoint by default, in ACR's ABAC
repository-permission mode, with least-privilege role assignments (the build agents write only the repositories
they build; the pullers read).

pulumi-azure-native 3.29's typed `containerregistry.Registry` speaks ACR API 2023-01-01-preview, which has no
`roleAssignmentMode`; the provider reaches other versions only through the CLI's local SDK generation. So the
registry is the provider's generic ARM resource at API 2025-11-01 (GA), its body written in ARM's own terms.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
from pulumi_azure_native import resources

from components.azure.private_link import PrivateLink
from components.azure.roles import ACR_PULL, ACR_PUSH, REPOSITORY_READER, REPOSITORY_WRITER
from components.azure.shared import (
    Diagnostics,
    Placement,
    PrivateNetwork,
    RoleGrant,
    assign_roles,
    built_in_role,
    lock_against_deletion,
    send_diagnostics,
)
from components.model.config import RegistryConfig
from components.model.registry_permissions import ABAC_MODE, LEGACY_MODE, push_condition

ACR_PRIVATE_DNS_ZONE = "privatelink.azurecr.io"
REGISTRY_API_VERSION = "2025-11-01"
"""ACR's first GA API version with `roleAssignmentMode` (azure-mgmt-containerregistry 15.0.0's default)."""
REGISTRY_PROVIDER = "Microsoft.ContainerRegistry"
REGISTRY_RESOURCE_TYPE = "registries"


def registry_properties(config: RegistryConfig, zone_redundant: bool) -> dict[str, Any]:
    """The registry's ARM `properties` at API 2025-11-01 (every key a field of that version's RegistryProperties)."""
    public = config.public_network_access_enabled
    return {
        "adminUserEnabled": False,  # no shared username/password: Entra identities only
        "anonymousPullEnabled": False,
        "dataEndpointEnabled": True,  # layer downloads on a per-registry endpoint, not a shared one
        "publicNetworkAccess": "Enabled" if public else "Disabled",
        "networkRuleSet": {
            "defaultAction": "Deny",
            # ARM names the rule's range `value` (the SDKs call it ip_address_or_range)
            "ipRules": [{"value": str(r), "action": "Allow"} for r in config.allowed_ip_ranges],
        },
        "networkRuleBypassOptions": "AzureServices" if config.azure_services_bypass_enabled else "None",
        "policies": {
            # export needs public access off anyway; disabled so images cannot be copied out wholesale
            "exportPolicy": {"status": "disabled"},
            # Off unless asked: Microsoft's own advice for registries pulled by digest, as admission pins them.
            "retentionPolicy": {"days": config.retention_days, "status": "enabled"}
            if config.retention_days is not None
            else {"status": "disabled"},
            # Stays enabled: both engines' registry logins ask Entra for an ARM-audience token before the ACR
            # exchange (Kyverno 1.19 through fluxcd/pkg oci/auth/azure, Policy Controller 0.13 through its
            # acrhelper, both scope management.azure.com/.default); disabling it would deny every pull.
            "azureADAuthenticationAsArmPolicy": {"status": "enabled"},
        },
        "zoneRedundancy": "Enabled" if zone_redundant else "Disabled",
        # ABAC: AcrPush/AcrPull stop counting, and a role assignment's condition can name repositories.
        "roleAssignmentMode": ABAC_MODE if config.repository_permissions_enabled else LEGACY_MODE,
    }


def registry_args(config: RegistryConfig, zone_redundant: bool) -> dict[str, Any]:
    """Registry settings as plain data: the keyword arguments of pulumi-azure-native's generic `resources.Resource`
    (besides placement), the registry's body in ARM's terms under `properties`."""
    return {
        "resource_provider_namespace": REGISTRY_PROVIDER,
        "resource_type": REGISTRY_RESOURCE_TYPE,
        "parent_resource_path": "",
        "api_version": REGISTRY_API_VERSION,
        "resource_name_": config.name,
        "sku": {"name": "Premium"},  # private endpoints, network rules and retention need Premium
        "properties": registry_properties(config, zone_redundant),
    }


def registry_role_grants(
    config: RegistryConfig,
    push_repositories: Sequence[str],
    *,
    subscription_id: pulumi.Input[str],
    pusher: pulumi.Input[str] | None,
    pullers: Mapping[str, pulumi.Input[str]],
) -> list[RoleGrant]:
    """Who gets which role on the registry. With repository permissions: the pusher (the build agents' job identity)
    Container Registry Repository Writer with a condition naming `push_repositories` (none listed: no push at all),
    each puller Container Registry Repository Reader on every repository. In legacy mode: AcrPush and AcrPull."""

    def role(guid: str) -> pulumi.Output[str]:
        return built_in_role(subscription_id, guid)

    if not config.repository_permissions_enabled:
        pushes = [RoleGrant("acrpush-build-agents", role(ACR_PUSH), pusher)] if pusher is not None else []
        return [*pushes, *(RoleGrant(f"acrpull-{label}", role(ACR_PULL), p) for label, p in pullers.items())]
    grants = [RoleGrant(f"repository-reader-{label}", role(REPOSITORY_READER), p) for label, p in pullers.items()]
    if pusher is not None and push_repositories:
        grants.append(
            RoleGrant(
                "repository-writer-build-agents",
                role(REPOSITORY_WRITER),
                pusher,
                condition=push_condition(push_repositories),
            )
        )
    return grants


def login_server_of(properties: Any) -> str:
    """The login server Azure answers in the registry's properties (always there once the registry exists)."""
    server = properties.get("loginServer") if isinstance(properties, Mapping) else None
    if not isinstance(server, str) or not server:
        raise ValueError("the registry's properties carry no loginServer: Azure always answers one")
    return server


class ContainerRegistry(pulumi.ComponentResource):
    """ACR + private endpoint (+ DNS) + optional diagnostics + role assignments (repository-scoped writer for the
    build agents, readers for the pullers; nothing broader)."""

    registry_id: pulumi.Output[str]
    registry_name: pulumi.Output[str]
    login_server: pulumi.Output[str]
    private_ips: pulumi.Output[list[str]]

    def __init__(
        self,
        name: str,
        config: RegistryConfig,
        *,
        zone_redundant: bool,
        placement: Placement,
        private_network: PrivateNetwork,
        role_grants: Sequence[RoleGrant],
        diagnostics: Diagnostics | None = None,
        locked: bool = False,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("supply-chain:azure:ContainerRegistry", name, {}, opts)
        child = pulumi.ResourceOptions(parent=self)
        registry = resources.Resource(
            f"{name}-acr",
            **registry_args(config, zone_redundant),
            resource_group_name=placement.resource_group_name,
            location=placement.location,
            tags=placement.tags,
            opts=child,
        )
        link = PrivateLink(
            f"{name}-registry",
            target_id=registry.id,
            group_id="registry",
            zone_name=ACR_PRIVATE_DNS_ZONE,
            private_network=private_network,
            placement=placement,
            opts=child,
        )
        send_diagnostics(name, "registry-to-log-analytics", registry.id, diagnostics, child)
        lock_against_deletion(name, registry.id, locked, child)
        assign_roles(name, registry.id, role_grants, child)

        self.registry_id = registry.id
        self.registry_name = registry.name
        self.login_server = registry.properties.apply(login_server_of)
        self.private_ips = link.private_ips
        self.register_outputs(
            {
                "registryId": self.registry_id,
                "registryName": self.registry_name,
                "loginServer": self.login_server,
                "privateIps": self.private_ips,
            }
        )
