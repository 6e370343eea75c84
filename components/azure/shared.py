"""The shapes every Azure component takes, so a reader learns them once: where resources go
(`Placement`), who gets which role on them (`RoleGrant`), where their logs go (`Diagnostics`), and
which private network their endpoint lands in (`PrivateNetwork`); plus the helpers that create them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
from pulumi_azure_native import authorization, managedidentity, monitor, storage

from components.model.config import StackConfig
from components.model.contract import MANAGED_BY
from components.model.registry_permissions import CONDITION_VERSION


@dataclass(frozen=True)
class Placement:
    """Where a component's resources go: the resource group, the region, the availability zones a zonal
    resource spans (none: Azure picks one) and the tags."""

    resource_group_name: pulumi.Input[str]
    location: str
    tags: dict[str, str] = field(default_factory=dict)
    zones: tuple[str, ...] = ()


@dataclass(frozen=True)
class RoleGrant:
    """One role for one principal on a component's resource; `label` names the assignment. `condition` (an ABAC
    condition, version 2.0) narrows what the role allows there, e.g. to some of a registry's repositories."""

    label: str
    role_definition_id: pulumi.Input[str]
    principal_id: pulumi.Input[str]
    condition: str | None = None


@dataclass(frozen=True)
class Diagnostics:
    """Where a resource's logs and metrics go: a Log Analytics workspace, in resource-specific
    tables (`dedicated_tables`) where the service offers them."""

    workspace_id: str
    dedicated_tables: bool = False


@dataclass(frozen=True)
class PrivateNetwork:
    """Where a component's private endpoint lands and which VNets resolve its private DNS zone: the
    build VNet, and the peered cluster VNet when there is one."""

    subnet_id: pulumi.Input[str]
    vnet_id: pulumi.Input[str]
    peered_vnet_id: str | None = None
    central_zone_ids: dict[str, str] = field(default_factory=dict)
    """The estate's own zones by endpoint group (`registry`, `vault`): records go there, and the stack
    creates neither the zone nor its links."""


def azure_tags(config: StackConfig, stack: str) -> dict[str, str]:
    """Tags for every Azure resource: the stack's own tags plus where the resource came from."""
    tags = dict(config.azure.tags) if config.azure else {}
    tags.setdefault("managed-by", MANAGED_BY)
    tags.setdefault("pulumi-stack", stack)
    return tags


def built_in_role(subscription_id: pulumi.Input[str], role: str) -> pulumi.Output[str]:
    """The full id of a built-in role definition (its GUID) in the deploying subscription."""
    return pulumi.Output.from_input(subscription_id).apply(
        lambda sub: f"/subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions/{role}"
    )


def assign_roles(
    name: str, scope: pulumi.Input[str], grants: Sequence[RoleGrant], opts: pulumi.ResourceOptions
) -> list[authorization.RoleAssignment]:
    """Each grant as a role assignment on `scope` named `<name>-<label>` (service principals only), with its
    condition when it has one."""
    return [
        authorization.RoleAssignment(
            f"{name}-{grant.label}",
            scope=scope,
            role_definition_id=grant.role_definition_id,
            principal_id=grant.principal_id,
            principal_type="ServicePrincipal",
            **({"condition": grant.condition, "condition_version": CONDITION_VERSION} if grant.condition else {}),
            opts=opts,
        )
        for grant in sorted(grants, key=lambda g: g.label)
    ]


def send_diagnostics(
    name: str,
    setting_name: str,
    resource_uri: pulumi.Input[str],
    diagnostics: Diagnostics | None,
    opts: pulumi.ResourceOptions,
) -> monitor.DiagnosticSetting | None:
    """All logs and metrics of `resource_uri` to the workspace, as `<name>-diagnostics`; nothing
    when the stack names no workspace."""
    if diagnostics is None:
        return None
    dedicated = {"log_analytics_destination_type": "Dedicated"} if diagnostics.dedicated_tables else {}
    return monitor.DiagnosticSetting(
        f"{name}-diagnostics",
        name=setting_name,
        resource_uri=resource_uri,
        workspace_id=diagnostics.workspace_id,
        logs=[{"category_group": "allLogs", "enabled": True}],
        metrics=[{"category": "AllMetrics", "enabled": True}],
        opts=opts,
        **dedicated,
    )


def lock_against_deletion(
    name: str, scope: pulumi.Input[str], locked: bool, opts: pulumi.ResourceOptions
) -> authorization.ManagementLockByScope | None:
    """A `CanNotDelete` lock on `scope` as `<name>-lock` (control plane: deleting the resource, not its
    data); nothing when the stack does not lock."""
    if not locked:
        return None
    return authorization.ManagementLockByScope(
        f"{name}-lock",
        scope=scope,
        lock_name="do-not-delete",
        level="CanNotDelete",
        notes=f"Part of the signing chain ({MANAGED_BY}); remove the lock through the stack config.",
        opts=opts,
    )


def managed_identity(
    name: str, placement: Placement, opts: pulumi.ResourceOptions
) -> managedidentity.UserAssignedIdentity:
    """A user-assigned identity `<name>`, named `id-<name>` in Azure."""
    return managedidentity.UserAssignedIdentity(
        name,
        resource_name_=f"id-{name}",
        resource_group_name=placement.resource_group_name,
        location=placement.location,
        tags=placement.tags,
        opts=opts,
    )


def entra_only_storage_account(
    name: str,
    account_name: str,
    placement: Placement,
    *,
    sku: str,
    bypass: str,
    opts: pulumi.ResourceOptions,
    public_network_access: str | None = None,
) -> storage.StorageAccount:
    """A storage account reached with Entra ID only (no shared key, no SAS, no anonymous blobs), over TLS 1.2,
    whose network rules deny by default; `bypass` says which Azure services may pass anyway."""
    return storage.StorageAccount(
        name,
        account_name=account_name,
        kind="StorageV2",
        sku=storage.SkuArgs(name=sku),
        allow_blob_public_access=False,
        allow_shared_key_access=False,
        allow_cross_tenant_replication=False,
        default_to_o_auth_authentication=True,
        enable_https_traffic_only=True,
        minimum_tls_version="TLS1_2",
        public_network_access=public_network_access,
        network_rule_set=storage.NetworkRuleSetArgs(default_action=storage.DefaultAction.DENY, bypass=bypass),
        resource_group_name=placement.resource_group_name,
        location=placement.location,
        tags=placement.tags,
        opts=opts,
    )
