"""The build network: VNet, subnets, the agents' and endpoints' NSGs, and (firewall mode) the egress
firewall with a route table forcing all agent egress through it."""

from __future__ import annotations

from typing import Any

import pulumi
from pulumi_azure_native import network

from components.azure.dns_filter import DnsFilter
from components.azure.firewall import EgressFirewall
from components.azure.flow_logs import VnetFlowLogs
from components.azure.shared import Diagnostics, Placement
from components.model.config import BuildAgentsConfig, NetworkConfig
from components.render.egress import (
    agent_nsg_rules,
    control_plane_nsg_rules,
    egress_rules,
    endpoint_nsg_rules,
    resolvable_names,
)

FIREWALL_SUBNET_NAME = "AzureFirewallSubnet"  # Azure requires exactly this name


class BuildNetwork(pulumi.ComponentResource):
    """Agents get no public IP and no default outbound access; what they may reach is the NSG
    (by CIDR / service tag) and, in firewall mode, the firewall policy (by exact FQDN)."""

    vnet_id: pulumi.Output[str]
    agents_subnet_id: pulumi.Output[str]
    endpoints_subnet_id: pulumi.Output[str]
    firewall_private_ip: pulumi.Output[str] | None
    control_plane_subnet_id: pulumi.Output[str] | None

    def __init__(
        self,
        name: str,
        config: NetworkConfig,
        agents: BuildAgentsConfig | None,
        *,
        placement: Placement,
        cluster_vnet_id: str | None = None,
        private_hosts: tuple[str, ...] = (),
        flow_log_account: str | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("supply-chain:azure:BuildNetwork", name, {}, opts)
        child = pulumi.ResourceOptions(parent=self)

        vnet = network.VirtualNetwork(
            f"{name}-vnet",
            virtual_network_name=f"vnet-{name}",
            address_space={"address_prefixes": [str(config.address_space)]},
            location=placement.location,
            tags=placement.tags,
            opts=child,
            resource_group_name=placement.resource_group_name,
        )

        def security_group(subnet: str, rules: list[dict[str, Any]]) -> network.NetworkSecurityGroup:
            return network.NetworkSecurityGroup(
                f"{name}-{subnet}-nsg",
                network_security_group_name=f"nsg-{name}-{subnet}",
                security_rules=[network.SecurityRuleArgs(**rule) for rule in rules],
                location=placement.location,
                tags=placement.tags,
                opts=child,
                resource_group_name=placement.resource_group_name,
            )

        nsg = security_group("agents", agent_nsg_rules(config))
        endpoints_nsg = security_group("endpoints", endpoint_nsg_rules(config))
        subnet_opts = pulumi.ResourceOptions(parent=self, depends_on=[vnet])
        endpoints = network.Subnet(
            f"{name}-endpoints",
            subnet_name="endpoints",
            virtual_network_name=vnet.name,
            address_prefix=str(config.subnets.endpoints),
            default_outbound_access=False,
            network_security_group={"id": endpoints_nsg.id},
            private_endpoint_network_policies="Enabled",  # NSGs and UDRs apply to the endpoints too
            opts=subnet_opts,
            resource_group_name=placement.resource_group_name,
        )

        workspace = config.log_analytics_workspace_id
        if config.egress.dns_filtering_enabled:
            DnsFilter(
                f"{name}-dns",
                names=resolvable_names(config, agents, private_hosts),
                vnet_id=vnet.id,
                placement=placement,
                diagnostics=Diagnostics(workspace) if workspace is not None else None,
                opts=child,
            )

        if flow_log_account is not None:
            VnetFlowLogs(
                f"{name}-flows", account_name=flow_log_account, vnet_id=vnet.id, placement=placement, opts=child
            )

        route_table_id: pulumi.Output[str] | None = None
        self.firewall_private_ip = None
        if config.egress.mode == "firewall":
            firewall_subnet = network.Subnet(
                f"{name}-firewall",
                subnet_name=FIREWALL_SUBNET_NAME,
                virtual_network_name=vnet.name,
                address_prefix=str(config.subnets.firewall),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[endpoints]),  # one subnet write at a time
                resource_group_name=placement.resource_group_name,
            )
            firewall = EgressFirewall(
                f"{name}-firewall",
                network_name=name,
                rules=egress_rules(config, agents),
                source_prefix=str(config.subnets.agents),
                tls_inspection=config.egress.tls_inspection,
                subnet_id=firewall_subnet.id,
                placement=placement,
                diagnostics=Diagnostics(config.log_analytics_workspace_id, dedicated_tables=True)
                if config.log_analytics_workspace_id is not None
                else None,
                moved_from=self,
                opts=child,
            )
            self.firewall_private_ip = firewall.private_ip
            route_table = network.RouteTable(
                f"{name}-agents-routes",
                route_table_name=f"rt-{name}-agents",
                disable_bgp_route_propagation=True,  # no on-premises route can bypass the firewall
                routes=[
                    {
                        "name": "default-via-firewall",
                        "address_prefix": "0.0.0.0/0",
                        "next_hop_type": "VirtualAppliance",
                        "next_hop_ip_address": self.firewall_private_ip,
                    }
                ],
                location=placement.location,
                tags=placement.tags,
                opts=child,
                resource_group_name=placement.resource_group_name,
            )
            route_table_id = route_table.id
            agents_after: list[pulumi.Resource] = [firewall_subnet]
        else:
            agents_after = [endpoints]

        agents_subnet = network.Subnet(
            f"{name}-agents",
            subnet_name="agents",
            virtual_network_name=vnet.name,
            address_prefix=str(config.subnets.agents),
            default_outbound_access=False,  # no implicit Internet egress: only what the NSG/firewall allow
            network_security_group={"id": nsg.id},
            route_table={"id": route_table_id} if route_table_id is not None else None,
            opts=pulumi.ResourceOptions(parent=self, depends_on=agents_after),
            resource_group_name=placement.resource_group_name,
        )

        last_subnet: network.Subnet = agents_subnet
        self.control_plane_subnet_id = None
        if config.subnets.control_plane is not None:
            control_nsg = security_group("control-plane", control_plane_nsg_rules(config))
            control_subnet = network.Subnet(
                f"{name}-control-plane",
                subnet_name="control-plane",
                virtual_network_name=vnet.name,
                address_prefix=str(config.subnets.control_plane),
                default_outbound_access=False,
                network_security_group={"id": control_nsg.id},
                # Flex Consumption function apps integrate with a subnet delegated to Container Apps environments
                delegations=[{"name": "flex-consumption", "service_name": "Microsoft.App/environments"}],
                route_table={"id": route_table_id} if route_table_id is not None else None,  # egress by FQDN too
                opts=pulumi.ResourceOptions(parent=self, depends_on=[agents_subnet]),
                resource_group_name=placement.resource_group_name,
            )
            self.control_plane_subnet_id = control_subnet.id
            last_subnet = control_subnet

        if cluster_vnet_id is not None:
            # after the last subnet write: Azure refuses a peering while another write on the VNet is in progress
            self._peer(name, vnet, cluster_vnet_id, placement, after=last_subnet)

        self.vnet_id = vnet.id
        self.agents_subnet_id = agents_subnet.id
        self.endpoints_subnet_id = endpoints.id
        self.register_outputs(
            {
                "vnetId": self.vnet_id,
                "agentsSubnetId": self.agents_subnet_id,
                "endpointsSubnetId": self.endpoints_subnet_id,
                "firewallPrivateIp": self.firewall_private_ip,
            }
        )

    def _peer(
        self,
        name: str,
        vnet: network.VirtualNetwork,
        cluster_vnet_id: str,
        placement: Placement,
        after: pulumi.Resource,
    ) -> None:
        """Peer the build VNet with the cluster's, both directions: the cluster reaches the private endpoints,
        and nothing more is shared (no forwarded traffic, no gateway transit, no remote gateways)."""
        _, _, _, _, cluster_group, _, _, _, cluster_vnet = cluster_vnet_id.split("/")[:9]
        outbound = network.VirtualNetworkPeering(
            f"{name}-to-cluster",
            virtual_network_peering_name="to-cluster",
            virtual_network_name=vnet.name,
            resource_group_name=placement.resource_group_name,
            remote_virtual_network={"id": cluster_vnet_id},
            allow_virtual_network_access=True,
            allow_forwarded_traffic=False,
            allow_gateway_transit=False,
            use_remote_gateways=False,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[after]),
        )
        network.VirtualNetworkPeering(
            f"{name}-from-cluster",
            virtual_network_peering_name=pulumi.Output.concat("to-", vnet.name),
            virtual_network_name=cluster_vnet,
            resource_group_name=cluster_group,
            remote_virtual_network={"id": vnet.id},
            allow_virtual_network_access=True,
            allow_forwarded_traffic=False,
            allow_gateway_transit=False,
            use_remote_gateways=False,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[outbound]),
        )
