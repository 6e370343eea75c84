"""What build agents may reach, as plain data: firewall application rules and NSG rules.

Pure functions of the config, so a reviewer (and the tests) can read the allowlist without Pulumi.
NSGs take CIDRs, service tags and ASGs only, never host names, so naming hosts needs the firewall.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from components.model.config import BuildAgentsConfig, NetworkConfig
from components.model.contract import EXTRA_EGRESS_RULE

SIGSTORE_HOSTS = (
    "fulcio.sigstore.dev",  # keyless signing certificates
    "rekor.sigstore.dev",  # transparency log
    "tuf-repo-cdn.sigstore.dev",  # trusted root (TUF)
    "timestamp.sigstore.dev",  # RFC 3161 timestamps
)

# GitHub's documented hosts for self-hosted runners, narrowest first. Exact names where GitHub names them.
GITHUB_HOSTS = (
    "github.com",
    "api.github.com",
    "codeload.github.com",
    "objects.githubusercontent.com",  # release downloads (the runner package) redirect here
    "release-assets.githubusercontent.com",
)
GITHUB_ACTIONS_SERVICE = "*.actions.githubusercontent.com"
"""The job, OIDC token, results and package services live under this GitHub-owned domain on names GitHub
does not publish (they differ per region and change), so only the wildcard works; every name under it is
GitHub's, so it opens no third party's service."""

GITHUB_RESULTS_ACCOUNTS = (*range(0, 20), *range(30, 50), *range(100, 200))
"""The storage accounts GitHub's meta API lists for job logs, summaries, artifacts and caches
(`productionresultssa<n>`; 30-49 and 100-199 added in October 2026)."""
GITHUB_RESULTS_HOSTS = tuple(f"productionresultssa{n}.blob.core.windows.net" for n in GITHUB_RESULTS_ACCOUNTS)
"""Exact accounts, never `*.blob.core.windows.net`: that would reach any storage account, an attacker's too."""

# Agents log in to Azure by OIDC federation (a GitHub token exchanged at Entra ID).
ENTRA_LOGIN_HOST = "login.microsoftonline.com"

ARM_HOST = "management.azure.com"

RUNNER_RELEASES_PATH = "github.com/actions/runner/releases/download"

NSG_ONLY_SERVICE_TAGS = ("AzureContainerRegistry", "AzureActiveDirectory", "AzureKeyVault", "Storage")
"""What `nsg-only` mode opens (HTTPS): the registry, Entra ID, Key Vault, and Storage for the job queue.
Sigstore and the CI service have no service tag, so this mode cannot reach them by name."""

LOWEST_PRIORITY = 4096


@dataclass(frozen=True)
class ApplicationRule:
    """One firewall application rule: HTTPS from the agent subnet to exact hosts."""

    name: str
    description: str
    fqdns: tuple[str, ...] = ()
    urls: tuple[str, ...] = ()
    """Host and path prefixes (`github.com/contoso/*`): matched inside TLS, so a Premium firewall only."""
    sources: tuple[str, ...] = ()
    """Who may use the rule (CIDRs); empty: the build agents' subnet."""

    @property
    def hosts(self) -> tuple[str, ...]:
        """Every host the rule lets agents reach."""
        return self.fqdns + tuple(dict.fromkeys(url.split("/", 1)[0] for url in self.urls))


def egress_rules(network: NetworkConfig, agents: BuildAgentsConfig | None) -> list[ApplicationRule]:
    """The firewall's allowlist: Sigstore, GitHub (if agents are configured), the stack's extras."""
    rules = [ApplicationRule("sigstore", "Sigstore public-good: Fulcio, Rekor, TUF root, TSA", SIGSTORE_HOSTS)]
    if agents is not None:
        rules += _github_rules(network, agents)
        rules.append(ApplicationRule("entra-login", "Azure login by OIDC federation", (ENTRA_LOGIN_HOST,)))
        rules.append(
            ApplicationRule("azure-resource-manager", "an agent deletes its own VM when its job ends", (ARM_HOST,))
        )
        if network.subnets.control_plane is not None:
            vault = agents.control_plane.vault_id.rsplit("/", 1)[-1]
            rules.append(
                ApplicationRule(
                    "control-plane",
                    "the agents' control plane: GitHub's API, Resource Manager, Entra ID, its secrets' vault",
                    ("api.github.com", ARM_HOST, ENTRA_LOGIN_HOST, f"{vault.lower()}.vault.azure.net"),
                    sources=(str(network.subnets.control_plane),),
                )
            )
    if network.egress.extra_allowed_fqdns:
        rules.append(
            ApplicationRule(
                EXTRA_EGRESS_RULE, "network.egress.extraAllowedFqdns", tuple(network.egress.extra_allowed_fqdns)
            )
        )
    return rules


