"""Sigstore Policy Controller documents rendered from the trust model (pure functions).

Policy Controller is the second, independent signature gate beside Kyverno. Its
`ClusterImagePolicy` (`policy.sigstore.dev/v1beta1`) applies in every namespace that opts in with
`policy.sigstore.dev/include: "true"` and cannot be scoped to one namespace, so:
- only `enforce` namespaces opt in (audit namespaces stay Kyverno's: a warn-mode policy would
  apply to the enforce namespaces too);
- it enforces what every enforce namespace shares: a signature by a trusted authority on every
  image of the stack's registry, and (with `no-match-policy: deny`) that images come from an
  allowed registry. Per-namespace attestations and exceptions are Kyverno's; the config model
  refuses a stack that would need Policy Controller to honour them.
"""

from __future__ import annotations

import base64
from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID

from components.model.contract import (
    POLICY_CONTROLLER_SIGNATURE_POLICY,
    POLICY_CONTROLLER_TRUST_ROOT,
    allowed_registry_policy_name,
    tenant_image_policy_name,
)
from components.model.trust import KeyAuthority, NamespacePolicy, TrustModel
from components.render.policy_controller_callers import caller_policy
from components.render.shared import has_authority, key_reference, keyless_identities, labels

API_VERSION = "policy.sigstore.dev/v1beta1"
TRUST_ROOT_API_VERSION = "policy.sigstore.dev/v1alpha1"

Manifest = dict[str, Any]


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _metadata(name: str, title: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "labels": labels(),
        "annotations": {"supply-chain/title": title, "supply-chain/description": description},
    }


def _authority(uri: str, chain_pem: str) -> dict[str, Any]:
    """A certificate authority entry, its subject read from the chain's first certificate (the config
    model refuses a chain whose certificates do not parse)."""
    subject = x509.load_pem_x509_certificate(chain_pem.encode()).subject
    organization = ", ".join(str(a.value) for a in subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME))
    common_name = ", ".join(str(a.value) for a in subject.get_attributes_for_oid(NameOID.COMMON_NAME))
    return {
        "subject": {"organization": organization, "commonName": common_name},
        "uri": uri,
        "certChain": _b64(chain_pem),
    }


def uses_trust_root(model: TrustModel) -> bool:
    """Whether the policies need a TrustRoot (a private Sigstore instance; public good is built in)."""
    return not model.sigstore.public_good


def trust_root(model: TrustModel) -> Manifest | None:
    """The private Sigstore instance's trust material (public good needs none: it is embedded)."""
    if not uses_trust_root(model):
        return None
    sig = model.sigstore
    spec: dict[str, Any]
    if sig.tuf_mirror and sig.tuf_root:
        spec = {"remote": {"mirror": sig.tuf_mirror, "root": sig.tuf_root}}
    else:
        # Policy Controller requires subject and uri on authorities and baseURL on logs.
        keys: dict[str, Any] = {"certificateAuthorities": []}
        if sig.fulcio_roots and sig.fulcio_url:
            keys["certificateAuthorities"].append(_authority(sig.fulcio_url, sig.fulcio_roots))
        if sig.rekor_public_key:
            keys["tLogs"] = [
                {"baseURL": sig.rekor_url, "hashAlgorithm": "sha-256", "publicKey": _b64(sig.rekor_public_key)}
            ]
        if sig.ct_log_public_key and sig.ct_log_url:
            keys["ctLogs"] = [
                {"baseURL": sig.ct_log_url, "hashAlgorithm": "sha-256", "publicKey": _b64(sig.ct_log_public_key)}
            ]
        if sig.tsa_cert_chain and sig.tsa_url:
            keys["timestampAuthorities"] = [_authority(sig.tsa_url, sig.tsa_cert_chain)]
        spec = {"sigstoreKeys": keys}
    return {
        "apiVersion": TRUST_ROOT_API_VERSION,
        "kind": "TrustRoot",
        "metadata": _metadata(
            POLICY_CONTROLLER_TRUST_ROOT,
            "Private Sigstore trust root",
            f"Fulcio, Rekor and CT log keys of {sig.rekor_url}",
        ),
        "spec": spec,
    }


def _ctlog(model: TrustModel) -> dict[str, Any]:
    ctlog: dict[str, Any] = {"url": model.sigstore.rekor_url}
    if uses_trust_root(model):
        ctlog["trustRootRef"] = POLICY_CONTROLLER_TRUST_ROOT
    return ctlog


