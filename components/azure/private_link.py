"""A private endpoint with its private DNS zone, VNet link and zone group (one per target service)."""

from __future__ import annotations

import pulumi
from pulumi_azure_native import network, privatedns

from components.azure.shared import Placement, PrivateNetwork


class PrivateLink(pulumi.ComponentResource):
    """Reach `target_id` (group `group_id`) at a private IP in the private network's subnet, resolvable
    by its normal name inside the VNet through `zone_name` (e.g. privatelink.azurecr.io)."""

    private_ips: pulumi.Output[list[str]]

    def __init__(
        self,
        name: str,
        *,
        target_id: pulumi.Input[str],
        group_id: str,
        zone_name: str,
        private_network: PrivateNetwork,
        placement: Placement,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("supply-chain:azure:PrivateLink", name, {}, opts)
        child = pulumi.ResourceOptions(parent=self)
        endpoint = network.PrivateEndpoint(
            f"{name}-pe",
            private_endpoint_name=f"pe-{name}",
            subnet={"id": private_network.subnet_id},
            private_link_service_connections=[
                {"name": f"{name}-{group_id}", "private_link_service_id": target_id, "group_ids": [group_id]}
            ],
            resource_group_name=placement.resource_group_name,
            location=placement.location,
            tags=placement.tags,
            opts=child,
        )
        central_zone_id = private_network.central_zone_ids.get(group_id)
        if central_zone_id is not None:
            zone_id: pulumi.Input[str] = central_zone_id  # the estate links its zone to the VNets that resolve it
        else:
            zone_id = self._zone(name, zone_name, private_network, placement)
        network.PrivateDnsZoneGroup(
            f"{name}-zone-group",
            private_endpoint_name=endpoint.name,
            private_dns_zone_group_name="default",
            private_dns_zone_configs=[{"name": zone_name.replace(".", "-"), "private_dns_zone_id": zone_id}],
            resource_group_name=placement.resource_group_name,
            opts=child,
        )
        self.private_ips = endpoint.custom_dns_configs.apply(
            lambda configs: sorted({ip for c in configs or [] for ip in (c.ip_addresses or [])})
        )
        self.register_outputs({"privateIps": self.private_ips})

    def _zone(
        self, name: str, zone_name: str, private_network: PrivateNetwork, placement: Placement
    ) -> pulumi.Output[str]:
        """The stack's own zone, linked to the build VNet and (when peered) the cluster's."""
        child = pulumi.ResourceOptions(parent=self)
        zone = privatedns.PrivateZone(
            f"{name}-zone",
            private_zone_name=zone_name,
            location="global",
            resource_group_name=placement.resource_group_name,
            tags=placement.tags,
            opts=child,
        )
        resolvers: list[tuple[str, pulumi.Input[str]]] = [("", private_network.vnet_id)]
        if private_network.peered_vnet_id is not None:
            # the cluster's nodes and engines resolve the endpoint's name from their own VNet
            resolvers.append(("-cluster", private_network.peered_vnet_id))
        previous: list[pulumi.Resource] = []
        for suffix, vnet_id in resolvers:
            # one link write at a time on a zone: Azure serialises operations on one private zone
            link = privatedns.VirtualNetworkLink(
                f"{name}-zone-link{suffix}",
                private_zone_name=zone.name,
                virtual_network_link_name=f"link-{name}{suffix}",
                virtual_network={"id": vnet_id},
                registration_enabled=False,
                location="global",
                resource_group_name=placement.resource_group_name,
                tags=placement.tags,
                opts=pulumi.ResourceOptions(parent=self, depends_on=previous),
            )
            previous = [link]
        return zone.id
