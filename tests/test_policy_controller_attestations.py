"""Policy Controller carries a namespace's SBOM, provenance and scan requirements on its repositories' images.

Each rendered Rego policy is evaluated by a real Rego engine (regorus) over whole in-toto statements, the
payload Policy Controller hands an attestation policy (`_type`, `subject`, `predicateType`, `predicate`):
the compliant statement is admitted, each way of falling short is refused, and a statement of another
predicate type is never accepted. The documents validate strictly against the pinned CRD."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import opa_eval
import pytest

from components.model.config import ConfigError, parse_stack_config
from components.model.contract import (
    SBOM_FORMATS,
    SLSA_PROVENANCE_V02,
    SLSA_PROVENANCE_V1,
    VULN_SCAN_PREDICATE,
)
from policies.offline import check_resources
from policies.review import pack_rule, review
from scripts.checks.provenance import github_provenance_v1
from scripts.planning import Plan, kubernetes_manifests
from tests.conftest import stack_raw
from tests.test_caller_binding import _statement_problems
from tests.test_policy_controller import docs_of, glob_matches
from tests.upstream import crd_errors
from tests.vuln_scans import finding, os_result, report, vuln_predicate

REG = "crcontosoprod.azurecr.io"
IMAGE = f"{REG}/payments/api@sha256:" + "a" * 64
BUILDER = "https://github.com/contoso/workflows/.github/workflows/build-sign-attest.yml@refs/heads/main"
SOURCE = "https://github.com/contoso/payments-api"
SPDX = SBOM_FORMATS["spdx"].predicate_type
CYCLONEDX = SBOM_FORMATS["cyclonedx"].predicate_type


def statement(predicate_type: str, predicate: Any) -> dict[str, Any]:
    """An in-toto statement about IMAGE as cosign writes it and Policy Controller hands it to a policy."""
    return {
        "_type": "https://in-toto.io/Statement/v0.1",
        "subject": [{"name": IMAGE.split("@")[0], "digest": {"sha256": "a" * 64}}],
        "predicateType": predicate_type,
        "predicate": predicate,
    }


def _with_scan(raw: dict[str, Any]) -> None:
    raw["admission"]["attestations"]["payments"]["vulnerabilities"] = {"maxSeverity": "high", "maxAgeHours": 24}


def _docs() -> dict[str, dict[str, Any]]:
    return docs_of("prod", _with_scan)


def _attestation(doc: dict[str, Any], predicate_type: str) -> dict[str, Any]:
    """The (single) attestation of `predicate_type` the policy's authorities require."""
    found: list[dict[str, Any]] = [
        a for auth in doc["spec"]["authorities"] for a in auth["attestations"] if a["predicateType"] == predicate_type
    ]
    assert found, f"no authority requires {predicate_type}"
    assert all(a == found[0] for a in found), "every authority requires the same attestation"
    return found[0]


def admitted(attestation: dict[str, Any], stmt: dict[str, Any], tmp_path: Path) -> bool:
    """Whether the attestation's Rego policy accepts `stmt` (the engine's answer must be a boolean)."""
    policy = attestation["policy"]
    assert policy["type"] == "rego"
    assert _statement_problems(policy["data"]) == []
    source = tmp_path / "attestation.rego"
    source.write_text(policy["data"])
    decision = opa_eval.OpaEval(str(source), query="data.sigstore.isCompliant").evaluate_parsed(json.dumps(stmt))
    assert isinstance(decision, bool), f"isCompliant is {decision!r}, not a decision"
    return decision


def _v02(builder: str = BUILDER, uri: str = f"git+{SOURCE}@refs/heads/main", sha1: Any = "b" * 40) -> dict[str, Any]:
    return {
        "builder": {"id": builder},
        "buildType": "https://github.com/slsa-framework/slsa-github-generator/generic@v1",
        "invocation": {"configSource": {"uri": uri, "digest": {"sha1": sha1}, "entryPoint": ".github/workflows/b.yml"}},
    }


def _scan(*findings: dict[str, Any], hours_ago: float = 1) -> dict[str, Any]:
    return vuln_predicate(report([os_result(*findings)]), datetime.now(UTC) - timedelta(hours=hours_ago))


