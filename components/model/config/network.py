"""Config sections of the Azure placement and the build network."""

from __future__ import annotations

import ipaddress
import re
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from components.model.config.errors import RuleViolation, raise_violations
from components.model.config.fields import Cidr, ConfigModel, Fqdn, WorkspaceId, certificate_chain_problems


class AzureConfig(ConfigModel):
    """Where the Azure resources go (absent for the `local` stack)."""

    location: str = Field(description="Azure region, e.g. `westeurope`.", pattern=r"^[a-z][a-z0-9]+$")
    resource_group_name: str = Field(
        description="Resource group created for the stack (1-90 letters, digits, `-_.()`).",
        pattern=r"^[-A-Za-z0-9_.()]{0,89}[-A-Za-z0-9_()]$",
    )
    tags: dict[str, str] = Field(
        default_factory=dict, description="Tags put on every Azure resource (owner, cost centre, ...)."
    )
    availability_zones: list[Literal["1", "2", "3"]] = Field(
        default_factory=list,
        description=(
            'Zones the firewall and its public IP span (e.g. `["1", "2", "3"]`), where the region has '
            "them. Empty: one zone, whichever Azure picks; flagged by review in prod."
        ),
    )
    delete_locks_enabled: bool | None = Field(
        default=None,
        description=(
            "`CanNotDelete` locks on the registry and the signing vault (a `pulumi destroy` must remove them "
            "first). Default: on in prod only; off in prod is flagged by review."
        ),
    )

    @field_validator("availability_zones")
    @classmethod
    def _distinct_zones(cls, zones: list[str]) -> list[str]:
        if len(set(zones)) != len(zones):
            raise ValueError(f"{zones} lists a zone twice — list each zone once")
        return zones

    @field_validator("tags")
    @classmethod
    def _tags(cls, tags: dict[str, str]) -> dict[str, str]:
        bad = [k for k in tags if not k or len(k) > 512 or re.search(r"[<>%&\\?/]", k)]
        if bad:
            raise ValueError(f"tag names {bad} are invalid in Azure (1-512 chars, none of <>%&\\?/)")
        long_values = [k for k, v in tags.items() if len(v) > 256]
        if long_values:
            raise ValueError(f"tag values of {long_values} exceed Azure's 256 characters")
        return tags


class SubnetsConfig(ConfigModel):
    """Subnet prefixes inside `network.addressSpace`."""

    agents: Cidr = Field(description="Build agents (no public IPs, egress via the firewall).")
    endpoints: Cidr = Field(description="Private endpoints (registry, Key Vault).")
    firewall: Cidr = Field(description="`AzureFirewallSubnet`; Azure requires /26 or larger.")
    control_plane: Cidr | None = Field(
        default=None,
        description=(
            "The agents' control plane (a Flex Consumption function app, delegated to `Microsoft.App/environments`): "
            "it reaches the pool's private storage from here. Required with buildAgents; /28 or larger."
        ),
    )


_VAULT_ID = re.compile(
    r"/subscriptions/[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}/resource[gG]roups/[-A-Za-z0-9_.()]{1,90}"
    r"/providers/Microsoft\.KeyVault/vaults/(?P<vault>[A-Za-z0-9-]{3,24})"
)
_SECRET_ID = re.compile(
    r"https://(?P<vault>[A-Za-z0-9-]{3,24})\.vault\.azure\.net/secrets/(?P<name>[A-Za-z0-9-]{1,127})(/[0-9a-f]{32})?"
)


