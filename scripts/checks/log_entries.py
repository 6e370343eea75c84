"""One rule for transparency-log entries: the entry records this signature, over this content, by this
key or certificate.

An inclusion proof, checkpoint or promise proves only that *some* entry is in the log. Without this
check a genuine entry for another artifact, another signature or another signer would vouch for the
material in hand (CVE-2022-36056's family). Every verification path calls `check_log_entry` after the
entry itself has verified: keyless and managed-key bundles, and cosign's legacy layers.

What each entry kind records (Rekor's canonicalized body):

  hashedrekord 0.0.1  spec.data.hash            sha256, hex, of the message
                      spec.signature            content (base64), publicKey.content (base64 PEM key or cert)
  hashedrekord 0.0.2  spec.hashedRekordV002     data: SHA2_256, base64, of the message, or of a DSSE
                                                envelope's PAE (Rekor v2 logs DSSE this way);
                                                signature: content, verifier publicKey|x509Certificate (DER)
  intoto 0.0.2        spec.content.payloadHash  sha256, hex, of the DSSE payload
                      spec.content.envelope     signatures[]: sig (base64 of the base64 signature),
                                                publicKey (base64 PEM key or cert)
  dsse 0.0.1          spec.payloadHash          sha256, hex, of the DSSE payload
                      spec.signatures[]         signature (base64), verifier (base64 PEM key or cert)
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509 import Certificate, load_pem_x509_certificate

from scripts.checks.errors import VerificationFailedError
from scripts.checks.signed import DssePayload, Subject

Content = Subject | DssePayload


@dataclass(frozen=True)
class Signing:
    """A signing as the material in hand shows it; `check_log_entry` asks the entry to record it."""

    content: Content
    signer: bytes
    """DER of who signed: the certificate, or the public key's SubjectPublicKeyInfo (`signer_der`)."""
    verified: tuple[bytes, ...]
    """The signatures that verified with the signer: the entry must record each one as the signer's."""
    envelope: tuple[bytes, ...] | None = None
    """Every signature of the DSSE envelope, when the envelope is known whole: the entry must record
    exactly these (a legacy layer splits an envelope into single signatures, so it passes None)."""


def signer_der(signer: Certificate | ec.EllipticCurvePublicKey | rsa.RSAPublicKey) -> bytes:
    """The DER by which a log entry identifies a signer: a certificate's, or a key's SPKI."""
    if isinstance(signer, Certificate):
        return signer.public_bytes(serialization.Encoding.DER)
    return signer.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def check_log_entry(body: Mapping[str, Any], signing: Signing) -> None:
    """Raise `VerificationFailedError` unless the entry (its canonicalized body, parsed) records the
    content's digest, each verified signature paired with the signer, and, for a whole envelope,
    no other signature."""
    if not signing.verified:  # an empty claim would pass every entry: refuse it on purpose
        raise VerificationFailedError("no verified signature to look for in the log entry")
    recorded = _read(body)
    _check_digest(recorded, signing.content)
    _check_signatures(recorded, signing)


@dataclass(frozen=True)
class _Recorded:
    """What an entry records, in one shape for every kind."""

    kind: str
    algorithm: str
    digest: bytes
    digest_of: Callable[[Content], bytes | None]
    signatures: tuple[tuple[bytes, bytes | None], ...]  # (signature, signer DER)


def _read(body: Mapping[str, Any]) -> _Recorded:
    if not isinstance(body, Mapping):
        raise VerificationFailedError(f"malformed log entry: a JSON {type(body).__name__}, not an object")
    kind = f"{body.get('kind')} {body.get('apiVersion')}"
    reader = _READERS.get(kind)
    if reader is None:
        raise VerificationFailedError(f"unsupported log entry {kind}; expected one of {', '.join(_READERS)}")
    try:
        return reader(body["spec"])
    except (KeyError, TypeError, ValueError, AttributeError) as exc:  # binascii.Error is a ValueError
        raise VerificationFailedError(f"malformed {kind} log entry: {type(exc).__name__}: {exc}") from exc


