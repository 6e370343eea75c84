"""Every name two sides of the chain must agree on, written once.

The program writes these names into Azure, the cluster and the stack outputs; the renderers put them
into policies; the post-deploy checks and the review look for them there. A fact written twice drifts,
so each lives here: labels and the namespaces admission never matches, policy names, how the registry
login server, the signing vault and its KMS URIs are derived, what each SBOM format is called where,
the vulnerability scan record's facts, and the typed stack outputs (the contract between `pulumi up` and the checks).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

PROJECT = "supply-chain"
"""The Pulumi project name, and so the namespace of every config key (`supply-chain:<key>`)."""

Mode = Literal["audit", "enforce"]
Engine = Literal["kyverno", "policy-controller"]
SbomKind = Literal["spdx", "cyclonedx"]
MaxSeverity = Literal["none", "low", "medium", "high"]

# --- namespaces and labels ------------------------------------------------------------------------

KYVERNO_NAMESPACE = "kyverno"
POLICY_CONTROLLER_NAMESPACE = "cosign-system"
NEVER_MATCHED = ("kube-system", KYVERNO_NAMESPACE, POLICY_CONTROLLER_NAMESPACE)
"""Namespaces every webhook and policy excludes again, whatever the config says."""
RESERVED_NAMESPACES = frozenset({*NEVER_MATCHED, "kube-public", "kube-node-lease"})
"""Namespaces the config refuses to list: policing them can lock the cluster or the engines out (a
webhook that cannot start cannot admit its own pods)."""

ADMISSION_MODE_LABEL = "supply-chain/admission-mode"
"""On every namespace under admission: `audit` or `enforce`. Post-deploy checks compare it with config."""
AUDIT_UNTIL_ANNOTATION = "supply-chain/audit-until"
"""On an audit namespace with a deadline (`admission.namespaces.<ns>.auditUntil`): the date, for the review."""
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "pulumi-supply-chain"
PART_OF_LABEL = "app.kubernetes.io/part-of"
POLICY_CONTROLLER_INCLUDE_LABEL = "policy.sigstore.dev/include"
"""Policy Controller checks only namespaces carrying this label with the value "true"."""


def managed_labels() -> dict[str, str]:
    """Labels on every Kubernetes object the project renders."""
    return {MANAGED_BY_LABEL: MANAGED_BY, PART_OF_LABEL: PROJECT}


def namespace_labels(mode: Mode, *, policy_controller: bool = False) -> dict[str, str]:
    """Labels of a namespace under admission. Policy Controller's ClusterImagePolicies cannot be
    scoped per namespace, so only enforce namespaces opt in to it; audit stays Kyverno's."""
    labels = {ADMISSION_MODE_LABEL: mode, MANAGED_BY_LABEL: MANAGED_BY}
    if policy_controller and mode == "enforce":
        labels[POLICY_CONTROLLER_INCLUDE_LABEL] = "true"
    return labels


# --- policy names ---------------------------------------------------------------------------------


def signature_policy_name(mode: Mode) -> str:
    """Kyverno's signature policy for every namespace in `mode`."""
    return f"verify-image-signatures-{mode}"


def registry_policy_name(mode: Mode) -> str:
    """Kyverno's registry (and digest) policy for every namespace in `mode`."""
    return f"restrict-image-registries-{mode}"


def sbom_policy_name(namespace: str) -> str:
    """Kyverno's SBOM policy of one namespace."""
    return f"require-sbom-{namespace}"


def provenance_policy_name(namespace: str) -> str:
    """Kyverno's provenance policy of one namespace."""
    return f"require-provenance-{namespace}"


def vulnerability_policy_name(namespace: str) -> str:
    """Kyverno's vulnerability-scan policy of one namespace."""
    return f"require-vulnerability-scan-{namespace}"


def signers_policy_name(namespace: str) -> str:
    """Kyverno's policy that only the namespace's own signers sign what runs there."""
    return f"require-signers-{namespace}"


def repositories_policy_name(namespace: str) -> str:
    """Kyverno's policy that images run in the namespace come from its repositories."""
    return f"restrict-repositories-{namespace}"


def kyverno_policies_for(namespace: str, mode: Mode) -> frozenset[str]:
    """Every Kyverno policy name that can match `namespace` (an exception must name each one)."""
    return frozenset(
        {
            signature_policy_name(mode),
            registry_policy_name(mode),
            sbom_policy_name(namespace),
            provenance_policy_name(namespace),
            vulnerability_policy_name(namespace),
            signers_policy_name(namespace),
            repositories_policy_name(namespace),
        }
    )


