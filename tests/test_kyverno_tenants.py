"""What a tenant namespace admits under Kyverno: images of the stack's registry only from its own
repositories, and the fields a cluster admin sees on the tenant policies (severity, webhook timeout).
Every expectation is written out here, never taken from the code under test."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from tests.cel_harness import Registry, admit, pod
from tests.test_kyverno import DIGEST, GOOD, REG, policies_of

FOREIGN_REPOSITORY = f"{REG}/storefront/web{DIGEST}"
OTHER_REGISTRY = f"mcr.microsoft.com/oss/envoy{DIGEST}"


@pytest.mark.parametrize(
    ("image", "allowed"),
    [
        (GOOD, True),
        (f"{REG}/payments/worker{DIGEST}", True),
        (f"{REG}/payments/api:1.2.3", True),  # by tag: the digest is the registry policy's business
        (f"{REG}/payments/api:1.2.3{DIGEST}", True),
        (FOREIGN_REPOSITORY, False),  # another tenant's repository
        (f"{REG}/payments-evil/api{DIGEST}", False),  # a look-alike repository
        (f"{REG}/payments/api/nested{DIGEST}", False),  # `*` stays within one path segment
        (f"{REG}/payments{DIGEST}", False),
        (OTHER_REGISTRY, True),  # another registry: left to the registry policy
    ],
)
def test_payments_admits_images_of_the_stacks_registry_only_from_its_own_repositories(
    image: str, allowed: bool
) -> None:
    policy = policies_of("prod")["restrict-repositories-payments"]
    assert admit(policy, pod("payments", [image])).allowed is allowed
    assert admit(policy, pod("payments", [GOOD], init=[image])).allowed is allowed


def test_a_refusal_names_the_namespace_and_its_repositories() -> None:
    outcome = admit(policies_of("prod")["restrict-repositories-payments"], pod("payments", [FOREIGN_REPOSITORY]))
    assert outcome.message == "images of this registry in payments must come from payments/*"


def _two_repositories(raw: dict[str, Any]) -> None:
    raw["admission"]["namespaces"]["payments"]["repositories"] = ["payments/*", "shared/base-*"]


def test_a_namespace_with_two_repository_globs_admits_images_of_either_and_no_other() -> None:
    policy = policies_of("prod", _two_repositories)["restrict-repositories-payments"]
    assert admit(policy, pod("payments", [GOOD])).allowed
    assert admit(policy, pod("payments", [f"{REG}/shared/base-python{DIGEST}"])).allowed
    assert not admit(policy, pod("payments", [f"{REG}/shared/tools{DIGEST}"])).allowed
    assert not admit(policy, pod("payments", [FOREIGN_REPOSITORY])).allowed


def test_the_signers_and_repositories_policies_of_each_tenant_rank_high_in_reports() -> None:
    policies = policies_of("prod")
    for name in (
        "require-signers-payments",
        "require-signers-storefront",
        "restrict-repositories-payments",
        "restrict-repositories-storefront",
    ):
        assert policies[name]["metadata"]["annotations"]["policies.kyverno.io/severity"] == "high", name


def test_policies_that_read_only_the_pod_give_the_api_server_10s_and_those_that_verify_15s() -> None:
    """Verification needs registry and Rekor round trips; a check of the pod alone answers at once."""
    timeouts = {
        name: doc["spec"]["webhookConfiguration"]["timeoutSeconds"]
        for name, doc in policies_of("prod").items()
        if doc["kind"] != "PolicyException"
    }
    assert timeouts == {
        "verify-image-signatures-enforce": 15,
        "verify-image-signatures-audit": 15,
        "restrict-image-registries-enforce": 10,
        "restrict-image-registries-audit": 10,
        "require-sbom-payments": 15,
        "require-sbom-storefront": 15,
        "require-provenance-payments": 15,
        "require-signers-payments": 15,
        "require-signers-storefront": 15,
        "restrict-repositories-payments": 10,
        "restrict-repositories-storefront": 10,
    }


def test_a_tenant_signers_policy_admits_what_its_signers_signed() -> None:
    policy = policies_of("prod")["require-signers-payments"]
    assert admit(policy, pod("payments", [GOOD]), Registry().sign(GOOD, "keyless")).allowed
    denied = admit(policy, pod("payments", [GOOD]), Registry().sign(GOOD, "key_image_signing"))
    assert not denied.allowed
    assert denied.message == "image is not signed by one of payments's signers (payments-release)"


def test_with_two_signed_registries_each_is_held_to_the_namespaces_repositories() -> None:
    from components.render.kyverno_tenants import repositories_policy
    from tests.test_kyverno import model_of

    second = "crcontosoprodmirror.azurecr.io"
    model = replace(model_of("prod"), signed_registries=(REG, second))
    payments = next(ns for ns in model.namespaces if ns.name == "payments")
    policy = repositories_policy(model, payments)
    assert policy is not None
    assert admit(policy, pod("payments", [f"{second}/payments/api{DIGEST}"])).allowed
    assert not admit(policy, pod("payments", [f"{second}/storefront/web{DIGEST}"])).allowed
    assert not admit(policy, pod("payments", [FOREIGN_REPOSITORY])).allowed
    assert admit(policy, pod("payments", [OTHER_REGISTRY])).allowed, "an unsigned registry is the registry policy's"
