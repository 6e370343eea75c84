"""The offline plan: run the real `__main__.py` in-process on Pulumi's mock engine.

Steps of `plan_stack`:
  1. validate the stack's config (the same `parse_stack_config` the program uses), so a bad
     config fails fast with its problem list and nothing is registered;
  2. reset the Pulumi runtime (the mock engine otherwise keeps the previous run's root stack);
  3. install the mocks and the stack's config, run `__main__.py`, wait for every registration;
  4. collect what was registered (type, name, parent, inputs with secrets redacted) and the
     stack outputs, and run the review rules over the config.

No Pulumi CLI, cloud or cluster is involved: resources get plausible ids and outputs (ARM ids,
a registry login server, ...) so that the program's `apply`s run as they would in a preview.
"""

from __future__ import annotations

import asyncio
import gc
import re
import runpy
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import pulumi
from pulumi.runtime import rpc, settings
from pulumi.runtime.config import set_all_config
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from components.model.config import StackConfig, parse_stack_config
from components.model.config.stack_file import SECRET_PLACEHOLDER, StackFile
from components.model.contract import PROJECT
from policies.review import Finding, review
from scripts import PROJECT_ROOT
from scripts.plan_mocks import PlanMocks, RecordingMonitor

UNKNOWN = "[unknown]"


@dataclass(frozen=True)
class PlannedResource:
    """One registration, as plan.json records it."""

    urn: str
    type: str
    name: str
    parent: str | None
    inputs: dict[str, Any]
    custom: bool
    state: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)
    """What the mock engine answered, as it answered it (see `outputs`)."""
    depends_on: tuple[str, ...] = field(default=(), compare=False)
    """URNs this resource waits for (explicit `depends_on`): the order `pulumi up` creates things in."""

    def as_json(self) -> dict[str, Any]:
        """The resource as plan.json records it."""
        record: dict[str, Any] = {
            "urn": self.urn,
            "type": self.type,
            "name": self.name,
            "parent": self.parent,
            "inputs": self.inputs,
        }
        if self.depends_on:
            record["dependsOn"] = sorted(self.depends_on)
        return record

    @cached_property
    def outputs(self) -> dict[str, Any]:
        """What the resource resolves to under the mock engine (ids, names, login servers), secrets
        redacted: how one resource's reference to another is followed in the plan."""
        redacted: dict[str, Any] = redact(self.state)
        return redacted

    @property
    def is_kubernetes_object(self) -> bool:
        """Whether the resource is a Kubernetes object (written as a manifest), not a Helm release."""
        return self.type.startswith("kubernetes:") and not self.type.startswith("kubernetes:helm.sh/")


@dataclass(frozen=True)
class Plan:
    """What the program registers for one stack, its outputs and the review's findings."""

    stack: str
    config: StackConfig
    resources: list[PlannedResource]
    outputs: dict[str, Any]
    findings: list[Finding]

    def of_type(self, type_token: str) -> list[PlannedResource]:
        """Every registration of one type."""
        return [r for r in self.resources if r.type == type_token]

    def children_of(self, urn: str) -> list[PlannedResource]:
        """The registrations whose parent is `urn`."""
        return [r for r in self.resources if r.parent == urn]

    def as_json(self) -> dict[str, Any]:
        """The plan as plan.json records it."""
        return {
            "stack": self.stack,
            "resources": [r.as_json() for r in self.resources],
            "outputs": self.outputs,
            "review": [f.as_json() for f in self.findings],
        }


def redact(value: Any) -> Any:
    """Plain JSON data from deserialized properties: secrets → `[secret]`, unknowns → `[unknown]`."""
    kind = type(value)
    if kind is str:  # most values: checked first, the plan of a large stack walks hundreds of thousands
        return UNKNOWN if value == rpc.UNKNOWN else value
    if kind is bool or kind is int or value is None:
        return value
    if kind is float:
        return int(value) if value.is_integer() else value  # the wire format has only doubles
    if rpc.is_rpc_secret(value):
        return SECRET_PLACEHOLDER
    if isinstance(value, Mapping):
        # the engine's wire format has no key order: sorted keys make plans diffable between runs
        return {str(k): redact(v) for k, v in sorted(value.items(), key=lambda item: str(item[0]))}
    if isinstance(value, (list, tuple)):
        return [redact(v) for v in value]
    return str(value)


def _reset_runtime() -> None:
    settings.reset_options(project=PROJECT)
    settings.SETTINGS.rpc_manager.clear()
    settings.SETTINGS.outputs.clear()


