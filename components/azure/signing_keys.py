"""Signing keys: EC P-256 keys in the stack's Key Vault, with who may sign and who may read each."""

from __future__ import annotations

from collections.abc import Mapping

import pulumi
from pulumi_azure_native import authorization, keyvault

from components.azure.roles import KEY_VAULT_CRYPTO_USER
from components.azure.shared import Placement, RoleGrant, assign_roles, built_in_role
from components.model.config import AzureKeyVaultKey

# Verifiers need a key's public half and nothing else; the built-in roles that can read it
# (Key Vault Crypto User and up) can also sign, so the engines get this narrower custom role.
PUBLIC_KEY_READER_ACTIONS = ["Microsoft.KeyVault/vaults/keys/read"]


def key_properties(key: AzureKeyVaultKey, hsm: bool) -> keyvault.KeyPropertiesArgs:
    """An EC P-256 signing key that rotates itself every `rotationDays` and never leaves the vault."""
    # No automatic rotation: the policies trust versions by number, so a version the vault made on its own would
    # sign images no policy trusts and drop its predecessor at the next refresh. The vault announces the due
    # rotation (Event Grid `KeyNearExpiry`) and the README's runbook rotates with an overlap.
    return keyvault.KeyPropertiesArgs(
        kty="EC-HSM" if hsm else "EC",
        curve_name="P-256",
        key_ops=["sign", "verify"],
        attributes=keyvault.KeyAttributesArgs(enabled=True, exportable=False),
        rotation_policy=keyvault.RotationPolicyArgs(
            # a version can sign for two rotation periods at most: the runbook rotates after one
            attributes=keyvault.KeyRotationPolicyAttributesArgs(expiry_time=f"P{2 * key.rotation_days}D"),
            lifetime_actions=[
                keyvault.LifetimeActionArgs(
                    action=keyvault.ActionArgs(type=keyvault.KeyRotationPolicyActionType.NOTIFY),
                    trigger=keyvault.TriggerArgs(time_before_expiry=f"P{key.rotation_days}D"),
                ),
            ],
        ),
    )


class VaultSigningKeys(pulumi.ComponentResource):
    """Keys in the signing vault. Signers (build agents) get Key Vault Crypto User on each key;
    verifiers (the admission engines) a custom role that reads public keys only."""

    key_ids: dict[str, pulumi.Output[str]]
    key_versions: dict[str, pulumi.Output[str]]
    """Each key's current version, as the vault numbers it."""

    def __init__(
        self,
        name: str,
        keys: list[tuple[AzureKeyVaultKey, bool]],
        *,
        vault_id: pulumi.Input[str],
        vault_name: pulumi.Input[str],
        placement: Placement,
        subscription_id: pulumi.Input[str],
        signers: Mapping[str, pulumi.Input[str]],
        verifiers: Mapping[str, pulumi.Input[str]],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("supply-chain:azure:VaultSigningKeys", name, {}, opts)
        child = pulumi.ResourceOptions(parent=self)
        reader = authorization.RoleDefinition(
            f"{name}-public-key-reader",
            scope=vault_id,
            role_name=pulumi.Output.from_input(vault_name).apply(lambda v: f"Signing key public reader ({v})"),
            description="Reads signing keys' public halves in one vault; cannot sign, decrypt or read secrets.",
            permissions=[authorization.PermissionArgs(actions=[], data_actions=PUBLIC_KEY_READER_ACTIONS)],
            assignable_scopes=[vault_id],
            role_type="CustomRole",
            opts=child,
        )
        crypto_user = built_in_role(subscription_id, KEY_VAULT_CRYPTO_USER)
        self.key_ids = {}
        self.key_versions = {}
        for key, hsm in keys:
            created = keyvault.Key(
                f"{name}-{key.name}",
                key_name=key.name,
                vault_name=vault_name,
                resource_group_name=placement.resource_group_name,
                properties=key_properties(key, hsm),
                tags=placement.tags,
                opts=child,
            )
            self.key_ids[key.name] = created.id
            # the version the policies trust and the agents sign with (…/keys/<name>/<version>)
            self.key_versions[key.name] = created.key_uri_with_version.apply(
                lambda uri: uri.rstrip("/").rsplit("/", 1)[-1]
            )
            grants = [RoleGrant(f"sign-{label}", crypto_user, principal) for label, principal in signers.items()]
            grants += [RoleGrant(f"read-{label}", reader.id, principal) for label, principal in verifiers.items()]
            assign_roles(f"{name}-{key.name}", created.id, grants, child)
        self.register_outputs({"keyIds": self.key_ids})
