"""The review as SARIF 2.1.0 (review.sarif), so code-scanning views show each finding on its line of the stack file.

Every pack rule is a SARIF rule (its description, fix and enforcement level); each config finding is a result at its
key's line; each violation of a resource is a result at the line of the key its rule is about when the review has a
finding for it, otherwise at the top of the stack file, with the resource's URN as its logical location."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from components.model.config.stack_file import line_of
from policies.offline import Violation
from policies.review import CONFIG_RULE, Finding, Severity, pack_rule
from policies.rules import ALL_POLICIES
from scripts import PROJECT_ROOT, VERSION

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"

FINDING_LEVEL: dict[Severity, str] = {"high": "error", "medium": "warning", "low": "note", "info": "note"}
"""A config finding's severity as a SARIF result level."""

VIOLATION_LEVEL = {"mandatory": "error", "advisory": "warning"}

SECURITY_SEVERITY = {"mandatory": "8.0", "advisory": "5.0"}
"""GitHub code scanning ranks security alerts by this rule property (CVSS-like: 7.0+ high, 4.0+ medium)."""


def _rule(name: str, description: str, fix: str, level: str) -> dict[str, Any]:
    return {
        "id": name,
        "name": "".join(part.capitalize() for part in name.split("-")),
        "shortDescription": {"text": description},
        "fullDescription": {"text": f"{description} Fix: {fix}" if fix else description},
        "help": {"text": fix or description},
        "defaultConfiguration": {"level": VIOLATION_LEVEL.get(level, "warning")},
        "properties": {"tags": ["security", "supply-chain"], "security-severity": SECURITY_SEVERITY.get(level, "5.0")},
    }


def _rules() -> list[dict[str, Any]]:
    rules = [
        _rule(
            p.name, p.description, p.remediation_steps or "", p.enforcement_level.value if p.enforcement_level else ""
        )
        for p in ALL_POLICIES
    ]
    rules.append(
        _rule(CONFIG_RULE, "A stack config choice a reviewer should see (no pack rule reports it).", "", "advisory")
    )
    return rules


def artifact_uri(stack_file: Path) -> tuple[str, str | None]:
    """The stack file as SARIF names it: relative to the checkout (so code scanning finds it in the repository),
    or an absolute file URI for a file outside it."""
    resolved = stack_file.resolve()
    if resolved.is_relative_to(PROJECT_ROOT):
        return resolved.relative_to(PROJECT_ROOT).as_posix(), "%SRCROOT%"
    return resolved.as_uri(), None


def _location(uri: str, base: str | None, line: int | None) -> dict[str, Any]:
    artifact: dict[str, Any] = {"uri": uri}
    if base:
        artifact["uriBaseId"] = base
    return {"physicalLocation": {"artifactLocation": artifact, "region": {"startLine": line or 1}}}


def review_sarif(
    stack: str,
    violations: Sequence[Violation],
    findings: Sequence[Finding],
    lines: Mapping[str, int],
    stack_file: Path,
) -> dict[str, Any]:
    """The SARIF log of one stack's review: one run (its category the stack, so each stack's upload replaces only
    its own alerts), the pack's rules, a result per violation and finding."""
    uri, base = artifact_uri(stack_file)
    rules = _rules()
    index = {rule["id"]: i for i, rule in enumerate(rules)}
    # A resource has no line; the key its rule is about does when a config finding reports the same concern.
    rule_lines = {
        rule: line for f in findings if (rule := pack_rule(f)) and (line := line_of(lines, f.key)) is not None
    }
    results: list[dict[str, Any]] = []
    for v in violations:
        location = _location(uri, base, rule_lines.get(v.rule))
        location["logicalLocations"] = [{"fullyQualifiedName": v.urn, "kind": "resource"}]
        results.append(
            {
                "ruleId": v.rule,
                "ruleIndex": index[v.rule],
                "level": VIOLATION_LEVEL.get(v.level, "warning"),
                "message": {"text": f"{name}: {v.message}" if (name := v.urn.rsplit("::", 1)[-1]) else v.message},
                "locations": [location],
            }
        )
    for f in findings:
        rule = pack_rule(f) or CONFIG_RULE
        results.append(
            {
                "ruleId": rule,
                "ruleIndex": index[rule],
                "level": FINDING_LEVEL[f.severity],
                "message": {"text": f"{f.key.split(':', 1)[-1]}: {f.message}"},
                "locations": [_location(uri, base, line_of(lines, f.key))],
                "properties": {"key": f.key, "severity": f.severity},
            }
        )
    # No originalUriBaseIds: the checkout's absolute path would make plans differ between machines; code scanning
    # resolves %SRCROOT% to the repository root itself.
    run: dict[str, Any] = {
        "tool": {"driver": {"name": "supply-chain-review", "version": VERSION, "rules": rules}},
        "automationDetails": {"id": f"supply-chain-review/{stack}/"},
        "results": results,
    }
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}
