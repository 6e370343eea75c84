"""Evaluate rendered Kyverno policies in CEL, with Kyverno's image-verification functions replaced
by a truth table: which authority signed which image, and which attestations each image carries.

What this proves is the admission *logic* we render: which requests reach a policy at all
(`evaluation.admission`, `matchConstraints`: operations, resources and subresources, namespace
selector; `matchConditions`),
which images are checked, how the any-of over authorities and the attestation content checks
combine, and what `validationConfigurations` adds (`verifyDigest`, `required`). That Kyverno's own
functions verify cryptography correctly is Kyverno's job; the e2e suite exercises it on a cluster.

An expression that fails to evaluate raises `EvaluationError`: a broken policy is a bug to see, never
a denial that a deny-only test would take for success. `has()` is cel-go's: only the last field is
tested, so `has(a.b.c)` with no `a.b` is an error (cel-go#912), where celpy would answer false.

Kyverno's `time.now()` (its `kyverno.time` library, which Kyverno 1.19 gives every ImageValidatingPolicy:
no arguments, the current time as a CEL timestamp) answers the clock a test passes to `admit`; the standard
`timestamp()`, `duration()` and their arithmetic are celpy's own.
"""

from __future__ import annotations

import fnmatch
import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import celpy
import lark
from celpy import celtypes
from celpy.adapter import json_to_cel
from celpy.evaluation import CELEvalError, Evaluator

Manifest = dict[str, Any]
NAME_LABEL = "kubernetes.io/metadata.name"  # the API server sets it on every namespace


class EvaluationError(Exception):
    """A policy expression failed to evaluate (or did not return a bool)."""


def compile_expression(expression: str) -> None:
    """Parse and compile `expression`; raises `celpy.CELParseError` when it is not valid CEL."""
    _compiled(expression)


@functools.lru_cache(maxsize=4096)
def _compiled(expression: str) -> lark.Tree[Any]:
    # Parsing is most of an evaluation's cost and the truth tables evaluate each expression many times; the tree
    # depends on the text alone, and the interpreter only reads it.
    return celpy.Environment(runner_class=_Runner).compile(expression)


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
        """`image` carries a signature by `attestor`."""
        self.signatures.setdefault(image, set()).add(attestor)
        return self

    def attest(self, image: str, predicate_type: str, predicate: dict[str, Any], attestor: str) -> Registry:
        """`image` carries an in-toto statement of `predicate_type`, signed by `attestor`."""
        statement = {
            "_type": "https://in-toto.io/Statement/v1",
            "predicateType": predicate_type,
            "predicate": predicate,
        }
        self.attestations.setdefault(image, {})[predicate_type] = (attestor, statement)
        return self


@dataclass(frozen=True)
class Request:
    """An admission request as the API server sends it: `kubectl debug` is an UPDATE of the
    `ephemeralcontainers` subresource, a `kubectl run` a CREATE of `pods`."""

    obj: Manifest
    operation: str = "CREATE"
    subresource: str = ""
    namespace_labels: Mapping[str, str] = field(default_factory=dict)
    old: Manifest | None = None
    """The object before an UPDATE (`oldObject`); None means the update changed nothing but metadata."""

    @property
    def namespace(self) -> str:
        """The namespace of the object."""
        return str(self.obj["metadata"]["namespace"])

    @property
    def resource(self) -> str:
        """`pods`, or `pods/<subresource>`."""
        return f"pods/{self.subresource}" if self.subresource else "pods"

    def as_cel(self) -> dict[str, Any]:
        """The `request` variable."""
        return {
            "namespace": self.namespace,
            "operation": self.operation,
            "subResource": self.subresource,
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
        }


@dataclass(frozen=True)
class Outcome:
    """What the policy decided: not matched (admitted, never looked at), admitted, or denied."""

    allowed: bool
    message: str | None = None
    matched: bool = True


def _names(attestors: Any) -> set[str]:
    return {str(a["name"]) for a in attestors}


def _functions(policy: Manifest, registry: Registry, verified: set[str], now: datetime) -> dict[str, Any]:
    types = {a["name"]: a["intoto"]["type"] for a in policy["spec"].get("attestations", [])}

    def verify_image_signatures(image: Any, attestors: Any) -> celtypes.IntType:
        count = len(registry.signatures.get(str(image), set()) & _names(attestors))
        if count:
            verified.add(str(image))
        return celtypes.IntType(count)

    def verify_attestation_signatures(image: Any, attestation: Any, attestors: Any) -> celtypes.IntType:
        found = registry.attestations.get(str(image), {}).get(types[str(attestation)])
        ok = found is not None and found[0] in _names(attestors)
        if ok:
            verified.add(str(image))
        return celtypes.IntType(1 if ok else 0)

    def extract_payload(image: Any, attestation: Any) -> Any:
        found = registry.attestations.get(str(image), {}).get(types[str(attestation)])
        if found is None:
            return CELEvalError(f"no {attestation} payload for {image}")
        return json_to_cel(found[1])

    def time_now() -> celtypes.TimestampType:
        """Kyverno's `time.now()` (the `kyverno.time` library): the current time, as a timestamp."""
        return celtypes.TimestampType(now)

    return {
        "time.now": time_now,
        "verifyImageSignatures": verify_image_signatures,
        "verifyAttestationSignatures": verify_attestation_signatures,
        "extractPayload": extract_payload,
    }


