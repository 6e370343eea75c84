"""Verify Sigstore bundles offline against a trusted root: keyless (certificate + identity) through
the `sigstore` library, and managed-key bundles, which that library does not accept, with
`cryptography` plus the library's own transparency-log verification.

Identity matching uses the engines' semantics: an exact subject, or a regular expression searched
in the certificate's identity (the config only admits anchored patterns, so search == full match).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from cryptography.x509 import (
    Certificate,
    ExtendedKeyUsage,
    ObjectIdentifier,
    OtherName,
    RFC822Name,
    SubjectAlternativeName,
    UniformResourceIdentifier,
    load_pem_x509_certificate,
)
from cryptography.x509.oid import ExtendedKeyUsageOID
from sigstore._internal.sct import verify_sct
from sigstore._internal.timestamp import TimestampSource, TimestampVerificationResult
from sigstore._internal.trust import KeyringPurpose
from sigstore._utils import KeyID
from sigstore.errors import Error as SigstoreError
from sigstore.hashes import Hashed
from sigstore.models import Bundle, ClientTrustConfig, InvalidBundle, TransparencyLogEntry, TrustedRoot
from sigstore.verify import Verifier, policy
from sigstore_models.bundle.v1 import Bundle as BundleMessage
from sigstore_models.common.v1 import HashAlgorithm

from scripts.checks.errors import UsageError, VerificationFailedError

PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey
_OTHERNAME_OID = ObjectIdentifier("1.3.6.1.4.1.57264.1.7")  # Sigstore's "other name" SAN type


@dataclass(frozen=True)
class Subject:
    """What was signed, by its SHA-256 digest (an image manifest digest or a file's)."""

    sha256: bytes

    @classmethod
    def of_bytes(cls, data: bytes) -> Subject:
        return cls(hashlib.sha256(data).digest())

    @classmethod
    def parse(cls, value: str) -> Subject:
        """`sha256:<hex>` or a path to a file."""
        if value.startswith("sha256:"):
            digest = value.removeprefix("sha256:")
            if not re.fullmatch(r"[0-9a-f]{64}", digest):
                raise UsageError(f"{value!r} is not a sha256:<64 hex> digest")
            return cls(bytes.fromhex(digest))
        path = Path(value)
        if not path.is_file():
            raise UsageError(f"{value!r} is neither a sha256: digest nor a readable file")
        return cls.of_bytes(path.read_bytes())

    @property
    def hex(self) -> str:
        return self.sha256.hex()

    def hashed(self) -> Hashed:
        return Hashed(algorithm=HashAlgorithm.SHA2_256, digest=self.sha256)


@dataclass(frozen=True)
class IdentityPolicy:
    """An OIDC issuer (exact) and a subject, exact or by regular expression."""

    issuer: str
    subject: str | None = None
    subject_regexp: str | None = None

    def __post_init__(self) -> None:
        if (self.subject is None) == (self.subject_regexp is None):
            raise UsageError("an identity needs exactly one of subject and subject regexp")

    def verify(self, cert: Certificate) -> None:
        """The `sigstore` VerificationPolicy protocol: raise unless `cert` is this identity's."""
        try:
            policy.OIDCIssuer(self.issuer).verify(cert)
        except SigstoreError as exc:
            raise VerificationFailedError(f"certificate issuer is not {self.issuer}: {exc}") from exc
        sans = _sans(cert)
        if self.subject is not None:
            if self.subject not in sans:
                raise VerificationFailedError(f"certificate identity {sorted(sans)} is not {self.subject}")
        # fullmatch: a trailing newline cannot satisfy `$` (Go's RE2 semantics, which the engines use)
        elif not any(re.fullmatch(self.subject_regexp or "", san) for san in sans):
            raise VerificationFailedError(f"certificate identity {sorted(sans)} does not match {self.subject_regexp}")

    def describe(self) -> str:
        return f"{self.subject or self.subject_regexp} (issuer {self.issuer})"


def _sans(cert: Certificate) -> set[str]:
    ext = cert.extensions.get_extension_for_class(SubjectAlternativeName).value
    sans = set(ext.get_values_for_type(RFC822Name)) | set(ext.get_values_for_type(UniformResourceIdentifier))
    sans |= {o.value.decode() for o in ext.get_values_for_type(OtherName) if o.type_id == _OTHERNAME_OID}
    return sans


@dataclass(frozen=True)
class Verified:
    """A bundle that verified: what kind of content it signs, and by whom."""

    kind: Literal["message", "dsse"]
    signer: str
    log_index: int
    payload_type: str | None = None
    payload: bytes | None = None

    def statement(self) -> dict[str, Any]:
        """The in-toto statement of a DSSE bundle."""
        if self.payload is None:
            raise VerificationFailedError("the bundle signs a message, not an in-toto statement")
        statement: dict[str, Any] = json.loads(self.payload)
        return statement


def trusted_root(path: Path | None = None, *, staging: bool = False) -> TrustedRoot:
    """A trusted root from a file, or Sigstore's public-good (or staging) one as shipped with the
    `sigstore` library: offline, no TUF refresh."""
    if path is not None:
        try:
            return TrustedRoot.from_file(str(path))
        except (OSError, ValueError, SigstoreError) as exc:
            raise UsageError(f"{path} is not a Sigstore trusted root: {exc}") from exc
    config = ClientTrustConfig.staging(offline=True) if staging else ClientTrustConfig.production(offline=True)
    return config.trusted_root


class _Verifier(Verifier):
    """The library's verifier, also accepting the `intoto` 0.0.2 log entries that cosign's legacy
    `cosign attest` writes (sigstore 4.5 verifies `dsse` and `hashedrekord` entries only). Every
    other step (chain at the verified time, SCT, identity, inclusion proof, promise) is the
    library's own; the library is pinned by hash, and the conformance fixtures cover this path."""

    def _establish_time(self, bundle: Bundle) -> list[TimestampVerificationResult]:
        entry = bundle.log_entry._inner
        kind = entry.kind_version
        if not (kind.kind == "intoto" and kind.version == "0.0.2"):
            return super()._establish_time(bundle)
        results = []
        if bundle.verification_material.timestamp_verification_data:
            results += self._verify_timestamp_authority(bundle)
        if entry.integrated_time and entry.inclusion_promise:  # the promise (verified later) binds it
            results.append(
                TimestampVerificationResult(
                    source=TimestampSource.TRANSPARENCY_SERVICE,
                    time=datetime.fromtimestamp(entry.integrated_time, tz=UTC),
                )
            )
        return results

    def verify_intoto(self, bundle: Bundle, identity: IdentityPolicy) -> tuple[str, bytes]:
        self._verify_common_signing_cert(bundle, identity)
        envelope = bundle._dsse_envelope
        if envelope is None:
            raise VerificationFailedError("the bundle has no DSSE envelope")
        key = bundle.signing_certificate.public_key()
        if not isinstance(key, (ec.EllipticCurvePublicKey, rsa.RSAPublicKey)):
            raise VerificationFailedError(f"unsupported certificate key {type(key).__name__}")
        inner = envelope._inner
        if not any(
            _verify_signature(key, s.sig, pae(inner.payload_type, inner.payload), prehashed=False)
            for s in inner.signatures
        ):
            raise VerificationFailedError("the DSSE signature does not verify with the certificate's key")
        content = json.loads(bundle.log_entry._inner.canonicalized_body).get("spec", {}).get("content", {})
        if content.get("payloadHash", {}).get("value") != hashlib.sha256(inner.payload).hexdigest():
            raise VerificationFailedError("the log entry records a different payload than the envelope")
        logged = {
            base64.b64decode(s.get("sig", "")).decode() for s in content.get("envelope", {}).get("signatures", [])
        }
        if logged != {base64.b64encode(s.sig).decode() for s in inner.signatures}:
            raise VerificationFailedError("the log entry records different signatures than the envelope")
        cert_der = bundle.signing_certificate.public_bytes(serialization.Encoding.DER)
        logged_certs = [
            _certificate_der(base64.b64decode(s.get("publicKey", "")))
            for s in content.get("envelope", {}).get("signatures", [])
        ]
        if cert_der not in logged_certs:
            raise VerificationFailedError("the log entry records a different certificate than the bundle")
        return inner.payload_type, inner.payload


def _certificate_der(pem: bytes) -> bytes | None:
    try:
        return load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)
    except ValueError:
        return None


