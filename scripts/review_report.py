"""The review of a plan, written for machines (review.json) and for a pull-request comment (review.md): the
policy pack's violations over the planned resources, then the stack config's findings."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from components.model.config.stack_file import line_of
from policies.offline import Violation
from policies.review import CONFIG_RULE, Finding, pack_rule
from policies.rules import ALL_POLICIES
from scripts.review_sarif import review_sarif

FIXES = {policy.name: policy.remediation_steps or "" for policy in ALL_POLICIES}
"""Each pack rule's remediation: the fix review.json and review.md give with its violations and findings."""


def review_entries(
    violations: Sequence[Violation], findings: Sequence[Finding], lines: Mapping[str, int] | None = None
) -> list[dict[str, Any]]:
    """review.json: `{rule, urn, level, message, fix}` per violation, then each config finding with its `key`,
    `severity`, `packRule` (the pack rule reporting the same concern from the resources) and `line` (of the stack
    file: the key's, or its nearest written parent's; no urn: it is about the stack file, not a resource)."""
    entries: list[dict[str, Any]] = [{**v.as_json(), "fix": FIXES.get(v.rule, "")} for v in violations]
    entries += [
        {
            "rule": CONFIG_RULE,
            "urn": None,
            "level": "advisory",
            "message": f.message,
            "key": f.key,
            "severity": f.severity,
            "packRule": pack_rule(f),
            "line": line_of(lines or {}, f.key),
            "fix": FIXES.get(pack_rule(f) or "", ""),
        }
        for f in findings
    ]
    return entries


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def review_markdown(
    stack: str, violations: Sequence[Violation], findings: Sequence[Finding], lines: Mapping[str, int] | None = None
) -> str:
    """review.md: counts first, then one table per kind, for a pull-request comment."""
    levels = Counter(v.level for v in violations)
    table = [
        f"## Review of stack `{stack}`",
        "",
        f"Policy pack: **{levels['mandatory']} mandatory**, {levels['advisory']} advisory violations. "
        f"Stack config: {len(findings)} findings.",
        "",
    ]
    if violations:
        table += ["| level | rule | resource | violation | fix |", "| --- | --- | --- | --- | --- |"]
        table += [
            f"| {v.level} | `{v.rule}` | `{v.urn.rsplit('::', 1)[-1]}` | {_cell(v.message)} | "
            f"{_cell(FIXES.get(v.rule, ''))} |"
            for v in violations
        ]
        table.append("")
    if findings:
        table += ["| severity | key | line | finding | pack rule |", "| --- | --- | --- | --- | --- |"]
        table += [
            f"| {f.severity} | `{f.key}` | {line_of(lines or {}, f.key) or ''} | {_cell(f.message)} | "
            f"{f'`{rule}`' if (rule := pack_rule(f)) else ''} |"
            for f in findings
        ]
        table.append("")
    return "\n".join(table)


def write_review(
    out: Path,
    stack: str,
    violations: Sequence[Violation],
    findings: Sequence[Finding],
    lines: Mapping[str, int],
    stack_file: Path,
) -> None:
    """Write review.json, review.md and review.sarif into the plan directory (`lines`: the stack file's, by key)."""
    (out / "review.json").write_text(json.dumps(review_entries(violations, findings, lines), indent=2) + "\n")
    (out / "review.md").write_text(review_markdown(stack, violations, findings, lines))
    sarif = review_sarif(stack, violations, findings, lines, stack_file)
    (out / "review.sarif").write_text(json.dumps(sarif, indent=2, sort_keys=True) + "\n")