def repository_glob_regex(glob: str) -> str:
    """The (unanchored) pattern of a namespace's repository glob: `*` stays within one path segment and
    never reaches a tag or digest. Admission and the checks read a glob the same way."""
    return "[^/@:]*".join(re.escape(part) for part in glob.split("*"))


POLICY_CONTROLLER_SIGNATURE_POLICY = "verify-image-signatures"


def tenant_image_policy_name(namespace: str) -> str:
    """Policy Controller's policy that a namespace's repositories are signed by its own signers."""
    return f"tenant-{namespace}"


AttestationRequirement = Literal["sbom", "provenance", "vulnerability-scan"]


def attestation_policy_name(requirement: AttestationRequirement, namespace: str) -> str:
    """Policy Controller's policy that a namespace's repositories carry one attestation requirement (its own
    prefix: `tenant-<ns>` names could end in `-sbom`)."""
    return f"attest-{requirement}-{namespace}"


POLICY_CONTROLLER_TRUST_ROOT = "supply-chain"


def allowed_registry_policy_name(registry: str) -> str:
    """Policy Controller's pass-through policy for one extra allowed registry: the host as written where a
    Kubernetes name can hold it (dots and dashes stay, so `a.b.io` and `a-b.io` differ), else with a digest
    of the original appended, so two registries never share a policy."""
    host = registry.lower()
    if re.fullmatch(r"[a-z0-9]([a-z0-9.-]*[a-z0-9])?", host):
        return f"allow-registry-{host}"
    digest = hashlib.sha256(registry.encode()).hexdigest()[:8]
    return f"allow-registry-{re.sub(r'[^a-z0-9.-]+', '-', host).strip('-.')}-{digest}"


# --- Azure names ----------------------------------------------------------------------------------

ACR_DOMAIN = "azurecr.io"

EXTRA_EGRESS_RULE = "stack-extras"
"""The firewall application rule that holds `network.egress.extraAllowedFqdns`, apart from the chain's own
destinations (Sigstore, GitHub, Entra ID, ...): the review lists each host in it as one the agents may reach."""


def acr_login_server(registry_name: str) -> str:
    """The login server of an ACR the stack creates: `<name>.azurecr.io`, lower case."""
    return f"{registry_name.lower()}.{ACR_DOMAIN}"


def acr_name(login_server: str) -> str | None:
    """The ACR name of a login server, or None for a registry that is not an ACR."""
    host = login_server.lower()
    return host.removesuffix(f".{ACR_DOMAIN}") if host.endswith(f".{ACR_DOMAIN}") else None


def vault_name_for(registry_name: str) -> str:
    """The signing vault's name, derived from the registry's (3-24 letters, digits and '-', globally unique)."""
    return f"kv-{registry_name.lower()}"[:24].rstrip("-")


def kms_uri(vault_name: str, key_name: str, version: str | None = None) -> str:
    """The sigstore KMS reference of a Key Vault key (optionally one version of it)."""
    uri = f"azurekms://{vault_name}.vault.azure.net/{key_name}"
    return f"{uri}/{version}" if version else uri


def current_key_version(key_name: str) -> str:
    """Stands in a KMS reference for a vault key's current version, which only the deploy knows (filled in then)."""
    return f"<current version of {key_name}>"


_KMS_URI = re.compile(
    r"azurekms://(?P<vault>[a-z0-9-]+)\.vault\.azure\.net/(?P<key>[0-9A-Za-z-]+)(/(?P<version>[0-9a-f]{32}))?"
)


@dataclass(frozen=True)
class KmsKey:
    """An `azurekms://` reference taken apart: the vault's data-plane URL, the key and its version."""

    vault_url: str
    key_name: str
    version: str | None


def parse_kms_uri(uri: str) -> KmsKey | None:
    """The parts of a `kms_uri`, or None when `uri` is not one."""
    match = _KMS_URI.fullmatch(uri)
    if match is None:
        return None
    return KmsKey(f"https://{match['vault']}.vault.azure.net", match["key"], match["version"])


# --- AWS KMS keys ---------------------------------------------------------------------------------

