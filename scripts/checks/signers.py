"""What signs canaries: a private key in memory (the local stack's, or a throwaway one), or a key that never leaves
its KMS (AWS KMS, Azure Key Vault), which signs the digest the checks compute. Either makes the signature cosign
would: ASN.1 DER for ECDSA, PKCS #1 for RSA, over the same bytes (a simple-signing payload, or a DSSE envelope's
PAE). The KMS calls themselves live in `aws_kms` and `vault`."""

from __future__ import annotations

import hashlib
from typing import Literal, Protocol, runtime_checkable

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from scripts.checks.errors import VerificationFailedError
from scripts.checks.key_signatures import PublicKey

HashName = Literal["sha256", "sha384", "sha512"]


@runtime_checkable
class CanarySigner(Protocol):
    """A key that signs canaries; `key_name` is the stack's name for it when it is one of the stack's keys."""

    @property
    def key_name(self) -> str | None:
        """The `signing.keys[].name` this signer is, or None (a key given as a file)."""

    def public_key(self) -> PublicKey:
        """The public half, as the engines and the verifier see it."""

    def sign(self, data: bytes) -> bytes:
        """A cosign signature over `data` (DER for ECDSA)."""


SigningKey = ec.EllipticCurvePrivateKey | CanarySigner
"""What the canary writers accept: a private key in memory, or a signer."""


class LocalKey:
    """A private key in memory, signing as cosign does with a key file (ECDSA over SHA-256)."""

    key_name: str | None = None

    def __init__(self, key: ec.EllipticCurvePrivateKey) -> None:
        self._key = key

    def public_key(self) -> PublicKey:
        """The public half."""
        return self._key.public_key()

    def sign(self, data: bytes) -> bytes:
        """ECDSA P-256/SHA-256 over `data`, DER-encoded."""
        return self._key.sign(data, ec.ECDSA(hashes.SHA256()))


def as_signer(key: SigningKey) -> CanarySigner:
    """`key` as a signer (a private key in memory is wrapped)."""
    return LocalKey(key) if isinstance(key, ec.EllipticCurvePrivateKey) else key


def digest(data: bytes, hash_name: HashName) -> bytes:
    """The digest a KMS signs for `data` (MessageType DIGEST): the hash the key's signing algorithm names."""
    return hashlib.new(hash_name, data).digest()


_CURVE_BYTES = {32: "P-256", 48: "P-384", 66: "P-521"}


def p1363_to_der(signature: bytes) -> bytes:
    """An ECDSA signature as r‖s (IEEE P1363, what Key Vault and JOSE return) in the ASN.1 DER form cosign and
    the engines read. Each half is the curve's size: 32 bytes for P-256, 48 for P-384, 66 for P-521."""
    half = len(signature) // 2
    if len(signature) % 2 or half not in _CURVE_BYTES:
        raise VerificationFailedError(
            f"a {len(signature)}-byte ECDSA signature is not r‖s of P-256, P-384 or P-521 (64, 96 or 132 bytes)"
        )
    return encode_dss_signature(int.from_bytes(signature[:half], "big"), int.from_bytes(signature[half:], "big"))
