"""Kyverno documents rendered from the trust model: schema-exact, fail closed where enforced, never
deny in audit, never touch system namespaces, and deciding admission the way the config says."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import celpy
import pytest
import yaml

from components.model.config import ConfigError, parse_stack_config
from components.model.contract import SBOM_FORMATS, SLSA_PROVENANCE_V02, SLSA_PROVENANCE_V1
from components.model.trust import TrustModel, trust_model
from components.render.cel import cel_string, glob_regex
from components.render.kyverno_policies import kyverno_policies
from components.render.kyverno_values import CHART_VERSION, kyverno_values
from scripts.checks.provenance import github_provenance_v1
from scripts.planning import Plan, kubernetes_manifests
from tests.cel_harness import Registry, admit, compile_expression, condition_holds, expressions, pod
from tests.certificates import self_signed_pem
from tests.conftest import SHIPPED_STACKS, only, stack_raw
from tests.upstream import chart_values, crd_errors, unknown_values

Manifest = dict[str, Any]

REG = "crcontosoprod.azurecr.io"
DIGEST = "@sha256:" + "a" * 64
GOOD = f"{REG}/payments/api{DIGEST}"
SIDECAR = f"{REG}/platform/envoy{DIGEST}"
WORKFLOW = "https://github.com/contoso/workflows/.github/workflows/build-sign-attest.yml@refs/heads/main"


def model_of(stack: str, edit: Callable[[dict[str, Any]], None] | None = None) -> TrustModel:
    raw = stack_raw(stack)
    if edit is not None:
        edit(raw)
    return trust_model(parse_stack_config(raw))


def policies_of(stack: str, edit: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Manifest]:
    return {doc["metadata"]["name"]: doc for doc in kyverno_policies(model_of(stack, edit))}


# --- schema and chart ----------------------------------------------------------------------------


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_every_document_validates_strictly_against_its_upstream_crd(shared_dir: Path, stack: str) -> None:
    for doc in kyverno_policies(model_of(stack)):
        assert crd_errors(doc) == [], f"{stack}: {doc['kind']}/{doc['metadata']['name']}"


def test_strict_validation_catches_a_misspelled_field(shared_dir: Path) -> None:
    doc = policies_of("prod")["verify-image-signatures-enforce"]
    doc["spec"]["validationConfiguration"] = doc["spec"].pop("validationConfigurations")
    assert any("validationConfiguration" in e for e in crd_errors(doc))


@pytest.mark.parametrize("client_id", [None, "00000000-0000-0000-0000-000000000001"])
def test_every_helm_value_exists_in_the_pinned_chart(shared_dir: Path, client_id: str | None) -> None:
    chart = yaml.safe_load((shared_dir / "upstream/kyverno-1.19.0/chart/Chart.yaml").read_text())
    assert chart["version"] == CHART_VERSION, "the schemas tested against are the pinned chart's"
    values = kyverno_values(workload_identity_client_id=client_id, plain_http_registry=True, pull_secret="regcred")
    assert unknown_values(values, chart_values("kyverno")) == []


def test_kyverno_is_highly_available_and_exceptions_are_confined() -> None:
    values = kyverno_values()
    assert values["admissionController"]["replicas"] == 3
    assert values["admissionController"]["podDisruptionBudget"] == {"enabled": True, "minAvailable": 2}
    assert values["features"]["policyExceptions"] == {"enabled": True, "namespace": "kyverno"}
    selector = values["config"]["webhooks"]["namespaceSelector"]["matchExpressions"]
    assert selector == [
        {
            "key": "kubernetes.io/metadata.name",
            "operator": "NotIn",
            "values": ["kube-system", "kyverno", "cosign-system"],
        }
    ]
    assert values["features"]["registryClient"]["allowInsecure"] is False


def test_on_aks_both_controllers_read_the_registry_as_the_workload_identity_and_nothing_else() -> None:
    values = kyverno_values(workload_identity_client_id="00000000-0000-0000-0000-00000000000a")
    for controller in ("admissionController", "reportsController"):
        assert values[controller]["rbac"] == {
            "serviceAccount": {
                "annotations": {"azure.workload.identity/client-id": "00000000-0000-0000-0000-00000000000a"}
            }
        }
        assert values[controller]["podLabels"] == {"azure.workload.identity/use": "true"}
    assert values["features"]["registryClient"] == {"allowInsecure": False, "credentialHelpers": ["azure"]}


def test_off_azure_no_controller_claims_a_workload_identity() -> None:
    values = kyverno_values(pull_secret="regcred")
    for controller in ("admissionController", "reportsController"):
        assert "rbac" not in values[controller]
        assert "podLabels" not in values[controller]
    assert values["features"]["registryClient"] == {"allowInsecure": False}, "no cloud credential helper is tried"


def test_kyverno_never_polices_its_own_namespace() -> None:
    assert kyverno_values()["config"]["excludeKyvernoNamespace"] is True


# --- CEL ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_every_cel_expression_compiles(stack: str) -> None:
    docs = kyverno_policies(model_of(stack))
    found = [e for doc in docs for e in expressions(doc)]
    assert found, "policies carry CEL"
    for expression in found:
        compile_expression(expression)


# --- modes and scope ---------------------------------------------------------------------------


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_enforce_fails_closed_and_audit_never_denies(stack: str) -> None:
    model = model_of(stack)
    for doc in kyverno_policies(model):
        if doc["kind"] == "PolicyException":
            continue
        selected = _selected_namespaces(doc, model)
        assert selected, doc["metadata"]["name"]
        listed = {ns.name for ns in model.namespaces}
        modes = {model.namespace(ns).mode if ns in listed else model.default_mode for ns in selected}
        assert len(modes) == 1, f"{doc['metadata']['name']} mixes modes"
        spec = doc["spec"]
        if modes == {"enforce"}:
            assert spec["validationActions"] == ["Deny"]
            assert spec["failurePolicy"] == "Fail"
        else:
            assert "Deny" not in spec["validationActions"]
            assert spec["failurePolicy"] == "Ignore"
            assert spec.get("validationConfigurations", {}).get("mutateDigest", False) is False


def _selected_namespaces(doc: Manifest, model: TrustModel) -> set[str]:
    """The namespaces (the stack's, some unlisted and the system ones) whose Pod creates reach `doc`, as
    Kyverno matches."""
    candidates = [ns.name for ns in model.namespaces]
    candidates += ["default", "kube-public", "created-tomorrow", "kube-system", "kyverno", "cosign-system"]
    return {ns for ns in candidates if admit(doc, pod(ns, [GOOD])).matched}


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_no_policy_matches_system_or_engine_namespaces(stack: str) -> None:
    model = model_of(stack)
    for doc in kyverno_policies(model):
        if doc["kind"] == "PolicyException":
            assert doc["metadata"]["namespace"] == "kyverno"
            continue
        selected = _selected_namespaces(doc, model)
        assert not selected & {"kube-system", "kyverno", "cosign-system"}
        rules = doc["spec"]["matchConstraints"]["resourceRules"]
        assert rules[0]["resources"] == ["pods", "pods/ephemeralcontainers"]


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_every_policy_carries_the_reviewer_annotations(stack: str) -> None:
    for doc in kyverno_policies(model_of(stack)):
        if doc["kind"] == "PolicyException":
            assert {"supply-chain/owner", "supply-chain/reason", "supply-chain/expires"} <= set(
                doc["metadata"]["annotations"]
            )
            continue
        annotations = doc["metadata"]["annotations"]
        for key in ("title", "category", "severity", "subject", "minversion", "description"):
            assert annotations.get(f"policies.kyverno.io/{key}"), f"{doc['metadata']['name']} lacks {key}"


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_every_policy_decides_at_admission_and_reports_on_pods_already_running(stack: str) -> None:
    for doc in kyverno_policies(model_of(stack)):
        if doc["kind"] != "PolicyException":
            evaluation = doc["spec"]["evaluation"]
            assert evaluation == {"admission": {"enabled": True}, "background": {"enabled": True}}, doc["metadata"]


def test_reports_rank_a_missing_signature_or_provenance_high_and_a_missing_sbom_medium() -> None:
    severity = {
        name: doc["metadata"]["annotations"]["policies.kyverno.io/severity"]
        for name, doc in policies_of("prod").items()
        if doc["kind"] != "PolicyException"
    }
    assert severity["verify-image-signatures-enforce"] == "high"
    assert severity["verify-image-signatures-audit"] == "high"
    assert severity["restrict-image-registries-enforce"] == "high"
    assert severity["require-provenance-payments"] == "high"
    assert severity["require-sbom-payments"] == "medium"


def test_policy_set_per_stack() -> None:
    assert sorted(policies_of("prod")) == [
        "legacy-report-renderer",
        "require-provenance-payments",
        "require-sbom-payments",
        "require-sbom-storefront",
        "require-signers-payments",
        "require-signers-storefront",
        "restrict-image-registries-audit",
        "restrict-image-registries-enforce",
        "restrict-repositories-payments",
        "restrict-repositories-storefront",
        "verify-image-signatures-audit",
        "verify-image-signatures-enforce",
    ]
    assert sorted(policies_of("dev")) == [
        "require-provenance-payments",
        "require-sbom-payments",
        "restrict-image-registries-audit",
        "verify-image-signatures-audit",
    ]


# --- admission truth table: signatures -------------------------------------------------------


@pytest.fixture
def signatures() -> Manifest:
    return policies_of("prod")["verify-image-signatures-enforce"]


def test_signed_pod_is_admitted(signatures: Manifest) -> None:
    registry = Registry().sign(GOOD, "keyless").sign(SIDECAR, "key_image_signing")
    assert admit(signatures, pod("payments", [GOOD, SIDECAR]), registry).allowed


def test_unsigned_image_is_denied(signatures: Manifest) -> None:
    outcome = admit(signatures, pod("payments", [GOOD]), Registry())
    assert not outcome.allowed
    assert outcome.message is not None
    assert "not signed by a trusted signer" in outcome.message


def test_image_signed_by_an_unknown_signer_is_denied(signatures: Manifest) -> None:
    assert not admit(signatures, pod("payments", [GOOD]), Registry().sign(GOOD, "someone-else")).allowed


def test_unsigned_init_container_is_denied(signatures: Manifest) -> None:
    registry = Registry().sign(GOOD, "keyless")
    assert not admit(signatures, pod("payments", [GOOD], init=[SIDECAR]), registry).allowed


def test_unsigned_ephemeral_container_is_denied(signatures: Manifest) -> None:
    registry = Registry().sign(GOOD, "keyless")
    assert admit(signatures, pod("payments", [GOOD]), registry).allowed
    assert not admit(signatures, pod("payments", [GOOD], ephemeral=[SIDECAR]), registry).allowed


def test_images_outside_the_signed_registry_are_left_to_the_registry_policy(signatures: Manifest) -> None:
    registry = Registry().sign(GOOD, "keyless")
    assert admit(signatures, pod("payments", [GOOD, "docker.io/library/busybox:1"]), registry).allowed
    registries = policies_of("prod")["restrict-image-registries-enforce"]
    assert not admit(registries, pod("payments", [GOOD, "docker.io/library/busybox:1"])).allowed


ROTATED = date(2027, 3, 1)
OLD_VERSION = "0" * 31 + "1"


def _rotation(until: date | None) -> Callable[[dict[str, Any]], None]:
    """prod rotated on ROTATED: the old version listed with its overlap (None: the entry removed)."""

    def edit(raw: dict[str, Any]) -> None:
        previous = [] if until is None else [{"version": OLD_VERSION, "until": until}]
        raw["signing"]["keys"][0]["previousVersions"] = previous

    return edit


def _signatures_on(day: date, until: date | None) -> Manifest:
    model = trust_model(parse_stack_config(_edited("prod", _rotation(until)), today=day))
    return {d["metadata"]["name"]: d for d in kyverno_policies(model)}["verify-image-signatures-enforce"]


def _edited(stack: str, edit: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    raw = stack_raw(stack)
    edit(raw)
    return raw


def test_the_day_after_rotation_the_old_version_still_admits_and_after_the_overlap_it_does_not() -> None:
    until = ROTATED + timedelta(days=30)
    signed_with_old = Registry().sign(GOOD, "key_image_signing_00000000")
    day_after = _signatures_on(ROTATED + timedelta(days=1), until)
    kms = [a["cosign"]["key"].get("kms") for a in day_after["spec"]["attestors"][1:]]
    assert kms == [
        "azurekms://kv-crcontosoprod.vault.azure.net/image-signing/<current version of image-signing>",
        f"azurekms://kv-crcontosoprod.vault.azure.net/image-signing/{OLD_VERSION}",
    ], "every version by number: a versionless URI would follow the rotation and drop the old images at once"
    assert admit(day_after, pod("payments", [GOOD]), signed_with_old).allowed
    assert admit(day_after, pod("payments", [GOOD]), Registry().sign(GOOD, "key_image_signing")).allowed
    # the day after the overlap the plan refuses the entry; once it is removed the old version is not trusted
    with pytest.raises(ConfigError) as refused:
        parse_stack_config(_edited("prod", _rotation(until)), today=until + timedelta(days=1))
    assert "signing.keys[0].previousVersions[0].until" in str(refused.value)
    after = _signatures_on(until + timedelta(days=1), None)
    assert not admit(after, pod("payments", [GOOD]), signed_with_old).allowed
    assert admit(after, pod("payments", [GOOD]), Registry().sign(GOOD, "key_image_signing")).allowed


def test_pinned_public_key_is_verified_offline_instead_of_through_the_vault() -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    pem = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )

    def pin(raw: dict[str, Any]) -> None:
        raw["signing"]["keys"][0]["publicKey"] = pem

    policy = policies_of("prod", pin)["verify-image-signatures-enforce"]
    assert policy["spec"]["attestors"][1]["cosign"]["key"] == {"data": pem}


def test_a_pattern_identity_is_trusted_by_its_pattern_and_nothing_wider() -> None:
    policy = policies_of("dev")["verify-image-signatures-audit"]
    assert policy["spec"]["attestors"][0]["cosign"]["keyless"]["identities"] == [
        {
            "issuer": "https://token.actions.githubusercontent.com",
            "subjectRegExp": r"^https://github\.com/contoso/[A-Za-z0-9_.-]+/\.github/workflows/release\.yml@refs/heads/main$",
        }
    ], "an empty subjectRegExp would match every identity the issuer vouches for"


# --- a private Sigstore instance, and a key signing offline ------------------------------------


def _public_key_pem() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


PRIVATE_REKOR_KEY, PRIVATE_CT_KEY = _public_key_pem(), _public_key_pem()
PRIVATE_FULCIO_ROOT = self_signed_pem("fulcio.contoso.example")
PRIVATE_TSA_CHAIN = self_signed_pem("tsa.contoso.example")
PRIVATE_TUF_ROOT = base64.b64encode(
    json.dumps(
        {
            "signed": {"_type": "root", "keys": {"k": {}}, "roles": {"root": {"keyids": ["k"]}}},
            "signatures": [{"keyid": "k", "sig": "00"}],
        }
    ).encode()
).decode()


def _private_sigstore(raw: dict[str, Any]) -> None:
    raw["signing"]["sigstore"] = {
        "rekorUrl": "https://rekor.contoso.example",
        "rekorPublicKey": PRIVATE_REKOR_KEY,
        "ctLogUrl": "https://ctfe.contoso.example",
        "ctLogPublicKey": PRIVATE_CT_KEY,
        "fulcioUrl": "https://fulcio.contoso.example",
        "fulcioRoots": PRIVATE_FULCIO_ROOT,
        "tsaUrl": "https://tsa.contoso.example",
        "tsaCertChain": PRIVATE_TSA_CHAIN,
        "tufMirror": "https://tuf.contoso.example",
        "tufRoot": PRIVATE_TUF_ROOT,
    }


def test_a_private_sigstore_instance_is_trusted_through_its_own_keys_roots_and_tuf_repository(
    shared_dir: Path,
) -> None:
    docs = policies_of("prod", _private_sigstore)
    for doc in docs.values():
        assert crd_errors(doc) == [], doc["metadata"]["name"]
    keyless, key = docs["verify-image-signatures-enforce"]["spec"]["attestors"]
    ctlog = {
        "url": "https://rekor.contoso.example",
        "rekorPubKey": PRIVATE_REKOR_KEY,
        "ctLogPubKey": PRIVATE_CT_KEY,
        "tsaCertChain": PRIVATE_TSA_CHAIN,
    }
    tuf = {"mirror": "https://tuf.contoso.example", "root": {"data": PRIVATE_TUF_ROOT}}
    assert keyless["cosign"]["ctlog"] == ctlog
    assert keyless["cosign"]["keyless"]["roots"] == PRIVATE_FULCIO_ROOT, "certificates chain to its own Fulcio"
    assert keyless["cosign"]["tuf"] == tuf
    assert key["cosign"]["ctlog"] == ctlog
    assert key["cosign"]["tuf"] == tuf


def test_only_a_key_configured_to_sign_offline_skips_the_transparency_log() -> None:
    def offline(raw: dict[str, Any]) -> None:
        raw["signing"]["keys"][0].update(name="Offline-Key", transparencyLogRequired=False)
        raw["signing"]["signatureFormat"] = "legacy"

    (attestor,) = policies_of("local", offline)["verify-image-signatures-enforce"]["spec"]["attestors"]
    assert attestor["name"] == "key_Offline_Key"
    assert attestor["cosign"]["ctlog"] == {"url": "https://rekor.sigstore.dev", "insecureIgnoreTlog": True}
    (online,) = policies_of("local")["verify-image-signatures-enforce"]["spec"]["attestors"]
    assert online["cosign"]["ctlog"] == {"url": "https://rekor.sigstore.dev"}, "the log is checked by default"
    prod_key = policies_of("prod")["verify-image-signatures-enforce"]["spec"]["attestors"][1]
    assert prod_key["cosign"]["ctlog"] == {"url": "https://rekor.sigstore.dev"}


# --- attestations ----------------------------------------------------------------------------

SPDX = {"spdxVersion": "SPDX-2.3", "packages": [{"name": "openssl", "versionInfo": "3.0.13"}]}


def _provenance_v1(
    builder: str = WORKFLOW, source: str = "git+https://github.com/contoso/payments-api@refs/heads/main"
) -> dict[str, Any]:
    repository, _, ref = source.removeprefix("git+").partition("@")
    return github_provenance_v1(builder, repository, ref)


def test_sbom_required_and_must_list_packages() -> None:
    policy = policies_of("prod")["require-sbom-payments"]
    spdx = SBOM_FORMATS["spdx"].predicate_type
    ok = Registry().attest(GOOD, spdx, SPDX, "keyless")
    assert admit(policy, pod("payments", [GOOD]), ok).allowed
    missing = admit(policy, pod("payments", [GOOD]), Registry())
    assert not missing.allowed
    assert missing.message is not None
    assert "no SPDX SBOM" in missing.message
    empty = Registry().attest(GOOD, spdx, {"spdxVersion": "SPDX-2.3", "packages": []}, "keyless")
    assert not admit(policy, pod("payments", [GOOD]), empty).allowed
    wrong_signer = Registry().attest(GOOD, spdx, SPDX, "someone-else")
    assert not admit(policy, pod("payments", [GOOD]), wrong_signer).allowed
    wrong_format = Registry().attest(
        GOOD, SBOM_FORMATS["cyclonedx"].predicate_type, {"components": [{"name": "x"}]}, "keyless"
    )
    assert not admit(policy, pod("payments", [GOOD]), wrong_format).allowed


def test_provenance_must_name_the_trusted_builder_and_source() -> None:
    policy = policies_of("prod")["require-provenance-payments"]
    good = Registry().attest(GOOD, SLSA_PROVENANCE_V1, _provenance_v1(), "keyless")
    assert admit(policy, pod("payments", [GOOD]), good).allowed
    for bad in (
        _provenance_v1(builder="https://github.com/mallory/workflows/.github/workflows/b.yml@refs/heads/main"),
        _provenance_v1(source="git+https://github.com/contoso/payments-api@refs/heads/feature"),
        _provenance_v1(source="git+https://github.com/contoso/other@refs/heads/main"),
    ):
        registry = Registry().attest(GOOD, SLSA_PROVENANCE_V1, bad, "keyless")
        outcome = admit(policy, pod("payments", [GOOD]), registry)
        assert not outcome.allowed
        assert outcome.message is not None
        assert "does not name builder" in outcome.message
    assert not admit(policy, pod("payments", [GOOD]), Registry()).allowed


def _any_ref(raw: dict[str, Any]) -> None:
    del raw["admission"]["attestations"]["payments"]["provenance"]["sourceRef"]


def _v02(uri: str) -> dict[str, Any]:
    return {"builder": {"id": WORKFLOW}, "invocation": {"configSource": {"uri": uri, "digest": {"sha1": "a" * 40}}}}


def test_a_refused_provenance_says_which_builder_source_and_ref_it_must_name() -> None:
    builder = "https://github.com/contoso/workflows/.github/workflows/build-sign-attest.yml@refs/heads/main"
    pinned = admit(policies_of("prod")["require-provenance-payments"], pod("payments", [GOOD]), _attested_v1("other"))
    assert pinned.message == (
        f"the image's provenance does not name builder {builder} and source "
        "https://github.com/contoso/payments-api at refs/heads/main"
    )
    unpinned = admit(
        policies_of("prod", _any_ref)["require-provenance-payments"], pod("payments", [GOOD]), _attested_v1()
    )
    assert unpinned.message == (
        f"the image's provenance does not name builder {builder} and source https://github.com/contoso/payments-api"
    ), "no ref is required, and none is named"


def _attested_v1(repository: str = "mallory") -> Registry:
    bad = _provenance_v1(source=f"git+https://github.com/{repository}/payments-api@refs/heads/main")
    return Registry().attest(GOOD, SLSA_PROVENANCE_V1, bad, "keyless")


@pytest.mark.parametrize(
    ("uri", "pinned", "unpinned"),
    [
        ("git+https://github.com/contoso/payments-api@refs/heads/main", True, True),
        ("git+https://github.com/contoso/payments-api@refs/heads/main-unreviewed", False, True),
        ("git+https://github.com/contoso/payments-api@refs/heads/feature", False, True),
        ("git+https://github.com/contoso/payments-api-fork@refs/heads/main", False, False),
    ],
)
def test_v02_provenance_source_is_the_pinned_ref_exactly_or_any_ref_of_the_repository(
    uri: str, pinned: bool, unpinned: bool
) -> None:
    registry = Registry().attest(GOOD, SLSA_PROVENANCE_V02, _v02(uri), "keyless")
    assert (
        admit(policies_of("prod")["require-provenance-payments"], pod("payments", [GOOD]), registry).allowed is pinned
    )
    any_ref = policies_of("prod", _any_ref)["require-provenance-payments"]
    assert admit(any_ref, pod("payments", [GOOD]), registry).allowed is unpinned


def test_provenance_v02_is_accepted_with_the_same_checks() -> None:
    policy = policies_of("prod")["require-provenance-payments"]
    source = {"uri": "git+https://github.com/contoso/payments-api@refs/heads/main", "digest": {"sha1": "a" * 40}}
    predicate = {"builder": {"id": WORKFLOW}, "invocation": {"configSource": source}}

    def admitted() -> bool:
        registry = Registry().attest(GOOD, SLSA_PROVENANCE_V02, predicate, "keyless")
        return admit(policy, pod("payments", [GOOD]), registry).allowed

    assert admitted()
    source["digest"] = {"sha1": "main"}
    assert not admitted(), "v0.2 provenance names the commit it built"
    source["digest"] = {"sha1": "a" * 40}
    predicate["builder"] = {"id": "https://example.com/other-builder"}
    assert not admitted()


def test_provenance_counts_the_builds_own_source_not_a_dependency_that_names_it() -> None:
    policy = policies_of("prod")["require-provenance-payments"]
    smuggled = _provenance_v1(source="git+https://github.com/mallory/payments-api@refs/heads/main")
    smuggled["buildDefinition"]["resolvedDependencies"].append(
        {"uri": "git+https://github.com/contoso/payments-api@refs/heads/main"}
    )
    registry = Registry().attest(GOOD, SLSA_PROVENANCE_V1, smuggled, "keyless")
    assert not admit(policy, pod("payments", [GOOD]), registry).allowed


@pytest.mark.parametrize(
    "drop",
    [
        ("runDetails",),
        ("runDetails", "builder"),
        ("buildDefinition", "buildType"),
        ("buildDefinition", "externalParameters"),
        ("buildDefinition", "externalParameters", "workflow"),
        ("buildDefinition", "externalParameters", "workflow", "ref"),
    ],
)
def test_provenance_missing_a_field_is_refused_not_an_evaluation_error(drop: tuple[str, ...]) -> None:
    """An engine error is ignored in audit and reported as a failure in enforce: a refusal says what is wrong."""
    predicate = _provenance_v1()
    parent = predicate
    for key in drop[:-1]:
        parent = parent[key]
    del parent[drop[-1]]
    registry = Registry().attest(GOOD, SLSA_PROVENANCE_V1, predicate, "keyless")
    outcome = admit(policies_of("prod")["require-provenance-payments"], pod("payments", [GOOD]), registry)
    assert not outcome.allowed
    assert outcome.message is not None
    assert "does not name builder" in outcome.message


@pytest.mark.parametrize("source", [{}, {"uri": 7, "digest": {"sha1": "a" * 40}}, {"uri": "git+x", "digest": []}])
def test_v02_provenance_with_a_malformed_config_source_is_refused(source: dict[str, Any]) -> None:
    predicate = {"builder": {"id": WORKFLOW}, "invocation": {"configSource": source}}
    registry = Registry().attest(GOOD, SLSA_PROVENANCE_V02, predicate, "keyless")
    assert not admit(policies_of("prod")["require-provenance-payments"], pod("payments", [GOOD]), registry).allowed


def test_only_the_builder_signs_provenance_never_a_key_the_agents_hold() -> None:
    policy = policies_of("prod")["require-provenance-payments"]
    (attestor,) = policy["spec"]["attestors"]
    identities = attestor["cosign"]["keyless"]["identities"]
    assert [i["subjectRegExp"] if "subjectRegExp" in i else i["subject"] for i in identities] == [WORKFLOW]
    forged = Registry().attest(GOOD, SLSA_PROVENANCE_V1, _provenance_v1(), "key_image_signing")
    assert not admit(policy, pod("payments", [GOOD]), forged).allowed


# --- registries and digests --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("image", "allowed"),
    [
        (GOOD, True),
        (f"{REG}/payments/api:1.2.3", False),  # a tag can be moved after signing
        ("docker.io/library/nginx" + DIGEST, False),
        ("nginx" + DIGEST, False),
        (f"{REG}.evil.example/payments/api{DIGEST}", False),  # look-alike host
        (f"{REG}evil/payments/api{DIGEST}", False),
    ],
)
def test_registry_and_digest_policy(image: str, allowed: bool) -> None:
    policy = policies_of("prod")["restrict-image-registries-enforce"]
    assert admit(policy, pod("payments", [image])).allowed is allowed
    assert admit(policy, pod("payments", [GOOD], init=[image])).allowed is allowed


def test_extra_allowed_registries_are_allowed() -> None:
    def allow(raw: dict[str, Any]) -> None:
        raw["admission"]["allowedRegistries"] = ["mcr.microsoft.com"]

    policy = policies_of("prod", allow)["restrict-image-registries-enforce"]
    assert admit(policy, pod("payments", [f"mcr.microsoft.com/dotnet/runtime{DIGEST}"])).allowed


# --- exceptions --------------------------------------------------------------------------------


def test_exception_applies_only_when_every_image_is_exempted_in_its_namespace() -> None:
    docs = policies_of("prod")
    exception = docs["legacy-report-renderer"]
    vendor = f"{REG}/analytics/report-renderer{DIGEST}"
    assert condition_holds(exception, pod("analytics", [vendor]))
    assert not condition_holds(exception, pod("payments", [vendor])), "other namespaces are not exempted"
    assert not condition_holds(exception, pod("analytics", [vendor, SIDECAR])), "no unsigned sidecar smuggled in"
    assert not condition_holds(exception, pod("analytics", [vendor], init=[SIDECAR]))
    assert not condition_holds(exception, pod("analytics", [f"{REG}/analytics/report-renderer:latest"]))
    refs = {r["name"] for r in exception["spec"]["policyRefs"]}
    assert refs == {"verify-image-signatures-audit"}, "no exception lifts the registry allow-list"
    assert exception["spec"]["expiresAt"] == "2027-06-30T23:59:59Z"


def test_exceptions_exempt_by_condition_not_by_a_partial_images_list() -> None:
    exception = policies_of("prod")["legacy-report-renderer"]
    assert "images" not in exception["spec"], "with images a ValidatingPolicy exception would only be partial"


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_each_verification_call_names_one_attestor_so_results_are_cached(stack: str) -> None:
    import re

    for doc in kyverno_policies(model_of(stack)):
        for expression in expressions(doc):
            for attestor_list in re.findall(r"\[(attestors\.[^\]]*)\]", expression):
                assert "," not in attestor_list, f"{doc['metadata']['name']}: {attestor_list}"


@pytest.mark.parametrize("value", ["it's", "a\\b", "a\\'b", "\\", "'", "x' || true || '"])
def test_a_quote_or_backslash_in_a_value_stays_inside_its_cel_string_literal(value: str) -> None:
    environment = celpy.Environment()
    program = environment.program(environment.compile(f"{cel_string(value)} + '|'"))
    assert program.evaluate({}) == value + "|"


def test_glob_regex_is_anchored_and_literal() -> None:
    pattern = glob_regex("a.io/x:*")
    assert pattern == r"^a\.io/x:[^/]*$", "a * never crosses a / into another repository"


# --- one source of truth -----------------------------------------------------------------------


def test_changing_one_identity_changes_every_document_that_trusts_it_and_no_other() -> None:
    before = policies_of("prod")
    old_subject = "https://github.com/contoso/payments-api/.github/workflows/release.yml@refs/heads/main"
    new_subject = "https://github.com/contoso/payments-api/.github/workflows/publish.yml@refs/heads/main"

    def change(raw: dict[str, Any]) -> None:
        (identity,) = [k for k in raw["signing"]["keyless"] if k["name"] == "payments-release"]
        identity["subject"] = new_subject

    after = policies_of("prod", change)
    changed = {name for name in before if before[name] != after[name]}
    # payments' signer: every signature policy, payments' own signer and SBOM policies; not storefront's,
    # not the provenance policy (the builder signs that)
    assert changed == {
        "verify-image-signatures-audit",
        "verify-image-signatures-enforce",
        "require-signers-payments",
        "require-sbom-payments",
    }
    for name in changed:
        subjects = [i.get("subject") for i in after[name]["spec"]["attestors"][0]["cosign"]["keyless"]["identities"]]
        assert new_subject in subjects
        assert old_subject not in subjects


# --- the plan wires it -------------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["prod", "local"])
def test_plan_installs_pinned_kyverno_and_applies_policies_after_it(plan_of: Callable[[str], Plan], stack: str) -> None:
    plan = plan_of(stack)
    (release,) = [r for r in plan.of_type("kubernetes:helm.sh/v3:Release") if r.inputs["chart"] == "kyverno"]
    assert release.inputs["version"] == CHART_VERSION
    assert release.inputs["namespace"] == "kyverno"
    custom = plan.of_type("kubernetes:policies.kyverno.io/v1:ImageValidatingPolicy")
    assert custom, "policies are applied"
    for resource in custom:
        assert release.urn in resource.depends_on, f"{resource.urn} must wait for the Kyverno release"
    applied = {
        doc["metadata"]["name"]: doc
        for _, doc in kubernetes_manifests(plan)
        if "policies.kyverno.io" in doc["apiVersion"]
    }
    expected = {doc["metadata"]["name"]: doc for doc in kyverno_policies(model_of(stack))}
    assert set(applied) == set(expected), "the plan applies exactly the rendered documents"
    if stack == "prod":  # local's generated key is only known inside the plan
        # the vault key's current version is the deploy's: the plan fills in the one the agents sign with
        version = plan.outputs["signingKeyUris"]["image-signing"].rsplit("/", 1)[1]
        for name, doc in expected.items():
            filled = json.loads(json.dumps(doc["spec"]).replace("<current version of image-signing>", version))
            assert applied[name]["spec"] == filled, name


def test_aks_engines_use_workload_identity(plan_of: Callable[[str], Plan]) -> None:
    plan = plan_of("prod")
    (release,) = [r for r in plan.of_type("kubernetes:helm.sh/v3:Release") if r.inputs["chart"] == "kyverno"]
    client_id = plan.outputs["admissionClientId"]
    for controller in ("admissionController", "reportsController"):
        values = release.inputs["values"][controller]
        assert values["rbac"]["serviceAccount"]["annotations"] == {"azure.workload.identity/client-id": client_id}
        assert values["podLabels"] == {"azure.workload.identity/use": "true"}
    admission_identity = next(
        i for i in plan.of_type("azure-native:managedidentity:UserAssignedIdentity") if i.name.endswith("-admission")
    ).outputs["name"]
    subjects = {
        r.inputs["subject"]
        for r in plan.of_type("azure-native:managedidentity:FederatedIdentityCredential")
        if r.inputs["resourceName"] == admission_identity
    }
    assert subjects == {
        "system:serviceaccount:kyverno:kyverno-admission-controller",
        "system:serviceaccount:kyverno:kyverno-reports-controller",
        "system:serviceaccount:cosign-system:policy-controller-webhook",
    }
    assert {
        r.inputs["audiences"][0] for r in plan.of_type("azure-native:managedidentity:FederatedIdentityCredential")
    } == {"api://AzureADTokenExchange"}


def test_local_stack_trusts_its_generated_key_and_keeps_the_private_half_secret(plan_of: Callable[[str], Plan]) -> None:
    plan = plan_of("local")
    assert plan.outputs["signingPrivateKeysPem"] == "[secret]"
    public = plan.outputs["signingPublicKeysPem"]["local-signing"]
    assert public.startswith("-----BEGIN PUBLIC KEY-----")
    manifests = [doc for _, doc in kubernetes_manifests(plan) if doc["kind"] == "ImageValidatingPolicy"]
    for doc in manifests:
        assert doc["spec"]["attestors"] == [
            {
                "name": "key_local_signing",
                "cosign": {"key": {"data": public}, "ctlog": {"url": "https://rekor.sigstore.dev"}},
            }
        ]


def test_azure_vault_key_is_ec_p256_rotating_and_hsm_in_prod(plan_of: Callable[[str], Plan]) -> None:
    key = only(plan_of("prod"), "azure-native:keyvault:Key")
    props = key.inputs["properties"]
    assert props["kty"] == "EC-HSM"
    assert props["curveName"] == "P-256"
    assert props["keyOps"] == ["sign", "verify"]
    assert props["attributes"]["exportable"] is False
    actions = {a["action"]["type"]: a["trigger"] for a in props["rotationPolicy"]["lifetimeActions"]}
    assert actions == {"notify": {"timeBeforeExpiry": "P180D"}}, "the runbook rotates; the vault never does alone"
    (uri,) = plan_of("prod").outputs["signingKeyUris"].values()
    assert re.fullmatch(r"azurekms://kv-crcontosoprod\.vault\.azure\.net/image-signing/[0-9a-f]{32}", uri)
    policy = {doc["metadata"]["name"]: doc for _, doc in kubernetes_manifests(plan_of("prod")) if "metadata" in doc}[
        "verify-image-signatures-enforce"
    ]
    assert [a["cosign"]["key"]["kms"] for a in policy["spec"]["attestors"][1:]] == [uri], (
        "the policies trust the version the agents sign with"
    )


def test_local_registry_credentials_reach_both_the_policies_and_the_controller() -> None:
    def local_registry(raw: dict[str, Any]) -> None:
        raw["registry"].update(plainHttpEnabled=True, pullSecretName="local-registry")

    model = model_of("local", local_registry)
    for doc in kyverno_policies(model):
        if doc["kind"] == "ImageValidatingPolicy":
            assert doc["spec"]["credentials"] == {"allowInsecureRegistry": True, "secrets": ["local-registry"]}
    values = kyverno_values(plain_http_registry=True, pull_secret="local-registry")
    assert values["existingImagePullSecrets"] == ["local-registry"]
    assert values["features"]["registryClient"]["allowInsecure"] is True
