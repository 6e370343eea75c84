"""The pack's stack safeguards through the policy SDK's own argument bags: egress leaves through the firewall,
every build network's DNS is filtered, and in prod the registry and vault are delete-locked, flows are logged and
the firewall spans zones. Each passes the tight stack and names what is missing, once, at the resource."""

from __future__ import annotations

from typing import Any

from policies.rules.safeguards import POLICIES
from tests.policy_args import policy_resource, stack_findings, stack_violations

RULES = {policy.name: policy for policy in POLICIES}
SUB = "/subscriptions/9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d/resourceGroups/rg-sc/providers"
VNET = "azure-native:network:VirtualNetwork"
FIREWALL = "azure-native:network:AzureFirewall"
LINK = "azure-native:dnsresolver:DnsResolverPolicyVirtualNetworkLink"
LOCK = "azure-native:authorization:ManagementLockByScope"
REGISTRY = "azure-native:containerregistry:Registry"
VAULT = "azure-native:keyvault:Vault"
FLOW_LOG = "azure-native:network:FlowLog"
PROD = {"environment": "prod"}


def _vnet(name: str = "vnet-build", **props: Any) -> Any:
    return policy_resource(VNET, {"virtualNetworkName": name, **props}, name)


def _link(vnet: str) -> Any:
    # ids as Azure writes them, case and all: the rule compares names without case
    return policy_resource(LINK, {"virtualNetwork": {"id": f"{SUB}/Microsoft.Network/virtualNetworks/{vnet.upper()}"}})


def _prod_stack(**skip: bool) -> list[Any]:
    resources = [
        policy_resource(REGISTRY, {"registryName": "crprod", "tags": PROD}, "acr"),
        policy_resource(VAULT, {"vaultName": "kv-prod", "tags": PROD}, "kv"),
        _vnet(),
        policy_resource(FIREWALL, {"zones": ["1", "2", "3"]}, "fw"),
        policy_resource(FLOW_LOG, {"targetResourceId": f"{SUB}/Microsoft.Network/virtualNetworks/vnet-build"}),
    ]
    for provider, kind, name in (("ContainerRegistry", "registries", "crprod"), ("KeyVault", "vaults", "kv-prod")):
        if not skip.get(kind):
            scope = f"{SUB}/Microsoft.{provider}/{kind}/{name}"
            resources.append(policy_resource(LOCK, {"scope": scope, "level": "CanNotDelete"}, f"lock-{name}"))
    return resources


def test_a_build_network_without_the_firewall_is_reported() -> None:
    rule = RULES["egress-through-firewall"]
    assert stack_violations(rule, [_vnet(), policy_resource(FIREWALL, {})]) == []
    assert stack_violations(rule, [_vnet()]) == [
        "the build network has no egress firewall: agents reach whole service tags, not hosts by name"
    ]
    assert stack_violations(rule, []) == [], "no build network, nothing to route"


def test_each_build_network_without_the_dns_policy_is_named() -> None:
    rule = RULES["dns-filtered"]
    assert stack_violations(rule, [_vnet(), _link("vnet-build")]) == []
    assert stack_violations(rule, [_vnet(), _vnet("vnet-spare"), _link("vnet-build")]) == [
        "vnet-spare resolves any name: DNS carries data out past the firewall"
    ]
    assert stack_violations(rule, [_vnet(), _link("vnet-build-old")]) == [
        "vnet-build resolves any name: DNS carries data out past the firewall"
    ], "a link to a network whose name only starts the same is not this network's"


def test_prod_keeps_its_locks_flow_logs_and_zones() -> None:
    rule = RULES["prod-safeguards"]
    assert stack_violations(rule, _prod_stack()) == []
    assert stack_violations(rule, _prod_stack(vaults=True)) == [
        "kv-prod has no delete lock: one mistaken destroy removes it"
    ]
    read_only = [
        r if r.resource_type != LOCK else policy_resource(LOCK, {**r.props, "level": "ReadOnly"}, r.name)
        for r in _prod_stack()
    ]
    assert stack_violations(rule, read_only) == [
        "crprod has no delete lock: one mistaken destroy removes it",
        "kv-prod has no delete lock: one mistaken destroy removes it",
    ], "only a CanNotDelete lock keeps a destroy out"
    unlogged = [r for r in _prod_stack() if r.resource_type != FLOW_LOG]
    assert stack_violations(rule, unlogged) == [
        "vnet-build's flows are not logged: nobody can tell later what the agents reached"
    ]
    one_zone = [
        r if r.resource_type != FIREWALL else policy_resource(FIREWALL, {"zones": ["1"]}, "fw") for r in _prod_stack()
    ]
    assert stack_violations(rule, one_zone) == ["the egress firewall sits in one zone: a zone outage stops every build"]


def test_outside_prod_the_safeguards_are_the_stacks_choice() -> None:
    dev = [
        r if r.resource_type not in (REGISTRY, VAULT) else policy_resource(r.resource_type, {**r.props, "tags": {}})
        for r in _prod_stack(registries=True, vaults=True)
    ]
    assert stack_violations(RULES["prod-safeguards"], dev) == []


def test_each_safeguard_finding_names_its_resource_and_a_network_by_its_azure_name() -> None:
    build = policy_resource(VNET, {"virtualNetworkName": "vnet-build-prod"}, "build-network")
    stack = [
        policy_resource(REGISTRY, {"registryName": "crprod", "tags": PROD}, "acr"),
        build,
        policy_resource(FIREWALL, {"zones": ["1"]}, "fw"),
        _link("vnet-build-prod"),
    ]
    assert stack_findings(RULES["dns-filtered"], stack) == []
    assert stack_findings(RULES["dns-filtered"], [build]) == [
        ("vnet-build-prod resolves any name: DNS carries data out past the firewall", "build-network")
    ]
    assert stack_findings(RULES["prod-safeguards"], stack) == [
        ("crprod has no delete lock: one mistaken destroy removes it", "acr"),
        ("vnet-build-prod's flows are not logged: nobody can tell later what the agents reached", "build-network"),
        ("the egress firewall sits in one zone: a zone outage stops every build", "fw"),
    ]


def test_two_zones_are_enough_for_the_firewall() -> None:
    two_zones = [
        r if r.resource_type != FIREWALL else policy_resource(FIREWALL, {"zones": ["1", "2"]}, "fw")
        for r in _prod_stack()
    ]
    assert stack_violations(RULES["prod-safeguards"], two_zones) == []
