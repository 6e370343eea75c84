"""The stack configuration: one pydantic model of the whole stack, and every rule it must obey.

This module is the only place config is validated. Everything downstream (trust model, renderers,
components, review) receives a `StackConfig` and trusts it.

Bad config raises one `ConfigError` listing every problem, each naming the full Pulumi config key
(`supply-chain:signing.keyless[0].subjectRegExp`) and what to do about it. Rules that span
sections run even when an unrelated section is broken, so a reviewer sees the whole list at once.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
import types
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal, Union

from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

PROJECT = "supply-chain"
"""The Pulumi project name, and so the namespace of every config key (`supply-chain:<key>`)."""

KYVERNO_NAMESPACE = "kyverno"
POLICY_CONTROLLER_NAMESPACE = "cosign-system"
RESERVED_NAMESPACES = frozenset(
    {"kube-system", "kube-public", "kube-node-lease", KYVERNO_NAMESPACE, POLICY_CONTROLLER_NAMESPACE}
)
"""Namespaces admission never matches: locking them out of the cluster would break the cluster
or the admission engines themselves (a webhook that cannot start cannot admit its own pods)."""


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the config: the full key and what to do about it."""

    key: str
    message: str

    def __str__(self) -> str:
        return f"{self.key}: {self.message}"


class ConfigError(Exception):
    """The stack config is invalid. `problems` lists every problem found, each with its key."""

    def __init__(self, problems: Sequence[Problem], source: str = "stack config") -> None:
        self.problems = list(problems)
        self.source = source
        lines = [f"{source} is invalid ({len(self.problems)} problem(s)):"]
        lines += [f"  - {p}" for p in self.problems]
        super().__init__("\n".join(lines))


class RuleViolation(ValueError):  # noqa: N818 - carries problems, raised inside pydantic
    """Raised by validators; `subkeys` point below the validated object (e.g. `subnets.agents`)
    so the reported key is the one the user must edit, not its parent."""

    def __init__(self, violations: Sequence[tuple[str, str]]) -> None:
        self.violations = list(violations)
        super().__init__("; ".join(f"{k}: {m}" if k else m for k, m in self.violations))


def _check(violations: list[tuple[str, str]]) -> None:
    if violations:
        raise RuleViolation(violations)


# --------------------------------------------------------------------------------------------
# Reusable field types
# --------------------------------------------------------------------------------------------


def _strict_network(value: Any) -> ipaddress.IPv4Network:
    if isinstance(value, ipaddress.IPv4Network):
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected an IPv4 CIDR string such as 10.40.0.0/16, got {value!r}")
    try:
        network = ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise ValueError(f"{value!r} is not an IPv4 CIDR; write it as a.b.c.d/nn, e.g. 10.40.0.0/16") from None
    if not isinstance(network, ipaddress.IPv4Network):
        raise ValueError(f"{value!r} is IPv6; this project plans IPv4 address space only")
    if "/" not in value:
        raise ValueError(f"{value!r} has no prefix length; write {network}")
    if str(network) != value.strip():
        raise ValueError(f"{value!r} has host bits set; the network is {network}")
    return network


Cidr = Annotated[ipaddress.IPv4Network, BeforeValidator(_strict_network)]
"""An IPv4 network written exactly as a.b.c.d/nn, host bits clear (so the plan shows what was meant)."""


_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_FQDN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_HOST_PORT = re.compile(
    r"^(localhost|([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)*[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?"
    r"|\d{1,3}(\.\d{1,3}){3})(:\d{1,5})?$"
)
_ARM_ID = re.compile(r"^/subscriptions/[0-9a-fA-F-]{36}/resource[gG]roups/[^/]+/providers/[^/]+/[^/]+/[^/]+$")


def _namespace_name(value: str) -> str:
    if not _DNS_LABEL.match(value):
        raise ValueError(
            f"{value!r} is not a Kubernetes namespace name (lower-case letters, digits and '-', at most 63)"
        )
    return value


def _fqdn(value: str) -> str:
    if "*" in value:
        raise ValueError(
            f"{value!r} is a wildcard; egress rules name exact hosts so reviewers see what agents can reach"
        )
    if not _FQDN.match(value):
        raise ValueError(f"{value!r} is not a lower-case fully qualified domain name such as pypi.org")
    return value


def _https_url(value: str) -> str:
    if not re.match(r"^https://[a-z0-9.-]+(:\d+)?(/\S*)?$", value):
        raise ValueError(f"{value!r} must be an https:// URL")
    return value


NamespaceName = Annotated[str, AfterValidator(_namespace_name)]
Fqdn = Annotated[str, AfterValidator(_fqdn)]
HttpsUrl = Annotated[str, AfterValidator(_https_url)]


def _workspace_id(value: str) -> str:
    if not _ARM_ID.match(value):
        raise ValueError(
            "must be a resource id /subscriptions/<guid>/resourceGroups/<rg>/providers/"
            "Microsoft.OperationalInsights/workspaces/<name>"
        )
    return value


WorkspaceId = Annotated[str, AfterValidator(_workspace_id)]


