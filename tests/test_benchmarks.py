"""Benchmarks, run on demand (`make benchmark`), never as timed tests: figures go in the notes."""

from __future__ import annotations

import resource
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pytest_benchmark.fixture import BenchmarkFixture

from components.model.trust import KeyAuthority, NamespacePolicy, SigstoreInstance, TrustModel
from scripts.checks.cosign import ImageRef
from scripts.checks.cosign_writer import attest_legacy, push_canary, sign_legacy
from scripts.checks.images import check_image, requirement_problems
from scripts.checks.oci import Registry
from scripts.checks.verification import trusted_root

pytestmark = pytest.mark.benchmark
IMAGES = 50


def test_verify_50_images_against_the_loopback_registry(loopback_registry: str, benchmark: BenchmarkFixture) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    model = TrustModel(
        keyless=(),
        keys=(KeyAuthority("bench", public_key_pem=pem.decode(), transparency_log_required=False),),
        sigstore=SigstoreInstance(),
        signed_registries=(loopback_registry,),
        allowed_registries=(loopback_registry,),
        namespaces=(NamespacePolicy("apps", "enforce", "spdx"),),
        require_digest=True,
        signature_format="legacy",  # the layout the images below are signed in; the other is not counted
    )
    registry = Registry(loopback_registry, plain_http=True, timeout=10)
    repo = f"bench/{uuid.uuid4().hex[:6]}"
    images: list[ImageRef] = []
    for i in range(IMAGES):
        image = push_canary(registry, repo, f"v{i}", nonce=f"bench-{i}")
        sign_legacy(registry, image, key)
        attest_legacy(registry, image, key, "https://spdx.dev/Document", {"packages": [{"name": f"p{i}"}]})
        images.append(image)
    root = trusted_root()

    def verify_all() -> int:
        with ThreadPoolExecutor(max_workers=8) as pool:  # as the checks' runner verifies images
            reports = list(pool.map(lambda image: check_image(registry, image, model, root), images))
        return sum(not requirement_problems(r, model.namespaces[0], model) for r in reports)

    start = time.perf_counter()
    admissible = benchmark.pedantic(verify_all, rounds=3, iterations=1)  # type: ignore[no-untyped-call]
    assert admissible == IMAGES
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    benchmark.extra_info.update(
        images=IMAGES, peak_rss_mb=round(peak_mb, 1), wall_s=round(time.perf_counter() - start, 2)
    )
    print(f"\nverified {IMAGES} images x3 rounds; peak RSS {peak_mb:.0f} MB")
