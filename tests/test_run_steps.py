"""The post-deploy run as its user follows it: each step and each chain case named as it starts (what the
progress line shows), and the known-good image judged by the namespaces it is meant for only."""

from __future__ import annotations

import uuid
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from components.model.contract import StackOutputs
from components.model.trust import KeyAuthority, NamespacePolicy, SigstoreInstance, TrustModel
from scripts.checks.cluster import Cluster
from scripts.checks.cosign_writer import push_canary, sign_legacy
from scripts.checks.oci import Registry
from scripts.checks.options import Options
from scripts.checks.outputs import parse_outputs
from scripts.checks.runner import run_all, verify_known_good
from scripts.checks.verification import trusted_root
from tests.fake_kube import AUDITED, FakeApi, serve


def _model(registry: Registry, *namespaces: NamespacePolicy, keys: tuple[KeyAuthority, ...] = ()) -> TrustModel:
    return TrustModel(
        keyless=(),
        keys=keys,
        sigstore=SigstoreInstance(),
        signed_registries=(registry.host,),
        allowed_registries=(registry.host,),
        namespaces=namespaces,
        require_digest=True,
        plain_http_registry=True,
        signature_format="legacy",
    )


def _sandbox_outputs(registry: Registry, **extra: Any) -> StackOutputs:
    """A dev stack's outputs with one audit namespace, `sandbox`, on the loopback registry."""
    model = _model(registry, NamespacePolicy("sandbox", "audit"))
    raw = {
        "environment": "dev",
        "namespaces": {"sandbox": "audit"},
        "registryLoginServer": registry.host,
        "trustModel": model.to_json(),
        "kyvernoPolicies": ["verify-image-signatures-audit"],
        **extra,
    }
    return parse_outputs(raw, "test")


def test_a_run_names_each_step_and_each_case_as_it_starts(registry: Registry) -> None:
    outputs = _sandbox_outputs(registry)
    seen: list[str] = []
    with serve(FakeApi(default=AUDITED)) as api_client:
        options = Options(deadline_seconds=60, workers=2)
        results = run_all(outputs, Cluster(api_client, timeout=5), registry, trusted_root(), options, seen.append)
    ran = sorted(
        r.id.removeprefix("chain/") for r in results if r.id.startswith("chain/sandbox/") and r.status == "pass"
    )
    assert ran == ["sandbox/foreign-registry", "sandbox/unsigned", "sandbox/untrusted-signer"]
    assert seen[:3] == ["canaries", "posture", "chain cases"]
    assert sorted(seen[3:6]) == ran, "each case as its answer comes"
    assert seen[6:] == ["independent verification", "audit readiness"]


def test_the_runner_group_is_checked_with_the_runs_own_github_token(registry: Registry) -> None:
    """The token is read through the run's options (the deploy pipeline's, not whatever the shell holds)."""
    group = {"name": "supply-chain-dev", "organization": "contoso", "visibility": "selected"}
    outputs = _sandbox_outputs(registry, agentRunnerGroup=group)
    asked: list[str] = []

    def no_token() -> None:
        asked.append("token")

    with serve(FakeApi(default=AUDITED)) as api_client:
        options = Options(deadline_seconds=60, workers=2, github_token=no_token)
        results = run_all(outputs, Cluster(api_client, timeout=5), registry, trusted_root(), options)
    (check,) = [r for r in results if r.id == "agents/runner-group"]
    assert (check.status, check.observed) == (
        "skip",
        "no GITHUB_TOKEN: set one that can read the organisation's runner groups",
    )
    assert asked == ["token"]


def test_the_known_good_image_is_judged_by_the_namespaces_it_is_meant_for(registry: Registry) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    signing = KeyAuthority("image-signing", public_key_pem=pem.decode(), transparency_log_required=False)
    payments = NamespacePolicy("payments", "enforce", repositories=("payments/*",))
    apps = NamespacePolicy("apps", "enforce", "spdx")  # names no repositories: takes what no tenant claims
    model = _model(registry, payments, apps, keys=(signing,))

    tenants = push_canary(registry, f"payments/{uuid.uuid4().hex[:8]}", "v1", nonce="payments-known-good")
    sign_legacy(registry, tenants, key)
    (result,) = verify_known_good(registry, model, trusted_root(), Options(known_good=str(tenants)))
    assert (result.status, result.observed) == ("pass", "meets every namespace")
    assert result.details["problems"] == {"payments": []}, "apps' SBOM rule is not payments' image's concern"

    unclaimed = push_canary(registry, f"tools/{uuid.uuid4().hex[:8]}", "v1", nonce="tools-known-good")
    sign_legacy(registry, unclaimed, key)
    (result,) = verify_known_good(registry, model, trusted_root(), Options(known_good=str(unclaimed)))
    assert (result.status, result.observed) == ("fail", "apps: no spdx SBOM attestation by a trusted signer")
    assert result.details["problems"] == {"apps": ["no spdx SBOM attestation by a trusted signer"]}
