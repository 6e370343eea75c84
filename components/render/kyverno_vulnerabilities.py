"""Kyverno's vulnerability-scan policy: a signed scan of every image, recent, with nothing above the
namespace's severity (pure functions; manifests as plain dicts).

The scan is cosign's vuln predicate (`trivy image --format cosign-vuln`, attested with `cosign attest --type
vuln`): `predicate.metadata.scanFinishedOn` says when, `predicate.scanner.result` holds Trivy's JSON report,
whose `Results[].Vulnerabilities[].Severity` is LOW, MEDIUM, HIGH, CRITICAL or UNKNOWN. Trivy leaves out (or
writes null for) `Results` and `Vulnerabilities` when it found nothing, so both read as clean; any other shape
(a report that is not an object, a finding without a severity) is refused, never an evaluation error.

Freshness uses Kyverno's `time.now()` (the `kyverno.time` CEL library every ImageValidatingPolicy of Kyverno
1.19 gets) against the scan's RFC 3339 `scanFinishedOn`: a scan older than `maxAgeHours`, or dated more than
the contract's clock skew in the future, is stale. Admission decides when a pod is created or its images
change: a running pod is not evicted when its scan turns stale, its replacement is denied.
"""

from __future__ import annotations

from components.model.contract import (
    SCAN_CLOCK_SKEW_MINUTES,
    SCAN_FINISHED_PATTERN,
    VULN_SCAN_PREDICATE,
    vulnerability_policy_name,
)
from components.model.trust import NamespacePolicy, NamespaceScope, TrustModel, VulnerabilityScan
from components.render.cel import cel_string
from components.render.kyverno_attestors import any_of, image_policy
from components.render.kyverno_common import Manifest, policy_annotations
from components.render.shared import has_authority

PREDICATE = "extractPayload(image, attestations.vuln).predicate"


def _absent_or_null(value: str) -> str:
    return f"type({value}) == null_type"


def fresh_check(scan: VulnerabilityScan) -> str:
    """CEL: the scan says when it finished (RFC 3339), at most `max_age_hours` ago and not in the future."""
    finished = f"{PREDICATE}.metadata.scanFinishedOn"
    return " && ".join(
        [
            f"type({PREDICATE}) == map",
            f"has({PREDICATE}.metadata)",
            f"type({PREDICATE}.metadata) == map",
            f"has({finished})",
            f"type({finished}) == string",
            # checked before timestamp(), so a malformed date is refused rather than an evaluation error
            f"{finished}.matches({cel_string(SCAN_FINISHED_PATTERN)})",
            f"timestamp({finished}) + duration('{scan.max_age_hours}h') >= time.now()",
            f"timestamp({finished}) <= time.now() + duration('{SCAN_CLOCK_SKEW_MINUTES}m')",
        ]
    )


def severity_check(scan: VulnerabilityScan) -> str:
    """CEL: the scan holds a report, and every finding in it has one of the allowed severities (with none
    allowed, any finding fails); `Results` or a result's `Vulnerabilities` absent or null is clean."""
    report = f"{PREDICATE}.scanner.result"
    allowed = "[" + ", ".join(cel_string(s) for s in scan.allowed) + "]"
    finding = f"type(v) == map && has(v.Severity) && v.Severity in {allowed}"
    findings = "r.Vulnerabilities"
    result = (
        f"type(r) == map && (!has({findings}) || {_absent_or_null(findings)}"
        f" || (type({findings}) == list && {findings}.all(v, {finding})))"
    )
    results = f"{report}.Results"
    return " && ".join(
        [
            f"type({PREDICATE}) == map",
            f"has({PREDICATE}.scanner)",
            f"type({PREDICATE}.scanner) == map",
            f"has({report})",
            f"type({report}) == map",
            f"(!has({results}) || {_absent_or_null(results)}"
            f" || (type({results}) == list && {results}.all(r, {result})))",
        ]
    )


def _above(scan: VulnerabilityScan) -> str:
    if scan.max_severity == "none":
        return "a finding (none may be present)"
    return f"a finding above {scan.max_severity} (or of unknown severity)"


def vulnerability_policy(model: TrustModel, ns: NamespacePolicy) -> Manifest | None:
    """A signed, recent vulnerability scan with nothing above the namespace's severity, on every image admitted
    there (`model` as the namespace sees it: its signers sign the scan, as they sign the SBOM)."""
    scan = ns.vulnerabilities
    if scan is None or not has_authority(model):
        return None
    allowed = ", ".join(scan.allowed) or "none at all"
    description = (
        "An image with a known critical vulnerability is an open door, and a scan goes stale as new "
        f"vulnerabilities are published every day. Every image admitted in {ns.name} must carry a vulnerability "
        f"scan attestation (predicate {VULN_SCAN_PREDICATE}) signed by a trusted signer, finished within the last "
        f"{scan.max_age_hours} hours, whose findings are all of severity {allowed}. Scan with `trivy image --format "
        "cosign-vuln`, attest with `cosign attest --type vuln`, and rescan running images before the scan expires."
    )
    verify = any_of(model, "verifyAttestationSignatures(image, attestations.vuln, {attestor})")
    return image_policy(
        model,
        vulnerability_policy_name(ns.name),
        ns.mode,
        NamespaceScope(False, listed=(ns.name,)),
        policy_annotations("Require a recent, clean vulnerability scan", "high", description),
        [{"name": "vuln", "intoto": {"type": VULN_SCAN_PREDICATE}}],
        [
            {
                "expression": f"variables.allImages.all(image, {verify})",
                "message": "image has no vulnerability scan attestation signed by a trusted signer",
            },
            {
                "expression": f"variables.allImages.all(image, {fresh_check(scan)})",
                "message": f"the image's vulnerability scan is not from the last {scan.max_age_hours} hours — "
                "rescan the image and attest the new scan",
            },
            {
                "expression": f"variables.allImages.all(image, {severity_check(scan)})",
                "message": f"the image's vulnerability scan lists {_above(scan)}",
            },
        ],
    )
