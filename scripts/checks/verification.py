"""Verify Sigstore bundles and cosign's legacy signature layers offline, against a trusted root.

Keyless bundles go through the `sigstore` library (certificate, identity, log entry); managed-key
bundles, which that library does not accept, through `cryptography` plus the library's own log-entry
verification. Whatever the path, the log entry must then record the very signing in hand
(`log_entries.check_log_entry`). The library's private API is reached only through `sigstore_compat`.

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
from cryptography.hazmat.primitives.asymmetric import ec, rsa
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
from sigstore.errors import Error as SigstoreError
from sigstore.models import Bundle, ClientTrustConfig, InvalidBundle, TrustedRoot
from sigstore.verify import policy
from sigstore_models.bundle.v1 import Bundle as BundleMessage
from sigstore_models.intoto import Envelope

from scripts.checks import sigstore_compat
from scripts.checks.callers import verify_caller
from scripts.checks.documents import field, json_object
from scripts.checks.errors import UsageError, VerificationFailedError
from scripts.checks.key_signatures import COSIGN_KEY as COSIGN_KEY
from scripts.checks.key_signatures import KeyScheme as KeyScheme
from scripts.checks.key_signatures import PublicKey as PublicKey
from scripts.checks.key_signatures import load_public_key as load_public_key
from scripts.checks.key_signatures import same_public_key as same_public_key
from scripts.checks.key_signatures import verifies
from scripts.checks.log_entries import Signing, check_log_entry, signer_der
from scripts.checks.signed import DssePayload, Subject

_OTHERNAME_OID = ObjectIdentifier("1.3.6.1.4.1.57264.1.7")  # Sigstore's "other name" SAN type


@dataclass(frozen=True)
class IdentityPolicy:
    """An OIDC issuer (exact) and a subject, exact or by regular expression."""

    issuer: str
    subject: str | None = None
    subject_regexp: str | None = None
    bind_caller: bool = False
    """GitHub: the repository that ran the workflow must be one of `callers`, else the workflow's own."""
    callers: tuple[str, ...] = ()

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
        if self.bind_caller:
            verify_caller(cert, sans, self.callers)

    def describe(self) -> str:
        """The identity in a few words, for reports."""
        return f"{self.subject or self.subject_regexp} (issuer {self.issuer})"

    def signer(self, cert: Certificate) -> str:
        """Who signed, for reports: the certificate's identity this policy accepted (for a pattern, the subject
        that matched it, not the pattern)."""
        if self.subject is not None:
            return self.describe()
        matched = sorted(san for san in _sans(cert) if re.fullmatch(self.subject_regexp or "", san))
        return f"{matched[0] if matched else self.subject_regexp} (issuer {self.issuer})"


def _sans(cert: Certificate) -> set[str]:
    ext = cert.extensions.get_extension_for_class(SubjectAlternativeName).value
    sans = set(ext.get_values_for_type(RFC822Name)) | set(ext.get_values_for_type(UniformResourceIdentifier))
    sans |= {_utf8_string(o.value) for o in ext.get_values_for_type(OtherName) if o.type_id == _OTHERNAME_OID}
    sans.discard("")
    return sans


def _utf8_string(der: bytes) -> str:
    """The text of a DER UTF8String (how Fulcio writes its "other name" SAN, and how the engines read it);
    "" for anything else. cryptography hands over the value's DER (well-formed), tag and length included."""
    if der[:1] != b"\x0c":
        return ""
    start = 2 + (der[1] & 0x7F if der[1] > 0x7F else 0)  # long form: the low bits count the length's bytes
    try:
        return der[start:].decode()
    except UnicodeDecodeError:
        return ""


@dataclass(frozen=True)
class Verified:
    """A bundle that verified: what kind of content it signs, and by whom."""

    kind: Literal["message", "dsse"]
    signer: str
    log_index: int


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


def _key_signer(key: PublicKey) -> str:
    return "key " + hashlib.sha256(signer_der(key)).hexdigest()[:16]


def _require_subject(statement: bytes, subject: Subject) -> None:
    """The in-toto statement names `subject` (by sha256); a statement of another shape names nothing."""
    subjects = field(json_object(statement), "subject")
    digests = [field(s, "digest", "sha256") for s in subjects] if isinstance(subjects, list) else []
    if subject.hex not in digests:
        raise VerificationFailedError(f"the statement's subjects {digests} do not include sha256:{subject.hex}")


