"""One admission engine (Kyverno or Policy Controller) from its descriptor: the pinned Helm release,
then every document rendered from the trust model, applied after the release so a policy never
reaches a cluster whose engine cannot enforce it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.model.contract import current_key_version
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


def deploy_time_values(
    generated_public_keys: pulumi.Output[dict[str, str]] | None,
    key_versions: pulumi.Output[dict[str, str]] | None,
) -> pulumi.Output[dict[str, str]] | None:
    """Each placeholder in the rendered documents with the value it stands for, once the deploy knows them:
    generated keys' public halves and vault keys' current versions (None: the documents have none)."""
    parts: list[pulumi.Output[dict[str, str]]] = []
    if generated_public_keys is not None:
        parts.append(generated_public_keys.apply(lambda pems: {deferred_public_key(n): p for n, p in pems.items()}))
    if key_versions is not None:
        parts.append(key_versions.apply(lambda versions: {current_key_version(n): v for n, v in versions.items()}))
    if not parts:
        return None
    return pulumi.Output.all(*parts).apply(lambda maps: {k: v for m in maps for k, v in m.items()})


def fill_deferred(value: Any, known: Mapping[str, str]) -> Any:
    """`value` with every placeholder replaced by what it stands for (a PEM, or a version inside a KMS URI)."""
    if isinstance(value, Mapping):
        return {k: fill_deferred(v, known) for k, v in value.items()}
    if isinstance(value, list):
        return [fill_deferred(v, known) for v in value]
    if isinstance(value, str):
        for placeholder, actual in known.items():
            value = value.replace(placeholder, actual)
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
        deferred: pulumi.Input[Mapping[str, str]] | None = None,
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
        # Rendered once; what only the deploy knows (generated keys' public halves, vault keys' current
        # versions) is filled in when it exists.
        documents = engine.documents(with_deferred_keys(model))
        for document in documents:
            spec: pulumi.Input[Any] = document["spec"]
            if deferred is not None:
                spec = pulumi.Output.from_input(deferred).apply(partial(fill_deferred, spec))
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
