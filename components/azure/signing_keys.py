"""Signing keys: EC P-256 keys in the stack's Key Vault, with who may sign and who may read each."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta

import pulumi
from pulumi_azure_native import authorization, keyvault

from components.azure.roles import SIGNER_DATA_ACTIONS, VERIFIER_DATA_ACTIONS
from components.azure.shared import Placement, RoleGrant, assign_roles
from components.model.config import AzureKeyVaultKey


def first_version_expiry(key: AzureKeyVaultKey, created_on: date) -> int:
    """When the key's first version stops signing (seconds since the epoch): two rotation periods after
    the day it is created, like every later version (the rotation policy's expiry)."""
    end = datetime.combine(created_on + timedelta(days=2 * key.rotation_days), time(), tzinfo=UTC)
    return int(end.timestamp())


def key_properties(key: AzureKeyVaultKey, hsm: bool, created_on: date) -> keyvault.KeyPropertiesArgs:
    """An EC P-256 signing key that never leaves the vault and expires two rotation periods after
    each version is made; the vault announces the due rotation."""
    # No automatic rotation: the policies trust versions by number, so a version the vault made on its own would
    # sign images no policy trusts and drop its predecessor at the next refresh. The vault announces the due
    # rotation (Event Grid `KeyNearExpiry`) and the README's runbook rotates with an overlap.
    return keyvault.KeyPropertiesArgs(
        kty="EC-HSM" if hsm else "EC",
        curve_name="P-256",
        key_ops=["sign", "verify"],
        attributes=keyvault.KeyAttributesArgs(
            enabled=True, exportable=False, expires=first_version_expiry(key, created_on)
        ),
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
    """Keys in the signing vault, with two custom roles assigned per key: signers (build agents) may read
    and sign, verifiers (the admission engines) may read and verify. Neither can update, back up, delete
    or rotate a key: that is the deployment's alone."""

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
        signers: Mapping[str, pulumi.Input[str]],
        verifiers: Mapping[str, pulumi.Input[str]],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("supply-chain:azure:VaultSigningKeys", name, {}, opts)
        child = pulumi.ResourceOptions(parent=self)

        def role(
            kind: str, data_actions: list[str], description: str, old_name: str | None = None
        ) -> pulumi.Output[str]:
            aliases = [pulumi.Alias(name=old_name)] if old_name else None
            return authorization.RoleDefinition(
                f"{name}-{kind}",
                scope=vault_id,
                role_name=pulumi.Output.from_input(vault_name).apply(lambda v: f"Signing key {kind} ({v})"),
                description=description,
                permissions=[authorization.PermissionArgs(actions=[], data_actions=data_actions)],
                assignable_scopes=[vault_id],
                role_type="CustomRole",
                opts=pulumi.ResourceOptions(parent=self, aliases=aliases),
            ).id

        signer = role("signer", SIGNER_DATA_ACTIONS, "Reads a signing key and signs digests with it; nothing else.")
        # was the public-key reader: Kyverno verifies through the vault, so verify is added to read
        verifier = role(
            "verifier",
            VERIFIER_DATA_ACTIONS,
            "Reads a signing key and verifies signatures with it; cannot sign, decrypt or change keys.",
            old_name=f"{name}-public-key-reader",
        )
        # the first version's expiry is set once, at creation; later versions get theirs from the policy
        created_on = datetime.now(UTC).date()
        self.key_ids = {}
        self.key_versions = {}
        for key, hsm in keys:
            created = keyvault.Key(
                f"{name}-{key.name}",
                key_name=key.name,
                vault_name=vault_name,
                resource_group_name=placement.resource_group_name,
                properties=key_properties(key, hsm, created_on),
                tags=placement.tags,
                opts=pulumi.ResourceOptions(parent=self, ignore_changes=["properties.attributes.expires"]),
            )
            self.key_ids[key.name] = created.id
            # the version the policies trust and the agents sign with (…/keys/<name>/<version>)
            self.key_versions[key.name] = created.key_uri_with_version.apply(
                lambda uri: uri.rstrip("/").rsplit("/", 1)[-1]
            )
            grants = [RoleGrant(f"sign-{label}", signer, principal) for label, principal in signers.items()]
            grants += [RoleGrant(f"read-{label}", verifier, principal) for label, principal in verifiers.items()]
            assign_roles(f"{name}-{key.name}", created.id, grants, child)
        self.register_outputs({"keyIds": self.key_ids})