SBOM_CASES: list[tuple[str, str, Any, bool]] = [
    ("spdx listing a named package", SPDX, {"spdxVersion": "SPDX-2.3", "packages": [{"name": "openssl"}]}, True),
    ("empty spdx", SPDX, {"spdxVersion": "SPDX-2.3", "packages": []}, False),
    ("spdx of nameless packages", SPDX, {"spdxVersion": "SPDX-2.3", "packages": [{}, {"name": ""}]}, False),
    ("spdx without packages", SPDX, {"spdxVersion": "SPDX-2.3"}, False),
    ("spdx packages not a list", SPDX, {"packages": {"name": "openssl"}}, False),
    ("a cyclonedx bom", CYCLONEDX, {"components": [{"name": "openssl"}]}, False),
    ("spdx content under another type", SLSA_PROVENANCE_V1, {"packages": [{"name": "openssl"}]}, False),
]


@pytest.mark.parametrize(
    ("case", "predicate_type", "predicate", "expected"), SBOM_CASES, ids=[c[0] for c in SBOM_CASES]
)
def test_spdx_sbom_truth_table(tmp_path: Path, case: str, predicate_type: str, predicate: Any, expected: bool) -> None:
    attestation = _attestation(_docs()["attest-sbom-payments"], SPDX)
    assert admitted(attestation, statement(predicate_type, predicate), tmp_path) is expected, case


CYCLONEDX_CASES: list[tuple[str, str, Any, bool]] = [
    ("bom listing a named component", CYCLONEDX, {"bomFormat": "CycloneDX", "components": [{"name": "nginx"}]}, True),
    ("empty bom", CYCLONEDX, {"bomFormat": "CycloneDX", "components": []}, False),
    ("bom of nameless components", CYCLONEDX, {"components": [{"type": "library"}]}, False),
    ("an spdx document", SPDX, {"packages": [{"name": "nginx"}]}, False),
]


@pytest.mark.parametrize(
    ("case", "predicate_type", "predicate", "expected"), CYCLONEDX_CASES, ids=[c[0] for c in CYCLONEDX_CASES]
)
def test_cyclonedx_sbom_truth_table(
    tmp_path: Path, case: str, predicate_type: str, predicate: Any, expected: bool
) -> None:
    attestation = _attestation(_docs()["attest-sbom-storefront"], CYCLONEDX)
    assert admitted(attestation, statement(predicate_type, predicate), tmp_path) is expected, case


V1_CASES: list[tuple[str, str, Any, bool]] = [
    ("builder and source", SLSA_PROVENANCE_V1, github_provenance_v1(BUILDER, SOURCE, "refs/heads/main"), True),
    (
        "wrong builder",
        SLSA_PROVENANCE_V1,
        github_provenance_v1("https://evil.example/b", SOURCE, "refs/heads/main"),
        False,
    ),
    (
        "wrong source",
        SLSA_PROVENANCE_V1,
        github_provenance_v1(BUILDER, "https://github.com/contoso/other", "refs/heads/main"),
        False,
    ),
    ("wrong ref", SLSA_PROVENANCE_V1, github_provenance_v1(BUILDER, SOURCE, "refs/heads/feature"), False),
    ("no build definition", SLSA_PROVENANCE_V1, {"runDetails": {"builder": {"id": BUILDER}}}, False),
    ("a v0.2 statement", SLSA_PROVENANCE_V02, _v02(), False),
    ("v1 content under another type", SPDX, github_provenance_v1(BUILDER, SOURCE, "refs/heads/main"), False),
]


@pytest.mark.parametrize(("case", "predicate_type", "predicate", "expected"), V1_CASES, ids=[c[0] for c in V1_CASES])
def test_slsa_v1_provenance_truth_table(
    tmp_path: Path, case: str, predicate_type: str, predicate: Any, expected: bool
) -> None:
    attestation = _attestation(_docs()["attest-provenance-payments"], SLSA_PROVENANCE_V1)
    assert admitted(attestation, statement(predicate_type, predicate), tmp_path) is expected, case


V02_CASES: list[tuple[str, str, Any, bool]] = [
    ("builder, source and commit", SLSA_PROVENANCE_V02, _v02(), True),
    ("wrong builder", SLSA_PROVENANCE_V02, _v02(builder="https://evil.example/b"), False),
    ("wrong source", SLSA_PROVENANCE_V02, _v02(uri="git+https://github.com/contoso/other@refs/heads/main"), False),
    ("wrong ref", SLSA_PROVENANCE_V02, _v02(uri=f"git+{SOURCE}@refs/heads/feature"), False),
    ("no commit digest", SLSA_PROVENANCE_V02, _v02(sha1=None), False),
    ("a short digest", SLSA_PROVENANCE_V02, _v02(sha1="b" * 7), False),
    ("a v1 statement", SLSA_PROVENANCE_V1, github_provenance_v1(BUILDER, SOURCE, "refs/heads/main"), False),
]


