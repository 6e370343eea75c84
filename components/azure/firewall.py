"""Azure Firewall for the build agents' egress: application rules that allow HTTPS to exact FQDNs
from the agents' subnet and nothing else (NSGs cannot name hosts, so this is where names are checked)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pulumi
from pulumi_azure_native import authorization, managedidentity, network

from components.azure.roles import KEY_VAULT_SECRETS_USER
from components.azure.shared import Diagnostics, Placement, RoleGrant, assign_roles, built_in_role, send_diagnostics
from components.model.config import TlsInspectionConfig
from components.render.egress import ApplicationRule


class EgressFirewall(pulumi.ComponentResource):
    """A Standard firewall with threat intelligence in deny mode, its public IP, and one policy whose
    only rule collection allows the given application rules from `source_prefix`. Its Azure names
    derive from `network_name`, the build network it guards."""

    private_ip: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        *,
        network_name: str,
        rules: Sequence[ApplicationRule],
        source_prefix: str,
        subnet_id: pulumi.Input[str],
        placement: Placement,
        diagnostics: Diagnostics | None = None,
        tls_inspection: TlsInspectionConfig | None = None,
        moved_from: pulumi.Resource | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("supply-chain:azure:EgressFirewall", name, {}, opts)

        def child(
            resource_name: str, *, was: str | None = None, depends_on: Sequence[pulumi.Resource] = ()
        ) -> pulumi.ResourceOptions:
            # These resources were the network's children before the firewall had a component of its
            # own: the alias keeps a deployed firewall from being replaced.
            aliases = [pulumi.Alias(name=was or resource_name, parent=moved_from)] if moved_from is not None else []
            return pulumi.ResourceOptions(parent=self, aliases=aliases, depends_on=list(depends_on))

        public_ip = network.PublicIPAddress(
            f"{name}-pip",
            public_ip_address_name=f"pip-{name}",
            sku={"name": "Standard", "tier": "Regional"},
            public_ip_allocation_method="Static",
            zones=list(placement.zones) or None,
            opts=child(f"{name}-pip"),
            resource_group_name=placement.resource_group_name,
            location=placement.location,
            tags=placement.tags,
        )
        tier = "Premium" if tls_inspection is not None else "Standard"
        premium: dict[str, Any] = {}
        if tls_inspection is not None:
            premium = self._premium(name, network_name, tls_inspection, placement)
        policy = network.FirewallPolicy(
            f"{name}-policy",
            firewall_policy_name=f"afwp-{network_name}",
            sku={"tier": tier},
            threat_intel_mode="Deny",
            opts=child(f"{name}-policy"),
            resource_group_name=placement.resource_group_name,
            location=placement.location,
            tags=placement.tags,
            **premium,
        )
        allowlist = network.FirewallPolicyRuleCollectionGroup(
            f"{name}-allowlist",
            firewall_policy_name=policy.name,
            rule_collection_group_name="agent-egress",
            priority=100,
            rule_collections=[
                network.FirewallPolicyFilterRuleCollectionArgs(
                    rule_collection_type="FirewallPolicyFilterRuleCollection",
                    name="allow-agent-https",
                    priority=100,
                    action=network.FirewallPolicyFilterRuleCollectionActionArgs(type="Allow"),
                    rules=[
                        network.ApplicationRuleArgs(
                            rule_type="ApplicationRule",
                            name=rule.name,
                            description=rule.description,
                            source_addresses=list(rule.sources) or [source_prefix],
                            protocols=[
                                network.FirewallPolicyRuleApplicationProtocolArgs(protocol_type="Https", port=443)
                            ],
                            target_fqdns=list(rule.fqdns) or None,
                            target_urls=list(rule.urls) or None,
                            terminate_tls=True if rule.urls else None,
                        )
                        for rule in rules
                    ],
                )
            ],
            resource_group_name=placement.resource_group_name,
            opts=child(f"{name}-allowlist", was=f"{network_name}-egress-allowlist"),
        )
        firewall = network.AzureFirewall(
            name,
            azure_firewall_name=f"afw-{network_name}",
            sku={"name": "AZFW_VNet", "tier": tier},
            firewall_policy={"id": policy.id},
            ip_configurations=[
                {"name": "egress", "subnet": {"id": subnet_id}, "public_ip_address": {"id": public_ip.id}}
            ],
            zones=list(placement.zones) or None,
            opts=child(name, depends_on=[allowlist]),
            resource_group_name=placement.resource_group_name,
            location=placement.location,
            tags=placement.tags,
        )
        send_diagnostics(name, "firewall-to-log-analytics", firewall.id, diagnostics, child(f"{name}-diagnostics"))
        self.private_ip = firewall.ip_configurations.apply(
            lambda configs: (configs[0].private_ip_address or "") if configs else ""
        )
        self.register_outputs({"privateIp": self.private_ip})

    def _premium(self, name: str, network_name: str, tls: TlsInspectionConfig, placement: Placement) -> dict[str, Any]:
        """Premium's policy settings: intrusion prevention that drops what it detects, and TLS inspection
        with the stack's CA, read from Key Vault by an identity of the policy's own (on that secret only)."""
        identity = managedidentity.UserAssignedIdentity(
            f"{name}-tls",
            resource_name_=f"id-{network_name}-firewall-tls",
            resource_group_name=placement.resource_group_name,
            location=placement.location,
            tags=placement.tags,
            opts=pulumi.ResourceOptions(parent=self),
        )
        subscription = authorization.get_client_config_output(
            opts=pulumi.InvokeOutputOptions(parent=self)
        ).subscription_id
        assign_roles(
            name,
            tls.secret_scope,  # that one secret, not the vault's others
            [RoleGrant("tls-ca-reader", built_in_role(subscription, KEY_VAULT_SECRETS_USER), identity.principal_id)],
            pulumi.ResourceOptions(parent=self),
        )
        return {
            "intrusion_detection": {"mode": "Deny"},
            "transport_security": {
                "certificate_authority": {"key_vault_secret_id": tls.certificate_secret_id, "name": "tls-inspection-ca"}
            },
            "identity": {"type": "UserAssigned", "user_assigned_identities": [identity.id]},
        }