def verify_with_identity(bundle_json: bytes, subject: Subject, root: TrustedRoot, identity: IdentityPolicy) -> Verified:
    """A keyless bundle: Fulcio chain, SCT, transparency log, identity, then the signature over
    `subject` (message signature) or over an in-toto statement naming `subject` (DSSE)."""
    try:
        bundle = Bundle.from_json(bundle_json)
    except (InvalidBundle, ValueError) as exc:
        raise VerificationFailedError(f"not a valid Sigstore bundle: {exc}") from exc
    verifier = _Verifier(trusted_root=root)
    index = bundle.log_entry._inner.log_index
    try:
        if bundle._inner.message_signature is not None:
            verifier.verify_artifact(subject.hashed(), bundle, identity)
            return Verified("message", identity.describe(), index)
        if bundle.log_entry._inner.kind_version.kind == "intoto":
            payload_type, payload = verifier.verify_intoto(bundle, identity)
        else:
            payload_type, payload = verifier.verify_dsse(bundle, identity)
    except SigstoreError as exc:
        raise VerificationFailedError(str(exc)) from exc
    verified = Verified("dsse", identity.describe(), index, payload_type, payload)
    _require_subject(verified, subject)
    return verified


def load_public_key(pem: bytes) -> PublicKey:
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


def _verify_signature(key: PublicKey, signature: bytes, data: bytes, *, prehashed: bool) -> bool:
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            algorithm = utils.Prehashed(hashes.SHA256()) if prehashed else hashes.SHA256()
            key.verify(signature, data, ec.ECDSA(algorithm))
        else:
            rsa_algorithm = utils.Prehashed(hashes.SHA256()) if prehashed else hashes.SHA256()
            key.verify(signature, data, padding.PKCS1v15(), rsa_algorithm)
    except InvalidSignature:
        return False
    return True


