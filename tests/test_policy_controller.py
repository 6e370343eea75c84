"""Policy Controller documents: schema-exact, the same trust model as Kyverno, enforce namespaces
only, and images no policy matches refused."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from components.model.config import parse_stack_config
from components.model.contract import POLICY_CONTROLLER_INCLUDE_LABEL as INCLUDE_LABEL
from components.model.trust import TrustModel, trust_model
from components.render.policy_controller_policies import policy_controller_policies
from components.render.policy_controller_values import CHART_VERSION, policy_controller_values
from scripts.planning import Plan, kubernetes_manifests
from tests.certificates import self_signed_pem
from tests.conftest import SHIPPED_STACKS, stack_raw
from tests.upstream import chart_values, crd_errors, unknown_values

Manifest = dict[str, Any]


def _self_signed(common_name: str) -> str:
    return self_signed_pem(common_name)


FULCIO_ROOT = _self_signed("fulcio.contoso.example")


def model_of(stack: str, edit: Callable[[dict[str, Any]], None] | None = None) -> TrustModel:
    raw = stack_raw(stack)
    if edit is not None:
        edit(raw)
    return trust_model(parse_stack_config(raw))


def docs_of(stack: str, edit: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Manifest]:
    return {d["metadata"]["name"]: d for d in policy_controller_policies(model_of(stack, edit))}


def _with_policy_controller(raw: dict[str, Any]) -> None:
    raw["admission"]["engines"] = ["kyverno", "policy-controller"]


def glob_matches(glob: str, image: str) -> bool:
    """Policy Controller's documented glob semantics: `**` spans `/`, `*` does not."""
    pattern = re.escape(glob).replace(r"\*\*", "\0").replace(r"\*", "[^/]*").replace("\0", ".*")
    return re.fullmatch(pattern, image) is not None


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_every_document_validates_strictly_against_its_upstream_crd(shared_dir: Path, stack: str) -> None:
    for doc in policy_controller_policies(model_of(stack)):
        assert crd_errors(doc) == [], f"{stack}: {doc['kind']}/{doc['metadata']['name']}"


def test_private_sigstore_trust_root_validates_and_is_referenced(shared_dir: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    rekor_pem = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )

    def private(raw: dict[str, Any]) -> None:
        raw["signing"]["sigstore"] = {
            "rekorUrl": "https://rekor.sigstore.contoso.example",
            "rekorPublicKey": rekor_pem,
            "fulcioUrl": "https://fulcio.sigstore.contoso.example",
            "fulcioRoots": FULCIO_ROOT,
        }

    docs = docs_of("prod", private)
    root = docs["supply-chain"]
    assert crd_errors(root) == []
    keys = root["spec"]["sigstoreKeys"]
    assert base64.b64decode(keys["tLogs"][0]["publicKey"]).decode() == rekor_pem, "[]byte fields are base64"
    (authority,) = keys["certificateAuthorities"]
    assert base64.b64decode(authority["certChain"]).decode() == FULCIO_ROOT
    assert authority["subject"] == {"organization": "contoso", "commonName": "fulcio.contoso.example"}
    assert authority["uri"] == "https://fulcio.sigstore.contoso.example"
    keyless = docs["verify-image-signatures"]["spec"]["authorities"][0]
    assert keyless["keyless"]["trustRootRef"] == "supply-chain"
    assert keyless["ctlog"] == {"url": "https://rekor.sigstore.contoso.example", "trustRootRef": "supply-chain"}


def test_values_exist_in_the_pinned_chart_and_satisfy_its_schema(shared_dir: Path) -> None:
    folder = shared_dir / "upstream/policy-controller/chart"
    assert yaml.safe_load((folder / "Chart.yaml").read_text())["version"] == CHART_VERSION
    schema = json.loads((folder / "values.schema.json").read_text())
    for client_id in (None, "00000000-0000-0000-0000-000000000001"):
        values = policy_controller_values(workload_identity_client_id=client_id)
        assert unknown_values(values, chart_values("policy-controller")) == []
        jsonschema.validate(values, schema)


def test_workload_identity_label_survives_the_charts_unquoted_label_template() -> None:
    webhook = policy_controller_values(workload_identity_client_id="c")["webhook"]
    rendered = yaml.safe_load("\n".join(f"{k}: {v}" for k, v in webhook["customLabels"].items()))
    assert rendered == {"azure.workload.identity/use": "true"}, "a string, as Kubernetes requires of label values"


