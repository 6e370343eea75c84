"""The vulnerability-scan policy decides on real scanner output: a signed cosign-vuln record of a Trivy
report, fresh against Kyverno's clock, with nothing above the namespace's severity. Every expectation is
written out here; a malformed record is refused with the policy's own message, never an evaluation error."""

from __future__ import annotations

import copy
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from components.model.contract import SBOM_FORMATS, VULN_SCAN_PREDICATE
from tests.cel_harness import EvaluationError, Outcome, Registry, admit, compile_expression, expressions, pod
from tests.test_kyverno import DIGEST, policies_of
from tests.upstream import crd_errors
from tests.vuln_scans import CLEAN, NOW, finding, os_result, report, vuln_predicate

Manifest = dict[str, Any]
IMAGE = f"crcontosoprod.azurecr.io/payments/api{DIGEST}"
AUDITED = f"crcontosoprod.azurecr.io/analytics/etl{DIGEST}"
NO_SCAN = "image has no vulnerability scan attestation signed by a trusted signer"
STALE = "the image's vulnerability scan is not from the last 24 hours — rescan the image and attest the new scan"
ABOVE_MEDIUM = "the image's vulnerability scan lists a finding above medium (or of unknown severity)"


def _policies(max_severity: str = "medium", max_age_hours: int = 24) -> dict[str, Manifest]:
    """prod with a scan required in payments (enforce) and analytics (audit)."""

    def edit(raw: dict[str, Any]) -> None:
        required = {"maxSeverity": max_severity, "maxAgeHours": max_age_hours}
        attestations = raw["admission"]["attestations"]
        attestations["payments"]["vulnerabilities"] = required
        attestations["analytics"] = {"vulnerabilities": required}

    return policies_of("prod", edit)


_RENDERED: dict[str, dict[str, Manifest]] = {}


@pytest.fixture(autouse=True, scope="module")
def _render_in_each_session() -> None:
    """Render per test session, never at import: a process that imported this module can run later sessions
    against other code (mutation testing forks one per mutant), which must be rendered afresh."""
    _RENDERED.clear()


def policies() -> dict[str, Manifest]:
    if "prod" not in _RENDERED:
        _RENDERED["prod"] = _policies()
    return _RENDERED["prod"]


def enforce() -> Manifest:
    return policies()["require-vulnerability-scan-payments"]


def audit() -> Manifest:
    return policies()["require-vulnerability-scan-analytics"]


def _decide(
    predicate: dict[str, Any] | None,
    *,
    policy: Manifest | None = None,
    predicate_type: str = VULN_SCAN_PREDICATE,
    attestor: str = "keyless",
) -> Outcome:
    policy = policy or enforce()
    audited = policy["metadata"]["name"].endswith("-analytics")
    namespace, image = ("analytics", AUDITED) if audited else ("payments", IMAGE)
    registry = Registry()
    if predicate is not None:
        registry.attest(image, predicate_type, predicate, attestor)
    return admit(policy, pod(namespace, [image]), registry, now=NOW)


def _with(path: tuple[str, ...], value: Any, predicate: dict[str, Any] = CLEAN) -> dict[str, Any]:
    """`predicate` with the field at `path` set to `value` (or removed, for `...`)."""
    changed = copy.deepcopy(predicate)
    parent = changed
    for key in path[:-1]:
        parent = parent[key]
    if value is ...:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return changed


# --- the truth table, in an enforce namespace --------------------------------------------------------


@pytest.mark.parametrize(
    ("scenario", "predicate", "expected"),
    [
        ("clean report", CLEAN, (True, None)),
        ("a CRITICAL finding", vuln_predicate(report([os_result(finding("CRITICAL"))])), (False, ABOVE_MEDIUM)),
        ("a HIGH finding", vuln_predicate(report([os_result(finding("HIGH"))])), (False, ABOVE_MEDIUM)),
        ("exactly the allowed level", vuln_predicate(report([os_result(finding("MEDIUM"))])), (True, None)),
        ("below it", vuln_predicate(report([os_result(finding("LOW"), finding("MEDIUM", "CVE-2"))])), (True, None)),
        ("a finding nobody rated", vuln_predicate(report([os_result(finding("UNKNOWN"))])), (False, ABOVE_MEDIUM)),
        (
            "one bad finding among good ones, in a second result",
            vuln_predicate(report([os_result(finding("LOW")), os_result(finding("LOW"), finding("CRITICAL", "C"))])),
            (False, ABOVE_MEDIUM),
        ),
        ("Results left out", vuln_predicate(report(None)), (True, None)),
        ("Results null", vuln_predicate(report(None) | {"Results": None}), (True, None)),
        ("Results empty", vuln_predicate(report([])), (True, None)),
        ("a result without Vulnerabilities", vuln_predicate(report([os_result()])), (True, None)),
        ("Vulnerabilities null", vuln_predicate(report([os_result() | {"Vulnerabilities": None}])), (True, None)),
        ("no scan attestation", None, (False, NO_SCAN)),
    ],
)
def test_what_a_scan_decides_in_an_enforce_namespace(
    scenario: str, predicate: dict[str, Any] | None, expected: tuple[bool, str | None]
) -> None:
    outcome = _decide(predicate)
    assert (outcome.allowed, outcome.message) == expected, scenario


