"""Contract tests of the post-deploy run: what it asks the API server (dry runs only, nothing
persistent), how it reads the answers, the cases it plans, and the evidence it leaves. Real
admission decisions are the e2e suite's (tests/e2e); here a stand-in API server admits what the
test's oracle says."""

from __future__ import annotations

import base64
import contextlib
import datetime
import hashlib
import ipaddress
import json
import ssl
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from components.model.config import parse_stack_config
from components.model.contract import Mode, StackOutputs
from components.model.trust import (
    KeyAuthority,
    KeylessAuthority,
    NamespacePolicy,
    Provenance,
    SigstoreInstance,
    TrustModel,
    trust_model,
)
from scripts.checks import evidence
from scripts.checks.canaries import CANARY_REPOSITORY
from scripts.checks.cases import FOREIGN_IMAGE, Case, known_good_targets, plan_cases
from scripts.checks.cluster import Cluster, pod_manifest
from scripts.checks.cosign import ImageRef
from scripts.checks.cosign_writer import _append_layer, push_canary, sign_legacy, simple_signing_payload
from scripts.checks.errors import UnreachableError, UsageError
from scripts.checks.oci import Registry
from scripts.checks.options import Options, parse_image
from scripts.checks.outputs import parse_outputs
from scripts.checks.results import CheckResult
from scripts.checks.runner import audit_readiness, run_all, verify_known_good
from scripts.checks.verification import trusted_root
from tests.conftest import stack_raw
from tests.fake_kube import ADMITTED, AUDITED, FakeApi, serve
from tests.fake_kube import denied as denial
from tests.fake_rekor import FakeRekor, hashedrekord_v001, public_pem
from tests.fake_rekor import sign as rekor_sign

KYVERNO_WEBHOOK = {
    "metadata": {"name": "kyverno-resource-validating-webhook-cfg"},
    "webhooks": [
        {
            "name": "validate.kyverno.svc-fail",
            "failurePolicy": "Fail",
            "timeoutSeconds": 15,
            "namespaceSelector": {
                "matchExpressions": [
                    {
                        "key": "kubernetes.io/metadata.name",
                        "operator": "NotIn",
                        "values": ["kube-system", "kyverno", "cosign-system"],
                    }
                ]
            },
            "rules": [
                {
                    "apiGroups": [""],
                    "apiVersions": ["v1"],
                    "operations": ["CREATE", "UPDATE"],
                    "resources": ["pods", "pods/ephemeralcontainers"],
                }
            ],
            "clientConfig": {},
            "sideEffects": "None",
            "admissionReviewVersions": ["v1"],
        }
    ],
}
# Kyverno's webhook for its own policy objects: Fail, no namespace selector, never sees pods.
KYVERNO_POLICY_WEBHOOK = {
    "metadata": {"name": "kyverno-policy-validating-webhook-cfg"},
    "webhooks": [
        {
            "name": "validate-policy.kyverno.svc",
            "failurePolicy": "Fail",
            "timeoutSeconds": 10,
            "rules": [
                {
                    "apiGroups": ["policies.kyverno.io"],
                    "apiVersions": ["v1"],
                    "operations": ["CREATE", "UPDATE"],
                    "resources": ["imagevalidatingpolicies"],
                }
            ],
            "clientConfig": {},
            "sideEffects": "None",
            "admissionReviewVersions": ["v1"],
        }
    ],
}


SIGNATURE_POLICY, REGISTRY_POLICY = "verify-image-signatures-enforce", "restrict-image-registries-enforce"


