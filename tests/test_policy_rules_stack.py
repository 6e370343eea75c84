"""The pack's stack rules, over the shipped prod plan and over hand-made stacks: an enforce namespace no signature
policy denies in, and an audit namespace past (or, in prod, without) its deadline, are reported."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from pulumi_policy import PolicyResource

from policies.offline import check_resources
from policies.rules.stack import POLICIES, selects
from scripts.planning import Plan
from tests.policy_args import namespace, policy_resource, stack_findings, stack_violations

RULES = {policy.name: policy for policy in POLICIES}
MODE = "supply-chain/admission-mode"


def _signature_policy(namespaces: list[str], action: str = "Deny", **extra: Any) -> PolicyResource:
    spec = {
        "validationActions": [action],
        "matchImageReferences": [{"glob": "cr.azurecr.io/*"}],
        "matchConstraints": {
            "namespaceSelector": {
                "matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "In", "values": namespaces}]
            }
        },
        **extra,
    }
    return policy_resource("kubernetes:policies.kyverno.io/v1:ImageValidatingPolicy", {"spec": spec})


def _violations(rule: str, *resources: PolicyResource) -> list[str]:
    return stack_violations(RULES[rule], resources)


def test_an_enforce_namespace_needs_a_signature_policy_that_denies_in_it() -> None:
    payments = namespace("payments", "enforce")
    assert _violations("enforce-namespaces-covered", payments, _signature_policy(["payments"])) == []
    uncovered = "namespace payments is labelled enforce, but no signature policy denies in it"
    assert _violations("enforce-namespaces-covered", payments, _signature_policy(["storefront"])) == [uncovered]
    assert _violations("enforce-namespaces-covered", payments, _signature_policy(["payments"], "Audit")) == [uncovered]
    sbom_only = _signature_policy(["payments"], attestations=[{"name": "sbom"}])
    assert _violations("enforce-namespaces-covered", payments, sbom_only) == [uncovered]


def test_audit_deadlines_are_kept_and_prod_audit_needs_one() -> None:
    rule = "audit-namespaces-have-a-deadline"
    assert _violations(rule, namespace("analytics", "audit", "2999-01-01")) == []
    assert _violations(rule, namespace("analytics", "audit", "2020-01-01")) == [
        "namespace analytics is still in audit after its deadline 2020-01-01: switch it to enforce"
    ]
    assert _violations(rule, namespace("analytics", "audit")) == [], "outside prod, a deadline is optional"
    prod_registry = policy_resource("azure-native:containerregistry:Registry", {"tags": {"environment": "prod"}})
    assert _violations(rule, prod_registry, namespace("analytics", "audit")) == [
        "prod namespace analytics admits unsigned images with no deadline (auditUntil)"
    ]


def test_without_its_signature_policy_the_prod_plan_breaks_the_rule(plan_of: Callable[[str], Plan]) -> None:
    # both deny unsigned images in payments and storefront: the stack's signature policy and each tenant's signers
    signature_policies = ("verify-image-signatures-enforce", "require-signers-payments", "require-signers-storefront")
    resources = [r for r in plan_of("prod").resources if not r.name.endswith(signature_policies)]
    assert len(resources) == len(plan_of("prod").resources) - 3
    found = [(v.rule, v.message) for v in check_resources(resources) if v.level == "mandatory"]
    assert found == [
        ("enforce-namespaces-covered", "namespace payments is labelled enforce, but no signature policy denies in it"),
        (
            "enforce-namespaces-covered",
            "namespace storefront is labelled enforce, but no signature policy denies in it",
        ),
    ]


def test_label_selectors_select_as_kubernetes_does() -> None:
    labels = {"kubernetes.io/metadata.name": "payments", MODE: "enforce"}
    assert selects(None, labels)
    assert selects({"matchLabels": {MODE: "enforce"}}, labels)
    assert not selects({"matchLabels": {MODE: "audit"}}, labels)
    assert not selects({"matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "NotIn",
                                              "values": ["payments"]}]}, labels)  # fmt: skip
    assert selects({"matchExpressions": [{"key": "team", "operator": "NotIn", "values": ["x"]}]}, labels)
    assert not selects({"matchExpressions": [{"key": "team", "operator": "In", "values": ["x"]}]}, labels)
    assert selects({"matchExpressions": [{"key": MODE, "operator": "Exists"}]}, labels)
    assert not selects({"matchExpressions": [{"key": MODE, "operator": "DoesNotExist"}]}, labels)


def test_each_finding_names_the_namespace_it_is_about() -> None:
    stack = [
        namespace("payments", "enforce"),
        namespace("analytics", "audit", "2020-01-01"),
        namespace("sandbox", "audit"),
        policy_resource("azure-native:keyvault:Vault", {"tags": {"environment": "prod"}}, "kv"),
    ]
    assert stack_findings(RULES["enforce-namespaces-covered"], stack) == [
        ("namespace payments is labelled enforce, but no signature policy denies in it", "payments")
    ]
    assert stack_findings(RULES["audit-namespaces-have-a-deadline"], stack) == [
        ("namespace analytics is still in audit after its deadline 2020-01-01: switch it to enforce", "analytics"),
        ("prod namespace sandbox admits unsigned images with no deadline (auditUntil)", "sandbox"),
    ]


class _Clock(datetime):
    """23:00 UTC on 27 November 2026, read on a host whose clock is ten hours ahead (already the 28th)."""

    @classmethod
    def now(cls, tz: Any = None) -> Any:
        at = datetime(2026, 11, 27, 23, 0, tzinfo=UTC)
        return at.astimezone(tz) if tz is not None else datetime(2026, 11, 28, 9, 0)


def test_the_deadline_day_itself_is_still_audit_by_the_utc_date(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("policies.rules.stack.datetime", _Clock)
    rule = "audit-namespaces-have-a-deadline"
    assert _violations(rule, namespace("analytics", "audit", "2026-11-27")) == []
    assert _violations(rule, namespace("analytics", "audit", "2026-11-26")) == [
        "namespace analytics is still in audit after its deadline 2026-11-26: switch it to enforce"
    ]


def test_label_selectors_require_an_existing_key_for_exists() -> None:
    labels = {"kubernetes.io/metadata.name": "payments"}
    assert not selects({"matchExpressions": [{"key": MODE, "operator": "Exists"}]}, labels)
    assert selects({"matchExpressions": [{"key": MODE, "operator": "DoesNotExist"}]}, labels)
