"""Upstream schemas (../shared/upstream) for strict validation of what we render."""

from __future__ import annotations

import copy
import re
from functools import cache
from typing import Any

import jsonschema
import yaml

from tests.conftest import SHARED

UPSTREAM = SHARED / "upstream"
CRD_DIRS = (UPSTREAM / "kyverno-1.19.0" / "crds", UPSTREAM / "policy-controller" / "crds")


def _strict(schema: Any) -> Any:
    """The schema with unknown fields made errors: the API server prunes them silently, so a
    misspelled field would be a policy setting without effect."""
    if isinstance(schema, dict):
        out = {k: _strict(v) for k, v in schema.items()}
        if (
            out.get("type") == "object"
            and "properties" in out
            and "additionalProperties" not in out
            and not out.get("x-kubernetes-preserve-unknown-fields")
        ):
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [_strict(v) for v in schema]
    return schema


@cache
def crd_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> strict openAPIV3Schema, for every CRD version upstream ships."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for folder in CRD_DIRS:
        for path in sorted(folder.glob("*.yaml")):
            # libyaml's loader where PyYAML has it: the upstream CRDs are megabytes, seconds in pure Python
            for crd in yaml.load_all(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
                if not crd or crd.get("kind") != "CustomResourceDefinition":
                    continue
                group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
                for version in crd["spec"]["versions"]:
                    schema = _strict(copy.deepcopy(version["schema"]["openAPIV3Schema"]))
                    # the API server always accepts these at the root, whether a CRD declares them or not
                    schema.setdefault("properties", {})
                    schema["properties"].setdefault("apiVersion", {"type": "string"})
                    schema["properties"].setdefault("kind", {"type": "string"})
                    schema["properties"].setdefault("metadata", {"type": "object"})
                    out[(f"{group}/{version['name']}", kind)] = schema
    return out


def crd_errors(manifest: dict[str, Any]) -> list[str]:
    """Every schema violation of `manifest` against its exact apiVersion's CRD, as path: message."""
    key = (manifest.get("apiVersion", ""), manifest.get("kind", ""))
    schema = crd_schemas().get(key)
    if schema is None:
        return [f"no upstream CRD for {key[0]} {key[1]}"]
    validator = jsonschema.Draft7Validator(schema, format_checker=jsonschema.FormatChecker())
    return _metadata_errors(manifest.get("metadata", {})) + [
        f"{'.'.join(str(p) for p in err.absolute_path) or '<root>'}: {err.message}"
        for err in sorted(validator.iter_errors(manifest), key=lambda e: list(map(str, e.absolute_path)))
    ]


_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$")


def _metadata_errors(metadata: dict[str, Any]) -> list[str]:
    """What the API server checks on every object's metadata (CRD schemas leave it to the server)."""
    errors = []
    if not _SUBDOMAIN.match(str(metadata.get("name", ""))):
        errors.append(f"metadata.name: {metadata.get('name')!r} is not a DNS-1123 subdomain")
    for key, value in (metadata.get("labels") or {}).items():
        if not isinstance(value, str) or not _LABEL_VALUE.match(value):
            errors.append(f"metadata.labels.{key}: {value!r} is not a valid label value")
    for key, value in (metadata.get("annotations") or {}).items():
        if not isinstance(value, str):
            errors.append(f"metadata.annotations.{key}: annotation values are strings")
    return errors


def chart_values(chart: str) -> dict[str, Any]:
    folder = {
        "kyverno": UPSTREAM / "kyverno-1.19.0" / "chart",
        "policy-controller": UPSTREAM / "policy-controller" / "chart",
    }
    values: dict[str, Any] = yaml.safe_load((folder[chart] / "values.yaml").read_text())
    return values


def unknown_values(values: Any, defaults: Any, path: str = "") -> list[str]:
    """Keys set in `values` that the chart's values.yaml does not have (Helm ignores them silently).
    Below a key whose default is an empty map or list, anything goes (free-form by design)."""
    if not isinstance(values, dict) or not isinstance(defaults, dict) or not defaults:
        return []
    out: list[str] = []
    for key, value in values.items():
        where = f"{path}.{key}" if path else key
        if key not in defaults:
            out.append(where)
        else:
            out += unknown_values(value, defaults[key], where)
    return out