def _pem(key: ec.EllipticCurvePrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def _model(host: str, key: ec.EllipticCurvePrivateKey) -> TrustModel:
    return TrustModel(
        keyless=(),
        keys=(KeyAuthority("local-signing", public_key_pem=_pem(key), transparency_log_required=False),),
        sigstore=SigstoreInstance(),
        signed_registries=(host,),
        allowed_registries=(host,),
        namespaces=(NamespacePolicy("demo", "enforce", "spdx"), NamespacePolicy("sandbox", "audit")),
        require_digest=True,
        plain_http_registry=True,
        signature_format="legacy",
    )


def _outputs(model: TrustModel, host: str) -> StackOutputs:
    return parse_outputs(
        {
            "environment": "local",
            "namespaces": {"demo": "enforce", "sandbox": "audit"},
            "registryLoginServer": host,
            "trustModel": model.to_json(),
            "kyvernoPolicies": [SIGNATURE_POLICY, REGISTRY_POLICY, "require-sbom-demo"],
            "signingPrivateKeysPem": "[secret]",
        }
        | {"signingPrivateKeysPem": None},
        "test",
    )


def test_plan_expects_denials_in_enforce_and_admission_in_audit() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    model = _model("registry.example:5000", key)
    cases = {c.id: c for c in plan_cases(model, Options(signing_key=key))}
    assert not cases["demo/unsigned"].admit
    assert cases["sandbox/unsigned"].admit, "audit namespaces are never denied"
    assert not cases["demo/missing-sbom"].skip_reason
    assert "sandbox/missing-sbom" not in cases, "only where an SBOM is required"
    assert cases["demo/known-good"].skip_reason.startswith("no known-good image")
    assert cases["demo/foreign-registry"].containers == (FOREIGN_IMAGE,)


def test_cases_needing_a_trusted_key_say_why_they_are_skipped() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    model = _model("registry.example:5000", key)
    assert plan_cases(model, Options())[4].skip_reason.startswith("no trusted signing key")
    strict = TrustModel(**{**model.__dict__, "keys": (KeyAuthority("k", public_key_pem=_pem(key)),)})
    reasons = {c.skip_reason for c in plan_cases(strict, Options(signing_key=key)) if c.skip_reason}
    assert any("requires Rekor entries" in r for r in reasons)
    other = ec.generate_private_key(ec.SECP256R1())
    reasons = {c.skip_reason for c in plan_cases(model, Options(signing_key=other)) if c.skip_reason}
    assert any("not one of the stack's trusted keys" in r for r in reasons)


CaseRow = tuple[str, str, tuple[str, ...], tuple[str, ...], bool, str]


def _rows(cases: list[Case]) -> list[CaseRow]:
    """Each case as (id, title, containers, init containers, must be admitted, why skipped)."""
    return [(c.id, c.title, c.containers, c.init, c.admit, c.skip_reason) for c in cases]


BUSYBOX = "docker.io/library/busybox@sha256:" + "0" * 64


def test_the_plan_of_an_enforce_and_an_audit_namespace_written_out() -> None:
    """Every case with its images and verdict: an enforce namespace must deny every canary but the
    trusted one, an audit namespace admits everything; the SBOM and provenance cases only where required."""
    key = ec.generate_private_key(ec.SECP256R1())
    built = Provenance("https://github.com/o/w/b.yml@refs/heads/main", "https://github.com/o/app")
    model = replace(
        _model("registry.example:5000", key),
        namespaces=(NamespacePolicy("demo", "enforce", "spdx", built), NamespacePolicy("sandbox", "audit")),
    )
    options = Options(known_good="registry.example:5000/apps/api@sha256:" + "a" * 64, signing_key=key)
    assert _rows(plan_cases(model, options)) == [
        ("demo/known-good", "known-good image is admitted", ("known-good",), (), True, ""),
        (
            "demo/unsigned-init-container",
            "known-good image with an unsigned init container is denied",
            ("known-good",),
            ("unsigned",),
            False,
            "",
        ),
        ("demo/unsigned", "unsigned canary is denied", ("unsigned",), (), False, ""),
        ("demo/untrusted-signer", "canary signed by an untrusted key is denied", ("untrusted",), (), False, ""),
        ("demo/foreign-registry", "image from a registry not allowed is denied", (BUSYBOX,), (), False, ""),
        ("demo/trusted-canary", "canary signed and attested by a trusted key is admitted", ("trusted",), (), True, ""),
        ("demo/tag-moved", "tag moved after signing is denied", ("moved-tag",), (), False, ""),
        ("demo/missing-sbom", "signed canary without the required SBOM is denied", ("no-sbom",), (), False, ""),
        (
            "demo/foreign-provenance",
            "signed canary with another builder's provenance is denied",
            ("bad-provenance",),
            (),
            False,
            "",
        ),
        ("sandbox/known-good", "known-good image is admitted", ("known-good",), (), True, ""),
        (
            "sandbox/unsigned-init-container",
            "known-good image with an unsigned init container is admitted (audit)",
            ("known-good",),
            ("unsigned",),
            True,
            "",
        ),
        ("sandbox/unsigned", "unsigned canary is admitted (audit)", ("unsigned",), (), True, ""),
        (
            "sandbox/untrusted-signer",
            "canary signed by an untrusted key is admitted (audit)",
            ("untrusted",),
            (),
            True,
            "",
        ),
        (
            "sandbox/foreign-registry",
            "image from a registry not allowed is admitted (audit)",
            (BUSYBOX,),
            (),
            True,
            "",
        ),
        (
            "sandbox/trusted-canary",
            "canary signed and attested by a trusted key is admitted",
            ("trusted",),
            (),
            True,
            "",
        ),
        ("sandbox/tag-moved", "tag moved after signing is admitted (audit)", ("moved-tag",), (), True, ""),
    ]


def test_without_a_known_good_image_or_a_key_the_cases_needing_them_are_skipped_saying_what_to_pass() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    built = Provenance("https://github.com/o/w/b.yml@refs/heads/main", "https://github.com/o/app")
    model = replace(
        _model("registry.example:5000", key), namespaces=(NamespacePolicy("demo", "enforce", "spdx", built),)
    )
    no_image = "no known-good image given (--known-good IMAGE@DIGEST)"
    no_key = "no trusted signing key given (--signing-key, --kms-key, or the local stack's generated key)"
    assert _rows(plan_cases(model, Options())) == [
        ("demo/known-good", "known-good image is admitted", ("known-good",), (), True, no_image),
        ("demo/unsigned", "unsigned canary is denied", ("unsigned",), (), False, ""),
        ("demo/untrusted-signer", "canary signed by an untrusted key is denied", ("untrusted",), (), False, ""),
        ("demo/foreign-registry", "image from a registry not allowed is denied", (BUSYBOX,), (), False, ""),
        (
            "demo/trusted-canary",
            "canary signed and attested by a trusted key is admitted",
            ("trusted",),
            (),
            True,
            no_key,
        ),
        ("demo/tag-moved", "tag moved after signing is denied", ("moved-tag",), (), False, no_key),
        ("demo/missing-sbom", "signed canary without the required SBOM is denied", ("no-sbom",), (), False, no_key),
        (
            "demo/foreign-provenance",
            "signed canary with another builder's provenance is denied",
            ("bad-provenance",),
            (),
            False,
            no_key,
        ),
    ]


@pytest.mark.parametrize(
    ("default_mode", "namespaces", "exempt", "default_namespace_admits"),
    [
        ("enforce", (), ("kube-system",), [False]),
        ("audit", (), ("kube-system",), [True]),
        (None, (), (), []),
        ("enforce", (), ("default",), []),
        ("enforce", (NamespacePolicy("default", "audit"),), (), [True]),
    ],
    ids=["enforce-default", "audit-default", "no-default-mode", "default-exempt", "default-listed"],
)
def test_the_default_mode_is_proven_in_the_default_namespace_unless_it_is_listed_or_exempt(
    default_mode: Mode | None,
    namespaces: tuple[NamespacePolicy, ...],
    exempt: tuple[str, ...],
    default_namespace_admits: list[bool],
) -> None:
    """`default` stands for every namespace the stack does not name: its unsigned canary is denied
    under an enforce default, admitted under an audit one, and not tried where `default` is not unlisted."""
    key = ec.generate_private_key(ec.SECP256R1())
    model = replace(
        _model("registry.example:5000", key),
        namespaces=(NamespacePolicy("demo", "enforce"), *namespaces),
        default_mode=default_mode,
        exempt_namespaces=exempt,
    )
    cases = plan_cases(model, Options())
    assert [c.admit for c in cases if c.id == "default/unsigned"] == default_namespace_admits
    assert [c.namespace for c in cases if c.id == "default/unsigned"] == ["default"] * len(default_namespace_admits)
    assert {c.namespace for c in cases} <= {"demo", "default"}


def test_the_stacks_own_key_must_not_get_into_a_tenants_namespace() -> None:
    """A key the build agents hold is what an attacker who owns an agent holds: where a namespace names its
    signers, its repositories or its builder, that key's canary is a denial case, not an admission."""
    key = ec.generate_private_key(ec.SECP256R1())
    base = _model("registry.example:5000", key)
    builder = KeylessAuthority(
        "https://token.actions.githubusercontent.com", "https://github.com/o/w/b.yml@refs/heads/main"
    )
    model = replace(
        base,
        namespaces=(
            NamespacePolicy("open", "enforce"),
            NamespacePolicy("signers", "enforce", signers=("payments-release",)),
            NamespacePolicy("repositories", "enforce", repositories=("payments/*",)),
            NamespacePolicy("canary-repo", "enforce", repositories=(f"{CANARY_REPOSITORY[:8]}*",)),
            NamespacePolicy("built", "enforce", provenance=Provenance("b", "https://github.com/o/app", signer=builder)),
            NamespacePolicy(
                "built-audit", "audit", provenance=Provenance("b", "https://github.com/o/app", signer=builder)
            ),
        ),
    )
    cases = {c.id: c for c in plan_cases(model, Options(signing_key=key))}
    assert cases["open/trusted-canary"].admit
    assert cases["canary-repo/trusted-canary"].admit
    for ns, why in (
        ("signers", "not one of signers's signers"),
        ("repositories", f"{CANARY_REPOSITORY} is not one of repositories's repositories"),
        ("built", "not by built's builder"),
    ):
        case = cases[f"{ns}/key-canary-kept-out"]
        assert not case.admit, ns
        assert why in case.title
        assert case.containers == ("trusted",), "the pod carries the key-signed canary"
        assert case.skip_reason == ""
        assert f"{ns}/trusted-canary" not in cases
    assert cases["built-audit/key-canary-kept-out"].admit, "audit reports, never denies"


def test_a_tenants_known_good_image_is_expected_denied_in_the_other_tenants_namespace() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    model = replace(
        _model("registry.example:5000", key),
        namespaces=(
            NamespacePolicy("payments", "enforce", signers=("payments-release",), repositories=("payments/*",)),
            NamespacePolicy("storefront", "enforce", signers=("storefront-release",), repositories=("storefront/*",)),
            NamespacePolicy("analytics", "audit"),
        ),
    )
    assert known_good_targets(model, "payments/api") == ("payments",)
    assert known_good_targets(model, "tools/x") == ("analytics",)
    options = Options(known_good="registry.example:5000/payments/api@sha256:" + "a" * 64)
    cases = {c.id: c for c in plan_cases(model, options)}
    assert cases["payments/known-good"].admit
    assert not cases["storefront/other-tenants-image"].admit
    assert cases["storefront/other-tenants-image"].containers == ("known-good",), "payments' image, in storefront"
    assert cases["storefront/other-tenants-image"].title == "known-good image of another tenant is denied"
    assert "storefront/known-good" not in cases
    assert cases["analytics/other-tenants-image"].admit, "audit reports, never denies"


def test_dry_run_create_is_flagged_and_answers_are_read() -> None:
    image = "r/x@sha256:" + "1" * 64
    api = FakeApi(
        outcomes={
            ("demo", image): denial("verify-image-signatures-enforce", "image is not signed by a trusted signer"),
            ("sandbox", image): AUDITED,
        }
    )
    with serve(api) as api_client:
        cluster = Cluster(api_client, timeout=5)
        denied = cluster.dry_run_pod(pod_manifest("p", "demo", ["r/x@sha256:" + "1" * 64]))
        allowed = cluster.dry_run_pod(pod_manifest("p", "sandbox", ["r/x@sha256:" + "1" * 64]))
    assert not denied.allowed
    assert not denied.denied_by(["restrict-image-registries-enforce"]), "another policy's denial is not ours"
    assert denied.denied_by(["verify-image-signatures-enforce"])
    assert denied.status == 403
    assert "not signed by a trusted signer" in denied.message
    assert allowed.allowed
    assert allowed.warnings == ('299 - "audit: would be denied"',)
    (method, path, query, body) = api.requests[0]
    assert (method, path, query["dryRun"]) == ("POST", "/api/v1/namespaces/demo/pods", ["All"])
    assert body["spec"]["automountServiceAccountToken"] is False


def test_full_run_against_a_loopback_registry_and_a_stand_in_api_server(loopback_registry: str, tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    registry = Registry(loopback_registry, plain_http=True, timeout=5)
    model = _model(loopback_registry, key)
    root = trusted_root()
    known = push_canary(registry, f"apps/{uuid.uuid4().hex[:6]}", "v1", nonce="known-good")
    sign_legacy(registry, known, key)
    from scripts.checks.cosign_writer import attest_legacy

    attest_legacy(registry, known, key, "https://spdx.dev/Document", {"packages": [{"name": "x"}]})

    # What admission answers, written out: canaries are reproducible, so their digests are known before the run.
    run = "t1"

    def canary(name: str) -> str:
        digest = push_canary(registry, "scratch", name, nonce=f"{run}-{name}").digest
        return f"{loopback_registry}/{CANARY_REPOSITORY}@{digest}"

    unsigned, untrusted, trusted, no_sbom = (canary(n) for n in ("unsigned", "untrusted", "trusted", "no-sbom"))
    moved = f"{loopback_registry}/{CANARY_REPOSITORY}:{run}-moved"
    signatures, registries, sbom = SIGNATURE_POLICY, REGISTRY_POLICY, "require-sbom-demo"
    outcomes = {
        ("demo", str(known)): ADMITTED,
        ("demo", trusted): ADMITTED,
        ("demo", unsigned): denial(signatures, "image is not signed by a trusted signer of this cluster"),
        ("demo", untrusted): denial(signatures, "image is not signed by a trusted signer of this cluster"),
        ("demo", FOREIGN_IMAGE): denial(registries, f"images must come from {loopback_registry}"),
        ("demo", moved): denial(registries, "images must be referenced by digest (name@sha256:...), not by tag"),
        ("demo", no_sbom): denial(sbom, "image has no SPDX SBOM attestation signed by a trusted signer"),
    }
    outcomes |= {
        ("sandbox", image): AUDITED for image in (str(known), trusted, unsigned, untrusted, FOREIGN_IMAGE, moved)
    }
    api = FakeApi(
        outcomes=outcomes,
        namespaces={
            "demo": {"supply-chain/admission-mode": "enforce"},
            "sandbox": {"supply-chain/admission-mode": "audit"},
            "kube-system": {},
            "kyverno": {},
        },
        webhooks=[KYVERNO_WEBHOOK, KYVERNO_POLICY_WEBHOOK],
        cluster_objects={
            "imagevalidatingpolicies": [
                {"metadata": {"name": name}, "status": {"conditionStatus": {"ready": True}}}
                for name in (SIGNATURE_POLICY, "require-sbom-demo")
            ],
            "validatingpolicies": [
                {
                    "metadata": {"name": "restrict-image-registries-enforce"},
                    "status": {"conditionStatus": {"ready": True}},
                }
            ],
        },
        namespaced_objects={("kyverno", "policyexceptions"): [], ("sandbox", "policyreports"): []},
    )
    outputs = _outputs(model, loopback_registry)
    options = Options(known_good=str(known), signing_key=key, deadline_seconds=60, workers=4, run_id=run)
    with serve(api) as api_client:
        results = run_all(outputs, Cluster(api_client, timeout=5), registry, root, options)

    by_id = {r.id: r for r in results}
    failures = {r.id: (r.expected, r.observed) for r in results if r.status == "fail"}
    assert failures == {}
    for case in (
        "unsigned",
        "untrusted-signer",
        "foreign-registry",
        "tag-moved",
        "missing-sbom",
        "unsigned-init-container",
    ):
        assert by_id[f"chain/demo/{case}"].observed.startswith("denied"), case
        if case != "missing-sbom":  # sandbox requires no SBOM
            assert by_id[f"chain/sandbox/{case}"].observed == "admitted", case
    assert by_id["chain/demo/trusted-canary"].observed == "admitted"
    assert by_id["chain/sandbox/unsigned"].title.startswith("sandbox: "), "a case's title names its namespace"
    assert by_id["verify/known-good"].status == "pass"
    assert by_id["registry/anonymous-pull"].status == "skip"

    writes = [(m, p, q) for m, p, q, _ in api.requests if m != "GET"]
    assert writes, "the run created pods"
    assert all(m == "POST" and q.get("dryRun") == ["All"] for m, p, q in writes), "dry runs only, nothing persistent"
    assert registry.list_tags(CANARY_REPOSITORY) == [], "canaries deleted"

    files = evidence.write(results, tmp_path, {"stack": "local"})
    data = json.loads((tmp_path / "evidence.json").read_text())
    assert data["summary"]["fail"] == 0
    assert data["summary"]["total"] == len(results)
    suite = ET.parse(tmp_path / "junit.xml").getroot()
    assert int(suite.get("tests", "0")) == len(results)
    assert "passed" in (tmp_path / "summary.md").read_text()
    assert len(files) == 3


def test_posture_fails_when_a_webhook_could_match_kube_system(loopback_registry: str) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    registry = Registry(loopback_registry, plain_http=True, timeout=5)
    model = _model(loopback_registry, key)
    loose = json.loads(json.dumps(KYVERNO_WEBHOOK))
    loose["webhooks"][0]["namespaceSelector"] = {}
    api = FakeApi(
        default=(403, 'admission webhook "vpol.validate.kyverno.svc-fail" denied the request: denied'),
        namespaces={
            "demo": {"supply-chain/admission-mode": "enforce"},
            "sandbox": {"supply-chain/admission-mode": "audit"},
        },
        webhooks=[loose],
    )
    with serve(api) as api_client:
        results = run_all(
            _outputs(model, loopback_registry), Cluster(api_client, timeout=5), registry, trusted_root(), Options()
        )
    by_id = {r.id: r for r in results}
    assert by_id["posture/system-namespaces"].status == "fail"
    assert "kube-system" in by_id["posture/system-namespaces"].observed
    assert by_id["posture/policy/verify-image-signatures-enforce"].observed == "missing"
    assert by_id["chain/positive-control"].status == "fail", "denials prove nothing if nothing is ever admitted"
    assert by_id["cleanup/canaries"].status == "pass"


def test_outputs_errors_name_the_key() -> None:
    from scripts.checks.errors import UsageError

    with pytest.raises(UsageError, match="registryLoginServer"):
        parse_outputs({"environment": "dev", "trustModel": {}}, "outputs.json")


def test_a_secret_hidden_by_pulumi_reads_as_not_given() -> None:
    shown = {"environment": "local", "registryLoginServer": "r:5000", "trustModel": {}}
    outputs = parse_outputs({**shown, "signingPrivateKeysPem": "[secret]"}, "outputs.json")
    assert outputs.signing_private_keys_pem is None  # only --stack-signing-key needs it, and says so


def test_pinned_key_is_compared_with_the_vaults_key() -> None:
    import base64
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from scripts.checks.posture import pinned_keys

    vault_key = ec.generate_private_key(ec.SECP256R1())
    numbers = vault_key.public_key().public_numbers()

    def b64url(n: int) -> str:
        return base64.urlsafe_b64encode(n.to_bytes(32, "big")).decode().rstrip("=")

    seen: list[str] = []

    class Vault(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            seen.append(f"{self.path} {self.headers.get('Authorization')}")
            body = json.dumps(
                {"key": {"kty": "EC-HSM", "crv": "P-256", "x": b64url(numbers.x), "y": b64url(numbers.y)}}
            )
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body.encode())

    server = ThreadingHTTPServer(("127.0.0.1", 0), Vault)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:

        def model_pinning(pem: str) -> TrustModel:
            key = KeyAuthority(
                "image-signing", public_key_pem=pem, kms_uri="azurekms://kv-x.vault.azure.net/image-signing"
            )
            return TrustModel((), (key,), SigstoreInstance(), ("r",), ("r",), (), True)

        def locate(uri: str) -> tuple[str, str, str | None]:
            return base, "image-signing", None

        (same,) = pinned_keys(model_pinning(_pem(vault_key)), lambda: "token", locate)
        (other,) = pinned_keys(model_pinning(_pem(ec.generate_private_key(ec.SECP256R1()))), lambda: "token", locate)
    finally:
        server.shutdown()
        server.server_close()
    assert same.status == "pass"
    assert other.status == "fail"
    assert "rotated?" in other.observed
    assert seen[0] == "/keys/image-signing?api-version=7.4 Bearer token"


def test_unreachable_vault_is_a_skip_with_the_reason() -> None:
    from scripts.checks.posture import pinned_keys

    key = KeyAuthority(
        "image-signing",
        public_key_pem=_pem(ec.generate_private_key(ec.SECP256R1())),
        kms_uri="azurekms://kv-x.vault.azure.net/image-signing",
    )
    model = TrustModel((), (key,), SigstoreInstance(), ("r",), ("r",), (), True)
    (result,) = pinned_keys(model, lambda: "t", lambda uri: ("http://127.0.0.1:9", "image-signing", None))
    assert result.status == "skip"
    assert "not readable from here" in result.observed


def test_cli_exit_codes_unreachable_and_usage(
    tmp_path: Path, unreachable_cluster: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from scripts.verify import main

    key = ec.generate_private_key(ec.SECP256R1())
    outputs = tmp_path / "outputs.json"
    model = _model("127.0.0.1:9", key)
    outputs.write_text(
        json.dumps({"environment": "local", "registryLoginServer": "127.0.0.1:9", "trustModel": model.to_json()})
    )
    assert main(["--outputs", str(outputs), "--evidence", str(tmp_path / "e"), "--deadline", "10"]) == 3
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1].startswith("unreachable: registry 127.0.0.1:9")
    assert "Traceback" not in err
    # the run stopped, and CI still has a test report saying why
    junit = ET.parse(tmp_path / "e" / "junit.xml").getroot()
    assert (junit.get("tests"), junit.get("failures")) == ("1", "1")
    case = junit.find("testcase")
    assert case is not None
    assert case.get("name") == "run/unreachable"
    failure = case.find("failure")
    assert failure is not None
    assert "registry 127.0.0.1:9" in str(failure.get("message"))
    evidence = json.loads((tmp_path / "e" / "evidence.json").read_text())
    assert evidence["context"] == {"stack": "outputs", "exitCode": 3}

    assert main(["--outputs", str(outputs), "--context", "missing", "--evidence", str(tmp_path / "u")]) == 2
    usage = json.loads((tmp_path / "u" / "evidence.json").read_text())
    assert [c["id"] for c in usage["checks"]] == ["run/usage"]
    assert "missing" in usage["checks"][0]["observed"]
    assert main(["--outputs", str(outputs), "--known-good", "no-digest", "--evidence", str(tmp_path / "k")]) in (2, 3)


def test_outside_network_probe(loopback_registry: str) -> None:
    from scripts.checks.posture import public_access

    assert public_access(Registry("127.0.0.1:9", plain_http=True, timeout=1)).status == "pass"
    open_registry = public_access(Registry(loopback_registry, plain_http=True, timeout=5))
    assert open_registry.status == "fail", "an anonymous registry answering from here is open"
    assert open_registry.observed == "HTTP 200 from here"


def test_malformed_attachments_fail_the_check_instead_of_crashing(loopback_registry: str) -> None:
    from scripts.checks.cosign import SIMPLE_SIGNING
    from scripts.checks.cosign_writer import _append_layer
    from scripts.checks.runner import verify_known_good

    key = ec.generate_private_key(ec.SECP256R1())
    registry = Registry(loopback_registry, plain_http=True, timeout=5)
    model = _model(loopback_registry, key)
    image = push_canary(registry, f"apps/{uuid.uuid4().hex[:6]}", "v1", nonce="malformed")
    blob = b"not json"
    layer = {
        "mediaType": SIMPLE_SIGNING,
        "digest": registry.put_blob(image.repository, blob),
        "size": len(blob),
        "annotations": {"dev.cosignproject.cosign/signature": "!!not base64!!"},
    }
    _append_layer(registry, image, "sig", layer)
    (result,) = verify_known_good(registry, model, trusted_root(), Options(known_good=str(image)))
    assert result.status == "fail"
    assert result.observed.startswith("could not be verified: ")


# --- independent verification of the known-good image --------------------------------------------


def test_without_a_known_good_image_its_verification_is_skipped_saying_so() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    registry = Registry("127.0.0.1:9", plain_http=True, timeout=1)  # never asked
    (result,) = verify_known_good(registry, _model("127.0.0.1:9", key), trusted_root(), Options())
    assert result.as_json() | {"seconds": 0} == {
        "id": "verify/known-good",
        "title": "known-good image verifies independently",
        "status": "skip",
        "expected": "signed and attested as each namespace requires",
        "observed": "no known-good image given",
        "seconds": 0,
        "details": {},
    }


def _sign_logged(registry: Registry, image: ImageRef, key: ec.EllipticCurvePrivateKey, rekor: FakeRekor) -> None:
    """A legacy `.sig` layer as cosign writes it with the log: the signature and `rekor`'s promise of its entry."""
    payload = simple_signing_payload(image)
    signature = rekor_sign(key, payload)
    entry = hashedrekord_v001(hashlib.sha256(payload).digest(), signature, public_pem(key))
    layer = {
        "mediaType": "application/vnd.dev.cosign.simplesigning.v1+json",
        "digest": registry.put_blob(image.repository, payload),
        "size": len(payload),
        "annotations": {
            "dev.cosignproject.cosign/signature": base64.b64encode(signature).decode(),
            "dev.sigstore.cosign/bundle": rekor.promise(entry).decode(),
        },
    }
    _append_layer(registry, image, "sig", layer)


def _logged_key_model(host: str, key: ec.EllipticCurvePrivateKey) -> TrustModel:
    """One namespace needing a signature by `key`, which must be in the transparency log."""
    return replace(
        _model(host, key),
        keys=(KeyAuthority("image-signing", public_key_pem=_pem(key), transparency_log_required=True),),
        namespaces=(NamespacePolicy("demo", "enforce"), NamespacePolicy("sandbox", "audit")),
    )


def test_the_known_good_image_is_verified_against_the_trusted_root_given(registry: Registry, tmp_path: Path) -> None:
    """The log entry counts only if the root the run was given trusts its log: the same image fails
    against a root that does not."""
    key, rekor = ec.generate_private_key(ec.SECP256R1()), FakeRekor()
    image = push_canary(registry, f"apps/{uuid.uuid4().hex[:6]}", "v1", nonce="logged")
    _sign_logged(registry, image, key, rekor)
    model = _logged_key_model(registry.host, key)
    options = Options(known_good=str(image))
    (trusting,) = verify_known_good(registry, model, rekor.trusted_root(tmp_path), options)
    (public_good,) = verify_known_good(registry, model, trusted_root(), options)
    assert trusting.status == "pass"
    assert trusting.observed == "meets every namespace"
    assert trusting.details == {
        "proofs": ["legacy signature: verified by key image-signing (pinned public key)"],
        "problems": {"demo": [], "sandbox": []},
        "strayReferrers": [],
    }
    assert public_good.status == "fail"
    assert public_good.observed == "demo: no signature by a trusted signer; sandbox: no signature by a trusted signer"


class _TlsRegistry(BaseHTTPRequestHandler):
    """A registry over TLS that asks for Basic credentials, then has nothing (404), after `stall` seconds."""

    stall = 0.0
    seen: ClassVar[list[str]] = []

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        time.sleep(self.stall)
        authorization = self.headers.get("Authorization")
        if authorization is None:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="test"')
        else:
            self.seen.append(f"{self.path} {authorization}")
            self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()


@contextlib.contextmanager
def _tls_registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stall: float) -> Iterator[tuple[str, list[str]]]:
    """A `_TlsRegistry` on 127.0.0.1 with a certificate this process trusts; yields its host and what it saw."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    (tmp_path / "cert.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    seen: list[str] = []
    handler = type("Handler", (_TlsRegistry,), {"stall": stall, "seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "cert.pem"))
    try:
        yield f"127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def test_a_known_good_image_in_another_registry_is_read_there_with_that_registrys_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    stack_registry = Registry("127.0.0.1:9", plain_http=True, timeout=5)  # holds no known-good image
    with _tls_registry(tmp_path, monkeypatch, stall=0.0) as (host, seen):
        (tmp_path / "config.json").write_text(
            json.dumps({"auths": {host: {"auth": base64.b64encode(b"robot:s3cret").decode()}}})
        )
        monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
        options = Options(known_good=f"{host}/apps/api@sha256:" + "4" * 64)
        (result,) = verify_known_good(stack_registry, _model("127.0.0.1:9", key), trusted_root(), options)
    assert result.status == "fail"
    assert seen, "the other registry was asked with credentials"
    assert all(request.endswith(" Basic cm9ib3Q6czNjcmV0") for request in seen), "robot:s3cret, from DOCKER_CONFIG"


def test_a_known_good_image_in_another_registry_is_read_within_the_runs_registry_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    stack_registry = Registry("127.0.0.1:9", plain_http=True, timeout=0.5)
    with _tls_registry(tmp_path, monkeypatch, stall=1.5) as (host, _):
        options = Options(known_good=f"{host}/apps/api@sha256:" + "4" * 64)
        with pytest.raises(UnreachableError, match=f"registry {host}: "):
            verify_known_good(stack_registry, _model("127.0.0.1:9", key), trusted_root(), options)


# --- audit readiness ------------------------------------------------------------------------------


def test_audit_readiness_lists_what_the_stacks_policies_would_block_in_each_audit_namespace() -> None:
    """From each audit namespace's policy reports: the workloads a stack policy fails (the report's
    scope when a result names no resource); passes and other policies' failures are not listed."""
    ours, theirs = "verify-image-signatures-audit", "disallow-latest-tag"
    reports: list[dict[str, Any]] = [
        {
            "scope": {"kind": "Deployment", "name": "web"},
            "results": [
                {"policy": ours, "result": "fail"},
                {"policy": ours, "result": "pass", "resources": [{"kind": "Pod", "name": "passing"}]},
                {"policy": theirs, "result": "fail", "resources": [{"kind": "Pod", "name": "not-ours"}]},
            ],
        },
        {"results": [{"policy": ours, "result": "fail", "resources": [{"kind": "Pod", "name": "batch"}]}]},
        {"metadata": {"name": "not-evaluated-yet"}},
    ]
    api = FakeApi(namespaced_objects={("sandbox", "policyreports"): reports, ("staging", "policyreports"): []})
    model = replace(
        _model("registry.example:5000", ec.generate_private_key(ec.SECP256R1())),
        namespaces=(
            NamespacePolicy("demo", "enforce"),
            NamespacePolicy("sandbox", "audit"),
            NamespacePolicy("staging", "audit"),
            NamespacePolicy("legacy", "audit"),  # a cluster without the PolicyReport API answers 404
        ),
    )
    with serve(api) as api_client:
        results = audit_readiness(Cluster(api_client, timeout=5), model, [ours, "restrict-image-registries-audit"])
    assert [(r.id, r.status, r.observed, r.details) for r in results] == [
        (
            "audit/sandbox/would-block",
            "pass",
            f"2 workload(s): Deployment/web ({ours}), Pod/batch ({ours})",
            {"wouldBlock": [f"Deployment/web ({ours})", f"Pod/batch ({ours})"]},
        ),
        ("audit/staging/would-block", "pass", "0 workload(s)", {"wouldBlock": []}),
        ("audit/legacy/would-block", "skip", "no PolicyReport API (wgpolicyk8s.io/v1alpha2) in the cluster", {}),
    ]
    assert [path for _, path, _, _ in api.requests] == [
        f"/apis/wgpolicyk8s.io/v1alpha2/namespaces/{ns}/policyreports" for ns in ("sandbox", "staging", "legacy")
    ]


