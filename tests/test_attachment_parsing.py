"""What is attached to an image is untrusted input: a malformed or misplaced attachment is never a
signature and never a crash, and a bundle no trusted authority made on a legacy stack's image is
reported (it would switch Kyverno to bundle mode and lock the image out)."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from components.model.trust import NamespacePolicy
from scripts.checks.cosign import (
    COSIGN_SIGN_PREDICATE,
    DSSE_ENVELOPE,
    SIGNATURE_ANNOTATION,
    SIMPLE_SIGNING,
    Found,
    ImageRef,
    _from_envelope,
)
from scripts.checks.cosign_writer import (
    _append_layer,
    _write_bundle,
    attest_legacy,
    dsse_envelope,
    key_bundle,
    push_canary,
    sign_bundle,
    sign_legacy,
    simple_signing_payload,
    statement,
)
from scripts.checks.images import check_image, requirement_problems
from scripts.checks.oci import OCI_MANIFEST, Manifest, Registry, RegistryError
from scripts.checks.options import Options
from scripts.checks.runner import verify_known_good
from scripts.checks.verification import trusted_root
from tests.test_image_checks import _model

IMAGE = ImageRef("r.example", "apps/x", "sha256:" + "1" * 64)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=25,
)


def test_a_signed_payload_whose_critical_section_is_a_list_is_no_signature(
    registry: Registry, key: ec.EllipticCurvePrivateKey
) -> None:
    image = push_canary(registry, f"apps/{uuid.uuid4().hex[:8]}", "v1", nonce="critical-list")
    payload = json.dumps({"critical": []}).encode()
    signature = key.sign(payload, ec.ECDSA(hashes.SHA256()))
    layer = {
        "mediaType": SIMPLE_SIGNING,
        "digest": registry.put_blob(image.repository, payload),
        "size": len(payload),
        "annotations": {SIGNATURE_ANNOTATION: base64.b64encode(signature).decode()},
    }
    _append_layer(registry, image, "sig", layer)
    report = check_image(registry, image, _model(registry, key), trusted_root())
    assert not report.signed
    assert report.proofs[0].reason == "signs another image's digest"


def test_an_attestation_of_the_signing_predicate_is_not_a_signature(
    registry: Registry, key: ec.EllipticCurvePrivateKey
) -> None:
    """cosign reads signatures from `.sig` only: a `.att` that says it is a signature signs nothing."""
    image = push_canary(registry, f"apps/{uuid.uuid4().hex[:8]}", "v1", nonce="att-as-sig")
    attest_legacy(registry, image, key, COSIGN_SIGN_PREDICATE, {})
    report = check_image(registry, image, _model(registry, key), trusted_root())
    assert [p.kind for p in report.proofs] == ["attestation"]
    assert not report.signed
    model = _model(registry, key)
    assert requirement_problems(report, NamespacePolicy("apps", "enforce"), model) == [
        "no signature by a trusted signer"
    ]


def test_a_stray_bundle_on_a_legacy_stacks_image_fails_the_known_good_check(
    registry: Registry, key: ec.EllipticCurvePrivateKey
) -> None:
    model = _model(registry, key, namespaces=(NamespacePolicy("apps", "enforce"),))
    image = push_canary(registry, f"apps/{uuid.uuid4().hex[:8]}", "v1", nonce="stray")
    sign_legacy(registry, image, key)
    (clean,) = verify_known_good(registry, model, trusted_root(), Options(known_good=str(image)))
    assert clean.status == "pass", clean.observed
    sign_bundle(registry, image, ec.generate_private_key(ec.SECP256R1()))  # anyone with push rights
    report = check_image(registry, image, model, trusted_root())
    assert report.signed, "the legacy signature still verifies here"
    assert [p.layout for p in report.stray_referrers()] == ["bundle"]
    (result,) = verify_known_good(registry, model, trusted_root(), Options(known_good=str(image)))
    assert result.status == "fail"
    assert "bundle referrer(s) no trusted authority made" in result.observed


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_JSON)
def test_any_payload_is_about_this_image_or_not_never_a_crash(document: Any) -> None:
    payload = json.dumps(document).encode()
    for payload_type in (None, "application/vnd.in-toto+json"):
        assert isinstance(Found("legacy", "signature", None, payload, b"", payload_type).names(IMAGE), bool)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_JSON, _JSON)
def test_any_envelope_is_read_or_refused_as_malformed(envelope: Any, statement: Any) -> None:
    if isinstance(envelope, dict) and "payload" in envelope:
        envelope["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    try:
        found = _from_envelope(envelope, "legacy", kind="attestation")
    except (ValueError, KeyError, TypeError):  # what `find` turns into a failed check naming the attachment
        return
    assert all(f.kind == "attestation" for f in found)


# --- what cosign and the engines read, and nothing else -------------------------------------------------


def _signature_layer(registry: Registry, image: ImageRef, payload: bytes, signature: bytes | None) -> dict[str, Any]:
    annotations = {} if signature is None else {SIGNATURE_ANNOTATION: base64.b64encode(signature).decode()}
    digest = registry.put_blob(image.repository, payload)
    return {"mediaType": SIMPLE_SIGNING, "digest": digest, "size": len(payload), "annotations": annotations}


def test_a_signed_payload_that_is_not_json_names_no_image(registry: Registry, key: ec.EllipticCurvePrivateKey) -> None:
    image = push_canary(registry, f"apps/{uuid.uuid4().hex[:8]}", "v1", nonce="not-json")
    payload = b"sign me, I am not a payload"
    signature = key.sign(payload, ec.ECDSA(hashes.SHA256()))
    _append_layer(registry, image, "sig", _signature_layer(registry, image, payload, signature))
    report = check_image(registry, image, _model(registry, key), trusted_root())
    assert not report.signed
    assert [p.reason for p in report.proofs] == ["signs another image's digest"]


def test_layers_cosign_does_not_read_are_skipped_and_the_signature_after_them_counts(
    registry: Registry, key: ec.EllipticCurvePrivateKey
) -> None:
    image = push_canary(registry, f"apps/{uuid.uuid4().hex[:8]}", "v1", nonce="other-layers")
    note = b"a note"
    other = {"mediaType": "text/plain", "digest": registry.put_blob(image.repository, note), "size": len(note)}
    _append_layer(registry, image, "sig", other)
    unsigned = _signature_layer(registry, image, simple_signing_payload(image), None)  # no signature annotation
    _append_layer(registry, image, "sig", unsigned)
    sign_legacy(registry, image, key)
    report = check_image(registry, image, _model(registry, key), trusted_root())
    assert report.signed
    assert [p.verified_by for p in report.proofs] == [None, "key canary-key (pinned public key)"]


def test_a_layer_without_a_digest_makes_the_manifest_malformed_even_beside_a_good_signature(
    registry: Registry, key: ec.EllipticCurvePrivateKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A layer is a descriptor, which names its content by digest (cosign, through go-containerregistry, refuses
    a manifest with one that does not). A registry that serves such a `.sig` manifest (the loopback one refuses
    to store it, so it is added here as served) gets a failed check naming it; the layer is not read around."""
    image = push_canary(registry, f"apps/{uuid.uuid4().hex[:8]}", "v1", nonce="digestless-layer")
    sign_legacy(registry, image, key)
    stored = registry.get_manifest

    def served(repository: str, reference: str) -> Manifest | None:
        manifest = stored(repository, reference)
        if manifest is None or not reference.endswith(".sig"):
            return manifest
        document = manifest.json()
        document["layers"] = [{"mediaType": "text/plain", "size": 0}, *document["layers"]]
        return Manifest(json.dumps(document).encode(), manifest.media_type, manifest.digest)

    monkeypatch.setattr(registry, "get_manifest", served)
    with pytest.raises(RegistryError, match="is malformed: a manifest's layers are a list of descriptors"):
        check_image(registry, image, _model(registry, key), trusted_root())
    monkeypatch.undo()
    assert check_image(registry, image, _model(registry, key), trusted_root()).signed, "as stored, it is signed"


