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

import re
from typing import Any

from components.model.contract import (
    NEVER_MATCHED,
    SLSA_PROVENANCE_V02,
    SLSA_PROVENANCE_V1,
    Mode,
    provenance_policy_name,
    registry_policy_name,
    sbom_policy_name,
    signature_policy_name,
)
from components.model.trust import KeyAuthority, NamespacePolicy, NamespaceScope, TrustModel
from components.render.cel import OBJECT_IMAGES, POLICY_IMAGES, cel_string
from components.render.kyverno_common import (
    API_VERSION,
    WEBHOOK_TIMEOUT_SECONDS,
    Manifest,
    match_conditions,
    match_pods,
    mode_settings,
    policy_annotations,
)
from components.render.kyverno_exceptions import exception_manifest
from components.render.shared import has_authority, key_reference, keyless_identities, labels


def _ident(name: str) -> str:
    return re.sub(r"[^0-9A-Za-z_]", "_", name)


def _ctlog(model: TrustModel, key: KeyAuthority | None = None) -> dict[str, Any]:
    sig = model.sigstore
    ctlog: dict[str, Any] = {"url": sig.rekor_url}
    if sig.rekor_public_key:
        ctlog["rekorPubKey"] = sig.rekor_public_key
    if sig.ct_log_public_key:
        ctlog["ctLogPubKey"] = sig.ct_log_public_key
    if sig.tsa_cert_chain:
        ctlog["tsaCertChain"] = sig.tsa_cert_chain
    if key is not None and not key.transparency_log_required:
        ctlog["insecureIgnoreTlog"] = True  # spelled out in stack config, refused in prod, flagged by review
    return ctlog


def attestors(model: TrustModel) -> list[dict[str, Any]]:
    """One cosign attestor for all keyless identities (any one of them), one per key."""
    sig = model.sigstore
    out: list[dict[str, Any]] = []
    if model.keyless:
        keyless: dict[str, Any] = {"identities": keyless_identities(model)}
        if sig.fulcio_roots:
            keyless["roots"] = sig.fulcio_roots
        out.append({"name": "keyless", "cosign": {"keyless": keyless, "ctlog": _ctlog(model), **_tuf(model)}})
    for key in model.keys:
        # A pinned public key is verified offline; otherwise Kyverno reads the key from the vault.
        cosign = {"key": key_reference(key), "ctlog": _ctlog(model, key)}
        if key.transparency_log_required:
            cosign.update(_tuf(model))
        out.append({"name": f"key_{_ident(key.name)}", "cosign": cosign})
    return out


def _tuf(model: TrustModel) -> dict[str, Any]:
    """A private instance's TUF repository, on every attestor that checks the log: Kyverno loads
    each attestor's trusted root (bundle verification uses it) from TUF, public good by default."""
    sig = model.sigstore
    if sig.tuf_mirror and sig.tuf_root:
        return {"tuf": {"mirror": sig.tuf_mirror, "root": {"data": sig.tuf_root}}}
    return {}


def _any_of(model: TrustModel, call: str) -> str:
    """`call` (with `{attestor}` in it) for each attestor, any one of which suffices. One attestor
    per call: Kyverno caches a verification only when every attestor in the call verified, so a
    list of alternatives would never be cached."""
    calls = [call.format(attestor=f"[attestors.{a['name']}]") + " > 0" for a in attestors(model)]
    return "(" + " || ".join(calls) + ")"


def _scope_text(scope: NamespaceScope) -> str:
    if scope.everything:
        return f"in every namespace but {', '.join(sorted({*scope.excluded, *NEVER_MATCHED}))}"
    return f"in {', '.join(scope.listed)}"


def _authorities_text(model: TrustModel) -> str:
    return "; ".join([k.describe() for k in model.keyless] + [k.describe() for k in model.keys])


