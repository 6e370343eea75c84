"""Helm values for the Sigstore Policy Controller chart (pure; every key exists in the pinned chart)."""

from __future__ import annotations

from typing import Any

from components.model.contract import (
    NEVER_MATCHED,
    POLICY_CONTROLLER_INCLUDE_LABEL,
    WORKLOAD_IDENTITY_CLIENT_ID_ANNOTATION,
    WORKLOAD_IDENTITY_USE_LABEL,
)

CHART = "policy-controller"
CHART_VERSION = "0.10.6"  # app 0.13.1; bump together with the schemas the tests validate against
CHART_REPOSITORY = "https://sigstore.github.io/helm-charts"
RELEASE_NAME = "policy-controller"
SERVICE_ACCOUNT = "policy-controller-webhook"
WEBHOOK_TIMEOUT_SECONDS = 15


def policy_controller_values(*, workload_identity_client_id: str | None = None) -> dict[str, Any]:
    """Values for a highly available webhook that denies images no policy matches."""
    service_account: dict[str, Any] = {"create": True, "name": SERVICE_ACCOUNT}
    webhook: dict[str, Any] = {
        "replicaCount": 3,
        "podDisruptionBudget": {"enabled": True, "minAvailable": 2},
        "failurePolicy": "Fail",
        # Set explicitly: an image no ClusterImagePolicy matches (a foreign registry) is refused.
        "configData": {"no-match-policy": "deny"},
        "namespaceSelector": {
            "matchExpressions": [
                {"key": POLICY_CONTROLLER_INCLUDE_LABEL, "operator": "In", "values": ["true"]},
                {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": list(NEVER_MATCHED)},
            ]
        },
        "serviceAccount": service_account,
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}},
    }
    if workload_identity_client_id is not None:
        service_account["annotations"] = {WORKLOAD_IDENTITY_CLIENT_ID_ANNOTATION: workload_identity_client_id}
        # The chart prints customLabels unquoted (`key: value`), which would make "true" a YAML
        # boolean and the Deployment invalid; the quotes survive into the rendered manifest.
        webhook["customLabels"] = {WORKLOAD_IDENTITY_USE_LABEL: '"true"'}
    return {
        "cosign": {
            "webhookTimeoutSeconds": {"mutating": WEBHOOK_TIMEOUT_SECONDS, "validating": WEBHOOK_TIMEOUT_SECONDS}
        },
        "webhook": webhook,
    }
