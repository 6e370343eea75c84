"""Keyless signatures and attestations on images, verified independently against the trust model, in both
layouts: the release identity signs the image and its SBOM, the namespace's builder signs its provenance and
nothing else, a reusable workflow counts only when a declared caller ran it. Certificates come from a test CA
standing in for Fulcio (tests/keyless_signer.py); identities, signatures and log entries are verified for real."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any, Literal

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from sigstore.models import TrustedRoot

from components.model.contract import SLSA_PROVENANCE_V1
from components.model.trust import KeylessAuthority, NamespacePolicy, Provenance, SigstoreInstance, TrustModel
from scripts.checks.cosign import BUNDLE_V03, COSIGN_SIGN_PREDICATE, ImageRef
from scripts.checks.cosign_writer import _write_bundle, dsse_envelope, push_canary, statement
from scripts.checks.images import ImageReport, check_image, encode_proof, requirement_problems
from scripts.checks.oci import Registry
from scripts.checks.provenance import github_provenance_v1
from tests.keyless_signer import GITHUB, KeylessSigner, TestFulcio, stand_in_fulcio

Layout = Literal["legacy", "bundle"]
SPDX = "https://spdx.dev/Document"
APP_RELEASE = "https://github.com/contoso/app/.github/workflows/release.yml@refs/heads/main"
RELEASES = r"^https://github\.com/contoso/app/\.github/workflows/[a-z]+\.yml@refs/heads/main$"
BUILDER = "https://github.com/contoso/workflows/.github/workflows/build.yml@refs/tags/v1"
SHARED = "https://github.com/contoso/workflows/.github/workflows/sign.yml@refs/heads/main"
SOURCE = "https://github.com/contoso/app"

RELEASE = KeylessAuthority(GITHUB, subject_regexp=RELEASES, name="app-release")
BUILDER_IDENTITY = KeylessAuthority(GITHUB, subject=BUILDER, name="builder", provenance_only=True)
APPS = NamespacePolicy(
    "apps", "enforce", "spdx", Provenance(BUILDER, SOURCE, "refs/heads/main", signer=BUILDER_IDENTITY)
)
SANDBOX = NamespacePolicy("sandbox", "audit")  # requires nothing beyond a signature
BY_RELEASE = f"{RELEASES} (issuer {GITHUB})"
BY_BUILDER = f"{BUILDER} (issuer {GITHUB})"
APPS_PROVENANCE_MISSING = (
    f"no SLSA provenance by {BY_BUILDER} naming builder {BUILDER} and source git+{SOURCE}@refs/heads/main"
)


@pytest.fixture
def fulcio(monkeypatch: pytest.MonkeyPatch) -> TestFulcio:
    fulcio = TestFulcio()
    stand_in_fulcio(monkeypatch, fulcio)
    return fulcio


@pytest.fixture
def root(fulcio: TestFulcio, tmp_path: Path) -> TrustedRoot:
    return fulcio.rekor.trusted_root(tmp_path)


def _model(registry: Registry, layout: Layout, *keyless: KeylessAuthority) -> TrustModel:
    return TrustModel(
        keyless=keyless or (RELEASE,),
        keys=(),
        sigstore=SigstoreInstance(),
        signed_registries=(registry.host,),
        allowed_registries=(registry.host,),
        namespaces=(APPS, SANDBOX),
        require_digest=True,
        signature_format=layout,
    )


def _image(registry: Registry, nonce: str) -> ImageRef:
    return push_canary(registry, f"apps/{uuid.uuid4().hex[:8]}", "v1", nonce=nonce)


def _sign(signer: KeylessSigner, registry: Registry, image: ImageRef, layout: str) -> None:
    (signer.sign_legacy if layout == "legacy" else signer.sign_bundle)(registry, image)


def _attest(signer: KeylessSigner, registry: Registry, image: ImageRef, layout: str, kind: str, predicate: Any) -> None:
    (signer.attest_legacy if layout == "legacy" else signer.attest_bundle)(registry, image, kind, predicate)


def _verdicts(report: ImageReport) -> list[tuple[str, str | None, str | None]]:
    return sorted((p.kind, p.predicate_type, p.verified_by) for p in report.proofs)


PROVENANCE = github_provenance_v1(BUILDER, SOURCE, "refs/heads/main")


@pytest.mark.parametrize("layout", ["legacy", "bundle"])
def test_signed_and_sbom_attested_by_the_release_and_provenance_by_the_builder_meets_the_namespace(
    registry: Registry, fulcio: TestFulcio, root: TrustedRoot, layout: Layout
) -> None:
    release = fulcio.issue(APP_RELEASE, caller="contoso/app")
    builder = fulcio.issue(BUILDER, caller="contoso/app")  # a reusable builder, run for the app's repository
    image = _image(registry, f"keyless-{layout}")
    _sign(release, registry, image, layout)
    _attest(release, registry, image, layout, SPDX, {"packages": [{"name": "openssl"}]})
    _attest(builder, registry, image, layout, SLSA_PROVENANCE_V1, PROVENANCE)
    model = _model(registry, layout)
    report = check_image(registry, image, model, root)
    assert _verdicts(report) == [
        ("attestation", SLSA_PROVENANCE_V1, BY_BUILDER),
        ("attestation", SPDX, BY_RELEASE),
        ("signature", None if layout == "legacy" else COSIGN_SIGN_PREDICATE, BY_RELEASE),
    ]
    assert requirement_problems(report, APPS, model) == []
    assert requirement_problems(report, SANDBOX, model) == []
    # the report names the workflow that signed, which the trust model knows only by its pattern
    signature = next(p for p in report.proofs if p.kind == "signature")
    assert encode_proof(signature).endswith(f"verified by {BY_RELEASE}, signed as {APP_RELEASE} (issuer {GITHUB})")


@pytest.mark.parametrize("layout", ["legacy", "bundle"])
def test_the_builder_vouches_for_provenance_never_for_an_sbom(
    registry: Registry, fulcio: TestFulcio, root: TrustedRoot, layout: Layout
) -> None:
    """Admission takes an SBOM only from the image's signers (a namespace without a signer list: every image
    authority); the provenance builder's SBOM is refused there, so the verifier refuses it too."""
    release = fulcio.issue(APP_RELEASE, caller="contoso/app")
    builder = fulcio.issue(BUILDER, caller="contoso/app")
    image = _image(registry, f"builder-sbom-{layout}")
    _sign(release, registry, image, layout)
    _attest(builder, registry, image, layout, SPDX, {"packages": [{"name": "openssl"}]})
    _attest(builder, registry, image, layout, SLSA_PROVENANCE_V1, PROVENANCE)
    model = _model(registry, layout)
    report = check_image(registry, image, model, root)
    assert ("attestation", SPDX, BY_BUILDER) in _verdicts(report)
    assert requirement_problems(report, APPS, model) == ["no spdx SBOM attestation by a trusted signer"]


