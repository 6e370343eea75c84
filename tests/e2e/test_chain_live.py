"""The whole post-deploy run against a real cluster and registry (make e2e).

Needs a deployed stack: SUPPLY_CHAIN_E2E_OUTPUTS (a `pulumi stack output --json --show-secrets`
file) or SUPPLY_CHAIN_E2E_STACK with the Pulumi CLI, a kubeconfig whose context reaches the cluster
(SUPPLY_CHAIN_E2E_CONTEXT, default: current), and registry credentials in the docker config.
Optional: SUPPLY_CHAIN_E2E_KNOWN_GOOD (IMAGE@sha256:...), SUPPLY_CHAIN_E2E_SIGNING_KEY (PEM) or
SUPPLY_CHAIN_E2E_STACK_KEY=1 (the local stack's generated key from the outputs).
Without them each test skips and says what is missing.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from scripts.verify import main

pytestmark = pytest.mark.e2e


def _kubeconfig_present() -> bool:
    paths = os.environ.get("KUBECONFIG", str(Path.home() / ".kube" / "config")).split(os.pathsep)
    return any(Path(p).is_file() for p in paths)


@pytest.fixture(scope="module")
def source() -> list[str]:
    if not _kubeconfig_present():
        pytest.skip("no kubeconfig: the live chain check needs a cluster (see README 'Local cluster (kind)')")
    if outputs := os.environ.get("SUPPLY_CHAIN_E2E_OUTPUTS"):
        return ["--outputs", outputs]
    if stack := os.environ.get("SUPPLY_CHAIN_E2E_STACK"):
        return ["--stack", stack]
    pytest.skip("no deployed stack: set SUPPLY_CHAIN_E2E_OUTPUTS (pulumi stack output --json file) or _STACK")


def test_the_chain_holds_on_the_live_cluster(source: list[str], tmp_path: Path) -> None:
    argv = ["check", *source, "--evidence", str(tmp_path)]
    if context := os.environ.get("SUPPLY_CHAIN_E2E_CONTEXT"):
        argv += ["--context", context]
    if known_good := os.environ.get("SUPPLY_CHAIN_E2E_KNOWN_GOOD"):
        argv += ["--known-good", known_good]
    if key := os.environ.get("SUPPLY_CHAIN_E2E_SIGNING_KEY"):
        argv += ["--signing-key", key]
    elif os.environ.get("SUPPLY_CHAIN_E2E_STACK_KEY") == "1":
        argv.append("--stack-signing-key")
    code = main(argv)
    evidence = json.loads((tmp_path / "evidence.json").read_text())
    failed = [c for c in evidence["checks"] if c["status"] == "fail"]
    assert code == 0, json.dumps(failed, indent=2)
    chain = [c for c in evidence["checks"] if c["id"].startswith("chain/") and c["status"] != "skip"]
    assert chain, "dry-run cases ran"
