"""Nothing is lost between the stack-config review and the policy pack: every finding that loosens something
names the pack rule that reports the same concern, and that rule does report it from the planned resources, so
`pulumi preview --policy-pack policies` sees what the offline review sees."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest

from policies.offline import check_resources
from policies.review import Finding, pack_rule
from policies.rules import ALL_POLICIES
from scripts.planning import Plan
from tests.conftest import stack_raw

OUTSIDE_THE_STACK = {"supply-chain:buildAgents.runner.workflows"}
"""Without a managed runner group (`manageGroup: false`), which workflows may use it is set in GitHub, on a group
the stack does not hold: no planned resource shows it, so only the config review can say it."""


def _loosened_dev() -> dict[str, Any]:
    """dev with every loosening the config allows outside prod that the shipped stacks do not show."""
    raw = stack_raw("dev")
    del raw["buildAgents"]  # not what this is about; a third of the plan's time
    admission = raw["admission"]
    admission["exemptNamespaces"] = [{"name": "legacy", "owner": "team@contoso.example", "reason": "vendor chart"}]
    admission["allowedRegistries"] = ["mcr.microsoft.com"]
    admission["requireDigest"] = False
    admission["namespaces"] = {"payments": {"mode": "enforce"}, "storefront": {"mode": "enforce"}}
    key = raw["signing"]["keys"][0]
    key["transparencyLogRequired"] = False
    key["previousVersions"] = [{"version": "0" * 32, "until": (date.today() + timedelta(days=30)).isoformat()}]
    raw["registry"]["azureServicesBypassEnabled"] = True
    raw["registry"]["repositoryPermissionsEnabled"] = False
    raw["network"]["egress"]["dnsFilteringEnabled"] = False
    return raw


def _unreported(plan: Plan) -> list[tuple[Finding, str]]:
    reported = {v.rule for v in check_resources(plan.resources)}
    return [
        (finding, rule)
        for finding in plan.findings
        if (rule := pack_rule(finding)) is not None and rule not in reported and finding.key not in OUTSIDE_THE_STACK
    ]


@pytest.mark.parametrize("stack", ["dev", "prod", "local"])
def test_every_loosening_the_review_finds_in_a_shipped_stack_is_a_pack_violation(
    plan_of: Callable[[str], Plan], stack: str
) -> None:
    assert _unreported(plan_of(stack)) == []


def test_every_loosening_the_config_allows_outside_prod_is_a_pack_violation(
    plan_raw: Callable[[dict[str, Any]], Plan],
) -> None:
    plan = plan_raw(_loosened_dev())
    keys = {f.key.removeprefix("supply-chain:") for f in plan.findings}
    assert {
        "admission.defaultMode",
        "admission.exemptNamespaces[0]",
        "admission.allowedRegistries",
        "admission.requireDigest",
        "signing.keys[0].transparencyLogRequired",
        "signing.keys[0].previousVersions[0]",
        "registry.azureServicesBypassEnabled",
        "registry.repositoryPermissionsEnabled",
        "network.egress.dnsFilteringEnabled",
    } <= keys
    assert _unreported(plan) == []


def test_each_finding_names_a_rule_the_pack_has_or_is_an_explanation() -> None:
    rules = {policy.name for policy in ALL_POLICIES}
    from policies.review import PACK_RULES

    assert {rule for _, rule in PACK_RULES} <= rules
    explanation = Finding("info", "supply-chain:admission.engines", "Policy Controller checks ...")
    assert pack_rule(explanation) is None
    checked = Finding("info", "supply-chain:signing.keyless[0]", "admitted only as run by its own repository")
    assert pack_rule(checked) is None
    unchecked = Finding("medium", "supply-chain:signing.keyless[0]", "signs for whoever runs it")
    assert pack_rule(unchecked) == "keyless-callers-checked"
    assert pack_rule(Finding("low", "supply-chain:signing.keyless[3].subjectRegExp", "...")) == "identities-exact"
    assert pack_rule(Finding("info", "supply-chain:admission.namespaces.payments", "...")) == (
        "namespaces-bound-to-signers"
    )
    assert pack_rule(Finding("info", "supply-chain:admission.namespaces.payments.mode", "...")) == (
        "namespaces-in-audit"
    )
