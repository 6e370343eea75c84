"""The build network: nothing comes in from the Internet, egress goes through the firewall by exact name."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import ReportViolation, ResourceValidationArgs

from policies.rules.base import MANDATORY, config_value, resource_policy

NSG = "azure-native:network:NetworkSecurityGroup"
SECURITY_RULE = "azure-native:network:SecurityRule"
RULE_COLLECTION_GROUP = "azure-native:network:FirewallPolicyRuleCollectionGroup"
ROUTE_TABLE = "azure-native:network:RouteTable"

ANYWHERE = frozenset({"*", "internet", "any"})
"""Source names that mean "the Internet" in an NSG rule."""

BROADEST_PUBLIC_PREFIX = 16
"""A public source range wider than this (/0 to /15) is counted as the Internet: `0.0.0.0/1` plus
`128.0.0.0/1` is everyone, and no service the agents need comes from a range that wide."""


def too_wide(prefix: str) -> bool:
    """Whether an address prefix opens a rule to the Internet: a name for it, or a public range wider than /16."""
    if prefix.lower() in ANYWHERE:
        return True
    try:
        network = ipaddress.ip_network(prefix, strict=False)
    except ValueError:
        return False  # a service tag other than Internet names Azure's own ranges
    wide = network.prefixlen < (BROADEST_PUBLIC_PREFIX if network.version == 4 else 32)
    return wide and not network.is_private


def _sources(rule: Mapping[str, Any]) -> list[str]:
    single = rule.get("sourceAddressPrefix")
    return [str(p) for p in ([single] if single else []) + list(rule.get("sourceAddressPrefixes") or [])]


def _inbound_from_anywhere(rules: list[Mapping[str, Any]]) -> Iterator[str]:
    for rule in rules:
        if rule.get("direction") != "Inbound" or rule.get("access") != "Allow":
            continue
        if open_to := [p for p in _sources(rule) if too_wide(p)]:
            yield f"rule {rule.get('name')} allows inbound traffic from {', '.join(open_to)}"


def _no_inbound_from_internet(args: ResourceValidationArgs, report: ReportViolation) -> None:
    rules = [args.props] if args.resource_type == SECURITY_RULE else list(args.props.get("securityRules") or [])
    for message in _inbound_from_anywhere(rules):
        report(message, None)


WILDCARD_SCHEMA: dict[str, dict[str, Any]] = {
    "allowedWildcards": {
        "type": "array",
        "items": {"type": "string"},
        "default": ["*.actions.githubusercontent.com"],
        "description": "Wildcard FQDNs the egress allowlist may hold, each one reviewed (GitHub's job traffic).",
    }
}


def _egress_exact(args: ResourceValidationArgs, report: ReportViolation) -> None:
    allowed = set(config_value(args, WILDCARD_SCHEMA, "allowedWildcards"))
    for collection in args.props.get("ruleCollections") or []:
        for rule in collection.get("rules") or []:
            for fqdn in [*(rule.get("targetFqdns") or []), *(rule.get("destinationFqdns") or [])]:
                if "*" in str(fqdn) and fqdn not in allowed:
                    report(f"rule {rule.get('name')} allows the wildcard {fqdn}", None)
            if "*" in (rule.get("destinationAddresses") or []):
                report(f"rule {rule.get('name')} allows any destination address", None)
            if "*" in (rule.get("fqdnTags") or []):
                report(f"rule {rule.get('name')} allows every FQDN tag", None)


def _default_route_to_firewall(args: ResourceValidationArgs, report: ReportViolation) -> None:
    routes = list(args.props.get("routes") or [])
    defaults = [r for r in routes if r.get("addressPrefix") == "0.0.0.0/0"]
    if not defaults:
        report("no default route: traffic not listed elsewhere leaves by Azure's default Internet route", None)
    for route in defaults:
        if route.get("nextHopType") != "VirtualAppliance":
            report(f"the default route {route.get('name')} goes to {route.get('nextHopType')}, not the firewall", None)
    for route in routes:  # a more specific route wins over the default: 0.0.0.0/1 + 128.0.0.0/1 skip the firewall
        if route.get("nextHopType") == "Internet":
            report(f"route {route.get('name')} sends {route.get('addressPrefix')} straight to the Internet", None)


POLICIES = [
    resource_policy(
        "nsg-no-inbound-from-internet",
        resource_type=(NSG, SECURITY_RULE),
        description="No network security rule allows inbound traffic from the Internet or from anywhere.",
        level=MANDATORY,
        remediation="Remove the rule, or name the exact source ranges (as the control plane does for GitHub's hooks).",
        check=_no_inbound_from_internet,
    ),
    resource_policy(
        "egress-allowlist-exact",
        resource_type=RULE_COLLECTION_GROUP,
        description="The firewall allows exact host names only; each wildcard is listed in the pack's config.",
        level=MANDATORY,
        remediation="Replace the wildcard with the hosts needed (network.egress.extraAllowedFqdns takes exact names).",
        check=_egress_exact,
        config=WILDCARD_SCHEMA,
    ),
    resource_policy(
        "default-route-to-firewall",
        resource_type=ROUTE_TABLE,
        description="The agents' route table sends the default route (0.0.0.0/0) to the egress firewall.",
        level=MANDATORY,
        remediation="Route 0.0.0.0/0 to the firewall's private IP (next hop VirtualAppliance).",
        check=_default_route_to_firewall,
    ),
]