AWS_KMS_SCHEME = "awskms://"
AWS_KMS_PARTITIONS = ("aws", "aws-us-gov")
"""The partitions sigstore's `awskms://` provider accepts in an ARN (it refuses `aws-cn` and any other)."""
AWS_REGION = r"[a-z]{2}(?:-[a-z]+)+-[0-9]{1,2}"
"""An AWS region name (`eu-west-1`, `us-gov-west-1`)."""
_AWS_KEY_ID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32}"
_AWS_KMS_ARN = re.compile(
    rf"arn:(?P<partition>aws|aws-us-gov):kms:(?P<region>{AWS_REGION}):(?P<account>[0-9]{{12}}):"
    rf"(?:key/(?P<key_id>{_AWS_KEY_ID})|alias/(?P<alias>[A-Za-z0-9/_-]{{1,250}}))"
)


@dataclass(frozen=True)
class AwsKmsArn:
    """An AWS KMS key ARN or alias ARN taken apart. An alias names whichever key it points to at the time."""

    arn: str
    partition: str
    region: str
    account: str
    key_id: str | None
    alias: str | None

    @property
    def uri(self) -> str:
        """cosign's reference to the key (`awskms:///<ARN>`: no endpoint, so the SDK's regional one)."""
        return aws_kms_uri(self.arn)


def parse_aws_kms_arn(arn: str) -> AwsKmsArn | None:
    """The parts of an AWS KMS key ARN (`arn:aws:kms:REGION:ACCOUNT:key/ID`) or alias ARN
    (`...:alias/NAME`), or None when `arn` is neither. AWS-managed aliases (`alias/aws/...`) name symmetric
    keys that cannot sign, so they are not signing-key ARNs."""
    match = _AWS_KMS_ARN.fullmatch(arn)
    if match is None or (match["alias"] or "").startswith("aws/"):
        return None
    return AwsKmsArn(arn, match["partition"], match["region"], match["account"], match["key_id"], match["alias"])


def aws_kms_uri(arn: str) -> str:
    """The sigstore KMS reference of an AWS KMS key or alias ARN."""
    return f"{AWS_KMS_SCHEME}/{arn}"


def parse_aws_kms_uri(uri: str) -> AwsKmsArn | None:
    """The ARN behind an `aws_kms_uri` (one without an endpoint), or None when `uri` is not one."""
    prefix = f"{AWS_KMS_SCHEME}/"
    return parse_aws_kms_arn(uri.removeprefix(prefix)) if uri.startswith(prefix) else None


# --- Sigstore and attestation facts ---------------------------------------------------------------

PUBLIC_GOOD_REKOR = "https://rekor.sigstore.dev"


def is_public_good(rekor_url: str | None, tuf_mirror: str | None, fulcio_roots: str | None) -> bool:
    """Whether a Sigstore instance is the public-good one (no private Rekor, TUF mirror or Fulcio)."""
    return rekor_url in (None, PUBLIC_GOOD_REKOR) and tuf_mirror is None and fulcio_roots is None


@dataclass(frozen=True)
class SbomFormat:
    """One SBOM format as each side names it: config, cosign, in-toto and the document itself."""

    kind: SbomKind
    title: str
    predicate_type: str
    """The in-toto predicate type `cosign attest --type <cosign_type>` writes."""
    cosign_type: str
    list_field: str
    """The predicate's list of what the image contains; empty means the SBOM says nothing."""

    @property
    def item(self) -> str:
        """One entry of `list_field` (package, component)."""
        return self.list_field.removesuffix("s")


SBOM_FORMATS: Mapping[SbomKind, SbomFormat] = {
    "spdx": SbomFormat("spdx", "SPDX", "https://spdx.dev/Document", "spdxjson", "packages"),
    "cyclonedx": SbomFormat("cyclonedx", "CycloneDX", "https://cyclonedx.org/bom", "cyclonedx", "components"),
}
VULN_SCAN_PREDICATE = "https://cosign.sigstore.dev/attestation/vuln/v1"
"""cosign's vulnerability scan record (`cosign attest --type vuln`, of `trivy image --format cosign-vuln`):
`predicate.metadata.scanFinishedOn` (RFC 3339) and the scanner's report in `predicate.scanner.result` (Trivy's
JSON report: `Results[].Vulnerabilities[].Severity`, either list absent or null when nothing was found)."""
SCANNER_SEVERITIES = ("LOW", "MEDIUM", "HIGH", "CRITICAL")
"""Trivy's severity scale, lowest first (besides UNKNOWN: a finding nobody rated, never below any line)."""
MAX_SCAN_AGE_HOURS = 720
"""The oldest a scan a namespace may accept (30 days): new vulnerabilities are published daily."""
SCAN_FINISHED_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})$"
"""An RFC 3339 date-time as `scanFinishedOn` holds it (Go's time.Time in JSON); anything else is no date."""
SCAN_CLOCK_SKEW_MINUTES = 5
"""How far in the future a scan may say it finished (clock skew between the scanner and the cluster)."""