# --- the run as a whole ---------------------------------------------------------------------------


def test_a_run_past_its_deadline_starts_no_step_says_so_and_still_cleans_up() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    registry = Registry("127.0.0.1:9", plain_http=True, timeout=1)  # a step that started would fail to reach it
    outputs = _outputs(_model("127.0.0.1:9", key), "127.0.0.1:9")
    with serve(FakeApi()) as api_client:
        results = run_all(
            outputs, Cluster(api_client, timeout=5), registry, trusted_root(), Options(deadline_seconds=0)
        )
    late = "not started: the 0s deadline had passed"
    assert [(r.id, r.title, r.status, r.expected, r.observed) for r in results] == [
        ("deadline/canaries", "canaries ran", "fail", "before the deadline", late),
        ("deadline/posture", "posture ran", "fail", "before the deadline", late),
        ("deadline/chain cases", "chain cases ran", "fail", "before the deadline", late),
        ("deadline/independent verification", "independent verification ran", "fail", "before the deadline", late),
        ("deadline/audit readiness", "audit readiness ran", "fail", "before the deadline", late),
        ("cleanup/canaries", "canaries are deleted", "pass", "every canary image deleted", "0 canary image(s) deleted"),
    ]


def test_a_shared_stacks_run_probes_anonymous_pulls_and_uses_the_runs_vault_token_root_and_policies(
    registry: Registry, tmp_path: Path
) -> None:
    """Beyond the local stack: the registry is probed with the unsigned canary, the pinned vault key is
    read with the run's token, the known-good image is verified against the run's root, and audit
    readiness reads the stack's Kyverno policies."""
    key, rekor = ec.generate_private_key(ec.SECP256R1()), FakeRekor()
    known = push_canary(registry, f"apps/{uuid.uuid4().hex[:6]}", "v1", nonce="shared-known-good")
    _sign_logged(registry, known, key, rekor)
    model = _logged_key_model(registry.host, key)
    pinned = replace(model.keys[0], kms_uri="azurekms://kv-x.vault.azure.net/image-signing")
    model = replace(model, keys=(pinned,))
    outputs = parse_outputs(
        {
            "environment": "dev",
            "namespaces": {"demo": "enforce", "sandbox": "audit"},
            "registryLoginServer": registry.host,
            "trustModel": model.to_json(),
            "kyvernoPolicies": ["verify-image-signatures-audit"],
        },
        "test",
    )
    report = {
        "results": [
            {"policy": "verify-image-signatures-audit", "result": "fail", "resources": [{"kind": "Pod", "name": "a"}]}
        ]
    }
    api = FakeApi(default=ADMITTED, namespaced_objects={("sandbox", "policyreports"): [report]})

    def no_azure_login() -> str:
        raise UsageError("not logged in to Azure (az login)")

    options = Options(known_good=str(known), deadline_seconds=60, vault_token=no_azure_login)
    with serve(api) as api_client:
        results = run_all(outputs, Cluster(api_client, timeout=5), registry, rekor.trusted_root(tmp_path), options)
    by_id = {r.id: r for r in results}
    assert by_id["registry/anonymous-pull"].status == "fail", "the loopback registry serves anyone"
    assert by_id["registry/anonymous-pull"].observed == "HTTP 200"
    assert (
        by_id["keys/image-signing/pinned"].observed == "vault not readable from here: not logged in to Azure (az login)"
    )
    assert by_id["verify/known-good"].status == "pass"
    assert by_id["audit/sandbox/would-block"].details == {"wouldBlock": ["Pod/a (verify-image-signatures-audit)"]}
    assert by_id["cleanup/canaries"].status == "pass"


