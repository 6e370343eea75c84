"""What the admission documents trust that a reviewer should weigh, though the config allows it: identities by
pattern, a signing key's rotation overlap, a private Sigstore instance, keys read from a KMS at admission, and
every policy exception. Advisory: each is a reviewed choice, not a break. The trust-root rules look at every
admission document together and report each key, pattern or instance once, at the first document that trusts it."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from pulumi_policy import ReportViolation, ResourceValidationArgs, StackValidationArgs, StackValidationPolicy

from components.model.contract import AWS_KMS_SCHEME, PUBLIC_GOOD_REKOR
from policies.rules.admission import CLUSTER_IMAGE_POLICY, EXCEPTION, IMAGE_POLICY, identities
from policies.rules.base import ADVISORY, dig, resource_policy

AZURE_KMS = "azurekms://"
TRUSTING_TYPES = frozenset({IMAGE_POLICY, CLUSTER_IMAGE_POLICY})

Observation = tuple[str, str]
"""What a document trusts that the review names (its identity, e.g. a key URI) and the sentence saying so."""


def _cosign_blocks(resource_type: str, props: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """Each place a document names what verifies: Kyverno attestors' `cosign`, Policy Controller authorities."""
    spec = props.get("spec") or {}
    if resource_type == CLUSTER_IMAGE_POLICY:
        yield from spec.get("authorities") or []
    else:
        for attestor in spec.get("attestors") or []:
            if isinstance(cosign := attestor.get("cosign"), Mapping):
                yield cosign


def _vault_keys(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """The Key Vault key URIs a document verifies with (read from the vault at admission)."""
    return sorted(
        str(kms)
        for block in _cosign_blocks(resource_type, props)
        if str(kms := dig(block, "key", "kms") or "").startswith(AZURE_KMS)
    )


def patterns(resource_type: str, props: Mapping[str, Any]) -> Iterator[Observation]:
    """Identities trusted by subject pattern."""
    for identity in identities(resource_type, props):
        if pattern := identity.get("subjectRegExp"):
            yield str(pattern), f"identities matching {pattern} may sign; an exact subject is narrower"


def rotation_overlaps(resource_type: str, props: Mapping[str, Any]) -> Iterator[Observation]:
    """Vault keys trusted in more than one version at once."""
    versions: dict[str, list[str]] = {}
    for uri in _vault_keys(resource_type, props):
        key, _, version = uri.removeprefix(AZURE_KMS).rpartition("/")
        versions.setdefault(key, []).append(version)
    for key, trusted in sorted(versions.items()):
        if len(trusted) > 1:
            yield (
                key,
                f"{len(trusted)} versions of {key} are trusted at once ({', '.join(trusted)}): a rotation overlap, "
                "in which a retired or stolen version still signs",
            )


def private_sigstore(resource_type: str, props: Mapping[str, Any]) -> Iterator[Observation]:
    """The parts of a private Sigstore instance a document trusts."""
    for block in _cosign_blocks(resource_type, props):
        url = dig(block, "ctlog", "url")
        if url and url != PUBLIC_GOOD_REKOR:
            yield f"log {url}", f"signatures are checked against a private transparency log, {url}"
        if mirror := dig(block, "tuf", "mirror"):
            yield f"tuf {mirror}", f"the trust root comes from a private TUF mirror, {mirror}"
        if dig(block, "keyless", "roots"):
            yield "roots", "keyless certificates chain to Fulcio roots the stack names, not the public-good ones"


def _aws_keys(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """The AWS KMS key URIs a document verifies with (read from AWS KMS at admission)."""
    return sorted(
        str(kms)
        for block in _cosign_blocks(resource_type, props)
        if str(kms := dig(block, "key", "kms") or "").startswith(AWS_KMS_SCHEME)
    )


def vault_reads(resource_type: str, props: Mapping[str, Any]) -> Iterator[Observation]:
    """KMS keys (Key Vault, AWS KMS) the engines read at admission."""
    for uri in _vault_keys(resource_type, props):
        yield (
            uri,
            f"the engines read {uri} from the vault at every admission: the cluster needs a private path to the "
            "vault (or the key's public half pinned), and a vault outage denies every pod",
        )
    for uri in _aws_keys(resource_type, props):
        alias = ":alias/" in uri
        yield (
            uri,
            f"the engines read {uri} from AWS KMS at every admission: they need AWS credentials in the cluster, an "
            "AWS outage denies every pod"
            + (", and whoever may update the alias decides which key is trusted" if alias else ""),
        )


def _once(observe: Callable[[str, Mapping[str, Any]], Iterator[Observation]]) -> Callable[..., None]:
    """A stack check reporting each observation once, at the first admission document that makes it."""

    def validate(args: StackValidationArgs, report: ReportViolation) -> None:
        seen: set[str] = set()
        for resource in args.resources:
            if resource.resource_type not in TRUSTING_TYPES:
                continue
            for identity, message in observe(resource.resource_type, resource.props):
                if identity not in seen:
                    seen.add(identity)
                    report(message, resource.urn)

    return validate


def _exception_reviewed(args: ResourceValidationArgs, report: ReportViolation) -> None:
    notes = dig(args.props, "metadata", "annotations") or {}
    policies = ", ".join(str(ref.get("name")) for ref in dig(args.props, "spec", "policyRefs") or [])
    report(
        f"{notes.get('supply-chain/namespace', 'a namespace')}: images exempt from {policies or 'no policy'} until "
        f"{dig(args.props, 'spec', 'expiresAt') or 'never'} (owner {notes.get('supply-chain/owner', 'none')}: "
        f"{notes.get('supply-chain/reason', 'no reason')})",
        None,
    )


POLICIES = [
    StackValidationPolicy(
        name="identities-exact",
        description="Keyless identities are exact subjects: a pattern, however well anchored, admits every "
        "workflow or account it matches, including ones added after the review.",
        validate=_once(patterns),
        enforcement_level=ADVISORY,
        remediation_steps="List each signing workflow in signing.keyless[].subject instead of subjectRegExp.",
    ),
    StackValidationPolicy(
        name="signing-key-rotation-closed",
        description="One version of each vault signing key is trusted: a rotation's overlap keeps the previous "
        "version signing until it ends.",
        validate=_once(rotation_overlaps),
        enforcement_level=ADVISORY,
        remediation_steps="Re-sign the images the previous version signed, then remove it from "
        "signing.keys[].previousVersions.",
    ),
    StackValidationPolicy(
        name="sigstore-public-good",
        description="Signatures are checked against the public-good Sigstore instance, which anyone can monitor; "
        "a private instance is trusted on its operator's word.",
        validate=_once(private_sigstore),
        enforcement_level=ADVISORY,
        remediation_steps="Confirm who runs the instance named in signing.sigstore and who monitors its log.",
    ),
    StackValidationPolicy(
        name="vault-keys-pinned",
        description="The engines verify KMS keys (Key Vault, AWS KMS) with a pinned public half instead of calling "
        "the KMS at each admission.",
        validate=_once(vault_reads),
        enforcement_level=ADVISORY,
        remediation_steps="Set signing.keys[].publicKey (the key's PEM; an EC key for AWS KMS), or give the cluster "
        "a private path to the vault and AWS credentials (IRSA or pod identity on EKS) for AWS KMS.",
    ),
    resource_policy(
        "admission-exceptions-reviewed",
        resource_type=EXCEPTION,
        description="Every policy exception is listed for review: images that run without the checks it names.",
        level=ADVISORY,
        remediation="Remove admission.exceptions[] entries whose replacement has shipped.",
        check=_exception_reviewed,
    ),
]
