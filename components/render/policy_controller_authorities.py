"""What every Policy Controller ClusterImagePolicy is made of (pure functions): its metadata, the
authorities that may sign (keyless identities, keys) and the image globs of a namespace's repositories."""

from __future__ import annotations

from typing import Any

from components.model.contract import POLICY_CONTROLLER_TRUST_ROOT
from components.model.trust import KeyAuthority, NamespacePolicy, TrustModel
from components.render.shared import key_reference, keyless_identities, labels

API_VERSION = "policy.sigstore.dev/v1beta1"

Manifest = dict[str, Any]


def metadata(name: str, title: str, description: str) -> dict[str, Any]:
    """A policy's name, the stack's labels, and the title and description a cluster admin reads."""
    return {
        "name": name,
        "labels": labels(),
        "annotations": {"supply-chain/title": title, "supply-chain/description": description},
    }


def uses_trust_root(model: TrustModel) -> bool:
    """Whether the policies need a TrustRoot (a private Sigstore instance; public good is built in)."""
    return not model.sigstore.public_good


def _ctlog(model: TrustModel) -> dict[str, Any]:
    ctlog: dict[str, Any] = {"url": model.sigstore.rekor_url}
    if uses_trust_root(model):
        ctlog["trustRootRef"] = POLICY_CONTROLLER_TRUST_ROOT
    return ctlog


def _key_authority(model: TrustModel, key: KeyAuthority) -> dict[str, Any]:
    authority: dict[str, Any] = {
        "name": f"key-{key.name}".lower(),  # key names are [0-9A-Za-z-] (config): lowercase, a valid name
        "key": {**key_reference(key), "hashAlgorithm": key.hash_algorithm},
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


def tenant_globs(model: TrustModel, ns: NamespacePolicy) -> list[str]:
    """The image globs of `ns`'s repositories in the stack's registry. Policy Controller matches a glob against
    the whole reference, tag or digest included, and `*` stops only at `/`: a trailing `*` covers `:tag` and
    `@sha256:...` (and, fail-closed, same-prefix siblings)."""
    return [
        f"{registry}/{path}" + ("" if path.endswith("*") else "*")
        for registry in model.signed_registries
        for path in ns.repositories
    ]