def test_in_a_ci_log_each_outcome_is_one_line_and_failures_are_github_annotations(
    loopback_registry: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from scripts.verify import main

    key = ec.generate_private_key(ec.SECP256R1())
    model = _model(loopback_registry, key)
    outputs = tmp_path / "outputs.json"
    outputs.write_text(
        json.dumps(
            {
                "environment": "local",
                "namespaces": {"demo": "enforce"},
                "registryLoginServer": loopback_registry,
                "trustModel": model.to_json(),
            }
        )
    )
    # a cluster with no admission at all: posture and every denial case fail
    api = FakeApi(default=ADMITTED, namespaces={"demo": {"supply-chain/admission-mode": "enforce"}})
    with serve(api) as api_client:
        kubeconfig = tmp_path / "kubeconfig"
        kubeconfig.write_text(
            "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
            f"clusters: [{{name: c, cluster: {{server: '{api_client.configuration.host}'}}}}]\n"
            "contexts: [{name: c, context: {cluster: c, user: u}}]\nusers: [{name: u, user: {token: t}}]\n"
        )
        monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
        monkeypatch.setenv("GITHUB_ACTIONS", "true")
        monkeypatch.setenv("COLUMNS", "60")
        code = main(["--outputs", str(outputs), "--evidence", str(tmp_path / "e"), "--deadline", "60", "--json"])
    out, err = capsys.readouterr()
    failed = [c for c in json.loads((tmp_path / "e" / "evidence.json").read_text())["checks"] if c["status"] == "fail"]
    assert code == 1
    assert failed, "a cluster without admission fails the run"
    summary = json.loads(out)  # stdout holds the JSON summary and nothing else
    assert summary["summary"]["fail"] == len(failed)
    assert [c["id"] for c in summary["checks"] if c["status"] == "fail"] == [c["id"] for c in failed]
    annotations = [line for line in err.splitlines() if line.startswith("::error title=")]
    assert len(annotations) == len(failed)
    assert all("%0A" not in a.split("::", 2)[1] and "\n" not in a for a in annotations)
    lines = err.splitlines()
    assert any(line.startswith("… ") for line in lines), "progress is logged, one line per step"
    for check in failed:  # each failure whole on one line, however narrow the log
        assert any(check["title"] in line and check["expected"] in line for line in lines), check["title"]
    assert "\x1b[" not in err, "no colour codes in a log"


def test_annotations_escape_what_github_would_read_as_commands() -> None:
    result = CheckResult("chain/demo:x,y", "Title 100%", "fail", "denied", "admitted\nby: webhook")
    assert evidence.github_annotations([result, CheckResult("ok", "t", "pass", "e", "o")]) == [
        "::error title=chain/demo%3Ax%2Cy::Title 100%25: expected denied; observed admitted%0Aby: webhook"
    ]


def test_one_image_is_verified_against_the_stack_as_a_release_workflows_last_step(
    registry: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from scripts.checks.cosign_writer import attest_legacy
    from scripts.verify import main

    key = ec.generate_private_key(ec.SECP256R1())
    outputs = tmp_path / "outputs-local.json"
    outputs.write_text(
        json.dumps(
            {
                "environment": "local",
                "registryLoginServer": registry.host,
                "trustModel": _model(registry.host, key).to_json(),
            }
        )
    )
    released = push_canary(registry, f"apps/{uuid.uuid4().hex[:6]}", "v1", nonce="released")
    sign_legacy(registry, released, key)
    attest_legacy(registry, released, key, "https://spdx.dev/Document", {"packages": [{"name": "openssl"}]})
    unsigned = push_canary(registry, f"apps/{uuid.uuid4().hex[:6]}", "v1", nonce="unsigned")

    def verify(image: ImageRef) -> int:
        return main(["image", "--outputs", str(outputs), "--evidence", str(tmp_path / "e"), str(image)])

    assert verify(released) == 0
    out = capsys.readouterr().out
    assert out.endswith(f"verified: {released}: meets every namespace\n")
    assert "legacy signature: verified by key local-signing (pinned public key)" in out
    assert verify(unsigned) == 1
    out = capsys.readouterr().out
    assert out.startswith(f"rejected: {unsigned}: demo: no signature by a trusted signer")
    assert json.loads((tmp_path / "e" / "evidence.json").read_text())["context"]["image"] == str(unsigned)


def test_a_namespace_requiring_a_scan_gets_a_canary_with_a_critical_finding_and_clean_scans_elsewhere(
    registry: Registry,
) -> None:
    from components.model.trust import VulnerabilityScan
    from scripts.checks.canaries import push_canaries
    from scripts.checks.images import check_image, requirement_problems
    from scripts.checks.verification import trusted_root

    key = ec.generate_private_key(ec.SECP256R1())
    scanned = NamespacePolicy("demo", "enforce", "spdx", vulnerabilities=VulnerabilityScan("high", 24))
    model = replace(_model(registry.host, key), namespaces=(scanned,))
    options = Options(signing_key=key, run_id=uuid.uuid4().hex[:8])
    cases = {c.id: c for c in plan_cases(model, options)}
    assert cases["demo/critical-finding"].containers == ("vulnerable",)
    assert not cases["demo/critical-finding"].admit

    # a repository of its own: the full run's test expects the canary repository empty after its cleanup
    images = push_canaries(registry, f"{CANARY_REPOSITORY}-{options.run_id}", model, options, {"trusted", "vulnerable"})
    root = trusted_root()
    assert requirement_problems(check_image(registry, images["trusted"], model, root), scanned, model) == []
    (problem,) = requirement_problems(check_image(registry, images["vulnerable"], model, root), scanned, model)
    assert "high" in problem, problem


def test_without_a_key_every_case_that_needs_a_signed_canary_is_skipped_and_says_why() -> None:
    raw = stack_raw("prod")  # SBOM and provenance in payments; a scan requirement added
    raw["admission"]["attestations"]["payments"]["vulnerabilities"] = {"maxSeverity": "medium", "maxAgeHours": 24}
    model = trust_model(parse_stack_config(raw, today=datetime.date(2026, 11, 24)))
    signed_canaries = {"trusted", "moved-tag", "no-sbom", "vulnerable", "bad-provenance"}
    cases = plan_cases(model, Options())
    needing = [c for c in cases if signed_canaries & {*c.containers, *c.init}]
    assert {"payments/critical-finding", "payments/foreign-provenance", "payments/missing-sbom"} <= {
        c.id for c in needing
    }
    assert all(c.skip_reason.startswith("no trusted signing key") for c in needing), [
        c.id for c in needing if not c.skip_reason
    ]
    assert not [c.id for c in cases if c not in needing and c.skip_reason and "known-good" not in c.id]


DIGEST = "sha256:" + "0123456789abcdef" * 4


def test_a_known_good_reference_is_read_by_digest_with_its_tag_dropped() -> None:
    assert parse_image(f"registry.example:5000/payments/api:v1@{DIGEST}") == ImageRef(
        "registry.example:5000", "payments/api", DIGEST
    )


@pytest.mark.parametrize(
    "reference",
    [
        "registry.example/payments/api:v1",  # no digest
        "registry.example/payments/api@sha512:" + "0" * 128,
        "registry.example/payments/api@sha256:abc",  # too short
        "registry.example/payments/api@" + DIGEST.upper().replace("SHA256", "sha256"),  # upper-case hex
        f"registry.example/payments/api@{DIGEST}@{DIGEST}",  # a second digest
        f"registry.example/payments/api@{DIGEST}\n",
    ],
)
def test_a_known_good_reference_without_one_sha256_digest_is_refused(reference: str) -> None:
    with pytest.raises(UsageError, match=r"--known-good must be IMAGE@sha256:DIGEST \(64 lowercase hex digits\)"):
        parse_image(reference)


def test_a_known_good_reference_must_name_its_registry() -> None:
    with pytest.raises(UsageError, match="--known-good must name its registry"):
        parse_image(f"payments@{DIGEST}")


def test_a_huge_known_good_reference_is_quoted_short_in_the_refusal() -> None:
    with pytest.raises(UsageError) as refused:
        parse_image("x" * 100_000 + f"@{DIGEST}")
    assert len(str(refused.value)) < 300