class TlsInspectionConfig(ConfigModel):
    """The intermediate CA Azure Firewall Premium signs its inspection certificates with."""

    certificate_secret_id: str = Field(
        description=(
            "Key Vault secret id of the CA (PFX, with its private key), "
            "`https://<vault>.vault.azure.net/secrets/<name>[/<version>]`. The agents must trust this CA."
        )
    )
    vault_id: str = Field(
        description=(
            "Resource id of the vault holding it: the firewall policy's identity gets Key Vault Secrets User there."
        )
    )
    ca_certificate: str | None = Field(
        default=None,
        description=(
            "The same CA's certificate (PEM, public): the build agents add it to their trust store, or every "
            "inspected connection fails. Required with buildAgents."
        ),
    )

    @property
    def secret_scope(self) -> str:
        """The CA secret's resource id: the only thing the firewall's identity may read."""
        match = _SECRET_ID.fullmatch(self.certificate_secret_id)
        assert match is not None  # validated below
        return f"{self.vault_id}/secrets/{match['name']}"

    @model_validator(mode="after")
    def _same_vault(self) -> TlsInspectionConfig:
        problems: list[tuple[str, str]] = []
        secret = _SECRET_ID.fullmatch(self.certificate_secret_id)
        vault = _VAULT_ID.fullmatch(self.vault_id)
        if secret is None:
            problems.append(
                ("certificateSecretId", "must be https://<vault>.vault.azure.net/secrets/<name>[/<version>]")
            )
        if vault is None:
            problems.append(
                (
                    "vaultId",
                    "must be /subscriptions/<guid>/resourceGroups/<rg>/providers/Microsoft.KeyVault/vaults/<name>",
                )
            )
        if self.ca_certificate is not None:
            problems.extend(("caCertificate", p) for p in certificate_chain_problems(self.ca_certificate))
        if secret is not None and vault is not None and secret["vault"].lower() != vault["vault"].lower():
            problems.append(("vaultId", f"names the vault {vault['vault']}, and the secret is in {secret['vault']}"))
        raise_violations(problems)
        return self


class EgressConfig(ConfigModel):
    """How build agents reach the Internet."""

    mode: Literal["firewall", "nsg-only"] = Field(
        default="firewall",
        description=(
            "`firewall`: Azure Firewall application rules by FQDN (Sigstore, the CI service, extras). "
            "`nsg-only`: service tags only; cannot restrict Sigstore or GitHub by name (flagged by review)."
        ),
    )
    extra_allowed_fqdns: list[Fqdn] = Field(
        default_factory=list,
        description="Exact hosts agents may reach besides Sigstore and the CI service (no wildcards).",
    )
    firewall_tier: Literal["Standard", "Premium"] = Field(
        default="Standard",
        description=(
            "`Premium` adds intrusion prevention (deny mode) and TLS inspection, which lets the GitHub hosts be "
            "restricted to the organisation's paths (`github.com/<org>/*`); needs `tlsInspection`."
        ),
    )
    tls_inspection: TlsInspectionConfig | None = Field(
        default=None, description="The CA for TLS inspection (Premium only)."
    )
    dns_filtering_enabled: bool = Field(
        default=True,
        description=(
            "A DNS security policy on the build VNet: agents resolve only the names they may reach (and their "
            "subdomains); every other query is refused, so DNS cannot carry data out. Off only where the estate "
            "already links its own policy to the VNet (one per VNet); flagged by review."
        ),
    )

    @model_validator(mode="after")
    def _tier_and_inspection(self) -> EgressConfig:
        problems: list[tuple[str, str]] = []
        if self.mode == "nsg-only" and (self.firewall_tier != "Standard" or self.tls_inspection is not None):
            problems.append(("firewallTier", "nsg-only mode has no firewall — remove firewallTier and tlsInspection"))
        elif self.firewall_tier == "Premium" and self.tls_inspection is None:
            problems.append(("tlsInspection", "Premium inspects TLS with a CA of yours — add tlsInspection"))
        elif self.firewall_tier == "Standard" and self.tls_inspection is not None:
            problems.append(("tlsInspection", "only a Premium firewall inspects TLS — set firewallTier: Premium"))
        raise_violations(problems)
        return self


_ZONE_ID = re.compile(
    r"/subscriptions/[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}/resource[gG]roups/[-A-Za-z0-9_.()]{1,90}"
    r"/providers/Microsoft\.Network/privateDnsZones/(?P<zone>[a-z0-9.-]+)"
)


ZONE_NAMES = {
    "registry": "privatelink.azurecr.io",
    "vault": "privatelink.vaultcore.azure.net",
    "blob": "privatelink.blob.core.windows.net",
    "table": "privatelink.table.core.windows.net",
}
"""Each private endpoint group's zone."""


