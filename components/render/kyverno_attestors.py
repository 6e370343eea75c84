"""Kyverno's side of who may sign: attestors from the trust model, the any-of over them, and the
ImageValidatingPolicy every image policy is built on."""

from __future__ import annotations

import re
from typing import Any

from components.model.contract import NEVER_MATCHED, Mode
from components.model.trust import KeyAuthority, NamespaceScope, TrustModel
from components.render.cel import POLICY_IMAGES
from components.render.kyverno_common import (
    API_VERSION,
    WEBHOOK_TIMEOUT_SECONDS,
    Manifest,
    match_conditions,
    match_pods,
    mode_settings,
)
from components.render.shared import key_reference, keyless_identities, labels


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
        # A pinned public key is verified offline; otherwise Kyverno reads the key from the KMS.
        reference: dict[str, str] = key_reference(key)
        if key.verified_offline and key.hash_algorithm != "sha256":
            reference["hashAlgorithm"] = key.hash_algorithm  # Kyverno assumes SHA-256 for a PEM otherwise
        cosign = {"key": reference, "ctlog": _ctlog(model, key)}
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


def any_of(model: TrustModel, call: str) -> str:
    """`call` (with `{attestor}` in it) for each attestor, any one of which suffices. One attestor
    per call: Kyverno caches a verification only when every attestor in the call verified, so a
    list of alternatives would never be cached."""
    calls = [call.format(attestor=f"[attestors.{a['name']}]") + " > 0" for a in attestors(model)]
    return "(" + " || ".join(calls) + ")"


def scope_text(scope: NamespaceScope) -> str:
    """Where a policy applies, as its description says it."""
    if scope.everything:
        return f"in every namespace but {', '.join(sorted({*scope.excluded, *NEVER_MATCHED}))}"
    return f"in {', '.join(scope.listed)}"


def authorities_text(model: TrustModel) -> str:
    """Every authority of the model, as a reviewer reads them."""
    return "; ".join([k.describe() for k in model.keyless] + [k.describe() for k in model.keys])


def image_policy(
    model: TrustModel,
    name: str,
    mode: Mode,
    scope: NamespaceScope,
    annotations: dict[str, str],
    attestations: list[dict[str, Any]],
    validations: list[dict[str, str]],
) -> Manifest:
    """An ImageValidatingPolicy over the stack's registry in `scope`, verifying with the model's attestors."""
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
