"""The offline plan: the real program on the mock engine, its files, and the CLI's contract."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.model.config.stack_file import key_lines, read_stack_file
from components.model.contract import ADMISSION_MODE_LABEL
from policies.offline import check_resources
from scripts import plan as plan_cli
from scripts import planning
from scripts.planning import Plan
from scripts.review_report import write_review
from scripts.trust_report import write_trust
from scripts.trust_summary import trust_summary
from tests.conftest import ROOT, SHIPPED_STACKS, only, stack_raw


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_every_shipped_stack_plans(plan_of: Callable[[str], Plan], stack: str) -> None:
    plan = plan_of(stack)
    assert plan.stack == stack
    assert plan.outputs["environment"] == stack
    (root,) = [r for r in plan.resources if r.parent is None]
    assert root.type == "pulumi:pulumi:Stack"
    urns = {r.urn for r in plan.resources}
    assert all(r.parent in urns for r in plan.resources if r.parent is not None), "every parent is registered"


def test_azure_stacks_get_a_tagged_resource_group(plan_of: Callable[[str], Plan]) -> None:
    plan = plan_of("prod")
    groups = {g.inputs["resourceGroupName"]: g for g in plan.of_type("azure-native:resources:ResourceGroup")}
    assert set(groups) == {"rg-supplychain-prod", "rg-supplychain-prod-agents"}, "the agents' pool has its own"
    group = groups["rg-supplychain-prod"]
    assert group.inputs["resourceGroupName"] == "rg-supplychain-prod"
    assert group.inputs["location"] == "westeurope"
    assert group.inputs["tags"]["owner"] == "platform-team@contoso.example"
    assert group.inputs["tags"]["pulumi-stack"] == "prod"
    assert plan.outputs["resourceGroupName"] == "rg-supplychain-prod"


def test_namespaces_carry_their_mode(plan_of: Callable[[str], Plan]) -> None:
    plan = plan_of("prod")
    labels = {
        r.inputs["metadata"]["name"]: r.inputs["metadata"]["labels"][ADMISSION_MODE_LABEL]
        for r in plan.of_type("kubernetes:core/v1:Namespace")
    }
    assert labels == {"payments": "enforce", "storefront": "enforce", "analytics": "audit"}
    assert plan.outputs["namespaces"] == labels


def test_existing_namespaces_are_patched_not_owned(plan_raw: Callable[..., Plan]) -> None:
    raw = stack_raw("local")
    raw["admission"]["namespaces"]["default"] = {"mode": "audit", "existing": True}
    plan = plan_raw(raw)
    patch = only(plan, "kubernetes:core/v1:NamespacePatch")
    assert patch.inputs["metadata"] == {
        "name": "default",
        "labels": {ADMISSION_MODE_LABEL: "audit", "app.kubernetes.io/managed-by": "pulumi-supply-chain"},
    }
    assert "default" not in {r.inputs["metadata"]["name"] for r in plan.of_type("kubernetes:core/v1:Namespace")}


def test_kubernetes_provider_is_pinned_to_the_configured_cluster(plan_of: Callable[[str], Plan]) -> None:
    local = only(plan_of("local"), "pulumi:providers:kubernetes")
    assert local.inputs["context"] == "kind-supply-chain"
    aks = only(plan_of("dev"), "pulumi:providers:kubernetes")
    assert aks.inputs["kubeconfig"] == "[secret]", "AKS credentials never appear in the plan"


def _written(plan: Plan, out: Path) -> dict[str, bytes]:
    """Every file the CLI writes for `plan`, by path, as bytes."""
    plan_cli.write_plan(plan, out)
    stack_file = ROOT / "stacks" / f"Pulumi.{plan.stack}.yaml"
    lines = key_lines(stack_file.read_text())
    write_review(out, plan.stack, check_resources(plan.resources), plan.findings, lines, stack_file)
    write_trust(out, trust_summary(plan))
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def test_plans_are_byte_identical_on_repeat_and_the_runtime_is_reset_between_them(
    plan_of: Callable[[str], Plan], tmp_path: Path
) -> None:
    def fresh(stack: str) -> Plan:
        return planning.plan_stack(read_stack_file(ROOT / "stacks" / f"Pulumi.{stack}.yaml"))

    # the session's plans were made in whatever runtime state earlier tests left behind
    again = {stack: fresh(stack) for stack in ("dev", "prod", "local")}
    for stack, plan in again.items():
        first, second = _written(plan_of(stack), tmp_path / stack / "1"), _written(plan, tmp_path / stack / "2")
        assert list(first) == list(second), f"{stack}: the same files"
        assert [name for name in first if first[name] != second[name]] == [], f"{stack}: the same bytes"
        assert len(first) > 5
    local, dev = again["local"], plan_of("dev")  # local right after prod: nothing of Azure carried over
    assert not local.of_type("azure-native:resources:ResourceGroup")
    assert {r.urn for r in local.resources}.isdisjoint({r.urn for r in dev.resources})


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork (POSIX)")
def test_a_process_forked_after_a_plan_can_plan(plan_of: Callable[[str], Plan]) -> None:
    """Mutation testing forks a process per mutant from one that has planned; its plans must not hang."""
    plan_of("local")
    child = os.fork()
    if child == 0:  # the child reports through its exit code only, and never returns into pytest
        code = 1
        try:
            code = 0 if planning.plan_stack(read_stack_file(ROOT / "stacks" / "Pulumi.local.yaml")).resources else 1
        finally:
            os._exit(code)
    deadline = time.monotonic() + 60
    while (status := os.waitpid(child, os.WNOHANG)) == (0, 0) and time.monotonic() < deadline:
        time.sleep(0.05)
    if status == (0, 0):
        os.kill(child, signal.SIGKILL)
        os.waitpid(child, 0)
        pytest.fail("the forked process's plan did not finish in 60 s")
    assert os.waitstatus_to_exitcode(status[1]) == 0


def test_provider_secrets_are_redacted_and_project_keys_take_none(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stack_file = tmp_path / "Pulumi.secretive.yaml"
    document = yaml.safe_load((ROOT / "stacks" / "Pulumi.dev.yaml").read_text())
    document["config"]["azure-native:clientSecret"] = {"secure": "v1:c2VjcmV0LWNpcGhlcnRleHQ="}
    del document["config"]["supply-chain:buildAgents"]  # not what this is about, and a third of the plan's time
    stack_file.write_text(yaml.safe_dump(document))
    out = tmp_path / "out"
    assert plan_cli.main(["--config", str(stack_file), "--out", str(out), "--quiet"]) == 0
    assert "c2VjcmV0LWNpcGhlcnRleHQ" not in (out / "plan.json").read_text()

    document["config"]["supply-chain:azure"]["tags"]["approval"] = {"secure": "v1:c2VjcmV0LWNpcGhlcnRleHQ="}
    stack_file.write_text(yaml.safe_dump(document))
    capsys.readouterr()
    assert plan_cli.main(["--config", str(stack_file), "--out", str(tmp_path / "refused"), "--quiet"]) == 2
    printed = capsys.readouterr()
    assert "supply-chain:azure.tags.approval: holds a secure value" in printed.err
    assert "c2VjcmV0LWNpcGhlcnRleHQ" not in printed.out + printed.err


def _run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scripts.plan", *args], cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def test_cli_writes_plan_and_manifests(tmp_path: Path) -> None:
    result = _run_cli("--stack", "local", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "planned stack 'local'" in result.stdout
    assert "kubernetes:core/v1:Namespace" in result.stdout, "the resource tree is printed"
    assert "Trust summary of 'local' (trust.md):" in result.stdout, "and the trust summary"
    assert (tmp_path / "trust.md").read_text().startswith("# Trust summary of stack `local`")
    assert json.loads((tmp_path / "trust.json").read_text())["stack"] == "local"
    plan: dict[str, Any] = json.loads((tmp_path / "plan.json").read_text())
    assert set(plan) >= {"stack", "resources", "outputs"}
    assert plan["stack"] == "local"
    for resource in plan["resources"]:
        assert (
            {"urn", "type", "name", "parent", "inputs"}
            <= set(resource)
            <= {
                "urn",
                "type",
                "name",
                "parent",
                "inputs",
                "dependsOn",
            }
        )
    policies = [r for r in plan["resources"] if r["type"] == "kubernetes:apiextensions.k8s.io:CustomResource"]
    release = next(r["urn"] for r in plan["resources"] if r["type"] == "kubernetes:helm.sh/v3:Release")
    assert all(release in p["dependsOn"] for p in policies), "the plan shows each policy waits for its engine"
    manifests = sorted((tmp_path / "manifests").glob("*.yaml"))
    kinds = [yaml.safe_load(m.read_text())["kind"] for m in manifests]
    assert kinds[:2] == ["Namespace", "Namespace"]
    assert set(kinds[2:]) == {"ImageValidatingPolicy", "ValidatingPolicy"}
    assert all(yaml.safe_load(m.read_text())["apiVersion"] in ("v1", "policies.kyverno.io/v1") for m in manifests)


def test_cli_refuses_invalid_config_with_exit_2_and_no_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "Pulumi.bad.yaml"
    document = yaml.safe_load((ROOT / "stacks" / "Pulumi.prod.yaml").read_text())
    document["config"]["supply-chain:signing"]["keyless"][0] = {
        "issuer": "https://token.actions.githubusercontent.com",
        "subjectRegExp": ".*",
    }
    bad.write_text(yaml.safe_dump(document))
    result = _run_cli("--config", str(bad), "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert "supply-chain:signing.keyless[0].subjectRegExp" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert not (tmp_path / "out").exists(), "nothing is written for an invalid config"


def test_cli_exit_2_for_a_missing_stack_lists_the_stacks_there_are(capsys: pytest.CaptureFixture[str]) -> None:
    assert plan_cli.main(["--stack", "does-not-exist"]) == 2
    assert capsys.readouterr().err.strip().endswith("the stacks are dev, local, prod")


def test_cli_out_naming_a_file_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a_file = tmp_path / "plan.txt"
    a_file.write_text("keep me")
    assert plan_cli.main(["--stack", "local", "--out", str(a_file), "--quiet"]) == 2
    assert capsys.readouterr().err == f"--out {a_file} is a file: name a directory (it is created if missing)\n"
    assert a_file.read_text() == "keep me"


def test_cli_exit_1_when_the_program_fails(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    def broken(*_: Any) -> Plan:
        raise RuntimeError("resource argument 'bogus' is not accepted")

    monkeypatch.setattr(planning, "plan_stack", broken)
    assert plan_cli.main(["--stack", "dev", "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "plan failed: RuntimeError" in err
    assert "Traceback" not in err


def test_default_output_directory(tmp_path: Path) -> None:
    assert plan_cli.main(["--stack", "local", "--quiet"]) == 0  # in-process: the CLI's own run is tested above
    assert (ROOT / "build" / "plan" / "local" / "plan.json").is_file()