def _check_digest(recorded: _Recorded, content: Content) -> None:
    expected = recorded.digest_of(content)
    if expected is None:
        what = "a message signature" if isinstance(content, Subject) else "a DSSE envelope"
        raise VerificationFailedError(f"a {recorded.kind} log entry cannot record {what}")
    if recorded.algorithm != "sha256":
        raise VerificationFailedError(f"the log entry records a {recorded.algorithm} digest; expected sha256")
    if recorded.digest != expected:
        raise VerificationFailedError(
            f"the log entry records sha256:{recorded.digest.hex()}, not sha256:{expected.hex()} "
            f"({'the signed artifact' if isinstance(content, Subject) else 'the signed envelope'})"
        )


def _check_signatures(recorded: _Recorded, signing: Signing) -> None:
    logged = {signature for signature, _ in recorded.signatures}
    for signature in signing.verified:
        if signature not in logged:
            raise VerificationFailedError("the log entry records a different signature than the one that verified")
        signers = {signer for logged_signature, signer in recorded.signatures if logged_signature == signature}
        if signing.signer not in signers:
            got = ", ".join(sorted(_fingerprint(s) for s in signers))
            raise VerificationFailedError(
                f"the log entry records the signature by {got}, not by {_fingerprint(signing.signer)}"
            )
    if signing.envelope is not None and logged != set(signing.envelope):
        raise VerificationFailedError(
            f"the log entry records {len(logged)} signature(s) other than the envelope's {len(signing.envelope)}"
        )


def _fingerprint(der: bytes | None) -> str:
    return "an unreadable key or certificate" if der is None else f"sha256:{hashlib.sha256(der).hexdigest()[:16]}"


# --- one reader per entry kind ---------------------------------------------------------------------


def _message_digest(content: Content) -> bytes | None:
    return content.sha256 if isinstance(content, Subject) else None


def _message_or_pae_digest(content: Content) -> bytes:
    return content.sha256 if isinstance(content, Subject) else hashlib.sha256(content.pae()).digest()


def _payload_digest(content: Content) -> bytes | None:
    return hashlib.sha256(content.payload).digest() if isinstance(content, DssePayload) else None


def _hashedrekord_v001(spec: Mapping[str, Any]) -> _Recorded:
    hashed, signature = spec["data"]["hash"], spec["signature"]
    return _Recorded(
        "hashedrekord 0.0.1",
        hashed["algorithm"],
        bytes.fromhex(hashed["value"]),
        _message_digest,
        ((_b64(signature["content"]), _pem_der(_b64(signature["publicKey"]["content"]))),),
    )


def _hashedrekord_v002(spec: Mapping[str, Any]) -> _Recorded:
    entry = spec["hashedRekordV002"]
    data, signature = entry["data"], entry["signature"]
    verifier = signature["verifier"]
    raw = (verifier.get("publicKey") or verifier.get("x509Certificate") or {})["rawBytes"]
    return _Recorded(
        "hashedrekord 0.0.2",
        "sha256" if data["algorithm"] == "SHA2_256" else str(data["algorithm"]),
        _b64(data["digest"]),
        _message_or_pae_digest,
        ((_b64(signature["content"]), _b64(raw)),),
    )


def _intoto_v002(spec: Mapping[str, Any]) -> _Recorded:
    content = spec["content"]
    hashed = content["payloadHash"]
    return _Recorded(
        "intoto 0.0.2",
        hashed["algorithm"],
        bytes.fromhex(hashed["value"]),
        _payload_digest,
        tuple(
            (_b64(_b64(s["sig"]).decode()), _pem_der(_b64(s["publicKey"]))) for s in content["envelope"]["signatures"]
        ),
    )


def _dsse_v001(spec: Mapping[str, Any]) -> _Recorded:
    hashed = spec["payloadHash"]
    return _Recorded(
        "dsse 0.0.1",
        hashed["algorithm"],
        bytes.fromhex(hashed["value"]),
        _payload_digest,
        tuple((_b64(s["signature"]), _pem_der(_b64(s["verifier"]))) for s in spec["signatures"]),
    )


_READERS: dict[str, Callable[[Mapping[str, Any]], _Recorded]] = {
    "hashedrekord 0.0.1": _hashedrekord_v001,
    "hashedrekord 0.0.2": _hashedrekord_v002,
    "intoto 0.0.2": _intoto_v002,
    "dsse 0.0.1": _dsse_v001,
}


def _b64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


def _pem_der(pem: bytes) -> bytes | None:
    """DER of a PEM certificate or public key (how an entry names who signed); None if neither."""
    try:
        return load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)
    except ValueError:
        pass
    try:
        key = serialization.load_pem_public_key(pem)
    except ValueError:
        return None
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
