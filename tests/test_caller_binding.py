"""A reusable workflow signs for whoever calls it. Each engine's rendered documents deny a signature whose
workflow was run by another repository: Policy Controller by the certificate's workflow-repository claim (its
Rego policy, evaluated here by a Rego engine), Kyverno by trusting only each service's own workflow and
provenance its builder signed naming the source."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import opa_eval
import pytest

from components.model.config import ConfigError, parse_stack_config
from tests.cel_harness import Registry, admit, pod
from tests.conftest import stack_raw
from tests.test_kyverno import GOOD, _provenance_v1, policies_of
from tests.test_policy_controller import docs_of

PAYMENTS = "https://github.com/contoso/payments-api/.github/workflows/release.yml@refs/heads/main"
BUILDER = "https://github.com/contoso/workflows/.github/workflows/build-and-sign.yml@refs/heads/main"
ISSUER = "https://token.actions.githubusercontent.com"


def _compliant(policy: dict[str, Any], matches: dict[str, Any], tmp_path: Path) -> bool:
    assert policy["policy"]["type"] == "rego"
    source = tmp_path / "policy.rego"
    source.write_text(policy["policy"]["data"])
    engine = opa_eval.OpaEval(str(source), query="data.sigstore.isCompliant")
    return engine.evaluate_parsed(json.dumps({"authorityMatches": matches})) is True


def _keyless(subject: str, caller: str | None) -> dict[str, Any]:
    signature: dict[str, Any] = {"id": "sig", "subject": subject, "issuer": ISSUER}
    if caller is not None:
        signature["githubWorkflowRepo"] = caller
    return {"keyless": {"signatures": [signature]}}


@pytest.mark.parametrize("name", ["verify-image-signatures", "tenant-payments"])
@pytest.mark.parametrize(
    ("caller", "compliant"),
    [
        ("contoso/payments-api", True),
        ("mallory/payments-api", False),  # a fork running the same workflow file
        ("contoso/storefront-web", False),  # another team calling payments' workflow
        ("contoso/payments-api-evil", False),
        (None, False),  # no claim: not provably the caller
    ],
)
def test_policy_controller_admits_a_workflow_only_as_run_by_its_repository(
    name: str, caller: str | None, compliant: bool, tmp_path: Path
) -> None:
    spec = docs_of("prod")[name]["spec"]
    assert _compliant(spec, _keyless(PAYMENTS, caller), tmp_path) is compliant


def test_a_keys_signature_is_not_a_workflow_run(tmp_path: Path) -> None:
    spec = docs_of("prod")["verify-image-signatures"]["spec"]
    assert _compliant(spec, {"key-image-signing": {"signatures": [{"id": "sig"}]}}, tmp_path)
    assert not _compliant(spec, {"key-image-signing": {"signatures": []}}, tmp_path)


def test_declared_callers_of_a_reusable_workflow_and_nobody_else(tmp_path: Path) -> None:
    def reusable(raw: dict[str, Any]) -> None:
        raw["signing"]["keyless"][0]["subject"] = BUILDER.replace("build-and-sign", "release")
        raw["signing"]["keyless"][0]["callers"] = ["contoso/payments-api"]

    spec = docs_of("prod", reusable)["verify-image-signatures"]["spec"]
    shared = BUILDER.replace("build-and-sign", "release")
    assert _compliant(spec, _keyless(shared, "contoso/payments-api"), tmp_path)
    assert not _compliant(spec, _keyless(shared, "contoso/workflows"), tmp_path), "its own repository is not a caller"
    assert not _compliant(spec, _keyless(shared, "mallory/app"), tmp_path)


def test_a_pattern_identity_is_run_by_the_repository_it_names(tmp_path: Path) -> None:
    pattern = r"^https://github\.com/contoso/[A-Za-z0-9_.-]+/\.github/workflows/release\.yml@refs/heads/main$"

    def by_pattern(raw: dict[str, Any]) -> None:
        raw["signing"]["keyless"][0] = {"name": "payments-release", "issuer": ISSUER, "subjectRegExp": pattern}

    spec = docs_of("prod", by_pattern)["verify-image-signatures"]["spec"]
    assert _compliant(spec, _keyless(PAYMENTS, "contoso/payments-api"), tmp_path)
    assert not _compliant(spec, _keyless(PAYMENTS, "contoso/payments"), tmp_path)
    assert not _compliant(spec, _keyless(PAYMENTS, "mallory/payments-api"), tmp_path)


def test_kyverno_trusts_no_reusable_workflow_for_images_and_its_provenance_names_the_caller() -> None:
    policies = policies_of("prod")
    signatures = policies["verify-image-signatures-enforce"]["spec"]["attestors"][0]["cosign"]["keyless"]
    assert BUILDER not in [i.get("subject") for i in signatures["identities"]], "the builder signs provenance only"
    # the builder run by mallory writes mallory's repository into the provenance it signs: denied in payments
    called_by_mallory = _provenance_v1(source="git+https://github.com/mallory/payments-api@refs/heads/main")
    registry = Registry().attest(GOOD, "https://slsa.dev/provenance/v1", called_by_mallory, "keyless")
    assert not admit(policies["require-provenance-payments"], pod("payments", [GOOD]), registry).allowed


def test_prod_refuses_a_reusable_workflow_no_engine_can_bind() -> None:
    raw = stack_raw("prod")
    raw["signing"]["keyless"][0]["callers"] = ["contoso/payments-api"]
    raw["admission"]["engines"] = ["kyverno"]
    with pytest.raises(ConfigError) as refused:
        parse_stack_config(raw)
    assert "supply-chain:signing.keyless[0].callers" in str(refused.value)