def _invalid_bundle(exc: Exception) -> VerificationFailedError:
    """One line: the libraries' errors run over several (pydantic lists each problem and a link)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip() and "errors.pydantic.dev" not in line]
    text = "; ".join(lines) or type(exc).__name__
    return VerificationFailedError(f"not a valid Sigstore bundle: {text[:300]}")


def _parse_bundle(bundle_json: bytes) -> BundleMessage:
    try:
        return BundleMessage.from_json(bundle_json)
    except ValueError as exc:
        raise _invalid_bundle(exc) from exc


def _entry_body(message: BundleMessage) -> tuple[dict[str, Any], int]:
    """The bundle's log entry: its canonicalized body, parsed, and its index."""
    entry = message.verification_material.tlog_entries[0]
    try:
        body = json.loads(entry.canonicalized_body)
    except ValueError as exc:
        raise VerificationFailedError(f"the log entry's body is not JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise VerificationFailedError("the log entry's body is not a JSON object")
    return body, entry.log_index


def verify_with_identity(bundle_json: bytes, subject: Subject, root: TrustedRoot, identity: IdentityPolicy) -> Verified:
    """A keyless bundle. Steps: (1) the library's checks of the certificate (Fulcio chain at the
    logged time, SCT, `identity`) and of the log entry (inclusion proof, promise); (2) the signature
    over `subject` (message signature) or over an in-toto statement naming `subject` (DSSE);
    (3) the log entry records that signing."""
    try:
        bundle = Bundle.from_json(bundle_json)
    except (InvalidBundle, ValueError) as exc:
        raise _invalid_bundle(exc) from exc
    message = _parse_bundle(bundle_json)  # the same bundle's parts, through the public models
    body, index = _entry_body(message)
    certificate = bundle.signing_certificate
    verifier = sigstore_compat.verifier(root)
    try:
        if message.message_signature is not None:
            # (1) + (2), and the library's own entry check
            verifier.verify_artifact(subject.hashed(), bundle, identity)
            signing = Signing(subject, signer_der(certificate), (message.message_signature.signature,))
            check_log_entry(body, signing)  # (3)
            return Verified("message", identity.signer(certificate), index)
        envelope = message.dsse_envelope
        if envelope is None:
            raise VerificationFailedError("the bundle has neither a message signature nor a DSSE envelope")
        if body.get("kind") == "intoto":  # cosign's legacy attestations: the library stops at step (1)
            sigstore_compat.verify_signing_certificate(verifier, bundle, identity)
        else:
            verifier.verify_dsse(bundle, identity)
    except SigstoreError as exc:
        raise VerificationFailedError(str(exc)) from exc
    key = certificate.public_key()
    if not isinstance(key, (ec.EllipticCurvePublicKey, rsa.RSAPublicKey)):
        raise VerificationFailedError(f"unsupported certificate key {type(key).__name__}")
    return _verify_envelope(envelope, key, certificate, body, subject, identity.signer(certificate), index)


def verify_with_key(bundle_json: bytes, subject: Subject, root: TrustedRoot, key: PublicKey) -> Verified:
    """A managed-key bundle. Steps: (1) the transparency-log entry (inclusion proof, checkpoint and
    promise, by the root's Rekor keys); (2) the signature over `subject`, or over an in-toto
    statement naming `subject`; (3) the log entry records that signing."""
    message = _parse_bundle(bundle_json)
    material = message.verification_material
    if material.public_key is None:
        raise VerificationFailedError("the bundle carries a certificate, not a key hint; verify it by identity")
    if not material.tlog_entries:
        raise VerificationFailedError("the bundle has no transparency-log entry")
    try:  # (1)
        sigstore_compat.verify_log_entry(material.tlog_entries[0], root)
    except (SigstoreError, InvalidBundle, ValueError) as exc:
        raise VerificationFailedError(f"transparency log: {exc}") from exc
    body, log_index = _entry_body(message)

    if message.message_signature is not None:  # (2)
        signature = message.message_signature.signature
        digest = message.message_signature.message_digest
        if digest is not None and digest.digest != subject.sha256:
            raise VerificationFailedError(f"the bundle signs sha256:{digest.digest.hex()}, not sha256:{subject.hex}")
        if not verifies(key, signature, subject):
            raise VerificationFailedError("the signature does not verify with the given key")
        check_log_entry(body, Signing(subject, signer_der(key), (signature,)))  # (3)
        return Verified("message", _key_signer(key), log_index)

    envelope = message.dsse_envelope
    if envelope is None:
        raise VerificationFailedError("the bundle has neither a message signature nor a DSSE envelope")
    return _verify_envelope(envelope, key, key, body, subject, _key_signer(key), log_index)


def _verify_envelope(
    envelope: Envelope,
    key: PublicKey,
    signer: Certificate | PublicKey,
    body: dict[str, Any],
    subject: Subject,
    described: str,
    log_index: int,
) -> Verified:
    """Steps (2) and (3) for a DSSE envelope: a signature by `key`, logged as `signer`'s, over an
    in-toto statement that names `subject`."""
    payload = DssePayload(envelope.payload_type, envelope.payload)
    signatures = tuple(s.sig for s in envelope.signatures)
    verified_signatures = tuple(s for s in signatures if verifies(key, s, payload))  # (2)
    if not verified_signatures:
        raise VerificationFailedError("no DSSE signature verifies with the signer's key")
    check_log_entry(body, Signing(payload, signer_der(signer), verified_signatures, signatures))  # (3)
    _require_subject(payload.payload, subject)
    return Verified("dsse", described, log_index)


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
        log_id = bytes.fromhex(entry["logID"])
    except (ValueError, KeyError, TypeError) as exc:
        raise VerificationFailedError(f"malformed Rekor bundle: {exc}") from exc
    try:
        sigstore_compat.verify_log_promise(root, log_id, signature, canonical)
    except SigstoreError as exc:
        raise VerificationFailedError(f"Rekor entry promise: {exc}") from exc
    return body, datetime.fromtimestamp(int(entry["integratedTime"]), tz=UTC), int(entry["logIndex"])


def _legacy_content(signed: bytes | DssePayload) -> Subject | DssePayload:
    return Subject.of_bytes(signed) if isinstance(signed, bytes) else signed


def verify_legacy_keyless(
    signed: bytes | DssePayload,
    signature: bytes,
    certificate_pem: bytes,
    rekor_bundle: bytes,
    root: TrustedRoot,
    identity: IdentityPolicy,
) -> Verified:
    """A keyless signature in cosign's legacy layout: a `.sig` layer's payload (`signed` bytes) or
    a `.att` DSSE envelope's payload, with its `dev.sigstore.cosign/certificate` and `.../bundle`
    annotations. Legacy layers carry no inclusion proof: Rekor's signed promise binds the entry and
    its time. Steps: (1) the promise; (2) the certificate at the logged time (chain, SCT, code
    signing, `identity`); (3) the signature; (4) the log entry records that signing."""
    try:
        cert = load_pem_x509_certificate(certificate_pem)
    except ValueError as exc:
        raise VerificationFailedError(f"malformed certificate: {exc}") from exc
    body, logged_at, index = _verify_promise(rekor_bundle, root)  # (1)
    try:  # (2)
        sigstore_compat.verify_certificate_at(root, cert, logged_at)
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
    content = _legacy_content(signed)
    if not verifies(key, signature, content):  # (3)
        raise VerificationFailedError("the signature does not verify with the certificate's key")
    check_log_entry(body, Signing(content, signer_der(cert), (signature,)))  # (4)
    return Verified("message" if isinstance(signed, bytes) else "dsse", identity.signer(cert), index)


def verify_legacy_key(
    signed: bytes | DssePayload,
    signature: bytes,
    key: PublicKey,
    root: TrustedRoot,
    rekor_bundle: bytes | None,
    *,
    log_required: bool,
    scheme: KeyScheme = COSIGN_KEY,
) -> Verified:
    """A key signature in cosign's legacy layout (or a bundle made offline, without a log entry).
    Steps: (1) the signature; (2) when there is a Rekor promise, or the key requires one, the
    promise; (3) the log entry records that signing."""
    content = _legacy_content(signed)
    kind: Literal["message", "dsse"] = "message" if isinstance(signed, bytes) else "dsse"
    if not verifies(key, signature, signed, scheme):  # (1) the message itself: its digest may not be SHA-256
        raise VerificationFailedError("the signature does not verify with the trusted key")
    if rekor_bundle is None:
        if log_required:
            raise VerificationFailedError("no transparency-log entry, and this key requires one")
        return Verified(kind, _key_signer(key), -1)
    body, _, index = _verify_promise(rekor_bundle, root)  # (2)
    check_log_entry(body, Signing(content, signer_der(key), (signature,)))  # (3)
    return Verified(kind, _key_signer(key), index)
