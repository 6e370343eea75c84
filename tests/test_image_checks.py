"""Independent verification of images against the trust model, on a loopback registry, plus the
legacy keyless layout on real public-good material."""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from components.model.contract import SLSA_PROVENANCE_V1
from components.model.trust import KeyAuthority, NamespacePolicy, Provenance, SigstoreInstance, TrustModel
from scripts.checks.cosign import attest_bundle, attest_legacy, push_canary, sign_bundle, sign_legacy
from scripts.checks.errors import VerificationFailedError
from scripts.checks.images import check_image, requirement_problems
from scripts.checks.oci import Registry
from scripts.checks.provenance import github_provenance_v1
from scripts.checks.verification import IdentityPolicy, trusted_root, verify_legacy_keyless
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
