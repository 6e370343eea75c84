"""cosign's legacy `.sig` layer rebuilt from a real Sigstore conformance bundle: the payload (the signed
file), the signature, the certificate (PEM) and Rekor's promise, as the layer's annotations carry them."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization


@dataclass
class LegacyKeylessLayer:
    """The parts of a legacy keyless signature layer; `promise` may be edited to tamper with it."""

    payload: bytes
    signature: bytes
    certificate_pem: bytes
    promise: dict[str, Any]

    @property
    def promise_json(self) -> bytes:
        """The `dev.sigstore.cosign/bundle` annotation's value."""
        return json.dumps(self.promise).encode()


def legacy_keyless_layer(bundle_verify_cases: Path, case: str = "happy-path-v0.3") -> LegacyKeylessLayer:
    """The layer cosign would have written for the conformance case's message signature."""
    bundle = json.loads((bundle_verify_cases / case / "bundle.sigstore.json").read_text())
    material = bundle["verificationMaterial"]
    entry = material["tlogEntries"][0]
    certificate = x509.load_der_x509_certificate(base64.b64decode(material["certificate"]["rawBytes"]))
    return LegacyKeylessLayer(
        payload=(bundle_verify_cases.parent / "a.txt").read_bytes(),
        signature=base64.b64decode(bundle["messageSignature"]["signature"]),
        certificate_pem=certificate.public_bytes(serialization.Encoding.PEM),
        promise={
            "SignedEntryTimestamp": entry["inclusionPromise"]["signedEntryTimestamp"],
            "Payload": {
                "body": entry["canonicalizedBody"],
                "integratedTime": int(entry["integratedTime"]),
                "logIndex": int(entry["logIndex"]),
                "logID": base64.b64decode(entry["logId"]["keyId"]).hex(),
            },
        },
    )
