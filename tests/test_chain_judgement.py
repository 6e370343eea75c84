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
    assert results["chain/positive-control"].observed == "chain/demo/known-good"


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


def test_each_case_records_the_pod_it_tried_and_what_the_server_answered() -> None:
    """The evidence of a case: the pod spec sent (images, no token), the warnings (an audit namespace's
    "would be denied") and the HTTP status."""
    results = _judge(_answers(denied("verify-image-signatures-enforce", "image is not signed by a trusted signer")))
    unsigned_pod = {
        "containers": [{"name": "c0", "image": "registry.example/supply-chain-canary@sha256:" + "2" * 64}],
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
    }
    assert results["chain/sandbox/unsigned"].details == {
        "images": unsigned_pod,
        "warnings": ['299 - "audit: would be denied"'],
        "httpStatus": 201,
    }
    assert results["chain/demo/unsigned"].details == {"images": unsigned_pod, "warnings": [], "httpStatus": 403}


def test_a_skipped_case_is_recorded_as_skipped_with_its_reason_and_not_sent() -> None:
    cases = [
        Case("demo/unsigned", "unsigned canary is denied", "demo", ("unsigned",)),
        Case(
            "demo/trusted-canary", "trusted canary is admitted", "demo", ("trusted",), admit=True, skip_reason="no key"
        ),
    ]
    api = FakeApi(outcomes={("demo", str(UNSIGNED)): denied("verify-image-signatures-enforce", "not signed")})
    options = Options(workers=2, run_id="skip")
    with serve(api) as api_client:
        results = chain_cases(
            Cluster(api_client, timeout=5), cases, {"unsigned": UNSIGNED}, options, time.monotonic() + 30, POLICIES
        )
    by_id = {r.id: r for r in results}
    assert sorted(by_id) == ["chain/demo/trusted-canary", "chain/demo/unsigned", "chain/positive-control"]
    assert by_id["chain/demo/trusted-canary"].status == "skip"
    assert by_id["chain/demo/trusted-canary"].observed == "no key"
    assert by_id["chain/demo/unsigned"].status == "pass"
    assert len(api.requests) == 1, "a skipped case sends no pod"


def test_an_admission_in_an_audit_namespace_is_no_positive_control() -> None:
    """Audit namespaces admit whatever happens: only an admission where the stack enforces shows the
    webhook answers at all, so without one every denial could be an outage's."""
    cases = [
        Case(
            "demo/known-good", "known-good image is admitted", "demo", ("known-good",), admit=True, skip_reason="none"
        ),
        Case("demo/unsigned", "unsigned canary is denied", "demo", ("unsigned",)),
        Case("sandbox/unsigned", "unsigned canary is admitted (audit)", "sandbox", ("unsigned",), admit=True),
    ]
    api = FakeApi(outcomes=_answers(denied("verify-image-signatures-enforce", "not signed")))
    with serve(api) as api_client:
        results = chain_cases(
            Cluster(api_client, timeout=5), cases, {"unsigned": UNSIGNED}, Options(), time.monotonic() + 30, POLICIES
        )
    control = {r.id: r for r in results}["chain/positive-control"]
    assert control.status == "fail"
    assert control.observed == "none ran: pass --known-good (or a usable --signing-key)"


def test_each_dry_run_pod_is_named_for_the_run_and_its_case_as_a_dns_label() -> None:
    cases = [
        Case("demo/unsigned", "unsigned canary is denied", "demo", ("unsigned",)),
        Case("sandbox/unsigned-init-container", "an unsigned init container is admitted", "sandbox", ("unsigned",)),
    ]
    api = FakeApi(default=ADMITTED)
    for run_id in ("judge", "0123456789abcdef0123456789abcdef0123456789a"):
        with serve(api) as api_client:
            chain_cases(Cluster(api_client, timeout=5), cases, {}, Options(run_id=run_id), time.monotonic() + 30, [])
    names = sorted(body["metadata"]["name"] for _, _, _, body in api.requests)
    assert names == [
        "supply-chain-check-0123456789abcdef0123456789abcdef0123456789a",  # cut at 63, without a dangling "-"
        "supply-chain-check-0123456789abcdef0123456789abcdef0123456789a",
        "supply-chain-check-judge-unsigned",
        "supply-chain-check-judge-unsigned-init-container",
    ]


def test_a_case_unanswered_by_the_deadline_fails_and_nothing_waits_for_it() -> None:
    """A hung webhook must not hold the run: at the deadline, the cases still waiting fail, the run
    goes on at once, and the cases not yet sent are never sent."""
    cases = [
        Case("demo/unsigned", "unsigned canary is denied", "demo", ("unsigned",)),
        Case("demo/foreign-registry", "image from a registry not allowed is denied", "demo", ("docker.io/x@sha256:1",)),
    ]
    refusal = denied("verify-image-signatures-enforce", "not signed")
    api = FakeApi(
        outcomes={("demo", str(UNSIGNED)): refusal, ("demo", "docker.io/x@sha256:1"): refusal},
        stalled={("demo", str(UNSIGNED)): 1.2, ("demo", "docker.io/x@sha256:1"): 1.2},
    )
    with serve(api) as api_client:
        start = time.monotonic()
        results = chain_cases(
            Cluster(api_client, timeout=5), cases, {"unsigned": UNSIGNED}, Options(workers=1), start + 0.3, POLICIES
        )
        elapsed = time.monotonic() - start
        time.sleep(max(0.0, start + 2.2 - time.monotonic()))  # long enough for a queued case to be sent
    by_id = {r.id: r for r in results}
    for case in ("chain/demo/unsigned", "chain/demo/foreign-registry"):
        assert by_id[case].status == "fail", case
        assert by_id[case].observed == "no answer before the deadline", case
    assert elapsed < 0.9, "the run waited for a hung webhook"
    assert len(api.requests) == 1, "the case still queued at the deadline was sent anyway"


def test_past_the_deadline_no_case_is_waited_for() -> None:
    cases = [Case("demo/unsigned", "unsigned canary is denied", "demo", ("unsigned",))]
    api = FakeApi(
        outcomes={("demo", str(UNSIGNED)): denied("verify-image-signatures-enforce", "not signed")},
        stalled={("demo", str(UNSIGNED)): 0.5},
    )
    with serve(api) as api_client:
        deadline = time.monotonic() - 1
        results = chain_cases(
            Cluster(api_client, timeout=5), cases, {"unsigned": UNSIGNED}, Options(), deadline, POLICIES
        )
    result = {r.id: r for r in results}["chain/demo/unsigned"]
    assert result.status == "fail"
    assert result.observed == "no answer before the deadline"
