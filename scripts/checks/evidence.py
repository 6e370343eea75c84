"""Evidence of a run: JSON (everything), JUnit XML (CI test reports), Markdown (step summary)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from scripts.checks.results import CheckResult


def summary(results: Sequence[CheckResult]) -> dict[str, int]:
    """How many checks passed, failed and were skipped, and the total."""
    counts = Counter(r.status for r in results)
    return {"pass": counts["pass"], "fail": counts["fail"], "skip": counts["skip"], "total": len(results)}


def as_json(results: Sequence[CheckResult], context: dict[str, Any]) -> dict[str, Any]:
    """evidence.json: the run's context, the summary and every result."""
    return {"context": context, "summary": summary(results), "checks": [r.as_json() for r in results]}


def as_junit(results: Sequence[CheckResult], suite: str) -> bytes:
    """junit.xml: one test case per check, for CI test reports."""
    counts = summary(results)
    root = ET.Element(
        "testsuite",
        name=suite,
        tests=str(counts["total"]),
        failures=str(counts["fail"]),
        skipped=str(counts["skip"]),
        time=f"{sum(r.seconds for r in results):.3f}",
    )
    for r in results:
        case = ET.SubElement(root, "testcase", classname=r.id.split("/")[0], name=r.id, time=f"{r.seconds:.3f}")
        if r.status == "fail":
            failure = ET.SubElement(case, "failure", message=f"expected {r.expected}; observed {r.observed}"[:500])
            failure.text = json.dumps(r.details, indent=2, default=str)
        elif r.status == "skip":
            ET.SubElement(case, "skipped", message=r.observed)
        ET.SubElement(case, "system-out").text = f"{r.title}\nexpected: {r.expected}\nobserved: {r.observed}"
    data: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return data


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def as_markdown(results: Sequence[CheckResult], title: str) -> str:
    """summary.md: a table of every check, failures first (a CI step summary)."""
    counts = summary(results)
    icon = {"pass": "✅", "fail": "❌", "skip": "⏭️"}
    lines = [
        f"## {title}",
        "",
        f"**{counts['pass']} passed, {counts['fail']} failed, {counts['skip']} skipped** of {counts['total']} checks.",
        "",
        "| | check | expected | observed |",
        "| --- | --- | --- | --- |",
    ]
    order = {"fail": 0, "pass": 1, "skip": 2}
    for r in sorted(results, key=lambda r: (order[r.status], r.id)):
        lines.append(f"| {icon[r.status]} | {_cell(r.title)} | {_cell(r.expected)} | {_cell(r.observed[:300])} |")
    return "\n".join(lines) + "\n"


def _command_value(text: str, *, property_: bool = False) -> str:
    """Escape `text` for a GitHub Actions workflow command (a property also escapes `:` and `,`)."""
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return text.replace(":", "%3A").replace(",", "%2C") if property_ else text


def github_annotations(results: Sequence[CheckResult]) -> list[str]:
    """`::error` workflow commands, one per failed check (GitHub shows them as annotations of the run)."""
    return [
        f"::error title={_command_value(r.id, property_=True)}::"
        + _command_value(f"{r.title}: expected {r.expected}; observed {r.observed}")
        for r in results
        if r.status == "fail"
    ]


def write(results: Sequence[CheckResult], folder: Path, context: dict[str, Any]) -> list[Path]:
    """Write the three evidence files into `folder`; returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    title = f"Supply chain checks: {context.get('stack', 'stack')}"
    files = {
        folder / "evidence.json": json.dumps(as_json(results, context), indent=2, default=str).encode(),
        folder / "junit.xml": as_junit(results, title),
        folder / "summary.md": as_markdown(results, title).encode(),
    }
    for path, data in files.items():
        path.write_bytes(data)
    return list(files)
