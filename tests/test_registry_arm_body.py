"""The registry's ARM body, held to ACR's own API: every key the program sends is a writable field of the model
azure-mgmt-containerregistry 15.0.0 generates for API 2025-11-01 (the version the generic resource names), and every
value of an enumerated field is one of that field's values. Pulumi checks nothing in a generic resource's body, and
ARM ignores a misspelt property instead of refusing it, so without this a typo would quietly drop a setting."""

from __future__ import annotations

import enum
import types
import typing
from collections.abc import Mapping
from typing import Any

import pytest
from azure.mgmt.containerregistry import ContainerRegistryManagementClient, models
from azure.mgmt.containerregistry._utils.model_base import Model as SdkModel
from azure.mgmt.containerregistry.models import _models

from components.azure.registry import REGISTRY_API_VERSION, registry_args
from components.model.config import parse_stack_config
from tests.conftest import stack_raw

# The SDK's models name each other through the `_models` module in their annotations.
_NAMESPACE = {**vars(_models), "_models": models}


def _rest_fields(model: type[Any]) -> dict[str, tuple[str, list[str]]]:
    """A model's fields by their REST (ARM) name: (attribute, visibility). The SDK computes its field table on
    the first instance; this reads the table of the pinned version (15.0.0), and fails loudly if it moves."""
    model()
    table = model._attr_to_rest_field
    return {field._rest_name: (attribute, list(field._visibility or [])) for attribute, field in table.items()}


def _inner(annotation: Any) -> tuple[type[Any] | None, type[enum.Enum] | None, bool]:
    """What a field holds: the model (if any), the enum (if any), and whether it is a list of them."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        found = [_inner(a) for a in args if a is not type(None)]
        model = next((m for m, _, _ in found if m is not None), None)
        enumerated = next((e for _, e, _ in found if e is not None), None)
        return model, enumerated, any(listed for _, _, listed in found)
    if origin is list:
        model, enumerated, _ = _inner(args[0])
        return model, enumerated, True
    if isinstance(annotation, type) and issubclass(annotation, SdkModel):
        return annotation, None, False
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return None, annotation, False
    return None, None, False


def _problems(model: type[Any], body: Mapping[str, Any], path: str) -> list[str]:
    fields = _rest_fields(model)
    hints = typing.get_type_hints(model, _NAMESPACE)
    problems = []
    for key, value in body.items():
        where = f"{path}.{key}" if path else key
        if key not in fields:
            problems.append(f"{where}: not a field of {model.__name__} (fields: {', '.join(sorted(fields))})")
            continue
        attribute, visibility = fields[key]
        if "create" not in visibility:
            problems.append(f"{where}: read-only in {model.__name__} ({visibility})")
        inner, enumerated, listed = _inner(hints[attribute])
        values = value if listed and isinstance(value, list) else [value]
        for i, item in enumerate(values):
            at = f"{where}[{i}]" if listed else where
            if inner is not None and isinstance(item, Mapping):
                problems += _problems(inner, item, at)
            elif enumerated is not None and item not in {member.value for member in enumerated}:
                problems.append(f"{at}: {item!r} is not one of {[m.value for m in enumerated]}")
    return problems


def _body(stack: str, **registry: Any) -> dict[str, Any]:
    raw = stack_raw(stack)
    raw["registry"].update(registry)
    if registry.get("repositoryPermissionsEnabled") is False:
        del raw["buildAgents"]["pushRepositories"]
    config = parse_stack_config(raw)
    args = registry_args(config.registry, zone_redundant=stack == "prod")
    # the generic resource's PUT body: placement beside the arguments' sku and properties
    return {"location": "westeurope", "tags": {"owner": "x"}, "sku": args["sku"], "properties": args["properties"]}


def test_the_sdk_speaks_the_api_version_the_registry_is_written_for() -> None:
    client = ContainerRegistryManagementClient(credential=object(), subscription_id="0" * 8)  # type: ignore[arg-type]
    assert client._config.api_version == REGISTRY_API_VERSION == "2025-11-01"
    assert {m.value for m in models.RoleAssignmentMode} == {"AbacRepositoryPermissions", "LegacyRegistryPermissions"}


@pytest.mark.parametrize(
    ("stack", "registry"),
    [
        ("dev", {}),
        ("prod", {}),
        # every branch of the body: a public endpoint with its rules, the bypass, legacy mode, no retention
        ("dev", {"publicNetworkAccessEnabled": True, "allowedIpRanges": ["52.174.10.0/24"]}),
        ("dev", {"azureServicesBypassEnabled": True, "repositoryPermissionsEnabled": False}),
    ],
)
def test_every_key_of_the_registry_body_is_a_writable_field_of_api_2025_11_01(
    stack: str, registry: dict[str, Any]
) -> None:
    body = _body(stack, **registry)
    assert _problems(models.Registry, body, "") == []


def test_the_checker_catches_what_it_is_for() -> None:
    """The SDK calls the rule's range `ip_address_or_range`; ARM calls it `value`. The flattened names of the typed
    Pulumi resource, a read-only field and a value outside an enum are all refused."""
    assert (
        _problems(models.Registry, {"properties": {"networkRuleSet": {"ipRules": [{"value": "1.2.3.0/24"}]}}}, "") == []
    )
    assert _problems(models.Registry, {"properties": {"networkRuleSet": {"ipRules": [{"iPAddressOrRange": "x"}]}}}, "")
    assert _problems(models.Registry, {"properties": {"loginServer": "cr.azurecr.io"}}, "") == [
        "properties.loginServer: read-only in RegistryProperties (['read'])"
    ]
    assert _problems(models.Registry, {"properties": {"roleAssignmentMode": "Abac"}}, "") == [
        "properties.roleAssignmentMode: 'Abac' is not one of ['AbacRepositoryPermissions', 'LegacyRegistryPermissions']"
    ]
    assert _problems(models.Registry, {"adminUserEnabled": False}, "")[0].startswith("adminUserEnabled: not a field")
