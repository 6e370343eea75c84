"""The top component: builds the stack's pieces from one validated `StackConfig`."""

from __future__ import annotations

import pulumi
from pulumi_azure_native import resources

from components.cluster import kubernetes_provider
from components.config import StackConfig
from components.labels import azure_tags
from components.namespaces import AdmissionNamespaces


class SupplyChain(pulumi.ComponentResource):
    """The sign-and-admit chain for one stack. Children are created only for the sections the
    stack configures: Azure resources for Azure stacks, Kubernetes ones when a cluster is set."""

    resource_group_name: pulumi.Output[str] | None
    namespaces: pulumi.Output[dict[str, str]]

    def __init__(self, name: str, config: StackConfig, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("supply-chain:index:SupplyChain", name, {}, opts)
        stack = pulumi.get_stack()
        self.resource_group_name = None
        if config.azure is not None:
            group = resources.ResourceGroup(
                f"{name}-rg",
                resource_group_name=config.azure.resource_group_name,
                location=config.azure.location,
                tags=azure_tags(config, stack),
                opts=pulumi.ResourceOptions(parent=self),
            )
            self.resource_group_name = group.name

        modes: dict[str, str] = (
            {ns: cfg.mode for ns, cfg in config.admission.namespaces.items()} if config.admission else {}
        )
        self.namespaces = pulumi.Output.from_input(modes)
        if config.cluster is not None and config.admission is not None:
            provider = kubernetes_provider(f"{name}-k8s", config.cluster, parent=self)
            AdmissionNamespaces(
                f"{name}-ns", config.admission.namespaces, provider, opts=pulumi.ResourceOptions(parent=self)
            )

        self.register_outputs({"resourceGroupName": self.resource_group_name, "namespaces": self.namespaces})
