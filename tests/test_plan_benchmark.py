"""Benchmark, run on demand (`make benchmark`): the offline plan of a 200-namespace stack costs at most
twice the plan of the same stack with 2 namespaces, whole process (figures go in the notes)."""

from __future__ import annotations

import copy
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT

pytestmark = pytest.mark.benchmark
ROUNDS = 5
BUILDER = "https://github.com/contoso/workflows/.github/workflows/build-sign-attest.yml@refs/heads/main"


def stack_with(namespaces: int, folder: Path) -> Path:
    """The dev stack with `namespaces` namespaces (each requiring an SBOM and provenance) and 10 keyless
    identities."""
    document: dict[str, Any] = yaml.safe_load((ROOT / "stacks" / "Pulumi.dev.yaml").read_text())
    config = copy.deepcopy(document["config"])
    config["supply-chain:signing"]["keyless"] = [
        {
            "issuer": "https://token.actions.githubusercontent.com",
            "subject": f"https://github.com/contoso/team{i}/.github/workflows/release.yml@refs/heads/main",
        }
        for i in range(10)
    ]
    names = [f"team-{i:03d}" for i in range(namespaces)]
    config["supply-chain:admission"]["namespaces"] = {n: {"mode": "audit"} for n in names}
    config["supply-chain:admission"]["attestations"] = {
        n: {
            "sbom": "spdx",
            "provenance": {
                "builderId": BUILDER,
                "sourceRepository": f"https://github.com/contoso/app-{n}",
                "sourceRef": "refs/heads/main",
            },
        }
        for n in names
    }
    path = folder / f"Pulumi.ns{namespaces}.yaml"
    path.write_text(yaml.safe_dump({"config": config}, sort_keys=False))
    return path


def _plan_seconds(stack: Path, out: Path) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of one whole-process plan."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "scripts.plan", "--config", str(stack), "--out", str(out), "--quiet"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), wall


def test_plan_of_200_namespaces_costs_at_most_twice_the_plan_of_2(tmp_path: Path) -> None:
    small, large = stack_with(2, tmp_path), stack_with(200, tmp_path)
    _plan_seconds(small, tmp_path / "warm")  # warm the file cache
    runs: dict[str, list[tuple[float, float]]] = {"2": [], "200": []}
    for _ in range(ROUNDS):  # interleaved, so drift in the machine's speed hits both alike
        runs["2"].append(_plan_seconds(small, tmp_path / "small"))
        runs["200"].append(_plan_seconds(large, tmp_path / "large"))
    cpu = {k: statistics.median(c for c, _ in v) for k, v in runs.items()}
    wall = {k: statistics.median(w for _, w in v) for k, v in runs.items()}
    ratios = sorted(b[0] / a[0] for a, b in zip(runs["2"], runs["200"], strict=True))
    print(
        f"\nplan, whole process, median of {ROUNDS}: 2 namespaces {cpu['2']:.2f} s CPU ({wall['2']:.2f} s wall), "
        f"200 namespaces {cpu['200']:.2f} s CPU ({wall['200']:.2f} s wall); CPU ratio per pair "
        f"min {ratios[0]:.2f} median {statistics.median(ratios):.2f} max {ratios[-1]:.2f}"
    )
    assert statistics.median(ratios) <= 2.0
