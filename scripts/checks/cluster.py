"""What the checks ask the cluster, through the official Kubernetes client. Every create is a
server-side dry run (`dryRun=All`): admission runs in full, nothing is persisted."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException
from urllib3.exceptions import HTTPError

from scripts.checks.errors import UnreachableError, UsageError

DRY_RUN = "All"


@dataclass(frozen=True)
class Admission:
    """The API server's answer to a dry-run create."""

    allowed: bool
    message: str = ""
    warnings: tuple[str, ...] = ()
    status: int = 201

    def denied_by(self, policies: list[str]) -> bool:
        """Refused by one of `policies` (not by the webhook being down, a registry error, or some
        other webhook): the engines name the failing policy in the denial."""
        return not self.allowed and "denied the request" in self.message and any(p in self.message for p in policies)


@dataclass(frozen=True)
class Webhook:
    """One validating webhook of a configuration: what it receives and how it fails."""

    configuration: str
    name: str
    failure_policy: str
    timeout_seconds: int
    namespace_selector: Mapping[str, Any] = field(default_factory=dict)
    rules: tuple[Mapping[str, Any], ...] = ()
    object_selector: Mapping[str, Any] = field(default_factory=dict)
    match_conditions: tuple[str, ...] = ()

    @property
    def covers_pod_creates(self) -> bool:
        """Whether its rules send Pod creates to it (what admission of images hinges on)."""
        for rule in self.rules:
            groups, versions = rule.get("apiGroups") or [], rule.get("apiVersions") or []
            resources, operations = rule.get("resources") or [], rule.get("operations") or []
            if (
                ("" in groups or "*" in groups)
                and ("v1" in versions or "*" in versions)
                and ("pods" in resources or "*" in resources or "*/*" in resources)
                and ("CREATE" in operations or "*" in operations)
            ):
                return True
        return False

    def could_match(self, namespace: str, labels: Mapping[str, str]) -> bool:
        """Whether the namespace selector selects a namespace with these labels."""
        labels = {**labels, "kubernetes.io/metadata.name": namespace}
        selector = self.namespace_selector or {}
        if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
            return False
        for expression in selector.get("matchExpressions") or []:
            key, operator, values = expression["key"], expression["operator"], expression.get("values") or []
            present = key in labels
            if (
                (operator == "In" and labels.get(key) not in values)
                or (operator == "NotIn" and present and labels[key] in values)
                or (operator == "Exists" and not present)
                or (operator == "DoesNotExist" and present)
            ):
                return False
        return True


def pod_manifest(name: str, namespace: str, containers: list[str], init: list[str] | None = None) -> dict[str, Any]:
    """A minimal Pod for a dry-run create: the images, no service-account token, never restarted."""
    spec: dict[str, Any] = {
        "containers": [{"name": f"c{i}", "image": image} for i, image in enumerate(containers)],
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
    }
    if init:
        spec["initContainers"] = [{"name": f"i{i}", "image": image} for i, image in enumerate(init)]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": {"supply-chain/check": "dry-run"}},
        "spec": spec,
    }


