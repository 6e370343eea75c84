"""The build agents' pool as plain data: the agent VM every job gets, the settings the control plane
reads, and the exact permissions of the three actors (agent host, control plane, job).

One description of the agent VM (`AgentVm`) feeds both the scale set's profile (what reviewers and
the plan see) and the body the control plane PUTs for each job, so the two cannot drift apart.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from components.model.config import BuildAgentsConfig

REGISTRATION_CONTAINER = "registrations"
JOBS_TABLE = "jobs"
DELIVERIES_TABLE = "deliveries"
SLOTS_TABLE = "slots"
COMPUTE_API_VERSION = "2024-07-01"
ADMIN_USERNAME = "agentadmin"

# Who may do what, by exact action. Nothing at subscription scope; the widest scope is the pool's own
# resource group, which holds nothing but the scale set and its VMs.
SELF_DELETE_ACTIONS = ("Microsoft.Compute/virtualMachineScaleSets/delete/action",)
"""The agent host's only control-plane right, on its scale set: delete instances (itself, at the end)."""
REGISTRATION_READ_DATA_ACTIONS = (
    "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read",
    "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/delete",
)
"""The agent host's data rights on the registrations container: read its registration, then delete it.
No list: an agent cannot discover the (random) names of the others'."""
POOL_OPERATOR_ACTIONS = (
    "Microsoft.Compute/virtualMachines/read",
    "Microsoft.Compute/virtualMachines/write",
    "Microsoft.Compute/virtualMachines/delete",
    "Microsoft.Compute/virtualMachineScaleSets/read",
    "Microsoft.Network/networkInterfaces/read",
    "Microsoft.Network/networkInterfaces/write",
    "Microsoft.Network/networkInterfaces/delete",
    "Microsoft.Network/networkInterfaces/join/action",
)
"""The control plane on the pool's resource group: create one VM (and its NIC) per job, list, delete."""
SUBNET_JOIN_ACTIONS = ("Microsoft.Network/virtualNetworks/subnets/join/action",)
"""The control plane on the agents subnet: put the new VM's NIC there."""
IDENTITY_ASSIGN_ACTIONS = (
    "Microsoft.ManagedIdentity/userAssignedIdentities/read",
    "Microsoft.ManagedIdentity/userAssignedIdentities/assign/action",
)
"""The control plane on the agent host identity: attach it to the VMs it creates (that identity only)."""

GITHUB_OIDC_ISSUER = "https://token.actions.githubusercontent.com"
AZURE_FEDERATION_AUDIENCE = "api://AzureADTokenExchange"


def _unusable_ssh_key() -> str:
    # Azure requires an admin credential on a Linux VM. This Ed25519 public key is a hash output, so
    # nobody knows a private key for it; sshd is disabled and no inbound path exists besides.
    point = hashlib.sha256(b"supply-chain build agents: no interactive login").digest()
    key = Ed25519PublicKey.from_public_bytes(point)
    return key.public_bytes(Encoding.OpenSSH, PublicFormat.OpenSSH).decode()


UNUSABLE_SSH_KEY = _unusable_ssh_key()


def pool_account_name(registry_name: str) -> str:
    """The pool's storage account (registrations, the control plane's tables): 3-24 lowercase letters and
    digits, derived from the registry's (globally unique) name."""
    base = re.sub(r"[^a-z0-9]", "", registry_name.lower())
    return f"{base[:18]}agents"


def registration_blob_host(account_name: str) -> str:
    """The host agents read their registration from (through the pool's private endpoint)."""
    return f"{account_name}.blob.core.windows.net"


def federated_subject(repository: str, ref: str) -> str:
    """GitHub's OIDC `sub` for a job of `repository` on `ref` (the job identity's federated credential)."""
    return f"repo:{repository}:ref:{ref}"


