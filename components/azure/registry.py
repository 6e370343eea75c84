"""The container registry: a Premium ACR reachable only through its private endpoint by default,
with least-privilege role assignments (AcrPush for the build agents, AcrPull for the pullers)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pulumi
from pulumi_azure_native import containerregistry

from components.azure.private_link import PrivateLink
from components.azure.shared import (
    Diagnostics,
    Placement,
    PrivateNetwork,
    RoleGrant,
    assign_roles,
    lock_against_deletion,
    send_diagnostics,
)
from components.model.config import RegistryConfig

ACR_PRIVATE_DNS_ZONE = "privatelink.azurecr.io"


def registry_args(config: RegistryConfig, zone_redundant: bool) -> dict[str, Any]:
    """Registry settings as plain data (pulumi-azure-native `Registry` keyword arguments)."""
    public = config.public_network_access_enabled
    return {
        "registry_name": config.name,
        "sku": {"name": "Premium"},  # private endpoints, network rules and retention need Premium
        "admin_user_enabled": False,  # no shared username/password: Entra identities only
        "anonymous_pull_enabled": False,
        "data_endpoint_enabled": True,  # layer downloads on a per-registry endpoint, not a shared one
        "public_network_access": "Enabled" if public else "Disabled",
        "network_rule_set": {
            "default_action": "Deny",
            "ip_rules": [{"i_p_address_or_range": str(r), "action": "Allow"} for r in config.allowed_ip_ranges],
        },
        "network_rule_bypass_options": "AzureServices" if config.azure_services_bypass_enabled else "None",
        "policies": {
            # export needs public access off anyway; disabled so images cannot be copied out wholesale
            "export_policy": {"status": "disabled"},
            # Off unless asked: Microsoft's own advice for registries pulled by digest, as admission pins them.
            "retention_policy": {"days": config.retention_days, "status": "enabled"}
            if config.retention_days is not None
            else {"status": "disabled"},
            # Stays enabled: both engines' registry logins ask Entra for an ARM-audience token before the ACR
            # exchange (Kyverno 1.19 through fluxcd/pkg oci/auth/azure, Policy Controller 0.13 through its
            # acrhelper, both scope management.azure.com/.default); disabling it would deny every pull.
            "azure_ad_authentication_as_arm_policy": {"status": "enabled"},
        },
        "zone_redundancy": "Enabled" if zone_redundant else "Disabled",
    }


class ContainerRegistry(pulumi.ComponentResource):
    """ACR + private endpoint (+ DNS) + optional diagnostics + role assignments (AcrPush for the
    build agents, AcrPull for the pullers; nothing broader)."""

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
        registry = containerregistry.Registry(
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
        self.login_server = registry.login_server
        self.private_ips = link.private_ips
        self.register_outputs(
            {
                "registryId": self.registry_id,
                "registryName": self.registry_name,
                "loginServer": self.login_server,
                "privateIps": self.private_ips,
            }
        )