@pytest.mark.parametrize("part", ["payload", "sig"])
def test_an_envelope_that_is_not_strict_base64_is_malformed(
    registry: Registry, key: ec.EllipticCurvePrivateKey, part: str
) -> None:
    """Go's decoder, which cosign and the engines use, refuses a stray character; so does this one."""
    image = push_canary(registry, f"apps/{uuid.uuid4().hex[:8]}", "v1", nonce=f"loose-{part}")
    envelope = dsse_envelope(key, statement(image, "https://spdx.dev/Document", {"packages": [{"name": "x"}]}))
    holder = envelope if part == "payload" else envelope["signatures"][0]
    holder[part] += "!"
    blob = json.dumps(envelope).encode()
    layer = {"mediaType": DSSE_ENVELOPE, "digest": registry.put_blob(image.repository, blob), "size": len(blob)}
    _append_layer(registry, image, "att", layer)
    with pytest.raises(RegistryError, match="is malformed"):
        check_image(registry, image, _model(registry, key), trusted_root())


def test_a_referrer_of_another_artifact_type_is_no_bundle(registry: Registry, key: ec.EllipticCurvePrivateKey) -> None:
    """cosign and the engines list referrers of the bundle type only: a bundle inside another artifact is unread."""
    image = push_canary(registry, f"apps/{uuid.uuid4().hex[:8]}", "v1", nonce="other-artifact")
    bundle = key_bundle(key, dsse_envelope(key, statement(image, COSIGN_SIGN_PREDICATE, {})))
    subject = registry.get_manifest(image.repository, image.digest)
    assert subject is not None
    other = "application/vnd.example.report+json"
    registry.put_referrer(
        image.repository,
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": other,
            "config": {"mediaType": other, "digest": registry.put_blob(image.repository, b"{}"), "size": 2},
            "layers": [
                {"mediaType": other, "digest": registry.put_blob(image.repository, bundle), "size": len(bundle)}
            ],
            "subject": {"mediaType": subject.media_type, "digest": subject.digest, "size": len(subject.raw)},
        },
    )
    report = check_image(registry, image, _model(registry, key, signature_format="bundle"), trusted_root())
    assert report.proofs == ()
    assert not report.signed


