"""Keyless signers for tests: Fulcio-shaped leaf certificates (identity, OIDC issuer, the GitHub caller claim)
issued by a test CA, and what each signs logged by a stand-in Rekor, attached to images in either layout.

The library's own chain, SCT and inclusion checks need the public-good Fulcio and CT logs, so `stand_in_fulcio`
replaces exactly those steps: the leaf must be issued by the test CA, at the logged time. The identity decision,
the signature and what the log entry records are verified for real, by the code under test."""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from sigstore.errors import VerificationError
from sigstore.models import Bundle
from sigstore.verify.policy import VerificationPolicy

from scripts.checks import sigstore_compat
from scripts.checks.cosign import (
    BUNDLE_V03,
    CERTIFICATE_ANNOTATION,
    COSIGN_SIGN_PREDICATE,
    DSSE_ENVELOPE,
    REKOR_BUNDLE_ANNOTATION,
    SIGNATURE_ANNOTATION,
    SIMPLE_SIGNING,
    ImageRef,
)
from scripts.checks.cosign_writer import _append_layer, _write_bundle, dsse_envelope, simple_signing_payload, statement
from scripts.checks.oci import Registry
from tests.fake_rekor import FakeRekor, b64, dsse_v001, hashedrekord_v001, intoto_v002, sign

GITHUB = "https://token.actions.githubusercontent.com"
_ISSUER_OID = x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.1")  # raw text
_SOURCE_REPOSITORY_URI_OID = x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.12")  # DER UTF8String


def utf8_string(text: str) -> bytes:
    """DER of a short UTF8String."""
    data = text.encode()
    return bytes([0x0C, len(data)]) + data


@dataclass
class KeylessSigner:
    """One signing certificate and its key; `rekor` logs what it signs."""

    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate
    rekor: FakeRekor

    @property
    def pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def sign_legacy(self, registry: Registry, image: ImageRef) -> None:
        """A `.sig` layer as cosign writes it keyless: signature, certificate and Rekor's promise."""
        payload = simple_signing_payload(image)
        signature = sign(self.key, payload)
        entry = hashedrekord_v001(hashlib.sha256(payload).digest(), signature, self.pem)
        layer = {
            "mediaType": SIMPLE_SIGNING,
            "digest": registry.put_blob(image.repository, payload),
            "size": len(payload),
            "annotations": {SIGNATURE_ANNOTATION: b64(signature), **self._annotations(entry)},
        }
        _append_layer(registry, image, "sig", layer)

    def attest_legacy(self, registry: Registry, image: ImageRef, predicate_type: str, predicate: Any) -> None:
        """An `.att` layer as cosign writes it keyless: the DSSE envelope, certificate and promise (intoto 0.0.2)."""
        envelope = dsse_envelope(self.key, statement(image, predicate_type, predicate))
        payload, signature = _payload_and_signature(envelope)
        blob = json.dumps(envelope).encode()
        layer = {
            "mediaType": DSSE_ENVELOPE,
            "digest": registry.put_blob(image.repository, blob),
            "size": len(blob),
            "annotations": {
                "predicateType": predicate_type,
                **self._annotations(intoto_v002(payload, [signature], self.pem)),
            },
        }
        _append_layer(registry, image, "att", layer)

    def attest_bundle(self, registry: Registry, image: ImageRef, predicate_type: str, predicate: Any) -> None:
        """A Sigstore bundle referrer holding a DSSE envelope, the certificate and its log entry (dsse 0.0.1);
        the cosign signing predicate makes it a signature."""
        envelope = dsse_envelope(self.key, statement(image, predicate_type, predicate))
        payload, signature = _payload_and_signature(envelope)
        bundle = {
            "mediaType": BUNDLE_V03,
            "verificationMaterial": {
                "certificate": {"rawBytes": b64(self.certificate.public_bytes(serialization.Encoding.DER))},
                "tlogEntries": [self.rekor.tlog_entry(dsse_v001(payload, [signature], self.pem))],
            },
            "dsseEnvelope": envelope,
        }
        _write_bundle(registry, image, json.dumps(bundle).encode(), predicate_type)

    def sign_bundle(self, registry: Registry, image: ImageRef) -> None:
        self.attest_bundle(registry, image, COSIGN_SIGN_PREDICATE, {})

    def _annotations(self, entry: dict[str, Any]) -> dict[str, str]:
        return {CERTIFICATE_ANNOTATION: self.pem.decode(), REKOR_BUNDLE_ANNOTATION: self.rekor.promise(entry).decode()}


@dataclass
class TestFulcio:
    """A certificate authority issuing short-lived leaves at the stand-in log's integrated time."""

    rekor: FakeRekor = field(default_factory=FakeRekor)
    key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))

    __test__ = False  # not a test class

    def issue(self, identity: str, *, issuer: str = GITHUB, caller: str | None = None) -> KeylessSigner:
        """A signer for `identity` (a URI), its certificate naming `issuer` and, when given, the repository that
        ran the workflow (`owner/repo`, as the source-repository URI claim)."""
        key = ec.generate_private_key(ec.SECP256R1())
        logged = datetime.datetime.fromtimestamp(self.rekor.integrated_time, datetime.UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([]))
            .issuer_name(_CA_NAME)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(logged - datetime.timedelta(minutes=5))
            .not_valid_after(logged + datetime.timedelta(minutes=5))
            .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(identity)]), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
            .add_extension(x509.UnrecognizedExtension(_ISSUER_OID, issuer.encode()), critical=False)
        )
        if caller is not None:
            claim = utf8_string(f"https://github.com/{caller}")
            builder = builder.add_extension(x509.UnrecognizedExtension(_SOURCE_REPOSITORY_URI_OID, claim), False)
        return KeylessSigner(key, builder.sign(self.key, hashes.SHA256()), self.rekor)

    def issued(self, certificate: x509.Certificate) -> None:
        """Raise (as the library does) unless this CA issued `certificate`."""
        try:
            self.key.public_key().verify(
                certificate.signature, certificate.tbs_certificate_bytes, ec.ECDSA(hashes.SHA256())
            )
        except InvalidSignature as exc:
            raise VerificationError("the certificate does not chain to the test CA") from exc


_CA_NAME = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "sigstore.test")])


class _Verifier:
    """The library's verifier with its chain, SCT and inclusion checks replaced by the test CA's; the identity
    policy is the caller's own."""

    def __init__(self, fulcio: TestFulcio) -> None:
        self.fulcio = fulcio

    def verify_dsse(self, bundle: Bundle, policy: VerificationPolicy) -> None:
        self.fulcio.issued(bundle.signing_certificate)
        policy.verify(bundle.signing_certificate)


def stand_in_fulcio(monkeypatch: pytest.MonkeyPatch, fulcio: TestFulcio) -> None:
    """Certificates chain to `fulcio`'s CA instead of the public-good Fulcio (legacy layers and bundles)."""
    monkeypatch.setattr(sigstore_compat, "verify_certificate_at", lambda _root, cert, _when: fulcio.issued(cert))
    monkeypatch.setattr(sigstore_compat, "verifier", lambda _root: _Verifier(fulcio))


def _payload_and_signature(envelope: dict[str, Any]) -> tuple[bytes, bytes]:
    return base64.b64decode(envelope["payload"]), base64.b64decode(envelope["signatures"][0]["sig"])
