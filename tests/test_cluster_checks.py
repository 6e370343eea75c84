"""Contract tests of the post-deploy run: what it asks the API server (dry runs only, nothing
persistent), how it reads the answers, the cases it plans, and the evidence it leaves. Real
admission decisions are the e2e suite's (tests/e2e); here a stand-in API server admits what the
test's oracle says."""

from __future__ import annotations

import json
import uuid
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from components.model.contract import Mode, StackOutputs
from components.model.trust import (
    KeyAuthority,
    KeylessAuthority,
    NamespacePolicy,
    Provenance,
    SigstoreInstance,
    TrustModel,
)
from scripts.checks import evidence
from scripts.checks.canaries import CANARY_REPOSITORY
from scripts.checks.cases import FOREIGN_IMAGE, Case, known_good_targets, plan_cases
from scripts.checks.cluster import Cluster, pod_manifest
from scripts.checks.cosign import push_canary, sign_legacy
from scripts.checks.oci import Registry
from scripts.checks.options import Options
from scripts.checks.outputs import parse_outputs
from scripts.checks.runner import run_all
from scripts.checks.verification import trusted_root
from tests.fake_kube import ADMITTED, AUDITED, FakeApi, serve
from tests.fake_kube import denied as denial

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
    no_key = "no trusted signing key given (--signing-key, or the local stack's generated key)"
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
    from scripts.checks.cosign import attest_legacy

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
    threading.Thread(target=server.serve_forever, daemon=True).start()
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
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from scripts.verify import main

    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters: [{name: c, cluster: {server: 'http://127.0.0.1:9'}}]\n"
        "contexts: [{name: c, context: {cluster: c, user: u}}]\nusers: [{name: u, user: {token: t}}]\n"
    )
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
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
    assert main(["--outputs", str(outputs), "--context", "missing"]) == 2
    assert main(["--outputs", str(outputs), "--known-good", "no-digest"]) in (2, 3)


def test_outside_network_probe(loopback_registry: str) -> None:
    from scripts.checks.posture import public_access

    assert public_access(Registry("127.0.0.1:9", plain_http=True, timeout=1)).status == "pass"
    open_registry = public_access(Registry(loopback_registry, plain_http=True, timeout=5))
    assert open_registry.status == "fail", "an anonymous registry answering from here is open"
    assert open_registry.observed == "HTTP 200 from here"


def test_malformed_attachments_fail_the_check_instead_of_crashing(loopback_registry: str) -> None:
    from scripts.checks.cosign import SIMPLE_SIGNING, _append_layer
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
