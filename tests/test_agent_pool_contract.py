"""Where the stack and its control plane meet: the settings the plan renders are what the control plane
accepts, each job's VM is the scale set's profile, and the deployment package holds the app alone."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from scripts.agent_package import RUNTIME, package_entries, write_package
from scripts.agent_pool.settings import parse_settings
from scripts.planning import Plan
from tests.conftest import only

AGENT_STACKS = ["dev", "prod"]


def _settings(plan: Plan) -> dict[str, Any]:
    app = only(plan, "azure-native:web:WebApp")
    pairs = {pair["name"]: pair["value"] for pair in app.inputs["siteConfig"]["appSettings"]}
    document: dict[str, Any] = json.loads(pairs["AGENT_POOL_SETTINGS"])
    return document


@pytest.mark.parametrize("stack", AGENT_STACKS)
def test_the_control_plane_accepts_the_settings_the_stack_renders(plan_of: Callable[[str], Plan], stack: str) -> None:
    plan = plan_of(stack)
    document = _settings(plan)
    settings = parse_settings(json.dumps(document))
    assert settings.limits.max_instances == plan.config.build_agents.max_instances  # type: ignore[union-attr]
    assert settings.github.labels == ("self-hosted", "supply-chain", stack)
    vmss = only(plan, "azure-native:compute:VirtualMachineScaleSet")
    assert settings.arm.scale_set_id == vmss.outputs["id"]
    assert settings.arm.resource_group == f"rg-supplychain-{stack}-agents"


@pytest.mark.parametrize("stack", AGENT_STACKS)
def test_each_jobs_vm_is_the_scale_sets_profile(plan_of: Callable[[str], Plan], stack: str) -> None:
    plan = plan_of(stack)
    vm = _settings(plan)["vm"]
    profile = only(plan, "azure-native:compute:VirtualMachineScaleSet").inputs["virtualMachineProfile"]
    properties = vm["properties"]
    assert properties["osProfile"]["customData"] == profile["osProfile"]["customData"], "the same boot"
    assert properties["priority"] == profile["priority"] == "Spot"
    assert properties["evictionPolicy"] == profile["evictionPolicy"] == "Delete"
    assert properties["securityProfile"] == profile["securityProfile"]
    assert properties["storageProfile"]["imageReference"] == profile["storageProfile"]["imageReference"]
    assert properties["storageProfile"]["osDisk"]["diffDiskSettings"] == {
        "option": "Local",
        "placement": "ResourceDisk",
    }
    nic = properties["networkProfile"]["networkInterfaceConfigurations"][0]["properties"]
    assert "publicIPAddressConfiguration" not in nic["ipConfigurations"][0]["properties"]
    assert properties["osProfile"]["linuxConfiguration"]["disablePasswordAuthentication"] is True
    host = next(
        i for i in plan.of_type("azure-native:managedidentity:UserAssignedIdentity") if i.name.endswith("-host")
    )
    assert vm["identity"] == {"type": "UserAssigned", "userAssignedIdentities": {host.outputs["id"]: {}}}


def test_the_package_is_the_app_and_its_pinned_dependencies(tmp_path: Path) -> None:
    first, second = write_package(tmp_path / "a.zip"), write_package(tmp_path / "b.zip")
    assert first.read_bytes() == second.read_bytes(), "same sources, same bytes"
    with zipfile.ZipFile(first) as archive:
        names = archive.namelist()
        requirements = archive.read("requirements.txt").decode().splitlines()
    assert {"function_app.py", "host.json", "requirements.txt", "agent_pool/function_app.py"} <= set(names)
    assert all(n in ("function_app.py", "host.json", "requirements.txt") or n.startswith("agent_pool/") for n in names)
    assert [line.split("==")[0] for line in requirements] == list(RUNTIME)
    assert all("==" in line for line in requirements), "every dependency pinned"
    # the package stands alone: its app imports from the unzipped tree, with no project module on the path
    with zipfile.ZipFile(first) as archive:
        archive.extractall(tmp_path / "app")
    probe = "import function_app, sys; assert not any(m.startswith(('components', 'scripts')) for m in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-E", "-s", "-c", probe], cwd=tmp_path / "app", capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert set(package_entries()) == set(names)