class _Model(BaseModel):
    """Base of every config section: camelCase keys as written in stack YAML, unknown keys refused
    (a typo silently ignored is a security setting silently dropped), immutable once validated."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        alias_generator=to_camel,
        populate_by_name=False,
        validate_default=True,
    )


# --------------------------------------------------------------------------------------------
# Sections
# --------------------------------------------------------------------------------------------

Environment = Literal["local", "dev", "staging", "prod"]


class AzureConfig(_Model):
    """Where the Azure resources go (absent for the `local` stack)."""

    location: str = Field(description="Azure region, e.g. `westeurope`.", pattern=r"^[a-z][a-z0-9]+$")
    resource_group_name: str = Field(
        description="Resource group created for the stack (1-90 letters, digits, `-_.()`).",
        pattern=r"^[-\w.()]{0,89}[-\w()]$",
    )
    tags: dict[str, str] = Field(
        default_factory=dict, description="Tags put on every Azure resource (owner, cost centre, ...)."
    )

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


class SubnetsConfig(_Model):
    """Subnet prefixes inside `network.addressSpace`."""

    agents: Cidr = Field(description="Build agents (no public IPs, egress via the firewall).")
    endpoints: Cidr = Field(description="Private endpoints (registry, Key Vault).")
    firewall: Cidr = Field(description="`AzureFirewallSubnet`; Azure requires /26 or larger.")


class EgressConfig(_Model):
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


class NetworkConfig(_Model):
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
    log_analytics_workspace_id: WorkspaceId | None = Field(
        default=None, description="Resource id of a Log Analytics workspace for the firewall's diagnostic logs."
    )

    @field_validator("endpoint_client_ranges")
    @classmethod
    def _private_clients(cls, ranges: list[ipaddress.IPv4Network]) -> list[ipaddress.IPv4Network]:
        problems = [
            (f"[{i}]", f"{net} is not a private range; private endpoints are reached over private networks only")
            for i, net in enumerate(ranges)
            if not net.is_private or net.prefixlen == 0
        ]
        _check(problems)
        return ranges

    @model_validator(mode="after")
    def _workspace_needs_firewall(self) -> NetworkConfig:
        if self.log_analytics_workspace_id is not None and self.egress.mode != "firewall":
            raise RuleViolation(
                [("logAnalyticsWorkspaceId", "collects firewall logs, and nsg-only mode has no firewall; remove it")]
            )
        return self

    @field_validator("subnets")
    @classmethod
    def _subnets_fit(cls, subnets: SubnetsConfig, info: ValidationInfo) -> SubnetsConfig:
        # a field validator (not a model one) so these run even when `egress` is broken
        problems: list[tuple[str, str]] = []
        space = info.data.get("address_space")
        named = [("agents", subnets.agents), ("endpoints", subnets.endpoints), ("firewall", subnets.firewall)]
        for name, net in named:
            if space is not None and not net.subnet_of(space):
                problems.append((name, f"{net} lies outside addressSpace {space}; pick a prefix inside it"))
        for i, (name_a, net_a) in enumerate(named):
            for name_b, net_b in named[i + 1 :]:
                if net_a.overlaps(net_b):
                    problems.append((name_b, f"{net_b} overlaps subnets.{name_a} ({net_a}); subnets must be disjoint"))
        if subnets.firewall.prefixlen > 26:
            problems.append(("firewall", f"{subnets.firewall} is too small; AzureFirewallSubnet needs /26 or larger"))
        for name, net in named[:2]:
            if net.prefixlen > 29:
                problems.append((name, f"{net} is too small; Azure subnets need /29 or larger"))
        _check(problems)
        return subnets


class RegistryConfig(_Model):
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
    retention_days: int = Field(
        default=7, ge=0, le=365, description="Days untagged manifests are kept before ACR deletes them (0-365)."
    )
    log_analytics_workspace_id: WorkspaceId | None = Field(
        default=None, description="Resource id of a Log Analytics workspace for registry diagnostic logs."
    )
    plain_http_enabled: bool = Field(
        default=False,
        description="Let the engines read the registry over plain HTTP (a kind-local registry). `local` only.",
    )
    puller_principal_ids: dict[str, str] = Field(
        default_factory=dict,
        description=(
            "Existing identities (label: Entra object id) that get AcrPull besides the admission identity and the "
            "AKS kubelet, e.g. another cluster's kubelet. Nothing else can pull."
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
                problems.append((label, f"{label!r} is not a short lowercase label (a-z, 0-9, '-')"))
            elif label in ("admission", "kubelet", "build-agents"):
                problems.append((label, f"{label!r} is the name of a built-in principal; pick another label"))
            if not re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", object_id):
                problems.append((label, f"{object_id!r} is not an Entra object id (a lowercase GUID)"))
        _check(problems)
        return principals

    @field_validator("pull_secret_name")
    @classmethod
    def _secret_name(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?", value):
            raise ValueError(f"{value!r} is not a Kubernetes Secret name")
        return value

    @field_validator("name")
    @classmethod
    def _acr_name(cls, name: str | None) -> str | None:
        if name is not None and not re.fullmatch(r"[A-Za-z0-9]{5,50}", name):
            raise ValueError(f"{name!r} is not a valid ACR name: 5-50 letters and digits, no '-' or '.'")
        return name

    @field_validator("login_server")
    @classmethod
    def _host_port(cls, login_server: str | None) -> str | None:
        if login_server is not None and not _HOST_PORT.match(login_server):
            raise ValueError(f"{login_server!r} is not a host[:port] such as kind-registry:5000")
        return login_server

    @field_validator("allowed_ip_ranges")
    @classmethod
    def _public_ranges(cls, ranges: list[ipaddress.IPv4Network]) -> list[ipaddress.IPv4Network]:
        problems: list[tuple[str, str]] = []
        for i, net in enumerate(ranges):
            if net.prefixlen == 0:
                problems.append((f"[{i}]", "0.0.0.0/0 admits the whole Internet; list your egress ranges"))
            elif net.is_private:
                problems.append(
                    (
                        f"[{i}]",
                        f"{net} is private; ACR IP rules take public ranges (private clients use the private endpoint)",
                    )
                )
        _check(problems)
        return ranges

    @model_validator(mode="after")
    def _rules(self) -> RegistryConfig:
        problems: list[tuple[str, str]] = []
        if (self.name is None) == (self.login_server is None):
            problems.append(
                ("name", "set exactly one of `name` (create an ACR) or `loginServer` (use an existing registry)")
            )
        if self.allowed_ip_ranges and not self.public_network_access_enabled:
            problems.append(("allowedIpRanges", "has no effect while publicNetworkAccessEnabled is false; remove it"))
        if self.public_network_access_enabled and not self.allowed_ip_ranges:
            problems.append(
                (
                    "allowedIpRanges",
                    "public access is enabled but no range is allowed; list the CIDRs that may reach the registry",
                )
            )
        _check(problems)
        return self


class RunnerConfig(_Model):
    """The CI service the ephemeral agents register with."""

    kind: Literal["github", "azure-devops"] = Field(
        description="`github` (Actions runners) or `azure-devops` (agents)."
    )
    scope: str = Field(description="github: `<org>` or `<org>/<repo>`; azure-devops: `https://dev.azure.com/<org>`.")
    labels: list[str] = Field(default_factory=list, description="Extra runner labels (github).")
    pool: str | None = Field(default=None, description="Agent pool name (azure-devops, required there).")

    @model_validator(mode="after")
    def _per_kind(self) -> RunnerConfig:
        problems: list[tuple[str, str]] = []
        if self.kind == "github":
            if not re.fullmatch(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})(?:/[A-Za-z0-9._-]{1,100})?", self.scope):
                problems.append(("scope", f"{self.scope!r} is not a GitHub `<org>` or `<org>/<repo>`"))
            if self.pool is not None:
                problems.append(("pool", "is for azure-devops runners; github runners use `labels`"))
        else:
            if not re.fullmatch(r"https://dev\.azure\.com/[A-Za-z0-9][A-Za-z0-9-]{0,49}", self.scope):
                problems.append(("scope", f"{self.scope!r} is not an organization URL https://dev.azure.com/<org>"))
            if not self.pool:
                problems.append(("pool", "azure-devops runners need the agent pool name"))
        for i, label in enumerate(self.labels):
            if not re.fullmatch(r"[A-Za-z0-9._-]{1,64}", label):
                problems.append((f"labels[{i}]", f"{label!r} is not a runner label (letters, digits, . _ -)"))
        _check(problems)
        return self


class ImageConfig(_Model):
    """Marketplace image of the agent VMs."""

    publisher: str = Field(default="Canonical", description="Image publisher.")
    offer: str = Field(default="ubuntu-24_04-lts", description="Image offer.")
    sku: str = Field(default="server", description="Image SKU.")
    version: str = Field(default="latest", description="Pin a version in prod; `latest` is flagged by review.")


class BuildAgentsConfig(_Model):
    """Ephemeral, isolated build agents (a Spot VM scale set, one job per VM)."""

    runner: RunnerConfig
    vm_size: str = Field(
        default="Standard_D2as_v5", pattern=r"^Standard_[A-Za-z0-9_]+$", description="VM size of each agent."
    )
    min_instances: int = Field(default=0, ge=0, description="Warm agents kept idle (0 = scale from zero).")
    max_instances: int = Field(ge=0, le=1000, description="Upper bound of concurrent agents (0 disables the pool).")
    spot_enabled: bool = Field(default=True, description="Run agents on Spot capacity (evictable, cheaper).")
    spot_max_price: float = Field(default=-1, description="Spot price cap in USD/hour; -1 caps at the on-demand price.")
    image: ImageConfig = Field(default_factory=ImageConfig)

    @model_validator(mode="after")
    def _rules(self) -> BuildAgentsConfig:
        problems: list[tuple[str, str]] = []
        if self.min_instances > self.max_instances:
            problems.append(("minInstances", f"{self.min_instances} exceeds maxInstances {self.max_instances}"))
        if self.spot_max_price != -1 and self.spot_max_price <= 0:
            problems.append(("spotMaxPrice", "use -1 (on-demand cap) or a positive USD/hour price"))
        if not self.spot_enabled and self.spot_max_price != -1:
            problems.append(("spotMaxPrice", "only applies when spotEnabled is true; remove it"))
        _check(problems)
        return self


# --- signing --------------------------------------------------------------------------------

_MATCH_ALL = re.compile(r"^\^?(\.[*+]|\(\.[*+]\))\$?$")
_PINNED_URL_PREFIX = re.compile(r"^[a-z][a-z0-9+.-]*://[^/]+/[^/]+/")


def _literal_prefix(pattern: str) -> str:
    """The literal text a regex must start with (after `^`), unescaping `\\.` and friends."""
    out: list[str] = []
    i = 1 if pattern.startswith("^") else 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern) and not pattern[i + 1].isalnum():
            out.append(pattern[i + 1])
            i += 2
            continue
        if ch in ".^$*+?{}[]()|\\":
            # a quantifier makes the previous literal optional: drop it from the prefix
            if ch in "*?{" and out:
                out.pop()
            break
        out.append(ch)
        i += 1
    return "".join(out)


def identity_pattern_problems(pattern: str) -> list[str]:
    """Why a keyless subject regex would trust more than one organisation's workflows, if it does.

    The engines match the whole certificate identity against this pattern, so it must be anchored
    at both ends and start with a literal `scheme://host/<owner>/` (or end with a literal
    `@domain` for e-mail identities); otherwise someone else's workflow can satisfy it.
    """
    if not pattern.strip():
        return ["is empty; write an anchored pattern such as ^https://github\\.com/contoso/.+@refs/heads/main$"]
    try:
        re.compile(pattern)
    except re.error as exc:
        return [f"does not compile ({exc})"]
    if _MATCH_ALL.match(pattern):
        return [f"{pattern!r} matches every identity (anyone with an OIDC token could sign); pin the org and workflow"]
    problems: list[str] = []
    if not pattern.startswith("^") or not pattern.endswith("$") or pattern.endswith("\\$"):
        problems.append(
            f"{pattern!r} is not anchored; start it with ^ and end it with $ so it cannot match inside "
            "a longer identity"
        )
    prefix = _literal_prefix(pattern)
    email_suffix = re.search(r"@([a-z0-9-]+\\\.)+[a-z]{2,}\$$", pattern)
    if not _PINNED_URL_PREFIX.match(prefix) and not email_suffix:
        problems.append(
            f"{pattern!r} does not pin an owner: it must begin with a literal https://<host>/<owner>/ "
            "(dots escaped) or end with a literal @<domain>$"
        )
    return problems


class KeylessIdentity(_Model):
    """A Fulcio certificate identity: exact OIDC issuer plus exact subject or anchored subject regex."""

    issuer: HttpsUrl = Field(description="OIDC issuer, exact (e.g. `https://token.actions.githubusercontent.com`).")
    subject: str | None = Field(default=None, description="Exact certificate identity (SAN).")
    subject_reg_exp: str | None = Field(
        default=None, description="Anchored regex over the identity, pinned to one owner (never `.*`)."
    )

    @model_validator(mode="after")
    def _one_subject(self) -> KeylessIdentity:
        problems: list[tuple[str, str]] = []
        if self.subject is None and self.subject_reg_exp is None:
            problems.append(("subject", "set `subject` (exact identity) or `subjectRegExp` (anchored pattern)"))
        if self.subject is not None and self.subject_reg_exp is not None:
            problems.append(("subjectRegExp", "set only one of `subject` and `subjectRegExp`"))
        if self.subject is not None and not self.subject.strip():
            problems.append(
                ("subject", "is empty; an empty identity would trust nothing or, in some engines, anything")
            )
        if self.subject_reg_exp is not None:
            problems += [("subjectRegExp", p) for p in identity_pattern_problems(self.subject_reg_exp)]
        _check(problems)
        return self


def public_key_problems(pem: str) -> list[str]:
    """Why `pem` is not an acceptable verification key (EC P-256/P-384 or RSA >= 2048), if it is not."""
    try:
        key = load_pem_public_key(pem.encode())
    except (ValueError, TypeError) as exc:
        return [f"is not a PEM public key (-----BEGIN PUBLIC KEY-----): {exc}"]
    if isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name not in ("secp256r1", "secp384r1"):
            return [f"EC curve {key.curve.name} is not supported by the engines; use P-256 or P-384"]
        return []
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < 2048:
            return [f"RSA key of {key.key_size} bits is too weak; use at least 2048"]
        return []
    return [f"{type(key).__name__} keys are not supported; use EC P-256/P-384 or RSA >= 2048"]


_KEY_NAME = r"^[0-9a-zA-Z-]{1,127}$"


class AzureKeyVaultKey(_Model):
    """An EC P-256 signing key the stack creates in its Key Vault, referenced by KMS URI."""

    kind: Literal["azure-key-vault"]
    name: str = Field(pattern=_KEY_NAME, description="Key name in the vault.")
    hsm_enabled: bool | None = Field(default=None, description="HSM-backed key (default: true in prod).")
    rotation_days: int = Field(default=180, ge=30, le=730, description="Rotate the key after this many days.")
    previous_versions: list[str] = Field(
        default_factory=list,
        description=(
            "Key versions (32 hex) still trusted after a rotation, until images signed with them are rebuilt; "
            "the current version is always trusted."
        ),
    )
    public_key: str | None = Field(
        default=None,
        description=(
            "Pinned public key PEM of the current version. The engines then verify with it offline (no call "
            "to the vault); the post-deploy checks compare it with the vault's key."
        ),
    )
    transparency_log_required: bool = Field(
        default=True, description="Require a Rekor entry for signatures by this key. `false` is refused in prod."
    )

    @field_validator("previous_versions")
    @classmethod
    def _versions(cls, versions: list[str]) -> list[str]:
        for version in versions:
            if not re.fullmatch(r"[0-9a-f]{32}", version):
                raise ValueError(f"{version!r} is not a Key Vault key version (32 lowercase hex characters)")
        return versions

    @field_validator("public_key")
    @classmethod
    def _pem(cls, pem: str | None) -> str | None:
        if pem is not None and (problems := public_key_problems(pem)):
            raise ValueError(problems[0])
        return pem


class PublicKeyAuthority(_Model):
    """A signing key held elsewhere; only its public half is trusted."""

    kind: Literal["public-key"]
    name: str = Field(pattern=_KEY_NAME, description="Name of this authority in policies.")
    pem: str = Field(description="PEM public key: EC P-256/P-384 or RSA >= 2048.")
    transparency_log_required: bool = Field(
        default=True, description="Require a Rekor entry for signatures by this key. `false` is refused in prod."
    )

    @field_validator("pem")
    @classmethod
    def _pem(cls, pem: str) -> str:
        if problems := public_key_problems(pem):
            raise ValueError(problems[0])
        return pem


class GeneratedKey(_Model):
    """A key the `local` stack generates; its private half is a secret stack output."""

    kind: Literal["generated"]
    name: str = Field(pattern=_KEY_NAME, description="Name of the generated key.")
    transparency_log_required: bool = Field(
        default=True,
        description="Require a Rekor entry; set `false` to sign offline (`cosign sign --tlog-upload=false`).",
    )


def _pem_blocks(value: str, kind: str) -> str:
    if f"-----BEGIN {kind}-----" not in value or f"-----END {kind}-----" not in value:
        raise ValueError(f"must be PEM ({kind}) text")
    return value


class SigstoreConfig(_Model):
    """The Sigstore instance signatures are checked against. Empty means the public-good instance
    (Fulcio and Rekor at sigstore.dev, trust material from its TUF repository)."""

    rekor_url: HttpsUrl | None = Field(default=None, description="Rekor of a private instance.")
    rekor_public_key: str | None = Field(default=None, description="PEM public key of that Rekor.")
    ct_log_url: HttpsUrl | None = Field(default=None, description="Its certificate transparency log.")
    ct_log_public_key: str | None = Field(
        default=None, description="PEM public key of its certificate transparency log."
    )
    fulcio_url: HttpsUrl | None = Field(default=None, description="Its Fulcio (certificate authority).")
    fulcio_roots: str | None = Field(default=None, description="PEM certificate chain of its Fulcio.")
    tsa_url: HttpsUrl | None = Field(default=None, description="Its timestamp authority.")
    tsa_cert_chain: str | None = Field(default=None, description="PEM certificate chain of its timestamp authority.")
    tuf_mirror: HttpsUrl | None = Field(default=None, description="TUF mirror serving its trust material.")
    tuf_root: str | None = Field(default=None, description="Base64 of the TUF root.json for `tufMirror`.")

    @field_validator("rekor_public_key", "ct_log_public_key")
    @classmethod
    def _key(cls, pem: str | None) -> str | None:
        if pem is not None and (problems := public_key_problems(pem)):
            raise ValueError(problems[0])
        return pem

    @field_validator("fulcio_roots", "tsa_cert_chain")
    @classmethod
    def _certs(cls, pem: str | None) -> str | None:
        return None if pem is None else _pem_blocks(pem, "CERTIFICATE")

    @model_validator(mode="after")
    def _complete(self) -> SigstoreConfig:
        problems: list[tuple[str, str]] = []
        for url, material, url_key in (
            (self.fulcio_url, self.fulcio_roots, "fulcioUrl"),
            (self.ct_log_url, self.ct_log_public_key, "ctLogUrl"),
            (self.tsa_url, self.tsa_cert_chain, "tsaUrl"),
        ):
            if (url is None) != (material is None):
                problems.append((url_key, "set the URL together with its key or certificate chain (both, or neither)"))
        if (self.tuf_mirror is None) != (self.tuf_root is None):
            problems.append(("tufRoot", "set tufMirror and tufRoot together (the root is how the mirror is trusted)"))
        if self.rekor_url is not None and self.rekor_public_key is None and self.tuf_mirror is None:
            problems.append(
                ("rekorPublicKey", "a private Rekor needs its public key (or a tufMirror + tufRoot that serve it)")
            )
        _check(problems)
        return self

    @property
    def public_good(self) -> bool:
        return self.rekor_url is None and self.tuf_mirror is None and self.fulcio_roots is None


SigningKey = Annotated[AzureKeyVaultKey | PublicKeyAuthority | GeneratedKey, Field(discriminator="kind")]


class SigningConfig(_Model):
    """Who may sign: keyless identities and keys. An image needs a signature from any one of them."""

    keyless: list[KeylessIdentity] = Field(
        default_factory=list, description="Keyless (Fulcio certificate) identities allowed to sign."
    )
    keys: list[SigningKey] = Field(
        default_factory=list, description="Signing keys, each by `kind`: azure-key-vault, public-key or generated."
    )
    sigstore: SigstoreConfig = Field(
        default_factory=SigstoreConfig, description="Sigstore instance (default: public good)."
    )
    signature_format: Literal["bundle", "legacy"] = Field(
        default="bundle",
        description=(
            "How signers store signatures: `bundle` (Sigstore bundles as OCI referrers, cosign v3's default) or "
            "`legacy` (`.sig`/`.att` tags, `--new-bundle-format=false`). Kyverno reads either; Policy Controller "
            "is told which."
        ),
    )

    @model_validator(mode="after")
    def _unique(self) -> SigningConfig:
        seen: dict[str, int] = {}
        problems: list[tuple[str, str]] = []
        sig = self.sigstore
        if self.keyless and sig.rekor_url is not None and sig.tuf_mirror is None and sig.fulcio_roots is None:
            problems.append(
                (
                    "sigstore.fulcioRoots",
                    "keyless identities of a private Sigstore need its Fulcio roots (or a tufMirror + tufRoot)",
                )
            )
        for i, key in enumerate(self.keys):
            if key.name in seen:
                problems.append((f"keys[{i}].name", f"{key.name!r} is already used by keys[{seen[key.name]}]"))
            seen.setdefault(key.name, i)
        _check(problems)
        return self

    @property
    def has_authority(self) -> bool:
        return bool(self.keyless or self.keys)


# --- admission ------------------------------------------------------------------------------


class ProvenanceRequirement(_Model):
    """SLSA provenance an image must carry (v1 or v0.2 predicate)."""

    builder_id: str = Field(description="Exact builder id, e.g. the reusable workflow's URI with @refs/tags/vN.")
    source_repository: str = Field(description="Source repository URI, e.g. `https://github.com/contoso/app`.")
    source_ref: str | None = Field(default=None, description="Required source ref, e.g. `refs/heads/main`.")

    @field_validator("builder_id", "source_repository")
    @classmethod
    def _uri(cls, value: str) -> str:
        if not re.match(r"^(https|git\+https)://\S+$", value):
            raise ValueError(f"{value!r} must be an https:// URI (exact, no wildcards)")
        if "*" in value:
            raise ValueError(f"{value!r} contains a wildcard; name the exact builder/repository")
        return value

    @field_validator("source_ref")
    @classmethod
    def _ref(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"refs/(heads|tags)/\S+", value):
            raise ValueError(f"{value!r} must be a full ref such as refs/heads/main")
        return value


class AttestationRequirements(_Model):
    """Attestations required of every image admitted in a namespace."""

    sbom: Literal["spdx", "cyclonedx"] | None = Field(default=None, description="Required SBOM attestation type.")
    provenance: ProvenanceRequirement | None = None


class NamespaceConfig(_Model):
    """How admission treats one namespace."""

    mode: Literal["audit", "enforce"] = Field(description="`audit`: report only; `enforce`: deny what fails.")
    audit_until: date | None = Field(
        default=None, description="Migration deadline (YYYY-MM-DD) for audit mode; required in prod."
    )
    existing: bool = Field(default=False, description="Label an existing namespace instead of creating it.")

    @model_validator(mode="after")
    def _deadline(self) -> NamespaceConfig:
        if self.audit_until is not None and self.mode == "enforce":
            raise RuleViolation([("auditUntil", "only applies to audit mode; remove it")])
        return self


class PolicyExceptionConfig(_Model):
    """A time-boxed exemption from admission for named images in one namespace."""

    name: NamespaceName = Field(description="Name of the exception (a DNS label).")
    namespace: NamespaceName = Field(description="A namespace listed in admission.namespaces.")
    images: list[str] = Field(min_length=1, description="Image references or globs exempted.")
    owner: str = Field(pattern=r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$", description="E-mail of the accountable owner.")
    reason: str = Field(min_length=10, description="Why the exception exists (ticket, risk acceptance).")
    expires: date = Field(description="Last day (YYYY-MM-DD) the exception applies; expired ones are refused.")

    @field_validator("images")
    @classmethod
    def _images(cls, images: list[str]) -> list[str]:
        for image in images:
            if image.strip() in ("*", "*/*", "**") or not image.strip():
                raise ValueError(f"{image!r} would exempt every image; name the images")
        return images

    @field_validator("expires")
    @classmethod
    def _not_expired(cls, expires: date, info: ValidationInfo) -> date:
        today = _today(info)
        if expires < today:
            raise ValueError(f"expired on {expires.isoformat()}; renew it with a new reason or remove it")
        return expires


def _today(info: ValidationInfo) -> date:
    context = info.context or {}
    today = context.get("today")
    return today if isinstance(today, date) else datetime.now(UTC).date()


Engine = Literal["kyverno", "policy-controller"]


class AdmissionConfig(_Model):
    """What the admission engines enforce, per namespace."""

    engines: list[Engine] = Field(min_length=1, description="`kyverno` and/or `policy-controller`.")
    namespaces: dict[NamespaceName, NamespaceConfig] = Field(
        min_length=1, description="Namespaces under admission and their mode (others are not matched)."
    )
    attestations: dict[NamespaceName, AttestationRequirements] = Field(
        default_factory=dict, description="Attestations required per namespace (keys must be listed namespaces)."
    )
    allowed_registries: list[str] = Field(
        default_factory=list,
        description="Registries (host[:port][/path]) allowed besides the stack's own registry.",
    )
    require_digest: bool = Field(default=True, description="Require images to be referenced by digest.")
    exceptions: list[PolicyExceptionConfig] = Field(
        default_factory=list, description="Time-boxed exemptions (owner, reason, expiry); expired ones are refused."
    )

    @field_validator("engines")
    @classmethod
    def _unique_engines(cls, engines: list[str]) -> list[str]:
        if len(set(engines)) != len(engines):
            raise ValueError("lists an engine twice")
        return engines

    @field_validator("allowed_registries")
    @classmethod
    def _registries(cls, registries: list[str]) -> list[str]:
        for reg in registries:
            host = reg.split("/", 1)[0]
            if (
                "*" in reg
                or not _HOST_PORT.match(host)
                or ("." not in host and ":" not in host and host != "localhost")
            ):
                raise ValueError(f"{reg!r} is not a registry host[:port][/path] (no wildcards, e.g. mcr.microsoft.com)")
        return registries

    @model_validator(mode="after")
    def _rules(self, info: ValidationInfo) -> AdmissionConfig:
        problems: list[tuple[str, str]] = []
        for ns in self.namespaces:
            if ns in RESERVED_NAMESPACES:
                problems.append(
                    (
                        f"namespaces.{ns}",
                        f"{ns} is never matched by admission (policing it can lock the cluster or the "
                        "engines out); remove it",
                    )
                )
        for ns in self.attestations:
            if ns not in self.namespaces:
                problems.append(
                    (
                        f"attestations.{ns}",
                        f"{ns} is not listed in admission.namespaces; add it there or remove this requirement",
                    )
                )
        for i, exc in enumerate(self.exceptions):
            if exc.namespace not in self.namespaces:
                problems.append(
                    (f"exceptions[{i}].namespace", f"{exc.namespace} is not listed in admission.namespaces")
                )
        names = [e.name for e in self.exceptions]
        for i, name in enumerate(names):
            if name in names[:i]:
                problems.append((f"exceptions[{i}].name", f"{name!r} is used twice"))
        today = _today(info)
        for ns, cfg in self.namespaces.items():
            if cfg.audit_until is not None and cfg.audit_until < today:
                problems.append(
                    (
                        f"namespaces.{ns}.auditUntil",
                        f"the audit window closed on {cfg.audit_until.isoformat()}; switch to mode: enforce "
                        "or set a new deadline",
                    )
                )
        _check(problems)
        return self


class ClusterConfig(_Model):
    """The Kubernetes cluster admission is installed into."""

    kubeconfig_context: str | None = Field(
        default=None, description="Context in the local kubeconfig (e.g. `kind-supply-chain`)."
    )
    aks_cluster_id: str | None = Field(default=None, description="Resource id of an existing AKS cluster.")

    @model_validator(mode="after")
    def _one(self) -> ClusterConfig:
        problems: list[tuple[str, str]] = []
        if (self.kubeconfig_context is None) == (self.aks_cluster_id is None):
            problems.append(("", "set exactly one of `kubeconfigContext` or `aksClusterId` (omit `cluster` for none)"))
        if self.aks_cluster_id is not None and not re.fullmatch(
            r"/subscriptions/[0-9a-fA-F-]{36}/resource[gG]roups/[^/]+/providers/Microsoft\.ContainerService/managedClusters/[^/]+",
            self.aks_cluster_id,
        ):
            problems.append(
                (
                    "aksClusterId",
                    "must be /subscriptions/<guid>/resourceGroups/<rg>/providers/"
                    "Microsoft.ContainerService/managedClusters/<name>",
                )
            )
        _check(problems)
        return self


# --------------------------------------------------------------------------------------------
# The whole stack
# --------------------------------------------------------------------------------------------


class StackConfig(_Model):
    """Everything a stack configures. Keys are `supply-chain:<section>` in `stacks/Pulumi.<stack>.yaml`."""

    environment: Environment = Field(description="`local` (Kubernetes only), `dev`, `staging` or `prod`.")
    azure: AzureConfig | None = Field(default=None, description="Azure placement; absent for `local`.")
    network: NetworkConfig | None = Field(default=None, description="Build network; Azure stacks only.")
    registry: RegistryConfig = Field(description="Container registry.")
    build_agents: BuildAgentsConfig | None = Field(
        default=None, description="Ephemeral build agents; Azure stacks only."
    )
    signing: SigningConfig = Field(description="Trust roots: who may sign.")
    admission: AdmissionConfig | None = Field(default=None, description="Admission engines and policies.")
    cluster: ClusterConfig | None = Field(default=None, description="Target cluster; omit for none.")

    @model_validator(mode="after")
    def _cross_section(self, info: ValidationInfo) -> StackConfig:
        problems = cross_section_problems(_Sections.of(self), _today(info))
        if problems:
            # keys here are already top-level paths; the empty parent keeps them as they are
            raise RuleViolation([(p.key.removeprefix(_key("")), p.message) for p in problems])
        return self

    @property
    def is_azure(self) -> bool:
        return self.environment != "local"

    def hsm_enabled(self, key: AzureKeyVaultKey) -> bool:
        return key.hsm_enabled if key.hsm_enabled is not None else self.environment == "prod"


# --------------------------------------------------------------------------------------------
# Cross-section rules
# --------------------------------------------------------------------------------------------

_INVALID = object()


@dataclass(frozen=True)
class _Sections:
    """Top-level sections for the cross-section rules; a section that failed its own validation
    is `_INVALID`, and rules that read it are skipped (its own problems are already reported)."""

    values: Mapping[str, Any]

    @classmethod
    def of(cls, cfg: StackConfig) -> _Sections:
        return cls({name: getattr(cfg, name) for name in StackConfig.model_fields})

    def usable(self, *names: str) -> bool:
        return all(self.values.get(n, None) is not _INVALID for n in names)

    def __getattr__(self, name: str) -> Any:
        return self.values.get(name)


def _key(path: str) -> str:
    return f"{PROJECT}:{path}"


def cross_section_problems(s: _Sections, today: date) -> list[Problem]:
    """Rules that relate two or more sections. Each runs only if the sections it reads are valid."""
    out: list[Problem] = []

    def rule(*needs: str) -> Callable[[Callable[[], Iterable[Problem]]], None]:
        def run(fn: Callable[[], Iterable[Problem]]) -> None:
            if s.usable(*needs):
                out.extend(fn())

        return run

    env = s.environment

    @rule("environment", "azure", "network", "build_agents", "registry", "cluster")
    def _placement() -> Iterable[Problem]:
        if env == "local":
            for section, key in (("azure", "azure"), ("network", "network"), ("build_agents", "buildAgents")):
                if s.values.get(section) is not None:
                    yield Problem(_key(key), "the local stack is Kubernetes only; remove this section")
            if s.registry is not None and s.registry.name is not None:
                yield Problem(
                    _key("registry.name"), "the local stack uses an existing registry; set registry.loginServer instead"
                )
            if s.cluster is None or s.cluster.kubeconfig_context is None:
                yield Problem(
                    _key("cluster.kubeconfigContext"),
                    "the local stack needs the kubeconfig context of its cluster (e.g. kind-supply-chain)",
                )
        elif env is not None:
            if s.azure is None:
                yield Problem(
                    _key("azure"), f"the {env} stack deploys to Azure; add azure.location and azure.resourceGroupName"
                )
            if s.network is None:
                yield Problem(_key("network"), f"the {env} stack needs a build network (addressSpace, subnets)")
            if s.registry is not None and s.registry.name is None:
                yield Problem(
                    _key("registry.name"),
                    "Azure stacks create their registry; set registry.name (5-50 letters and digits)",
                )

    @rule("build_agents", "network")
    def _agents_need_network() -> Iterable[Problem]:
        if s.build_agents is not None and s.network is None:
            yield Problem(_key("network"), "buildAgents run in the build network; add the network section")

    @rule("environment", "registry")
    def _prod_registry() -> Iterable[Problem]:
        if env == "prod" and s.registry.public_network_access_enabled:
            yield Problem(
                _key("registry.publicNetworkAccessEnabled"),
                "prod registries are private (private endpoint only); set it to false",
            )

    @rule("environment", "admission")
    def _prod_audit() -> Iterable[Problem]:
        if env != "prod" or s.admission is None:
            return
        for ns, cfg in s.admission.namespaces.items():
            if cfg.mode == "audit" and cfg.audit_until is None:
                yield Problem(
                    _key(f"admission.namespaces.{ns}.auditUntil"),
                    "audit mode in prod needs a migration deadline (YYYY-MM-DD) after which it must enforce",
                )

    @rule("signing", "admission")
    def _authority() -> Iterable[Problem]:
        if s.admission is None or s.signing.has_authority:
            return
        modes = {cfg.mode for cfg in s.admission.namespaces.values()}
        if "enforce" in modes:
            yield Problem(
                _key("signing"),
                "namespaces enforce signatures but no authority is trusted; add signing.keyless or signing.keys",
            )
        else:
            yield Problem(
                _key("signing"),
                "admission is configured but no authority is trusted; add signing.keyless or signing.keys",
            )

    @rule("environment", "signing", "azure")
    def _key_kinds() -> Iterable[Problem]:
        for i, key in enumerate(s.signing.keys):
            if isinstance(key, GeneratedKey) and env != "local":
                yield Problem(
                    _key(f"signing.keys[{i}].kind"),
                    "generated keys are for the local stack; use azure-key-vault or public-key",
                )
            if isinstance(key, AzureKeyVaultKey):
                if s.azure is None:
                    yield Problem(
                        _key(f"signing.keys[{i}].kind"),
                        "azure-key-vault keys need an Azure stack; use generated (local) or public-key",
                    )
                if env == "prod" and key.hsm_enabled is False:
                    yield Problem(
                        _key(f"signing.keys[{i}].hsmEnabled"),
                        "prod signing keys are HSM-backed; remove hsmEnabled: false",
                    )
            if env == "prod" and not key.transparency_log_required:
                yield Problem(
                    _key(f"signing.keys[{i}].transparencyLogRequired"),
                    "prod signatures must be in the transparency log (tamper-evident, revocable); remove it",
                )

    @rule("environment", "registry")
    def _pull_secret() -> Iterable[Problem]:
        if s.registry.pull_secret_name is not None and env != "local":
            yield Problem(
                _key("registry.pullSecretName"),
                "Azure stacks read the registry with workload identity (no stored secret); remove it",
            )

    @rule("environment", "registry")
    def _plain_http() -> Iterable[Problem]:
        if s.registry.plain_http_enabled and env != "local":
            yield Problem(
                _key("registry.plainHttpEnabled"),
                "plain HTTP lets anyone on the path swap images and signatures; it is for the local stack only",
            )

    @rule("admission")
    def _engine_capabilities() -> Iterable[Problem]:
        if s.admission is None or "policy-controller" not in s.admission.engines:
            return
        kyverno = "kyverno" in s.admission.engines
        if not kyverno:
            for ns, cfg in s.admission.namespaces.items():
                if cfg.mode == "audit":
                    yield Problem(
                        _key(f"admission.namespaces.{ns}.mode"),
                        "audit mode needs kyverno (Policy Controller policies cannot be scoped to one namespace); "
                        "add kyverno to admission.engines",
                    )
            for ns in s.admission.attestations:
                yield Problem(
                    _key(f"admission.attestations.{ns}"),
                    "per-namespace attestations need kyverno (Policy Controller policies apply cluster-wide); "
                    "add kyverno to admission.engines",
                )
        for i, exc in enumerate(s.admission.exceptions):
            ns_cfg = s.admission.namespaces.get(exc.namespace)
            if ns_cfg is not None and ns_cfg.mode == "enforce":
                yield Problem(
                    _key(f"admission.exceptions[{i}]"),
                    "Policy Controller has no exceptions and would still deny these images in an enforce "
                    "namespace; drop policy-controller from admission.engines or remove the exception",
                )

    @rule("signing", "admission")
    def _signature_format() -> Iterable[Problem]:
        if s.admission is None:
            return
        sig = s.signing.sigstore
        if s.signing.signature_format != "bundle":
            return
        if "policy-controller" in s.admission.engines and s.signing.keys:
            yield Problem(
                _key("signing.signatureFormat"),
                "Policy Controller verifies bundle-format signatures from keyless identities only, so signing.keys "
                "would be refused; set legacy (sign with --new-bundle-format=false) or drop policy-controller",
            )
        if "kyverno" in s.admission.engines and not sig.public_good and sig.tuf_mirror is None:
            yield Problem(
                _key("signing.sigstore.tufMirror"),
                "Kyverno verifies bundles against a TUF-served trusted root; give the private instance's "
                "tufMirror + tufRoot, or set signing.signatureFormat: legacy",
            )

    @rule("admission", "cluster")
    def _admission_needs_cluster() -> Iterable[Problem]:
        if s.admission is not None and s.cluster is None:
            yield Problem(
                _key("cluster"),
                "admission is configured but no cluster is; add cluster.kubeconfigContext or cluster.aksClusterId",
            )

    return out


# --------------------------------------------------------------------------------------------
# Parsing and error reporting
# --------------------------------------------------------------------------------------------


def parse_stack_config(
    raw: Mapping[str, Any], *, today: date | None = None, source: str = "stack config"
) -> StackConfig:
    """Validate `raw` (top-level keys without the `supply-chain:` prefix) into a `StackConfig`.

    Raises `ConfigError` with every problem found: field-level ones from each section, plus the
    cross-section rules over the sections that validated on their own.
    """
    context = {"today": today or datetime.now(UTC).date()}
    try:
        return StackConfig.model_validate(dict(raw), context=context)
    except ValidationError as exc:
        problems = _problems_from(exc)
        sections = _partial_sections(raw, context)
        if any(v is _INVALID for v in sections.values.values()):
            # the whole-model rules did not run; run them over what did validate
            problems += cross_section_problems(sections, context["today"])
        raise ConfigError(_dedupe(problems), source) from None


def _partial_sections(raw: Mapping[str, Any], context: dict[str, Any]) -> _Sections:
    values: dict[str, Any] = {}
    for name, field in StackConfig.model_fields.items():
        alias = field.alias or name
        if alias not in raw:
            values[name] = _INVALID if field.is_required() else field.get_default(call_default_factory=True)
            continue
        try:
            values[name] = TypeAdapter[Any](field.annotation or Any).validate_python(raw[alias], context=context)
        except ValidationError:
            values[name] = _INVALID
    return _Sections(values)


def _dedupe(problems: list[Problem]) -> list[Problem]:
    seen: set[tuple[str, str]] = set()
    out: list[Problem] = []
    for p in problems:
        if (p.key, p.message) not in seen:
            seen.add((p.key, p.message))
            out.append(p)
    return out


def _join(parts: Iterable[str | int]) -> str:
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part.startswith("["):
            text += part
        elif part:
            text += f".{part}" if text else part
    return text


def _problems_from(exc: ValidationError) -> list[Problem]:
    problems: list[Problem] = []
    for err in exc.errors():
        # drop the discriminator tag and pydantic's "[key]" marker for dict-key errors
        loc = [p for p in err["loc"] if not (isinstance(p, str) and (p in _UNION_TAGS or p == "[key]"))]
        error = (err.get("ctx") or {}).get("error")
        if isinstance(error, RuleViolation):
            for sub, message in error.violations:
                sub_parts = re.findall(r"[^.\[\]]+|\[\d+\]", sub)
                problems.append(Problem(_key(_join([*loc, *sub_parts])), message))
            continue
        problems.append(Problem(_key(_join(loc)), _describe(err, loc)))
    return problems


_UNION_TAGS = {"azure-key-vault", "public-key", "generated"}


def _describe(err: Any, loc: list[str | int]) -> str:
    kind = err["type"]
    given = err.get("input")
    if kind == "extra_forbidden":
        allowed = _allowed_keys(loc[:-1])
        hint = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        did_you_mean = f"did you mean {hint[0]!r}? " if hint else ""
        return f"unknown key; {did_you_mean}allowed here: {', '.join(sorted(allowed))}"
    if kind == "missing":
        return "is required; add it"
    if kind == "value_error":
        return str(err["msg"]).removeprefix("Value error, ")
    message = str(err["msg"])
    if kind == "union_tag_invalid":
        return f"{message}; set kind to one of azure-key-vault, public-key, generated"
    if kind.endswith("_type") or kind.endswith("_parsing") or kind in ("literal_error", "enum"):
        return f"{message} (got {given!r})"
    return message


def _allowed_keys(loc: Sequence[str | int]) -> list[str]:
    """The keys accepted at `loc` (walking the model by aliases), for "did you mean" hints."""
    current: Any = StackConfig
    for part in loc:
        model = _model_in(current)
        if model is None:
            return []
        if isinstance(part, int) or (
            isinstance(part, str) and part not in {f.alias for f in model.model_fields.values()}
        ):
            # list index or dict key: descend into the element type
            current = _element_type(current)
            continue
        field = next(f for f in model.model_fields.values() if f.alias == part)
        current = field.annotation
    model = _model_in(current)
    return [f.alias for f in model.model_fields.values() if f.alias] if model else []


def _model_in(tp: Any) -> type[BaseModel] | None:
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return tp
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType) and len(args) == 1:
        return _model_in(args[0])
    if origin is Annotated:
        return _model_in(args[0])
    return None


def _element_type(tp: Any) -> Any:
    origin = typing.get_origin(tp)
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    if origin in (Union, types.UnionType) and len(args) == 1:
        return _element_type(args[0])
    if origin is list and args:
        return args[0]
    if origin is dict and len(args) == 2:
        return args[1]
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return tp
    return None
