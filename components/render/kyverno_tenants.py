"""Kyverno policies that bind a namespace to its tenant: only its own signers sign what runs there, and
its images come from its own repositories of the stack's registry. A storefront pipeline, trusted as it
is, cannot ship into payments."""

from __future__ import annotations

import re

from components.model.contract import repositories_policy_name, repository_glob_regex, signers_policy_name
from components.model.trust import NamespacePolicy, NamespaceScope, TrustModel
from components.render.cel import OBJECT_IMAGES, cel_string
from components.render.kyverno_attestors import any_of, image_policy
from components.render.kyverno_common import (
    API_VERSION,
    Manifest,
    match_conditions,
    match_pods,
    mode_settings,
    policy_annotations,
)
from components.render.shared import has_authority, labels


def repository_regex(registry: str, glob: str) -> str:
    """An anchored RE2 pattern for images of `registry` whose repository path matches `glob` (`*` within
    one path segment), by tag or digest."""
    path = repository_glob_regex(glob)
    return f"^{re.escape(registry)}/{path}(:[A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}})?(@sha256:[0-9a-f]{{64}})?$"


def signers_policy(model: TrustModel, ns: NamespacePolicy) -> Manifest | None:
    """Every image from the stack's registry in `ns` signed by one of the namespace's own signers."""
    tenant = model.signers_of(ns)
    if not ns.signers or not has_authority(tenant):
        return None
    registries = ", ".join(model.signed_registries)
    verified = any_of(tenant, "verifyImageSignatures(image, {attestor})")
    description = (
        "Every trusted signer can sign for any namespace unless namespaces name their own: another team's "
        f"pipeline could ship into {ns.name}. Every container, init and ephemeral container image from "
        f"{registries} in {ns.name} must be signed by one of {', '.join(ns.signers)}."
    )
    return image_policy(
        tenant,
        signers_policy_name(ns.name),
        ns.mode,
        NamespaceScope(False, listed=(ns.name,)),
        policy_annotations(f"Only {ns.name}'s signers", "high", description),
        [],
        [
            {
                "expression": f"variables.allImages.all(image, {verified})",
                "message": f"image is not signed by one of {ns.name}'s signers ({', '.join(ns.signers)})",
            }
        ],
    )


def repositories_policy(model: TrustModel, ns: NamespacePolicy) -> Manifest | None:
    """Every image from the stack's registry in `ns` from one of the namespace's repositories."""
    if not ns.repositories:
        return None
    elsewhere = " || ".join(f"image.startsWith({cel_string(r + '/')})" for r in model.signed_registries)
    owned = " || ".join(
        f"image.matches({cel_string(repository_regex(r, glob))})"
        for r in model.signed_registries
        for glob in ns.repositories
    )
    paths = ", ".join(ns.repositories)
    description = (
        "Anyone who can push to the registry can name any repository; a namespace that takes images from any "
        f"of them runs another team's builds. Images from {', '.join(model.signed_registries)} in {ns.name} "
        f"must come from {paths}."
    )
    return {
        "apiVersion": API_VERSION,
        "kind": "ValidatingPolicy",
        "metadata": {
            "name": repositories_policy_name(ns.name),
            "labels": labels(),
            "annotations": policy_annotations(f"Only {ns.name}'s repositories", "high", description),
        },
        "spec": {
            **mode_settings(ns.mode),
            "webhookConfiguration": {"timeoutSeconds": 10},
            "evaluation": {"admission": {"enabled": True}, "background": {"enabled": True}},
            "matchConstraints": match_pods(NamespaceScope(False, listed=(ns.name,))),
            "matchConditions": match_conditions(),
            "variables": [{"name": "allImages", "expression": OBJECT_IMAGES}],
            "validations": [
                {
                    "expression": f"variables.allImages.all(image, !({elsewhere}) || {owned})",
                    "message": f"images of this registry in {ns.name} must come from {paths}",
                }
            ],
        },
    }