@pytest.mark.parametrize(("case", "predicate_type", "predicate", "expected"), V02_CASES, ids=[c[0] for c in V02_CASES])
def test_slsa_v02_provenance_truth_table(
    tmp_path: Path, case: str, predicate_type: str, predicate: Any, expected: bool
) -> None:
    attestation = _attestation(_docs()["attest-provenance-payments"], SLSA_PROVENANCE_V02)
    assert admitted(attestation, statement(predicate_type, predicate), tmp_path) is expected, case


def _results(results: Any) -> dict[str, Any]:
    scan = _scan()
    scan["scanner"]["result"]["Results"] = results
    return scan


VULN_CASES: list[tuple[str, str, Any, bool]] = [
    ("clean and fresh", VULN_SCAN_PREDICATE, _scan(), True),
    ("a high finding (allowed)", VULN_SCAN_PREDICATE, _scan(finding("HIGH"), finding("LOW")), True),
    ("no results at all", VULN_SCAN_PREDICATE, vuln_predicate(report(None), datetime.now(UTC)), True),
    ("null results", VULN_SCAN_PREDICATE, _results(None), True),
    ("a critical finding", VULN_SCAN_PREDICATE, _scan(finding("LOW"), finding("CRITICAL")), False),
    ("a finding of unknown severity", VULN_SCAN_PREDICATE, _scan(finding("UNKNOWN")), False),
    ("a finding without a severity", VULN_SCAN_PREDICATE, _scan({"VulnerabilityID": "CVE-2026-1"}), False),
    ("stale", VULN_SCAN_PREDICATE, _scan(hours_ago=25), False),
    ("from the future", VULN_SCAN_PREDICATE, _scan(hours_ago=-1), False),
    ("undated", VULN_SCAN_PREDICATE, vuln_predicate(report([os_result()]), "yesterday"), False),
    ("results not a list", VULN_SCAN_PREDICATE, _results({"Target": "x"}), False),
    ("a result not an object", VULN_SCAN_PREDICATE, _results(["x"]), False),
    ("a finding not an object", VULN_SCAN_PREDICATE, _results([{"Vulnerabilities": ["CRITICAL"]}]), False),
    ("findings not a list", VULN_SCAN_PREDICATE, _results([{"Vulnerabilities": "CRITICAL"}]), False),
    ("no report", VULN_SCAN_PREDICATE, {**_scan(), "scanner": {"result": "clean"}}, False),
    ("a clean scan under another type", SPDX, _scan(), False),
]


@pytest.mark.parametrize(
    ("case", "predicate_type", "predicate", "expected"), VULN_CASES, ids=[c[0] for c in VULN_CASES]
)
def test_vulnerability_scan_truth_table(
    tmp_path: Path, case: str, predicate_type: str, predicate: Any, expected: bool
) -> None:
    attestation = _attestation(_docs()["attest-vulnerability-scan-payments"], VULN_SCAN_PREDICATE)
    assert admitted(attestation, statement(predicate_type, predicate), tmp_path) is expected, case


def test_no_finding_at_all_when_none_may_be_present(tmp_path: Path) -> None:
    def none_allowed(raw: dict[str, Any]) -> None:
        raw["admission"]["attestations"]["payments"]["vulnerabilities"] = {"maxSeverity": "none", "maxAgeHours": 24}

    attestation = _attestation(docs_of("prod", none_allowed)["attest-vulnerability-scan-payments"], VULN_SCAN_PREDICATE)
    assert admitted(attestation, statement(VULN_SCAN_PREDICATE, _scan()), tmp_path)
    assert not admitted(attestation, statement(VULN_SCAN_PREDICATE, _scan(finding("LOW"))), tmp_path)


def test_each_policy_accepts_only_its_own_predicate_types(tmp_path: Path) -> None:
    good: dict[str, Any] = {
        SPDX: {"packages": [{"name": "openssl"}]},
        CYCLONEDX: {"components": [{"name": "openssl"}]},
        SLSA_PROVENANCE_V1: github_provenance_v1(BUILDER, SOURCE, "refs/heads/main"),
        SLSA_PROVENANCE_V02: _v02(),
        VULN_SCAN_PREDICATE: _scan(),
    }
    for name, doc in _docs().items():
        if not name.startswith("attest-"):
            continue
        for authority in doc["spec"]["authorities"]:
            for attestation in authority["attestations"]:
                for predicate_type, predicate in good.items():
                    # the predicate content of every type under every statement type
                    for claimed in good:
                        verdict = admitted(attestation, statement(claimed, predicate), tmp_path)
                        should = claimed == predicate_type == attestation["predicateType"]
                        assert verdict is should, f"{name}: {predicate_type} content claimed as {claimed}"