def _github_rules(network: NetworkConfig, agents: BuildAgentsConfig) -> list[ApplicationRule]:
    service = ApplicationRule(
        "github-actions-service",
        "GitHub's job, OIDC token and results services (GitHub-owned domain)",
        (GITHUB_ACTIONS_SERVICE,),
    )
    results = ApplicationRule(
        "github-actions-results", "GitHub's storage accounts for logs, artifacts and caches", GITHUB_RESULTS_HOSTS
    )
    if network.egress.firewall_tier != "Premium":
        return [ApplicationRule("github", "GitHub: runner registration, API, code", GITHUB_HOSTS), service, results]
    # github.com serves every repository and gist: with TLS inspection, only the organisation's paths
    # and the pinned runner release
    org = agents.runner.scope
    by_path = ("github.com", "codeload.github.com")
    version = agents.runner_package.version
    return [
        ApplicationRule("github", "GitHub API and release assets", tuple(h for h in GITHUB_HOSTS if h not in by_path)),
        ApplicationRule(
            "github-org-paths",
            f"the {org} organisation's repositories and the pinned runner release only (TLS inspected)",
            urls=(*(f"{host}/{org}/*" for host in by_path), f"{RUNNER_RELEASES_PATH}/v{version}/*"),
        ),
        service,
        results,
    ]


def _rule(
    name: str,
    priority: int,
    direction: Literal["Inbound", "Outbound"],
    access: Literal["Allow", "Deny"],
    destination: str,
    ports: str = "*",
    protocol: str = "*",
    source: str = "*",
    description: str = "",
) -> dict[str, Any]:
    return {
        "name": name,
        "priority": priority,
        "direction": direction,
        "access": access,
        "protocol": protocol,
        "source_address_prefix": source,
        "source_port_range": "*",
        "destination_address_prefix": destination,
        "destination_port_range": ports,
        "description": description,
    }


def endpoint_nsg_rules(network: NetworkConfig) -> list[dict[str, Any]]:
    """Security rules of the private endpoints' subnet: HTTPS in from the agents and the listed
    client ranges (the cluster), nothing else in. The subnet enables private endpoint network
    policies, without which Azure would not apply these rules to endpoint traffic."""
    endpoints = str(network.subnets.endpoints)
    clients = [(str(network.subnets.agents), "build agents")]
    if network.subnets.control_plane is not None:
        clients.append((str(network.subnets.control_plane), "the agents' control plane"))
    clients += [(str(r), "network.endpointClientRanges") for r in network.endpoint_client_ranges]
    rules = [
        _rule(
            f"allow-https-in-{i}",
            100 + i,
            "Inbound",
            "Allow",
            endpoints,
            "443",
            "Tcp",
            client,
            description,
        )
        for i, (client, description) in enumerate(clients)
    ]
    rules.append(_rule("deny-all-in", LOWEST_PRIORITY, "Inbound", "Deny", "*", description="only the clients above"))
    return rules


