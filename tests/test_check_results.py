"""A check observes and raises on failure; `run_check` makes every outcome a result, except errors
that mean the run cannot go on (the cluster or registry unreachable), which the CLI reports once."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from scripts.checks.errors import UnreachableError
from scripts.checks.results import Check, CheckFailed, Observation, passed_if, run_check


def _check(observe: Callable[[], Observation]) -> Check:
    return Check("demo/check", "a demo check", "something", observe)


def test_a_raise_is_a_failure_with_what_was_seen() -> None:
    def observe() -> Observation:
        raise CheckFailed("something else", {"why": "demo"})

    failed = run_check(_check(observe))
    assert (failed.status, failed.observed, failed.details) == ("fail", "something else", {"why": "demo"})
    assert (failed.id, failed.title, failed.expected) == ("demo/check", "a demo check", "something")


def test_passes_and_skips_carry_their_observation() -> None:
    assert run_check(_check(lambda: passed_if(True, "something", {"n": 1}))).as_json() | {"seconds": 0} == {
        "id": "demo/check",
        "title": "a demo check",
        "status": "pass",
        "expected": "something",
        "observed": "something",
        "seconds": 0,
        "details": {"n": 1},
    }
    skipped = run_check(_check(lambda: Observation("not here", "skip")))
    assert (skipped.status, skipped.observed) == ("skip", "not here")
    assert run_check(_check(lambda: passed_if(False, "nothing"))).status == "fail"


def test_an_unreachable_cluster_is_not_a_check_failure() -> None:
    def observe() -> Observation:
        raise UnreachableError("cluster: timed out")

    with pytest.raises(UnreachableError):
        run_check(_check(observe))
