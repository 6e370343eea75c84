"""Signatures by a trusted key, as the engines verify them: which digest and (for RSA) which padding the key's
signatures use, whether one verifies, and key PEMs read and compared."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

from scripts.checks.errors import UsageError
from scripts.checks.signed import DssePayload, Subject

PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey


@dataclass(frozen=True)
class KeyScheme:
    """How a trusted key's signatures are made, as the engines verify them: the digest (SHA-256 unless the key
    signs with another, an AWS KMS P-384 key with SHA-384) and, for RSA, whether RSASSA-PSS counts besides
    PKCS #1 v1.5 (only for a key the engines verify through its KMS, which says the key's algorithm)."""

    hash_name: Literal["sha256", "sha384"] = "sha256"
    rsa_pss: bool = False

    @property
    def hash(self) -> hashes.HashAlgorithm:
        """The digest as a `cryptography` algorithm."""
        return hashes.SHA384() if self.hash_name == "sha384" else hashes.SHA256()


COSIGN_KEY = KeyScheme()
"""A key file's signatures (cosign's defaults): SHA-256; RSA keys PKCS #1 v1.5."""


def load_public_key(pem: bytes) -> PublicKey:
    """An EC or RSA public key from PEM (a usage error otherwise)."""
    try:
        key = serialization.load_pem_public_key(pem)
    except ValueError as exc:
        raise UsageError(f"not a PEM public key: {exc}") from exc
    if not isinstance(key, (ec.EllipticCurvePublicKey, rsa.RSAPublicKey)):
        raise UsageError(f"{type(key).__name__} keys are not supported (EC or RSA)")
    return key


def same_public_key(a: PublicKey | str | bytes, b: PublicKey | str | bytes) -> bool:
    """Whether two keys (objects or PEM) are the same public key; unreadable PEM is not."""

    def der(key: PublicKey | str | bytes) -> bytes | None:
        try:
            loaded = (
                serialization.load_pem_public_key(key.encode() if isinstance(key, str) else key)
                if isinstance(key, (str, bytes))
                else key
            )
        except ValueError:
            return None
        return loaded.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)

    first = der(a)
    return first is not None and first == der(b)


def verifies(
    key: PublicKey, signature: bytes, signed: Subject | DssePayload | bytes, scheme: KeyScheme = COSIGN_KEY
) -> bool:
    """Whether `signature` over a message (itself, or by its SHA-256 digest) or over a DSSE payload's PAE
    verifies."""
    prehashed = isinstance(signed, Subject)
    data = signed.sha256 if isinstance(signed, Subject) else signed if isinstance(signed, bytes) else signed.pae()
    algorithm = utils.Prehashed(hashes.SHA256()) if prehashed else scheme.hash
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, data, ec.ECDSA(algorithm))
            return True
        paddings: list[padding.AsymmetricPadding] = [padding.PKCS1v15()]
        if scheme.rsa_pss:
            paddings.append(padding.PSS(mgf=padding.MGF1(scheme.hash), salt_length=padding.PSS.AUTO))
        for pad in paddings:
            try:
                key.verify(signature, data, pad, algorithm)
                return True
            except InvalidSignature:
                continue
    except InvalidSignature:
        return False
    return False
