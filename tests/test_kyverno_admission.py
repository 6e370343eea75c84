"""Which requests reach the Kyverno policies, and what they decide for them, as Kyverno evaluates
`matchConstraints`, `matchConditions` and `validationConfigurations`; every expectation is written
out here, never taken from the code under test."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from components.model.contract import Mode
from components.model.trust import NamespacePolicy
from components.render.kyverno_policies import kyverno_policies
from tests.cel_harness import EvaluationError, Registry, Request, admit, pod
from tests.test_kyverno import DIGEST, GOOD, REG, SIDECAR, model_of, policies_of

Manifest = dict[str, Any]
CANDIDATES = (
    "payments",
    "storefront",
    "analytics",
    "default",
    "created-tomorrow",
    "gatekeeper-system",
    "kube-system",
    "kyverno",
    "cosign-system",
)

# Which namespaces each policy of a shipped stack sees (Pod creates), written out by hand.
REACHES = {
    "prod": {
        # enforce is prod's default: every namespace not listed and not exempt (gatekeeper-system) too
        "verify-image-signatures-enforce": {"payments", "storefront", "default", "created-tomorrow"},
        "restrict-image-registries-enforce": {"payments", "storefront", "default", "created-tomorrow"},
        "verify-image-signatures-audit": {"analytics"},
        "restrict-image-registries-audit": {"analytics"},
        "require-sbom-payments": {"payments"},
        "require-provenance-payments": {"payments"},
        "require-sbom-storefront": {"storefront"},
        "require-signers-payments": {"payments"},
        "require-signers-storefront": {"storefront"},
        "restrict-repositories-payments": {"payments"},
        "restrict-repositories-storefront": {"storefront"},
    },
    "dev": {
        # audit is dev's default: every namespace not listed is reported on too
        "verify-image-signatures-audit": {
            "payments",
            "storefront",
            "analytics",
            "default",
            "created-tomorrow",
            "gatekeeper-system",
        },
        "restrict-image-registries-audit": {
            "payments",
            "storefront",
            "analytics",
            "default",
            "created-tomorrow",
            "gatekeeper-system",
        },
        "require-sbom-payments": {"payments"},
        "require-provenance-payments": {"payments"},
    },
}


def _reached(policy: Manifest, namespaces: tuple[str, ...] = CANDIDATES) -> set[str]:
    return {ns for ns in namespaces if admit(policy, pod(ns, [GOOD]), Registry().sign(GOOD, "keyless")).matched}


@pytest.mark.parametrize("stack", sorted(REACHES))
def test_each_policy_sees_exactly_its_namespaces(stack: str) -> None:
    policies = {name: doc for name, doc in policies_of(stack).items() if doc["kind"] != "PolicyException"}
    assert {name: _reached(doc) for name, doc in policies.items()} == REACHES[stack]


def test_a_namespace_label_cannot_pull_a_namespace_in_or_out() -> None:
    policy = policies_of("prod")["verify-image-signatures-enforce"]
    spoofed = Request(pod("gatekeeper-system", [SIDECAR]), namespace_labels={"supply-chain/admission-mode": "enforce"})
    assert not admit(policy, spoofed).matched, "an exempt namespace stays exempt whatever its labels say"
    relabelled = Request(pod("payments", [SIDECAR]), namespace_labels={"supply-chain/admission-mode": "audit"})
    assert not admit(policy, relabelled).allowed


def test_system_namespaces_stay_unmatched_even_if_the_model_lists_them() -> None:
    """The config refuses them; the rendered selector excludes them again on its own."""
    model = model_of("prod")
    # in the default mode (every namespace but...) and in the other one (only those listed)
    wrongly_listed: tuple[tuple[str, Mode], ...] = (
        ("kube-system", "enforce"),
        ("kyverno", "audit"),
        ("cosign-system", "audit"),
    )
    listed = replace(model, namespaces=(*model.namespaces, *(NamespacePolicy(ns, m) for ns, m in wrongly_listed)))
    for doc in kyverno_policies(listed):
        if doc["kind"] != "PolicyException":
            assert not _reached(doc) & {"kube-system", "kyverno", "cosign-system"}, doc["metadata"]["name"]


# --- kubectl debug, updates and other operations -------------------------------------------------


def _debug(namespace: str, ephemeral: str) -> Request:
    """`kubectl debug`: an UPDATE of the pod's ephemeralcontainers subresource."""
    return Request(pod(namespace, [GOOD], ephemeral=[ephemeral]), "UPDATE", "ephemeralcontainers")


