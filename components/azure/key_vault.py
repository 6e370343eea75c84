"""The Key Vault that holds signing keys: RBAC only, purge protection, private endpoint only."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pulumi
from pulumi_azure_native import keyvault

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
    """Vault for the chain's signing keys, reachable only through its private endpoint; the keys and
    their per-key role assignments are `VaultSigningKeys`. Its audit logs (every key read and sign)
    go to the stack's workspace when one is named."""

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
        placement: Placement,
        private_network: PrivateNetwork,
        role_grants: Sequence[RoleGrant] = (),
        diagnostics: Diagnostics | None = None,
        locked: bool = False,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("supply-chain:azure:SigningKeyVault", name, {}, opts)
        child = pulumi.ResourceOptions(parent=self)
        vault = keyvault.Vault(
            f"{name}-kv",
            vault_name=vault_name,
            properties=keyvault.VaultPropertiesArgs(**vault_properties(tenant_id, hsm_required)),
            resource_group_name=placement.resource_group_name,
            location=placement.location,
            tags=placement.tags,
            opts=child,
        )
        link = PrivateLink(
            f"{name}-vault",
            target_id=vault.id,
            group_id="vault",
            zone_name=VAULT_PRIVATE_DNS_ZONE,
            private_network=private_network,
            placement=placement,
            opts=child,
        )
        send_diagnostics(name, "vault-to-log-analytics", vault.id, diagnostics, child)
        lock_against_deletion(name, vault.id, locked, child)
        assign_roles(name, vault.id, role_grants, child)
        self.vault_id = vault.id
        self.vault_name = vault.name
        self.vault_uri = vault.properties.apply(lambda p: p.vault_uri or "")
        self.private_ips = link.private_ips
        self.register_outputs({"vaultUri": self.vault_uri, "privateIps": self.private_ips})
