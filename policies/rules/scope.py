"""Where admission does not reach, or reaches only loosely, read from the admission documents together: namespaces
created later, namespaces outside every signature policy or only audited, registries admitted without a signature,
namespaces open to every trusted signer, and GitHub workflows whose caller no engine checks. Advisory: the config
allows each with review."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import PolicyConfigSchema, PolicyResource, ReportViolation, StackValidationArgs
from pulumi_policy import StackValidationPolicy as Rule

from components.model.contract import (
    ADMISSION_MODE_LABEL,
    AUDIT_UNTIL_ANNOTATION,
    GITHUB_ACTIONS_ISSUER,
    AttestationRequirement,
    attestation_policy_name,
    repositories_policy_name,
    signers_policy_name,
)
from policies.rules.admission import (
    CLUSTER_IMAGE_POLICY,
    IMAGE_POLICY,
    NEVER_MATCHED_SCHEMA,
    VALIDATING_POLICY,
    identities,
)
from policies.rules.base import ADVISORY, dig
from policies.rules.stack import NAME_LABEL, namespaces, selects

LATER = "a-namespace-created-later"
ATTESTATION_KINDS: tuple[AttestationRequirement, ...] = ("sbom", "provenance", "vulnerability-scan")
PREFIX = re.compile(r"startsWith\('([^']+)'\)")


def _signature_policies(args: StackValidationArgs) -> list[tuple[PolicyResource, Mapping[str, Any]]]:
    """Kyverno image policies that check signatures (not attestations), denying or auditing."""
    return [
        (r, spec)
        for r in args.resources
        if r.resource_type == IMAGE_POLICY
        and not (spec := r.props.get("spec") or {}).get("attestations")
        and spec.get("matchImageReferences")
    ]


def _selector(spec: Mapping[str, Any]) -> Mapping[str, Any] | None:
    selector = dig(spec, "matchConstraints", "namespaceSelector")
    return selector if isinstance(selector, Mapping) else None


def _named(spec: Mapping[str, Any], operator: str) -> set[str]:
    """Namespace names the policy's selector lists under `operator` (In / NotIn) on the name label."""
    return {
        str(value)
        for expression in (_selector(spec) or {}).get("matchExpressions") or []
        if expression.get("key") == NAME_LABEL and expression.get("operator") == operator
        for value in expression.get("values") or []
    }


def _actions(spec: Mapping[str, Any]) -> set[str]:
    return set(spec.get("validationActions") or [])


def _unlisted_namespaces(args: StackValidationArgs, report: ReportViolation) -> None:
    policies = _signature_policies(args)
    if not policies:
        # Policy Controller alone checks only the namespaces the chain labels (the listed enforce ones)
        if any(r.resource_type == CLUSTER_IMAGE_POLICY for r in args.resources):
            report(
                "namespaces not listed (and any created later) admit any image from any registry: Policy "
                "Controller checks only the namespaces the stack labels",
                None,
            )
        return
    known = {name for _, name, _, _ in namespaces(args)}
    for _, spec in policies:
        known |= _named(spec, "In") | _named(spec, "NotIn")
    later = LATER
    while later in known:
        later += "-x"
    labels = {NAME_LABEL: later}
    checking = [spec for _, spec in policies if selects(_selector(spec), labels)]
    if any("Deny" in _actions(spec) for spec in checking):
        return
    if checking:
        report(
            "namespaces not listed (and any created later) are only audited: unsigned images and other "
            "registries are reported, not refused",
            None,
        )
    else:
        report(
            "namespaces not listed (and any created later) admit any image from any registry: no signature "
            "policy selects them",
            None,
        )


def _outside_admission(args: StackValidationArgs, report: ReportViolation) -> None:
    never = set(args.get_config().get("neverMatched", NEVER_MATCHED_SCHEMA["neverMatched"]["default"]))
    policies = _signature_policies(args)
    labelled = {name: labels for _, name, labels, _ in namespaces(args)}
    excluded = set().union(*(_named(spec, "NotIn") for _, spec in policies)) if policies else set()
    for name in sorted(excluded - never):
        labels = labelled.get(name, {NAME_LABEL: name})
        if not any(selects(_selector(spec), labels) for _, spec in policies):
            report(f"namespace {name} is outside every signature policy: any image runs there", None)


def _registry(prefix: str) -> str:
    return prefix.rstrip("*/")


def _unsigned_registries(args: StackValidationArgs, report: ReportViolation) -> None:
    signed = {
        _registry(str(reference.get("glob") or ""))
        for _, spec in _signature_policies(args)
        for reference in spec.get("matchImageReferences") or []
    }
    admitted: dict[str, str] = {}
    for resource in args.resources:
        spec = resource.props.get("spec") or {}
        if resource.resource_type == VALIDATING_POLICY:
            for validation in spec.get("validations") or []:
                for prefix in PREFIX.findall(str(validation.get("expression") or "")):
                    admitted.setdefault(_registry(prefix), "Kyverno")
        elif resource.resource_type == CLUSTER_IMAGE_POLICY and any(
            dig(authority, "static", "action") == "pass" for authority in spec.get("authorities") or []
        ):
            for image in spec.get("images") or []:
                admitted[_registry(str(image.get("glob") or ""))] = "Policy Controller"
    for registry in sorted(admitted):
        if not any(registry == s or registry.startswith(s + "/") for s in signed if s):
            report(f"images from {registry} are admitted ({admitted[registry]}) without any signature check", None)