def test_the_attestation_policies_validate_strictly_and_enforce(shared_dir: Path) -> None:
    docs = _docs()
    assert sorted(n for n in docs if n.startswith("attest-")) == [
        "attest-provenance-payments",
        "attest-sbom-payments",
        "attest-sbom-storefront",
        "attest-vulnerability-scan-payments",
    ]
    for name, doc in docs.items():
        assert crd_errors(doc) == [], name
        if name.startswith("attest-"):
            assert doc["spec"]["mode"] == "enforce"
            names = [a["name"] for a in doc["spec"]["authorities"]]
            assert len(names) == len(set(names)), name


def test_they_follow_the_namespaces_repositories_and_nothing_else() -> None:
    docs = _docs()
    tenant = docs["tenant-payments"]["spec"]["images"]
    for name in ("attest-sbom-payments", "attest-provenance-payments", "attest-vulnerability-scan-payments"):
        images = docs[name]["spec"]["images"]
        assert images == tenant, name
        assert any(glob_matches(g["glob"], IMAGE) for g in images)
        assert not any(glob_matches(g["glob"], f"{REG}/storefront/web@sha256:" + "a" * 64) for g in images)


def test_provenance_counts_only_from_the_builders_identity() -> None:
    doc = _docs()["attest-provenance-payments"]
    authorities = doc["spec"]["authorities"]
    assert [a["name"] for a in authorities] == ["keyless-slsa-v1", "keyless-slsa-v02"]
    for authority in authorities:
        assert "key" not in authority, "the agents' key could forge provenance"
        assert authority["keyless"]["identities"] == [
            {"issuer": "https://token.actions.githubusercontent.com", "subject": BUILDER}
        ]
        (attestation,) = authority["attestations"]
        assert attestation["predicateType"] in (SLSA_PROVENANCE_V1, SLSA_PROVENANCE_V02)


def test_sbom_and_scan_are_signed_by_the_namespaces_own_signers() -> None:
    docs = _docs()
    for name in ("attest-sbom-payments", "attest-vulnerability-scan-payments"):
        (authority,) = docs[name]["spec"]["authorities"]
        assert authority["keyless"]["identities"] == [
            {
                "issuer": "https://token.actions.githubusercontent.com",
                "subject": "https://github.com/contoso/payments-api/.github/workflows/release.yml@refs/heads/main",
            }
        ], name


EDITS: list[tuple[str, Callable[[dict[str, Any]], None]]] = [
    ("audit", lambda raw: raw["admission"]["namespaces"]["payments"].update(mode="audit", auditUntil="2027-01-31")),
    ("no repositories", lambda raw: raw["admission"]["namespaces"]["payments"].pop("repositories")),
]


@pytest.mark.parametrize(("case", "edit"), EDITS, ids=[e[0] for e in EDITS])
def test_a_namespace_policy_controller_cannot_scope_gets_no_attestation_policy(
    case: str, edit: Callable[[dict[str, Any]], None]
) -> None:
    assert not [n for n in docs_of("prod", edit) if n.startswith("attest-") and n.endswith("-payments")], case


def _policy_controller_only() -> dict[str, Any]:
    """dev with Policy Controller as its only engine: payments enforces on its repositories and requires an
    SBOM and the builder's provenance (both in the shipped dev stack)."""
    raw = stack_raw("dev")
    raw["signing"]["signatureFormat"] = "legacy"  # the layout Policy Controller reads
    raw["admission"].update(
        engines=["policy-controller"],
        defaultMode="off",
        namespaces={"payments": {"mode": "enforce", "repositories": ["payments/*"]}},
        exceptions=[],
    )
    raw["admission"]["attestations"] = {"payments": raw["admission"]["attestations"]["payments"]}
    return raw


