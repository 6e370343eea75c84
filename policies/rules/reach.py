"""What the build agents and the cluster can reach, read from the planned resources (advisory): GitHub hosts
allowed whole, the stack's extra egress destinations, which jobs may obtain the agents' identity, and whether
the cluster has a path to the registry's and vault's private endpoints."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import (
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError

from components.model.contract import EXTRA_EGRESS_RULE, GITHUB_ACTIONS_ISSUER
from policies.rules.base import ADVISORY, dig, resource_policy
from policies.rules.registry import registries

RULE_COLLECTION_GROUP = "azure-native:network:FirewallPolicyRuleCollectionGroup"
FEDERATED_CREDENTIAL = "azure-native:managedidentity:FederatedIdentityCredential"
PRIVATE_ENDPOINT = "azure-native:network:PrivateEndpoint"
PRIVATE_ZONE = "azure-native:privatedns:PrivateZone"
ZONE_LINK = "azure-native:privatedns:VirtualNetworkLink"
PEERING = "azure-native:network:VirtualNetworkPeering"
VNET = "azure-native:network:VirtualNetwork"

REPOSITORY_HOSTS = frozenset(
    {
        "github.com",
        "codeload.github.com",
        "raw.githubusercontent.com",
        "gist.github.com",
        "gist.githubusercontent.com",
    }
)
"""GitHub hosts that serve every repository or gist, anyone's: allowed by name (no TLS inspection, no path),
they let a job push what it read to an attacker's repository."""


def known(props: Mapping[str, Any], *path: str) -> Any:
    """`dig`, but None where the value is unknown until deployment (in a `pulumi preview`, the id or name another
    new resource returns): the rule then judges by what is known instead of not running at all."""
    try:
        return dig(props, *path)
    except UnknownValueError:
        return None


