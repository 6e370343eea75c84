"""The mutation run's figures and its untriaged survivors (`make mutation`).

Reads mutmut's per-mutant statuses (`mutmut results --all true`) and the triage files (tests/mutation_triage*.toml:
each surviving mutant under the kind of reason it stays), and reports the kill rate over the mutants that can be
killed: equivalent mutants are left out of the denominator, every other survivor counts against the figure, triaged
or not. Exit 1 when a survivor is untriaged or the figure is under `--min-score`."""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from scripts import PROJECT_ROOT

KINDS = {
    "equivalent": "behaviour cannot differ: left out of the figure",
    "wording": "only the words of a message or description change; the decision holds",
    "import-time": "code run once at import, before mutmut switches the mutant on",
    "network": "caught only by a network the tests do not have",
    "other": "see its reason",
}
"""The kinds of reason a survivor may stay for; only `equivalent` leaves the figure's denominator."""

CAUGHT = {"killed", "timeout"}  # a timeout is a mutant that never finished its tests: not a passing one
UNCAUGHT = {"survived", "no tests"}
_STATUS = re.compile(r"^\s*(?P<name>[\w.ǁ]+__mutmut_\d+): (?P<status>[a-z ]+?)\s*$")
_MODULE = re.compile(r"^(?P<module>.+?)\.x(?:_|ǁ)")


class ReportError(ValueError):
    """An unreadable results or triage file; the message names the file and the line or key."""


@dataclass(frozen=True)
class Triaged:
    """Why one surviving mutant stays: its kind and a one-line reason."""

    kind: str
    reason: str


@dataclass
class Report:
    """The run's counts by status and module, the survivors kept by kind, the untriaged and the stale entries."""

    statuses: Counter[str] = field(default_factory=Counter)
    equivalent: int = 0
    untriaged: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    kept: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    by_module: dict[str, Counter[str]] = field(default_factory=dict)

    @property
    def caught(self) -> int:
        """Mutants whose tests failed or never finished."""
        return sum(self.statuses[s] for s in CAUGHT)

    @property
    def killable(self) -> int:
        """Mutants a test could catch: every one run, less the survivors triaged as equivalent."""
        return self.caught + sum(self.statuses[s] for s in UNCAUGHT) - self.equivalent

    @property
    def score(self) -> float:
        """The share of killable mutants caught, in percent."""
        return 100.0 * self.caught / self.killable if self.killable else 100.0


def parse_results(text: str, source: str = "results") -> dict[str, str]:
    """`mutmut results --all true` as {mutant: status}."""
    statuses: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        if not (match := _STATUS.match(line)):
            raise ReportError(f"{source}:{number}: not a `mutant: status` line")
        statuses[match["name"]] = match["status"]
    return statuses


def read_triage(files: Iterable[Path]) -> dict[str, Triaged]:
    """Every triaged mutant, from TOML tables named by kind; a mutant triaged twice or an unknown kind is refused."""
    triage: dict[str, Triaged] = {}
    for path in files:
        try:
            document = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ReportError(f"{path}: {exc}") from exc
        for kind, entries in document.items():
            if kind not in KINDS or not isinstance(entries, dict):
                raise ReportError(f"{path}: [{kind}] is not a kind of survivor ({', '.join(KINDS)})")
            for name, reason in entries.items():
                if not isinstance(reason, str) or not reason.strip():
                    raise ReportError(f"{path}: [{kind}] {name} needs a one-line reason")
                if name in triage:
                    raise ReportError(f"{path}: {name} is triaged twice ({triage[name].kind} and {kind})")
                triage[name] = Triaged(kind, reason.strip())
    return triage


def module_of(mutant: str) -> str:
    """The dotted module a mutant's name starts with."""
    return match["module"] if (match := _MODULE.match(mutant)) else mutant.rsplit(".", 1)[0]


def summarize(statuses: Mapping[str, str], triage: Mapping[str, Triaged]) -> Report:
    """The report of one run's statuses against the triage."""
    report = Report()
    for name, status in sorted(statuses.items()):
        report.statuses[status] += 1
        report.by_module.setdefault(module_of(name), Counter())[status] += 1
        if status in UNCAUGHT:
            if name not in triage:
                report.untriaged.append(name)
                continue
            kept = triage[name]
            report.equivalent += kept.kind == "equivalent"
            report.kept.setdefault(kept.kind, []).append((name, kept.reason))
    # A triaged mutant that is now caught, or gone, should leave the triage file.
    report.stale = sorted(n for n in triage if n not in statuses or statuses[n] in CAUGHT)
    return report


def markdown(report: Report) -> str:
    """build/mutation-report.md: the figure, a table per module, then the untriaged, kept and stale mutants."""
    s = report.statuses
    lines = [
        "# Mutation testing",
        "",
        f"**{report.score:.1f}%** of the mutants that can be killed are caught: {report.caught} of {report.killable} "
        f"({s['killed']} killed, {s['timeout']} timed out; {report.equivalent} equivalent survivors left out; "
        f"{s['not checked']} not run yet).",
        "",
        "| module | killed | timeout | survived | no tests | not checked |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    lines += [
        f"| `{module}` | {c['killed']} | {c['timeout']} | {c['survived']} | {c['no tests']} | {c['not checked']} |"
        for module, c in sorted(report.by_module.items())
    ]
    if report.untriaged:
        lines += ["", f"## Untriaged survivors ({len(report.untriaged)})", ""]
        lines += [f"- `{name}` (`mutmut show {name}`)" for name in report.untriaged]
    for kind, entries in sorted(report.kept.items()):
        lines += ["", f"## Kept: {kind} ({len(entries)}): {KINDS[kind]}", ""]
        lines += [f"- `{name}`: {reason}" for name, reason in entries]
    if report.stale:
        lines += ["", f"## Triage entries to remove ({len(report.stale)}): now caught or no longer a mutant", ""]
        lines += [f"- `{name}`" for name in report.stale]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """The command line; returns the exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m scripts.mutation_report",
        description="The mutation run's kill rate and its untriaged survivors.",
        epilog="Exit codes: 0 every survivor triaged and the score reached; 1 otherwise; 2 unreadable input.",
    )
    parser.add_argument("results", type=Path, help="output of `mutmut results --all true`")
    parser.add_argument("--triage", type=Path, nargs="*", help="triage files (default: tests/mutation_triage*.toml)")
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "build" / "mutation-report.md")
    parser.add_argument("--min-score", type=float, default=90.0, help="the lowest acceptable figure, in percent")
    args = parser.parse_args(argv)
    files = args.triage if args.triage is not None else sorted((PROJECT_ROOT / "tests").glob("mutation_triage*.toml"))
    try:
        text = args.results.read_text(encoding="utf-8")
        report = summarize(parse_results(text, str(args.results)), read_triage(files))
    except (OSError, ReportError) as exc:
        print(f"mutation report: {exc}", file=sys.stderr)
        return 2
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(markdown(report), encoding="utf-8")
    print(markdown(report).split("\n\n")[1])
    print(f"{len(report.untriaged)} untriaged survivors, {len(report.stale)} stale triage entries → {args.out}")
    return 0 if not report.untriaged and report.score >= args.min_score else 1


if __name__ == "__main__":
    sys.exit(main())
