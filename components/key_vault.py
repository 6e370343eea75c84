"""The Key Vault that holds signing keys: RBAC only, purge protection, private endpoint only."""

from __future__ import annotations

from typing import Any

import pulumi
from pulumi_azure_native import keyvault

from components.private_link import PrivateLink

VAULT_PRIVATE_DNS_ZONE = "privatelink.vaultcore.azure.net"


def vault_properties(tenant_id: pulumi.Input[str], hsm_required: bool) -> dict[str, Any]:
    """Vault properties as plain data (pulumi-azure-native `VaultPropertiesArgs` keys)."""
    return {
        "tenant_id": tenant_id,
        "sku": {"family": "A", "name": "premium" if hsm_required else "standard"},  # premium = HSM keys
        "enable_rbac_authorization": True,  # Azure RBAC, no access policies
        "enable_purge_protection": True,  # a deleted signing key cannot be purged during retention
        "enable_soft_delete": True,
        "soft_delete_retention_in_days": 90,
        "public_network_access": "Disabled",
        "network_acls": {"default_action": "Deny", "bypass": "None"},
        "enabled_for_deployment": False,
        "enabled_for_disk_encryption": False,
        "enabled_for_template_deployment": False,
    }


class SigningKeyVault(pulumi.ComponentResource):
    """Vault for the chain's signing keys; the keys and their role assignments are added by the
    trust root component."""

    vault_id: pulumi.Output[str]
    vault_name: pulumi.Output[str]
    vault_uri: pulumi.Output[str]
    private_ips: pulumi.Output[list[str]]

    def __init__(
        self,
        name: str,
        *,
        vault_name: str,
        hsm_required: bool,
        tenant_id: pulumi.Input[str],
        resource_group_name: pulumi.Input[str],
        location: str,
        tags: dict[str, str],
        endpoints_subnet_id: pulumi.Input[str],
        vnet_id: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("supply-chain:azure:SigningKeyVault", name, {}, opts)
        child = pulumi.ResourceOptions(parent=self)
        vault = keyvault.Vault(
            f"{name}-kv",
            vault_name=vault_name,
            properties=keyvault.VaultPropertiesArgs(**vault_properties(tenant_id, hsm_required)),
            resource_group_name=resource_group_name,
            location=location,
            tags=tags,
            opts=child,
        )
        link = PrivateLink(
            f"{name}-vault",
            target_id=vault.id,
            group_id="vault",
            zone_name=VAULT_PRIVATE_DNS_ZONE,
            subnet_id=endpoints_subnet_id,
            vnet_id=vnet_id,
            resource_group_name=resource_group_name,
            location=location,
            tags=tags,
            opts=child,
        )
        self.vault_id = vault.id
        self.vault_name = vault.name
        self.vault_uri = vault.properties.apply(lambda p: p.vault_uri or "")
        self.private_ips = link.private_ips
        self.register_outputs({"vaultUri": self.vault_uri, "privateIps": self.private_ips})
