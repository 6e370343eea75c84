"""A DNS security policy on the build VNet: agents resolve the names they may reach and nothing else."""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
from pulumi_azure_native import dnsresolver

from components.azure.shared import Diagnostics, Placement, send_diagnostics

ALLOW_PRIORITY = 100
BLOCK_PRIORITY = 65000  # the lowest a rule can have: everything the allow rule did not match
EVERY_NAME = "."  # the root: a domain list entry covers its subdomains


class DnsFilter(pulumi.ComponentResource):
    """Queries from the VNet to Azure DNS are filtered before they resolve: an allow rule for `names`,
    a block rule (SERVFAIL) for every other name. NSGs and the firewall do not see these queries
    (Azure DNS answers on the platform address), so without this any name resolves, and a name
    under an attacker's domain carries data out. Query logs go to the workspace when one is set."""

    def __init__(
        self,
        name: str,
        *,
        names: Sequence[str],
        vnet_id: pulumi.Input[str],
        placement: Placement,
        diagnostics: Diagnostics | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("supply-chain:azure:DnsFilter", name, {}, opts)
        child = pulumi.ResourceOptions(parent=self)
        policy = dnsresolver.DnsResolverPolicy(
            f"{name}-policy",
            dns_resolver_policy_name=f"dnspol-{name}",
            resource_group_name=placement.resource_group_name,
            location=placement.location,
            tags=placement.tags,
            opts=child,
        )

        def domain_list(label: str, domains: list[str]) -> dnsresolver.DnsResolverDomainList:
            return dnsresolver.DnsResolverDomainList(
                f"{name}-{label}",
                dns_resolver_domain_list_name=f"dnsdl-{name}-{label}",
                domains=domains,
                resource_group_name=placement.resource_group_name,
                location=placement.location,
                tags=placement.tags,
                opts=child,
            )

        allowed, everything = domain_list("allowed", sorted(names)), domain_list("everything", [EVERY_NAME])
        rules = (
            ("allow-reachable", ALLOW_PRIORITY, dnsresolver.DnsSecurityRuleActionArgs(action_type="Allow"), allowed),
            (
                "block-the-rest",
                BLOCK_PRIORITY,
                dnsresolver.DnsSecurityRuleActionArgs(action_type="Block", block_response_code="SERVFAIL"),
                everything,
            ),
        )
        for label, priority, action, domains in rules:
            dnsresolver.DnsSecurityRule(
                f"{name}-{label}",
                dns_security_rule_name=label,
                dns_resolver_policy_name=policy.name,
                priority=priority,
                action=action,
                dns_resolver_domain_lists=[{"id": domains.id}],
                dns_security_rule_state="Enabled",
                resource_group_name=placement.resource_group_name,
                location=placement.location,
                tags=placement.tags,
                opts=child,
            )
        dnsresolver.DnsResolverPolicyVirtualNetworkLink(
            f"{name}-link",
            dns_resolver_policy_virtual_network_link_name="build-vnet",
            dns_resolver_policy_name=policy.name,
            virtual_network={"id": vnet_id},
            resource_group_name=placement.resource_group_name,
            location=placement.location,
            tags=placement.tags,
            opts=child,
        )
        send_diagnostics(name, "dns-queries-to-log-analytics", policy.id, diagnostics, child)
        self.register_outputs({})
