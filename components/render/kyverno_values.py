"""Helm values for the Kyverno chart (pure). Every key exists in the pinned chart's values.yaml:
Helm ignores a misspelled key without a word, and tests check them against the upstream file."""

from __future__ import annotations

from typing import Any

from components.model.contract import (
    KYVERNO_NAMESPACE,
    NEVER_MATCHED,
    WORKLOAD_IDENTITY_CLIENT_ID_ANNOTATION,
    WORKLOAD_IDENTITY_USE_LABEL,
)

CHART = "kyverno"
CHART_VERSION = "3.9.0"  # app v1.19.0; bump together with the schemas the tests validate against
CHART_REPOSITORY = "https://kyverno.github.io/kyverno/"
RELEASE_NAME = "kyverno"  # fixes the service account names the federated credentials name
ADMISSION_SERVICE_ACCOUNT = "kyverno-admission-controller"
REPORTS_SERVICE_ACCOUNT = "kyverno-reports-controller"

# Verification results are cached so a scale-out does not hammer the registry and Rekor; a short
# TTL bounds how long an image stays admitted after its signature or the trust root changes.
IMAGE_VERIFY_CACHE_ARGS = {
    "imageVerifyCacheEnabled": True,
    "imageVerifyCacheTTLDuration": "10m",
    "imageVerifyCacheMaxSize": 2000,
}


def kyverno_values(
    *,
    workload_identity_client_id: str | None = None,
    plain_http_registry: bool = False,
    pull_secret: str | None = None,
) -> dict[str, Any]:
    """Values for a highly available Kyverno that verifies images.

    `workload_identity_client_id` (AKS): the admission and reports controllers read ACR and Key
    Vault as that managed identity (Azure workload identity); no secret is stored anywhere.
    `pull_secret` (local clusters): an existing Secret in the kyverno namespace for the registry;
    without one a local registry is read anonymously.
    """
    identity_sa: dict[str, Any] = {}
    identity_pod_labels: dict[str, str] = {}
    if workload_identity_client_id is not None:
        identity_sa = {"annotations": {WORKLOAD_IDENTITY_CLIENT_ID_ANNOTATION: workload_identity_client_id}}
        identity_pod_labels = {WORKLOAD_IDENTITY_USE_LABEL: "true"}

    admission: dict[str, Any] = {
        "replicas": 3,
        "podDisruptionBudget": {"enabled": True, "minAvailable": 2},
        "container": {
            "resources": {"requests": {"cpu": "200m", "memory": "256Mi"}, "limits": {"memory": "768Mi"}},
            "extraArgs": dict(IMAGE_VERIFY_CACHE_ARGS),
        },
    }
    # The reports controller re-verifies images in background scans (audit readiness reports).
    reports: dict[str, Any] = {"replicas": 1}
    if identity_sa:
        admission["rbac"] = {"serviceAccount": identity_sa}
        admission["podLabels"] = identity_pod_labels
        reports["rbac"] = {"serviceAccount": identity_sa}
        reports["podLabels"] = identity_pod_labels

    registry_client: dict[str, Any] = {"allowInsecure": plain_http_registry}
    if workload_identity_client_id is not None:
        registry_client["credentialHelpers"] = ["azure"]  # ACR via the workload identity token only

    values: dict[str, Any] = {
        "admissionController": admission,
        "reportsController": reports,
        "features": {
            # Exceptions only from the kyverno namespace, which only cluster admins can write to.
            "policyExceptions": {"enabled": True, "namespace": KYVERNO_NAMESPACE},
            "registryClient": registry_client,
        },
        "config": {
            "excludeKyvernoNamespace": True,
            "webhooks": {
                "namespaceSelector": {
                    "matchExpressions": [
                        {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": list(NEVER_MATCHED)}
                    ]
                }
            },
        },
    }
    if pull_secret is not None:
        values["existingImagePullSecrets"] = [pull_secret]
    return values