@pytest.mark.parametrize("layout", ["legacy", "bundle"])
def test_the_builder_signs_provenance_never_an_image(
    registry: Registry, fulcio: TestFulcio, root: TrustedRoot, layout: Layout
) -> None:
    builder = fulcio.issue(BUILDER, caller="contoso/app")
    image = _image(registry, f"builder-signed-{layout}")
    _sign(builder, registry, image, layout)
    _attest(builder, registry, image, layout, SLSA_PROVENANCE_V1, PROVENANCE)
    model = _model(registry, layout)
    report = check_image(registry, image, model, root)
    assert not report.signed
    assert _verdicts(report) == [
        ("attestation", SLSA_PROVENANCE_V1, BY_BUILDER),
        ("signature", None if layout == "legacy" else COSIGN_SIGN_PREDICATE, None),
    ]
    assert requirement_problems(report, SANDBOX, model) == ["no signature by a trusted signer"]


def test_provenance_signed_by_a_trusted_image_signer_is_not_the_builders(
    registry: Registry, fulcio: TestFulcio, root: TrustedRoot
) -> None:
    """The release identity may sign the image, but only the namespace's builder vouches for how it was built."""
    release = fulcio.issue(APP_RELEASE, caller="contoso/app")
    image = _image(registry, "provenance-by-release")
    release.sign_legacy(registry, image)
    release.attest_legacy(registry, image, SPDX, {"packages": [{"name": "openssl"}]})
    release.attest_legacy(registry, image, SLSA_PROVENANCE_V1, PROVENANCE)
    model = _model(registry, "legacy")
    report = check_image(registry, image, model, root)
    assert ("attestation", SLSA_PROVENANCE_V1, BY_RELEASE) in _verdicts(report), "a valid attestation, by the release"
    assert requirement_problems(report, APPS, model) == [APPS_PROVENANCE_MISSING]


@pytest.mark.parametrize(
    ("caller", "signed"),
    [
        ("contoso/app", True),
        ("contoso/tools", True),
        ("contoso/workflows", False),  # the shared workflow's own repository is not a caller
        ("mallory/app", False),
    ],
)
def test_a_shared_workflow_signs_only_when_a_declared_caller_ran_it(
    registry: Registry, fulcio: TestFulcio, root: TrustedRoot, caller: str, signed: bool
) -> None:
    shared = KeylessAuthority(GITHUB, subject=SHARED, name="shared-signing", callers=("contoso/tools", "contoso/app"))
    image = _image(registry, f"shared-{caller}")
    fulcio.issue(SHARED, caller=caller).sign_legacy(registry, image)
    report = check_image(registry, image, _model(registry, "legacy", shared), root)
    assert report.signed is signed
    if not signed:
        (proof,) = report.proofs
        assert "the workflow was not run by contoso/tools, contoso/app" in proof.reason


def test_a_bundle_without_verification_material_is_refused_not_a_crash(
    registry: Registry, fulcio: TestFulcio, root: TrustedRoot
) -> None:
    image = _image(registry, "no-material")
    envelope = dsse_envelope(ec.generate_private_key(ec.SECP256R1()), statement(image, COSIGN_SIGN_PREDICATE, {}))
    bundle = json.dumps({"mediaType": BUNDLE_V03, "dsseEnvelope": envelope}).encode()
    _write_bundle(registry, image, bundle, COSIGN_SIGN_PREDICATE)
    report = check_image(registry, image, _model(registry, "bundle"), root)
    assert not report.signed
    (proof,) = report.proofs
    assert proof.reason.startswith(f"{BY_RELEASE}: not a valid Sigstore bundle")
