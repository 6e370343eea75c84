"""Labels and tags the components put on what they create (one place, so checks can find them)."""

from __future__ import annotations

from components.config import StackConfig

ADMISSION_MODE_LABEL = "supply-chain/admission-mode"
"""On every namespace under admission: `audit` or `enforce`. Post-deploy checks compare it with config."""
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "pulumi-supply-chain"


def azure_tags(config: StackConfig, stack: str) -> dict[str, str]:
    """Tags for every Azure resource: the stack's own tags plus where the resource came from."""
    tags = dict(config.azure.tags) if config.azure else {}
    tags.setdefault("managed-by", MANAGED_BY)
    tags.setdefault("pulumi-stack", stack)
    return tags


POLICY_CONTROLLER_INCLUDE_LABEL = "policy.sigstore.dev/include"


def namespace_labels(mode: str, *, policy_controller: bool = False) -> dict[str, str]:
    """Labels of a namespace under admission. Policy Controller's ClusterImagePolicies cannot be
    scoped per namespace, so only enforce namespaces opt in to it; audit stays Kyverno's."""
    labels = {ADMISSION_MODE_LABEL: mode, MANAGED_BY_LABEL: MANAGED_BY}
    if policy_controller and mode == "enforce":
        labels[POLICY_CONTROLLER_INCLUDE_LABEL] = "true"
    return labels
