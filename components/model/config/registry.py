"""Config section of the container registry."""

from __future__ import annotations

import ipaddress
import re

from pydantic import Field, field_validator, model_validator

from components.model.config.errors import raise_violations
from components.model.config.fields import Cidr, ConfigModel, WorkspaceId, host_port_problem
from components.model.config.text import shown

MAX_PUBLIC_ADDRESSES = 2**24
"""The most public addresses the registry's IP rules may admit in total (a /8): more is not an allowlist."""


class RegistryConfig(ConfigModel):
    """The container registry: an ACR the stack creates (`name`) or an existing one (`loginServer`)."""

    name: str | None = Field(
        default=None,
        description="ACR to create: 5-50 letters and digits, globally unique (login server `<name>.azurecr.io`).",
    )
    login_server: str | None = Field(
        default=None,
        description="An existing registry's host[:port] (the `local` stack's registry); nothing is created.",
    )
    public_network_access_enabled: bool = Field(
        default=False,
        description="Open the public endpoint to `allowedIpRanges` only. Refused in prod; flagged by review.",
    )
    allowed_ip_ranges: list[Cidr] = Field(
        default_factory=list, description="Public CIDRs allowed when public access is enabled."
    )
    azure_services_bypass_enabled: bool = Field(
        default=False,
        description="Let trusted Azure services bypass the network rules (`AzureServices`). Flagged by review.",
    )
    retention_days: int | None = Field(
        default=None,
        ge=0,
        le=365,
        description=(
            "Delete untagged manifests after this many days (0-365). Off by default: admission pins images by "
            "digest, so a running image whose tag moved would vanish. Flagged by review; refused in prod."
        ),
    )
    log_analytics_workspace_id: WorkspaceId | None = Field(
        default=None, description="Resource id of a Log Analytics workspace for registry diagnostic logs."
    )
    plain_http_enabled: bool = Field(
        default=False,
        description="Let the engines read the registry over plain HTTP (a kind-local registry). `local` only.",
    )
    repository_permissions_enabled: bool = Field(
        default=True,
        description=(
            "ACR's ABAC repository-permission mode (`roleAssignmentMode: AbacRepositoryPermissions`): the build "
            "agents get Container Registry Repository Writer limited to `buildAgents.pushRepositories`, pullers "
            "Container Registry Repository Reader. `false`: legacy registry-wide AcrPush / AcrPull, so a job can "
            "push to every repository (flagged by review). Switching an existing registry to ABAC cuts off AcrPull "
            "and AcrPush holders this stack does not grant."
        ),
    )
    puller_principal_ids: dict[str, str] = Field(
        default_factory=dict,
        description=(
            "Existing identities (label: Entra object id) that may pull besides the admission identity and the "
            "AKS kubelet, e.g. another cluster's kubelet: Container Registry Repository Reader (AcrPull in legacy "
            "mode). Nothing else can pull."
        ),
    )
    pull_secret_name: str | None = Field(
        default=None,
        description=(
            "`local` only: an existing docker-registry Secret in the `kyverno` namespace the engines read the "
            "registry with (Azure stacks use workload identity instead)."
        ),
    )

    @field_validator("puller_principal_ids")
    @classmethod
    def _principals(cls, principals: dict[str, str]) -> dict[str, str]:
        problems: list[tuple[str, str]] = []
        for label, object_id in principals.items():
            if not re.fullmatch(r"[a-z0-9]([-a-z0-9]{0,30}[a-z0-9])?", label):
                problems.append((label, f"{shown(label)} is not a short lowercase label (a-z, 0-9, '-')"))
            elif label in ("admission", "kubelet", "build-agents"):
                problems.append((label, f"{shown(label)} is the name of a built-in principal — pick another label"))
            if not re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", object_id):
                problems.append((label, f"{shown(object_id)} is not an Entra object id (a lowercase GUID)"))
        raise_violations(problems)
        return principals

    @field_validator("pull_secret_name")
    @classmethod
    def _secret_name(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?", value):
            raise ValueError(f"{shown(value)} is not a Kubernetes Secret name")
        return value

    @field_validator("name")
    @classmethod
    def _acr_name(cls, name: str | None) -> str | None:
        if name is not None and not re.fullmatch(r"[A-Za-z0-9]{5,50}", name):
            raise ValueError(f"{shown(name)} is not a valid ACR name: 5-50 letters and digits, no '-' or '.'")
        return name

    @field_validator("login_server")
    @classmethod
    def _host_port(cls, login_server: str | None) -> str | None:
        if login_server is not None and (problem := host_port_problem(login_server)) is not None:
            raise ValueError(f"{problem} — write a host[:port] such as kind-registry:5000")
        return login_server

    @field_validator("allowed_ip_ranges")
    @classmethod
    def _public_ranges(cls, ranges: list[ipaddress.IPv4Network]) -> list[ipaddress.IPv4Network]:
        problems: list[tuple[str, str]] = []
        for i, net in enumerate(ranges):
            if net.prefixlen == 0:
                problems.append((f"[{i}]", "0.0.0.0/0 admits the whole Internet — list your egress ranges"))
            elif net.is_private:
                problems.append(
                    (
                        f"[{i}]",
                        f"{net} is private — ACR IP rules take public ranges (private clients use the private "
                        "endpoint)",
                    )
                )
            elif net in ranges[:i]:
                problems.append((f"[{i}]", f"{net} is listed twice — keep one"))
        allowed = sum(n.num_addresses for n in ipaddress.collapse_addresses(r for r in ranges if r.prefixlen))
        if not problems and allowed >= 2**32:
            problems.append(("", "together these ranges admit the whole Internet — list your egress ranges"))
        elif not problems and allowed > MAX_PUBLIC_ADDRESSES:
            problems.append(
                (
                    "",
                    f"together these ranges admit {allowed} addresses, more than a /8 ({MAX_PUBLIC_ADDRESSES}) — "
                    "list the egress ranges of the networks that push and pull",
                )
            )
        raise_violations(problems)
        return ranges

    @model_validator(mode="after")
    def _access_rules(self) -> RegistryConfig:
        problems: list[tuple[str, str]] = []
        if (self.name is None) == (self.login_server is None):
            problems.append(
                ("name", "set exactly one of `name` (create an ACR) or `loginServer` (use an existing registry)")
            )
        if self.allowed_ip_ranges and not self.public_network_access_enabled:
            problems.append(("allowedIpRanges", "has no effect while publicNetworkAccessEnabled is false — remove it"))
        if self.login_server is not None and "repository_permissions_enabled" in self.model_fields_set:
            problems.append(
                (
                    "repositoryPermissionsEnabled",
                    "sets the permission mode of an ACR the stack creates (registry.name) — remove it",
                )
            )
        if self.public_network_access_enabled and not self.allowed_ip_ranges:
            problems.append(
                (
                    "allowedIpRanges",
                    "public access is enabled but no range is allowed — list the CIDRs that may reach the registry",
                )
            )
        raise_violations(problems)
        return self
