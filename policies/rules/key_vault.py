"""The signing vault: access by role only, deletion recoverable, no public endpoint, HSM keys in prod."""

from __future__ import annotations

from pulumi_policy import ReportViolation, ResourceValidationArgs

from policies.rules.base import MANDATORY, dig, environment, resource_policy

VAULT = "azure-native:keyvault:Vault"
KEY = "azure-native:keyvault:Key"


def _vault_locked_down(args: ResourceValidationArgs, report: ReportViolation) -> None:
    properties = args.props.get("properties") or {}
    if properties.get("enableRbacAuthorization") is not True:
        report("access policies instead of Azure RBAC: vault-wide grants nobody reviews per key", None)
    if properties.get("enablePurgeProtection") is not True:
        report("purge protection is off: a deleted signing key can be purged at once, for good", None)
    if properties.get("publicNetworkAccess") != "Disabled":
        report("the vault's public endpoint is on", None)
    if dig(properties, "networkAcls", "defaultAction") != "Deny":
        report("the vault's network rules do not deny by default", None)


def _hsm_keys_in_prod(args: ResourceValidationArgs, report: ReportViolation) -> None:
    kty = dig(args.props, "properties", "kty")
    if environment(args) == "prod" and kty not in {"EC-HSM", "RSA-HSM"}:
        report(f"a prod signing key of type {kty}: software-protected, not HSM-backed", None)
    if dig(args.props, "properties", "attributes", "exportable") is True:
        report("the key is exportable: its private half can leave the vault", None)


POLICIES = [
    resource_policy(
        "vault-locked-down",
        resource_type=VAULT,
        description="The signing vault uses RBAC, has purge protection, and no public endpoint.",
        level=MANDATORY,
        remediation="Use the SigningKeyVault component (RBAC, purge protection, private endpoint).",
        check=_vault_locked_down,
    ),
    resource_policy(
        "signing-keys-hsm-in-prod",
        resource_type=KEY,
        description="Prod signing keys are HSM-backed and never exportable.",
        level=MANDATORY,
        remediation="Keys of a prod stack are EC-HSM (the VaultSigningKeys component picks it from the environment).",
        check=_hsm_keys_in_prod,
    ),
]
