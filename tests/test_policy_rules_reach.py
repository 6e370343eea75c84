"""The pack's reach rules through the policy SDK's own argument bags: GitHub hosts the firewall allows whole, the
stack's extra egress destinations, the jobs that may obtain the agents' identity, and the cluster's path to the
registry's and vault's private endpoints."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

import pytest
from pulumi_policy import (
    PolicyResource,
)
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, unknown_checking_proxy

from policies.offline import check_resources
from policies.rules.reach import POLICIES, who_may_federate
from scripts.planning import Plan
from tests.policy_args import policy_resource, resource_violations, stack_findings, stack_violations

RULES = {policy.name: policy for policy in POLICIES}
GROUP = "azure-native:network:FirewallPolicyRuleCollectionGroup"
FIC = "azure-native:managedidentity:FederatedIdentityCredential"
ISSUER = "https://token.actions.githubusercontent.com"
SUB = "/subscriptions/9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
BUILD_VNET = f"{SUB}/resourceGroups/rg-sc/providers/Microsoft.Network/virtualNetworks/vnet-build"
CLUSTER_VNET = f"{SUB}/resourceGroups/rg-aks/providers/Microsoft.Network/virtualNetworks/vnet-aks"


def _violations(rule: str, resource_type: str, props: Mapping[str, Any]) -> list[str]:
    return resource_violations(RULES[rule], resource_type, props)


def _allowlist(*rules: Mapping[str, Any], action: str = "Allow") -> dict[str, Any]:
    collection = {"name": "allow-agent-https", "action": {"type": action}, "rules": list(rules)}
    return {"ruleCollectionGroupName": "agent-egress", "ruleCollections": [collection]}


def _app_rule(name: str, fqdns: tuple[str, ...] = (), urls: tuple[str, ...] = ()) -> dict[str, Any]:
    rule: dict[str, Any] = {"name": name, "ruleType": "ApplicationRule", "sourceAddresses": ["10.50.0.0/23"]}
    if fqdns:
        rule["targetFqdns"] = list(fqdns)
    if urls:
        rule.update(targetUrls=list(urls), terminateTLS=True)
    return rule


SIGSTORE = _app_rule("sigstore", ("fulcio.sigstore.dev", "rekor.sigstore.dev"))
STANDARD_GITHUB = _app_rule("github", ("github.com", "api.github.com", "objects.githubusercontent.com"))
PREMIUM_GITHUB = (
    _app_rule("github", ("api.github.com", "objects.githubusercontent.com")),
    _app_rule("github-org-paths", urls=("github.com/contoso/*", "codeload.github.com/contoso/*")),
)


def test_github_is_limited_to_the_organisations_paths_only_inside_tls() -> None:
    rule = "github-limited-to-organisation"
    assert _violations(rule, GROUP, _allowlist(SIGSTORE, *PREMIUM_GITHUB)) == []
    assert _violations(rule, GROUP, _allowlist(SIGSTORE, STANDARD_GITHUB)) == [
        "rule github allows github.com, every path of it: agents reach every repository and gist there, a place "
        "to push what a job read"
    ]
    every_path = _app_rule("github-org-paths", urls=("github.com/*",))
    assert _violations(rule, GROUP, _allowlist(every_path)) == [
        "rule github-org-paths allows github.com/*, every path of it: agents reach every repository and gist "
        "there, a place to push what a job read"
    ]
    gists = _app_rule("extras", ("Gist.GitHub.com",))
    assert len(_violations(rule, GROUP, _allowlist(gists))) == 1, "host names are case-insensitive"
    assert _violations(rule, GROUP, _allowlist(STANDARD_GITHUB, action="Deny")) == [], "a deny collection opens none"


def test_each_extra_egress_destination_is_listed() -> None:
    rule = "egress-extra-destinations"
    assert _violations(rule, GROUP, _allowlist(SIGSTORE, STANDARD_GITHUB)) == []
    extras = _app_rule("stack-extras", ("pypi.org", "files.pythonhosted.org"))
    assert _violations(rule, GROUP, _allowlist(SIGSTORE, extras)) == [
        "agents may reach pypi.org, beyond the chain's own destinations",
        "agents may reach files.pythonhosted.org, beyond the chain's own destinations",
    ]


def test_each_federation_of_the_job_identity_names_the_repository_and_ref() -> None:
    rule = "job-identity-federations-listed"
    federation = {"issuer": ISSUER, "subject": "repo:contoso/payments-api:ref:refs/heads/main"}
    assert _violations(rule, FIC, federation) == [
        "jobs of contoso/payments-api on refs/heads/main may obtain the job identity and push and sign as it"
    ]
    engine = {"issuer": "https://oidc.example/aks/", "subject": "system:serviceaccount:kyverno:kyverno-admission"}
    assert _violations(rule, FIC, engine) == [], "the engines' service accounts are not jobs"
    flexible = {**federation, "claimsMatchingExpression": {"value": "claims['sub'] matches 'repo:contoso/*'"}}
    assert _violations(rule, FIC, flexible) == [
        "jobs whose token matches claims['sub'] matches 'repo:contoso/*' may obtain the job identity and push and "
        "sign as it"
    ]


@pytest.mark.parametrize(
    ("subject", "who"),
    [
        ("repo:contoso/web:ref:refs/tags/v1", "jobs of contoso/web on refs/tags/v1"),
        ("repo:contoso/web:environment:prod", "jobs of contoso/web in environment prod"),
        ("repo:contoso/web:pull_request", "jobs of contoso/web on any pull request"),
        ("repo:contoso/web:job_workflow_ref:x", "jobs of contoso/web (job_workflow_ref:x)"),
        ("org:contoso", "jobs whose token's subject is org:contoso"),
    ],
)
def test_a_subject_says_which_jobs_it_admits(subject: str, who: str) -> None:
    assert who_may_federate(subject) == who


def _resource(resource_type: str, props: Mapping[str, Any], name: str) -> PolicyResource:
    return policy_resource(resource_type, props, name)


def _endpoint(group: str) -> PolicyResource:
    connection = {"groupIds": [group], "privateLinkServiceId": f"{SUB}/providers/x/{group}"}
    props = {"privateLinkServiceConnections": [connection], "subnet": {"id": f"{BUILD_VNET}/subnets/endpoints"}}
    return _resource("azure-native:network:PrivateEndpoint", props, f"{group}-pe")


def _zone(name: str, *vnets: str) -> list[PolicyResource]:
    links = [
        _resource(
            "azure-native:privatedns:VirtualNetworkLink",
            {"privateZoneName": name, "virtualNetwork": {"id": vnet}},
            f"{name}-link-{i}",
        )
        for i, vnet in enumerate(vnets)
    ]
    return [_resource("azure-native:privatedns:PrivateZone", {"privateZoneName": name}, name), *links]


PEERING = _resource(
    "azure-native:network:VirtualNetworkPeering",
    {"virtualNetworkName": "vnet-build", "remoteVirtualNetwork": {"id": CLUSTER_VNET}},
    "to-cluster",
)
BACK = _resource(
    "azure-native:network:VirtualNetworkPeering",
    {"virtualNetworkName": "vnet-aks", "remoteVirtualNetwork": {"id": BUILD_VNET}},
    "from-cluster",
)
BASE = [
    _resource("azure-native:network:VirtualNetwork", {"virtualNetworkName": "vnet-build"}, "vnet"),
    _resource("azure-native:containerregistry:Registry", {"publicNetworkAccess": "Disabled"}, "acr"),
    _resource("kubernetes:helm.sh/v3:Release", {"chart": "kyverno"}, "kyverno"),
    _endpoint("registry"),
]


def _stack(*resources: PolicyResource) -> list[str]:
    return stack_violations(RULES["cluster-reaches-private-endpoints"], resources)


def test_the_cluster_reaches_the_private_registry_through_a_peering_and_a_linked_zone() -> None:
    zone = "privatelink.azurecr.io"
    assert _stack(*BASE, PEERING, BACK, *_zone(zone, BUILD_VNET, CLUSTER_VNET)) == []
    assert _stack(*BASE, *_zone(zone, BUILD_VNET)) == [
        "the registry is reachable only through its private endpoint, and no peering connects another network "
        "to the build network: node pulls and the engines' registry calls fail"
    ]
    assert _stack(*BASE, PEERING, BACK, *_zone(zone, BUILD_VNET)) == [
        "privatelink.azurecr.io is not linked to the peered network vnet-aks: it resolves the registry's public "
        "address, which refuses it, so node pulls and the engines' registry calls fail"
    ]


def test_no_private_path_is_needed_for_a_public_registry_an_estate_zone_or_no_cluster() -> None:
    public = _resource("azure-native:containerregistry:Registry", {"publicNetworkAccess": "Enabled"}, "acr")
    assert _stack(*BASE[:1], public, *BASE[2:], *_zone("privatelink.azurecr.io", BUILD_VNET)) == []
    assert _stack(*BASE) == [], "the estate's central zone: the estate links it and routes to the endpoint"
    no_cluster = [r for r in BASE if not r.resource_type.startswith("kubernetes:")]
    assert _stack(*no_cluster, *_zone("privatelink.azurecr.io", BUILD_VNET)) == []


def test_prod_unpeered_cannot_reach_its_registry_or_vault(plan_of: Callable[[str], Plan]) -> None:
    plan = plan_of("prod")
    assert [v for v in check_resources(plan.resources) if v.rule == "cluster-reaches-private-endpoints"] == []
    unpeered = [
        r
        for r in plan.resources
        if r.type != "azure-native:network:VirtualNetworkPeering" and not r.name.endswith("-zone-link-cluster")
    ]
    found = [v.message for v in check_resources(unpeered) if v.rule == "cluster-reaches-private-endpoints"]
    assert found == [
        "the registry is reachable only through its private endpoint, and no peering connects another network "
        "to the build network: node pulls and the engines' registry calls fail",
        "the vault is reachable only through its private endpoint, and no peering connects another network to "
        "the build network: the engines' Key Vault calls (signing keys read at admission) fail",
    ]


def test_in_a_preview_what_new_resources_return_is_unknown_and_the_rule_still_runs() -> None:
    """`pulumi preview` of a new stack: the build VNet's id (the back peering's remote, the build link's VNet) and
    the zones' names (each link's zone) are unknown; the SDK raises on reading them, the rule reads around them."""

    def previewed(resource: PolicyResource) -> PolicyResource:
        props = copy.deepcopy(dict(resource.props))
        if resource.resource_type == "azure-native:network:VirtualNetworkPeering" and resource.name == "from-cluster":
            props["remoteVirtualNetwork"]["id"] = UNKNOWN_STRING_VALUE
        if resource.resource_type == "azure-native:privatedns:VirtualNetworkLink":
            props["privateZoneName"] = UNKNOWN_STRING_VALUE
            if props["virtualNetwork"]["id"] == BUILD_VNET:
                props["virtualNetwork"]["id"] = UNKNOWN_STRING_VALUE
        return _resource(resource.resource_type, unknown_checking_proxy(props), resource.name)

    zone = _zone("privatelink.azurecr.io", BUILD_VNET, CLUSTER_VNET)
    assert _stack(*(previewed(r) for r in (*BASE, PEERING, BACK, *zone))) == []
    unlinked = [previewed(r) for r in (*BASE, PEERING, BACK, *_zone("privatelink.azurecr.io", BUILD_VNET))]
    assert _stack(*unlinked) == [
        "privatelink.azurecr.io is not linked to the peered network vnet-aks: it resolves the registry's public "
        "address, which refuses it, so node pulls and the engines' registry calls fail"
    ]
    federation = unknown_checking_proxy({"issuer": ISSUER, "subject": "repo:o/r:ref:refs/heads/main"})
    assert _violations("job-identity-federations-listed", FIC, federation) == [
        "jobs of o/r on refs/heads/main may obtain the job identity and push and sign as it"
    ]


WHOLE = "agents reach every repository and gist there, a place to push what a job read"


@pytest.mark.parametrize(
    ("url", "whole"),
    [("github.com", True), ("github.com/", True), ("github.com/*/", True), ("github.com//", True),
     ("github.com/X/*", False), ("github.com/contoso", False)],
)  # fmt: skip
def test_every_spelling_of_a_whole_github_host_is_caught(url: str, whole: bool) -> None:
    found = _violations("github-limited-to-organisation", GROUP, _allowlist(_app_rule("paths", urls=(url,))))
    assert found == ([f"rule paths allows {url}, every path of it: {WHOLE}"] if whole else [])


def test_network_rules_by_name_and_urls_count_as_destinations() -> None:
    network_rule = {"name": "stack-extras", "ruleType": "NetworkRule", "destinationFqdns": ["github.com", "x.example"]}
    assert _violations("github-limited-to-organisation", GROUP, _allowlist(network_rule)) == [
        f"rule stack-extras allows github.com, every path of it: {WHOLE}"
    ]
    assert _violations("egress-extra-destinations", GROUP, _allowlist(network_rule)) == [
        "agents may reach github.com, beyond the chain's own destinations",
        "agents may reach x.example, beyond the chain's own destinations",
    ]
    urls = _app_rule("stack-extras", urls=("pkgs.contoso.example/feed/*",))
    assert _violations("egress-extra-destinations", GROUP, _allowlist(urls)) == [
        "agents may reach pkgs.contoso.example/feed/*, beyond the chain's own destinations"
    ]


@pytest.mark.parametrize(
    ("subject", "who"),
    [
        ("repo:contoso/web", "jobs whose token's subject is repo:contoso/web"),
        ("org:contoso:ref:refs/heads/main", "jobs whose token's subject is org:contoso:ref:refs/heads/main"),
        ("repo:contoso/web:environment:", "jobs of contoso/web (environment:)"),
        ("repo:contoso/web:pull_request:x", "jobs of contoso/web (pull_request:x)"),
    ],
)
def test_a_subject_that_names_no_exact_jobs_is_quoted_whole(subject: str, who: str) -> None:
    assert who_may_federate(subject) == who


def test_a_github_federation_without_a_subject_is_still_listed() -> None:
    assert _violations("job-identity-federations-listed", FIC, {"issuer": ISSUER}) == [
        "jobs whose token's subject is  may obtain the job identity and push and sign as it"
    ]


def test_network_ids_are_read_by_their_last_segment_whatever_their_case_and_trailing_slash() -> None:
    zone = "privatelink.azurecr.io"
    cluster = f"{SUB}/resourceGroups/rg-aks/providers/Microsoft.Network/virtualNetworks/Vnet-AksX/"
    peering = _resource(
        "azure-native:network:VirtualNetworkPeering",
        {"virtualNetworkName": "vnet-build", "remoteVirtualNetwork": {"id": cluster}},
        "to-cluster",
    )
    assert _stack(*BASE, peering, *_zone(zone, BUILD_VNET)) == [
        "privatelink.azurecr.io is not linked to the peered network vnet-aksx: it resolves the registry's public "
        "address, which refuses it, so node pulls and the engines' registry calls fail"
    ]
    assert _stack(*BASE, peering, *_zone(zone, BUILD_VNET, cluster.rstrip("/").upper())) == []


PE = "azure-native:network:PrivateEndpoint"


def _vault_stack(access: str) -> list[PolicyResource]:
    vault = _resource("azure-native:keyvault:Vault", {"properties": {"publicNetworkAccess": access}}, "kv")
    zone = _resource("azure-native:privatedns:PrivateZone", {"privateZoneName": "privatelink.vaultcore.azure.net"}, "z")
    manual = {"groupIds": ["vault"], "privateLinkServiceId": f"{SUB}/providers/x/vault"}
    endpoint = _resource(PE, {"manualPrivateLinkServiceConnections": [manual]}, "vault-pe")
    return [*BASE[:1], BASE[2], vault, zone, endpoint]


def test_a_vault_reached_through_a_manual_endpoint_needs_the_path_unless_it_is_public() -> None:
    assert stack_findings(RULES["cluster-reaches-private-endpoints"], _vault_stack("Disabled")) == [
        (
            "the vault is reachable only through its private endpoint, and no peering connects another network to "
            "the build network: the engines' Key Vault calls (signing keys read at admission) fail",
            "vault-pe",
        )
    ]
    assert _stack(*_vault_stack("Enabled")) == []


REGISTRY_UNLINKED = (
    "privatelink.azurecr.io is not linked to the peered network vnet-aks: it resolves the registry's public address, "
    "which refuses it, so node pulls and the engines' registry calls fail"
)


def test_only_peerings_to_other_networks_and_links_of_the_endpoints_own_zone_count() -> None:
    registry_zone, vault_zone = (
        _zone("privatelink.azurecr.io", CLUSTER_VNET),
        _zone("privatelink.vaultcore.azure.net", CLUSTER_VNET),
    )
    # the cluster's peering back to the build network is no network the build zone must reach
    assert _stack(*BASE, PEERING, BACK, *registry_zone) == []
    # a link of the vault's zone does not make the registry's resolvable
    assert stack_findings(
        RULES["cluster-reaches-private-endpoints"],
        [*BASE, PEERING, *_zone("privatelink.azurecr.io", BUILD_VNET), *vault_zone[1:]],
    ) == [(REGISTRY_UNLINKED, "registry-pe")]


def test_an_endpoint_serves_only_the_group_it_connects() -> None:
    vault = _resource("azure-native:keyvault:Vault", {"properties": {"publicNetworkAccess": "Disabled"}}, "kv")
    vault_zone = _zone("privatelink.vaultcore.azure.net", BUILD_VNET)
    assert stack_findings(
        RULES["cluster-reaches-private-endpoints"], [*BASE, vault, *vault_zone, *_zone("privatelink.azurecr.io")]
    ) == [
        (
            "the registry is reachable only through its private endpoint, and no peering connects another network "
            "to the build network: node pulls and the engines' registry calls fail",
            "registry-pe",
        )
    ]