def _image_policy(
    model: TrustModel,
    name: str,
    mode: Mode,
    scope: NamespaceScope,
    annotations: dict[str, str],
    attestations: list[dict[str, Any]],
    validations: list[dict[str, str]],
) -> Manifest:
    # Enforce: verify the digest that runs. If digests are not required, Kyverno pins the tag it
    # verified (mutateDigest), so a tag moved after admission cannot swap the image; GitOps tools
    # then see the digest as drift (README). Audit never mutates.
    mutate = mode == "enforce" and not model.require_digest
    spec: dict[str, Any] = {
        **mode_settings(mode),
        "webhookConfiguration": {"timeoutSeconds": WEBHOOK_TIMEOUT_SECONDS},
        "evaluation": {"admission": {"enabled": True}, "background": {"enabled": True}},
        "matchConstraints": match_pods(scope),
        "matchConditions": match_conditions(),
        "matchImageReferences": [{"glob": f"{registry}/*"} for registry in model.signed_registries],
        "validationConfigurations": {
            "mutateDigest": mutate,
            "verifyDigest": mode == "enforce",
            "required": True,
        },
        "attestors": attestors(model),
        "variables": [{"name": "allImages", "expression": POLICY_IMAGES}],
        "validations": validations,
    }
    credentials: dict[str, Any] = {}
    if model.plain_http_registry:
        credentials["allowInsecureRegistry"] = True
    if model.registry_pull_secret:
        credentials["secrets"] = [model.registry_pull_secret]
    if credentials:
        # replaces Kyverno's global registry options for this policy: only for local registries
        spec["credentials"] = credentials
    if attestations:
        spec["attestations"] = attestations
    return {
        "apiVersion": API_VERSION,
        "kind": "ImageValidatingPolicy",
        "metadata": {"name": name, "labels": labels(), "annotations": annotations},
        "spec": spec,
    }


def signature_policy(model: TrustModel, mode: Mode) -> Manifest | None:
    """Every image from the stack's registry signed by a trusted authority, in every `mode` namespace."""
    scope = model.scope(mode)
    if not scope or not has_authority(model):
        return None
    registries = ", ".join(model.signed_registries)
    description = (
        "An unsigned image, or one signed by anyone outside the trust root, may have been built outside "
        f"the reviewed pipeline or altered after it. Every container, init and ephemeral container image from "
        f"{registries} {_scope_text(scope)} must carry a signature by one of: {_authorities_text(model)}. Sign "
        "with cosign as the README's signer section shows."
    )
    return _image_policy(
        model,
        signature_policy_name(mode),
        mode,
        scope,
        policy_annotations("Verify image signatures", "high", description),
        [],
        [
            {
                "expression": (
                    f"variables.allImages.all(image, {_any_of(model, 'verifyImageSignatures(image, {attestor})')})"
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
    verify = _any_of(model, "verifyAttestationSignatures(image, attestations.sbom, {attestor})")
    return _image_policy(
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


def _provenance_v1(ns: NamespacePolicy) -> str:
    assert ns.provenance is not None
    p = ns.provenance
    payload = "extractPayload(image, attestations.slsa_v1).predicate"
    source = f"d.uri == {cel_string(p.source_uri)}" if p.source_ref else f"d.uri.startsWith({cel_string(p.source_uri)})"
    return (
        f"{payload}.runDetails.builder.id == {cel_string(p.builder_id)}"
        f" && {payload}.buildDefinition.resolvedDependencies.exists(d, has(d.uri) && {source})"
    )


def _provenance_v02(ns: NamespacePolicy) -> str:
    assert ns.provenance is not None
    p = ns.provenance
    payload = "extractPayload(image, attestations.slsa_v02).predicate"
    uri = f"{payload}.invocation.configSource.uri"
    source = f"{uri} == {cel_string(p.source_uri)}" if p.source_ref else f"{uri}.startsWith({cel_string(p.source_uri)})"
    return f"{payload}.builder.id == {cel_string(p.builder_id)} && {source}"


def provenance_policy(model: TrustModel, ns: NamespacePolicy) -> Manifest | None:
    """Signed SLSA provenance naming the namespace's builder and source, on every image admitted there."""
    if ns.provenance is None or not has_authority(model):
        return None
    p = ns.provenance
    ref = f" at {p.source_ref}" if p.source_ref else ""
    description = (
        "An image built by an unknown builder or from an unreviewed source can carry anything. Every image "
        f"admitted in {ns.name} must carry SLSA provenance (v1 or v0.2) signed by a trusted signer, naming "
        f"builder {p.builder_id} and source {p.source_repository}{ref}. Generate it in the build workflow and "
        "attest with `cosign attest --type slsaprovenance1` (or `slsaprovenance02`)."
    )
    v1 = _any_of(model, "verifyAttestationSignatures(image, attestations.slsa_v1, {attestor})")
    v02 = _any_of(model, "verifyAttestationSignatures(image, attestations.slsa_v02, {attestor})")
    return _image_policy(
        model,
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
                "message": "image has no SLSA provenance attestation signed by a trusted signer",
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
        f"container, init and ephemeral container image {_scope_text(scope)} must come from "
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
        policies += [sbom_policy(model, ns), provenance_policy(model, ns)]
    rendered = [p for p in policies if p is not None]
    return rendered + [exception_manifest(model, e, rendered) for e in model.exemptions]