@dataclass(frozen=True)
class AgentVm:
    """Everything about the VM one job gets, resolved: the same facts for the scale set and each VM."""

    config: BuildAgentsConfig
    subnet_id: str
    host_identity_id: str
    scale_set_id: str
    custom_data: str
    """base64 of the cloud-config (no secret in it)."""
    location: str
    tags: dict[str, str]

    def image_reference(self) -> dict[str, str]:
        """The pinned image (ARM keys)."""
        image = self.config.image
        if image.gallery_image_id is not None:
            return {"id": image.gallery_image_id}
        return {"publisher": image.publisher, "offer": image.offer, "sku": image.sku, "version": image.version}

    def arm_body(self, job_tags: dict[str, str]) -> dict[str, Any]:
        """The `virtualMachines` PUT body for one job's VM (ARM REST shape), joined to the scale set."""
        cfg = self.config
        properties: dict[str, Any] = {
            "virtualMachineScaleSet": {"id": self.scale_set_id},
            "hardwareProfile": {"vmSize": cfg.vm_size},
            "storageProfile": {
                "imageReference": self.image_reference(),
                "osDisk": {
                    "createOption": "FromImage",
                    "caching": "ReadOnly",
                    "diffDiskSettings": {"option": "Local", "placement": cfg.os_disk_location},
                    "deleteOption": "Delete",
                    "managedDisk": {"storageAccountType": "Standard_LRS"},
                },
            },
            "osProfile": {
                "adminUsername": ADMIN_USERNAME,
                "customData": self.custom_data,
                "linuxConfiguration": {
                    "disablePasswordAuthentication": True,
                    "ssh": {
                        "publicKeys": [
                            {"path": f"/home/{ADMIN_USERNAME}/.ssh/authorized_keys", "keyData": UNUSABLE_SSH_KEY}
                        ]
                    },
                },
                "allowExtensionOperations": False,
            },
            "securityProfile": {
                "securityType": "TrustedLaunch",
                "uefiSettings": {"secureBootEnabled": True, "vTpmEnabled": True},
                "encryptionAtHost": True,
            },
            "networkProfile": {
                "networkApiVersion": "2020-11-01",
                "networkInterfaceConfigurations": [
                    {
                        "name": "agent-nic",
                        "properties": {
                            "primary": True,
                            "deleteOption": "Delete",
                            "ipConfigurations": [
                                {"name": "agent-ip", "properties": {"subnet": {"id": self.subnet_id}}}
                            ],
                        },
                    }
                ],
            },
        }
        if cfg.spot_enabled:
            properties |= {
                "priority": "Spot",
                "evictionPolicy": "Delete",
                "billingProfile": {"maxPrice": cfg.spot_max_price},
            }
        return {
            "location": self.location,
            "tags": {**self.tags, **job_tags},
            "identity": {"type": "UserAssigned", "userAssignedIdentities": {self.host_identity_id: {}}},
            "properties": properties,
        }


def runner_group_settings(config: BuildAgentsConfig) -> dict[str, Any]:
    """The GitHub runner group the agents join, as the REST API names its settings: only the listed
    repositories (never public ones), and only the listed workflows when the stack names any."""
    runner = config.runner
    return {
        "organization": runner.scope,
        "name": runner.group,
        "visibility": "selected",
        "selected_repositories": sorted(runner.repositories, key=str.lower),
        "allows_public_repositories": False,
        "restricted_to_workflows": bool(runner.workflows),
        "selected_workflows": sorted(runner.workflows),
    }


GITHUB_HOOK_RANGES = ("192.30.252.0/22", "185.199.108.0/22", "140.82.112.0/20", "143.55.64.0/20")
"""Where GitHub's webhooks come from (the `hooks` ranges of GitHub's meta API): the only sources the
control plane's webhook accepts, on top of its signature check."""


def pool_settings(
    config: BuildAgentsConfig,
    *,
    pool: str,
    vm: AgentVm,
    account_name: str,
    subscription_id: str,
    pool_resource_group: str,
) -> dict[str, Any]:
    """The control plane's settings document (app setting `AGENT_POOL_SETTINGS`): everything it needs,
    no secret (the two it uses are named by their vault URIs and read with its identity)."""
    runner, plane = config.runner, config.control_plane
    vault = plane.vault_id.rsplit("/", 1)[-1].lower()
    return {
        "pool": pool,
        "github": {
            "apiUrl": "https://api.github.com",
            "organization": runner.scope,
            "appId": plane.app_id,
            "installationId": plane.installation_id,
            "runnerGroup": runner.group,
            "labels": list(runner.all_labels),
            "repositories": list(runner.repositories),
        },
        "secrets": {
            "webhookSecretUri": f"https://{vault}.vault.azure.net/secrets/{plane.webhook_secret_name}",
            "appPrivateKeyUri": f"https://{vault}.vault.azure.net/secrets/{plane.app_private_key_secret_name}",
        },
        "storage": {
            "blobEndpoint": f"https://{account_name}.blob.core.windows.net/",
            "tableEndpoint": f"https://{account_name}.table.core.windows.net/",
            "registrationContainer": REGISTRATION_CONTAINER,
            "jobsTable": JOBS_TABLE,
            "deliveriesTable": DELIVERIES_TABLE,
            "slotsTable": SLOTS_TABLE,
        },
        "arm": {
            "endpoint": "https://management.azure.com",
            "subscriptionId": subscription_id,
            "resourceGroup": pool_resource_group,
            "scaleSetId": vm.scale_set_id,
            "apiVersion": COMPUTE_API_VERSION,
        },
        "vm": vm.arm_body({}),
        "limits": {
            "maxInstances": config.max_instances,
            "registrationTimeoutMinutes": config.registration_timeout_minutes,
            "jobTimeoutMinutes": config.job_timeout_minutes,
        },
    }
