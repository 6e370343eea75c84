"""What is attached to an image is untrusted input: a malformed or misplaced attachment is never a
signature and never a crash, and a bundle no trusted authority made on a legacy stack's image is
reported (it would switch Kyverno to bundle mode and lock the image out)."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from components.model.trust import NamespacePolicy
from scripts.checks.cosign import (
    COSIGN_SIGN_PREDICATE,
    SIGNATURE_ANNOTATION,
    SIMPLE_SIGNING,
    Found,
    ImageRef,
    _append_layer,
    _from_envelope,
    attest_legacy,
    push_canary,
    sign_bundle,
    sign_legacy,
)
from scripts.checks.images import check_image, requirement_problems
from scripts.checks.oci import Registry
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
