"""Kyverno policies rendered from the trust model (pure functions; manifests as plain dicts).

Kyverno >= 1.19 API (`policies.kyverno.io/v1`): `ImageValidatingPolicy` for signatures and
attestations, `ValidatingPolicy` for registries and digests, `PolicyException` for exemptions.

Choices a reviewer should know about:
- Namespaces are matched by name (`kubernetes.io/metadata.name`), never by a label a namespace
  owner could edit; kube-system and the engines' namespaces cannot be listed (config rule) and are
  excluded again here.
- Policies match `pods` and `pods/ephemeralcontainers`, so `kubectl debug` with an unsigned image
  is refused too. Kyverno only auto-generates controller rules for policies matching plain `pods`,
  so a Deployment with a bad image is admitted and its pods are refused (visible as ReplicaSet
  events); the post-deploy checks create Pods for that reason.
- One policy per concern and mode: enforce policies `Deny` and fail closed, audit policies only
  `Audit`, ignore engine errors and never mutate.
"""

from __future__ import annotations

from dataclasses import replace

from components.model.contract import (
    GITHUB_ACTIONS_BUILD_TYPE,
    SLSA_PROVENANCE_V02,
    SLSA_PROVENANCE_V1,
    Mode,
    provenance_policy_name,
    registry_policy_name,
    sbom_policy_name,
    signature_policy_name,
)
from components.model.trust import NamespacePolicy, NamespaceScope, Provenance, TrustModel
from components.render.cel import OBJECT_IMAGES, cel_string
from components.render.kyverno_attestors import any_of, authorities_text, image_policy, scope_text
from components.render.kyverno_common import (
    API_VERSION,
    Manifest,
    match_conditions,
    match_pods,
    mode_settings,
    policy_annotations,
)
from components.render.kyverno_exceptions import exception_manifest
from components.render.kyverno_tenants import repositories_policy, signers_policy
from components.render.kyverno_vulnerabilities import vulnerability_policy
from components.render.shared import has_authority, labels


def signature_policy(model: TrustModel, mode: Mode) -> Manifest | None:
    """Every image from the stack's registry signed by a trusted authority, in every `mode` namespace."""
    scope = model.scope(mode)
    if not scope or not has_authority(model):
        return None
    registries = ", ".join(model.signed_registries)
    description = (
        "An unsigned image, or one signed by anyone outside the trust root, may have been built outside "
        f"the reviewed pipeline or altered after it. Every container, init and ephemeral container image from "
        f"{registries} {scope_text(scope)} must carry a signature by one of: {authorities_text(model)}. Sign "
        "with cosign as the README's signer section shows."
    )
    return image_policy(
        model,
        signature_policy_name(mode),
        mode,
        scope,
        policy_annotations("Verify image signatures", "high", description),
        [],
        [
            {
                "expression": (
                    f"variables.allImages.all(image, {any_of(model, 'verifyImageSignatures(image, {attestor})')})"
                ),
                "message": f"image from {registries} is not signed by a trusted signer of this cluster",
            }
        ],
    )


def _sbom_check(ns: NamespacePolicy) -> str:
    assert ns.sbom_format is not None
    content = ns.sbom_format.list_field
    # at least one entry that names what it is: `[{}]` lists nothing a scanner could look up
    return (
        f"has(extractPayload(image, attestations.sbom).predicate.{content})"
        f" && extractPayload(image, attestations.sbom).predicate.{content}"
        ".exists(entry, has(entry.name) && entry.name != '')"
    )


