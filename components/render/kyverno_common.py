"""What every Kyverno policy of the project shares: API version, annotations, what it matches, modes."""

from __future__ import annotations

from typing import Any

from components.model.contract import NEVER_MATCHED, Mode

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


def match_pods(namespaces: list[str]) -> dict[str, Any]:
    """Pods (and ephemeral containers) created or updated in the named namespaces, never in NEVER_MATCHED."""
    return {
        "resourceRules": [
            {
                "apiGroups": [""],
                "apiVersions": ["v1"],
                "operations": ["CREATE", "UPDATE"],
                "resources": ["pods", "pods/ephemeralcontainers"],
            }
        ],
        "namespaceSelector": {
            "matchExpressions": [
                {"key": "kubernetes.io/metadata.name", "operator": "In", "values": sorted(namespaces)},
                {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": list(NEVER_MATCHED)},
            ]
        },
    }


def mode_settings(mode: Mode) -> dict[str, Any]:
    """Enforce denies and fails closed; audit only reports and ignores engine errors."""
    if mode == "enforce":
        return {"validationActions": ["Deny"], "failurePolicy": "Fail"}
    return {"validationActions": ["Audit"], "failurePolicy": "Ignore"}