def _key_authority(model: TrustModel, key: KeyAuthority) -> dict[str, Any]:
    authority: dict[str, Any] = {
        "name": f"key-{key.name}".lower(),  # key names are [0-9A-Za-z-] (config): lowercase, a valid name
        "key": {**key_reference(key), "hashAlgorithm": "sha256"},
        "signatureFormat": model.signature_format,
    }
    if key.transparency_log_required:
        authority["ctlog"] = _ctlog(model)  # without ctlog, Policy Controller skips the log
    return authority


def authorities(model: TrustModel) -> list[dict[str, Any]]:
    """Any one of these must verify: the keyless identities (one authority), then each key."""
    out: list[dict[str, Any]] = []
    if model.keyless:
        keyless: dict[str, Any] = {"identities": keyless_identities(model)}
        if uses_trust_root(model):
            keyless["trustRootRef"] = POLICY_CONTROLLER_TRUST_ROOT
        out.append(
            {"name": "keyless", "keyless": keyless, "ctlog": _ctlog(model), "signatureFormat": model.signature_format}
        )
    out += [_key_authority(model, key) for key in model.keys]
    return out


def _glob(registry: str) -> str:
    return f"{registry}/**"


def signature_policy(model: TrustModel) -> Manifest:
    """Every image from the stack's registry signed by a trusted authority (enforce namespaces)."""
    registries = ", ".join(model.signed_registries)
    description = (
        f"Second, independent gate: every image from {registries} in enforce namespaces is signed by one of the "
        "trusted authorities (the same trust model Kyverno enforces)."
    )
    return {
        "apiVersion": API_VERSION,
        "kind": "ClusterImagePolicy",
        "metadata": _metadata(POLICY_CONTROLLER_SIGNATURE_POLICY, "Verify image signatures", description),
        "spec": {
            "mode": "enforce",
            "images": [{"glob": _glob(r)} for r in model.signed_registries],
            "authorities": authorities(model),
            **_callers(model),
        },
    }


def _callers(model: TrustModel) -> dict[str, Any]:
    policy = caller_policy(model)
    return {"policy": policy} if policy is not None else {}


def tenant_policy(model: TrustModel, ns: NamespacePolicy) -> Manifest | None:
    """A namespace's repositories signed by its own signers. Policy Controller cannot select namespaces,
    but it selects images: with Kyverno keeping each namespace to its repositories, the two together bind
    a tenant's images to its signers (every matching policy must pass)."""
    tenant = model.signers_of(ns)
    if ns.mode != "enforce" or not ns.signers or not ns.repositories or not has_authority(tenant):
        return None
    # Policy Controller matches a glob against the whole reference, tag or digest included, and `*` stops
    # only at `/`: a trailing `*` covers `:tag` and `@sha256:...` (and, fail-closed, same-prefix siblings)
    globs = [
        f"{registry}/{path}" + ("" if path.endswith("*") else "*")
        for registry in model.signed_registries
        for path in ns.repositories
    ]
    description = (
        f"Images of {', '.join(ns.repositories)} (the repositories of {ns.name}) are signed by one of "
        f"{', '.join(ns.signers)}, whichever namespace runs them."
    )
    return {
        "apiVersion": API_VERSION,
        "kind": "ClusterImagePolicy",
        "metadata": _metadata(tenant_image_policy_name(ns.name), f"Only {ns.name}'s signers", description),
        "spec": {
            "mode": "enforce",
            "images": [{"glob": g} for g in globs],
            "authorities": authorities(tenant),
            **_callers(tenant),
        },
    }


def allowed_registry_policy(registry: str) -> Manifest:
    """Images from an extra allowed registry pass (with no-match-policy deny, all others are refused)."""
    description = (
        f"Images from {registry} are admitted without a signature check (admission.allowedRegistries); with "
        "no-match-policy deny, images from any registry without a policy are refused."
    )
    return {
        "apiVersion": API_VERSION,
        "kind": "ClusterImagePolicy",
        "metadata": _metadata(allowed_registry_policy_name(registry), f"Allow {registry}", description),
        "spec": {
            "mode": "enforce",
            "images": [{"glob": _glob(registry)}],
            "authorities": [{"name": "allowed-registry", "static": {"action": "pass"}}],
        },
    }


def policy_controller_policies(model: TrustModel) -> list[Manifest]:
    """Every Policy Controller document of the stack (nothing when no namespace enforces)."""
    if not model.in_mode("enforce") or not has_authority(model):
        return []
    docs: list[Manifest | None] = [trust_root(model), signature_policy(model)]
    docs += [tenant_policy(model, ns) for ns in model.namespaces]
    docs += [allowed_registry_policy(r) for r in model.allowed_registries if r not in model.signed_registries]
    return [d for d in docs if d is not None]