def test_a_deleted_referrer_the_index_still_lists_is_skipped(
    registry: Registry, key: ec.EllipticCurvePrivateKey
) -> None:
    image = push_canary(registry, f"apps/{uuid.uuid4().hex[:8]}", "v1", nonce="deleted-referrer")
    referrer = sign_bundle(registry, image, key)
    assert registry.delete_manifest(image.repository, referrer)
    assert [d.digest for d in registry.referrers(image.repository, image.digest)] == [referrer], "a stale index"
    report = check_image(registry, image, _model(registry, key, signature_format="bundle"), trusted_root())
    assert report.proofs == ()


@pytest.mark.parametrize("material", [None, {"tlogEntries": []}, {"certificate": {"rawBytes": ""}, "tlogEntries": []}])
def test_a_bundle_that_names_no_key_is_no_keys_even_when_the_key_signed_it(
    registry: Registry, key: ec.EllipticCurvePrivateKey, material: dict[str, Any] | None
) -> None:
    """sigstore-go, which the engines use, refuses a bundle without verification material, and verifies a key's
    signature only in a bundle that carries a key hint: the trusted key's DSSE signature alone signs nothing."""
    image = push_canary(registry, f"apps/{uuid.uuid4().hex[:8]}", "v1", nonce=f"no-key-hint-{material}")
    bundle: dict[str, Any] = json.loads(
        key_bundle(key, dsse_envelope(key, statement(image, COSIGN_SIGN_PREDICATE, {})))
    )
    del bundle["verificationMaterial"]
    if material is not None:
        bundle["verificationMaterial"] = material
    _write_bundle(registry, image, json.dumps(bundle).encode(), COSIGN_SIGN_PREDICATE)
    report = check_image(registry, image, _model(registry, key, signature_format="bundle"), trusted_root())
    assert not report.signed
    assert [p.verified_by for p in report.proofs] == [None]