# --- which requests reach the policy ------------------------------------------------------------


def _listed(value: str, allowed: list[str]) -> bool:
    return value in allowed or "*" in allowed


def _rule_matches(rule: Mapping[str, Any], request: Request) -> bool:
    resources = rule.get("resources") or []
    main, _, sub = request.resource.partition("/")
    resource_ok = request.resource in resources or "*/*" in resources
    resource_ok |= (not sub and "*" in resources) or (
        bool(sub) and (f"{main}/*" in resources or f"*/{sub}" in resources)
    )
    return (
        _listed(request.operation, rule.get("operations") or [])
        and _listed("", rule.get("apiGroups") or [])
        and _listed("v1", rule.get("apiVersions") or [])
        and resource_ok
    )


def _selects(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """A Kubernetes label selector; absent or empty selects everything."""
    selector = selector or {}
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for e in selector.get("matchExpressions") or []:
        key, operator, values = e["key"], e["operator"], e.get("values") or []
        holds = {
            "In": key in labels and labels[key] in values,
            "NotIn": key not in labels or labels[key] not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }[operator]
        if not holds:
            return False
    return True


def _matches(policy: Manifest, request: Request, activation: Mapping[str, Any]) -> bool:
    constraints = policy["spec"].get("matchConstraints") or {}
    if not any(_rule_matches(r, request) for r in constraints.get("resourceRules") or []):
        return False
    if any(_rule_matches(r, request) for r in constraints.get("excludeResourceRules") or []):
        return False
    labels = {**request.namespace_labels, NAME_LABEL: request.namespace}
    if not _selects(constraints.get("namespaceSelector"), labels):
        return False
    if not _selects(constraints.get("objectSelector"), request.obj["metadata"].get("labels") or {}):
        return False
    return all(_true(c["expression"], activation, {}) for c in policy["spec"].get("matchConditions") or [])


def _matches_image(policy: Manifest, image: str) -> bool:
    globs = [m["glob"] for m in policy["spec"].get("matchImageReferences", []) if "glob" in m]
    # gobwas/glob without separators: `*` spans `/` like fnmatch's
    return not globs or any(fnmatch.fnmatchcase(image, g) for g in globs)


# --- evaluation ---------------------------------------------------------------------------------


def pod(
    namespace: str, containers: list[str], init: list[str] | None = None, ephemeral: list[str] | None = None
) -> Manifest:
    """A Pod with these images."""
    spec: dict[str, Any] = {"containers": [{"name": f"c{i}", "image": img} for i, img in enumerate(containers)]}
    if init:
        spec["initContainers"] = [{"name": f"i{i}", "image": img} for i, img in enumerate(init)]
    if ephemeral:
        spec["ephemeralContainers"] = [{"name": f"e{i}", "image": img} for i, img in enumerate(ephemeral)]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": namespace}, "spec": spec}


_MACROS = frozenset({"all", "exists", "exists_one", "map", "filter"})


class _CelGoHas(Evaluator):
    """celpy's evaluator with cel-go's `has(e.f)`: `e` is evaluated like any expression (an error stays an
    error), then `f` is looked up in it; celpy turns any error inside `has()` into false."""

    def macro_has_eval(self, exprlist: lark.Tree[Any]) -> Any:
        node: Any = exprlist
        while isinstance(node, lark.Tree) and node.data != "member_dot" and len(node.children) == 1:
            node = node.children[0]
        if not (isinstance(node, lark.Tree) and node.data == "member_dot"):
            return super().macro_has_eval(exprlist)
        operand, name = node.children
        target = self.visit(operand)
        if isinstance(target, CELEvalError):
            return target
        if isinstance(target, celtypes.MapType):
            return celtypes.BoolType(celtypes.StringType(str(name)) in target)
        return CELEvalError(f"has() on a {type(target).__name__}", TypeError, None)

    def member_dot_arg(self, tree: lark.Tree[Any]) -> Any:
        """A namespaced function such as Kyverno's `time.now()`: `time` is no variable, so cel-go resolves the
        call by its qualified name; celpy would look `time` up as a variable and fail."""
        member, name = tree.children[:2]
        node: Any = member
        while isinstance(node, lark.Tree) and node.data in ("member", "primary") and len(node.children) == 1:
            node = node.children[0]
        if isinstance(node, lark.Tree) and node.data == "ident":
            qualified = f"{node.children[0]}.{name}"
            function = self.activation.functions.get(qualified)  # no policy has a variable called `time`
            if function is not None:
                args = [self.visit(e) for e in tree.children[2].children] if len(tree.children) > 2 else []
                return function(*args)
        if str(name) in _MACROS:
            # cel-go: a macro over anything but a list or map is an error (`false && null.all(...)` is false);
            # celpy would raise a Python TypeError out of the whole evaluation
            target = self.visit(member)
            if not isinstance(target, (list, dict, CELEvalError)):  # celpy lists and maps subclass these
                return CELEvalError(f"no such overload: {type(target).__name__}.{name}()", TypeError, None)
        return super().member_dot_arg(tree)

    def sub_evaluator(self, ast: lark.Tree[Any]) -> Evaluator:
        return _CelGoHas(ast, activation=self.activation)  # inside all(), exists(), map() too


class _Runner(celpy.InterpretedRunner):
    def evaluate(self, context: Any) -> Any:
        return _CelGoHas(ast=self.ast, activation=self.new_activation()).evaluate(context)


def _evaluate(expression: str, activation: Mapping[str, Any], functions: dict[str, Any]) -> Any:
    env = celpy.Environment(runner_class=_Runner)
    try:
        result = env.program(_compiled(expression), functions=functions).evaluate(dict(activation))
    except CELEvalError as exc:
        raise EvaluationError(f"{exc} in: {expression[:200]}") from exc
    if isinstance(result, CELEvalError):
        raise EvaluationError(f"{result} in: {expression[:200]}")
    return result


def _true(expression: str, activation: Mapping[str, Any], functions: dict[str, Any]) -> bool:
    result = _evaluate(expression, activation, functions)
    if not isinstance(result, celtypes.BoolType):
        raise EvaluationError(f"not a bool ({type(result).__name__}): {expression[:200]}")
    return bool(result)


def admit(
    policy: Manifest,
    obj: Manifest | Request,
    registry: Registry | None = None,
    *,
    operation: str = "CREATE",
    old: Manifest | None = None,
    now: datetime | None = None,
) -> Outcome:
    """What the policy decides for a request (or a Pod created), as Kyverno evaluates it: a request
    it does not match is admitted unseen; otherwise the first failing validation denies with its
    message, then `verifyDigest` and `required` refuse what the validations let through. `now` is what
    `time.now()` answers (the current time unless a test fixes it)."""
    request = obj if isinstance(obj, Request) else Request(obj, operation, old=old)
    registry = registry or Registry()
    spec = policy["spec"]
    if not ((spec.get("evaluation") or {}).get("admission") or {}).get("enabled", True):
        return Outcome(True, matched=False)  # evaluated in background scans only: never at admission
    activation: dict[str, Any] = {"object": json_to_cel(request.obj), "request": json_to_cel(request.as_cel())}
    if request.operation == "UPDATE":
        activation["oldObject"] = json_to_cel(request.old if request.old is not None else request.obj)
    if not _matches(policy, request, activation):
        return Outcome(True, matched=False)
    verified: set[str] = set()
    matched_images: list[str] = []
    if policy["kind"] == "ImageValidatingPolicy":
        pod_spec = request.obj["spec"]
        images = {
            category: [c["image"] for c in pod_spec.get(category, []) if _matches_image(policy, c["image"])]
            for category in ("containers", "initContainers", "ephemeralContainers")
        }
        matched_images = [image for found in images.values() for image in found]
        activation["images"] = json_to_cel(images)
        activation["attestors"] = json_to_cel({a["name"]: {"name": a["name"]} for a in spec["attestors"]})
        activation["attestations"] = json_to_cel({a["name"]: a["name"] for a in spec.get("attestations", [])})
    clock = now or datetime.now(UTC)
    functions = _functions(policy, registry, verified, clock) if policy["kind"] == "ImageValidatingPolicy" else {}
    variables: dict[str, Any] = {}
    for var in spec.get("variables", []):
        activation["variables"] = _as_cel_map(variables)
        variables[var["name"]] = _evaluate(var["expression"], activation, functions)
    activation["variables"] = _as_cel_map(variables)
    for validation in spec["validations"]:
        if not _true(validation["expression"], activation, functions):
            return Outcome(False, message=validation.get("message"))
    settings = spec.get("validationConfigurations") or {}
    digests_checked = settings.get("verifyDigest", True) and not settings.get("mutateDigest", True)
    if digests_checked and (undigested := [i for i in matched_images if "@sha256:" not in i]):
        return Outcome(False, message=f"images must use a digest: {undigested[0]}")
    if settings.get("required", True) and (unverified := [i for i in matched_images if i not in verified]):
        return Outcome(False, message=f"image was not verified: {unverified[0]}")
    return Outcome(True)


def _as_cel_map(values: dict[str, Any]) -> celtypes.MapType:
    return celtypes.MapType({celtypes.StringType(k): v for k, v in values.items()})


def condition_holds(exception: Manifest, obj: Manifest) -> bool:
    """Whether every matchCondition of a PolicyException holds for `obj` (the exception applies)."""
    request = Request(obj)
    activation = {"object": json_to_cel(obj), "request": json_to_cel(request.as_cel())}
    return all(_true(c["expression"], activation, {}) for c in exception["spec"].get("matchConditions", []))