def allowed_severities(max_severity: MaxSeverity) -> tuple[str, ...]:
    """The scanner's severities at or below `max_severity` (`none`: no finding at all)."""
    if max_severity == "none":
        return ()
    return SCANNER_SEVERITIES[: SCANNER_SEVERITIES.index(max_severity.upper()) + 1]


GITHUB_ACTIONS_ISSUER = "https://token.actions.githubusercontent.com"
SLSA_PROVENANCE_V1 = "https://slsa.dev/provenance/v1"
SLSA_PROVENANCE_V02 = "https://slsa.dev/provenance/v0.2"
SLSA_PROVENANCE_TYPES = (SLSA_PROVENANCE_V1, SLSA_PROVENANCE_V02)
GITHUB_ACTIONS_BUILD_TYPE = "https://actions.github.io/buildtypes/workflow/v1"
"""The SLSA v1 build type of GitHub Actions builds: the build's own source is its external parameters'
`workflow.repository` and `workflow.ref`."""

# --- workload identity ----------------------------------------------------------------------------

WORKLOAD_IDENTITY_AUDIENCE = "api://AzureADTokenExchange"
WORKLOAD_IDENTITY_CLIENT_ID_ANNOTATION = "azure.workload.identity/client-id"
WORKLOAD_IDENTITY_USE_LABEL = "azure.workload.identity/use"


def service_account_subject(namespace: str, service_account: str) -> str:
    """The token subject Kubernetes issues for a service account (federated credential subject)."""
    return f"system:serviceaccount:{namespace}:{service_account}"


# --- stack outputs --------------------------------------------------------------------------------


class StackOutputs(BaseModel):
    """The stack outputs: what `pulumi up` exports and `pulumi stack output --json` shows.

    The program builds it with `exported(...)` (values may still be Pulumi outputs) and exports each
    key; the checks read it back with `model_validate`. Keys are camelCase in the stack.
    """

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore", frozen=True)

    environment: str
    namespaces: dict[str, Mode] = Field(default_factory=dict)
    registry_login_server: str
    trust_model: dict[str, Any]
    kyverno_policies: list[str] = Field(default_factory=list)
    policy_controller_policies: list[str] = Field(default_factory=list)
    signing_key_uris: dict[str, str] = Field(default_factory=dict)
    vault_uri: str | None = None
    vault_private_ips: list[str] = Field(default_factory=list)
    signing_public_keys_pem: dict[str, str] = Field(default_factory=dict)
    signing_private_keys_pem: dict[str, str] | None = None
    """Local stacks only, and only with `--show-secrets`: the generated key that signs test images."""
    resource_group_name: str | None = None
    registry_id: str | None = None
    registry_name: str | None = None
    registry_private_ips: list[str] = Field(default_factory=list)
    agents_subnet_id: str | None = None
    endpoints_subnet_id: str | None = None
    build_agents_client_id: str | None = None
    admission_client_id: str | None = None
    firewall_private_ip: str | None = None
    agent_scale_set_id: str | None = None
    agent_pool_resource_group_name: str | None = None
    agent_host_client_id: str | None = None
    agent_control_plane_client_id: str | None = None
    agent_registration_account: str | None = None
    agent_runner_labels: list[str] = Field(default_factory=list)
    agent_webhook_url: str | None = None
    agent_runner_group: dict[str, Any] = Field(default_factory=dict)
    """The runner group's settings as GitHub's REST API names them (the checks compare them with GitHub's)."""
    agent_runner_group_id: str | None = None
    """GitHub's id of the runner group, when the stack keeps it (`buildAgents.runner.manageGroup`)."""

    @classmethod
    def exported(cls, **values: Any) -> dict[str, Any]:
        """The stack's exports, keyed as the stack shows them: `values` by field name, unvalidated
        (they may be Pulumi outputs). A name that is not a field here is a programming error."""
        unknown = sorted(set(values) - set(cls.model_fields))
        if unknown:
            raise TypeError(f"not stack outputs: {unknown}; declare them in StackOutputs")
        return {to_camel(name): value for name, value in values.items()}
