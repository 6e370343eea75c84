"""What build agents may reach, as plain data: firewall application rules and NSG rules.

Pure functions of the config, so a reviewer (and the tests) can read the allowlist without Pulumi.
NSGs take CIDRs, service tags and ASGs only, never host names, so naming hosts needs the firewall.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from components.model.config import NetworkConfig, RunnerConfig

SIGSTORE_HOSTS = (
    "fulcio.sigstore.dev",  # keyless signing certificates
    "rekor.sigstore.dev",  # transparency log
    "tuf-repo-cdn.sigstore.dev",  # trusted root (TUF)
    "timestamp.sigstore.dev",  # RFC 3161 timestamps
)

# Exact hosts only. GitHub also documents wildcards (*.actions.githubusercontent.com,
# *.blob.core.windows.net for artifacts and caches); they are not allowed by default: add the exact
# storage hosts your workflows need to network.egress.extraAllowedFqdns.
GITHUB_HOSTS = (
    "github.com",
    "api.github.com",
    "codeload.github.com",
    "token.actions.githubusercontent.com",  # OIDC tokens for keyless signing
    "pipelines.actions.githubusercontent.com",
    "broker.actions.githubusercontent.com",
    "results-receiver.actions.githubusercontent.com",
    "pkg.actions.githubusercontent.com",
    "objects.githubusercontent.com",
    "release-assets.githubusercontent.com",
)
AZURE_DEVOPS_HOSTS = (
    "dev.azure.com",
    "vssps.dev.azure.com",
    "vsblob.dev.azure.com",
    "download.agent.dev.azure.com",
    "login.microsoftonline.com",
)
CI_HOSTS: dict[str, tuple[str, ...]] = {"github": GITHUB_HOSTS, "azure-devops": AZURE_DEVOPS_HOSTS}

# Agents log in to Azure by OIDC federation (a GitHub or Azure DevOps token exchanged at Entra ID).
ENTRA_LOGIN_HOST = "login.microsoftonline.com"

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

    @property
    def hosts(self) -> tuple[str, ...]:
        """Every host the rule lets agents reach."""
        return self.fqdns + tuple(dict.fromkeys(url.split("/", 1)[0] for url in self.urls))


def egress_rules(network: NetworkConfig, runner: RunnerConfig | None) -> list[ApplicationRule]:
    """The firewall's allowlist: Sigstore, the CI service (if agents are configured), the stack's extras."""
    rules = [ApplicationRule("sigstore", "Sigstore public-good: Fulcio, Rekor, TUF root, TSA", SIGSTORE_HOSTS)]
    if runner is not None and runner.kind == "github" and network.egress.firewall_tier == "Premium":
        # github.com serves every repository and gist: with TLS inspection, only the organisation's paths
        org = runner.scope.split("/", 1)[0]
        by_path = ("github.com", "codeload.github.com")
        rules.append(
            ApplicationRule(
                "ci-github",
                "github job service",
                tuple(h for h in GITHUB_HOSTS if h not in by_path),
            )
        )
        rules.append(
            ApplicationRule(
                "ci-github-org-paths",
                f"the {org} organisation's repositories only (TLS inspected)",
                urls=tuple(f"{host}/{org}/*" for host in by_path),
            )
        )
    elif runner is not None:
        rules.append(ApplicationRule(f"ci-{runner.kind}", f"{runner.kind} job service", CI_HOSTS[runner.kind]))
    if runner is not None and ENTRA_LOGIN_HOST not in CI_HOSTS[runner.kind]:
        rules.append(ApplicationRule("entra-login", "Azure login by OIDC federation", (ENTRA_LOGIN_HOST,)))
    if network.egress.extra_allowed_fqdns:
        rules.append(
            ApplicationRule(
                "stack-extras", "network.egress.extraAllowedFqdns", tuple(network.egress.extra_allowed_fqdns)
            )
        )
    return rules


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
    clients = [str(network.subnets.agents)] + [str(r) for r in network.endpoint_client_ranges]
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
            "build agents" if i == 0 else "network.endpointClientRanges",
        )
        for i, client in enumerate(clients)
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


def private_endpoint_hosts(registry_name: str, location: str, vault_name: str | None) -> tuple[str, ...]:
    """The names agents resolve to the private endpoints: the registry's login server and data endpoint,
    the vault's host, and the `privatelink` zones their public names point into."""
    hosts = [f"{registry_name}.azurecr.io", f"{registry_name}.{location}.data.azurecr.io", "privatelink.azurecr.io"]
    if vault_name is not None:
        hosts += [f"{vault_name}.vault.azure.net", "privatelink.vaultcore.azure.net"]
    return tuple(hosts)


def resolvable_names(
    network: NetworkConfig, runner: RunnerConfig | None, private_hosts: tuple[str, ...]
) -> tuple[str, ...]:
    """What the build VNet's DNS security policy lets agents resolve: every host they may reach (the
    firewall's allowlist), the Entra login host, and the private endpoints' names with their
    `privatelink` zones. A listed name covers its subdomains (DNS policy rules are hierarchical)."""
    names = {host for rule in egress_rules(network, runner) for host in rule.hosts}
    names |= set(private_hosts)
    return tuple(sorted(names))
