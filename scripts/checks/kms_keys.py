"""The stack's KMS signing keys (AWS KMS, Key Vault) in the checks: which one signs canaries, and what is read of
each (an AWS key's usability, every pinned public key against its KMS)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from components.model.contract import AWS_KMS_SCHEME
from components.model.trust import TrustModel
from scripts.checks.aws_kms import AwsKmsSigner, kms_client
from scripts.checks.errors import CheckError, UsageError
from scripts.checks.posture import aws_kms_keys, pinned_keys
from scripts.checks.results import CheckResult
from scripts.checks.signers import CanarySigner, SigningKey
from scripts.checks.vault import VaultSigner, azure_cli_token


def kms_signer(name: str, model: TrustModel) -> tuple[CanarySigner | None, str]:
    """The stack's KMS key `name` as a canary signer, or why it cannot sign (KMS's refusal, in one line)."""
    key = next((k for k in model.keys if k.name == name and k.authority is None), None)
    if key is None or key.kms_uri is None:
        held = ", ".join(k.name for k in model.keys if k.kms_uri and k.authority is None) or "none"
        raise UsageError(f"--kms-key {name}: not one of the stack's KMS keys (aws-kms, azure-key-vault: {held})")
    try:
        if key.kms_uri.startswith(AWS_KMS_SCHEME):
            return AwsKmsSigner.connect(key), ""
        return VaultSigner.connect(key, azure_cli_token), ""
    except CheckError as exc:
        return None, f"key {name} cannot sign canaries: {exc}"


def canary_key(
    kms_key: str | None, key_file: ec.EllipticCurvePrivateKey | None, model: TrustModel
) -> tuple[SigningKey | None, str]:
    """What signs canaries: the stack's KMS key `kms_key` (`--kms-key`), else the key file (`--signing-key`, the local
    stack's key), else nothing; with why a KMS key cannot (its KMS's refusal)."""
    if kms_key is None:
        return key_file, ""
    if key_file is not None:
        raise UsageError("--kms-key signs canaries instead of a key file: give one of them")
    return kms_signer(kms_key, model)


def kms_key_checks(
    model: TrustModel, vault_token: Callable[[], str], aws_client: Callable[[str], Any] = kms_client
) -> list[CheckResult]:
    """Each KMS key the stack trusts, read from its KMS: pinned Key Vault keys, then every AWS KMS key."""
    return [*pinned_keys(model, vault_token), *aws_kms_keys(model, aws_client)]
