"""Kyverno, installed from its pinned chart, with the policies rendered from the trust model."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.admission.kyverno_policies import kyverno_policies
from components.admission.kyverno_values import CHART, CHART_REPOSITORY, CHART_VERSION, RELEASE_NAME, kyverno_values
from components.engine_release import apply_documents, pinned_release
from components.model.contract import KYVERNO_NAMESPACE
from components.model.trust import TrustModel


class KyvernoAdmission(pulumi.ComponentResource):
    """The Kyverno release and its policies. Policies depend on the release (its CRDs and
    webhooks), so they are never applied to a cluster that cannot enforce them."""

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
        super().__init__("supply-chain:kubernetes:KyvernoAdmission", name, {}, opts)
        child = pulumi.ResourceOptions(parent=self, provider=provider)
        values: pulumi.Input[Mapping[str, Any]]
        if workload_identity_client_id is None:
            values = kyverno_values(
                plain_http_registry=model.plain_http_registry, pull_secret=model.registry_pull_secret
            )
        else:
            values = pulumi.Output.from_input(workload_identity_client_id).apply(
                lambda client_id: kyverno_values(
                    workload_identity_client_id=client_id, plain_http_registry=model.plain_http_registry
                )
            )
        release = pinned_release(
            name,
            release_name=RELEASE_NAME,
            chart=CHART,
            version=CHART_VERSION,
            repository=CHART_REPOSITORY,
            namespace=KYVERNO_NAMESPACE,
            values=values,
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=list(depends_on))),
        )
        documents = apply_documents(name, model, kyverno_policies, release, child, generated_public_keys)
        self.policy_names = [d["metadata"]["name"] for d in documents if d["kind"] != "PolicyException"]
        self.register_outputs({"policyNames": self.policy_names})
