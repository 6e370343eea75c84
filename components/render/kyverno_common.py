"""What every Kyverno policy of the project shares: API version, annotations, what it matches, modes."""

from __future__ import annotations

from typing import Any

from components.model.contract import NEVER_MATCHED, Mode
from components.model.trust import NamespaceScope
from components.render.cel import OBJECT_IMAGES, OLD_OBJECT_IMAGES

API_VERSION = "policies.kyverno.io/v1"
MIN_VERSION = "1.19.0"
CATEGORY = "Software Supply Chain Security"
WEBHOOK_TIMEOUT_SECONDS = 15  # registry + Rekor round trips; the API server's limit is 30

Manifest = dict[str, Any]


def policy_annotations(title: str, severity: str, description: str) -> dict[str, str]:
    """The full kyverno/policies annotation set of one policy (risk first in the description)."""
    return {
        "policies.kyverno.io/title": title,
        "policies.kyverno.io/category": CATEGORY,
        "policies.kyverno.io/severity": severity,
        "policies.kyverno.io/subject": "Pod",
        "policies.kyverno.io/minversion": MIN_VERSION,
        "policies.kyverno.io/description": description,
    }


def match_pods(scope: NamespaceScope) -> dict[str, Any]:
    """Pods (and ephemeral containers) created or updated in the scope's namespaces, never in NEVER_MATCHED."""
    if scope.everything:
        selector = [
            {
                "key": "kubernetes.io/metadata.name",
                "operator": "NotIn",
                "values": sorted({*scope.excluded, *NEVER_MATCHED}),
            }
        ]
    else:
        selector = [
            {"key": "kubernetes.io/metadata.name", "operator": "In", "values": sorted(scope.listed)},
            {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": list(NEVER_MATCHED)},
        ]
    return {
        "resourceRules": [
            {
                "apiGroups": [""],
                "apiVersions": ["v1"],
                "operations": ["CREATE", "UPDATE"],
                "resources": ["pods", "pods/ephemeralcontainers"],
            }
        ],
        "namespaceSelector": {"matchExpressions": selector},
    }


IMAGES_CHANGED = (
    "!has(request.operation) || request.operation != 'UPDATE'"
    " || request.subResource == 'ephemeralcontainers'"
    f" || ({OBJECT_IMAGES}) != ({OLD_OBJECT_IMAGES})"
)
"""Re-verify a pod on UPDATE only when its images change (and always for `kubectl debug`): a pod whose
image no longer verifies (purged, rotated key, log outage) can still have its labels or finalizers
edited, and nothing can swap an image in without a fresh check."""


def match_conditions() -> list[dict[str, str]]:
    """The conditions every pod policy adds to its match: creations, debug containers, and image changes."""
    return [{"name": "created-or-images-changed", "expression": IMAGES_CHANGED}]


def mode_settings(mode: Mode) -> dict[str, Any]:
    """Enforce denies and fails closed; audit only reports and ignores engine errors."""
    if mode == "enforce":
        return {"validationActions": ["Deny"], "failurePolicy": "Fail"}
    return {"validationActions": ["Audit"], "failurePolicy": "Ignore"}