def sbom_policy(model: TrustModel, ns: NamespacePolicy) -> Manifest | None:
    """A signed SBOM of the namespace's format, listing something, on every image admitted there."""
    sbom = ns.sbom_format
    if sbom is None or not has_authority(model):
        return None
    description = (
        "Without an SBOM nobody can tell which vulnerable components run in this namespace. Every image "
        f"admitted in {ns.name} must carry a {sbom.title} SBOM attestation (predicate {sbom.predicate_type}) signed "
        f"by a trusted signer, listing at least one named {sbom.item}. Attest with `cosign attest --type "
        f"{sbom.cosign_type}`."
    )
    verify = any_of(model, "verifyAttestationSignatures(image, attestations.sbom, {attestor})")
    return image_policy(
        model,
        sbom_policy_name(ns.name),
        ns.mode,
        NamespaceScope(False, listed=(ns.name,)),
        policy_annotations(f"Require a signed {sbom.title} SBOM", "medium", description),
        [{"name": "sbom", "intoto": {"type": sbom.predicate_type}}],
        [
            {
                "expression": f"variables.allImages.all(image, {verify})",
                "message": f"image has no {sbom.title} SBOM attestation signed by a trusted signer",
            },
            {
                "expression": f"variables.allImages.all(image, {_sbom_check(ns)})",
                "message": f"the image's {sbom.title} SBOM lists no {sbom.item} with a name",
            },
        ],
    )


def _present(root: str, *path: str) -> list[str]:
    """`has()` for each step of `root.path...`, so a statement missing a field is refused, not an evaluation
    error (which audit mode would ignore and enforce mode report as an engine failure)."""
    return [f"has({'.'.join((root, *path[: i + 1]))})" for i in range(len(path))]


def _provenance_v1(ns: NamespacePolicy) -> str:
    """v1: the builder, and the build's own source: the workflow's repository and ref in the build
    definition's external parameters (GitHub Actions' build type), not any dependency that names it."""
    assert ns.provenance is not None
    p = ns.provenance
    predicate = "extractPayload(image, attestations.slsa_v1).predicate"
    build = f"{predicate}.buildDefinition"
    workflow = f"{build}.externalParameters.workflow"
    checks = [
        *_present(predicate, "runDetails", "builder", "id"),
        f"{predicate}.runDetails.builder.id == {cel_string(p.builder_id)}",
        *_present(predicate, "buildDefinition", "buildType"),
        f"{build}.buildType == {cel_string(GITHUB_ACTIONS_BUILD_TYPE)}",
        *_present(predicate, "buildDefinition", "externalParameters", "workflow", "repository"),
        f"{workflow}.repository == {cel_string(p.source_repository)}",
    ]
    if p.source_ref:
        checks += [f"has({workflow}.ref)", f"{workflow}.ref == {cel_string(p.source_ref)}"]
    return " && ".join(checks)


def _provenance_v02(ns: NamespacePolicy) -> str:
    """v0.2: the builder, and the config source's URI (with the ref) and its commit digest."""
    assert ns.provenance is not None
    p = ns.provenance
    payload = "extractPayload(image, attestations.slsa_v02).predicate"
    source = f"{payload}.invocation.configSource"
    uri = (
        f"{source}.uri == {cel_string(p.source_uri)}"
        if p.source_ref
        else f"string({source}.uri).startsWith({cel_string(p.source_uri)})"
    )
    checks = [
        *_present(payload, "builder", "id"),
        f"{payload}.builder.id == {cel_string(p.builder_id)}",
        *_present(payload, "invocation", "configSource", "uri"),
        f"type({source}.uri) == string",
        uri,
        *_present(payload, "invocation", "configSource", "digest", "sha1"),
        f"type({source}.digest.sha1) == string",
        f"{source}.digest.sha1.matches('^[0-9a-f]{{40}}$')",
    ]
    return " && ".join(checks)


def _builder_text(provenance: Provenance) -> str:
    return provenance.signer.describe() if provenance.signer is not None else "a trusted signer"