def _check_hashedrekord_v002(spec: dict[str, Any], subject: Subject, signature: bytes, key: PublicKey) -> None:
    """A Rekor v2 entry records the digest, the signature and the verifier's DER key."""
    entry = spec.get("hashedRekordV002", {})
    if entry.get("data", {}).get("digest") != base64.b64encode(subject.sha256).decode():
        raise VerificationFailedError(f"the log entry records another digest than sha256:{subject.hex}")
    logged_signature = entry.get("signature", {})
    if logged_signature.get("content") != base64.b64encode(signature).decode():
        raise VerificationFailedError("the log entry records a different signature than the bundle")
    raw = logged_signature.get("verifier", {}).get("publicKey", {}).get("rawBytes", "")
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    if base64.b64decode(raw) != der:
        raise VerificationFailedError("the log entry records a different public key than the one given")


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE pre-authentication encoding: what a DSSE signature signs."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def _require_subject(verified: Verified, subject: Subject) -> None:
    digests = [s.get("digest", {}).get("sha256") for s in verified.statement().get("subject", [])]
    if subject.hex not in digests:
        raise VerificationFailedError(f"the statement's subjects {digests} do not include sha256:{subject.hex}")


def verify_with_key(bundle_json: bytes, subject: Subject, root: TrustedRoot, key: PublicKey) -> Verified:
    """A managed-key bundle: the transparency-log entry (inclusion proof, checkpoint and promise,
    by the root's Rekor keys), the entry's consistency with the bundle, then the signature."""
    try:
        message = BundleMessage.from_json(bundle_json)
    except ValueError as exc:
        raise VerificationFailedError(f"not a valid Sigstore bundle: {exc}") from exc
    material = message.verification_material
    if material.public_key is None:
        raise VerificationFailedError("the bundle carries a certificate, not a key hint; verify it by identity")
    if not material.tlog_entries:
        raise VerificationFailedError("the bundle has no transparency-log entry")
    try:
        entry = TransparencyLogEntry(material.tlog_entries[0])
        entry._verify(root.rekor_keyring(KeyringPurpose.VERIFY))
    except (SigstoreError, InvalidBundle, ValueError) as exc:
        raise VerificationFailedError(f"transparency log: {exc}") from exc
    body: dict[str, Any] = json.loads(entry._inner.canonicalized_body)
    log_index = entry._inner.log_index
    signer = (
        "key "
        + hashlib.sha256(
            key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        ).hexdigest()[:16]
    )

    if message.message_signature is not None:
        signature = message.message_signature.signature
        digest = message.message_signature.message_digest
        if digest is not None and digest.digest != subject.sha256:
            raise VerificationFailedError(f"the bundle signs sha256:{digest.digest.hex()}, not sha256:{subject.hex}")
        if not _verify_signature(key, signature, subject.sha256, prehashed=True):
            raise VerificationFailedError("the signature does not verify with the given key")
        spec = body.get("spec", {})
        if body.get("kind") != "hashedrekord":
            raise VerificationFailedError(f"expected a hashedrekord log entry, got {body.get('kind')}")
        if body.get("apiVersion") == "0.0.2":  # Rekor v2
            _check_hashedrekord_v002(spec, subject, signature, key)
            return Verified("message", signer, log_index)
        logged_hash = spec.get("data", {}).get("hash", {})
        if logged_hash.get("algorithm") != "sha256" or logged_hash.get("value") != subject.hex:
            raise VerificationFailedError(f"the log entry records {logged_hash}, not sha256:{subject.hex}")
        if spec.get("signature", {}).get("content") != base64.b64encode(signature).decode():
            raise VerificationFailedError("the log entry records a different signature than the bundle")
        logged_key = base64.b64decode(spec.get("signature", {}).get("publicKey", {}).get("content", ""))
        if not same_public_key(key, logged_key):
            raise VerificationFailedError("the log entry records a different public key than the one given")
        return Verified("message", signer, log_index)

    envelope = message.dsse_envelope
    if envelope is None:
        raise VerificationFailedError("the bundle has neither a message signature nor a DSSE envelope")
    signed = pae(envelope.payload_type, envelope.payload)
    if not any(_verify_signature(key, s.sig, signed, prehashed=False) for s in envelope.signatures):
        raise VerificationFailedError("no DSSE signature verifies with the given key")
    if body.get("kind") != "dsse":
        raise VerificationFailedError(f"expected a dsse log entry, got {body.get('kind')}")
    payload_hash = body.get("spec", {}).get("payloadHash", {})
    if payload_hash.get("value") != hashlib.sha256(envelope.payload).hexdigest():
        raise VerificationFailedError("the log entry records a different payload than the envelope")
    verifiers = [base64.b64decode(s.get("verifier", "")) for s in body.get("spec", {}).get("signatures", [])]
    if not any(same_public_key(key, v) for v in verifiers):
        raise VerificationFailedError("the log entry records a different public key than the one given")
    verified = Verified("dsse", signer, log_index, envelope.payload_type, envelope.payload)
    _require_subject(verified, subject)
    return verified


