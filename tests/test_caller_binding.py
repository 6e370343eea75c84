"""A reusable workflow signs for whoever calls it. Each engine's rendered documents deny a signature whose
workflow was run by another repository: Policy Controller by the certificate's workflow-repository claim (its
Rego policy, evaluated here by a Rego engine), Kyverno by trusting only each service's own workflow and
provenance its builder signed naming the source.

The Rego engine here (regorus) is more lenient than OPA, which Policy Controller runs: it takes a bare name
at the top level as a rule and an unbound name in a body as true, where OPA refuses the module ("var cannot
be used for rule name", "var is unsafe") and Policy Controller then admits nothing. So every policy is also
held to the statements it is written in (OPA's grammar for them), and `isCompliant` must come out a boolean:
undefined is not a decision."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import opa_eval
import pytest

from components.model.config import ConfigError, parse_stack_config
from components.model.trust import KeylessAuthority
from components.render.policy_controller_callers import allowed_callers
from tests.cel_harness import Registry, admit, pod
from tests.conftest import stack_raw
from tests.test_kyverno import GOOD, _provenance_v1, policies_of
from tests.test_policy_controller import docs_of

PAYMENTS = "https://github.com/contoso/payments-api/.github/workflows/release.yml@refs/heads/main"
BUILDER = "https://github.com/contoso/workflows/.github/workflows/build-sign-attest.yml@refs/heads/main"
ISSUER = "https://token.actions.githubusercontent.com"


_TOP_LEVEL = re.compile(
    r"|#.*|package sigstore|import future\.keywords\.(if|in)|default isCompliant := false"
    r"|(?P<constant>[A-Za-z_]\w*) := (?P<value>.+)|[A-Za-z_]\w* if \{"
)


def _statement_problems(rego: str) -> list[str]:
    """Lines OPA would not read as the statements this policy is written in: at the top level a package,
    imports, the default, constants (JSON) and `name if {` rules, whose bodies are indented expressions
    closed by a lone `}`."""
    problems, in_body = [], False
    for number, line in enumerate(rego.split("\n"), 1):
        if in_body:
            in_body = line != "}"
            if in_body and not re.fullmatch(r"\t\S.*", line):
                problems.append(f"{number}: {line!r} is neither an expression of the rule nor its closing brace")
            continue
        statement = _TOP_LEVEL.fullmatch(line)
        if statement is None:
            problems.append(f"{number}: {line!r} is not a statement OPA reads at the top level")
            continue
        if statement["constant"]:
            json.loads(statement["value"])
        in_body = line.endswith(" if {")
    return problems + (["a rule is never closed"] if in_body else [])


def _compliant(policy: dict[str, Any], matches: dict[str, Any], tmp_path: Path) -> bool:
    assert policy["policy"]["type"] == "rego"
    rego = policy["policy"]["data"]
    assert _statement_problems(rego) == []
    source = tmp_path / "policy.rego"
    source.write_text(rego)
    engine = opa_eval.OpaEval(str(source), query="data.sigstore.isCompliant")
    decision = engine.evaluate_parsed(json.dumps({"authorityMatches": matches}))
    assert isinstance(decision, bool), f"isCompliant is {decision!r}, not a decision"
    return decision


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
        raw["signing"]["keyless"][0]["subject"] = BUILDER.replace("build-sign-attest", "release")
        raw["signing"]["keyless"][0]["callers"] = ["contoso/payments-api"]

    spec = docs_of("prod", reusable)["verify-image-signatures"]["spec"]
    shared = BUILDER.replace("build-sign-attest", "release")
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


GITLAB = "https://gitlab.com"
GITLAB_RELEASE = "https://gitlab.com/contoso/payments-api//.gitlab-ci.yml@refs/heads/main"


def test_an_identity_of_another_issuer_needs_no_workflow_claim_and_github_ones_still_do(tmp_path: Path) -> None:
    def with_gitlab(raw: dict[str, Any]) -> None:
        raw["signing"]["keyless"].append({"name": "gitlab-release", "issuer": GITLAB, "subject": GITLAB_RELEASE})

    spec = docs_of("prod", with_gitlab)["verify-image-signatures"]["spec"]
    gitlab = {"keyless": {"signatures": [{"id": "sig", "subject": GITLAB_RELEASE, "issuer": GITLAB}]}}
    assert _compliant(spec, gitlab, tmp_path)
    assert _compliant(spec, _keyless(PAYMENTS, "contoso/payments-api"), tmp_path)
    assert not _compliant(spec, _keyless(PAYMENTS, "mallory/payments-api"), tmp_path)
    assert _compliant(spec, {"key-image-signing": {"signatures": [{"id": "sig"}]}}, tmp_path)


def test_a_stack_that_trusts_github_only_admits_no_other_issuer_without_a_claim(tmp_path: Path) -> None:
    spec = docs_of("prod")["verify-image-signatures"]["spec"]
    stranger = {"keyless": {"signatures": [{"id": "sig", "subject": GITLAB_RELEASE, "issuer": GITLAB}]}}
    assert not _compliant(spec, stranger, tmp_path)


def test_a_pattern_identity_after_exact_ones_is_bound_to_its_repository(tmp_path: Path) -> None:
    storefront = "https://github.com/contoso/storefront-web/.github/workflows/release.yml@refs/heads/main"

    def storefront_by_pattern(raw: dict[str, Any]) -> None:
        raw["signing"]["keyless"][1]["subjectRegExp"] = (
            r"^https://github\.com/contoso/storefront-[a-z]+/\.github/workflows/release\.yml@refs/heads/main$"
        )
        del raw["signing"]["keyless"][1]["subject"]

    spec = docs_of("prod", storefront_by_pattern)["verify-image-signatures"]["spec"]
    assert _compliant(spec, _keyless(storefront, "contoso/storefront-web"), tmp_path)
    assert not _compliant(spec, _keyless(storefront, "contoso/storefront-api"), tmp_path)
    assert _compliant(spec, _keyless(PAYMENTS, "contoso/payments-api"), tmp_path), "the exact one still holds"


def test_a_pattern_identity_with_declared_callers_is_run_by_them_only(tmp_path: Path) -> None:
    shared = "https://github.com/contoso/workflows/.github/workflows/release.yml@refs/heads/main"

    def reusable_by_pattern(raw: dict[str, Any]) -> None:
        raw["signing"]["keyless"][0] = {
            "name": "payments-release",
            "issuer": ISSUER,
            "subjectRegExp": r"^https://github\.com/contoso/workflows/\.github/workflows/release\.yml@refs/heads/main$",
            "callers": ["contoso/payments-api"],
        }

    spec = docs_of("prod", reusable_by_pattern)["verify-image-signatures"]["spec"]
    assert _compliant(spec, _keyless(shared, "contoso/payments-api"), tmp_path)
    assert not _compliant(spec, _keyless(shared, "contoso/workflows"), tmp_path), "its own repository is no caller"


def test_a_github_identity_naming_no_workflow_file_is_run_by_nobody(tmp_path: Path) -> None:
    def repository_only(raw: dict[str, Any]) -> None:
        raw["signing"]["keyless"][0]["subject"] = "https://github.com/contoso/payments-api"

    spec = docs_of("prod", repository_only)["verify-image-signatures"]["spec"]
    signature = _keyless("https://github.com/contoso/payments-api", "contoso/payments-api")
    assert not _compliant(spec, signature, tmp_path)


def test_a_stack_without_github_identities_carries_no_caller_policy() -> None:
    def legacy_with_policy_controller(raw: dict[str, Any]) -> None:
        raw["signing"]["signatureFormat"] = "legacy"
        raw["admission"]["engines"] = ["kyverno", "policy-controller"]

    spec = docs_of("local", legacy_with_policy_controller)["verify-image-signatures"]["spec"]
    assert "policy" not in spec, "the keys' signatures are all it checks"


ISSUER_GITLAB = "https://gitlab.com"


@pytest.mark.parametrize(
    "identity",
    [
        KeylessAuthority(ISSUER_GITLAB, subject="https://gitlab.com/contoso/app//.gitlab-ci.yml@refs/heads/main"),
        KeylessAuthority(ISSUER_GITLAB, subject_regexp=r"https://gitlab\\.com/contoso/.*"),
    ],
    ids=["a subject that names no GitHub workflow", "a subject pattern"],
)
def test_an_identity_that_names_no_github_workflow_has_no_caller_to_allow(identity: KeylessAuthority) -> None:
    assert allowed_callers(identity) == ()
