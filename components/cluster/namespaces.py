"""Namespaces under admission: created, or labelled in place when they already exist."""

from __future__ import annotations

from collections.abc import Mapping

import pulumi
import pulumi_kubernetes as k8s

from components.model.config import NamespaceConfig
from components.model.contract import AUDIT_UNTIL_ANNOTATION, namespace_labels


class AdmissionNamespaces(pulumi.ComponentResource):
    """Creates each configured namespace with its admission-mode label, or patches the label onto
    an existing one (`existing: true`) without taking ownership of the namespace itself."""

    def __init__(
        self,
        name: str,
        namespaces: Mapping[str, NamespaceConfig],
        provider: k8s.Provider,
        *,
        policy_controller: bool = False,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("supply-chain:kubernetes:AdmissionNamespaces", name, {}, opts)
        child = pulumi.ResourceOptions(parent=self, provider=provider)
        for ns, cfg in sorted(namespaces.items()):
            labels = namespace_labels(cfg.mode, policy_controller=policy_controller)
            # the deadline travels with the namespace, so the policy pack can hold a preview to it
            annotations = {AUDIT_UNTIL_ANNOTATION: cfg.audit_until.isoformat()} if cfg.audit_until else None
            if cfg.existing:
                metadata_patch = k8s.meta.v1.ObjectMetaPatchArgs(name=ns, labels=labels, annotations=annotations)
                k8s.core.v1.NamespacePatch(f"{name}-{ns}", metadata=metadata_patch, opts=child)
            else:
                metadata = k8s.meta.v1.ObjectMetaArgs(name=ns, labels=labels, annotations=annotations)
                k8s.core.v1.Namespace(f"{name}-{ns}", metadata=metadata, opts=child)
        self.register_outputs({})
