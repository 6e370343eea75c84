"""Canaries and cosign layouts against a real OCI registry on loopback (docker-registry)."""

from __future__ import annotations

import json
import uuid

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from scripts.checks.cosign import BUNDLE_V03, COSIGN_SIGN_PREDICATE, find
from scripts.checks.cosign_writer import (
    attest_bundle,
    attest_legacy,
    delete_canary,
    push_canary,
    sign_bundle,
    sign_legacy,
)
from scripts.checks.errors import UnreachableError
from scripts.checks.oci import Registry, tag_for

SPDX = "https://spdx.dev/Document"


@pytest.fixture
def registry(loopback_registry: str) -> Registry:
    return Registry(loopback_registry, plain_http=True, timeout=5)


@pytest.fixture
def repo() -> str:
    return f"canary/{uuid.uuid4().hex[:8]}"


@pytest.fixture
def key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def test_canary_is_a_real_image_resolvable_by_tag_and_digest(registry: Registry, repo: str) -> None:
    image = push_canary(registry, repo, "v1", nonce="one")
    by_tag = registry.get_manifest(repo, "v1")
    assert by_tag is not None
    assert by_tag.digest == image.digest
    manifest = by_tag.json()
    config = json.loads(registry.get_blob(repo, manifest["config"]["digest"]))
    assert config["rootfs"]["diff_ids"], "a layer a runtime could unpack"
    assert push_canary(registry, repo, "v2", nonce="two").digest != image.digest, "unique per nonce"


@pytest.mark.parametrize("layout", ["legacy", "bundle"])
def test_signature_round_trip(registry: Registry, repo: str, key: ec.EllipticCurvePrivateKey, layout: str) -> None:
    image = push_canary(registry, repo, "signed", nonce=layout)
    (sign_legacy if layout == "legacy" else sign_bundle)(registry, image, key)
    (found,) = [f for f in find(registry, image) if f.kind == "signature"]
    assert found.layout == layout
    assert found.names(image)
    assert found.verifies_with(key.public_key())
    assert not found.verifies_with(ec.generate_private_key(ec.SECP256R1()).public_key()), "a throwaway key fails"


@pytest.mark.parametrize("layout", ["legacy", "bundle"])
def test_attestation_round_trip(registry: Registry, repo: str, key: ec.EllipticCurvePrivateKey, layout: str) -> None:
    image = push_canary(registry, repo, "attested", nonce=f"att-{layout}")
    predicate = {"spdxVersion": "SPDX-2.3", "packages": [{"name": "canary"}]}
    (attest_legacy if layout == "legacy" else attest_bundle)(registry, image, key, SPDX, predicate)
    (found,) = [f for f in find(registry, image) if f.kind == "attestation"]
    assert found.predicate_type == SPDX
    assert json.loads(found.payload)["predicate"] == predicate
    assert found.names(image)
    assert found.verifies_with(key.public_key())


def test_signatures_accumulate_and_both_layouts_coexist(
    registry: Registry, repo: str, key: ec.EllipticCurvePrivateKey
) -> None:
    image = push_canary(registry, repo, "many", nonce="many")
    other = ec.generate_private_key(ec.SECP256R1())
    sign_legacy(registry, image, key)
    sign_legacy(registry, image, other)
    sign_bundle(registry, image, key)
    found = [f for f in find(registry, image) if f.kind == "signature"]
    assert sorted(f.layout for f in found) == ["bundle", "legacy", "legacy"]
    assert sum(f.verifies_with(key.public_key()) for f in found) == 2


def test_bundle_is_discoverable_through_the_referrers_fallback_index(
    registry: Registry, repo: str, key: ec.EllipticCurvePrivateKey
) -> None:
    image = push_canary(registry, repo, "ref", nonce="ref")
    referrer = sign_bundle(registry, image, key)
    index = registry.get_manifest(repo, tag_for(image.digest))
    assert index is not None, "distribution 2.8 has no referrers API: the sha256-<hex> index stands in"
    (entry,) = index.json()["manifests"]
    assert entry["digest"] == referrer
    assert entry["artifactType"] == BUNDLE_V03
    assert entry["annotations"]["dev.sigstore.bundle.predicateType"] == COSIGN_SIGN_PREDICATE


def test_a_tag_moved_after_signing_points_at_an_unsigned_image(
    registry: Registry, repo: str, key: ec.EllipticCurvePrivateKey
) -> None:
    signed = push_canary(registry, repo, "release", nonce="before")
    sign_legacy(registry, signed, key)
    moved = push_canary(registry, repo, "release", nonce="after")
    now = registry.get_manifest(repo, "release")
    assert now is not None
    assert now.digest == moved.digest != signed.digest
    assert find(registry, moved) == [], "the signature stays with the old digest"
    assert [f.verifies_with(key.public_key()) for f in find(registry, signed)] == [True]


def test_cleanup_deletes_the_canary_and_what_is_attached(
    registry: Registry, repo: str, key: ec.EllipticCurvePrivateKey
) -> None:
    image = push_canary(registry, repo, "gone", nonce="gone")
    sign_legacy(registry, image, key)
    sign_bundle(registry, image, key)
    attest_legacy(registry, image, key, SPDX, {"packages": [{"name": "x"}]})
    deleted = delete_canary(registry, image)
    assert image.digest in deleted
    assert len(deleted) == 5, "image, .sig, .att, the bundle referrer and its fallback index"
    assert registry.get_manifest(repo, image.digest) is None
    assert find(registry, image) == []


def test_unreachable_registry_is_reported_not_raised_raw() -> None:
    with pytest.raises(UnreachableError):
        Registry("127.0.0.1:9", plain_http=True, timeout=0.5).get_manifest("x", "latest")


def test_credentials_from_docker_config_and_azure_cli(tmp_path: object, monkeypatch: pytest.MonkeyPatch) -> None:
    import base64
    import json as json_
    import subprocess
    from pathlib import Path

    from scripts.checks.oci import ACR_TOKEN_USER, Credentials

    folder = Path(str(tmp_path))
    (folder / "config.json").write_text(
        json_.dumps(
            {
                "auths": {
                    "crcontoso.azurecr.io": {"identitytoken": "refresh"},
                    "kind-registry:5000": {"auth": base64.b64encode(b"me:secret").decode()},
                }
            }
        )
    )
    monkeypatch.setenv("DOCKER_CONFIG", str(folder))
    assert Credentials.from_docker_config("crcontoso.azurecr.io") == Credentials(ACR_TOKEN_USER, "refresh")
    assert Credentials.from_docker_config("kind-registry:5000") == Credentials("me", "secret")
    assert Credentials.from_docker_config("elsewhere.example") is None

    calls: list[list[str]] = []

    def az(command: list[str], **_: object) -> subprocess.CompletedProcess[str]:
        calls.append(command)
        return subprocess.CompletedProcess(command, 0, stdout=json_.dumps({"accessToken": "t0k", "loginServer": "x"}))

    monkeypatch.setattr("shutil.which", lambda _: "/usr/bin/az")
    assert Credentials.from_azure_cli("crother.azurecr.io", run=az) == Credentials(ACR_TOKEN_USER, "t0k")
    assert calls[0][:5] == ["az", "acr", "login", "--name", "crother"]
    assert Credentials.from_azure_cli("kind-registry:5000", run=az) is None, "ACR only"
