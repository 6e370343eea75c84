"""Vulnerability scan records as `trivy image --format cosign-vuln` writes them (cosign's vuln predicate
around Trivy's JSON report), for the admission and verifier tests: built from the fields upstream defines
(aquasecurity/trivy pkg/report/predicate, sigstore/cosign pkg/cosign/attestation), one per scenario."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

NOW = datetime(2026, 11, 24, 12, 0, 0, tzinfo=UTC)
"""The admission clock of every scenario."""


def finding(severity: str, cve: str = "CVE-2026-0001", package: str = "openssl") -> dict[str, Any]:
    """One entry of a result's `Vulnerabilities`, as Trivy reports it."""
    return {
        "VulnerabilityID": cve,
        "PkgID": f"{package}@3.3.2-r0",
        "PkgName": package,
        "InstalledVersion": "3.3.2-r0",
        "FixedVersion": "3.3.2-r1",
        "Status": "fixed",
        "SeveritySource": "nvd",
        "PrimaryURL": f"https://avd.aquasec.com/nvd/{cve.lower()}",
        "Title": "a flaw",
        "Severity": severity,
    }


def os_result(*findings: dict[str, Any]) -> dict[str, Any]:
    """A result for the image's OS packages; without findings Trivy leaves `Vulnerabilities` out."""
    result: dict[str, Any] = {"Target": "crcontoso.azurecr.io/payments/api (alpine 3.20.3)", "Class": "os-pkgs"}
    result["Type"] = "alpine"
    if findings:
        result["Vulnerabilities"] = list(findings)
    return result


def report(results: list[dict[str, Any]] | None) -> dict[str, Any]:
    """Trivy's JSON report (`types.Report`); `None` results: the key is left out, as for a clean scan."""
    doc: dict[str, Any] = {
        "SchemaVersion": 2,
        "CreatedAt": "2026-11-24T10:59:58.123456789Z",
        "ArtifactName": "crcontoso.azurecr.io/payments/api@sha256:" + "a" * 64,
        "ArtifactType": "container_image",
        "Metadata": {"OS": {"Family": "alpine", "Name": "3.20.3"}},
    }
    if results is not None:
        doc["Results"] = results
    return doc


def vuln_predicate(result: dict[str, Any], finished: datetime | str = NOW - timedelta(hours=1)) -> dict[str, Any]:
    """cosign's vuln predicate around `result` (the scanner's report), finished at `finished`
    (Go's RFC 3339 with nanoseconds, as Trivy marshals time.Time)."""
    stamp = finished if isinstance(finished, str) else finished.strftime("%Y-%m-%dT%H:%M:%S.%f") + "123Z"
    return {
        "invocation": {"parameters": None, "uri": "", "event_id": "", "builder.id": ""},
        "scanner": {
            "uri": "pkg:github/aquasecurity/trivy@0.58.1",
            "version": "0.58.1",
            "db": {"uri": "", "version": ""},
            "result": result,
        },
        "metadata": {"scanStartedOn": stamp, "scanFinishedOn": stamp},
    }


CLEAN = vuln_predicate(report([os_result()]))
"""A scan that found nothing: one result, no `Vulnerabilities`."""
