"""Independent verification of images against the trust model, on a loopback registry, plus the
legacy keyless layout on real public-good material."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from components.model.contract import SLSA_PROVENANCE_V1
from components.model.trust import (
    KeyAuthority,
    KeylessAuthority,
    NamespacePolicy,
    Provenance,
    SigstoreInstance,
    TrustModel,
)
from scripts.checks import images
from scripts.checks.cosign import COSIGN_SIGN_PREDICATE, ImageRef
from scripts.checks.cosign_writer import (
    _append_layer,
    _write_bundle,
    attest_bundle,
    attest_legacy,
    dsse_envelope,
    push_canary,
    sign_bundle,
    sign_legacy,
    simple_signing_payload,
    statement,
)
from scripts.checks.errors import VerificationFailedError
from scripts.checks.images import check_image, requirement_problems
from scripts.checks.oci import Registry
from scripts.checks.provenance import github_provenance_v1
from scripts.checks.signed import Subject
from scripts.checks.verification import IdentityPolicy, Verified, trusted_root, verify_legacy_keyless
from tests.fake_rekor import FakeRekor, dsse_signature, dsse_v001, hashedrekord_v001, key_bundle, public_pem, sign
from tests.legacy_layers import legacy_keyless_layer

SPDX = "https://spdx.dev/Document"
BUILDER = "https://github.com/contoso/workflows/.github/workflows/build.yml@refs/heads/main"
SOURCE = "https://github.com/contoso/app"


def _pem(key: ec.EllipticCurvePrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def _model(registry: Registry, key: ec.EllipticCurvePrivateKey, **changes: object) -> TrustModel:
    model = TrustModel(
        keyless=(),
        keys=(KeyAuthority("canary-key", public_key_pem=_pem(key), transparency_log_required=False),),
        sigstore=SigstoreInstance(),
        signed_registries=(registry.host,),
        allowed_registries=(registry.host,),
        namespaces=(NamespacePolicy("apps", "enforce", "spdx", Provenance(BUILDER, SOURCE, "refs/heads/main")),),
        require_digest=True,
        signature_format="legacy",  # prod's layout; a test of the bundle layout says so
    )
    return replace(model, **changes)  # type: ignore[arg-type]


@pytest.fixture
def root():  # type: ignore[no-untyped-def]
    return trusted_root()


@pytest.mark.parametrize("layout", ["legacy", "bundle"])
def test_image_signed_and_attested_by_the_trusted_key_meets_the_namespace(
    registry: Registry, key: ec.EllipticCurvePrivateKey, root: object, layout: str
) -> None:
    image = push_canary(registry, f"apps/{uuid.uuid4().hex[:8]}", "v1", nonce=layout)
    sign, attest = (sign_legacy, attest_legacy) if layout == "legacy" else (sign_bundle, attest_bundle)
    sign(registry, image, key)
    attest(registry, image, key, SPDX, {"packages": [{"name": "openssl"}]})
    attest(registry, image, key, SLSA_PROVENANCE_V1, github_provenance_v1(BUILDER, SOURCE, "refs/heads/main"))
    model = _model(registry, key, signature_format=layout)
    report = check_image(registry, image, model, root)  # type: ignore[arg-type]
    assert report.signed
    assert requirement_problems(report, model.namespaces[0], model) == []
    other = "bundle" if layout == "legacy" else "legacy"
    elsewhere = check_image(registry, image, replace(model, signature_format=other), root)  # type: ignore[arg-type]
    assert not elsewhere.signed, f"a {other} stack's admission does not read {layout} signatures"


def test_what_is_missing_is_named(registry: Registry, key: ec.EllipticCurvePrivateKey, root: object) -> None:
    image = push_canary(registry, f"apps/{uuid.uuid4().hex[:8]}", "v1", nonce="missing")
    sign_legacy(registry, image, key)
    attest_legacy(registry, image, key, SPDX, {"packages": []})
    wrong = github_provenance_v1("https://example.com/someone-elses-builder", SOURCE, "refs/heads/main")
    attest_legacy(registry, image, key, SLSA_PROVENANCE_V1, wrong)
    model = _model(registry, key)
    problems = requirement_problems(check_image(registry, image, model, root), model.namespaces[0], model)  # type: ignore[arg-type]
    assert problems == [
        "the spdx SBOM lists no package with a name",
        f"no SLSA provenance by a trusted signer naming builder {BUILDER} and source git+{SOURCE}@refs/heads/main",
    ]


def test_unsigned_and_wrongly_signed_images_are_not_signed(
    registry: Registry, key: ec.EllipticCurvePrivateKey, root: object
) -> None:
    model = _model(registry, key)
    unsigned = push_canary(registry, f"apps/{uuid.uuid4().hex[:8]}", "v1", nonce="unsigned")
    assert not check_image(registry, unsigned, model, root).signed  # type: ignore[arg-type]
    wrong = push_canary(registry, f"apps/{uuid.uuid4().hex[:8]}", "v1", nonce="wrong")
    sign_bundle(registry, wrong, ec.generate_private_key(ec.SECP256R1()))
    report = check_image(registry, wrong, model, root)  # type: ignore[arg-type]
    assert not report.signed
    (proof,) = report.proofs
    assert "does not verify with the trusted key" in proof.reason


def test_a_key_that_requires_the_log_refuses_an_offline_signature(
    registry: Registry, key: ec.EllipticCurvePrivateKey, root: object
) -> None:
    image = push_canary(registry, f"apps/{uuid.uuid4().hex[:8]}", "v1", nonce="offline")
    sign_legacy(registry, image, key)
    strict = KeyAuthority("canary-key", public_key_pem=_pem(key), transparency_log_required=True)
    report = check_image(registry, image, _model(registry, key, keys=(strict,)), root)  # type: ignore[arg-type]
    assert not report.signed
    assert "requires one" in report.proofs[0].reason


def test_a_kms_only_key_is_reported_as_not_checkable_here(
    registry: Registry, key: ec.EllipticCurvePrivateKey, root: object
) -> None:
    image = push_canary(registry, f"apps/{uuid.uuid4().hex[:8]}", "v1", nonce="kms")
    sign_legacy(registry, image, key)
    kms = KeyAuthority("image-signing", kms_uri="azurekms://kv-x.vault.azure.net/image-signing")
    report = check_image(registry, image, _model(registry, key, keys=(kms,)), root)  # type: ignore[arg-type]
    assert not report.signed
    assert "pin signing.keys[].publicKey" in report.proofs[0].reason


def test_legacy_keyless_signature_on_real_public_good_material(shared_dir: Path) -> None:
    """cosign's legacy `.sig` layer carries the payload, the signature, the certificate and Rekor's
    promise: rebuilt here from a real conformance bundle (payload = the signed file)."""
    layer = legacy_keyless_layer(shared_dir / "fixtures/sigstore-conformance/bundle-verify")
    payload, signature, pem, promise = layer.payload, layer.signature, layer.certificate_pem, layer.promise
    identity = IdentityPolicy(
        "https://token.actions.githubusercontent.com",
        subject_regexp=r"^https://github\.com/sigstore-conformance/.+@refs/heads/main$",
    )
    root = trusted_root()
    promise_json = json.dumps(promise).encode()
    assert verify_legacy_keyless(payload, signature, pem, promise_json, root, identity).log_index > 0
    with pytest.raises(VerificationFailedError):
        verify_legacy_keyless(payload + b"!", signature, pem, promise_json, root, identity)
    promise["Payload"]["integratedTime"] += 1
    with pytest.raises(VerificationFailedError, match="promise"):
        verify_legacy_keyless(payload, signature, pem, json.dumps(promise).encode(), root, identity)
    other = IdentityPolicy(
        "https://token.actions.githubusercontent.com", subject_regexp=r"^https://github\.com/contoso/"
    )
    with pytest.raises(VerificationFailedError, match="does not match"):
        verify_legacy_keyless(payload, signature, pem, promise_json, root, other)


# --- signatures the transparency log holds, and keyless ones ------------------------------------------


def _logged_bundle(rekor: FakeRekor, image: ImageRef, key: ec.EllipticCurvePrivateKey) -> bytes:
    """A key bundle signing `image` (cosign's signing predicate in a DSSE envelope), logged by `rekor`."""
    payload = json.dumps(statement(image, COSIGN_SIGN_PREDICATE, {})).encode()
    signature = dsse_signature(key, payload)
    body = dsse_v001(payload, [signature], public_pem(key))
    return key_bundle(rekor, key, body, payload=payload, envelope_signatures=[signature])


def test_a_logged_bundle_signs_the_image_for_a_key_that_requires_the_log(
    registry: Registry, key: ec.EllipticCurvePrivateKey, tmp_path: Path
) -> None:
    rekor = FakeRekor()
    root = rekor.trusted_root(tmp_path)
    strict = KeyAuthority("canary-key", public_key_pem=_pem(key), transparency_log_required=True)
    model = _model(registry, key, keys=(strict,), signature_format="bundle")
    image, other = (push_canary(registry, f"apps/{uuid.uuid4().hex[:8]}", "v1", nonce=n) for n in ("log", "log-b"))
    _write_bundle(registry, image, _logged_bundle(rekor, image, key), COSIGN_SIGN_PREDICATE)
    report = check_image(registry, image, model, root)
    assert report.signed
    assert [p.verified_by for p in report.proofs] == ["key canary-key (pinned public key)"]
    # the same logged bundle, on an image whose digest it does not name
    _write_bundle(registry, other, _logged_bundle(rekor, image, key), COSIGN_SIGN_PREDICATE)
    assert not check_image(registry, other, model, root).signed
    # a bundle the log does not hold, under the same key
    offline = push_canary(registry, f"apps/{uuid.uuid4().hex[:8]}", "v1", nonce="log-offline")
    sign_bundle(registry, offline, key)
    unlogged = check_image(registry, offline, model, root)
    assert not unlogged.signed
    assert "no transparency-log entry, and this key requires one" in unlogged.proofs[0].reason


def _sign_legacy_with(registry: Registry, image: ImageRef, signature: bytes, annotations: dict[str, str]) -> None:
    """A `.sig` layer as cosign writes it, with the given extra annotations (certificate, Rekor promise)."""
    payload = simple_signing_payload(image)
    layer = {
        "mediaType": "application/vnd.dev.cosign.simplesigning.v1+json",
        "digest": registry.put_blob(image.repository, payload),
        "size": len(payload),
        "annotations": {"dev.cosignproject.cosign/signature": base64.b64encode(signature).decode(), **annotations},
    }
    _append_layer(registry, image, "sig", layer)


def test_a_legacy_signature_with_its_rekor_promise_is_checked_against_the_log(
    registry: Registry, key: ec.EllipticCurvePrivateKey, tmp_path: Path
) -> None:
    rekor = FakeRekor()
    root = rekor.trusted_root(tmp_path)
    strict = KeyAuthority("canary-key", public_key_pem=_pem(key), transparency_log_required=True)
    model = _model(registry, key, keys=(strict,))
    image = push_canary(registry, f"apps/{uuid.uuid4().hex[:8]}", "v1", nonce="promise")
    payload = simple_signing_payload(image)
    signature = sign(key, payload)
    logged = rekor.promise(hashedrekord_v001(hashlib.sha256(payload).digest(), signature, public_pem(key)))
    _sign_legacy_with(registry, image, signature, {"dev.sigstore.cosign/bundle": logged.decode()})
    assert check_image(registry, image, model, root).signed
    # a promise for another signature by the same key does not vouch for this one
    forged = push_canary(registry, f"apps/{uuid.uuid4().hex[:8]}", "v1", nonce="promise-b")
    other = sign(key, simple_signing_payload(forged))
    _sign_legacy_with(registry, forged, other, {"dev.sigstore.cosign/bundle": logged.decode()})
    report = check_image(registry, forged, model, root)
    assert not report.signed
    assert "the log entry records sha256:" in report.proofs[0].reason


ISSUER = "https://token.actions.githubusercontent.com"
SIGNER = KeylessAuthority(ISSUER, subject=BUILDER)


def test_a_legacy_keyless_signature_is_verified_with_its_certificate_and_promise(
    registry: Registry, key: ec.EllipticCurvePrivateKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What reaches the keyless verifier: the layer's payload, signature, certificate and Rekor promise,
    the trusted root, and each trusted identity (the verifier itself is tested on real material)."""
    calls: list[tuple[object, ...]] = []

    def verifier(*args: object) -> Verified:
        calls.append(args)
        return Verified("message", "recorded", 7)

    monkeypatch.setattr(images, "verify_legacy_keyless", verifier)
    image = push_canary(registry, f"apps/{uuid.uuid4().hex[:8]}", "v1", nonce="keyless")
    annotations = {"dev.sigstore.cosign/certificate": "(certificate)", "dev.sigstore.cosign/bundle": "(promise)"}
    _sign_legacy_with(registry, image, b"(signature)", annotations)
    root: Any = "(trusted root)"
    report = check_image(registry, image, _model(registry, key, keyless=(SIGNER,)), root)
    assert report.signed
    assert [p.verified_by for p in report.proofs] == [f"{BUILDER} (issuer {ISSUER})"]
    assert calls == [
        (
            simple_signing_payload(image),
            b"(signature)",
            b"(certificate)",
            b"(promise)",
            "(trusted root)",
            IdentityPolicy(ISSUER, subject=BUILDER, bind_caller=True),
        )
    ]


def test_a_certificate_without_a_promise_is_no_signature(
    registry: Registry, key: ec.EllipticCurvePrivateKey, root: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Neither a keyless signature (no promise to date the certificate) nor a key's (it carries a certificate)."""
    monkeypatch.setattr(images, "verify_legacy_keyless", lambda *_: pytest.fail("no promise to verify with"))
    image = push_canary(registry, f"apps/{uuid.uuid4().hex[:8]}", "v1", nonce="keyless-no-promise")
    payload = simple_signing_payload(image)
    _sign_legacy_with(registry, image, sign(key, payload), {"dev.sigstore.cosign/certificate": "(certificate)"})
    report = check_image(registry, image, _model(registry, key, keyless=(SIGNER,)), root)  # type: ignore[arg-type]
    assert not report.signed
    assert [p.reason for p in report.proofs] == ["no trusted authority of this kind"]


def test_a_keyless_bundle_is_verified_by_identity_and_a_key_bundle_by_key_only(
    registry: Registry, key: ec.EllipticCurvePrivateKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[object, ...]] = []

    def verifier(*args: object) -> Verified:
        calls.append(args)
        return Verified("dsse", "recorded", 7)

    monkeypatch.setattr(images, "verify_with_identity", verifier)
    image = push_canary(registry, f"apps/{uuid.uuid4().hex[:8]}", "v1", nonce="keyless-bundle")
    envelope = dsse_envelope(key, statement(image, COSIGN_SIGN_PREDICATE, {}))
    keyless = {
        "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
        "verificationMaterial": {"certificate": {"rawBytes": "(certificate)"}, "tlogEntries": []},
        "dsseEnvelope": envelope,
    }
    bundle = json.dumps(keyless).encode()
    _write_bundle(registry, image, bundle, COSIGN_SIGN_PREDICATE)
    root: Any = "(trusted root)"
    model = _model(registry, key, keyless=(SIGNER,), keys=(), signature_format="bundle")
    assert check_image(registry, image, model, root).signed
    digest = bytes.fromhex(image.digest.removeprefix("sha256:"))
    assert calls == [
        (bundle, Subject(digest), "(trusted root)", IdentityPolicy(ISSUER, subject=BUILDER, bind_caller=True))
    ]
    calls.clear()
    keyed = push_canary(registry, f"apps/{uuid.uuid4().hex[:8]}", "v1", nonce="key-bundle")
    sign_bundle(registry, keyed, key)
    report = check_image(registry, keyed, replace(model, keys=_model(registry, key).keys), root)
    assert report.signed
    assert calls == [], "a bundle that names a key hint is no identity's"
