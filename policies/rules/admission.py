"""The admission documents: enforce policies fail closed and pin what they verified, system namespaces are never
matched, every trusted identity is pinned, and every exception has an owner and an end."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from pulumi_policy import ReportViolation, ResourceValidationArgs

from components.model.config.identity import identity_pattern_problems
from policies.rules.base import MANDATORY, config_value, dig, resource_policy

KYVERNO = "kubernetes:policies.kyverno.io/v1:"
IMAGE_POLICY = KYVERNO + "ImageValidatingPolicy"
VALIDATING_POLICY = KYVERNO + "ValidatingPolicy"
EXCEPTION = KYVERNO + "PolicyException"
CLUSTER_IMAGE_POLICY = "kubernetes:policy.sigstore.dev/v1beta1:ClusterImagePolicy"

NEVER_MATCHED_SCHEMA: dict[str, dict[str, Any]] = {
    "neverMatched": {
        "type": "array",
        "items": {"type": "string"},
        "default": ["kube-system", "kyverno", "cosign-system"],
        "description": "Namespaces every policy must exclude by name: the cluster's and the engines' own.",
    }
}


def _fails_closed(args: ResourceValidationArgs, report: ReportViolation) -> None:
    spec = args.props.get("spec") or {}
    if "Deny" not in (spec.get("validationActions") or []):
        return
    if spec.get("failurePolicy") != "Fail":
        report(
            f"denies, but admits everything when Kyverno cannot answer (failurePolicy {spec.get('failurePolicy')})",
            None,
        )
    operations = {
        op for rule in dig(spec, "matchConstraints", "resourceRules") or [] for op in rule.get("operations") or []
    }
    if not {"CREATE", "UPDATE"} <= operations:
        report(
            f"checks {', '.join(sorted(operations)) or 'no operation'} only: pods must be checked on CREATE and UPDATE",
            None,
        )
    if args.resource_type == IMAGE_POLICY:
        configs = spec.get("validationConfigurations") or {}
        if configs.get("required") is False or configs.get("verifyDigest") is False:
            report("an image may pass unverified (required or verifyDigest is false)", None)


def _never_matches_system_namespaces(args: ResourceValidationArgs, report: ReportViolation) -> None:
    never = set(config_value(args, NEVER_MATCHED_SCHEMA, "neverMatched"))
    excluded: set[str] = set()
    for expression in dig(args.props, "spec", "matchConstraints", "namespaceSelector", "matchExpressions") or []:
        if expression.get("key") == "kubernetes.io/metadata.name" and expression.get("operator") == "NotIn":
            excluded |= set(expression.get("values") or [])
    if missing := sorted(never - excluded):
        report(f"does not exclude {', '.join(missing)} by name: a label there would let it block the cluster", None)


def identities(resource_type: str, props: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """The keyless identities a Kyverno image policy's attestors or a Policy Controller policy's authorities trust."""
    spec = props.get("spec") or {}
    if resource_type == CLUSTER_IMAGE_POLICY:
        for authority in spec.get("authorities") or []:
            yield from dig(authority, "keyless", "identities") or []
    else:
        for attestor in spec.get("attestors") or []:
            yield from dig(attestor, "cosign", "keyless", "identities") or []


def _identities_pinned(args: ResourceValidationArgs, report: ReportViolation) -> None:
    for identity in identities(args.resource_type, args.props):
        issuer = identity.get("issuer")
        if not issuer:
            report(f"an identity accepts any issuer matching {identity.get('issuerRegExp')!r}: name the issuer", None)
        if subject_pattern := identity.get("subjectRegExp"):
            for problem in identity_pattern_problems(str(subject_pattern), issuer):
                report(f"subject pattern {problem}", None)
        elif not identity.get("subject"):
            report("an identity names no subject: anyone the issuer vouches for may sign", None)


def _exceptions_owned_and_unexpired(args: ResourceValidationArgs, report: ReportViolation) -> None:
    annotations = dig(args.props, "metadata", "annotations") or {}
    for key in ("supply-chain/owner", "supply-chain/reason"):
        if not annotations.get(key):
            report(f"an exception without {key.split('/')[1]}", None)
    expires = dig(args.props, "spec", "expiresAt")
    if not expires:
        report("an exception that never expires", None)
        return
    try:
        at = datetime.fromisoformat(str(expires).replace("Z", "+00:00"))
    except ValueError:
        report(f"expiresAt {expires!r} is not a time", None)
        return
    if at.tzinfo is None or at <= datetime.now(UTC):
        report(f"expired at {expires}: remove it, or renew it through review", None)


POLICIES = [
    resource_policy(
        "admission-enforce-fails-closed",
        resource_type=(IMAGE_POLICY, VALIDATING_POLICY),
        description="A policy that denies fails closed, checks pods on CREATE and UPDATE, and never lets an image "
        "pass unverified.",
        level=MANDATORY,
        remediation="Render admission with the chain (failurePolicy Fail for enforce namespaces).",
        check=_fails_closed,
    ),
    resource_policy(
        "admission-system-namespaces-never-matched",
        resource_type=(IMAGE_POLICY, VALIDATING_POLICY),
        description="Every policy excludes the cluster's and the engines' namespaces by name.",
        level=MANDATORY,
        remediation="Keep the NotIn expression on kubernetes.io/metadata.name the chain renders.",
        check=_never_matches_system_namespaces,
        config=NEVER_MATCHED_SCHEMA,
    ),
    resource_policy(
        "admission-identities-pinned",
        resource_type=(IMAGE_POLICY, CLUSTER_IMAGE_POLICY),
        description="Every trusted keyless identity names its issuer and an exact subject or an anchored pattern "
        "pinned to one owner.",
        level=MANDATORY,
        remediation="List exact subjects in signing.keyless (or an anchored subjectRegExp pinned to one owner).",
        check=_identities_pinned,
    ),
    resource_policy(
        "admission-exceptions-owned-and-unexpired",
        resource_type=EXCEPTION,
        description="Every policy exception has an owner, a reason and an expiry that has not passed.",
        level=MANDATORY,
        remediation="Set admission.exceptions[].owner, reason and expires; remove expired ones.",
        check=_exceptions_owned_and_unexpired,
    ),
]
