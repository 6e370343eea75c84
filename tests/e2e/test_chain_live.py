"""The whole post-deploy run against a real cluster and registry (make e2e).

Needs a deployed stack: SUPPLY_CHAIN_E2E_OUTPUTS (a `pulumi stack output --json --show-secrets`
file) or SUPPLY_CHAIN_E2E_STACK with the Pulumi CLI, a kubeconfig whose context reaches the cluster
(SUPPLY_CHAIN_E2E_CONTEXT, default: current), and registry credentials in the docker config.
Optional: SUPPLY_CHAIN_E2E_KNOWN_GOOD (IMAGE@sha256:...), SUPPLY_CHAIN_E2E_SIGNING_KEY (PEM),
SUPPLY_CHAIN_E2E_STACK_KEY=1 (the local stack's generated key from the outputs) or SUPPLY_CHAIN_E2E_KMS_KEY (the
name of one of the stack's KMS keys, which then signs the canaries).
Without them each test skips and says what is missing.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

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
    elif kms_key := os.environ.get("SUPPLY_CHAIN_E2E_KMS_KEY"):
        argv += ["--kms-key", kms_key]
    code = main(argv)
    evidence = json.loads((tmp_path / "evidence.json").read_text())
    failed = [c for c in evidence["checks"] if c["status"] == "fail"]
    assert code == 0, json.dumps(failed, indent=2)
    assert chain_problems(evidence["checks"], _stack_outputs()) == []


def _stack_outputs() -> dict[str, Any] | None:
    """The outputs file when the run read one (SUPPLY_CHAIN_E2E_OUTPUTS); None with --stack."""
    path = os.environ.get("SUPPLY_CHAIN_E2E_OUTPUTS")
    return json.loads(Path(path).read_text()) if path else None


def chain_problems(checks: list[dict[str, Any]], outputs: dict[str, Any] | None) -> list[str]:
    """What is wrong with the chain results: every namespace's unsigned canary was tried, each case
    observed what it expected (a denial naming one of the stack's policies, or an admission), and
    something was admitted in an enforce namespace."""
    chain = {c["id"]: c for c in checks if c["id"].startswith("chain/") and c["status"] != "skip"}
    cases = {i: c for i, c in chain.items() if i != "chain/positive-control"}
    problems = [] if cases else ["no dry-run case ran"]
    policies = [*outputs.get("kyvernoPolicies", []), *outputs.get("policyControllerPolicies", [])] if outputs else []
    for namespace, mode in (outputs or {}).get("namespaces", {}).items():
        unsigned = cases.get(f"chain/{namespace}/unsigned", {})
        expected = "admitted" if mode == "audit" else "denied by policy"
        if unsigned.get("expected") != expected:
            problems.append(f"{namespace} ({mode}): the unsigned canary was not tried expecting {expected}")
    for case_id, case in cases.items():
        observed = case["observed"]
        if case["expected"] == "admitted" and observed != "admitted":
            problems.append(f"{case_id}: expected admitted, observed {observed}")
        elif case["expected"] != "admitted" and not (
            observed.startswith("denied: ") and "denied the request" in observed
        ):
            problems.append(f"{case_id}: expected a policy denial, observed {observed}")
        elif case["expected"] != "admitted" and policies and not any(p in observed for p in policies):
            problems.append(f"{case_id}: denied by none of the stack's policies: {observed}")
    control = chain.get("chain/positive-control", {})
    if control.get("status") != "pass":
        problems.append(f"nothing admitted in an enforce namespace: {control.get('observed')}")
    return problems