def _resolve(value: Any) -> Any:
    output = pulumi.Output.from_input(value)
    resolved = _sync_await(output.future(with_unknowns=True))
    if _sync_await(output.is_secret()):
        return SECRET_PLACEHOLDER
    return redact(resolved)


@contextmanager
def _own_event_loop() -> Iterator[None]:
    """A loop for one plan, closed with its executor's threads at the end. The mock engine sends each registration
    through the loop's default executor; a process forked after a plan (mutation testing forks one per mutant)
    would inherit that executor without its threads, and its next plan would wait for them forever."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        yield
    finally:
        loop.run_until_complete(loop.shutdown_default_executor())
        asyncio.set_event_loop(None)
        loop.close()


def plan_stack(stack_file: StackFile) -> Plan:
    """Plan `stack_file` in-process. Raises `ConfigError` for bad config, anything else for a
    broken program (an unknown resource argument, a failed apply, ...)."""
    config = parse_stack_config(stack_file.raw, source=f"stack {stack_file.stack!r}")
    if str(PROJECT_ROOT) not in sys.path:
        sys.path.insert(0, str(PROJECT_ROOT))

    def program() -> None:
        runpy.run_path(str(PROJECT_ROOT / "__main__.py"), run_name="__main__")

    monitor = RecordingMonitor(PlanMocks())
    with _own_event_loop():  # first: the runtime's setup already makes futures, on the current loop
        _reset_runtime()
        pulumi.runtime.set_mocks(monitor.mocks, project=PROJECT, stack=stack_file.stack, preview=True, monitor=monitor)
        set_all_config(stack_file.pulumi_config(), stack_file.secret_keys)
        # The mock engine makes a few hundred thousand short-lived asyncio objects; letting the cyclic collector
        # rescan them (and every imported module) as they pile up costs half a plan. A plan is bounded: collect
        # its garbage, all of it young, once at the end.
        gc.disable()
        try:
            _sync_await(run_pulumi_func(program))
        finally:
            gc.enable()
            gc.collect(0)
        root = settings.get_root_resource()
        outputs = {k: _resolve(v) for k, v in sorted(getattr(root, "outputs", {}).items())}
    states = {urn: reg.state for urn, reg in monitor.resources.items()}
    resources = [
        PlannedResource(
            urn,
            type_,
            name,
            parent,
            redact(inputs),
            custom,
            states.get(urn, {}),
            monitor.dependencies.get(urn, ()),
        )
        for urn, type_, name, parent, inputs, custom in monitor.registrations
    ]
    # registrations arrive in whatever order the async runtime resolves them: sort for stable diffs
    resources.sort(key=lambda r: (r.parent is not None, r.urn))
    return Plan(stack_file.stack, config, resources, outputs, review(config))


def plan_config(raw: Mapping[str, Any], stack: str = "test") -> Plan:
    """Plan a config given as a mapping (top-level keys without the project prefix)."""
    return plan_stack(StackFile(stack=stack, raw=dict(raw)))


def manifest_file_name(index: int, resource: PlannedResource) -> str:
    """The manifest's file name: its place in the apply order, kind, namespace and name."""
    metadata = resource.inputs.get("metadata") or {}
    kind = str(resource.inputs.get("kind") or resource.type.rsplit(":", 1)[-1]).lower()
    parts = [f"{index:03d}", kind, metadata.get("namespace"), metadata.get("name") or resource.name]
    suffix = "-patch" if resource.type.endswith("Patch") else ""
    return re.sub(r"[^a-z0-9.-]+", "-", "-".join(str(p) for p in parts if p).lower()) + suffix + ".yaml"


def kubernetes_manifests(plan: Plan) -> list[tuple[str, dict[str, Any]]]:
    """Every Kubernetes object the program registers, as (file name, object), in registration order."""
    out: list[tuple[str, dict[str, Any]]] = []
    objects = [r for r in plan.resources if r.is_kubernetes_object]
    # namespaces first, as they are applied; then the engines' documents
    objects.sort(key=lambda r: not r.type.startswith("kubernetes:core/v1:Namespace"))
    for resource in objects:
        document: dict[str, Any] = {
            k: resource.inputs[k] for k in ("apiVersion", "kind", "metadata") if k in resource.inputs
        }
        document.update({k: v for k, v in resource.inputs.items() if k not in document})
        out.append((manifest_file_name(len(out) + 1, resource), document))
    return out
