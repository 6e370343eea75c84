"""One admission engine (Kyverno or Policy Controller) from its descriptor: the pinned Helm release,
then every document rendered from the trust model, applied after the release so a policy never
reaches a cluster whose engine cannot enforce it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.model.trust import TrustModel
from components.render.engines import EngineDescriptor

_PREVIOUS_TYPES = {
    "kyverno": "supply-chain:kubernetes:KyvernoAdmission",
    "policy-controller": "supply-chain:kubernetes:PolicyControllerAdmission",
}
"""The type each engine's component had before there was one component for both: an alias keeps
stacks deployed with it from replacing their releases and policies."""


def deferred_public_key(key_name: str) -> str:
    """Stands in a rendered document for a generated key's public half, known only at deploy time."""
    return f"<public key of generated key {key_name}>"


def with_deferred_keys(model: TrustModel) -> TrustModel:
    """The model with a placeholder for each key that has no public half yet (a generated key)."""
    waiting = [k.name for k in model.keys if k.public_key_pem is None and k.kms_uri is None]
    return model.with_public_keys({name: deferred_public_key(name) for name in waiting})


def fill_public_keys(value: Any, pems: Mapping[str, str]) -> Any:
    """`value` with every placeholder of a generated key replaced by its public key PEM."""
    if isinstance(value, Mapping):
        return {k: fill_public_keys(v, pems) for k, v in value.items()}
    if isinstance(value, list):
        return [fill_public_keys(v, pems) for v in value]
    for name, pem in pems.items():
        if value == deferred_public_key(name):
            return pem
    return value


class AdmissionEngine(pulumi.ComponentResource):
    """An admission engine's release and its documents, described by an `EngineDescriptor`."""

    policy_names: list[str]

    def __init__(
        self,
        name: str,
        engine: EngineDescriptor,
        model: TrustModel,
        provider: k8s.Provider,
        *,
        workload_identity_client_id: pulumi.Input[str] | None = None,
        generated_public_keys: pulumi.Input[Mapping[str, str]] | None = None,
        depends_on: Sequence[pulumi.Resource] = (),
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        aliases = pulumi.ResourceOptions(aliases=[pulumi.Alias(type_=_PREVIOUS_TYPES[engine.engine])])
        super().__init__(
            "supply-chain:kubernetes:AdmissionEngine", name, {}, pulumi.ResourceOptions.merge(opts, aliases)
        )
        child = pulumi.ResourceOptions(parent=self, provider=provider)
        values: pulumi.Input[Mapping[str, Any]]
        if workload_identity_client_id is None:
            values = engine.values(model, None)
        else:
            values = pulumi.Output.from_input(workload_identity_client_id).apply(
                lambda client_id: engine.values(model, client_id)
            )
        chart = engine.chart
        release = k8s.helm.v3.Release(
            f"{name}-release",
            name=chart.release_name,
            chart=chart.chart,
            version=chart.version,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=chart.repository),
            namespace=engine.namespace,
            create_namespace=True,
            atomic=True,  # a failed upgrade rolls back instead of leaving half a webhook
            cleanup_on_fail=True,
            timeout=600,
            values=values,
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=list(depends_on))),
        )
        after_release = pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[release]))
        # Rendered once; a generated key's public half is filled in when the key exists.
        documents = engine.documents(with_deferred_keys(model) if generated_public_keys is not None else model)
        for document in documents:
            spec: pulumi.Input[Any] = document["spec"]
            if generated_public_keys is not None:
                spec = pulumi.Output.from_input(generated_public_keys).apply(partial(fill_public_keys, spec))
            k8s.apiextensions.CustomResource(
                f"{name}-{document['kind'].lower()}-{document['metadata']['name']}",
                api_version=document["apiVersion"],
                kind=document["kind"],
                metadata=document["metadata"],
                spec=spec,
                opts=after_release,
            )
        self.policy_names = [d["metadata"]["name"] for d in documents if d["kind"] in engine.policy_kinds]
        self.register_outputs({"policyNames": self.policy_names})
