"""The prod plan's Azure resources as ARM, and checkov's ARM checks over them: what a cloud security
scanner says of the stack before it ships. checkov runs when installed (CI installs it in a venv of its
own and names it in SUPPLY_CHAIN_CHECKOV); without it the scan is skipped with the reason."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from components.model.config.stack_file import read_stack_file
from scripts.arm_template import arm_template
from scripts.planning import Plan, plan_stack
from tests.conftest import STACKS

ACCEPTED_FAILURES = {
    "CKV_AZURE_166": "ACR quarantine (preview) holds images until a scanner releases them; here admission "
    "verifies every image's signature, SBOM and provenance instead, and no scanner is part of the stack",
    "CKV_AZURE_216": "threat intelligence is in Deny mode on the firewall policy (tested); with a policy "
    "attached, the firewall's own classic setting does not apply",
    "CKV_AZURE_222": "GitHub must reach the agents' webhook: the app accepts only GitHub's hook ranges, and the "
    "handler only HMAC-signed deliveries",
    "CKV_AZURE_17": "GitHub's webhook deliveries carry no client certificate; they are authenticated by HMAC",
    "CKV_AZURE_212": "the control plane scales from zero on Flex Consumption; a delivery GitHub could not hand "
    "over is retried, and the reaper dispatches what is pending",
    "CKV_AZURE_213": "Flex Consumption replaces an unhealthy instance on the next request; the control plane "
    "has no standing instance to probe",
    "CKV_AZURE_95": "an agent lives for one job on a pinned image: it is patched by pinning a newer image, never "
    "in place",
    "CKV_AZURE_206": "the pool's storage holds single-use registrations and the control plane's job records, "
    "zone-redundant in prod; nothing there outlives a job",
    "CKV_AZURE_36": "the pool's storage is reached through private endpoints only, with no trusted-service "
    "bypass (no Azure service reads it on its own)",
}
"""checkov findings the prod plan keeps, each with the reason."""


@pytest.fixture
def prod_plan(plan_of: Callable[[str], Plan]) -> Plan:
    return plan_of("prod")


def _checkov() -> str | None:
    return os.environ.get("SUPPLY_CHAIN_CHECKOV") or shutil.which("checkov")


def test_every_azure_resource_is_in_the_template_by_its_azure_name(prod_plan: Plan) -> None:
    template = arm_template(prod_plan)
    assert template is not None
    azure = [r for r in prod_plan.resources if r.custom and r.type.startswith("azure-native:")]
    assert len(template["resources"]) == len(azure)
    by_type: dict[str, list[dict[str, Any]]] = {}
    for resource in template["resources"]:
        by_type.setdefault(resource["type"], []).append(resource)
    (registry,) = by_type["Microsoft.ContainerRegistry/registries"]
    assert registry["name"] == "crcontosoprod"
    assert registry["sku"] == {"name": "Premium"}
    assert registry["properties"]["publicNetworkAccess"] == "Disabled"
    stores = {store["name"]: store for store in by_type["Microsoft.Storage/storageAccounts"]}
    assert set(stores) == {"stcrcontosoprodflow", "crcontosoprodagents"}
    store = stores["stcrcontosoprodflow"]
    # pulumi-azure-native's names put back to ARM's
    assert store["properties"]["networkAcls"] == {"defaultAction": "Deny", "bypass": "AzureServices"}
    assert store["properties"]["supportsHttpsTrafficOnly"] is True
    (vault,) = by_type["Microsoft.KeyVault/vaults"]
    assert vault["properties"]["enablePurgeProtection"] is True


def test_a_stack_without_azure_has_no_template() -> None:
    assert arm_template(plan_stack(read_stack_file(STACKS / "Pulumi.local.yaml"))) is None


def test_checkovs_arm_checks_pass_on_the_prod_plan(prod_plan: Plan, tmp_path: Path) -> None:
    checkov = _checkov()
    if checkov is None:
        pytest.skip("checkov is not installed (CI installs it; or set SUPPLY_CHAIN_CHECKOV to its path)")
    template = tmp_path / "template.json"
    template.write_text(json.dumps(arm_template(prod_plan)))
    result = subprocess.run(
        [checkov, "-f", str(template), "--framework", "arm", "-o", "json", "--skip-download"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"},
    )
    report = json.loads(result.stdout)
    results = report["results"]
    failed = {check["check_id"]: check.get("resource") for check in results["failed_checks"]}
    assert set(failed) - set(ACCEPTED_FAILURES) == set(), failed
    assert len(results["passed_checks"]) >= 25, "the template must be one checkov understands"
