"""Review findings over a validated stack config.

The config model refuses what is never acceptable; these rules report what is allowed but must be
a conscious, reviewed choice (the insecure option spelled out in stack config), each at the key to change.
Each finding's concern is also a rule of the policy pack (`pack_rule`), which reads it from the planned
resources, so `pulumi preview --policy-pack policies` reports it without the stack file.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from components.model.config import AwsKmsKey, AzureKeyVaultKey, BuildAgentsConfig, KeylessIdentity, StackConfig
from components.model.contract import GITHUB_ACTIONS_ISSUER, PROJECT, is_public_good, parse_aws_kms_arn
from components.model.key_authorities import aws_kms_authority

Severity = Literal["high", "medium", "low", "info"]
CONFIG_RULE = "stack-config-review"
"""The rule name the review's outputs give a stack config finding that no pack rule reports (advisory: the config
model refuses the rest)."""

SEVERITY_ORDER: dict[Severity, int] = {"high": 0, "medium": 1, "low": 2, "info": 3}


@dataclass(frozen=True)
class Finding:
    """An allowed but insecure (or noteworthy) choice in the stack config, for a reviewer."""

    severity: Severity
    key: str
    message: str

    def as_json(self) -> dict[str, str]:
        """The finding as plan.json records it."""
        return {"severity": self.severity, "key": self.key, "message": self.message}


def _key(path: str) -> str:
    return f"{PROJECT}:{path}"


def review(config: StackConfig) -> list[Finding]:
    """Every finding, most severe first."""
    return sorted(_findings(config), key=lambda f: (SEVERITY_ORDER[f.severity], f.key))


def _scope_findings(config: StackConfig) -> Iterator[Finding]:
    """Which namespaces admission does not check, or only reports on."""
    assert config.admission is not None
    admission = config.admission
    if admission.default_mode == "off":
        yield Finding(
            "high",
            _key("admission.defaultMode"),
            "namespaces not listed (default, any created later) admit any image from any registry",
        )
    elif admission.default_mode == "audit":
        yield Finding(
            "medium" if config.environment == "prod" else "info",
            _key("admission.defaultMode"),
            "namespaces not listed admit unsigned images and other registries (audit: reported only)",
        )
    for i, exempt in enumerate(admission.exempt_namespaces):
        yield Finding(
            "medium",
            _key(f"admission.exemptNamespaces[{i}]"),
            f"{exempt.name} is outside admission (owner {exempt.owner}): {exempt.reason}",
        )


def _findings(config: StackConfig) -> Iterator[Finding]:
    registry = config.registry
    if registry.public_network_access_enabled:
        ranges = ", ".join(str(r) for r in registry.allowed_ip_ranges)
        yield Finding(
            "high",
            _key("registry.publicNetworkAccessEnabled"),
            f"the registry's public endpoint is open to {ranges}; prefer the private endpoint only",
        )
    if registry.azure_services_bypass_enabled:
        yield Finding(
            "medium",
            _key("registry.azureServicesBypassEnabled"),
            "trusted Azure services bypass the registry's network rules",
        )
    if (
        config.cluster is not None
        and config.network is not None
        and config.cluster.virtual_network_id is None
        and config.network.private_dns_zones.registry is None
        and not registry.public_network_access_enabled
    ):
        yield Finding(
            "high",
            _key("cluster.virtualNetworkId"),
            "the registry and vault are reachable only through private endpoints, and the cluster's network is "
            "not peered: node pulls and the engines' registry and Key Vault calls fail unless the estate routes "
            "and resolves them itself",
        )
    if registry.retention_days is not None:
        yield Finding(
            "medium",
            _key("registry.retentionDays"),
            f"untagged manifests are deleted after {registry.retention_days} days, including images still "
            "running by digest after their tag moved",
        )
    if registry.name is not None and not registry.repository_permissions_enabled:
        yield Finding(
            "high" if config.environment == "prod" else "medium",
            _key("registry.repositoryPermissionsEnabled"),
            "the registry's permissions are registry-wide (legacy mode): the build agents' AcrPush writes every "
            "repository, so a job can overwrite another team's images and signature tags, and AcrPull reads every "
            "one; ABAC repository permissions keep pushes to buildAgents.pushRepositories",
        )
    if config.environment == "prod" and config.azure is not None and not config.azure.availability_zones:
        yield Finding(
            "medium",
            _key("azure.availabilityZones"),
            "the egress firewall and its IP sit in one zone: a zone outage stops every build; list the region's zones",
        )
    if config.environment == "prod" and config.network is not None and not config.flow_logs_enabled():
        yield Finding(
            "medium",
            _key("network.flowLogsEnabled"),
            "the build network's flows are not logged: after an incident nobody can tell what the agents reached",
        )
    if config.environment == "prod" and config.azure is not None and not config.delete_locks_enabled():
        yield Finding(
            "high",
            _key("azure.deleteLocksEnabled"),
            "the prod registry and signing vault have no delete lock: one mistaken destroy removes every image "
            "and signing key",
        )
    if config.network is not None and config.network.egress.mode == "nsg-only":
        yield Finding(
            "high",
            _key("network.egress.mode"),
            "nsg-only egress cannot restrict Sigstore, GitHub or package hosts by name: agents can reach "
            "anything in the allowed service tags and the Internet ranges behind them",
        )
    if (
        config.network is not None
        and config.network.egress.mode == "firewall"
        and config.network.egress.firewall_tier == "Standard"
        and config.build_agents is not None
        and config.build_agents.runner.kind == "github"
    ):
        yield Finding(
            "low",
            _key("network.egress.firewallTier"),
            "the firewall allows github.com by name, so agents reach every repository and gist there (a place to "
            "push what a job read); Premium with TLS inspection limits it to the organisation's paths",
        )
    if config.network is not None and not config.network.egress.dns_filtering_enabled:
        yield Finding(
            "high" if config.environment == "prod" else "medium",
            _key("network.egress.dnsFilteringEnabled"),
            "agents resolve any name: a query for a name under an attacker's domain carries data out past the "
            "firewall (Azure DNS answers on the platform address, which NSGs and the firewall do not see)",
        )
    if config.network is not None:
        for fqdn in config.network.egress.extra_allowed_fqdns:
            yield Finding("info", _key("network.egress.extraAllowedFqdns"), f"agents may reach {fqdn}")
    if config.build_agents is not None:
        yield from _agent_findings(config.build_agents)
    if config.admission is not None:
        yield from _scope_findings(config)
        for ns, cfg in sorted(config.admission.namespaces.items()):
            if cfg.mode == "audit":
                until = f" until {cfg.audit_until.isoformat()}" if cfg.audit_until else " with no deadline"
                yield Finding(
                    "medium" if config.environment == "prod" else "info",
                    _key(f"admission.namespaces.{ns}.mode"),
                    f"{ns} admits unsigned images (audit){until}",
                )
        if not config.admission.require_digest:
            yield Finding(
                "medium",
                _key("admission.requireDigest"),
                "images may be referenced by tag: enforce namespaces pin the verified digest (GitOps tools "
                "see drift), audit namespaces run whatever the tag points to when the pod starts",
            )
        for registry_host in config.admission.allowed_registries:
            yield Finding(
                "medium",
                _key("admission.allowedRegistries"),
                f"images from {registry_host} are admitted without a signature check by this chain's signers",
            )
        if "policy-controller" in config.admission.engines and "kyverno" in config.admission.engines:
            yield Finding(
                "info",
                _key("admission.engines"),
                "Policy Controller checks signatures and registries in enforce namespaces, and the attestations "
                "of those with repositories (by image path); exceptions, audit namespaces and the attestations "
                "of namespaces without repositories are Kyverno's alone",
            )
        if "kyverno" not in config.admission.engines:
            for ns in sorted(config.admission.attestations):
                yield Finding(
                    "medium",
                    _key(f"admission.attestations.{ns}"),
                    f"Policy Controller requires these of images from {ns}'s repositories wherever they run, but "
                    f"nothing keeps {ns} to its repositories: a signed image of another path runs there without "
                    "them (add kyverno, which restricts each namespace to its repositories)",
                )
        listed = config.admission.namespaces
        if len(listed) > 1:
            for ns, cfg in sorted(listed.items()):
                if cfg.mode == "enforce" and not cfg.signers and not cfg.repositories:
                    yield Finding(
                        "medium" if config.environment == "prod" else "info",
                        _key(f"admission.namespaces.{ns}"),
                        f"{ns} runs images any trusted signer signed, from any repository: another team's "
                        "pipeline can ship into it (bind signers and repositories)",
                    )
        for i, exc in enumerate(config.admission.exceptions):
            yield Finding(
                "medium",
                _key(f"admission.exceptions[{i}]"),
                f"{exc.namespace}: {', '.join(exc.images)} exempt until {exc.expires.isoformat()} "
                f"(owner {exc.owner}: {exc.reason})",
            )
    yield from _signing_findings(config)
    for i, identity in enumerate(config.signing.keyless):
        if identity.issuer == GITHUB_ACTIONS_ISSUER and not identity.provenance_only:
            yield _caller_finding(config, i, identity)
        if identity.subject_reg_exp is not None:
            yield Finding(
                "low",
                _key(f"signing.keyless[{i}].subjectRegExp"),
                f"identities matching {identity.subject_reg_exp} may sign; an exact subject is narrower",
            )


def _caller_finding(config: StackConfig, i: int, identity: KeylessIdentity) -> Finding:
    """A certificate names the workflow file, not who ran it: who checks the calling repository, and where."""
    engines = config.admission.engines if config.admission is not None else []
    enforced = "policy-controller" in engines and config.signing.signature_format == "legacy"
    who = identity.subject or identity.subject_reg_exp
    runs = f"run by {', '.join(identity.callers)}" if identity.callers else "run by its own repository"
    if enforced:
        return Finding(
            "info",
            _key(f"signing.keyless[{i}]"),
            f"{who} is admitted only as {runs} by Policy Controller (enforce namespaces); Kyverno cannot check the "
            "caller (kyverno#15809), so audit namespaces rely on it being no reusable workflow",
        )
    return Finding(
        "high" if identity.callers else "medium",
        _key(f"signing.keyless[{i}]"),
        f"{who} signs for whoever runs it: no engine here checks that it was {runs}; keep it each service's own "
        "workflow (no `on: workflow_call`), or add policy-controller with legacy signatures",
    )


def _signing_findings(config: StackConfig) -> Iterator[Finding]:
    local = config.environment == "local"
    for i, key in enumerate(config.signing.keys):
        if not key.transparency_log_required:
            yield Finding(
                "low" if local else "medium",
                _key(f"signing.keys[{i}].transparencyLogRequired"),
                f"signatures by {key.name} are accepted without a transparency-log entry (no public record, "
                "no revocation by monitoring)",
            )
        aws_read = _aws_kms_read_at_admission(i, key) if isinstance(key, AwsKmsKey) else None
        if aws_read is not None and config.admission is not None:
            yield aws_read
        if isinstance(key, AzureKeyVaultKey):
            if key.public_key is None and config.admission is not None:
                yield Finding(
                    "info",
                    _key(f"signing.keys[{i}].publicKey"),
                    f"the engines read {key.name} from the vault at admission: the cluster needs a private path "
                    "to the vault's endpoint (peer its VNet with the build VNet and link "
                    "privatelink.vaultcore.azure.net), or pin publicKey",
                )
            for j, previous in enumerate(key.previous_versions):
                yield Finding(
                    "medium",
                    _key(f"signing.keys[{i}].previousVersions[{j}]"),
                    f"{key.name} version {previous.version} is still trusted until {previous.until.isoformat()} "
                    "(rotation overlap): a stolen or retired key signs until then; re-sign its images and remove it",
                )
    sigstore = config.signing.sigstore
    if not is_public_good(sigstore.rekor_url, sigstore.tuf_mirror, sigstore.fulcio_roots):
        yield Finding(
            "info",
            _key("signing.sigstore"),
            f"signatures are checked against a private Sigstore instance ({config.signing.sigstore.rekor_url})",
        )
    if config.registry.plain_http_enabled:
        yield Finding(
            "low",
            _key("registry.plainHttpEnabled"),
            "the engines read the registry over plain HTTP (local only); images and signatures can be "
            "swapped in transit",
        )


def _aws_kms_read_at_admission(i: int, key: AwsKmsKey) -> Finding | None:
    """An AWS KMS key the engines ask KMS for at each admission (not pinned, or RSA): they need AWS credentials
    in the cluster, and, by alias, trust whichever key the alias points to."""
    if aws_kms_authority(key).verified_offline:
        return None
    alias = parse_aws_kms_arn(key.arn)
    by_alias = alias is not None and alias.alias is not None
    why = "not pinned" if key.public_key is None else "an RSA key, verified through KMS"
    return Finding(
        "medium" if by_alias else "low",
        _key(f"signing.keys[{i}].publicKey"),
        f"the engines read {key.name} from AWS KMS at admission ({why}): they need AWS credentials in the cluster "
        "(IRSA or pod identity on EKS; static keys only as a last resort), an AWS outage denies every pod"
        + (", and whoever may update the alias decides which key is trusted" if by_alias else "")
        + "; pin the public key of an EC key",
    )


def _agent_findings(agents: BuildAgentsConfig) -> Iterator[Finding]:
    """What the agent pool leaves open that a reviewer should weigh (prod refuses an unpinned image)."""
    if not agents.image.pinned:
        yield Finding(
            "low",
            _key("buildAgents.image.version"),
            "agent image is not pinned (latest); pin a version so image changes go through review",
        )
    if not agents.runner.workflows:
        yield Finding(
            "low",
            _key("buildAgents.runner.workflows"),
            f"any workflow of {len(agents.runner.repositories)} listed repositories may run on the agents; "
            "list the workflows that build releases",
        )
    yield Finding(
        "info",
        _key("buildAgents.runner.repositories"),
        f"jobs of {', '.join(agents.runner.repositories)} on {agents.runner.push_ref} may push and sign as the "
        "job identity",
    )


PACK_RULES: tuple[tuple[str, str], ...] = (
    (r"registry\.publicNetworkAccessEnabled", "registry-endpoint-private"),
    (r"registry\.azureServicesBypassEnabled", "registry-bypass-off"),
    (r"registry\.retentionDays", "registry-retention-keeps-running-images"),
    (r"registry\.repositoryPermissionsEnabled", "registry-repository-permissions"),
    (r"registry\.plainHttpEnabled", "admission-registry-over-https"),
    (r"cluster\.virtualNetworkId", "cluster-reaches-private-endpoints"),
    (r"azure\.(availabilityZones|deleteLocksEnabled)|network\.flowLogsEnabled", "prod-safeguards"),
    (r"network\.egress\.mode", "egress-through-firewall"),
    (r"network\.egress\.firewallTier", "github-limited-to-organisation"),
    (r"network\.egress\.dnsFilteringEnabled", "dns-filtered"),
    (r"network\.egress\.extraAllowedFqdns", "egress-extra-destinations"),
    (r"buildAgents\.image\.version", "agents-image-pinned"),
    (r"buildAgents\.runner\.workflows", "runner-group-workflows-listed"),
    (r"buildAgents\.runner\.repositories", "job-identity-federations-listed"),
    (r"admission\.defaultMode", "unlisted-namespaces-enforced"),
    (r"admission\.exemptNamespaces\[\d+\]", "namespaces-outside-admission"),
    (r"admission\.namespaces\.[^.]+\.mode", "namespaces-in-audit"),
    (r"admission\.namespaces\.[^.]+", "namespaces-bound-to-signers"),
    (r"admission\.requireDigest", "admission-images-by-digest"),
    (r"admission\.allowedRegistries", "other-registries-signed"),
    (r"admission\.exceptions\[\d+\]", "admission-exceptions-reviewed"),
    (r"admission\.attestations\.[^.]+", "attestations-kept-to-their-namespace"),
    (r"signing\.keys\[\d+\]\.transparencyLogRequired", "admission-transparency-log-required"),
    (r"signing\.keys\[\d+\]\.publicKey", "vault-keys-pinned"),
    (r"signing\.keys\[\d+\]\.previousVersions\[\d+\]", "signing-key-rotation-closed"),
    (r"signing\.sigstore", "sigstore-public-good"),
    (r"signing\.keyless\[\d+\]\.subjectRegExp", "identities-exact"),
    (r"signing\.keyless\[\d+\]", "keyless-callers-checked"),
)
"""Which policy-pack rule reports each finding's concern from the planned resources, by the finding's key."""


def pack_rule(finding: Finding) -> str | None:
    """The policy-pack rule that reports this finding's concern from the planned resources, so that `pulumi preview
    --policy-pack` sees it too; None for the findings that explain rather than loosen (which engine checks what)."""
    if finding.severity == "info" and finding.key.startswith(_key("signing.keyless[")):
        return None  # the caller is checked (by Policy Controller): an explanation, not a loosening
    path = finding.key.removeprefix(_key(""))
    return next((rule for pattern, rule in PACK_RULES if re.fullmatch(pattern, path)), None)
