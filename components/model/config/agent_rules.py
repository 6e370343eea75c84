"""Cross-section rules about the build agents: what prod requires of the pool, and what the network
must give it for a job to reach an agent at all."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from components.model.config.errors import Problem, config_key

if TYPE_CHECKING:
    from components.model.config.rules import Sections


def prod_agent_pool(s: Sections) -> Iterator[Problem]:
    """A prod pool runs jobs (at least one agent) on an image that changes only through review."""
    if s.environment != "prod" or s.build_agents is None:
        return
    agents = s.build_agents
    if agents.max_instances == 0:
        yield Problem(
            config_key("buildAgents.maxInstances"),
            "0 disables the prod pool — set the number of concurrent jobs, or remove buildAgents",
        )
    if not agents.image.pinned:
        key = "buildAgents.image.galleryImageId" if agents.image.gallery_image_id else "buildAgents.image.version"
        yield Problem(
            config_key(key),
            "prod agents boot a pinned image version, not `latest`, so an image change goes through review",
        )


def agents_reach_their_services(s: Sections) -> Iterator[Problem]:
    """Agents reach GitHub and Sigstore through the firewall by name; behind a Premium firewall they
    must also trust the CA it re-signs TLS with."""
    if s.build_agents is None or s.network is None:
        return
    if s.network.subnets.control_plane is None:
        yield Problem(
            config_key("network.subnets.controlPlane"),
            "the agents' control plane reaches the pool's private storage from a subnet of the build network — "
            "add one (/28 or larger)",
        )
    egress = s.network.egress
    if egress.mode == "nsg-only":
        yield Problem(
            config_key("network.egress.mode"),
            "build agents register with GitHub and sign with Sigstore, which NSG service tags cannot name — use "
            "`firewall` mode",
        )
    if egress.tls_inspection is not None and egress.tls_inspection.ca_certificate is None:
        yield Problem(
            config_key("network.egress.tlsInspection.caCertificate"),
            "the agents must trust the firewall's inspection CA — paste its certificate (PEM)",
        )


POOL_GROUP_SUFFIX = "-agents"
"""The agents' own resource group is the stack's, with this suffix: it holds the scale set and its VMs only."""


def pool_group_fits(s: Sections) -> Iterator[Problem]:
    """The pool's resource group name (the stack's plus a suffix) stays within Azure's 90 characters."""
    if s.build_agents is None or s.azure is None:
        return
    name = s.azure.resource_group_name + POOL_GROUP_SUFFIX
    if len(name) > 90:
        yield Problem(
            config_key("azure.resourceGroupName"),
            f"the agents' resource group ({len(name)} characters with {POOL_GROUP_SUFFIX!r}) exceeds Azure's 90 — "
            "shorten the name",
        )


def push_repositories_listed(s: Sections) -> Iterator[Problem]:
    """With the registry's repository permissions (the default), the agents push only where the stack lists; the
    list means nothing while the registry grants push on every repository."""
    if s.build_agents is None or s.registry is None or s.registry.name is None:
        return
    listed = s.build_agents.push_repositories
    if s.registry.repository_permissions_enabled and not listed:
        yield Problem(
            config_key("buildAgents.pushRepositories"),
            "the registry's repository permissions keep the agents' pushes to the repositories the pool builds — "
            "list them (shop/api, or payments/** for everything under payments/), or set "
            "registry.repositoryPermissionsEnabled: false (push to every repository; flagged by review)",
        )
    elif not s.registry.repository_permissions_enabled and listed:
        yield Problem(
            config_key("buildAgents.pushRepositories"),
            "has no effect while registry.repositoryPermissionsEnabled is false (AcrPush reaches every repository) "
            "— remove it, or turn the repository permissions back on",
        )