def _unbound_namespaces(args: StackValidationArgs, report: ReportViolation) -> None:
    listed = [(r, name, labels) for r, name, labels, _ in namespaces(args) if labels.get(ADMISSION_MODE_LABEL)]
    if len(listed) < 2 or not any(r.resource_type == IMAGE_POLICY for r in args.resources):
        return  # one namespace has no neighbour to ship into; Policy Controller alone binds by image path
    binding = {
        str(dig(r.props, "metadata", "name"))
        for r in args.resources
        if r.resource_type in (IMAGE_POLICY, VALIDATING_POLICY) and "Deny" in _actions(r.props.get("spec") or {})
    }
    for resource, name, labels in listed:
        bound = {signers_policy_name(name), repositories_policy_name(name)} & binding
        if labels.get(ADMISSION_MODE_LABEL) == "enforce" and not bound:
            report(
                f"namespace {name} runs images any trusted signer signed, from any repository: another team's "
                "pipeline can ship into it",
                resource.urn,
            )


def _attestations_kept_to_namespaces(args: StackValidationArgs, report: ReportViolation) -> None:
    by_name = {str(dig(r.props, "metadata", "name")): r for r in args.resources}

    def present(name: str, resource_type: str) -> bool:
        return name in by_name and by_name[name].resource_type == resource_type

    for resource, namespace, _, _ in namespaces(args):
        attested = any(
            present(attestation_policy_name(kind, namespace), CLUSTER_IMAGE_POLICY) for kind in ATTESTATION_KINDS
        )
        restricted = present(repositories_policy_name(namespace), VALIDATING_POLICY) and "Deny" in _actions(
            by_name[repositories_policy_name(namespace)].props.get("spec") or {}
        )
        if attested and not restricted:
            report(
                f"Policy Controller requires attestations of images from {namespace}'s repositories wherever they "
                f"run, but nothing keeps {namespace} to its repositories: a signed image of another path runs there "
                "without them",
                resource.urn,
            )


def _github_identities(args: StackValidationArgs) -> Iterator[tuple[str, str]]:
    for resource, _ in _signature_policies(args):
        for identity in identities(resource.resource_type, resource.props):
            if identity.get("issuer") == GITHUB_ACTIONS_ISSUER:
                yield str(identity.get("subject") or identity.get("subjectRegExp")), resource.urn


def _callers_checked(args: StackValidationArgs, report: ReportViolation) -> None:
    rego = [
        str(dig(r.props, "spec", "policy", "data") or "")
        for r in args.resources
        if r.resource_type == CLUSTER_IMAGE_POLICY and dig(r.props, "spec", "policy", "type") == "rego"
    ]
    seen: set[str] = set()
    for workflow, urn in _github_identities(args):
        if workflow in seen:
            continue
        seen.add(workflow)
        if not any(json.dumps(workflow) in data for data in rego):
            report(
                f"{workflow} signs for whoever runs it: no engine checks the repository that ran the workflow "
                "(a reusable workflow signs for every caller)",
                urn,
            )


def _audited(args: StackValidationArgs, report: ReportViolation) -> None:
    for resource, name, labels, notes in namespaces(args):
        if labels.get(ADMISSION_MODE_LABEL) == "audit":
            until = notes.get(AUDIT_UNTIL_ANNOTATION)
            report(f"namespace {name} admits unsigned images (audit){f' until {until}' if until else ''}", resource.urn)


POLICIES = [
    Rule(
        name="unlisted-namespaces-enforced",
        description="A namespace the stack does not list, including any created later, is under a signature "
        "policy that denies.",
        validate=_unlisted_namespaces,
        enforcement_level=ADVISORY,
        remediation_steps="Set admission.defaultMode to enforce (list the namespaces that still audit).",
    ),
    Rule(
        name="namespaces-outside-admission",
        description="No namespace beyond the cluster's and the engines' own is left out of every signature policy.",
        validate=_outside_admission,
        enforcement_level=ADVISORY,
        config_schema=PolicyConfigSchema(properties=NEVER_MATCHED_SCHEMA),
        remediation_steps="Remove the namespace from admission.exemptNamespaces once its images can be signed.",
    ),
    Rule(
        name="other-registries-signed",
        description="Every registry admission accepts is one whose images must carry a trusted signature.",
        validate=_unsigned_registries,
        enforcement_level=ADVISORY,
        remediation_steps="Mirror the images into the stack's registry and sign them; drop the registry from "
        "admission.allowedRegistries.",
    ),
    Rule(
        name="namespaces-bound-to-signers",
        description="With more than one namespace listed, each enforce namespace admits only its own signers or "
        "repositories.",
        validate=_unbound_namespaces,
        enforcement_level=ADVISORY,
        remediation_steps="Set admission.namespaces.<ns>.signers and repositories.",
    ),
    Rule(
        name="keyless-callers-checked",
        description="Every GitHub workflow identity is admitted only as run by the repositories the stack names.",
        validate=_callers_checked,
        enforcement_level=ADVISORY,
        remediation_steps="Keep each signing workflow its service's own (no `on: workflow_call`), or add "
        "policy-controller to admission.engines with signing.signatureFormat legacy.",
    ),
    Rule(
        name="attestations-kept-to-their-namespace",
        description="Where Policy Controller requires attestations by image path, a Kyverno policy keeps the "
        "namespace to those paths, so no other signed image runs there without them.",
        validate=_attestations_kept_to_namespaces,
        enforcement_level=ADVISORY,
        remediation_steps="Add kyverno to admission.engines (it restricts each namespace to its repositories).",
    ),
    Rule(
        name="namespaces-in-audit",
        description="Every namespace in audit is listed for review: unsigned images run there.",
        validate=_audited,
        enforcement_level=ADVISORY,
        remediation_steps="Switch admission.namespaces.<ns>.mode to enforce by its auditUntil.",
    ),
]
