"""Stack-wide safeguards the config may turn off and the review then flags (advisory): egress through the
firewall, filtered DNS, and in prod delete locks, flow logs and a zone-redundant firewall."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import PolicyResource, ReportViolation, StackValidationArgs, StackValidationPolicy

from policies.rules.base import ADVISORY, dig
from policies.rules.registry import registries

VNET = "azure-native:network:VirtualNetwork"


def _of(args: StackValidationArgs, resource_type: str) -> list[PolicyResource]:
    return [r for r in args.resources if r.resource_type == resource_type]


def _prod(args: StackValidationArgs) -> bool:
    return any(
        isinstance(tags := r.props.get("tags"), Mapping) and tags.get("environment") == "prod" for r in args.resources
    )


def _ends_with_name(resource_id: Any, kind: str, name: Any) -> bool:
    return isinstance(resource_id, str) and resource_id.lower().endswith(f"/{kind}/{name}".lower())


def _vnets(args: StackValidationArgs) -> Iterator[tuple[PolicyResource, str]]:
    for vnet in _of(args, VNET):
        yield vnet, str(vnet.props.get("virtualNetworkName") or vnet.name)


def _egress_through_firewall(args: StackValidationArgs, report: ReportViolation) -> None:
    if _of(args, VNET) and not _of(args, "azure-native:network:AzureFirewall"):
        report("the build network has no egress firewall: agents reach whole service tags, not hosts by name", None)


def _dns_filtered(args: StackValidationArgs, report: ReportViolation) -> None:
    links = _of(args, "azure-native:dnsresolver:DnsResolverPolicyVirtualNetworkLink")
    for vnet, name in _vnets(args):
        if not any(_ends_with_name(dig(link.props, "virtualNetwork", "id"), "virtualNetworks", name) for link in links):
            report(f"{name} resolves any name: DNS carries data out past the firewall", vnet.urn)


def _prod_safeguards(args: StackValidationArgs, report: ReportViolation) -> None:
    if not _prod(args):
        return
    locks = [
        lock.props.get("scope")
        for lock in _of(args, "azure-native:authorization:ManagementLockByScope")
        if lock.props.get("level") == "CanNotDelete"
    ]
    guarded = [
        *((registry, "registries", settings.name) for registry, settings in registries(args)),
        *((vault, "vaults", vault.props.get("vaultName")) for vault in _of(args, "azure-native:keyvault:Vault")),
    ]
    for resource, kind, name in guarded:
        if not any(_ends_with_name(scope, kind, name) for scope in locks):
            report(f"{name} has no delete lock: one mistaken destroy removes it", resource.urn)
    flow_logs = _of(args, "azure-native:network:FlowLog")
    for vnet, name in _vnets(args):
        if not any(_ends_with_name(log.props.get("targetResourceId"), "virtualNetworks", name) for log in flow_logs):
            report(f"{name}'s flows are not logged: nobody can tell later what the agents reached", vnet.urn)
    for firewall in _of(args, "azure-native:network:AzureFirewall"):
        if len(firewall.props.get("zones") or []) < 2:
            report("the egress firewall sits in one zone: a zone outage stops every build", firewall.urn)


POLICIES = [
    StackValidationPolicy(
        name="egress-through-firewall",
        description="The build network leaves through the egress firewall, which allows hosts by name.",
        validate=_egress_through_firewall,
        enforcement_level=ADVISORY,
        remediation_steps="Use network.egress.mode firewall (the default).",
    ),
    StackValidationPolicy(
        name="dns-filtered",
        description="Every build network has the DNS security policy that answers only the names agents may reach.",
        validate=_dns_filtered,
        enforcement_level=ADVISORY,
        remediation_steps="Keep network.egress.dnsFilteringEnabled on (or link the estate's policy to the VNet).",
    ),
    StackValidationPolicy(
        name="prod-safeguards",
        description="In prod: the registry and vault are delete-locked, the build network's flows are logged, and "
        "the firewall spans zones.",
        validate=_prod_safeguards,
        enforcement_level=ADVISORY,
        remediation_steps="Keep azure.deleteLocksEnabled, network.flowLogsEnabled and azure.availabilityZones on.",
    ),
]
