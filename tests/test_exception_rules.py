"""Policy exceptions: the config refuses one for a namespace admission does not list and image globs
that exempt everything; a narrow glob exempts exactly the images it names, in its namespace."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from components.model.config import ConfigError, parse_stack_config
from components.model.trust import trust_model
from components.render.kyverno_policies import kyverno_policies
from tests.cel_harness import condition_holds, pod
from tests.conftest import stack_raw

TODAY = date(2026, 11, 24)
DIGEST = "@sha256:" + "b" * 64


def _prod_with(**exception: Any) -> dict[str, Any]:
    raw = stack_raw("prod")
    raw["admission"]["exceptions"][0].update(exception)
    return raw


def _refused(raw: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_stack_config(raw, today=TODAY)
    return [p.key.removeprefix("supply-chain:") for p in caught.value.problems]


def test_an_exception_for_a_namespace_admission_does_not_list_is_refused() -> None:
    assert "admission.exceptions[0].namespace" in _refused(_prod_with(namespace="billing"))


@pytest.mark.parametrize(
    "images",
    [
        ["*"],
        ["*/*"],
        ["**"],
        [" "],
        ["crcontosoprod.azurecr.io/app", "*"],
        ["crcontosoprod.azurecr.io/*"],  # a whole registry
        ["crcontosoprod.azurecr.io/analytics/*"],  # every repository under a path
        ["crcontosoprod.azurecr.io/*/vendor@sha256:*"],  # a * across repositories
    ],
)
def test_an_exception_for_more_than_named_repositories_is_refused(images: list[str]) -> None:
    refused = _refused(_prod_with(images=images))
    assert refused
    assert all(key.startswith("admission.exceptions[0].images") for key in refused)


def test_a_repository_glob_exempts_that_repository_only_in_its_namespace() -> None:
    raw = _prod_with(images=["crcontosoprod.azurecr.io/analytics/vendor-renderer@sha256:*"])
    (exception,) = [
        d for d in kyverno_policies(trust_model(parse_stack_config(raw, today=TODAY))) if d["kind"] == "PolicyException"
    ]
    vendor = f"crcontosoprod.azurecr.io/analytics/vendor-renderer{DIGEST}"
    assert condition_holds(exception, pod("analytics", [vendor]))
    assert not condition_holds(
        exception, pod("analytics", [vendor], init=[f"crcontosoprod.azurecr.io/analytics/vendor-init{DIGEST}"])
    ), "another repository, even beside the exempted one"
    for image in (
        f"crcontosoprod.azurecr.io/analytics/report{DIGEST}",  # another repository
        f"crcontosoprod.azurecr.io/analytics/vendor-rendererX{DIGEST}",  # the repository is literal
        f"evil.example/crcontosoprod.azurecr.io/analytics/vendor-x{DIGEST}",  # the glob is anchored
        f"crcontosoprodXazurecr.io/analytics/vendor-x{DIGEST}",  # '.' is literal
    ):
        assert not condition_holds(exception, pod("analytics", [image])), image
    assert not condition_holds(exception, pod("payments", [vendor])), "only in the exception's namespace"


def test_an_exception_names_every_policy_that_can_deny_its_images() -> None:
    raw = stack_raw("dev")  # payments (audit) requires an SBOM and provenance
    raw["admission"]["exceptions"] = [
        {
            "name": "vendor-agent",
            "namespace": "payments",
            "images": ["crcontosodev.azurecr.io/vendor/agent@sha256:*", "crcontosodev.azurecr.io/vendor/init@sha256:*"],
            "owner": "payments-lead@contoso.example",
            "reason": "Vendor images without attestations; SEC-2001.",
            "expires": "2027-01-31",
        }
    ]
    (exception,) = [
        d for d in kyverno_policies(trust_model(parse_stack_config(raw, today=TODAY))) if d["kind"] == "PolicyException"
    ]
    assert {r["name"] for r in exception["spec"]["policyRefs"]} == {
        "verify-image-signatures-audit",
        "require-sbom-payments",
        "require-provenance-payments",
    }, "no exception lifts the registry allow-list or the digest rule"
    agent, init = (f"crcontosodev.azurecr.io/vendor/{name}{DIGEST}" for name in ("agent", "init"))
    assert condition_holds(exception, pod("payments", [agent], init=[init])), "either glob exempts its image"
    assert not condition_holds(exception, pod("payments", [agent], init=[f"crcontosodev.azurecr.io/app/x{DIGEST}"]))


def test_an_exception_also_lifts_the_namespaces_own_signers_and_repositories() -> None:
    raw = stack_raw("dev")
    raw["admission"]["namespaces"]["storefront"].update(signers=["release"], repositories=["storefront/*"])
    raw["admission"]["exceptions"] = [
        {
            "name": "vendor-proxy",
            "namespace": "storefront",
            "images": ["crcontosodev.azurecr.io/vendor/proxy@sha256:*"],
            "owner": "storefront-lead@contoso.example",
            "reason": "Unsigned vendor proxy outside storefront's repositories; SEC-2002.",
            "expires": "2027-01-31",
        }
    ]
    (exception,) = [
        d for d in kyverno_policies(trust_model(parse_stack_config(raw, today=TODAY))) if d["kind"] == "PolicyException"
    ]
    assert {r["name"] for r in exception["spec"]["policyRefs"]} == {
        "verify-image-signatures-audit",
        "require-signers-storefront",
        "restrict-repositories-storefront",
    }, "else the vendor image, signed by nobody and from another repository, is still denied"