class Cluster:
    """The Kubernetes API, read-only except for dry-run Pod creates; every call has a timeout."""

    def __init__(self, api: client.ApiClient, *, timeout: float = 20.0) -> None:
        self.api = api
        self.timeout = timeout
        self.core = client.CoreV1Api(api)
        self.admission = client.AdmissionregistrationV1Api(api)
        self.custom = client.CustomObjectsApi(api)

    @classmethod
    def from_kubeconfig(cls, context: str | None = None, *, timeout: float = 20.0) -> Cluster:
        """The cluster of a kubeconfig context (default: the current one)."""
        try:
            # read KUBECONFIG now: the client library reads it once, at import
            api = config.new_client_from_config(config_file=os.environ.get("KUBECONFIG") or None, context=context)
        except (ConfigException, OSError, TypeError) as exc:
            raise UsageError(f"no usable kubeconfig{f' context {context}' if context else ''}: {exc}") from exc
        return cls(api, timeout=timeout)

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, _request_timeout=self.timeout, **kwargs)
        except ApiException:
            raise
        except (HTTPError, OSError) as exc:
            raise UnreachableError(f"cluster: {what}: {type(exc).__name__}: {exc}") from exc

    def _read(self, what: str, fn: Any, *args: Any, missing_ok: bool = False) -> Any:
        """A read; 404 → None when `missing_ok`, 401/403 → a usage error naming the permission."""
        try:
            return self._call(what, fn, *args)
        except ApiException as exc:
            if exc.status == 404 and missing_ok:
                return None
            if exc.status in (401, 403):
                raise UsageError(f"cluster: {what}: HTTP {exc.status}; the checks need read access to it") from exc
            raise UnreachableError(f"cluster: {what}: HTTP {exc.status} {exc.reason}") from exc

    # -- admission -----------------------------------------------------------------------------

    def dry_run_pod(self, manifest: Mapping[str, Any]) -> Admission:
        """Create `manifest` as a dry run and report what admission decided."""
        namespace = manifest["metadata"]["namespace"]
        try:
            _, status, headers = self._call(
                "dry-run create",
                self.core.create_namespaced_pod_with_http_info,
                namespace,
                dict(manifest),
                dry_run=DRY_RUN,
            )
        except ApiException as exc:
            return Admission(False, _status_message(exc), _warnings(exc.headers), int(exc.status or 0))
        return Admission(True, "", _warnings(headers), int(status))

    # -- posture -------------------------------------------------------------------------------

    def validating_webhooks(self) -> list[Webhook]:
        """Every webhook of every ValidatingWebhookConfiguration."""
        items = self._read(
            "list validating webhook configurations", self.admission.list_validating_webhook_configuration
        )
        serialize = client.ApiClient().sanitize_for_serialization
        return [
            Webhook(
                item.metadata.name,
                hook.name,
                hook.failure_policy or "Fail",
                int(hook.timeout_seconds or 10),
                serialize(hook.namespace_selector) or {},
                tuple(serialize(hook.rules) or []),
                serialize(hook.object_selector) or {},
                tuple(c.expression for c in hook.match_conditions or []),
            )
            for item in items.items
            for hook in item.webhooks or []
        ]

    def namespace_labels(self, name: str) -> dict[str, str] | None:
        """A namespace's labels, or None when it does not exist."""
        namespace = self._read(f"read namespace {name}", self.core.read_namespace, name, missing_ok=True)
        return None if namespace is None else dict(namespace.metadata.labels or {})

    def list_cluster_objects(self, group: str, version: str, plural: str) -> list[dict[str, Any]] | None:
        """Cluster-scoped custom objects, or None when the API (CRD) does not exist."""
        found = self._read(
            f"list {plural}.{group}", self.custom.list_cluster_custom_object, group, version, plural, missing_ok=True
        )
        return None if found is None else list(found.get("items", []))

    def list_namespaced_objects(
        self, group: str, version: str, namespace: str, plural: str
    ) -> list[dict[str, Any]] | None:
        """Custom objects in one namespace, or None when the API (CRD) does not exist."""
        found = self._read(
            f"list {plural}.{group} in {namespace}",
            self.custom.list_namespaced_custom_object,
            group,
            version,
            namespace,
            plural,
            missing_ok=True,
        )
        return None if found is None else list(found.get("items", []))


def _status_message(exc: ApiException) -> str:
    try:
        body = json.loads(exc.body or "{}")
    except ValueError:
        return str(exc.body or exc.reason)
    return str(body.get("message") or exc.reason or "")


def _warnings(headers: Any) -> tuple[str, ...]:
    if not headers:
        return ()
    values = headers.getlist("Warning") if hasattr(headers, "getlist") else [headers.get("Warning")]
    return tuple(v for v in values if v)


def is_ready(obj: Mapping[str, Any]) -> bool:
    """Kyverno and Policy Controller report readiness differently; either form counts."""
    status = obj.get("status") or {}
    if status.get("conditionStatus", {}).get("ready") is True:
        return True
    conditions = status.get("conditions") or status.get("conditionStatus", {}).get("conditions") or []
    return any(c.get("type") == "Ready" and str(c.get("status")) == "True" for c in conditions)
