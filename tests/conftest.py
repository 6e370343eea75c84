"""Shared fixtures: plan any stack (or config mapping) in-process on the mock engine."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from components.stack_file import read_stack_file
from scripts.planning import Plan, plan_config, plan_stack

ROOT = Path(__file__).resolve().parent.parent
STACKS = ROOT / "stacks"
SHIPPED_STACKS = sorted(p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in STACKS.glob("Pulumi.*.yaml"))
SHARED = ROOT.parent / "shared"


def stack_raw(stack: str) -> dict[str, Any]:
    """A shipped stack's project config (keys without the prefix), safe to mutate."""
    return copy.deepcopy(read_stack_file(STACKS / f"Pulumi.{stack}.yaml").raw)


@pytest.fixture
def plan_of() -> Callable[[str], Plan]:
    """Plan a shipped stack by name. Each call starts from a fresh Pulumi runtime."""

    def run(stack: str) -> Plan:
        return plan_stack(read_stack_file(STACKS / f"Pulumi.{stack}.yaml"))

    return run


@pytest.fixture
def plan_raw() -> Callable[[Mapping[str, Any]], Plan]:
    """Plan a config mapping (top-level keys without the `supply-chain:` prefix)."""

    def run(raw: Mapping[str, Any], stack: str = "test") -> Plan:
        return plan_config(raw, stack=stack)

    return run


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """../shared (upstream CRDs, chart values, Sigstore fixtures); CI has it, a user's clone may not."""
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} is absent: upstream schemas and fixtures live there (CI provides it)")
    return SHARED
