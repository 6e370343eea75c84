"""A stand-in transparency log for tests: its own key in a trusted root, and entries it "logs" with a
valid inclusion proof (a one-leaf tree), signed checkpoint and promise. What an entry records is up to
the test, so a genuine-looking entry can record another digest, signature or signer than the material
it is presented with: the case the log-entry checker exists for. Entry bodies are built in the shapes
Rekor writes (hashedrekord 0.0.1 and 0.0.2, intoto 0.0.2, dsse 0.0.1)."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import rfc8785
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sigstore.models import TrustedRoot
from sigstore_models.common.v1 import HashAlgorithm, HashOutput, PublicKeyDetails
from sigstore_models.rekor.v2 import entry as v2_entry
from sigstore_models.rekor.v2 import hashedrekord as v2_hashedrekord
from sigstore_models.rekor.v2 import verifier as v2_verifier

from scripts.checks.signed import pae

ORIGIN = "rekor.test - 1"
SIGNER_NAME = "rekor.test"  # a note signature names the key, without spaces
INTOTO = "application/vnd.in-toto+json"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def spki(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def public_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def sign(key: ec.EllipticCurvePrivateKey, data: bytes) -> bytes:
    return key.sign(data, ec.ECDSA(hashes.SHA256()))


# --- entry bodies as Rekor writes them ------------------------------------------------------------


def hashedrekord_v001(digest: bytes, signature: bytes, signer_pem: bytes) -> dict[str, Any]:
    return {
        "apiVersion": "0.0.1",
        "kind": "hashedrekord",
        "spec": {
            "data": {"hash": {"algorithm": "sha256", "value": digest.hex()}},
            "signature": {"content": b64(signature), "publicKey": {"content": b64(signer_pem)}},
        },
    }


def hashedrekord_v002(digest: bytes, signature: bytes, signer_spki: bytes) -> dict[str, Any]:
    """Through the protobuf-specs models, so the shape is Rekor v2's own."""
    entry = v2_entry.Entry(
        kind="hashedrekord",
        api_version="0.0.2",
        spec=v2_entry.Spec(
            hashed_rekord_v002=v2_hashedrekord.HashedRekordLogEntryV002(
                data=HashOutput(algorithm=HashAlgorithm.SHA2_256, digest=base64.b64encode(digest)),
                signature=v2_verifier.Signature(
                    content=base64.b64encode(signature),
                    verifier=v2_verifier.Verifier(
                        public_key=v2_verifier.PublicKey(raw_bytes=base64.b64encode(signer_spki)),
                        key_details=PublicKeyDetails.PKIX_ECDSA_P256_SHA_256,
                    ),
                ),
            )
        ),
    )
    body: dict[str, Any] = json.loads(entry.to_json())
    return body


def intoto_v002(payload: bytes, signatures: list[bytes], signer_pem: bytes) -> dict[str, Any]:
    envelope = {
        "payloadType": INTOTO,
        "payload": b64(b64(payload).encode()),
        "signatures": [{"sig": b64(b64(s).encode()), "publicKey": b64(signer_pem)} for s in signatures],
    }
    return {
        "apiVersion": "0.0.2",
        "kind": "intoto",
        "spec": {
            "content": {
                "envelope": envelope,
                "hash": {"algorithm": "sha256", "value": hashlib.sha256(json.dumps(envelope).encode()).hexdigest()},
                "payloadHash": {"algorithm": "sha256", "value": hashlib.sha256(payload).hexdigest()},
            }
        },
    }


def dsse_v001(payload: bytes, signatures: list[bytes], signer_pem: bytes) -> dict[str, Any]:
    return {
        "apiVersion": "0.0.1",
        "kind": "dsse",
        "spec": {
            "envelopeHash": {"algorithm": "sha256", "value": "0" * 64},
            "payloadHash": {"algorithm": "sha256", "value": hashlib.sha256(payload).hexdigest()},
            "signatures": [{"signature": b64(s), "verifier": b64(signer_pem)} for s in signatures],
        },
    }


def statement_about(digest: bytes, predicate: dict[str, Any] | None = None) -> bytes:
    return json.dumps(
        {
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [{"name": "artifact", "digest": {"sha256": digest.hex()}}],
            "predicateType": "https://example.com/test",
            "predicate": predicate or {},
        }
    ).encode()


def dsse_signature(key: ec.EllipticCurvePrivateKey, payload: bytes) -> bytes:
    return sign(key, pae(INTOTO, payload))