@pytest.mark.parametrize(
    ("name", "image"),
    [
        ("verify-image-signatures-enforce", SIDECAR),  # unsigned
        ("restrict-image-registries-enforce", f"docker.io/library/busybox{DIGEST}"),
        ("require-sbom-payments", SIDECAR),  # no SBOM
    ],
)
def test_kubectl_debug_reaches_every_enforce_policy(name: str, image: str) -> None:
    policy = policies_of("prod")[name]
    outcome = admit(policy, _debug("payments", image), Registry().sign(GOOD, "keyless"))
    assert outcome.matched
    assert not outcome.allowed


def test_kubectl_debug_with_an_unsigned_image_is_denied_and_a_signed_one_admitted() -> None:
    policy = policies_of("prod")["verify-image-signatures-enforce"]
    signed_app = Registry().sign(GOOD, "keyless")
    denied = admit(policy, _debug("payments", SIDECAR), signed_app)
    assert not denied.allowed
    assert denied.message == f"image from {REG} is not signed by a trusted signer of this cluster"
    assert admit(policy, _debug("payments", SIDECAR), signed_app.sign(SIDECAR, "key_image_signing")).allowed


def test_updating_a_pod_to_an_unsigned_image_is_denied() -> None:
    policy = policies_of("prod")["verify-image-signatures-enforce"]
    signed = Registry().sign(GOOD, "keyless")
    outcome = admit(policy, pod("payments", [SIDECAR]), signed, operation="UPDATE", old=pod("payments", [GOOD]))
    assert outcome.matched
    assert not outcome.allowed


def test_an_update_that_keeps_the_images_is_not_re_verified() -> None:
    """A pod whose image no longer verifies (purged signature, rotated key, log outage) can still have its
    labels or finalizers edited: no lockout."""
    foreign = "docker.io/library/busybox@sha256:" + "c" * 64  # allowed once, say, and no longer
    for name, image in (("verify-image-signatures-enforce", SIDECAR), ("restrict-image-registries-enforce", foreign)):
        policy = policies_of("prod")[name]
        running = pod("payments", [image])
        assert not admit(policy, running, Registry(), operation="UPDATE", old=running).matched
        assert not admit(policy, running, Registry()).allowed, "a new pod with it is still denied"


@pytest.mark.parametrize(("operation", "subresource"), [("DELETE", ""), ("CONNECT", "exec"), ("CREATE", "binding")])
def test_requests_that_run_no_new_image_are_not_policed(operation: str, subresource: str) -> None:
    policy = policies_of("prod")["verify-image-signatures-enforce"]
    assert not admit(policy, Request(pod("payments", [SIDECAR]), operation, subresource)).matched


# --- what validationConfigurations add ------------------------------------------------------------


def test_enforce_verifies_every_matched_image_by_digest_and_audit_never_mutates() -> None:
    policies = policies_of("prod")
    strict = {"mutateDigest": False, "verifyDigest": True, "required": True}
    for name in ("verify-image-signatures-enforce", "require-sbom-payments", "require-provenance-payments"):
        assert policies[name]["spec"]["validationConfigurations"] == strict, name
    audit = {"mutateDigest": False, "verifyDigest": False, "required": True}
    assert policies["verify-image-signatures-audit"]["spec"]["validationConfigurations"] == audit


def test_a_signed_tag_is_denied_in_enforce_and_only_reported_in_audit() -> None:
    tagged = f"{REG}/payments/api:1.2.3"
    registry = Registry().sign(tagged, "keyless")
    enforce = admit(policies_of("prod")["verify-image-signatures-enforce"], pod("payments", [tagged]), registry)
    assert not enforce.allowed
    assert enforce.message is not None
    assert "digest" in enforce.message
    assert admit(policies_of("prod")["verify-image-signatures-audit"], pod("analytics", [tagged]), registry).allowed