@pytest.mark.parametrize(
    ("age", "allowed"),
    [
        (timedelta(hours=1), True),
        (timedelta(hours=24), True),  # exactly the limit
        (timedelta(hours=24, seconds=1), False),
        (timedelta(days=30), False),
        (-timedelta(minutes=4), True),  # the scanner's clock a little ahead
        (-timedelta(minutes=6), False),  # a scan from the future is no scan
    ],
)
def test_a_scan_counts_only_while_it_is_fresh(age: timedelta, allowed: bool) -> None:
    outcome = _decide(vuln_predicate(report([os_result()]), NOW - age))
    assert (outcome.allowed, outcome.message) == ((True, None) if allowed else (False, STALE))


@pytest.mark.parametrize(
    "finished", ["2026-11-24T11:00:00Z", "2026-11-24T13:00:00+02:00", "2026-11-24T11:59:59.999999999Z"]
)
def test_every_rfc3339_form_of_the_finish_time_is_read(finished: str) -> None:
    assert _decide(vuln_predicate(report([os_result()]), finished)).allowed


def test_an_attestation_of_another_predicate_type_never_counts() -> None:
    for other in ("https://cosign.sigstore.dev/attestation/v1", SBOM_FORMATS["spdx"].predicate_type):
        outcome = _decide(CLEAN, predicate_type=other)
        assert (outcome.allowed, outcome.message) == (False, NO_SCAN), other


@pytest.mark.parametrize("attestor", ["key_image_signing", "someone_else"])
def test_a_scan_signed_by_anyone_but_the_namespaces_signers_never_counts(attestor: str) -> None:
    """payments trusts its release identity only: the shared image-signing key, or an unknown signer, cannot
    vouch for its scan (nor can an unsigned one, which no attestor verifies)."""
    assert [a["name"] for a in enforce()["spec"]["attestors"]] == ["keyless"]
    outcome = _decide(CLEAN, attestor=attestor)
    assert (outcome.allowed, outcome.message) == (False, NO_SCAN)


@pytest.mark.parametrize(
    ("scenario", "predicate", "message"),
    [
        ("no metadata", _with(("metadata",), ...), STALE),
        ("no finish time", _with(("metadata", "scanFinishedOn"), ...), STALE),
        ("finish time not a string", _with(("metadata", "scanFinishedOn"), 1732449600), STALE),
        ("finish time not RFC 3339", _with(("metadata", "scanFinishedOn"), "yesterday"), STALE),
        ("finish time without a zone", _with(("metadata", "scanFinishedOn"), "2026-11-24T11:00:00"), STALE),
        ("no scanner", _with(("scanner",), ...), ABOVE_MEDIUM),
        ("no report", _with(("scanner", "result"), ...), ABOVE_MEDIUM),
        ("a report that is not an object", _with(("scanner", "result"), "all clear"), ABOVE_MEDIUM),
        ("Results not a list", _with(("scanner", "result", "Results"), "none"), ABOVE_MEDIUM),
        ("a result that is not an object", _with(("scanner", "result", "Results"), ["ok"]), ABOVE_MEDIUM),
        ("Vulnerabilities not a list", vuln_predicate(report([os_result() | {"Vulnerabilities": {}}])), ABOVE_MEDIUM),
        ("a finding without a severity", vuln_predicate(report([os_result({"VulnerabilityID": "C"})])), ABOVE_MEDIUM),
        ("a severity in lower case", vuln_predicate(report([os_result(finding("low"))])), ABOVE_MEDIUM),
    ],
)
def test_a_malformed_scan_is_refused_with_the_policys_message(
    scenario: str, predicate: dict[str, Any], message: str
) -> None:
    outcome = _decide(predicate)
    assert (outcome.allowed, outcome.message) == (False, message), scenario


# --- the severity scale -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("max_severity", "admitted", "message"),
    [
        ("none", set(), "the image's vulnerability scan lists a finding (none may be present)"),
        ("low", {"LOW"}, "the image's vulnerability scan lists a finding above low (or of unknown severity)"),
        ("medium", {"LOW", "MEDIUM"}, ABOVE_MEDIUM),
        (
            "high",
            {"LOW", "MEDIUM", "HIGH"},
            "the image's vulnerability scan lists a finding above high (or of unknown severity)",
        ),
    ],
)
def test_each_level_admits_findings_up_to_it_and_a_clean_scan_always(
    max_severity: str, admitted: set[str], message: str
) -> None:
    policy = _policies(max_severity)["require-vulnerability-scan-payments"]
    assert _decide(CLEAN, policy=policy).allowed
    for severity in ("LOW", "MEDIUM", "HIGH", "CRITICAL", "UNKNOWN"):
        outcome = _decide(vuln_predicate(report([os_result(finding(severity))])), policy=policy)
        expected = (True, None) if severity in admitted else (False, message)
        assert (outcome.allowed, outcome.message) == expected, severity