def test_webhook_denies_unmatched_images_and_never_sees_system_namespaces() -> None:
    webhook = policy_controller_values()["webhook"]
    assert webhook["configData"] == {"no-match-policy": "deny"}
    assert webhook["failurePolicy"] == "Fail"
    assert webhook["replicaCount"] == 3
    assert webhook["podDisruptionBudget"] == {"enabled": True, "minAvailable": 2}
    expressions = webhook["namespaceSelector"]["matchExpressions"]
    assert {"key": INCLUDE_LABEL, "operator": "In", "values": ["true"]} in expressions
    excluded = next(e["values"] for e in expressions if e["operator"] == "NotIn")
    assert {"kube-system", "kyverno", "cosign-system"} <= set(excluded)


def test_signature_policy_trusts_exactly_the_trust_model() -> None:
    policy = docs_of("prod")["verify-image-signatures"]
    spec = policy["spec"]
    assert spec["mode"] == "enforce"
    assert [a["name"] for a in spec["authorities"]] == ["keyless", "key-image-signing"]
    keyless, key = spec["authorities"]
    assert keyless["keyless"]["identities"] == [
        {
            "issuer": "https://token.actions.githubusercontent.com",
            "subject": "https://github.com/contoso/payments-api/.github/workflows/release.yml@refs/heads/main",
        },
        {
            "issuer": "https://token.actions.githubusercontent.com",
            "subject": "https://github.com/contoso/storefront-web/.github/workflows/release.yml@refs/heads/main",
        },
    ], "the builder signs provenance only: never trusted for an image signature"
    assert key["key"] == {
        "kms": "azurekms://kv-crcontosoprod.vault.azure.net/image-signing/<current version of image-signing>",
        "hashAlgorithm": "sha256",
    }, "the current version by number (filled in at deploy)"
    assert key["ctlog"] == {"url": "https://rekor.sigstore.dev"}, "the transparency log is checked"
    assert {a["signatureFormat"] for a in spec["authorities"]} == {"legacy"}, "prod signs legacy: it trusts a key"


@pytest.mark.parametrize(
    ("image", "covered"),
    [
        ("crcontosoprod.azurecr.io/payments/api@sha256:" + "a" * 64, True),
        ("crcontosoprod.azurecr.io/a/b/c:1", True),
        ("crcontosoprod.azurecr.io.evil.example/payments/api:1", False),
        ("index.docker.io/library/nginx:1", False),
    ],
)
def test_signature_policy_covers_every_repository_of_the_registry_and_nothing_else(image: str, covered: bool) -> None:
    globs = [g["glob"] for g in docs_of("prod")["verify-image-signatures"]["spec"]["images"]]
    assert any(glob_matches(g, image) for g in globs) is covered


def test_extra_registries_pass_without_signatures_and_everything_else_is_unmatched() -> None:
    def allow(raw: dict[str, Any]) -> None:
        raw["admission"]["allowedRegistries"] = ["mcr.microsoft.com"]

    docs = docs_of("prod", allow)
    allowed = docs["allow-registry-mcr.microsoft.com"]
    assert allowed["spec"]["authorities"] == [{"name": "allowed-registry", "static": {"action": "pass"}}]
    assert glob_matches(allowed["spec"]["images"][0]["glob"], "mcr.microsoft.com/dotnet/runtime:8.0")


def test_an_extra_registry_policy_is_an_enforced_cluster_image_policy_the_api_server_accepts(
    shared_dir: Path,
) -> None:
    def allow(raw: dict[str, Any]) -> None:
        raw["admission"]["allowedRegistries"] = ["mcr.microsoft.com"]

    allowed = docs_of("prod", allow)["allow-registry-mcr.microsoft.com"]
    assert crd_errors(allowed) == []
    assert allowed["apiVersion"] == "policy.sigstore.dev/v1beta1"
    assert allowed["kind"] == "ClusterImagePolicy"
    assert allowed["spec"]["mode"] == "enforce", "warn would only log the images no other policy matches"
    assert allowed["metadata"]["annotations"]["supply-chain/title"] == "Allow mcr.microsoft.com"