class PrivateDnsZonesConfig(ConfigModel):
    """Private DNS zones an estate already runs centrally (hub and spoke)."""

    registry: str | None = Field(default=None, description="Resource id of the estate's `privatelink.azurecr.io` zone.")
    vault: str | None = Field(
        default=None, description="Resource id of the estate's `privatelink.vaultcore.azure.net` zone."
    )
    blob: str | None = Field(
        default=None,
        description="Resource id of the estate's `privatelink.blob.core.windows.net` zone (the agents' registrations).",
    )
    table: str | None = Field(
        default=None,
        description="Resource id of the estate's `privatelink.table.core.windows.net` zone (the control plane's data).",
    )

    @model_validator(mode="after")
    def _right_zones(self) -> PrivateDnsZonesConfig:
        problems: list[tuple[str, str]] = []
        for key, zone in ZONE_NAMES.items():
            value = getattr(self, key)
            if value is None:
                continue
            match = _ZONE_ID.fullmatch(value)
            if match is None:
                problems.append(
                    (
                        key,
                        "must be /subscriptions/<guid>/resourceGroups/<rg>/providers/Microsoft.Network/"
                        f"privateDnsZones/{zone}",
                    )
                )
            elif match["zone"] != zone:
                problems.append((key, f"names the zone {match['zone']}, and the {key}'s endpoint needs {zone}"))
        raise_violations(problems)
        return self


class NetworkConfig(ConfigModel):
    """The build network (Azure stacks)."""

    address_space: Cidr = Field(description="VNet address space, e.g. `10.40.0.0/16`.")
    subnets: SubnetsConfig
    egress: EgressConfig = Field(default_factory=EgressConfig)
    endpoint_client_ranges: list[Cidr] = Field(
        default_factory=list,
        description=(
            "Private ranges besides the agents (e.g. the AKS cluster's peered VNet) allowed to reach the private "
            "endpoints on 443; nothing else may."
        ),
    )
    private_dns_zones: PrivateDnsZonesConfig = Field(
        default_factory=PrivateDnsZonesConfig,
        description=(
            "Hub and spoke: the estate's central private DNS zones. For each one given, the stack creates no zone "
            "and no VNet link, only the endpoint's records in that zone; the estate links it to the VNets that "
            "resolve it (build agents and cluster alike) and routes between them."
        ),
    )
    flow_logs_enabled: bool | None = Field(
        default=None,
        description=(
            "VNet flow logs of the build network (every flow an agent opens, kept 90 days in a storage account "
            "of the stack's own). Default: on in prod only; off in prod is flagged by review."
        ),
    )
    log_analytics_workspace_id: WorkspaceId | None = Field(
        default=None,
        description="Resource id of a Log Analytics workspace for the firewall's logs and the agents' DNS queries.",
    )

    @field_validator("endpoint_client_ranges")
    @classmethod
    def _private_clients(cls, ranges: list[ipaddress.IPv4Network]) -> list[ipaddress.IPv4Network]:
        problems = [
            (f"[{i}]", f"{net} is not a private range — private endpoints are reached over private networks only")
            for i, net in enumerate(ranges)
            if not net.is_private or net.prefixlen == 0
        ]
        raise_violations(problems)
        return ranges

    @model_validator(mode="after")
    def _workspace_needs_firewall(self) -> NetworkConfig:
        if self.log_analytics_workspace_id is not None and self.egress.mode != "firewall":
            raise RuleViolation(
                [("logAnalyticsWorkspaceId", "collects firewall logs, and nsg-only mode has no firewall — remove it")]
            )
        return self

    @field_validator("subnets")
    @classmethod
    def _subnets_fit(cls, subnets: SubnetsConfig, info: ValidationInfo) -> SubnetsConfig:
        # a field validator (not a model one) so these run even when `egress` is broken
        problems: list[tuple[str, str]] = []
        space = info.data.get("address_space")
        named = [("agents", subnets.agents), ("endpoints", subnets.endpoints), ("firewall", subnets.firewall)]
        if subnets.control_plane is not None:
            named.append(("controlPlane", subnets.control_plane))
            if subnets.control_plane.prefixlen > 28:
                problems.append(
                    ("controlPlane", f"{subnets.control_plane} is too small — Flex Consumption needs /28 or larger")
                )
        for name, net in named:
            if space is not None and not net.subnet_of(space):
                problems.append((name, f"{net} lies outside addressSpace {space} — pick a prefix inside it"))
        for i, (name_a, net_a) in enumerate(named):
            for name_b, net_b in named[i + 1 :]:
                if net_a.overlaps(net_b):
                    problems.append((name_b, f"{net_b} overlaps subnets.{name_a} ({net_a}) — subnets must be disjoint"))
        if subnets.firewall.prefixlen > 26:
            problems.append(("firewall", f"{subnets.firewall} is too small — AzureFirewallSubnet needs /26 or larger"))
        for name, net in named[:2]:
            if net.prefixlen > 29:
                problems.append((name, f"{net} is too small — Azure subnets need /29 or larger"))
        raise_violations(problems)
        return subnets
