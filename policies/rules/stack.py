"""Rules over the whole stack: every enforce namespace is under a signature policy that denies, and no audit
namespace outlives its deadline (prod: every audit namespace has one)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pulumi_policy import PolicyResource, ReportViolation, StackValidationArgs, StackValidationPolicy

from components.model.contract import ADMISSION_MODE_LABEL, AUDIT_UNTIL_ANNOTATION
from policies.rules.base import MANDATORY, dig

NAMESPACE_TYPES = frozenset({"kubernetes:core/v1:Namespace", "kubernetes:core/v1:NamespacePatch"})
IMAGE_POLICY = "kubernetes:policies.kyverno.io/v1:ImageValidatingPolicy"
NAME_LABEL = "kubernetes.io/metadata.name"


def namespaces(args: StackValidationArgs) -> list[tuple[PolicyResource, str, dict[str, str], dict[str, str]]]:
    """The namespaces the stack creates or patches: (resource, name, labels with the name label, annotations)."""
    found = []
    for resource in args.resources:
        if resource.resource_type in NAMESPACE_TYPES:
            metadata = resource.props.get("metadata") or {}
            name = str(metadata.get("name") or "")
            labels = {**(metadata.get("labels") or {}), NAME_LABEL: name}
            found.append((resource, name, labels, dict(metadata.get("annotations") or {})))
    return found


def selects(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """Whether a Kubernetes label selector selects an object with `labels` (an empty selector selects all)."""
    selector = selector or {}
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression.get("key"), expression.get("operator"), expression.get("values") or []
        present = key in labels
        if operator == "In" and not (present and labels[key] in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if (operator == "Exists" and not present) or (operator == "DoesNotExist" and present):
            return False
    return True


def _signature_policies(args: StackValidationArgs) -> list[Mapping[str, Any]]:
    """Kyverno image policies that deny an image without a trusted signature (attestation policies name
    `attestations`; they require more, not the signature itself)."""
    return [
        spec
        for r in args.resources
        if r.resource_type == IMAGE_POLICY
        and "Deny" in ((spec := r.props.get("spec") or {}).get("validationActions") or [])
        and not spec.get("attestations")
        and spec.get("matchImageReferences")
    ]


def _enforce_covered(args: StackValidationArgs, report: ReportViolation) -> None:
    policies = _signature_policies(args)
    for resource, name, labels, _ in namespaces(args):
        if labels.get(ADMISSION_MODE_LABEL) != "enforce":
            continue
        if not any(selects(dig(spec, "matchConstraints", "namespaceSelector"), labels) for spec in policies):
            report(f"namespace {name} is labelled enforce, but no signature policy denies in it", resource.urn)


def _environment(args: StackValidationArgs) -> str | None:
    for resource in args.resources:
        tags = resource.props.get("tags")
        if isinstance(tags, Mapping) and tags.get("environment"):
            return str(tags["environment"])
    return None


def _audit_deadlines(args: StackValidationArgs, report: ReportViolation) -> None:
    prod = _environment(args) == "prod"
    today = datetime.now(UTC).date().isoformat()
    for resource, name, labels, notes in namespaces(args):
        if labels.get(ADMISSION_MODE_LABEL) != "audit":
            continue
        until = notes.get(AUDIT_UNTIL_ANNOTATION)
        if until is None and prod:
            report(f"prod namespace {name} admits unsigned images with no deadline (auditUntil)", resource.urn)
        elif until is not None and until < today:
            report(f"namespace {name} is still in audit after its deadline {until}: switch it to enforce", resource.urn)


POLICIES = [
    StackValidationPolicy(
        name="enforce-namespaces-covered",
        description="Every namespace labelled enforce is selected by a Kyverno signature policy that denies.",
        validate=_enforce_covered,
        enforcement_level=MANDATORY,
        remediation_steps="List the namespace under admission.namespaces with mode enforce; the chain renders "
        "its signature policy.",
    ),
    StackValidationPolicy(
        name="audit-namespaces-have-a-deadline",
        description="No namespace stays in audit past its deadline; in prod every audit namespace has one.",
        validate=_audit_deadlines,
        enforcement_level=MANDATORY,
        remediation_steps="Set admission.namespaces.<ns>.auditUntil, and switch the namespace to enforce by then.",
    ),
]