def test_a_policy_controller_only_stack_with_sbom_and_provenance_plans_and_its_manifests_carry_them(
    plan_raw: Callable[..., Plan],
) -> None:
    raw = _policy_controller_only()
    assert {"sbom", "provenance"} <= set(raw["admission"]["attestations"]["payments"])
    plan = plan_raw(raw)
    assert "attest-sbom-payments" in plan.outputs["policyControllerPolicies"]
    assert "attest-provenance-payments" in plan.outputs["policyControllerPolicies"]
    policies = {
        doc["metadata"]["name"]: doc for _, doc in kubernetes_manifests(plan) if doc["kind"] == "ClusterImagePolicy"
    }
    required = {
        a["predicateType"]
        for name in ("attest-sbom-payments", "attest-provenance-payments")
        for authority in policies[name]["spec"]["authorities"]
        for a in authority["attestations"]
    }
    assert required == {SPDX, SLSA_PROVENANCE_V1, SLSA_PROVENANCE_V02}
    # what the review finds of this stack, the pack reports from its resources (pulumi preview sees it too)
    reported = {v.rule for v in check_resources(plan.resources)}
    unmanaged_group = "supply-chain:buildAgents.runner.workflows"  # set in GitHub: see tests/test_review_parity.py
    assert {pack_rule(f) for f in plan.findings if f.key != unmanaged_group} - {None} <= reported
    assert "attestations-kept-to-their-namespace" in reported


def test_the_review_says_policy_controller_alone_does_not_keep_a_namespace_to_its_repositories() -> None:
    findings = [
        f for f in review(parse_stack_config(_policy_controller_only())) if f.key.endswith("attestations.payments")
    ]
    assert [f.severity for f in findings] == ["medium"]
    assert "nothing keeps payments to its repositories" in findings[0].message


def test_policy_controller_alone_still_refuses_what_it_cannot_scope() -> None:
    raw = _policy_controller_only()
    del raw["admission"]["namespaces"]["payments"]["repositories"]
    with pytest.raises(ConfigError) as caught:
        parse_stack_config(raw)
    (problem,) = caught.value.problems
    assert problem.key.endswith("admission.attestations.payments")
    assert "repositories" in problem.message


PAYMENTS_RELEASE = "https://github.com/contoso/payments-api/.github/workflows/release.yml@refs/heads/main"


def _caller_decision(doc: dict[str, Any], matches: dict[str, Any], tmp_path: Path) -> bool:
    policy = doc["spec"]["policy"]
    assert _statement_problems(policy["data"]) == []
    source = tmp_path / "callers.rego"
    source.write_text(policy["data"])
    engine = opa_eval.OpaEval(str(source), query="data.sigstore.isCompliant")
    decision = engine.evaluate_parsed(json.dumps({"authorityMatches": matches}))
    assert isinstance(decision, bool), f"isCompliant is {decision!r}, not a decision"
    return decision


@pytest.mark.parametrize(
    ("name", "attestation"),
    [("attest-sbom-payments", "sbom"), ("attest-vulnerability-scan-payments", "vulnerability-scan")],
)
def test_an_sbom_or_scan_counts_only_from_a_workflow_its_own_repository_ran(
    tmp_path: Path, name: str, attestation: str
) -> None:
    doc = _docs()[name]
    issuer = "https://token.actions.githubusercontent.com"

    def keyless(caller: str) -> dict[str, Any]:
        claims = {"id": "att", "subject": PAYMENTS_RELEASE, "issuer": issuer, "githubWorkflowRepo": caller}
        return {"keyless": {"attestations": {attestation: [{**claims, "predicateType": "x"}]}}}

    assert _caller_decision(doc, keyless("contoso/payments-api"), tmp_path)
    assert not _caller_decision(doc, keyless("mallory/fork"), tmp_path)
    assert not _caller_decision(doc, {}, tmp_path)


def test_provenance_is_not_bound_to_the_builders_own_repository() -> None:
    assert "policy" not in _docs()["attest-provenance-payments"]["spec"], "the builder runs for every caller"


def test_outside_every_tenant_path_only_the_signature_policy_judges_and_a_foreign_image_meets_no_match_deny() -> None:
    """Policy Controller evaluates every policy whose glob matches an image; none matching is the no-match policy's
    (`deny`, set in the chart's values: tests/test_policy_controller.py)."""
    docs = _docs()
    sha = "@sha256:" + "a" * 64

    def judging(image: str) -> set[str]:
        return {
            name for name, doc in docs.items() if any(glob_matches(g["glob"], image) for g in doc["spec"]["images"])
        }

    assert judging(f"{REG}/payments/api{sha}") >= {"tenant-payments", "attest-sbom-payments"}
    outside = judging(f"{REG}/tools/debug{sha}")
    assert outside == {"verify-image-signatures"}, "signed, by any trusted signer, and nothing more"
    assert judging(f"docker.io/library/busybox{sha}") == set(), "no policy matches: the no-match policy denies it"
