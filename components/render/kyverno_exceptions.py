"""Kyverno PolicyExceptions for the config's time-boxed exemptions."""

from __future__ import annotations

from components.model.contract import KYVERNO_NAMESPACE, kyverno_policies_for, registry_policy_name
from components.model.trust import Exemption, TrustModel
from components.render.cel import OBJECT_IMAGES, cel_string, glob_regex
from components.render.kyverno_common import API_VERSION, Manifest
from components.render.shared import labels


def _policies_for(model: TrustModel, policies: list[Manifest], namespace: str) -> list[dict[str, str]]:
    """The policies an exception lifts in `namespace`: every one that matches it but the registry
    allow-list (and digest rule), which no exception lifts (the config keeps exempted images in allowed
    registries)."""
    ns = model.namespace(namespace)
    names = kyverno_policies_for(ns.name, ns.mode) - {registry_policy_name(ns.mode)}
    return [{"kind": p["kind"], "name": p["metadata"]["name"]} for p in policies if p["metadata"]["name"] in names]


def exception_manifest(model: TrustModel, exemption: Exemption, policies: list[Manifest]) -> Manifest:
    """A PolicyException for one exemption, naming every rendered policy that matches its namespace."""
    # Kyverno exempts a whole request, so the condition holds only when every image of the pod is
    # one of the exempted ones: an exempted image cannot smuggle an unsigned sidecar in. Kyverno
    # drops an exception past `expiresAt` at its next reconcile, not per request; the config
    # refuses expired exceptions, so the next `pulumi up` removes it, and the checks report it.
    exempted = " || ".join(f"image.matches({cel_string(glob_regex(g))})" for g in exemption.images)
    return {
        "apiVersion": API_VERSION,
        "kind": "PolicyException",
        "metadata": {
            "name": exemption.name,
            "namespace": KYVERNO_NAMESPACE,
            "labels": labels(),
            "annotations": {
                "supply-chain/owner": exemption.owner,
                "supply-chain/reason": exemption.reason,
                "supply-chain/expires": exemption.expires.isoformat(),
                "supply-chain/namespace": exemption.namespace,
            },
        },
        "spec": {
            # No `images` field: for a ValidatingPolicy it would turn this into a partial exception
            # that only exposes the images to CEL; the condition below already names them.
            "policyRefs": _policies_for(model, policies, exemption.namespace),
            "expiresAt": f"{exemption.expires.isoformat()}T23:59:59Z",
            "matchConditions": [
                {
                    "name": "only-exempted-images-in-namespace",
                    "expression": f"request.namespace == {cel_string(exemption.namespace)}"
                    f" && ({OBJECT_IMAGES}).all(image, {exempted})",
                }
            ],
        },
    }