def _verify_promise(rekor_bundle: bytes, root: TrustedRoot) -> tuple[dict[str, Any], datetime, int]:
    """Rekor's signed entry timestamp from a legacy layer: (entry body, integrated time, index)."""
    try:
        promise = json.loads(rekor_bundle)
        entry = promise["Payload"]
        canonical = rfc8785.dumps(
            {
                "body": entry["body"],
                "integratedTime": int(entry["integratedTime"]),
                "logID": entry["logID"],
                "logIndex": int(entry["logIndex"]),
            }
        )
        signature = base64.b64decode(promise["SignedEntryTimestamp"])
        body: dict[str, Any] = json.loads(base64.b64decode(entry["body"]))
        key_id = KeyID(bytes.fromhex(entry["logID"]))
    except (ValueError, KeyError, TypeError) as exc:
        raise VerificationFailedError(f"malformed Rekor bundle: {exc}") from exc
    try:
        root.rekor_keyring(KeyringPurpose.VERIFY).verify(key_id=key_id, signature=signature, data=canonical)
    except SigstoreError as exc:
        raise VerificationFailedError(f"Rekor entry promise: {exc}") from exc
    return body, datetime.fromtimestamp(int(entry["integratedTime"]), tz=UTC), int(entry["logIndex"])


def _check_logged(body: dict[str, Any], signed_data: bytes, signature: bytes, verifier_der: bytes, dsse: bool) -> None:
    """The log entry records this signature, over this content, by this key or certificate."""
    spec = body.get("spec", {})
    kind = body.get("kind")
    if kind == "hashedrekord" and not dsse:
        if spec.get("data", {}).get("hash", {}).get("value") != hashlib.sha256(signed_data).hexdigest():
            raise VerificationFailedError("the log entry records a different payload")
        if spec.get("signature", {}).get("content") != base64.b64encode(signature).decode():
            raise VerificationFailedError("the log entry records a different signature")
        logged = [base64.b64decode(spec.get("signature", {}).get("publicKey", {}).get("content", ""))]
    elif kind == "intoto" and dsse:  # cosign before v3
        content = spec.get("content", {})
        payload = signed_data.split(b" ", 4)[-1]  # the PAE's last field is the payload itself
        if content.get("payloadHash", {}).get("value") != hashlib.sha256(payload).hexdigest():
            raise VerificationFailedError("the log entry records a different attestation payload")
        logged = [base64.b64decode(s.get("publicKey", "")) for s in content.get("envelope", {}).get("signatures", [])]
    elif kind == "dsse" and dsse:  # cosign v3 legacy attestations (built through sigstore-go)
        payload = signed_data.split(b" ", 4)[-1]
        if spec.get("payloadHash", {}).get("value") != hashlib.sha256(payload).hexdigest():
            raise VerificationFailedError("the log entry records a different attestation payload")
        logged = [base64.b64decode(s.get("verifier", "")) for s in spec.get("signatures", [])]
    else:
        raise VerificationFailedError(f"unexpected {kind} log entry for this signature")
    if verifier_der not in {_pem_der(pem) for pem in logged}:
        raise VerificationFailedError("the log entry records a different key or certificate")


