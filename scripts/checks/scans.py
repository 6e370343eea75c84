"""What a namespace's vulnerability-scan requirement means for one image, with the meaning the Kyverno policy
gives it: a cosign vuln record (`predicate.metadata.scanFinishedOn`, Trivy's report in
`predicate.scanner.result`) finished within `max_age_hours` of now and not in the future beyond the clock
skew, every finding of an allowed severity; `Results` or `Vulnerabilities` absent or null is clean."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from components.model.contract import SCAN_CLOCK_SKEW_MINUTES, SCAN_FINISHED_PATTERN
from components.model.trust import VulnerabilityScan
from scripts.checks.documents import field


def scan_finished(statement: dict[str, Any]) -> datetime | None:
    """When the scan finished, if the record says so in RFC 3339 (the form the policy reads)."""
    finished = field(statement, "predicate", "metadata", "scanFinishedOn")
    if not isinstance(finished, str) or not re.fullmatch(SCAN_FINISHED_PATTERN, finished):
        return None
    try:
        return datetime.fromisoformat(finished)
    except ValueError:  # the right form, an impossible date (month 13)
        return None


def is_fresh(scan: VulnerabilityScan, statement: dict[str, Any], now: datetime) -> bool:
    """Whether the scan finished at most `max_age_hours` before `now`, and not later than the clock skew after."""
    finished = scan_finished(statement)
    if finished is None:
        return False
    return now - timedelta(hours=scan.max_age_hours) <= finished <= now + timedelta(minutes=SCAN_CLOCK_SKEW_MINUTES)


def is_clean(scan: VulnerabilityScan, statement: dict[str, Any]) -> bool:
    """Whether the record holds a report whose every finding has an allowed severity (exact, upper case)."""
    report = field(statement, "predicate", "scanner", "result")
    if not isinstance(report, dict):
        return False
    results = report.get("Results")
    if results is None:
        return True
    if not isinstance(results, list):
        return False
    for result in results:
        if not isinstance(result, dict):
            return False
        findings = result.get("Vulnerabilities")
        if findings is None:
            continue
        if not isinstance(findings, list):
            return False
        if not all(isinstance(f, dict) and f.get("Severity") in scan.allowed for f in findings):
            return False
    return True


def scan_problem(scan: VulnerabilityScan, statements: list[dict[str, Any]], now: datetime) -> str | None:
    """What is wrong with the image's signed scans (None: the newest one is fresh and clean). The newest scan
    decides: a rescan that found something is not outvoted by an older clean one."""
    if not statements:
        return "no vulnerability scan attestation by a trusted signer"
    dated = [(scan_finished(s), s) for s in statements]
    newest = max(dated, key=lambda d: d[0].timestamp() if d[0] is not None else float("-inf"))[1]
    if not is_fresh(scan, newest, now):
        return f"no vulnerability scan from the last {scan.max_age_hours} hours"
    if not is_clean(scan, newest):
        if scan.max_severity == "none":
            return "the vulnerability scan lists a finding (none may be present)"
        return f"the vulnerability scan lists a finding above {scan.max_severity} (or of unknown severity)"
    return None
