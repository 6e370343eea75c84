"""The build agents as Azure runs them (make e2e): what the offline plan asserts, read back from the deployed pool.

Needs the stack's outputs (SUPPLY_CHAIN_E2E_OUTPUTS: `pulumi stack output --json`, with `agentScaleSetId` and
`agentWebhookUrl`) and an Azure login that may read the pool's resource group (DefaultAzureCredential: the az CLI,
environment or a managed identity); each test skips and says what is missing otherwise. With
SUPPLY_CHAIN_E2E_AGENTS_IDLE=1 (no job queued or running) the pool must hold no VM at all.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests

pytestmark = pytest.mark.e2e

ARM = "https://management.azure.com"
COMPUTE_API = "2024-11-01"  # the API version pulumi-azure-native 3.29 writes the scale set with


@pytest.fixture(scope="module")
def outputs() -> dict[str, Any]:
    path = os.environ.get("SUPPLY_CHAIN_E2E_OUTPUTS")
    if not path:
        pytest.skip("SUPPLY_CHAIN_E2E_OUTPUTS is not set (pulumi stack output --json > FILE)")
    values: dict[str, Any] = json.loads(Path(path).read_text())
    if not values.get("agentScaleSetId"):
        pytest.skip(f"{path} has no agentScaleSetId: the stack has no build agents")
    return values


@pytest.fixture(scope="module")
def arm(outputs: dict[str, Any]) -> requests.Session:
    try:
        from azure.identity import DefaultAzureCredential

        token = DefaultAzureCredential().get_token(f"{ARM}/.default").token
    except Exception as error:  # noqa: BLE001 - any credential failure means: not logged in here
        pytest.skip(f"no Azure login to read the pool with ({type(error).__name__})")
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    return session


def _get(arm: requests.Session, path: str, api_version: str = COMPUTE_API) -> dict[str, Any]:
    answer = arm.get(f"{ARM}{path}", params={"api-version": api_version}, timeout=60)
    assert answer.status_code == 200, f"GET {path}: {answer.status_code} {answer.text[:300]}"
    body: dict[str, Any] = answer.json()
    return body


def _pool_vms(arm: requests.Session, scale_set_id: str) -> list[dict[str, Any]]:
    """Every VM joined to the scale set, across pages."""
    group = scale_set_id.split("/providers/")[0]
    vms: list[dict[str, Any]] = []
    url: str | None = f"{ARM}{group}/providers/Microsoft.Compute/virtualMachines?api-version={COMPUTE_API}"
    while url:
        answer = arm.get(url, timeout=60)
        assert answer.status_code == 200, f"listing VMs: {answer.status_code} {answer.text[:300]}"
        page = answer.json()
        vms += [
            vm
            for vm in page.get("value", [])
            if vm.get("properties", {}).get("virtualMachineScaleSet", {}).get("id", "").lower() == scale_set_id.lower()
        ]
        url = page.get("nextLink")
    return vms


def test_the_scale_set_is_flexible_and_holds_no_vm_at_rest(arm: requests.Session, outputs: dict[str, Any]) -> None:
    scale_set = _get(arm, outputs["agentScaleSetId"])
    assert scale_set["properties"]["orchestrationMode"] == "Flexible"
    if os.environ.get("SUPPLY_CHAIN_E2E_AGENTS_IDLE") == "1":
        assert _pool_vms(arm, outputs["agentScaleSetId"]) == [], "no job runs, yet the pool holds VMs"


def test_every_standing_agent_is_spot_ephemeral_trusted_launch_and_unreachable(
    arm: requests.Session, outputs: dict[str, Any]
) -> None:
    vms = _pool_vms(arm, outputs["agentScaleSetId"])
    if not vms:
        pytest.skip("no agent VM is standing: queue a job for the pool's labels and run this again")
    for vm in vms:
        properties, name = vm["properties"], vm["name"]
        assert properties.get("priority") == "Spot", name
        assert properties.get("evictionPolicy") == "Delete", name
        assert properties["storageProfile"]["osDisk"]["diffDiskSettings"]["option"] == "Local", name
        security = properties["securityProfile"]
        assert security["securityType"] == "TrustedLaunch", name
        assert security["uefiSettings"] == {"secureBootEnabled": True, "vTpmEnabled": True}, name
        assert security["encryptionAtHost"] is True, name
        assert properties["osProfile"]["linuxConfiguration"]["disablePasswordAuthentication"] is True, name
        assert properties["osProfile"].get("allowExtensionOperations") is False, name
        for nic in properties["networkProfile"].get("networkInterfaceConfigurations", []):
            for ip in nic["properties"]["ipConfigurations"]:
                assert "publicIPAddressConfiguration" not in ip["properties"], f"{name} has a public IP"


def test_the_webhook_refuses_unsigned_and_wrongly_signed_deliveries(outputs: dict[str, Any]) -> None:
    url = outputs.get("agentWebhookUrl")
    if not url:
        pytest.skip("the outputs have no agentWebhookUrl")
    body = json.dumps({"action": "queued", "workflow_job": {"id": 1, "labels": outputs.get("agentRunnerLabels", [])}})
    headers = {"Content-Type": "application/json", "X-GitHub-Event": "workflow_job"}
    unsigned = requests.post(url, data=body, headers={**headers, "X-GitHub-Delivery": str(uuid.uuid4())}, timeout=60)
    wrong = hmac.new(os.urandom(32), body.encode(), hashlib.sha256).hexdigest()
    forged = requests.post(
        url,
        data=body,
        headers={**headers, "X-GitHub-Delivery": str(uuid.uuid4()), "X-Hub-Signature-256": f"sha256={wrong}"},
        timeout=60,
    )
    # 403 when the app's access restrictions stop the caller before the handler (only GitHub's hook ranges pass)
    assert unsigned.status_code in (401, 403), unsigned.status_code
    assert forged.status_code in (401, 403), forged.status_code