def _pem_der(pem: bytes) -> bytes | None:
    """DER of a PEM certificate or public key (how the log records who signed)."""
    der = _certificate_der(pem)
    if der is not None:
        return der
    try:
        key = serialization.load_pem_public_key(pem)
    except ValueError:
        return None
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def verify_legacy_keyless(
    signed_data: bytes,
    signature: bytes,
    certificate_pem: bytes,
    rekor_bundle: bytes,
    root: TrustedRoot,
    identity: IdentityPolicy,
    *,
    dsse: bool = False,
) -> Verified:
    """A keyless signature in cosign's legacy layout (`.sig` payload, or a `.att` DSSE envelope's
    PAE with `dsse=True`), with its `dev.sigstore.cosign/certificate` and `.../bundle` annotations.
    Legacy layers carry no inclusion proof: Rekor's signed promise binds the entry and its time."""
    try:
        cert = load_pem_x509_certificate(certificate_pem)
    except ValueError as exc:
        raise VerificationFailedError(f"malformed certificate: {exc}") from exc
    body, logged_at, index = _verify_promise(rekor_bundle, root)
    signed_at = TimestampVerificationResult(source=TimestampSource.TRANSPARENCY_SERVICE, time=logged_at)
    try:
        chain = _Verifier(trusted_root=root)._verify_chain_at_time(cert, signed_at)
        verify_sct(cert, chain, root.ct_keyring(KeyringPurpose.VERIFY))
    except SigstoreError as exc:
        raise VerificationFailedError(str(exc)) from exc
    if not cert.not_valid_before_utc <= logged_at <= cert.not_valid_after_utc:
        raise VerificationFailedError(f"the certificate was not valid when the entry was logged ({logged_at})")
    if ExtendedKeyUsageOID.CODE_SIGNING not in cert.extensions.get_extension_for_class(ExtendedKeyUsage).value:
        raise VerificationFailedError("the certificate is not for code signing")
    identity.verify(cert)
    key = cert.public_key()
    if not isinstance(key, (ec.EllipticCurvePublicKey, rsa.RSAPublicKey)):
        raise VerificationFailedError(f"unsupported certificate key {type(key).__name__}")
    if not _verify_signature(key, signature, signed_data, prehashed=False):
        raise VerificationFailedError("the signature does not verify with the certificate's key")
    _check_logged(body, signed_data, signature, cert.public_bytes(serialization.Encoding.DER), dsse)
    return Verified("dsse" if dsse else "message", identity.describe(), index)


def verify_legacy_key(
    signed_data: bytes,
    signature: bytes,
    key: PublicKey,
    root: TrustedRoot,
    rekor_bundle: bytes | None,
    *,
    log_required: bool,
    dsse: bool = False,
) -> Verified:
    """A key signature in cosign's legacy layout; its Rekor promise too when the key requires one."""
    if not _verify_signature(key, signature, signed_data, prehashed=False):
        raise VerificationFailedError("the signature does not verify with the trusted key")
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    signer = "key " + hashlib.sha256(der).hexdigest()[:16]
    if rekor_bundle is None:
        if log_required:
            raise VerificationFailedError("no transparency-log entry, and this key requires one")
        return Verified("dsse" if dsse else "message", signer, -1)
    body, _, index = _verify_promise(rekor_bundle, root)
    _check_logged(body, signed_data, signature, der, dsse)
    return Verified("dsse" if dsse else "message", signer, index)
