"""Live preview of an Azure stack with the real Pulumi CLI and Azure (make e2e).

Runs only where the CLI, a Pulumi backend and Azure credentials exist; otherwise each test skips
and says what is missing. After `pulumi up`, set SUPPLY_CHAIN_E2E_DEPLOYED=1 to also require that
a second preview shows no changes (the program is deterministic against the live state).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
STACK = os.environ.get("SUPPLY_CHAIN_E2E_STACK", "dev")


def _requirements() -> str | None:
    if shutil.which("pulumi") is None:
        return "the Pulumi CLI is not on PATH"
    if not (os.environ.get("ARM_SUBSCRIPTION_ID") or os.environ.get("AZURE_SUBSCRIPTION_ID")):
        if shutil.which("az") is None:
            return "no Azure credentials (ARM_SUBSCRIPTION_ID / AZURE_SUBSCRIPTION_ID, or the az CLI)"
        account = subprocess.run(["az", "account", "show"], capture_output=True, timeout=60, check=False)
        if account.returncode != 0:
            return "the az CLI is not logged in (az login)"
    whoami = subprocess.run(["pulumi", "whoami"], capture_output=True, timeout=60, check=False, cwd=ROOT)
    if whoami.returncode != 0:
        return "no Pulumi backend (pulumi login)"
    return None


@pytest.fixture(scope="module")
def live() -> None:
    missing = _requirements()
    if missing:
        pytest.skip(f"live Azure preview needs real credentials: {missing}")


def _pulumi(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["pulumi", *args, "--stack", STACK, "--non-interactive"],
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
        cwd=ROOT,
    )


def test_preview_succeeds_against_azure(live: None) -> None:
    result = _pulumi("preview", "--diff")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]


def test_second_preview_after_up_shows_no_changes(live: None) -> None:
    if os.environ.get("SUPPLY_CHAIN_E2E_DEPLOYED") != "1":
        pytest.skip("set SUPPLY_CHAIN_E2E_DEPLOYED=1 after `pulumi up` to check for drift")
    result = _pulumi("preview", "--expect-no-changes")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
