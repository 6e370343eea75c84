"""How a chain case is judged: a case that must be denied passes only when one of the stack's
policies refused it; a webhook outage, another webhook's refusal or a policy the stack does not
own is a failure, and so is any refusal of a case that must be admitted."""

from __future__ import annotations

import time

import pytest

from scripts.checks.cases import Case
from scripts.checks.cluster import Cluster
from scripts.checks.cosign import ImageRef
from scripts.checks.options import Options
from scripts.checks.results import CheckResult
from scripts.checks.runner import chain_cases
from tests.e2e.test_chain_live import chain_problems
from tests.fake_kube import ADMITTED, AUDITED, OTHER_WEBHOOK, OUTAGE, Answer, FakeApi, denied, serve

POLICIES = ["verify-image-signatures-enforce", "restrict-image-registries-enforce"]
UNSIGNED = ImageRef("registry.example", "supply-chain-canary", "sha256:" + "2" * 64)
KNOWN_GOOD = "registry.example/apps/api@sha256:" + "3" * 64


def _judge(answers: dict[tuple[str, str], Answer]) -> dict[str, CheckResult]:
    cases = [
        Case("demo/unsigned", "unsigned canary is denied", "demo", ("unsigned",)),
        Case("demo/known-good", "known-good image is admitted", "demo", ("known-good",), admit=True),
        Case("sandbox/unsigned", "unsigned canary is admitted (audit)", "sandbox", ("unsigned",), admit=True),
    ]
    options = Options(known_good=KNOWN_GOOD, workers=1, run_id="judge")
    with serve(FakeApi(outcomes=answers)) as api_client:
        results = chain_cases(
            Cluster(api_client, timeout=5), cases, {"unsigned": UNSIGNED}, options, time.monotonic() + 30, POLICIES
        )
    return {r.id: r for r in results}


def _answers(unsigned_in_demo: Answer) -> dict[tuple[str, str], Answer]:
    return {
        ("demo", str(UNSIGNED)): unsigned_in_demo,
        ("demo", KNOWN_GOOD): ADMITTED,
        ("sandbox", str(UNSIGNED)): AUDITED,
    }


def test_a_denial_by_the_stacks_policy_passes() -> None:
    results = _judge(_answers(denied("verify-image-signatures-enforce", "image is not signed by a trusted signer")))
    assert {i: r.status for i, r in results.items()} == {
        "chain/demo/unsigned": "pass",
        "chain/demo/known-good": "pass",
        "chain/sandbox/unsigned": "pass",
        "chain/positive-control": "pass",
    }
    assert results["chain/demo/unsigned"].observed.startswith("denied: admission webhook")
    assert "verify-image-signatures-enforce" in results["chain/demo/unsigned"].observed


@pytest.mark.parametrize(
    "refusal",
    [
        OUTAGE,
        OTHER_WEBHOOK,
        denied("disallow-latest-tag", "a policy this stack does not own"),
        (403, 'pods "p" is forbidden: exceeded quota: compute, requested: pods=1'),
    ],
    ids=["webhook-outage", "another-webhook", "someone-elses-policy", "quota"],
)
def test_a_refusal_that_is_not_the_stacks_policy_fails_the_case(refusal: Answer) -> None:
    result = _judge(_answers(refusal))["chain/demo/unsigned"]
    assert result.status == "fail"
    assert result.expected == "denied by policy"
    assert result.observed == f"denied: {refusal[1]}"


def test_admitting_what_must_be_denied_fails_the_case() -> None:
    result = _judge(_answers(ADMITTED))["chain/demo/unsigned"]
    assert (result.status, result.observed) == ("fail", "admitted")


def test_refusing_what_must_be_admitted_fails_the_case() -> None:
    answers = _answers(denied("verify-image-signatures-enforce", "not signed"))
    answers[("demo", KNOWN_GOOD)] = denied("verify-image-signatures-enforce", "not signed")
    answers[("sandbox", str(UNSIGNED))] = denied("verify-image-signatures-audit", "not signed")
    results = _judge(answers)
    assert results["chain/demo/known-good"].status == "fail"
    assert results["chain/sandbox/unsigned"].status == "fail", "an audit namespace must never deny"
    assert results["chain/positive-control"].status == "fail", "nothing admitted in an enforce namespace"


def test_the_live_suites_assertion_reads_what_each_case_observed() -> None:
    outputs = {"namespaces": {"demo": "enforce", "sandbox": "audit"}, "kyvernoPolicies": POLICIES}
    good = _judge(_answers(denied("verify-image-signatures-enforce", "not signed")))
    assert chain_problems([r.as_json() for r in good.values()], outputs) == []
    outage = [r.as_json() for r in _judge(_answers(OUTAGE)).values()]
    assert chain_problems(outage, outputs) == [
        f"chain/demo/unsigned: expected a policy denial, observed denied: {OUTAGE[1]}"
    ]
    assert chain_problems([], outputs) == [
        "no dry-run case ran",
        "demo (enforce): the unsigned canary was not tried expecting denied by policy",
        "sandbox (audit): the unsigned canary was not tried expecting admitted",
        "nothing admitted in an enforce namespace: None",
    ]
