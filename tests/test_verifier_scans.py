"""The independent verifier decides a namespace's vulnerability-scan requirement as the Kyverno policy does,
on the same scanner output (tests/vuln_scans.py): a signed cosign-vuln record, fresh, nothing above the
namespace's severity; its message says which of the three is missing."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from components.model.contract import SBOM_FORMATS, VULN_SCAN_PREDICATE
from components.model.trust import KeyAuthority, NamespacePolicy, SigstoreInstance, TrustModel, VulnerabilityScan
from scripts.checks.cosign import COSIGN_SIGN_PREDICATE
from scripts.checks.images import ImageReport, Proof, requirement_problems
from tests.vuln_scans import CLEAN, NOW, finding, os_result, report, vuln_predicate

KEY = "key canary-key (pinned public key)"
MODEL = TrustModel(
    keyless=(),
    keys=(KeyAuthority("canary-key", public_key_pem="(pinned)"),),
    sigstore=SigstoreInstance(),
    signed_registries=("r.example",),
    allowed_registries=("r.example",),
    namespaces=(),
    require_digest=True,
)
APPS = NamespacePolicy("apps", "enforce", vulnerabilities=VulnerabilityScan("medium", 24))
NO_SCAN = "no vulnerability scan attestation by a trusted signer"
STALE = "no vulnerability scan from the last 24 hours"
ABOVE_MEDIUM = "the vulnerability scan lists a finding above medium (or of unknown severity)"


def _report(*predicates: dict[str, Any], kind: str = VULN_SCAN_PREDICATE, by: str | None = KEY) -> ImageReport:
    proofs = [Proof("bundle", "signature", COSIGN_SIGN_PREDICATE, KEY)]
    proofs += [
        Proof("bundle", "attestation", kind, by, statement={"predicateType": kind, "predicate": p}) for p in predicates
    ]
    return ImageReport("r.example/app@sha256:" + "1" * 64, tuple(proofs))


def _problems(image: ImageReport, ns: NamespacePolicy = APPS) -> list[str]:
    return requirement_problems(image, ns, MODEL, now=NOW)


@pytest.mark.parametrize(
    ("scenario", "predicates", "expected"),
    [
        ("clean report", [CLEAN], []),
        ("a CRITICAL finding", [vuln_predicate(report([os_result(finding("CRITICAL"))]))], [ABOVE_MEDIUM]),
        ("exactly the allowed level", [vuln_predicate(report([os_result(finding("MEDIUM"))]))], []),
        ("a finding nobody rated", [vuln_predicate(report([os_result(finding("UNKNOWN"))]))], [ABOVE_MEDIUM]),
        ("Results left out", [vuln_predicate(report(None))], []),
        ("Results null", [vuln_predicate(report(None) | {"Results": None})], []),
        ("a result without Vulnerabilities", [vuln_predicate(report([os_result()]))], []),
        ("Vulnerabilities null", [vuln_predicate(report([os_result() | {"Vulnerabilities": None}]))], []),
        (
            "a clean result before one with a CRITICAL finding",
            [vuln_predicate(report([os_result(), os_result(finding("CRITICAL"))]))],
            [ABOVE_MEDIUM],
        ),
        ("stale", [vuln_predicate(report(None), NOW - timedelta(hours=25))], [STALE]),
        ("exactly at the age limit", [vuln_predicate(report(None), NOW - timedelta(hours=24))], []),
        ("from the future", [vuln_predicate(report(None), NOW + timedelta(minutes=6))], [STALE]),
        ("exactly at the clock-skew allowance", [vuln_predicate(report(None), NOW + timedelta(minutes=5))], []),
        ("no scan attestation", [], [NO_SCAN]),
    ],
)
def test_the_verifier_decides_each_scan_as_admission_does(
    scenario: str, predicates: list[dict[str, Any]], expected: list[str]
) -> None:
    assert _problems(_report(*predicates)) == expected, scenario


def test_an_attestation_of_another_predicate_type_never_counts() -> None:
    for other in ("https://cosign.sigstore.dev/attestation/v1", SBOM_FORMATS["spdx"].predicate_type):
        assert _problems(_report(CLEAN, kind=other)) == [NO_SCAN], other


def test_an_unsigned_or_foreign_signed_scan_never_counts() -> None:
    assert _problems(_report(CLEAN, by=None)) == [NO_SCAN], "no trusted authority verified it"
    tenant = replace(APPS, signers=("payments-release",))
    # signed by a trusted key, but not by the namespace's own signers (the image signature fails the same way)
    assert _problems(_report(CLEAN), tenant) == [
        "no signature by apps's signers (payments-release)",
        NO_SCAN,
    ]


@pytest.mark.parametrize(
    ("scenario", "predicate", "expected"),
    [
        ("no finish time", vuln_predicate(report(None)) | {"metadata": {}}, STALE),
        ("finish time not RFC 3339", vuln_predicate(report(None), "yesterday"), STALE),
        ("finish time without a zone", vuln_predicate(report(None), "2026-11-24T11:00:00"), STALE),
        ("an impossible date", vuln_predicate(report(None), "2026-13-24T11:00:00Z"), STALE),
        ("no report", vuln_predicate("all clear"), ABOVE_MEDIUM),  # type: ignore[arg-type]
        ("Results not a list", vuln_predicate(report(None) | {"Results": "none"}), ABOVE_MEDIUM),
        (
            "Vulnerabilities not a list",
            vuln_predicate(report([os_result() | {"Vulnerabilities": "CRITICAL"}])),
            ABOVE_MEDIUM,
        ),
        ("a result that is not an object", vuln_predicate(report(["ok"])), ABOVE_MEDIUM),  # type: ignore[list-item]
        ("a finding without a severity", vuln_predicate(report([os_result({"VulnerabilityID": "C"})])), ABOVE_MEDIUM),
        ("a severity in lower case", vuln_predicate(report([os_result(finding("low"))])), ABOVE_MEDIUM),
        ("a predicate that is not an object", ["not", "a", "record"], STALE),
    ],
)
def test_a_malformed_scan_is_refused_not_a_crash(scenario: str, predicate: Any, expected: str) -> None:
    assert _problems(_report(predicate)) == [expected], scenario


@pytest.mark.parametrize(
    ("max_severity", "admitted"),
    [("none", set()), ("low", {"LOW"}), ("medium", {"LOW", "MEDIUM"}), ("high", {"LOW", "MEDIUM", "HIGH"})],
)
def test_each_level_admits_findings_up_to_it(max_severity: str, admitted: set[str]) -> None:
    ns = NamespacePolicy("apps", "enforce", vulnerabilities=VulnerabilityScan(max_severity, 24))  # type: ignore[arg-type]
    assert _problems(_report(CLEAN), ns) == []
    refusal = (
        "the vulnerability scan lists a finding (none may be present)"
        if max_severity == "none"
        else f"the vulnerability scan lists a finding above {max_severity} (or of unknown severity)"
    )
    for severity in ("LOW", "MEDIUM", "HIGH", "CRITICAL", "UNKNOWN"):
        found = _problems(_report(vuln_predicate(report([os_result(finding(severity))]))), ns)
        assert found == ([] if severity in admitted else [refusal]), severity


def test_the_newest_scan_decides() -> None:
    """A rescan that found something is not outvoted by an older clean scan (nor a stale one by a fresh one)."""
    old_clean = vuln_predicate(report(None), NOW - timedelta(hours=10))
    new_critical = vuln_predicate(report([os_result(finding("CRITICAL"))]), NOW - timedelta(hours=1))
    assert _problems(_report(old_clean, new_critical)) == [ABOVE_MEDIUM]
    assert _problems(_report(new_critical, vuln_predicate(report(None), NOW - timedelta(minutes=5)))) == []
    undated = vuln_predicate(report(None), "yesterday")
    assert _problems(_report(undated, old_clean)) == [], "an undated record never counts as the newest"


def test_without_a_clock_the_verifier_reads_the_current_time() -> None:
    years_ago = vuln_predicate(report(None), "2020-01-01T00:00:00Z")
    assert requirement_problems(_report(years_ago), APPS, MODEL) == [STALE]
