"""The plan's Azure resources as an ARM template: what a scanner for ARM (checkov, PSRule) reads, and a
reviewer's view of the resources in Azure's own terms. Written by `make plan` as `arm/template.json`.

pulumi-azure-native takes each resource's ARM properties flattened beside its path parameters; this
puts them back under `properties`. It is a rendering for reading, never deployed."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from scripts.arm_types import ARM_PROPERTY_NAMES, GENERIC_RESOURCE, arm_type, name_input

if TYPE_CHECKING:
    from scripts.planning import Plan, PlannedResource

TOP_LEVEL = ("location", "tags", "sku", "kind", "identity", "zones")
"""ARM keys beside `properties`; everything else a resource is given is one of its properties."""


GENERIC_PATH_INPUTS = ("resourceProviderNamespace", "resourceType", "parentResourcePath", "apiVersion")
"""The generic resource's inputs that say where and at which API version it lives, not what it is."""


def _arm_resource(resource: PlannedResource) -> dict[str, Any]:
    inputs = dict(resource.inputs)
    name = inputs.pop(name_input(resource.type), None)
    inputs.pop("resourceGroupName", None)  # a path parameter, not a property
    resource_type = arm_type(resource.type, inputs)
    assert resource_type is not None  # `arm_template` refuses types it cannot name before it gets here
    # The generic resource names the API version its body is written for; elsewhere a placeholder scanners
    # require (the provider picks the real one).
    api_version = str(inputs.get("apiVersion")) if resource.type == GENERIC_RESOURCE else "2024-01-01"
    if resource.type == GENERIC_RESOURCE:
        for key in GENERIC_PATH_INPUTS:
            inputs.pop(key, None)
    arm: dict[str, Any] = {
        "type": resource_type,
        "apiVersion": api_version,
        "name": name if isinstance(name, str) else resource.outputs.get("name", resource.name),
    }
    arm.update({key: inputs.pop(key) for key in TOP_LEVEL if key in inputs})
    renames = ARM_PROPERTY_NAMES.get(resource.type, {})
    properties = inputs.pop("properties") if isinstance(inputs.get("properties"), dict) else inputs
    arm["properties"] = {renames.get(key, key): value for key, value in properties.items()}
    return arm


def arm_template(plan: Plan) -> dict[str, Any] | None:
    """The plan's Azure resources as one ARM deployment template; None for a stack without Azure.
    A resource type missing from `ARM_TYPES` is an error: a scan must not skip what it cannot name."""
    azure = [r for r in plan.resources if r.custom and r.type.startswith("azure-native:")]
    if not azure:
        return None
    unknown = sorted({r.type for r in azure if arm_type(r.type, r.inputs) is None})
    if unknown:
        raise KeyError(f"no ARM type for {unknown}: add them to ARM_TYPES in scripts/arm_types.py")
    return {
        "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
        "contentVersion": "1.0.0.0",
        "resources": [_arm_resource(r) for r in azure],
    }