def agent_nsg_rules(network: NetworkConfig) -> list[dict[str, Any]]:
    """Security rules of the agent subnet's NSG (pulumi-azure-native `SecurityRuleArgs` keys).

    NSGs see a packet's original destination, not the route table's next hop: in firewall mode the
    Internet-bound HTTPS leaving the subnet is routed to the firewall (0.0.0.0/0 → firewall), which
    filters it by FQDN; the NSG allows only that HTTPS and denies everything else.
    """
    agents = str(network.subnets.agents)
    rule = _rule

    rules = [
        rule(
            "allow-endpoints-https-out",
            100,
            "Outbound",
            "Allow",
            str(network.subnets.endpoints),
            "443",
            "Tcp",
            agents,
            "private endpoints: registry, Key Vault",
        ),
    ]
    if network.egress.mode == "firewall":
        rules.append(
            rule(
                "allow-https-via-firewall-out",
                110,
                "Outbound",
                "Allow",
                "Internet",
                "443",
                "Tcp",
                agents,
                "routed to Azure Firewall (0.0.0.0/0), which allows listed FQDNs only",
            )
        )
    else:
        for offset, tag in enumerate(NSG_ONLY_SERVICE_TAGS):
            rules.append(
                rule(
                    f"allow-{tag.lower()}-out",
                    110 + offset,
                    "Outbound",
                    "Allow",
                    tag,
                    "443",
                    "Tcp",
                    agents,
                    "nsg-only mode: service tag (cannot name Sigstore or the CI service)",
                )
            )
    rules += [
        rule("deny-all-out", LOWEST_PRIORITY, "Outbound", "Deny", "*", description="everything not allowed above"),
        rule("deny-all-in", LOWEST_PRIORITY, "Inbound", "Deny", "*", description="agents accept no connections"),
    ]
    return rules


def control_plane_nsg_rules(network: NetworkConfig) -> list[dict[str, Any]]:
    """The control plane's subnet: HTTPS out to the private endpoints (its storage) and to the Internet
    (GitHub's API, Azure Resource Manager, Entra ID, the vault with its secrets); nothing in, nothing else out."""
    assert network.subnets.control_plane is not None
    source = str(network.subnets.control_plane)
    return [
        _rule(
            "allow-endpoints-https-out",
            100,
            "Outbound",
            "Allow",
            str(network.subnets.endpoints),
            "443",
            "Tcp",
            source,
            "private endpoints: the pool's storage",
        ),
        _rule(
            "allow-https-out",
            110,
            "Outbound",
            "Allow",
            "Internet",
            "443",
            "Tcp",
            source,
            "GitHub API, Azure Resource Manager, Entra ID, Key Vault",
        ),
        _rule("deny-all-out", LOWEST_PRIORITY, "Outbound", "Deny", "*", description="everything not allowed above"),
        _rule(
            "deny-all-in", LOWEST_PRIORITY, "Inbound", "Deny", "*", description="webhooks arrive at the app, not here"
        ),
    ]


def private_endpoint_hosts(
    registry_name: str, location: str, vault_name: str | None, agent_account: str | None = None
) -> tuple[str, ...]:
    """The names agents resolve to the private endpoints: the registry's login server and data endpoint,
    the vault's host, the agent pool's registration store, and the `privatelink` zones their public
    names point into."""
    hosts = [f"{registry_name}.azurecr.io", f"{registry_name}.{location}.data.azurecr.io", "privatelink.azurecr.io"]
    if vault_name is not None:
        hosts += [f"{vault_name}.vault.azure.net", "privatelink.vaultcore.azure.net"]
    if agent_account is not None:
        hosts += [f"{agent_account}.{service}.core.windows.net" for service in ("blob", "table")]
        hosts += ["privatelink.blob.core.windows.net", "privatelink.table.core.windows.net"]
    return tuple(hosts)


def resolvable_names(
    network: NetworkConfig, agents: BuildAgentsConfig | None, private_hosts: tuple[str, ...]
) -> tuple[str, ...]:
    """What the build VNet's DNS security policy lets agents resolve: every host they may reach (the
    firewall's allowlist), the Entra login host, and the private endpoints' names with their
    `privatelink` zones. A listed name covers its subdomains (DNS policy rules are hierarchical)."""
    names = {host.removeprefix("*.") for rule in egress_rules(network, agents) for host in rule.hosts}
    names |= set(private_hosts)
    return tuple(sorted(names))
