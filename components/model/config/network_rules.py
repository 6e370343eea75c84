"""Cross-section rules about the Azure estate: the build network, the registry's exposure and the
cluster's path to the private endpoints."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from components.model.config.errors import Problem, config_key
from components.model.config.signing import AzureKeyVaultKey

if TYPE_CHECKING:
    from components.model.config.rules import Sections


PUBLIC_PACKAGE_HOSTS = frozenset(
    {
        "pypi.org",
        "files.pythonhosted.org",
        "registry.npmjs.org",
        "registry.yarnpkg.com",
        "repo.maven.apache.org",
        "repo1.maven.org",
        "plugins.gradle.org",
        "proxy.golang.org",
        "index.crates.io",
        "static.crates.io",
        "crates.io",
        "rubygems.org",
        "api.nuget.org",
        "registry-1.docker.io",
        "auth.docker.io",
        "production.cloudflare.docker.com",
    }
)
"""Public package registries: anyone can publish there, so an agent that reaches one can upload what it
read (a package is a drop box) as well as fetch what a typosquatter published."""

AZURE_RESERVED_ADDRESSES = 5
"""Azure keeps the first four addresses and the last of every subnet."""


def agents_need_network(s: Sections) -> Iterator[Problem]:
    """Build agents run in the build network, so a stack with agents needs one."""
    if s.build_agents is not None and s.network is None:
        yield Problem(config_key("network"), "buildAgents run in the build network — add the network section")


def prod_registry(s: Sections) -> Iterator[Problem]:
    """A prod registry is private and keeps every manifest an image may be pinned to."""
    env = s.environment
    if env == "prod" and s.registry.public_network_access_enabled:
        yield Problem(
            config_key("registry.publicNetworkAccessEnabled"),
            "prod registries are private (private endpoint only) — set it to false",
        )
    if env == "prod" and s.registry.retention_days is not None:
        yield Problem(
            config_key("registry.retentionDays"),
            "retention deletes untagged manifests, and prod pins images by digest: a running image whose tag "
            "moved would vanish from the registry — remove it",
        )


def cluster_reaches_endpoints(s: Sections) -> Iterator[Problem]:
    """The cluster reaches the private endpoints: its VNet peered, its range admitted, no overlap."""
    if s.cluster is None:
        return
    vnet = s.cluster.virtual_network_id
    if vnet is not None and s.network is None:
        yield Problem(
            config_key("cluster.virtualNetworkId"),
            "only Azure stacks peer the cluster's network with their own — remove it",
        )
        return
    if s.network is None:
        return
    if vnet is not None:
        if not s.network.endpoint_client_ranges:
            yield Problem(
                config_key("network.endpointClientRanges"),
                "the cluster's VNet is peered, but the endpoints' NSG admits only the agents — list the cluster "
                "VNet's address space here",
            )
        for i, client in enumerate(s.network.endpoint_client_ranges):
            if client.overlaps(s.network.address_space):
                yield Problem(
                    config_key(f"network.endpointClientRanges[{i}]"),
                    f"{client} overlaps network.addressSpace ({s.network.address_space}): VNets with overlapping "
                    "ranges cannot be peered — pick the cluster VNet's own range",
                )
    elif s.environment == "prod" and not s.registry.public_network_access_enabled and not estate_resolves(s):
        yield Problem(
            config_key("cluster.virtualNetworkId"),
            "the prod registry and vault are reachable only through their private endpoints, and the cluster's "
            "network is not peered — set the resource id of the VNet its node pools are in (or, in a hub and "
            "spoke estate, network.privateDnsZones for both endpoints)",
        )


def estate_resolves(s: Sections) -> bool:
    """Whether the estate's central zones hold every private endpoint's records (hub and spoke: the estate
    links those zones to the cluster's VNet and routes to the endpoints)."""
    zones = s.network.private_dns_zones
    needs_vault = any(isinstance(k, AzureKeyVaultKey) for k in s.signing.keys)
    return zones.registry is not None and (zones.vault is not None or not needs_vault)


def agent_subnet_capacity(s: Sections) -> Iterator[Problem]:
    """Every agent the scale set may start gets an address in the agents subnet."""
    if s.build_agents is None or s.network is None:
        return
    subnet = s.network.subnets.agents
    room = subnet.num_addresses - AZURE_RESERVED_ADDRESSES
    if s.build_agents.max_instances > room:
        yield Problem(
            config_key("buildAgents.maxInstances"),
            f"{s.build_agents.max_instances} agents do not fit subnets.agents ({subnet}: {room} addresses after "
            f"Azure's {AZURE_RESERVED_ADDRESSES} reserved) — lower it or widen the subnet",
        )


def prod_packages_through_a_cache(s: Sections) -> Iterator[Problem]:
    """Prod agents fetch packages through a cache the organisation controls, never from public registries."""
    if s.environment != "prod" or s.network is None:
        return
    for i, host in enumerate(s.network.egress.extra_allowed_fqdns):
        if host in PUBLIC_PACKAGE_HOSTS:
            yield Problem(
                config_key(f"network.egress.extraAllowedFqdns[{i}]"),
                f"{host} is a public package registry (anyone can publish to it, so it is a way out as well as "
                "in) — in prod, fetch packages through your own cache (an Azure Artifacts feed with upstream "
                "sources, or an ACR cache rule for base images) and list its host",
            )
