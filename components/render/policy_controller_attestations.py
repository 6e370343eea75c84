"""Policy Controller's attestation policies: a namespace's SBOM, provenance and vulnerability-scan requirements
on the images of its repositories (pure functions; manifests as plain dicts).

A ClusterImagePolicy cannot select namespaces, but it selects images: an enforce namespace with tenant
repositories gets one policy per requirement over those repositories' globs, so the requirement follows the
image wherever it runs (every matching policy must pass). One policy per requirement, not attestations on the
tenant policy's authorities: an authority that lists attestations verifies those and no longer the image's
signature, and within one authority every listed attestation is required (provenance is v1 *or* v0.2).
- SBOM and scan: signed by the namespace's own signers (any one authority), as Kyverno requires them.
- Provenance: only the builder's identity, one authority per SLSA version (any one passes); never a key or an
  identity the shared build agents hold.
- On legacy stacks the SBOM and scan policies bind a GitHub identity's attestations to the repositories that
  may run its workflow (policy_controller_callers), as `tenant-<ns>` binds its signatures; provenance needs no
  such check: the shared builder runs for every caller, and its provenance must name the source.
Each attestation carries a Rego policy over the whole in-toto statement (components/render/policy_controller_rego).
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from components.model.contract import (
    SLSA_PROVENANCE_V02,
    SLSA_PROVENANCE_V1,
    VULN_SCAN_PREDICATE,
    AttestationRequirement,
    attestation_policy_name,
)
from components.model.trust import NamespacePolicy, TrustModel
from components.render.policy_controller_authorities import (
    API_VERSION,
    Manifest,
    authorities,
    metadata,
    tenant_globs,
)
from components.render.policy_controller_callers import caller_policy
from components.render.policy_controller_rego import (
    provenance_v02_rego,
    provenance_v1_rego,
    sbom_rego,
    vulnerability_rego,
)
from components.render.shared import has_authority

Attestation = tuple[str, str, dict[str, str]]
"""One attestation an authority requires: its name, its predicate type and its Rego policy."""


def serves(ns: NamespacePolicy) -> bool:
    """Whether Policy Controller carries `ns`'s attestation requirements: it enforces and names the
    repositories its images come from (Policy Controller can scope by image, never by namespace)."""
    return ns.mode == "enforce" and bool(ns.repositories)


def _policy(
    model: TrustModel,
    ns: NamespacePolicy,
    requirement: AttestationRequirement,
    title: str,
    description: str,
    attestations: list[Attestation],
    *,
    bind_callers: bool,
) -> Manifest:
    """Any one of `model`'s authorities (each with every attestation of one group) on `ns`'s repositories;
    with `bind_callers`, a GitHub identity's attestation counts only from a workflow its callers ran (as its
    image signature does on `tenant-<ns>`)."""
    entries: list[dict[str, Any]] = []
    for authority in authorities(model):
        for group in attestations:
            name, predicate_type, policy = group
            suffix = f"-{name}" if len(attestations) > 1 else ""
            entries.append(
                {
                    **authority,
                    "name": f"{authority['name']}{suffix}",
                    "attestations": [{"name": name, "predicateType": predicate_type, "policy": policy}],
                }
            )
    spec: dict[str, Any] = {
        "mode": "enforce",
        "images": [{"glob": g} for g in tenant_globs(model, ns)],
        "authorities": entries,
    }
    if bind_callers:
        ((name, _, _),) = attestations  # authorities named as in the signature policies: one group
        callers = caller_policy(model, f"attestations[{json.dumps(name)}]")
        if callers is not None:
            spec["policy"] = callers
    return {
        "apiVersion": API_VERSION,
        "kind": "ClusterImagePolicy",
        "metadata": metadata(attestation_policy_name(requirement, ns.name), title, description),
        "spec": spec,
    }


def sbom_policy(model: TrustModel, ns: NamespacePolicy) -> Manifest | None:
    """A signed SBOM of the namespace's format, listing a named package or component, on its repositories."""
    sbom = ns.sbom_format
    signers = model.signers_of(ns)
    if sbom is None or not serves(ns) or not has_authority(signers):
        return None
    description = (
        f"Images of {', '.join(ns.repositories)} (the repositories of {ns.name}) carry a {sbom.title} SBOM "
        f"attestation (predicate {sbom.predicate_type}) signed by a trusted signer of {ns.name}, listing at least "
        f"one named {sbom.item}. Attest with `cosign attest --type {sbom.cosign_type}`."
    )
    return _policy(
        signers,
        ns,
        "sbom",
        f"Require a signed {sbom.title} SBOM",
        description,
        [("sbom", sbom.predicate_type, sbom_rego(sbom))],
        bind_callers=True,
    )


def provenance_policy(model: TrustModel, ns: NamespacePolicy) -> Manifest | None:
    """SLSA provenance (v1 or v0.2) signed by the builder's identity only, naming the builder and the source."""
    p = ns.provenance
    if p is None or not serves(ns):
        return None
    builder = replace(model, keyless=(p.signer,), keys=()) if p.signer is not None else model
    if not has_authority(builder):
        return None
    ref = f" at {p.source_ref}" if p.source_ref else ""
    signer = p.signer.describe() if p.signer is not None else "a trusted signer"
    description = (
        f"Images of {', '.join(ns.repositories)} (the repositories of {ns.name}) carry SLSA provenance (v1 or "
        f"v0.2) signed by {signer}, naming builder {p.builder_id} and source {p.source_repository}{ref}."
    )
    return _policy(
        builder,
        ns,
        "provenance",
        "Require signed SLSA provenance from the trusted builder",
        description,
        [
            ("slsa-v1", SLSA_PROVENANCE_V1, provenance_v1_rego(p)),
            ("slsa-v02", SLSA_PROVENANCE_V02, provenance_v02_rego(p)),
        ],
        bind_callers=False,  # a shared builder runs for every caller: its provenance names the source instead
    )


def vulnerability_policy(model: TrustModel, ns: NamespacePolicy) -> Manifest | None:
    """A signed, recent vulnerability scan with nothing above the namespace's severity, on its repositories."""
    scan = ns.vulnerabilities
    signers = model.signers_of(ns)
    if scan is None or not serves(ns) or not has_authority(signers):
        return None
    allowed = ", ".join(scan.allowed) or "none at all"
    description = (
        f"Images of {', '.join(ns.repositories)} (the repositories of {ns.name}) carry a vulnerability scan "
        f"attestation (predicate {VULN_SCAN_PREDICATE}) signed by a trusted signer of {ns.name}, finished within "
        f"the last {scan.max_age_hours} hours, whose findings are all of severity {allowed}."
    )
    return _policy(
        signers,
        ns,
        "vulnerability-scan",
        "Require a recent, clean vulnerability scan",
        description,
        [("vulnerability-scan", VULN_SCAN_PREDICATE, vulnerability_rego(scan))],
        bind_callers=True,
    )


def attestation_policies(model: TrustModel, ns: NamespacePolicy) -> list[Manifest]:
    """Every attestation policy of one namespace (none unless Policy Controller serves it)."""
    docs = [sbom_policy(model, ns), provenance_policy(model, ns), vulnerability_policy(model, ns)]
    return [d for d in docs if d is not None]