def provenance_policy(model: TrustModel, ns: NamespacePolicy) -> Manifest | None:
    """SLSA provenance signed by the namespace's builder, naming it and the source, on every image admitted there."""
    if ns.provenance is None:
        return None
    p = ns.provenance
    # only the builder's identity signs provenance: a key or identity the shared agents hold could forge it
    builder = replace(model, keyless=(p.signer,), keys=()) if p.signer is not None else model
    if not has_authority(builder):
        return None
    ref = f" at {p.source_ref}" if p.source_ref else ""
    description = (
        "An image built by an unknown builder or from an unreviewed source can carry anything. Every image "
        f"admitted in {ns.name} must carry SLSA provenance (v1 or v0.2) signed by {_builder_text(p)}, naming "
        f"builder {p.builder_id} and source {p.source_repository}{ref}. Generate it in the build workflow and "
        "attest with `cosign attest --type slsaprovenance1` (or `slsaprovenance02`)."
    )
    v1 = any_of(builder, "verifyAttestationSignatures(image, attestations.slsa_v1, {attestor})")
    v02 = any_of(builder, "verifyAttestationSignatures(image, attestations.slsa_v02, {attestor})")
    return image_policy(
        builder,
        provenance_policy_name(ns.name),
        ns.mode,
        NamespaceScope(False, listed=(ns.name,)),
        policy_annotations("Require signed SLSA provenance from the trusted builder", "high", description),
        [
            {"name": "slsa_v1", "intoto": {"type": SLSA_PROVENANCE_V1}},
            {"name": "slsa_v02", "intoto": {"type": SLSA_PROVENANCE_V02}},
        ],
        [
            {
                "expression": f"variables.allImages.all(image, {v1} || {v02})",
                "message": "image has no SLSA provenance attestation signed by its builder",
            },
            {
                "expression": (
                    f"variables.allImages.all(image, ({v1} && {_provenance_v1(ns)})"
                    f" || ({v02} && {_provenance_v02(ns)}))"
                ),
                "message": f"the image's provenance does not name builder {p.builder_id} and source "
                f"{p.source_repository}{ref}",
            },
        ],
    )


def registry_policy(model: TrustModel, mode: Mode) -> Manifest | None:
    """Images only from allowed registries (and by digest, when required), in every `mode` namespace."""
    scope = model.scope(mode)
    if not scope:
        return None
    allowed = " || ".join(f"image.startsWith({cel_string(r + '/')})" for r in model.allowed_registries)
    validations = [
        {
            "expression": f"variables.allImages.all(image, {allowed})",
            "message": f"images must come from {', '.join(model.allowed_registries)}",
        }
    ]
    digest = ""
    if model.require_digest:
        validations.append(
            {
                "expression": "variables.allImages.all(image, image.matches('@sha256:[0-9a-f]{64}$'))",
                "message": "images must be referenced by digest (name@sha256:...), not by tag",
            }
        )
        digest = " and referenced by digest, so the image that runs is the one that was verified"
    description = (
        "An image from a registry outside the chain never went through its signing and scanning. Every "
        f"container, init and ephemeral container image {scope_text(scope)} must come from "
        f"{', '.join(model.allowed_registries)}{digest}. Add registries under admission.allowedRegistries."
    )
    return {
        "apiVersion": API_VERSION,
        "kind": "ValidatingPolicy",
        "metadata": {
            "name": registry_policy_name(mode),
            "labels": labels(),
            "annotations": policy_annotations("Restrict image registries", "high", description),
        },
        "spec": {
            **mode_settings(mode),
            "webhookConfiguration": {"timeoutSeconds": 10},
            "evaluation": {"admission": {"enabled": True}, "background": {"enabled": True}},
            "matchConstraints": match_pods(scope),
            "matchConditions": match_conditions(),
            "variables": [{"name": "allImages", "expression": OBJECT_IMAGES}],
            "validations": validations,
        },
    }


def kyverno_policies(model: TrustModel) -> list[Manifest]:
    """Every Kyverno document of the stack: policies first, then the exceptions that name them."""
    policies: list[Manifest | None] = []
    for mode in ("enforce", "audit"):
        policies += [signature_policy(model, mode), registry_policy(model, mode)]
    for ns in model.namespaces:
        tenant = model.signers_of(ns)  # what runs in a tenant's namespace is attested by its signers too
        policies += [sbom_policy(tenant, ns), provenance_policy(model, ns), vulnerability_policy(tenant, ns)]
        policies += [signers_policy(model, ns), repositories_policy(model, ns)]
    rendered = [p for p in policies if p is not None]
    return rendered + [exception_manifest(model, e, rendered) for e in model.exemptions]
