"""VNet flow logs for the build network: a record of every flow the agents open, kept where agents
cannot reach it."""

from __future__ import annotations

import pulumi
from pulumi_azure_native import network

from components.azure.shared import Placement, entra_only_storage_account

FLOW_LOG_RETENTION_DAYS = 90


def flow_log_account_name(registry_name: str) -> str:
    """The flow logs' storage account, named after the registry (3-24 lower-case letters and digits)."""
    return f"st{registry_name.lower().replace('-', '')}flow"[:24]


class VnetFlowLogs(pulumi.ComponentResource):
    """Flow logs (JSON v2) of the build VNet into a storage account of the stack's own: Entra-only access
    (no shared keys, no public blobs), TLS 1.2, reachable from the Internet by no one but trusted Azure
    services (Network Watcher writes there). Azure creates one Network Watcher per region
    (`NetworkWatcher_<region>` in `NetworkWatcherRG`); the flow log is its child."""

    def __init__(
        self,
        name: str,
        *,
        account_name: str,
        vnet_id: pulumi.Input[str],
        placement: Placement,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("supply-chain:azure:VnetFlowLogs", name, {}, opts)
        child = pulumi.ResourceOptions(parent=self)
        account = entra_only_storage_account(
            f"{name}-store",
            account_name,
            placement,
            # geo-redundant: the audit trail outlives a region's loss (zone-redundant too, where there are zones)
            sku="Standard_GZRS" if placement.zones else "Standard_GRS",
            bypass="AzureServices",
            opts=child,
        )
        network.FlowLog(
            f"{name}-vnet",
            flow_log_name=f"fl-{name}",
            network_watcher_name=f"NetworkWatcher_{placement.location}",
            resource_group_name="NetworkWatcherRG",
            target_resource_id=vnet_id,
            storage_id=account.id,
            enabled=True,
            format={"type": "JSON", "version": 2},
            retention_policy={"days": FLOW_LOG_RETENTION_DAYS, "enabled": True},
            location=placement.location,
            tags=placement.tags,
            opts=child,
        )
        self.register_outputs({})