def _allow_rules(props: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    for collection in props.get("ruleCollections") or []:
        if dig(collection, "action", "type") in (None, "Allow"):
            yield from collection.get("rules") or []


def _by_name(rule: Mapping[str, Any]) -> list[str]:
    return [str(f) for f in [*(rule.get("targetFqdns") or []), *(rule.get("destinationFqdns") or [])]]


def _github_limited(args: ResourceValidationArgs, report: ReportViolation) -> None:
    for rule in _allow_rules(args.props):
        whole = [host for host in _by_name(rule) if host.lower() in REPOSITORY_HOSTS]
        for url in rule.get("targetUrls") or []:
            host, _, path = str(url).partition("/")
            if host.lower() in REPOSITORY_HOSTS and path.strip("/") in ("", "*"):
                whole.append(str(url))
        for host in whole:
            report(
                f"rule {rule.get('name')} allows {host}, every path of it: agents reach every repository and gist "
                "there, a place to push what a job read",
                None,
            )


def _extra_destinations(args: ResourceValidationArgs, report: ReportViolation) -> None:
    for rule in _allow_rules(args.props):
        if rule.get("name") == EXTRA_EGRESS_RULE:
            for destination in [*_by_name(rule), *(str(u) for u in rule.get("targetUrls") or [])]:
                report(f"agents may reach {destination}, beyond the chain's own destinations", None)


def who_may_federate(subject: str) -> str:
    """The GitHub Actions jobs a federated credential's subject admits, in words (`repo:o/r:ref:refs/heads/main`
    is the jobs of o/r on refs/heads/main)."""
    scheme, _, rest = subject.partition(":")
    repository, _, qualifier = rest.partition(":")
    if scheme != "repo" or not repository or not qualifier:
        return f"jobs whose token's subject is {subject}"
    kind, _, value = qualifier.partition(":")
    if kind == "ref" and value:
        return f"jobs of {repository} on {value}"
    if kind == "environment" and value:
        return f"jobs of {repository} in environment {value}"
    if kind == "pull_request" and not value:
        return f"jobs of {repository} on any pull request"
    return f"jobs of {repository} ({qualifier})"


def _federations(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if known(args.props, "issuer") != GITHUB_ACTIONS_ISSUER:
        return  # the engines' service accounts, federated from the cluster's issuer
    if expression := known(args.props, "claimsMatchingExpression", "value"):
        who = f"jobs whose token matches {expression}"
    else:
        who = who_may_federate(str(known(args.props, "subject") or ""))
    report(f"{who} may obtain the job identity and push and sign as it", None)


PRIVATE_SERVICES = (
    ("registry", "privatelink.azurecr.io", "node pulls and the engines' registry calls"),
    ("vault", "privatelink.vaultcore.azure.net", "the engines' Key Vault calls (signing keys read at admission)"),
)
"""Private-endpoint group, its private DNS zone, and what in the cluster fails without a path to it."""


def _of(args: StackValidationArgs, resource_type: str) -> list[PolicyResource]:
    return [r for r in args.resources if r.resource_type == resource_type]


def _vnet_name(resource_id: Any) -> str:
    return str(resource_id).rstrip("/").rsplit("/", 1)[-1].lower()


def _public(args: StackValidationArgs, group: str) -> bool:
    """Whether the service behind the endpoint also answers on its public endpoint (then no private path is
    needed; the registry's allowlist is another rule's business)."""
    if group == "registry":
        return any(known(settings, "publicNetworkAccess") == "Enabled" for _, settings in registries(args))
    return any(
        known(r.props, "properties", "publicNetworkAccess") == "Enabled"
        for r in _of(args, "azure-native:keyvault:Vault")
    )


def _endpoint(args: StackValidationArgs, group: str) -> PolicyResource | None:
    for endpoint in _of(args, PRIVATE_ENDPOINT):
        connections = [
            *(known(endpoint.props, "privateLinkServiceConnections") or []),
            *(known(endpoint.props, "manualPrivateLinkServiceConnections") or []),
        ]
        if any(isinstance(c, Mapping) and group in (known(c, "groupIds") or []) for c in connections):
            return endpoint
    return None


def _cluster_reaches_endpoints(args: StackValidationArgs, report: ReportViolation) -> None:
    if not any(r.resource_type.startswith("kubernetes:") for r in args.resources):
        return  # no cluster in this stack to reach them
    build = {_vnet_name(known(v.props, "virtualNetworkName") or v.name) for v in _of(args, VNET)}
    peered = sorted(
        {
            _vnet_name(remote)
            for p in _of(args, PEERING)
            if (remote := known(p.props, "remoteVirtualNetwork", "id")) and _vnet_name(remote) not in build
        }
    )
    for group, zone, fails in PRIVATE_SERVICES:
        endpoint = _endpoint(args, group)
        own_zone = any(known(z.props, "privateZoneName") == zone for z in _of(args, PRIVATE_ZONE))
        if endpoint is None or _public(args, group) or not own_zone:
            continue  # no endpoint, a public one too, or the estate's central zone (the estate resolves and routes)
        if not peered:
            report(
                f"the {group} is reachable only through its private endpoint, and no peering connects another "
                f"network to the build network: {fails} fail",
                endpoint.urn,
            )
            continue
        linked = {  # a link to a zone not created yet (its name unknown in a preview) counts for any zone
            _vnet_name(vnet)
            for link in _of(args, ZONE_LINK)
            if known(link.props, "privateZoneName") in (zone, None)
            and (vnet := known(link.props, "virtualNetwork", "id"))
        }
        for vnet in peered:
            if vnet not in linked:
                report(
                    f"{zone} is not linked to the peered network {vnet}: it resolves the {group}'s public address, "
                    f"which refuses it, so {fails} fail",
                    endpoint.urn,
                )


POLICIES = [
    resource_policy(
        "github-limited-to-organisation",
        resource_type=RULE_COLLECTION_GROUP,
        description="The firewall does not allow a GitHub host that serves every repository (github.com, "
        "codeload.github.com, ...) by name: without TLS inspection it cannot tell the organisation's repositories "
        "from an attacker's, so a job can push what it read anywhere on GitHub.",
        level=ADVISORY,
        remediation="Set network.egress.firewallTier Premium with network.egress.tlsInspection: the firewall then "
        "allows github.com by the organisation's paths only (buildAgents.runner.scope).",
        check=_github_limited,
    ),
    resource_policy(
        "egress-extra-destinations",
        resource_type=RULE_COLLECTION_GROUP,
        description="Lists each host the firewall lets the agents reach beyond the chain's own destinations "
        "(Sigstore, GitHub, Entra ID, Resource Manager): each is a place a job can send what it read.",
        level=ADVISORY,
        remediation="Keep network.egress.extraAllowedFqdns to the hosts builds need (a package feed of the "
        "organisation's own), and remove the rest.",
        check=_extra_destinations,
    ),
    resource_policy(
        "job-identity-federations-listed",
        resource_type=FEDERATED_CREDENTIAL,
        description="Lists which GitHub Actions jobs (repository and ref) may exchange their token for the "
        "agents' job identity, which pushes to the registry and signs with the stack's key.",
        level=ADVISORY,
        remediation="Keep buildAgents.runner.repositories to the repositories that release, and "
        "buildAgents.runner.pushRef to the protected branch.",
        check=_federations,
    ),
    StackValidationPolicy(
        name="cluster-reaches-private-endpoints",
        description="The registry and vault, reachable only through private endpoints, are reachable from the "
        "cluster: its network is peered with the build network and the endpoints' private DNS zones are linked "
        "to it. Otherwise node pulls and the engines' registry and Key Vault calls fail.",
        validate=_cluster_reaches_endpoints,
        enforcement_level=ADVISORY,
        remediation_steps="Set cluster.virtualNetworkId to the VNet of the cluster's node pools (the stack peers it "
        "and links the zones), or, in a hub and spoke estate, network.privateDnsZones for both endpoints.",
    ),
]
