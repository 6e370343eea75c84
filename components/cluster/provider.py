"""The Kubernetes provider for the stack's cluster: a kubeconfig context, or an AKS cluster by id."""

from __future__ import annotations

import base64

import pulumi
import pulumi_kubernetes as k8s
from pulumi_azure_native import containerservice

from components.model.config import ClusterConfig


def aks_parts(cluster_id: str) -> tuple[str, str]:
    """The resource group and name of an AKS cluster, from its resource id."""
    parts = cluster_id.split("/")
    return parts[4], parts[8]  # resourceGroups/<rg> ... managedClusters/<name>


def kubernetes_provider(name: str, cluster: ClusterConfig, parent: pulumi.Resource) -> k8s.Provider:
    """A provider bound to exactly one cluster; never the ambient kubeconfig default context,
    so `pulumi up` on the wrong shell cannot install admission into the wrong cluster."""
    opts = pulumi.ResourceOptions(parent=parent)
    if cluster.kubeconfig_context is not None:
        return k8s.Provider(name, context=cluster.kubeconfig_context, opts=opts)
    assert cluster.aks_cluster_id is not None  # the config model guarantees one of the two
    resource_group, cluster_name = aks_parts(cluster.aks_cluster_id)
    credentials = containerservice.list_managed_cluster_user_credentials_output(
        resource_group_name=resource_group, resource_name=cluster_name, opts=pulumi.InvokeOutputOptions(parent=parent)
    )
    kubeconfig: pulumi.Output[str] = credentials.kubeconfigs.apply(lambda kcs: base64.b64decode(kcs[0].value).decode())
    secret_kubeconfig: pulumi.Output[str] = pulumi.Output.secret(kubeconfig)
    return k8s.Provider(name, kubeconfig=secret_kubeconfig, opts=opts)
