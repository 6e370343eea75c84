"""Signing inside a real KMS, as `--kms-key` signs canaries (make e2e): Key Vault's `sign` and AWS KMS's `Sign`
over the digest of a canary's simple-signing payload, the signature verified by the project's verifier under the
KMS's public key and refused under another.

Needs SUPPLY_CHAIN_E2E_VAULT_KEY (`azurekms://<vault>.vault.azure.net/<key>/<version>`, signed as the Azure CLI's
login, which needs the key's sign permission) or SUPPLY_CHAIN_E2E_AWS_KMS_ARN (a key or alias ARN, with AWS
credentials from the standard chain that may kms:DescribeKey, kms:GetPublicKey and kms:Sign). Without them each
test skips and says what is missing.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import boto3
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from components.model.contract import aws_kms_uri, parse_aws_kms_arn
from components.model.trust import KeyAuthority
from scripts.checks.aws_kms import AwsKmsSigner
from scripts.checks.cosign import ImageRef
from scripts.checks.cosign_writer import simple_signing_payload
from scripts.checks.errors import CheckError, VerificationFailedError
from scripts.checks.signers import CanarySigner
from scripts.checks.vault import VaultSigner, azure_cli_token
from scripts.checks.verification import KeyScheme, trusted_root, verify_legacy_key

pytestmark = pytest.mark.e2e

CANARY = ImageRef("cr.example", "supply-chain-canary", "sha256:" + "0" * 64)


def _vault_signer() -> CanarySigner:
    uri = os.environ.get("SUPPLY_CHAIN_E2E_VAULT_KEY")
    if not uri:
        pytest.skip("no Key Vault key: set SUPPLY_CHAIN_E2E_VAULT_KEY=azurekms://<vault>.vault.azure.net/<key>/<ver>")
    try:
        return VaultSigner.connect(KeyAuthority("live-vault-key", kms_uri=uri), azure_cli_token)
    except CheckError as exc:
        pytest.skip(f"Key Vault not usable from here: {exc}")


def _aws_signer() -> CanarySigner:
    arn = os.environ.get("SUPPLY_CHAIN_E2E_AWS_KMS_ARN")
    if not arn or parse_aws_kms_arn(arn) is None:
        pytest.skip("no AWS KMS key: set SUPPLY_CHAIN_E2E_AWS_KMS_ARN to a key or alias ARN")
    if boto3.Session().get_credentials() is None:
        pytest.skip("no AWS credentials in the standard chain (environment, profile, web identity, instance role)")
    try:
        return AwsKmsSigner.connect(KeyAuthority("live-aws-key", kms_uri=aws_kms_uri(arn)))
    except CheckError as exc:
        pytest.skip(f"AWS KMS not usable from here: {exc}")


@pytest.mark.parametrize("make_signer", [_vault_signer, _aws_signer], ids=["key-vault", "aws-kms"])
def test_a_kms_signs_a_canary_payload_that_verifies_under_its_key_only(
    make_signer: Callable[[], CanarySigner],
) -> None:
    signer = make_signer()
    public = signer.public_key()
    scheme = KeyScheme(
        "sha384" if isinstance(public, ec.EllipticCurvePublicKey) and public.curve.name == "secp384r1" else "sha256",
        rsa_pss=not isinstance(public, ec.EllipticCurvePublicKey),
    )
    payload = simple_signing_payload(CANARY)
    signature = signer.sign(payload)
    root = trusted_root()
    assert verify_legacy_key(payload, signature, public, root, None, log_required=False, scheme=scheme).log_index == -1
    other = ec.generate_private_key(ec.SECP256R1()).public_key()
    with pytest.raises(VerificationFailedError):
        verify_legacy_key(payload, signature, other, root, None, log_required=False, scheme=scheme)
