"""What a KMS signer does around the KMS call, offline: the digest it asks the KMS to sign is the one cosign's
signature covers, and Key Vault's r‖s answer becomes the DER signature the engines and the verifier read. The
call to Key Vault itself is exercised live by tests/e2e/test_kms_signing_live.py (skipped without credentials)."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ServiceRequestError
from azure.keyvault.keys.crypto import SignatureAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, decode_dss_signature

from scripts.checks.cosign import ImageRef
from scripts.checks.cosign_writer import simple_signing_payload
from scripts.checks.errors import UnreachableError, VerificationFailedError
from scripts.checks.signers import LocalKey, as_signer, digest, p1363_to_der
from scripts.checks.vault import VaultSigner
from scripts.checks.verification import COSIGN_KEY, KeyScheme, trusted_root, verify_legacy_key

IMAGE = ImageRef("cr.example", "payments/api", "sha256:" + "ab" * 32)
VAULT_KEY_ID = "https://kv-crcontosodev.vault.azure.net/keys/image-signing/" + "0" * 32


def _p1363(der: bytes, size: int) -> bytes:
    r, s = decode_dss_signature(der)
    return r.to_bytes(size, "big") + s.to_bytes(size, "big")


@pytest.mark.parametrize(("curve", "size"), [(ec.SECP256R1(), 32), (ec.SECP384R1(), 48), (ec.SECP521R1(), 66)])
def test_an_r_s_signature_becomes_the_der_one_that_verifies(curve: ec.EllipticCurve, size: int) -> None:
    key = ec.generate_private_key(curve)
    der = key.sign(b"payload", ec.ECDSA(hashes.SHA256()))
    converted = p1363_to_der(_p1363(der, size))
    assert converted == der
    key.public_key().verify(converted, b"payload", ec.ECDSA(hashes.SHA256()))


@pytest.mark.parametrize("length", [0, 63, 65, 100, 128])
def test_a_signature_of_no_curve_size_is_refused_in_one_line(length: int) -> None:
    with pytest.raises(VerificationFailedError, match=r"is not r‖s of P-256, P-384 or P-521") as refused:
        p1363_to_der(b"\x01" * length)
    assert "\n" not in str(refused.value)


def test_the_digest_a_kms_signs_is_the_payloads_by_the_keys_hash() -> None:
    payload = simple_signing_payload(IMAGE)
    assert digest(payload, "sha256") == hashlib.sha256(payload).digest()
    assert digest(payload, "sha384") == hashlib.sha384(payload).digest()


def test_a_key_in_memory_signs_as_cosign_does_with_a_key_file() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    signer = as_signer(key)
    assert isinstance(signer, LocalKey)
    assert signer.key_name is None, "a key file is no stack key by name"
    payload = simple_signing_payload(IMAGE)
    signature = signer.sign(payload)
    assert (
        verify_legacy_key(payload, signature, key.public_key(), trusted_root(), None, log_required=False).log_index
        == -1
    )


class VaultSignOperation:
    """Key Vault's `sign` as its REST API documents it, with a key held here: the digest is signed as given and
    the answer is r‖s. Stands in for the vault to test what VaultSigner does before and after the call."""

    def __init__(self, key: ec.EllipticCurvePrivateKey, failure: Exception | None = None) -> None:
        self.key, self.failure = key, failure
        self.asked: list[tuple[SignatureAlgorithm, bytes]] = []

    def sign(self, algorithm: SignatureAlgorithm, digest_: bytes) -> Any:
        self.asked.append((algorithm, digest_))
        if self.failure is not None:
            raise self.failure
        hash_ = hashes.SHA384() if algorithm == SignatureAlgorithm.es384 else hashes.SHA256()
        der = self.key.sign(digest_, ec.ECDSA(Prehashed(hash_)))
        return type("SignResult", (), {"signature": _p1363(der, self.key.curve.key_size // 8)})()


@pytest.mark.parametrize(
    ("curve", "algorithm", "scheme"),
    [
        (ec.SECP256R1(), SignatureAlgorithm.es256, COSIGN_KEY),
        (ec.SECP384R1(), SignatureAlgorithm.es384, KeyScheme("sha384")),
    ],
)
def test_a_vault_signature_of_a_canary_payload_verifies_under_the_vault_key(
    curve: ec.EllipticCurve, algorithm: SignatureAlgorithm, scheme: KeyScheme
) -> None:
    key = ec.generate_private_key(curve)
    vault = VaultSignOperation(key)
    signer = VaultSigner("image-signing", VAULT_KEY_ID, key.public_key(), vault)
    payload = simple_signing_payload(IMAGE)
    signature = signer.sign(payload)
    ((asked_algorithm, asked_digest),) = vault.asked
    assert asked_algorithm == algorithm
    assert asked_digest == hashlib.new(scheme.hash_name, payload).digest(), "the vault signs the payload's digest"
    verify_legacy_key(payload, signature, key.public_key(), trusted_root(), None, log_required=False, scheme=scheme)
    other = ec.generate_private_key(curve).public_key()
    with pytest.raises(VerificationFailedError):
        verify_legacy_key(payload, signature, other, trusted_root(), None, log_required=False, scheme=scheme)


@pytest.mark.parametrize(
    ("scheme", "hash_"),
    [(KeyScheme(rsa_pss=True), hashes.SHA256()), (KeyScheme("sha384", rsa_pss=True), hashes.SHA384())],
)
def test_an_rsa_kms_keys_pss_signature_verifies_as_its_pkcs1_one_does(
    scheme: KeyScheme, hash_: hashes.HashAlgorithm
) -> None:
    """An AWS KMS RSA key may sign RSASSA-PSS (MGF1 with the message's hash, salt as long as the digest), which the
    engines accept for a key they verify through its KMS; a key file's signatures are PKCS #1 v1.5 only."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    payload = simple_signing_payload(IMAGE)
    pss = key.sign(payload, padding.PSS(mgf=padding.MGF1(hash_), salt_length=hash_.digest_size), hash_)
    pkcs1 = key.sign(payload, padding.PKCS1v15(), hash_)
    for signature in (pss, pkcs1):
        verified = verify_legacy_key(
            payload, signature, key.public_key(), trusted_root(), None, log_required=False, scheme=scheme
        )
        assert verified.log_index == -1
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    with pytest.raises(VerificationFailedError):
        verify_legacy_key(payload, pss, other, trusted_root(), None, log_required=False, scheme=scheme)
    with pytest.raises(VerificationFailedError):
        verify_legacy_key(
            payload, pss, key.public_key(), trusted_root(), None, log_required=False, scheme=KeyScheme(scheme.hash_name)
        )


def _http_error(status: int) -> HttpResponseError:
    error = HttpResponseError(message=f"HTTP {status}")
    error.status_code = status
    return error


@pytest.mark.parametrize(
    ("failure", "kind", "line"),
    [
        (_http_error(403), VerificationFailedError, "not allowed to sign (the stack's signer role?)"),
        (_http_error(404), VerificationFailedError, "no such key or version"),
        (ClientAuthenticationError("no login"), UnreachableError, "no Azure login that reaches"),
        (ServiceRequestError("refused"), UnreachableError, "Key Vault did not answer"),
    ],
    ids=["forbidden", "not-found", "no-login", "unreachable"],
)
def test_a_vault_refusal_is_one_line_naming_the_key(failure: Exception, kind: type[Exception], line: str) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    signer = VaultSigner("image-signing", VAULT_KEY_ID, key.public_key(), VaultSignOperation(key, failure))
    with pytest.raises(kind) as refused:
        signer.sign(b"payload")
    assert line in str(refused.value)
    assert VAULT_KEY_ID in str(refused.value)
    assert "\n" not in str(refused.value)
