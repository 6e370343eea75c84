"""Sigstore Policy Controller, installed from its pinned chart, with policies from the trust model."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.admission.policy_controller_policies import policy_controller_policies
from components.admission.policy_controller_values import (
    CHART,
    CHART_REPOSITORY,
    CHART_VERSION,
    RELEASE_NAME,
    policy_controller_values,
)
from components.engine_release import apply_documents, pinned_release
from components.model.contract import POLICY_CONTROLLER_NAMESPACE
from components.model.trust import TrustModel


class PolicyControllerAdmission(pulumi.ComponentResource):
    """The Policy Controller release and its ClusterImagePolicies (applied after the release)."""

    policy_names: list[str]

    def __init__(
        self,
        name: str,
        model: TrustModel,
        provider: k8s.Provider,
        *,
        workload_identity_client_id: pulumi.Input[str] | None = None,
        generated_public_keys: pulumi.Input[Mapping[str, str]] | None = None,
        depends_on: Sequence[pulumi.Resource] = (),
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("supply-chain:kubernetes:PolicyControllerAdmission", name, {}, opts)
        child = pulumi.ResourceOptions(parent=self, provider=provider)
        values: pulumi.Input[Mapping[str, Any]]
        if workload_identity_client_id is None:
            values = policy_controller_values()
        else:
            values = pulumi.Output.from_input(workload_identity_client_id).apply(
                lambda client_id: policy_controller_values(workload_identity_client_id=client_id)
            )
        release = pinned_release(
            name,
            release_name=RELEASE_NAME,
            chart=CHART,
            version=CHART_VERSION,
            repository=CHART_REPOSITORY,
            namespace=POLICY_CONTROLLER_NAMESPACE,
            values=values,
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=list(depends_on))),
        )
        documents = apply_documents(name, model, policy_controller_policies, release, child, generated_public_keys)
        self.policy_names = [d["metadata"]["name"] for d in documents if d["kind"] == "ClusterImagePolicy"]
        self.register_outputs({"policyNames": self.policy_names})
