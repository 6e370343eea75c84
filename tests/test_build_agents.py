"""The ephemeral build agents as planned: what each job's VM is, who may do what, and that no secret
reaches any resource. Plans of the shipped dev and prod stacks, on the Pulumi mock engine."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from scripts.plan_mocks import _github_repository
from scripts.planning import Plan, PlannedResource
from tests.conftest import only

AGENT_STACKS = ["dev", "prod"]
STORAGE_BLOB_DATA_OWNER = "b7e6dc6d-f1e8-4753-8033-0f276bb0955b"
STORAGE_TABLE_DATA_CONTRIBUTOR = "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3"
KEY_VAULT_SECRETS_USER = "4633458b-17de-408a-b874-0445c86b69e6"
CI_VAULT = (
    "/subscriptions/9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d/resourceGroups/rg-ci/providers/Microsoft.KeyVault/vaults/"
    "kv-contoso-ci"
)


def _profile(plan: Plan) -> dict[str, Any]:
    profile: dict[str, Any] = only(plan, "azure-native:compute:VirtualMachineScaleSet").inputs["virtualMachineProfile"]
    return profile


def _identity(plan: Plan, suffix: str) -> PlannedResource:
    return next(r for r in plan.of_type("azure-native:managedidentity:UserAssignedIdentity") if r.name.endswith(suffix))


def _roles(plan: Plan) -> dict[str, PlannedResource]:
    return {
        r.name.split("-agents-", 1)[1]: r
        for r in plan.of_type("azure-native:authorization:RoleDefinition")
        if "-agents-" in r.name
    }


def _grants(plan: Plan) -> set[tuple[str, str, str]]:
    return {
        (r.inputs["principalId"], r.inputs["roleDefinitionId"].rsplit("/", 1)[1], r.inputs["scope"])
        for r in plan.of_type("azure-native:authorization:RoleAssignment")
    }


@pytest.mark.parametrize("stack", AGENT_STACKS)
def test_each_job_gets_a_spot_vm_that_leaves_nothing_behind(plan_of: Callable[[str], Plan], stack: str) -> None:
    plan = plan_of(stack)
    vmss = only(plan, "azure-native:compute:VirtualMachineScaleSet").inputs
    assert vmss["orchestrationMode"] == "Flexible"
    assert vmss["sku"]["capacity"] == 0, "nothing runs (or costs) between jobs"
    profile = _profile(plan)
    assert profile["priority"] == "Spot"
    assert profile["evictionPolicy"] == "Delete", "an evicted agent is gone, not stopped and billed"
    assert profile["billingProfile"] == {"maxPrice": -1}
    os_disk = profile["storageProfile"]["osDisk"]
    assert os_disk["diffDiskSettings"] == {"option": "Local", "placement": "ResourceDisk"}, "ephemeral OS disk"
    assert os_disk["deleteOption"] == "Delete"
    nic = profile["networkProfile"]["networkInterfaceConfigurations"]
    assert [n["deleteOption"] for n in nic] == ["Delete"]


@pytest.mark.parametrize("stack", AGENT_STACKS)
def test_agents_boot_measured_encrypted_and_unreachable(plan_of: Callable[[str], Plan], stack: str) -> None:
    plan = plan_of(stack)
    profile = _profile(plan)
    assert profile["securityProfile"] == {
        "securityType": "TrustedLaunch",
        "uefiSettings": {"secureBootEnabled": True, "vTpmEnabled": True},
        "encryptionAtHost": True,
    }
    agents_subnet = next(s for s in plan.of_type("azure-native:network:Subnet") if s.inputs["subnetName"] == "agents")
    for nic in profile["networkProfile"]["networkInterfaceConfigurations"]:
        for ip in nic["ipConfigurations"]:
            assert "publicIPAddressConfiguration" not in ip, "no public IP"
            assert ip["subnet"]["id"] == agents_subnet.outputs["id"], "in the agents subnet, behind its NSG"
    linux = profile["osProfile"]["linuxConfiguration"]
    assert linux["disablePasswordAuthentication"] is True
    assert "adminPassword" not in profile["osProfile"]
    assert profile["osProfile"]["allowExtensionOperations"] is False, "no run-command path into an agent"
    # Azure insists on a key; this one is a hash output, so nobody holds its private half
    (key,) = linux["ssh"]["publicKeys"]
    assert key["keyData"] == "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB0bPLaMrzySBWKR0yfoK2nAVPLpNv0M4sHI8Dxo1Icl"
    public_ips = plan.of_type("azure-native:network:PublicIPAddress")
    assert all("firewall" in ip.name for ip in public_ips), "the firewall's address is the only public one"


def test_prod_agents_boot_the_pinned_image(plan_of: Callable[[str], Plan]) -> None:
    image = _profile(plan_of("prod"))["storageProfile"]["imageReference"]
    assert image == {
        "publisher": "Canonical",
        "offer": "ubuntu-24_04-lts",
        "sku": "server",
        "version": "24.04.202510010",
    }


@pytest.mark.parametrize("stack", AGENT_STACKS)
def test_cloud_config_holds_no_secret_and_names_its_scale_set(plan_of: Callable[[str], Plan], stack: str) -> None:
    plan = plan_of(stack)
    text = base64.b64decode(_profile(plan)["osProfile"]["customData"]).decode()
    assert text.startswith("#cloud-config")
    yaml.safe_load(text)
    for marker in ("PRIVATE" + " KEY", "gh" + "p_", "github" + "_pat_", 'jitconfig": "', "Authorization: Bearer"):
        assert marker not in text
    vmss_id = only(plan, "azure-native:compute:VirtualMachineScaleSet").outputs["id"]
    assert vmss_id in text, "an agent deletes itself from its own scale set"


@pytest.mark.parametrize("stack", AGENT_STACKS)
def test_custom_roles_hold_exactly_the_calls_each_actor_makes(plan_of: Callable[[str], Plan], stack: str) -> None:
    plan = plan_of(stack)
    roles = _roles(plan)
    permissions = {kind: role.inputs["permissions"] for kind, role in roles.items()}
    assert permissions == {
        "self-delete": [{"actions": ["Microsoft.Compute/virtualMachineScaleSets/delete/action"], "dataActions": []}],
        "registration-reader": [
            {
                "actions": [],
                "dataActions": [
                    "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read",
                    "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/delete",
                ],
            }
        ],
        "pool-operator": [
            {
                "actions": [
                    "Microsoft.Compute/virtualMachines/read",
                    "Microsoft.Compute/virtualMachines/write",
                    "Microsoft.Compute/virtualMachines/delete",
                    "Microsoft.Compute/virtualMachineScaleSets/read",
                    "Microsoft.Network/networkInterfaces/read",
                    "Microsoft.Network/networkInterfaces/write",
                    "Microsoft.Network/networkInterfaces/delete",
                    "Microsoft.Network/networkInterfaces/join/action",
                ],
                "dataActions": [],
            }
        ],
        "subnet-join": [{"actions": ["Microsoft.Network/virtualNetworks/subnets/join/action"], "dataActions": []}],
        "host-identity-assign": [
            {
                "actions": [
                    "Microsoft.ManagedIdentity/userAssignedIdentities/read",
                    "Microsoft.ManagedIdentity/userAssignedIdentities/assign/action",
                ],
                "dataActions": [],
            }
        ],
    }
    for role in roles.values():
        assert role.inputs["assignableScopes"] == [role.inputs["scope"]], "assignable only where it is defined"


@pytest.mark.parametrize("stack", AGENT_STACKS)
def test_every_pool_role_is_assigned_at_its_narrowest_scope(plan_of: Callable[[str], Plan], stack: str) -> None:
    plan = plan_of(stack)
    host = _identity(plan, "agents-host").outputs["principalId"]
    control = _identity(plan, "agents-control").outputs["principalId"]
    role_ids = {kind: role.outputs["id"].rsplit("/", 1)[1] for kind, role in _roles(plan).items()}
    vmss = only(plan, "azure-native:compute:VirtualMachineScaleSet").outputs["id"]
    container = next(c for c in plan.of_type("azure-native:storage:BlobContainer") if c.name.endswith("registrations"))
    account = next(a for a in plan.of_type("azure-native:storage:StorageAccount") if "agents" in a.name).outputs["id"]
    pool_group = next(
        g for g in plan.of_type("azure-native:resources:ResourceGroup") if g.name.endswith("agents-rg")
    ).outputs["id"]
    subnet = next(s for s in plan.of_type("azure-native:network:Subnet") if s.name.endswith("-agents")).outputs["id"]
    host_identity = _identity(plan, "agents-host").outputs["id"]
    grants = {g for g in _grants(plan) if g[0] in (host, control)}
    assert grants == {
        (host, role_ids["self-delete"], vmss),
        (host, role_ids["registration-reader"], container.outputs["id"]),
        (control, STORAGE_BLOB_DATA_OWNER, account),
        (control, STORAGE_TABLE_DATA_CONTRIBUTOR, account),
        (control, role_ids["pool-operator"], pool_group),
        (control, role_ids["subnet-join"], subnet),
        (control, role_ids["host-identity-assign"], host_identity),
        (control, KEY_VAULT_SECRETS_USER, f"{CI_VAULT}/secrets/supply-chain-{stack}-webhook"),
        (control, KEY_VAULT_SECRETS_USER, f"{CI_VAULT}/secrets/supply-chain-{stack}-app-key"),
    }
    for _, _, scope in grants:
        assert "/providers/" in scope or scope == pool_group, (
            f"{scope}: no subscription, no resource group but the pool's"
        )


@pytest.mark.parametrize("stack", AGENT_STACKS)
def test_jobs_of_listed_repositories_alone_sign_in_as_the_job_identity(
    plan_of: Callable[[str], Plan], stack: str
) -> None:
    plan = plan_of(stack)
    job_identity = _identity(plan, "build-agents").outputs["name"]
    credentials = [
        c.inputs
        for c in plan.of_type("azure-native:managedidentity:FederatedIdentityCredential")
        if "-agents-" in c.name
    ]
    repositories = {"dev": ["payments-api", "workflows"], "prod": ["payments-api", "storefront-web", "workflows"]}[
        stack
    ]
    assert sorted(c["subject"] for c in credentials) == [f"repo:contoso/{r}:ref:refs/heads/main" for r in repositories]
    for credential in credentials:
        assert credential["issuer"] == "https://token.actions.githubusercontent.com"
        assert credential["audiences"] == ["api://AzureADTokenExchange"]
        assert credential["resourceName"] == job_identity
    vmss = only(plan, "azure-native:compute:VirtualMachineScaleSet").inputs
    host_identity = _identity(plan, "agents-host").outputs["id"]
    assert vmss["identity"]["userAssignedIdentities"] == [host_identity], "the VMs carry the host identity only"


@pytest.mark.parametrize("stack", AGENT_STACKS)
def test_outputs_name_the_pool_and_the_runner_group(plan_of: Callable[[str], Plan], stack: str) -> None:
    outputs = plan_of(stack).outputs
    assert outputs["agentRunnerLabels"] == ["self-hosted", "supply-chain", stack]
    group = outputs["agentRunnerGroup"]
    assert group["name"] == f"supply-chain-{stack}"
    assert group["visibility"] == "selected"
    assert group["allows_public_repositories"] is False
    assert group["restricted_to_workflows"] is (stack == "prod")
    assert outputs["agentWebhookUrl"].endswith("/api/github/webhook")
    assert outputs["agentWebhookUrl"].startswith("https://")
    for key in ("agentScaleSetId", "agentHostClientId", "agentControlPlaneClientId", "agentRegistrationAccount"):
        assert outputs[key], key


def test_prod_keeps_its_runner_group_in_github_open_to_the_listed_repositories_only(
    plan_of: Callable[[str], Plan],
) -> None:
    plan = plan_of("prod")
    group = only(plan, "github:index/actionsRunnerGroup:ActionsRunnerGroup")
    listed = ["contoso/payments-api", "contoso/storefront-web", "contoso/workflows"]
    # the ids GitHub answers for the listed repositories (the offline plan's stand-in answers them)
    github_ids = [_github_repository({"fullName": repo})["repoId"] for repo in listed]
    assert len(set(github_ids)) == 3
    assert group.inputs == {
        "name": "supply-chain-prod",
        "visibility": "selected",
        "selectedRepositoryIds": github_ids,
        "allowsPublicRepositories": False,
        "restrictedToWorkflows": True,
        "selectedWorkflows": ["contoso/workflows/.github/workflows/build-sign-attest.yml@refs/heads/main"],
    }
    provider = only(plan, "pulumi:providers:github")
    assert provider.inputs.get("owner") == "contoso", "bound to the organisation, whatever the token reaches"
    assert "token" not in provider.inputs, "the token comes from the environment of `pulumi up`, never the plan"
    assert str(plan.outputs["agentRunnerGroupId"]).isdigit(), "GitHub's id of the group, for the check"
    assert plan.outputs["agentRunnerGroup"]["selected_repositories"] == listed


def test_dev_only_outputs_its_runner_group_for_the_check(plan_of: Callable[[str], Plan]) -> None:
    plan = plan_of("dev")
    assert not plan.of_type("github:index/actionsRunnerGroup:ActionsRunnerGroup")
    assert not plan.of_type("pulumi:providers:github")
    assert "agentRunnerGroupId" not in plan.outputs
    assert plan.outputs["agentRunnerGroup"]["visibility"] == "selected"
