"""What both admission engines do the same way: a pinned Helm release, then the documents rendered
from the trust model as CustomResources that wait for it. Plain functions, called by the
`KyvernoAdmission` and `PolicyControllerAdmission` components with `parent=` themselves."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.model.trust import TrustModel

Render = Callable[[TrustModel], list[dict[str, Any]]]


def pinned_release(
    name: str,
    *,
    release_name: str,
    chart: str,
    version: str,
    repository: str,
    namespace: str,
    values: pulumi.Input[Mapping[str, Any]],
    opts: pulumi.ResourceOptions,
) -> k8s.helm.v3.Release:
    return k8s.helm.v3.Release(
        f"{name}-release",
        name=release_name,
        chart=chart,
        version=version,
        repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=repository),
        namespace=namespace,
        create_namespace=True,
        atomic=True,  # a failed upgrade rolls back instead of leaving half a webhook
        cleanup_on_fail=True,
        timeout=600,
        values=values,
        opts=opts,
    )


def _spec_at(index: int) -> Callable[[list[dict[str, Any]]], Any]:
    return lambda docs: docs[index]["spec"]


def apply_documents(
    name: str,
    model: TrustModel,
    render: Render,
    release: k8s.helm.v3.Release,
    opts: pulumi.ResourceOptions,
    generated_public_keys: pulumi.Input[Mapping[str, str]] | None = None,
) -> list[dict[str, Any]]:
    """Apply `render(model)` after `release`. Resource names come from the model as configured;
    key material known only at deploy time (generated keys) is filled in per document."""
    documents = render(model)
    rendered: pulumi.Output[list[dict[str, Any]]] | None = None
    if generated_public_keys is not None:
        rendered = pulumi.Output.from_input(generated_public_keys).apply(
            lambda pems: render(model.with_public_keys(dict(pems)))
        )
    after_release = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[release]))
    for index, doc in enumerate(documents):
        spec: pulumi.Input[Any] = doc["spec"] if rendered is None else rendered.apply(_spec_at(index))
        k8s.apiextensions.CustomResource(
            f"{name}-{doc['kind'].lower()}-{doc['metadata']['name']}",
            api_version=doc["apiVersion"],
            kind=doc["kind"],
            metadata=doc["metadata"],
            spec=spec,
            opts=after_release,
        )
    return documents
