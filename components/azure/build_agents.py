"""The ephemeral build agents' pool: a Flexible Spot scale set at capacity 0, the identities of the agent
host and the control plane with their exact custom roles, the job identity's federated credentials, and
the storage that carries each job's single-use registration."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pulumi
from pulumi_azure_native import authorization, compute, managedidentity, resources, storage

from components.azure.private_link import PrivateLink
from components.azure.shared import (
    Placement,
    PrivateNetwork,
    RoleGrant,
    assign_roles,
    built_in_role,
    entra_only_storage_account,
    managed_identity,
)
from components.model.config import BuildAgentsConfig
from components.render.agent_pool import (
    ADMIN_USERNAME,
    AZURE_FEDERATION_AUDIENCE,
    DELIVERIES_TABLE,
    GITHUB_OIDC_ISSUER,
    IDENTITY_ASSIGN_ACTIONS,
    JOBS_TABLE,
    POOL_OPERATOR_ACTIONS,
    REGISTRATION_CONTAINER,
    REGISTRATION_READ_DATA_ACTIONS,
    SELF_DELETE_ACTIONS,
    SLOTS_TABLE,
    SUBNET_JOIN_ACTIONS,
    UNUSABLE_SSH_KEY,
    federated_subject,
)

STORAGE_BLOB_DATA_OWNER = "b7e6dc6d-f1e8-4753-8033-0f276bb0955b"  # what a function host needs for its storage
STORAGE_TABLE_DATA_CONTRIBUTOR = "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3"


@dataclass(frozen=True)
class JobIdentity:
    """The identity jobs log in as (OIDC federation from the listed repositories): it pushes and signs."""

    name: pulumi.Input[str]
    resource_group_name: pulumi.Input[str]


class BuildAgents(pulumi.ComponentResource):
    """Nothing runs at rest: the control plane creates one VM per queued job into this scale set, and the
    VM deletes itself when the job ends. Roles are custom and scoped to the pool's own resources."""

    scale_set_id: pulumi.Output[str]
    pool_resource_group_name: pulumi.Output[str]
    host_identity_client_id: pulumi.Output[str]
    host_identity_id: pulumi.Output[str]
    control_plane_identity_id: pulumi.Output[str]
    custom_data: pulumi.Output[str]
    """base64 of the agents' cloud-config: the same for every VM, no secret in it."""
    control_plane_principal_id: pulumi.Output[str]
    control_plane_client_id: pulumi.Output[str]
    account_name: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        config: BuildAgentsConfig,
        *,
        placement: Placement,
        pool_resource_group_name: str,
        account_name: str,
        subscription_id: pulumi.Input[str],
        agents_subnet_id: pulumi.Input[str],
        private_network: PrivateNetwork,
        job_identity: JobIdentity,
        cloud_config: Callable[[pulumi.Output[str], pulumi.Output[str]], pulumi.Output[str]],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """`cloud_config(host_client_id, scale_set_id)` gives the agents' base64 custom data."""
        super().__init__("supply-chain:azure:BuildAgents", name, {}, opts)
        child = pulumi.ResourceOptions(parent=self)
        pool_group = resources.ResourceGroup(
            f"{name}-rg",
            resource_group_name=pool_resource_group_name,
            location=placement.location,
            tags=placement.tags,
            opts=child,
        )

        host, control = (
            managed_identity(f"{name}-host", placement, child),
            managed_identity(f"{name}-control", placement, child),
        )
        account = self._registration_store(name, account_name, placement, private_network)
        container = storage.BlobContainer(
            f"{name}-registrations",
            account_name=account.name,
            container_name=REGISTRATION_CONTAINER,
            public_access=storage.PublicAccess.NONE,
            resource_group_name=placement.resource_group_name,
            opts=child,
        )
        for table in (JOBS_TABLE, DELIVERIES_TABLE, SLOTS_TABLE):
            storage.Table(
                f"{name}-{table}",
                account_name=account.name,
                table_name=table,
                resource_group_name=placement.resource_group_name,
                opts=child,
            )

        # known before the scale set exists: its agents' boot config names it (they delete themselves from it)
        scale_set_id = pulumi.Output.concat(
            "/subscriptions/",
            subscription_id,
            "/resourceGroups/",
            pool_group.name,
            "/providers/Microsoft.Compute/virtualMachineScaleSets/",
            f"vmss-{name}",
        )
        custom_data = cloud_config(host.client_id, scale_set_id)
        # The profile is what each job's VM is made of (the control plane PUTs the same facts per VM):
        # written on the scale set so the plan and the review show it.
        profile = compute.VirtualMachineScaleSetVMProfileArgs(
            priority="Spot" if config.spot_enabled else "Regular",
            eviction_policy="Delete" if config.spot_enabled else None,
            billing_profile=compute.BillingProfileArgs(max_price=config.spot_max_price)
            if config.spot_enabled
            else None,
            os_profile=compute.VirtualMachineScaleSetOSProfileArgs(
                computer_name_prefix="agent",
                admin_username=ADMIN_USERNAME,
                custom_data=custom_data,
                allow_extension_operations=False,
                linux_configuration=compute.LinuxConfigurationArgs(
                    disable_password_authentication=True,
                    ssh=compute.SshConfigurationArgs(
                        public_keys=[
                            compute.SshPublicKeyArgs(
                                path=f"/home/{ADMIN_USERNAME}/.ssh/authorized_keys", key_data=UNUSABLE_SSH_KEY
                            )
                        ]
                    ),
                ),
            ),
            storage_profile=compute.VirtualMachineScaleSetStorageProfileArgs(
                image_reference=_image_reference(config),
                os_disk=compute.VirtualMachineScaleSetOSDiskArgs(
                    create_option="FromImage",
                    caching=compute.CachingTypes.READ_ONLY,
                    delete_option="Delete",
                    diff_disk_settings=compute.DiffDiskSettingsArgs(option="Local", placement=config.os_disk_location),
                    managed_disk=compute.VirtualMachineScaleSetManagedDiskParametersArgs(
                        storage_account_type="Standard_LRS"
                    ),
                ),
            ),
            security_profile=compute.SecurityProfileArgs(
                security_type="TrustedLaunch",
                uefi_settings=compute.UefiSettingsArgs(secure_boot_enabled=True, v_tpm_enabled=True),
                encryption_at_host=True,
            ),
            network_profile=compute.VirtualMachineScaleSetNetworkProfileArgs(
                network_api_version="2020-11-01",
                network_interface_configurations=[
                    compute.VirtualMachineScaleSetNetworkConfigurationArgs(
                        name="agent-nic",
                        primary=True,
                        delete_option="Delete",
                        ip_configurations=[
                            compute.VirtualMachineScaleSetIPConfigurationArgs(
                                name="agent-ip", subnet=compute.ApiEntityReferenceArgs(id=agents_subnet_id)
                            )
                        ],
                    )
                ],
            ),
        )

        scale_set = compute.VirtualMachineScaleSet(
            f"{name}-vmss",
            vm_scale_set_name=f"vmss-{name}",
            orchestration_mode="Flexible",
            platform_fault_domain_count=1,
            single_placement_group=False,
            sku=compute.SkuArgs(name=config.vm_size, capacity=0),  # nothing runs (or costs) between jobs
            identity=compute.VirtualMachineScaleSetIdentityArgs(
                type=compute.ResourceIdentityType.USER_ASSIGNED, user_assigned_identities=[host.id]
            ),
            resource_group_name=pool_group.name,
            location=placement.location,
            virtual_machine_profile=profile,
            tags=placement.tags,
            opts=child,
        )

        def role(
            kind: str,
            scope: pulumi.Input[str],
            description: str,
            actions: Sequence[str] = (),
            data_actions: Sequence[str] = (),
        ) -> pulumi.Output[str]:
            return authorization.RoleDefinition(
                f"{name}-{kind}",
                scope=scope,
                role_name=f"Build agents {kind} ({name})",
                description=description,
                permissions=[authorization.PermissionArgs(actions=list(actions), data_actions=list(data_actions))],
                assignable_scopes=[scope],
                role_type="CustomRole",
                opts=child,
            ).id

        self_delete = role(
            "self-delete", scale_set.id, "Deletes instances of the build agents' scale set.", SELF_DELETE_ACTIONS
        )
        registration_reader = role(
            "registration-reader",
            container.id,
            "Reads and deletes a known registration blob; cannot list, write or read anything else.",
            data_actions=REGISTRATION_READ_DATA_ACTIONS,
        )
        operator = role(
            "pool-operator",
            pool_group.id,
            "Creates, lists and deletes the pool's agent VMs and NICs.",
            POOL_OPERATOR_ACTIONS,
        )
        subnet_join = role(
            "subnet-join", agents_subnet_id, "Puts agent NICs in the agents subnet.", SUBNET_JOIN_ACTIONS
        )
        identity_assign = role(
            "host-identity-assign", host.id, "Attaches the agent host identity to agent VMs.", IDENTITY_ASSIGN_ACTIONS
        )

        assign_roles(
            f"{name}-vmss", scale_set.id, [RoleGrant("self-delete-host", self_delete, host.principal_id)], child
        )
        assign_roles(
            f"{name}-registrations",
            container.id,
            [RoleGrant("read-host", registration_reader, host.principal_id)],
            child,
        )
        # the control plane writes registrations and its tables, and its function host keeps its own
        # state (leases, deployment package) in blobs of the same account
        assign_roles(
            f"{name}-store",
            account.id,
            [
                RoleGrant(
                    "blobs-control", built_in_role(subscription_id, STORAGE_BLOB_DATA_OWNER), control.principal_id
                ),
                RoleGrant(
                    "tables-control",
                    built_in_role(subscription_id, STORAGE_TABLE_DATA_CONTRIBUTOR),
                    control.principal_id,
                ),
            ],
            child,
        )
        assign_roles(
            f"{name}-pool", pool_group.id, [RoleGrant("operate-control", operator, control.principal_id)], child
        )
        assign_roles(
            f"{name}-subnet", agents_subnet_id, [RoleGrant("join-control", subnet_join, control.principal_id)], child
        )
        assign_roles(
            f"{name}-host-identity",
            host.id,
            [RoleGrant("assign-control", identity_assign, control.principal_id)],
            child,
        )
        self._federate_jobs(name, config, job_identity)

        self.scale_set_id = scale_set.id
        self.pool_resource_group_name = pool_group.name
        self.host_identity_client_id = host.client_id
        self.host_identity_id = host.id
        self.control_plane_identity_id = control.id
        self.custom_data = custom_data
        self.control_plane_principal_id = control.principal_id
        self.control_plane_client_id = control.client_id
        self.account_name = account.name
        self.register_outputs({"scaleSetId": self.scale_set_id, "hostIdentityClientId": self.host_identity_client_id})

    def _registration_store(
        self, name: str, account_name: str, placement: Placement, private_network: PrivateNetwork
    ) -> storage.StorageAccount:
        """Registrations and the control plane's tables: Entra ID only (no shared key, no SAS), no public
        endpoint; agents reach it through a private endpoint in the build VNet."""
        child = pulumi.ResourceOptions(parent=self)
        account = entra_only_storage_account(
            f"{name}-store",
            account_name,
            placement,
            sku="Standard_ZRS" if placement.zones else "Standard_LRS",
            bypass="None",
            public_network_access="Disabled",
            opts=child,
        )
        previous: list[pulumi.Resource] = []
        for service in ("blob", "table"):  # agents read blobs; the control plane keeps its tables
            link = PrivateLink(
                f"{name}-{service}",
                target_id=account.id,
                group_id=service,
                zone_name=f"privatelink.{service}.core.windows.net",
                private_network=private_network,
                placement=placement,
                opts=pulumi.ResourceOptions(parent=self, depends_on=previous),  # one endpoint write per account
            )
            previous = [link]
        return account

    def _federate_jobs(self, name: str, config: BuildAgentsConfig, job_identity: JobIdentity) -> None:
        """Jobs of the listed repositories, on the push ref, log in as the job identity (no stored secret)."""
        previous: list[pulumi.Resource] = []
        for repository in config.runner.repositories:
            label = repository.split("/", 1)[1].lower().replace(".", "-").replace("_", "-")
            # one write at a time: Azure refuses concurrent federated-credential writes on one identity
            credential = managedidentity.FederatedIdentityCredential(
                f"{name}-fic-{label}",
                resource_name_=job_identity.name,
                federated_identity_credential_resource_name=f"github-{label}"[:120],
                resource_group_name=job_identity.resource_group_name,
                issuer=GITHUB_OIDC_ISSUER,
                subject=federated_subject(repository, config.runner.push_ref),
                audiences=[AZURE_FEDERATION_AUDIENCE],
                opts=pulumi.ResourceOptions(parent=self, depends_on=previous),
            )
            previous = [credential]


def _image_reference(config: BuildAgentsConfig) -> compute.ImageReferenceArgs:
    image = config.image
    if image.gallery_image_id is not None:
        return compute.ImageReferenceArgs(id=image.gallery_image_id)
    return compute.ImageReferenceArgs(
        publisher=image.publisher, offer=image.offer, sku=image.sku, version=image.version
    )