# --- the log --------------------------------------------------------------------------------------


@dataclass
class FakeRekor:
    """A log with one key; `trusted_root` trusts it, `tlog_entry` and `promise` log a body."""

    key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    integrated_time: int = 1_700_000_000

    @property
    def key_id(self) -> bytes:
        return hashlib.sha256(spki(self.key)).digest()

    def trusted_root(self, folder: Path) -> TrustedRoot:
        log = {
            "baseUrl": "https://rekor.test",
            "hashAlgorithm": "SHA2_256",
            "publicKey": {
                "rawBytes": b64(spki(self.key)),
                "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                "validFor": {"start": "2020-01-01T00:00:00Z"},
            },
            "logId": {"keyId": b64(self.key_id)},
        }
        root = {
            "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
            "tlogs": [log],
            "certificateAuthorities": [],
            "ctlogs": [],
            "timestampAuthorities": [],
        }
        path = folder / "trusted_root.json"
        path.write_text(json.dumps(root))
        return TrustedRoot.from_file(str(path))

    def _set(self, body: bytes) -> bytes:
        payload: dict[str, str | int] = {
            "body": b64(body),
            "integratedTime": self.integrated_time,
            "logID": self.key_id.hex(),
            "logIndex": 0,
        }
        return sign(self.key, rfc8785.dumps(payload))

    def tlog_entry(self, body: dict[str, Any]) -> dict[str, Any]:
        """A bundle's `tlogEntries[0]` for `body`: inclusion proof and checkpoint, plus a promise for
        Rekor v1 kinds (Rekor v2 entries have no integrated time)."""
        canonical = rfc8785.dumps(body)
        root_hash = hashlib.sha256(b"\x00" + canonical).digest()  # the only leaf is the root
        note = f"{ORIGIN}\n1\n{b64(root_hash)}\n"
        signature = b64(self.key_id[:4] + sign(self.key, note.encode()))
        entry: dict[str, Any] = {
            "logIndex": "0",
            "logId": {"keyId": b64(self.key_id)},
            "kindVersion": {"kind": body["kind"], "version": body["apiVersion"]},
            "inclusionProof": {
                "logIndex": "0",
                "rootHash": b64(root_hash),
                "treeSize": "1",
                "hashes": [],
                "checkpoint": {"envelope": f"{note}\n\u2014 {SIGNER_NAME} {signature}\n"},
            },
            "canonicalizedBody": b64(canonical),
        }
        if body["apiVersion"] != "0.0.2" or body["kind"] != "hashedrekord":
            entry["integratedTime"] = str(self.integrated_time)
            entry["inclusionPromise"] = {"signedEntryTimestamp": b64(self._set(canonical))}
        return entry

    def promise(self, body: dict[str, Any]) -> bytes:
        """cosign's `dev.sigstore.cosign/bundle` annotation for `body` (legacy layers)."""
        canonical = rfc8785.dumps(body)
        return json.dumps(
            {
                "SignedEntryTimestamp": b64(self._set(canonical)),
                "Payload": {
                    "body": b64(canonical),
                    "integratedTime": self.integrated_time,
                    "logIndex": 0,
                    "logID": self.key_id.hex(),
                },
            }
        ).encode()


def key_bundle(
    rekor: FakeRekor,
    key: ec.EllipticCurvePrivateKey,
    body: dict[str, Any],
    *,
    digest: bytes | None = None,
    signature: bytes | None = None,
    payload: bytes | None = None,
    envelope_signatures: list[bytes] | None = None,
) -> bytes:
    """A managed-key v0.3 bundle: a message signature (`digest`, `signature`) or a DSSE envelope
    (`payload`, `envelope_signatures`), with `body` logged by `rekor`."""
    bundle: dict[str, Any] = {
        "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
        "verificationMaterial": {
            "publicKey": {"hint": b64(hashlib.sha256(spki(key)).digest())},
            "tlogEntries": [rekor.tlog_entry(body)],
        },
    }
    if payload is not None:
        bundle["dsseEnvelope"] = {
            "payloadType": INTOTO,
            "payload": b64(payload),
            "signatures": [{"sig": b64(s), "keyid": ""} for s in envelope_signatures or []],
        }
    else:
        assert digest is not None
        assert signature is not None
        bundle["messageSignature"] = {
            "messageDigest": {"algorithm": "SHA2_256", "digest": b64(digest)},
            "signature": b64(signature),
        }
    return json.dumps(bundle).encode()