def test_without_required_digests_enforce_pins_the_tag_it_verified() -> None:
    def tags_allowed(raw: dict[str, Any]) -> None:
        raw["admission"]["requireDigest"] = False

    policy = policies_of("prod", tags_allowed)["verify-image-signatures-enforce"]
    assert policy["spec"]["validationConfigurations"] == {"mutateDigest": True, "verifyDigest": True, "required": True}
    tagged = f"{REG}/payments/api:1.2.3"
    assert admit(policy, pod("payments", [tagged]), Registry().sign(tagged, "keyless")).allowed
    assert not admit(policy, pod("payments", [tagged])).allowed


def test_without_required_digests_the_registry_policy_asks_for_an_allowed_registry_only() -> None:
    def tags_allowed(raw: dict[str, Any]) -> None:
        raw["admission"]["requireDigest"] = False

    policy = policies_of("prod", tags_allowed)["restrict-image-registries-enforce"]
    assert [v["message"] for v in policy["spec"]["validations"]] == [f"images must come from {REG}"]
    assert admit(policy, pod("payments", [f"{REG}/payments/api:1.2.3"])).allowed
    assert not admit(policy, pod("payments", ["docker.io/library/nginx:1.27"])).allowed
    description = policy["metadata"]["annotations"]["policies.kyverno.io/description"]
    assert description.endswith(f" must come from {REG}. Add registries under admission.allowedRegistries.")


# --- the harness itself ---------------------------------------------------------------------------


def test_an_expression_that_fails_to_evaluate_is_an_error_not_a_denial() -> None:
    policy = policies_of("prod")["restrict-image-registries-enforce"]
    broken = {**policy, "spec": {**policy["spec"], "validations": [{"expression": "object.spec.nothing.size() > 0"}]}}
    with pytest.raises(EvaluationError):
        admit(broken, pod("payments", [GOOD]))
    not_bool = {**policy, "spec": {**policy["spec"], "validations": [{"expression": "'yes'"}]}}
    with pytest.raises(EvaluationError, match="not a bool"):
        admit(not_bool, pod("payments", [GOOD]))


def test_a_match_condition_that_does_not_hold_leaves_the_request_unseen() -> None:
    policy = policies_of("prod")["verify-image-signatures-enforce"]
    conditioned = {
        **policy,
        "spec": {**policy["spec"], "matchConditions": [{"name": "n", "expression": "request.operation == 'UPDATE'"}]},
    }
    assert not admit(conditioned, pod("payments", [SIDECAR])).matched
    assert not admit(conditioned, pod("payments", [SIDECAR]), operation="UPDATE").allowed


def test_a_policy_with_admission_evaluation_off_never_sees_a_request() -> None:
    policy = policies_of("prod")["verify-image-signatures-enforce"]
    background_only = {
        **policy,
        "spec": {**policy["spec"], "evaluation": {"admission": {"enabled": False}, "background": {"enabled": True}}},
    }
    assert not admit(background_only, pod("payments", [SIDECAR])).matched


def test_has_tests_only_the_last_field_so_a_missing_one_before_it_is_an_error_as_in_cel_go() -> None:
    """cel-go evaluates `a.b` in `has(a.b.c)`: with no `a.b` that is an error (cel-go#912), not false."""
    policy = policies_of("prod")["restrict-image-registries-enforce"]

    def probe(expression: str) -> Manifest:
        return {**policy, "spec": {**policy["spec"], "validations": [{"expression": expression}]}}

    assert admit(probe("has(object.spec.containers)"), pod("payments", [GOOD])).allowed
    assert not admit(probe("has(object.spec.nothing)"), pod("payments", [GOOD])).allowed
    for expression in (
        "has(object.spec.nothing.deeper)",
        "variables.allImages.all(i, has(object.spec.nothing.deeper))",
    ):
        with pytest.raises(EvaluationError):
            admit(probe(expression), pod("payments", [GOOD]))
