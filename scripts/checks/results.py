"""What a check is and what it leaves behind.

A `Check` names an expectation (id, title, expected) and observes: it returns an `Observation` (pass or
skip, with what it saw) or raises `CheckFailed` with what it saw instead. `run_check` times it and turns
that raise into a `fail` result; any other error (the cluster or registry unreachable) propagates, so
the CLI reports it once instead of as a failure of every check.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Status = Literal["pass", "fail", "skip"]


@dataclass(frozen=True)
class CheckResult:
    """One check's outcome, as the evidence (JSON, JUnit, Markdown) records it."""

    id: str
    title: str
    status: Status
    expected: str
    observed: str
    seconds: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        """The result as evidence.json holds it."""
        return {
            "id": self.id,
            "title": self.title,
            "status": self.status,
            "expected": self.expected,
            "observed": self.observed,
            "seconds": round(self.seconds, 3),
            "details": self.details,
        }


@dataclass(frozen=True)
class Observation:
    """What a check saw when it did not fail: `pass` (or `skip`, with the reason as `observed`)."""

    observed: str
    status: Literal["pass", "skip"] = "pass"
    details: Mapping[str, Any] = field(default_factory=dict)


class CheckFailed(Exception):  # noqa: N818 - a check's outcome, not an error of the checks (those are CheckError)
    """Raised by a check that saw something other than what it expects; `observed` says what."""

    def __init__(self, observed: str, details: Mapping[str, Any] | None = None) -> None:
        super().__init__(observed)
        self.observed = observed
        self.details = dict(details or {})


def passed_if(ok: bool, observed: str, details: Mapping[str, Any] | None = None) -> Observation:
    """A pass observing `observed` when `ok`; otherwise raises `CheckFailed` with the same text."""
    if not ok:
        raise CheckFailed(observed, details)
    return Observation(observed, details=details or {})


@dataclass(frozen=True)
class Check:
    """One expectation: `observe` returns what it saw, or raises `CheckFailed`."""

    id: str
    title: str
    expected: str
    observe: Callable[[], Observation]

    def result(
        self, status: Status, observed: str, seconds: float = 0.0, details: Mapping[str, Any] | None = None
    ) -> CheckResult:
        """This check's result as given (for one that was not run, or not answered in time)."""
        return CheckResult(self.id, self.title, status, self.expected, observed, seconds, dict(details or {}))


def run_check(check: Check) -> CheckResult:
    """Run `check`, timed; `CheckFailed` becomes a `fail` result, any other error propagates."""
    start = time.monotonic()
    try:
        seen = check.observe()
    except CheckFailed as failure:
        return check.result("fail", failure.observed, time.monotonic() - start, failure.details)
    return check.result(seen.status, seen.observed, time.monotonic() - start, seen.details)


def run_checks(checks: Iterable[Check]) -> list[CheckResult]:
    """`run_check` for each check, in order."""
    return [run_check(check) for check in checks]
