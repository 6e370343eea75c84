"""The container registry: a Premium ACR reachable only through its private endpoint by default,
with least-privilege role assignments (AcrPush for the build agents, AcrPull for the pullers)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi
from pulumi_azure_native import authorization, containerregistry, monitor

from components.model.config import RegistryConfig
from components.private_link import PrivateLink
from components.roles import ACR_PULL, ACR_PUSH, role_definition_id

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
            "retention_policy": {"days": config.retention_days, "status": "enabled"},
        },
        "zone_redundancy": "Enabled" if zone_redundant else "Disabled",
    }


class ContainerRegistry(pulumi.ComponentResource):
    """ACR + private endpoint (+ DNS) + optional diagnostics + role assignments."""

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
        resource_group_name: pulumi.Input[str],
        location: str,
        tags: dict[str, str],
        endpoints_subnet_id: pulumi.Input[str],
        vnet_id: pulumi.Input[str],
        subscription_id: pulumi.Input[str],
        pushers: Mapping[str, pulumi.Input[str]],
        pullers: Mapping[str, pulumi.Input[str]],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("supply-chain:azure:ContainerRegistry", name, {}, opts)
        child = pulumi.ResourceOptions(parent=self)
        registry = containerregistry.Registry(
            f"{name}-acr",
            **registry_args(config, zone_redundant),
            resource_group_name=resource_group_name,
            location=location,
            tags=tags,
            opts=child,
        )
        link = PrivateLink(
            f"{name}-registry",
            target_id=registry.id,
            group_id="registry",
            zone_name=ACR_PRIVATE_DNS_ZONE,
            subnet_id=endpoints_subnet_id,
            vnet_id=vnet_id,
            resource_group_name=resource_group_name,
            location=location,
            tags=tags,
            opts=child,
        )
        if config.log_analytics_workspace_id is not None:
            monitor.DiagnosticSetting(
                f"{name}-diagnostics",
                name="registry-to-log-analytics",
                resource_uri=registry.id,
                workspace_id=config.log_analytics_workspace_id,
                logs=[{"category_group": "allLogs", "enabled": True}],
                metrics=[{"category": "AllMetrics", "enabled": True}],
                opts=child,
            )

        def assign(label: str, role: str, principal_id: pulumi.Input[str]) -> None:
            authorization.RoleAssignment(
                f"{name}-{label}",
                scope=registry.id,
                role_definition_id=pulumi.Output.from_input(subscription_id).apply(
                    lambda sub: role_definition_id(sub, role)
                ),
                principal_id=principal_id,
                principal_type="ServicePrincipal",
                opts=child,
            )

        for label, principal in sorted(pushers.items()):
            assign(f"acrpush-{label}", ACR_PUSH, principal)
        for label, principal in sorted(pullers.items()):
            assign(f"acrpull-{label}", ACR_PULL, principal)

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
