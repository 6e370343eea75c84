"""Rego policies Policy Controller runs over one verified attestation (pure functions; the text of each).

Policy Controller verifies an attestation's signature, keeps only statements of the predicate type the
authority names, and hands each one whole to the policy as `input` (`_type`, `subject`, `predicateType`,
`predicate`). The policy is OPA Rego in package `sigstore`, read in the v0 syntax with the `if` / `in`
keywords imported; `isCompliant` must come out true for the statement to count. Each policy checks the
statement's predicate type itself too, so a statement of another type is never accepted, and reads the
predicate as the Kyverno policies do (components/render/kyverno_policies.py, kyverno_vulnerabilities.py):
the same fields, the same values, anything of another shape refused rather than an evaluation error.
"""

from __future__ import annotations

import json
from typing import Any

from components.model.contract import (
    GITHUB_ACTIONS_BUILD_TYPE,
    SCAN_CLOCK_SKEW_MINUTES,
    SCAN_FINISHED_PATTERN,
    SLSA_PROVENANCE_V02,
    SLSA_PROVENANCE_V1,
    VULN_SCAN_PREDICATE,
    SbomFormat,
)
from components.model.trust import Provenance, VulnerabilityScan

_NS_PER_HOUR = 3_600_000_000_000
_NS_PER_MINUTE = 60_000_000_000


def _literal(value: Any) -> str:
    return json.dumps(value)  # a JSON string, number or array is a Rego literal


def _module(comment: str, constants: dict[str, Any], rules: list[tuple[str, list[str]]]) -> dict[str, str]:
    """A `policy: {type: rego}` of `rules` (name, body expressions), `isCompliant` false unless one holds."""
    lines = [
        "package sigstore",
        "",
        "import future.keywords.if",
        "import future.keywords.in",
        "",
        f"# {comment}",
        "default isCompliant := false",
        "",
        *(f"{name} := {_literal(value)}" for name, value in constants.items()),
    ]
    for name, body in rules:
        lines += ["", f"{name} if {{", *(f"\t{expression}" for expression in body), "}"]
    return {"type": "rego", "data": "\n".join(lines) + "\n"}


def sbom_rego(sbom: SbomFormat) -> dict[str, str]:
    """An SBOM of `sbom`'s format whose list (packages, components) holds at least one entry with a name."""
    listed = f"input.predicate.{sbom.list_field}"
    return _module(
        f"a {sbom.title} SBOM listing at least one {sbom.item} with a name (`[{{}}]` lists nothing to look up)",
        {"predicate_type": sbom.predicate_type},
        [
            (
                "isCompliant",
                [
                    "input.predicateType == predicate_type",
                    f"is_array({listed})",
                    f"some entry in {listed}",
                    "is_string(entry.name)",
                    'entry.name != ""',
                ],
            )
        ],
    )


def provenance_v1_rego(provenance: Provenance) -> dict[str, str]:
    """SLSA v1 provenance naming the builder, GitHub Actions' build type and the build's own source: the
    workflow's repository (and ref, when pinned) in the build definition's external parameters."""
    workflow = "input.predicate.buildDefinition.externalParameters.workflow"
    constants: dict[str, Any] = {
        "predicate_type": SLSA_PROVENANCE_V1,
        "builder_id": provenance.builder_id,
        "build_type": GITHUB_ACTIONS_BUILD_TYPE,
        "source_repository": provenance.source_repository,
    }
    body = [
        "input.predicateType == predicate_type",
        "input.predicate.runDetails.builder.id == builder_id",
        "input.predicate.buildDefinition.buildType == build_type",
        f"{workflow}.repository == source_repository",
    ]
    if provenance.source_ref:
        constants["source_ref"] = provenance.source_ref
        body.append(f"{workflow}.ref == source_ref")
    return _module(
        "SLSA v1 provenance from the trusted builder, of the reviewed source", constants, [("isCompliant", body)]
    )


def provenance_v02_rego(provenance: Provenance) -> dict[str, str]:
    """SLSA v0.2 provenance naming the builder and the config source (its URI with the ref, when pinned, else
    its prefix) with a commit digest."""
    source = "input.predicate.invocation.configSource"
    uri = f"{source}.uri == source_uri" if provenance.source_ref else f"startswith({source}.uri, source_uri)"
    body = [
        "input.predicateType == predicate_type",
        "input.predicate.builder.id == builder_id",
        f"is_string({source}.uri)",
        uri,
        f"is_string({source}.digest.sha1)",
        f'regex.match("^[0-9a-f]{{40}}$", {source}.digest.sha1)',
    ]
    return _module(
        "SLSA v0.2 provenance from the trusted builder, of the reviewed source at a commit",
        {
            "predicate_type": SLSA_PROVENANCE_V02,
            "builder_id": provenance.builder_id,
            "source_uri": provenance.source_uri,
        },
        [("isCompliant", body)],
    )


def vulnerability_rego(scan: VulnerabilityScan) -> dict[str, str]:
    """A cosign vuln scan finished (RFC 3339) within `max_age_hours` and not in the future (beyond the clock
    skew), holding a report whose findings all have an allowed severity. `Results` or a result's
    `Vulnerabilities` absent or null is clean; a report of any other shape is refused."""
    finished = "input.predicate.metadata.scanFinishedOn"
    results = "input.predicate.scanner.result.Results"
    return _module(
        f"a vulnerability scan from the last {scan.max_age_hours} hours with no finding above {scan.max_severity}",
        {
            "predicate_type": VULN_SCAN_PREDICATE,
            "finished_pattern": SCAN_FINISHED_PATTERN,
            "max_age_ns": scan.max_age_hours * _NS_PER_HOUR,
            "clock_skew_ns": SCAN_CLOCK_SKEW_MINUTES * _NS_PER_MINUTE,
            "allowed": list(scan.allowed),
        },
        [
            (
                "isCompliant",
                [
                    "input.predicateType == predicate_type",
                    f"is_string({finished})",
                    f"regex.match(finished_pattern, {finished})",
                    f"finished := time.parse_rfc3339_ns({finished})",
                    "finished + max_age_ns >= time.now_ns()",
                    "finished <= time.now_ns() + clock_skew_ns",
                    "is_object(input.predicate.scanner.result)",
                    "not unreadable",
                    "not above",
                ],
            ),
            ("unreadable", [f"{results} != null", f"not is_array({results})"]),
            ("unreadable", [f"is_array({results})", f"some result in {results}", "not is_object(result)"]),
            (
                "unreadable",
                [
                    f"is_array({results})",
                    f"some result in {results}",
                    "is_object(result)",
                    "result.Vulnerabilities != null",
                    "not is_array(result.Vulnerabilities)",
                ],
            ),
            (
                "above",
                [
                    f"is_array({results})",
                    f"some result in {results}",
                    "is_array(result.Vulnerabilities)",
                    "some finding in result.Vulnerabilities",
                    "not finding.Severity in allowed",
                ],
            ),
        ],
    )
