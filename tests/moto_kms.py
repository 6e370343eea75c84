"""moto as the AWS KMS stand-in, with the one part of `Sign` it does not implement yet.

AWS KMS signs a `MessageType: DIGEST` message as the digest it is (API_Sign: "KMS skips the hashing step"); moto
5.2 reads the parameter and ignores it, hashing the digest again (getmoto/moto#10202 implements it, unmerged), so
any signer that sends digests, cosign's included, gets signatures no public key verifies. `digest_signing()`
teaches moto's handler exactly that step, with moto's own key material, and leaves every other answer (RAW
messages, refusals of a key that cannot sign or of an algorithm it does not have) to moto.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from moto.kms.exceptions import ValidationException
from moto.kms.responses import KmsResponse

_HASHES: dict[str, hashes.HashAlgorithm] = {
    "256": hashes.SHA256(),
    "384": hashes.SHA384(),
    "512": hashes.SHA512(),
}


def _sign_digest(private: Any, algorithm: str, digest: bytes) -> bytes:
    """What AWS KMS does with a DIGEST message: sign it as already hashed by the algorithm's hash."""
    hash_ = _HASHES[algorithm.rsplit("_", 1)[-1]]
    if len(digest) != hash_.digest_size:
        raise ValidationException(f"Digest is invalid length for algorithm {algorithm}.")
    prehashed = utils.Prehashed(hash_)
    if isinstance(private, ec.EllipticCurvePrivateKey):
        return private.sign(digest, ec.ECDSA(prehashed))
    assert isinstance(private, rsa.RSAPrivateKey)
    if algorithm.startswith("RSASSA_PSS_"):
        # a salt as long as the digest; verifiers read the salt length from the signature
        return private.sign(digest, padding.PSS(mgf=padding.MGF1(hash_), salt_length=hash_.digest_size), prehashed)
    return private.sign(digest, padding.PKCS1v15(), prehashed)


@contextmanager
def digest_signing() -> Iterator[None]:
    """moto's KMS `Sign` handler, signing DIGEST messages as AWS does (in-process mocks and the threaded server)."""
    original = KmsResponse.sign

    def sign(self: KmsResponse) -> str:
        if self._get_param("MessageType") != "DIGEST":
            return original(self)
        key_id, algorithm = self._get_param("KeyId"), self._get_param("SigningAlgorithm")
        self._validate_key_id(key_id)
        key = self.kms_backend.describe_key(key_id)
        if key.key_usage != "SIGN_VERIFY" or algorithm not in key.signing_algorithms:
            return original(self)  # moto's own refusal, as for a RAW message
        private = key.private_key.private_key  # type: ignore[attr-defined]  # moto's wrapper of a cryptography key
        signature = _sign_digest(private, algorithm, self._get_param("Message"))
        return json.dumps(
            {"KeyId": key.arn, "Signature": base64.b64encode(signature).decode(), "SigningAlgorithm": algorithm}
        )

    with mock.patch.object(KmsResponse, "sign", sign):
        yield
