"""Evaluate rendered Kyverno policies in CEL, with Kyverno's image-verification functions replaced
by a truth table: which authority signed which image, and which attestations each image carries.

What this proves is the admission *logic* we render (which images are checked, how the any-of
over authorities and the attestation content checks combine); that Kyverno's own functions verify
cryptography correctly is Kyverno's job, and the e2e suite exercises it on a real cluster.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import celpy
from celpy import celtypes
from celpy.adapter import json_to_cel
from celpy.evaluation import CELEvalError

Manifest = dict[str, Any]


def compile_expression(expression: str) -> None:
    """Parse and compile `expression`; raises `celpy.CELParseError` when it is not valid CEL."""
    celpy.Environment().compile(expression)


def expressions(manifest: Manifest) -> list[str]:
    """Every CEL expression in a rendered Kyverno document."""
    spec = manifest.get("spec", {})
    out = [v["expression"] for v in spec.get("variables", [])]
    out += [v["expression"] for v in spec.get("validations", [])]
    out += [c["expression"] for c in spec.get("matchConditions", [])]
    out += [m["expression"] for m in spec.get("matchImageReferences", []) if "expression" in m]
    return out


@dataclass
class Registry:
    """The truth table: for each image, the authorities (attestor names) that signed it, and the
    in-toto statements attached to it by predicate type, each with the attestor that signed it."""

    signatures: dict[str, set[str]] = field(default_factory=dict)
    attestations: dict[str, dict[str, tuple[str, dict[str, Any]]]] = field(default_factory=dict)

    def sign(self, image: str, attestor: str) -> Registry:
        self.signatures.setdefault(image, set()).add(attestor)
        return self

    def attest(self, image: str, predicate_type: str, predicate: dict[str, Any], attestor: str) -> Registry:
        statement = {
            "_type": "https://in-toto.io/Statement/v1",
            "predicateType": predicate_type,
            "predicate": predicate,
        }
        self.attestations.setdefault(image, {})[predicate_type] = (attestor, statement)
        return self


@dataclass(frozen=True)
class Outcome:
    allowed: bool
    message: str | None = None
    error: str | None = None


def _names(attestors: Any) -> set[str]:
    return {str(a["name"]) for a in attestors}


def _functions(policy: Manifest, registry: Registry) -> dict[str, Any]:
    types = {a["name"]: a["intoto"]["type"] for a in policy["spec"].get("attestations", [])}

    def verify_image_signatures(image: Any, attestors: Any) -> celtypes.IntType:
        return celtypes.IntType(len(registry.signatures.get(str(image), set()) & _names(attestors)))

    def verify_attestation_signatures(image: Any, attestation: Any, attestors: Any) -> celtypes.IntType:
        found = registry.attestations.get(str(image), {}).get(types[str(attestation)])
        return celtypes.IntType(1 if found is not None and found[0] in _names(attestors) else 0)

    def extract_payload(image: Any, attestation: Any) -> Any:
        found = registry.attestations.get(str(image), {}).get(types[str(attestation)])
        if found is None:
            return CELEvalError(f"no {attestation} payload for {image}")
        return json_to_cel(found[1])

    return {
        "verifyImageSignatures": verify_image_signatures,
        "verifyAttestationSignatures": verify_attestation_signatures,
        "extractPayload": extract_payload,
    }


def _matches_image(policy: Manifest, image: str) -> bool:
    globs = [m["glob"] for m in policy["spec"].get("matchImageReferences", []) if "glob" in m]
    # gobwas/glob without separators: `*` spans `/` like fnmatch's
    return not globs or any(fnmatch.fnmatchcase(image, g) for g in globs)


def pod(
    namespace: str, containers: list[str], init: list[str] | None = None, ephemeral: list[str] | None = None
) -> Manifest:
    spec: dict[str, Any] = {"containers": [{"name": f"c{i}", "image": img} for i, img in enumerate(containers)]}
    if init:
        spec["initContainers"] = [{"name": f"i{i}", "image": img} for i, img in enumerate(init)]
    if ephemeral:
        spec["ephemeralContainers"] = [{"name": f"e{i}", "image": img} for i, img in enumerate(ephemeral)]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": namespace}, "spec": spec}


def _evaluate(expression: str, activation: Mapping[str, Any], functions: dict[str, Any]) -> Any:
    env = celpy.Environment()
    return env.program(env.compile(expression), functions=functions).evaluate(dict(activation))


def admit(policy: Manifest, obj: Manifest, registry: Registry | None = None) -> Outcome:
    """What the policy's validations decide for `obj` (a Pod), as Kyverno evaluates them: the
    first failing validation denies with its message; an evaluation error is an error."""
    registry = registry or Registry()
    spec = policy["spec"]
    activation: dict[str, Any] = {
        "object": json_to_cel(obj),
        "request": json_to_cel({"namespace": obj["metadata"]["namespace"], "operation": "CREATE"}),
    }
    if policy["kind"] == "ImageValidatingPolicy":
        pod_spec = obj["spec"]
        images = {
            category: [c["image"] for c in pod_spec.get(category, []) if _matches_image(policy, c["image"])]
            for category in ("containers", "initContainers", "ephemeralContainers")
        }
        activation["images"] = json_to_cel(images)
        activation["attestors"] = json_to_cel({a["name"]: {"name": a["name"]} for a in spec["attestors"]})
        activation["attestations"] = json_to_cel({a["name"]: a["name"] for a in spec.get("attestations", [])})
    functions = _functions(policy, registry) if policy["kind"] == "ImageValidatingPolicy" else {}
    variables: dict[str, Any] = {}
    for var in spec.get("variables", []):
        activation["variables"] = json_to_cel({}) if not variables else _as_cel_map(variables)
        variables[var["name"]] = _evaluate(var["expression"], activation, functions)
    activation["variables"] = _as_cel_map(variables)
    for validation in spec["validations"]:
        try:
            result = _evaluate(validation["expression"], activation, functions)
        except CELEvalError as exc:
            return Outcome(False, error=str(exc))
        if result is not True and result != celtypes.BoolType(True):
            return Outcome(False, message=validation.get("message"))
    return Outcome(True)


def _as_cel_map(values: dict[str, Any]) -> celtypes.MapType:
    return celtypes.MapType({celtypes.StringType(k): v for k, v in values.items()})


def condition_holds(exception: Manifest, obj: Manifest) -> bool:
    """Whether every matchCondition of a PolicyException holds for `obj` (the exception applies)."""
    activation = {
        "object": json_to_cel(obj),
        "request": json_to_cel({"namespace": obj["metadata"]["namespace"], "operation": "CREATE"}),
    }
    return all(bool(_evaluate(c["expression"], activation, {})) for c in exception["spec"].get("matchConditions", []))
