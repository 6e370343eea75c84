"""Sigstore Policy Controller documents rendered from the trust model (pure functions).

Policy Controller is the second, independent signature gate beside Kyverno. Its
`ClusterImagePolicy` (`policy.sigstore.dev/v1beta1`) applies in every namespace that opts in with
`policy.sigstore.dev/include: "true"` and cannot be scoped to one namespace, so:
- only `enforce` namespaces opt in (audit namespaces stay Kyverno's: a warn-mode policy would
  apply to the enforce namespaces too);
- it enforces what every enforce namespace shares: a signature by a trusted authority on every
  image of the stack's registry, and (with `no-match-policy: deny`) that images come from an
  allowed registry;
- an enforce namespace with tenant repositories gets its own policies over those repositories: its
  signers (`tenant-<ns>`) and its SBOM, provenance and scan requirements (`attest-*-<ns>`, see
  policy_controller_attestations). Exceptions stay Kyverno's; the config model refuses a stack that would
  need Policy Controller to honour one, or a requirement it cannot scope.
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
from components.model.trust import NamespacePolicy, TrustModel
from components.render.policy_controller_attestations import attestation_policies
from components.render.policy_controller_authorities import (
    API_VERSION,
    Manifest,
    authorities,
    metadata,
    tenant_globs,
    uses_trust_root,
)
from components.render.policy_controller_callers import caller_policy
from components.render.shared import has_authority

TRUST_ROOT_API_VERSION = "policy.sigstore.dev/v1alpha1"


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


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
        "metadata": metadata(
            POLICY_CONTROLLER_TRUST_ROOT,
            "Private Sigstore trust root",
            f"Fulcio, Rekor and CT log keys of {sig.rekor_url}",
        ),
        "spec": spec,
    }


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
        "metadata": metadata(POLICY_CONTROLLER_SIGNATURE_POLICY, "Verify image signatures", description),
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
    globs = tenant_globs(model, ns)
    description = (
        f"Images of {', '.join(ns.repositories)} (the repositories of {ns.name}) are signed by one of "
        f"{', '.join(ns.signers)}, whichever namespace runs them."
    )
    return {
        "apiVersion": API_VERSION,
        "kind": "ClusterImagePolicy",
        "metadata": metadata(tenant_image_policy_name(ns.name), f"Only {ns.name}'s signers", description),
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
        "metadata": metadata(allowed_registry_policy_name(registry), f"Allow {registry}", description),
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
    for ns in model.namespaces:
        docs += [tenant_policy(model, ns), *attestation_policies(model, ns)]
    docs += [allowed_registry_policy(r) for r in model.allowed_registries if r not in model.signed_registries]
    return [d for d in docs if d is not None]
