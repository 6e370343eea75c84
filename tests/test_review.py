"""The review lists every trust decision a security reviewer must see before a stack ships."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from components.model.config import parse_stack_config
from policies.review import Finding, review
from tests.conftest import stack_raw

TODAY = date(2026, 11, 24)


def findings_of(stack: str, edit: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Finding]:
    raw = stack_raw(stack)
    if edit is not None:
        edit(raw)
    return {f.key.removeprefix("supply-chain:"): f for f in review(parse_stack_config(raw, today=TODAY))}


def test_prod_shows_its_exempt_namespace_and_who_owns_it() -> None:
    finding = findings_of("prod")["admission.exemptNamespaces[0]"]
    assert finding.severity == "medium"
    assert "gatekeeper-system is outside admission (owner platform-team@contoso.example)" in finding.message


def test_a_default_mode_that_checks_nothing_is_high() -> None:
    def off(raw: dict[str, Any]) -> None:
        raw["admission"]["defaultMode"] = "off"

    assert findings_of("dev", off)["admission.defaultMode"].severity == "high"
    assert findings_of("dev")["admission.defaultMode"].severity == "info", "dev reports (audit) by default"
    assert "admission.defaultMode" not in findings_of("prod"), "prod enforces everywhere not exempt"


def test_who_checks_a_workflows_caller_is_shown_for_every_image_signing_github_identity() -> None:
    prod = findings_of("prod")
    bound = {k: f for k, f in prod.items() if k.startswith("signing.keyless[")}
    assert sorted(bound) == ["signing.keyless[0]", "signing.keyless[1]"], "the builder signs provenance only"
    assert all(f.severity == "info" and "by Policy Controller" in f.message for f in bound.values())
    dev = findings_of("dev")["signing.keyless[0]"]
    assert dev.severity == "medium", "Kyverno alone cannot check the caller"

    def reusable(raw: dict[str, Any]) -> None:
        raw["signing"]["keyless"][0]["callers"] = ["contoso/payments-api"]

    assert findings_of("dev", reusable)["signing.keyless[0]"].severity == "high"


def test_an_enforce_namespace_open_to_every_signer_is_shown() -> None:
    assert not [
        k for k in findings_of("prod") if k in {"admission.namespaces.payments", "admission.namespaces.storefront"}
    ]

    def unbind(raw: dict[str, Any]) -> None:
        raw["admission"]["namespaces"]["storefront"] = {"mode": "enforce"}

    finding = findings_of("prod", unbind)["admission.namespaces.storefront"]
    assert finding.severity == "medium"
    assert "another team's pipeline can ship into it" in finding.message


def test_a_rotation_overlap_is_shown_with_its_end() -> None:
    def rotate(raw: dict[str, Any]) -> None:
        raw["signing"]["keys"][0]["previousVersions"] = [{"version": "a" * 32, "until": date(2026, 12, 31)}]

    finding = findings_of("prod", rotate)["signing.keys[0].previousVersions[0]"]
    assert finding.severity == "medium"
    assert "still trusted until 2026-12-31" in finding.message