def test_the_webhook_runs_as_the_service_account_its_federated_credential_names() -> None:
    webhook = policy_controller_values(workload_identity_client_id="00000000-0000-0000-0000-00000000000b")["webhook"]
    assert webhook["serviceAccount"] == {
        "create": True,
        "name": "policy-controller-webhook",
        "annotations": {"azure.workload.identity/client-id": "00000000-0000-0000-0000-00000000000b"},
    }


def test_both_webhooks_wait_for_registry_and_log_round_trips_within_the_api_servers_limit() -> None:
    timeouts = policy_controller_values()["cosign"]["webhookTimeoutSeconds"]
    assert timeouts == {"mutating": 15, "validating": 15}


def test_tlog_optional_key_has_no_ctlog() -> None:
    def offline(raw: dict[str, Any]) -> None:
        raw["signing"]["keys"][0]["transparencyLogRequired"] = False
        raw["signing"]["signatureFormat"] = "legacy"
        _with_policy_controller(raw)

    (key,) = docs_of("local", offline)["verify-image-signatures"]["spec"]["authorities"]
    assert "ctlog" not in key, "without ctlog Policy Controller skips the log: only when config says so"


def test_a_mixed_case_key_name_becomes_a_lowercase_authority_name() -> None:
    def named(raw: dict[str, Any]) -> None:
        raw["signing"]["keys"][0]["name"] = "Release-Key2"
        raw["signing"]["signatureFormat"] = "legacy"
        _with_policy_controller(raw)

    (key,) = docs_of("local", named)["verify-image-signatures"]["spec"]["authorities"]
    assert key["name"] == "key-release-key2"


def test_no_documents_without_an_enforce_namespace() -> None:
    assert policy_controller_policies(model_of("dev")) == []


def test_plan_installs_pinned_chart_and_labels_only_enforce_namespaces(plan_of: Callable[[str], Plan]) -> None:
    plan = plan_of("prod")
    (release,) = [r for r in plan.of_type("kubernetes:helm.sh/v3:Release") if r.inputs["chart"] == "policy-controller"]
    assert release.inputs["version"] == CHART_VERSION
    assert release.inputs["namespace"] == "cosign-system"
    values = release.inputs["values"]["webhook"]
    assert values["serviceAccount"]["annotations"] == {
        "azure.workload.identity/client-id": plan.outputs["admissionClientId"]
    }
    for policy in plan.of_type("kubernetes:policy.sigstore.dev/v1beta1:ClusterImagePolicy"):
        assert release.urn in policy.depends_on
    labels = {
        doc["metadata"]["name"]: doc["metadata"]["labels"]
        for _, doc in kubernetes_manifests(plan)
        if doc["kind"] == "Namespace"
    }
    assert {ns for ns, lab in labels.items() if lab.get(INCLUDE_LABEL) == "true"} == {"payments", "storefront"}
    assert plan.outputs["policyControllerPolicies"] == [
        "verify-image-signatures",
        "tenant-payments",
        "attest-sbom-payments",
        "attest-provenance-payments",
        "tenant-storefront",
        "attest-sbom-storefront",
    ]


def _policy_controller_glob(glob: str) -> re.Pattern[str]:
    """Policy Controller's documented glob reading: `**` any characters, `*` any but `/`, whole reference."""
    pattern = re.escape(glob).replace(r"\*\*", "\0").replace(r"\*", "[^/]*").replace("\0", ".*")
    return re.compile(f"^{pattern}$")


def test_a_tenants_repositories_need_its_own_signer_by_tag_or_digest() -> None:
    docs = docs_of("prod")
    payments = docs["tenant-payments"]["spec"]
    assert [a["keyless"]["identities"] for a in payments["authorities"] if "keyless" in a] == [
        [
            {
                "issuer": "https://token.actions.githubusercontent.com",
                "subject": "https://github.com/contoso/payments-api/.github/workflows/release.yml@refs/heads/main",
            }
        ]
    ]
    (glob,) = [g["glob"] for g in payments["images"]]
    covers = _policy_controller_glob(glob).fullmatch
    reg = "crcontosoprod.azurecr.io"
    assert covers(f"{reg}/payments/api@sha256:" + "a" * 64)
    assert covers(f"{reg}/payments/api:1.2.3")
    assert not covers(f"{reg}/storefront/web@sha256:" + "a" * 64)
    assert not covers(f"{reg}.evil.example/payments/api@sha256:" + "a" * 64)
    assert "tenant-analytics" not in docs, "an audit namespace has no Policy Controller gate"