def test_the_age_limit_is_the_namespaces() -> None:
    policy = _policies(max_age_hours=720)["require-vulnerability-scan-payments"]
    assert _decide(vuln_predicate(report(None), NOW - timedelta(days=29)), policy=policy).allowed
    outcome = _decide(vuln_predicate(report(None), NOW - timedelta(days=31)), policy=policy)
    assert outcome.message == (
        "the image's vulnerability scan is not from the last 720 hours — rescan the image and attest the new scan"
    )


# --- audit, shape and metadata ------------------------------------------------------------------------


def test_audit_reports_the_same_verdicts_and_never_denies() -> None:
    assert audit()["spec"]["validationActions"] == ["Audit"]
    assert audit()["spec"]["failurePolicy"] == "Ignore"
    assert enforce()["spec"]["validationActions"] == ["Deny"]
    assert enforce()["spec"]["failurePolicy"] == "Fail"
    critical = vuln_predicate(report([os_result(finding("CRITICAL"))]))
    reported = _decide(critical, policy=audit())
    assert (reported.allowed, reported.message) == (False, ABOVE_MEDIUM), "reported, in Audit only"
    assert _decide(CLEAN, policy=audit()).allowed


def test_the_policy_selects_only_its_namespace() -> None:
    for namespace in ("storefront", "analytics", "default"):
        assert not admit(enforce(), pod(namespace, [IMAGE]), now=NOW).matched


def test_the_policy_validates_strictly_against_the_crd(shared_dir: Path) -> None:
    for doc in (enforce(), audit()):
        assert crd_errors(doc) == [], doc["metadata"]["name"]


def test_the_policy_compiles_and_reads_the_scan_attestation() -> None:
    for doc in (enforce(), audit()):
        for expression in expressions(doc):
            compile_expression(expression)
    assert enforce()["spec"]["attestations"] == [{"name": "vuln", "intoto": {"type": VULN_SCAN_PREDICATE}}]


def test_the_policy_is_annotated_like_the_sbom_policy() -> None:
    sbom = policies()["require-sbom-payments"]["metadata"]
    vuln = enforce()["metadata"]
    assert vuln["labels"] == sbom["labels"]
    assert set(vuln["annotations"]) == set(sbom["annotations"])
    annotations = vuln["annotations"]
    assert annotations["policies.kyverno.io/title"] == "Require a recent, clean vulnerability scan"
    assert annotations["policies.kyverno.io/severity"] == "high"
    description = annotations["policies.kyverno.io/description"]
    assert description.startswith("An image with a known critical vulnerability")  # the risk first
    for fact in (VULN_SCAN_PREDICATE, "payments", "24 hours", "LOW, MEDIUM", "cosign attest --type vuln"):
        assert fact in description
    assert (
        enforce()["spec"]["validationConfigurations"]
        == policies()["require-sbom-payments"]["spec"]["validationConfigurations"]
    )


# --- the harness's clock and macros, as Kyverno's CEL has them -------------------------------------------


def _probe(expression: str) -> Manifest:
    """The policy with `expression` as its only validation (and no image verification required of it)."""
    settings = {"mutateDigest": False, "verifyDigest": False, "required": False}
    spec = {**enforce()["spec"], "validations": [{"expression": expression}], "validationConfigurations": settings}
    return {**enforce(), "spec": spec}


def test_time_now_is_the_clock_the_test_sets_as_a_timestamp() -> None:
    image = pod("payments", [IMAGE])
    assert admit(_probe("time.now() == timestamp('2026-11-24T12:00:00Z')"), image, now=NOW).allowed
    assert admit(_probe("time.now() - duration('3h') < time.now()"), image, now=NOW).allowed
    later = NOW + timedelta(hours=1)
    assert not admit(_probe("time.now() == timestamp('2026-11-24T12:00:00Z')"), image, now=later).allowed


def test_a_macro_over_null_is_an_error_that_a_false_conjunct_absorbs() -> None:
    """cel-go: `null.all(...)` is an error, and `false && <error>` is false; never a crash of the harness."""
    image = pod("payments", [IMAGE])
    assert not admit(_probe("type(null) == list && null.all(x, true)"), image, now=NOW).allowed
    with pytest.raises(EvaluationError):
        admit(_probe("null.all(x, true)"), image, now=NOW)
