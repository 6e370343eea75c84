"""`admission.attestations.<ns>.vulnerabilities`: each refusal names its exact key and says what to write
instead; the config one step away validates, and the trust model (and its stack output) carries it."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from components.model.config import ConfigError, parse_stack_config
from components.model.trust import TrustModel, VulnerabilityScan, trust_model
from tests.conftest import stack_raw

TODAY = date(2026, 11, 24)
KEY = "admission.attestations.payments.vulnerabilities"


def _with_scan(required: Any, stack: str = "dev", namespace: str = "payments") -> dict[str, Any]:
    raw = stack_raw(stack)
    raw["admission"]["attestations"].setdefault(namespace, {})["vulnerabilities"] = required
    return raw


def _problems(raw: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as caught:
        parse_stack_config(raw, today=TODAY)
    return [(p.key.removeprefix("supply-chain:"), p.message) for p in caught.value.problems]


@pytest.mark.parametrize(
    ("required", "key", "says"),
    [
        ({"maxSeverity": "critical", "maxAgeHours": 24}, "maxSeverity", "critical would let every finding through"),
        ({"maxSeverity": "severe", "maxAgeHours": 24}, "maxSeverity", "'none', 'low', 'medium' or 'high'"),
        ({"maxSeverity": "HIGH", "maxAgeHours": 24}, "maxSeverity", "write the severity in lower case: high"),
        ({"maxSeverity": 3, "maxAgeHours": 24}, "maxSeverity", "'none', 'low', 'medium' or 'high'"),
        ({"maxSeverity": "medium", "maxAgeHours": 0}, "maxAgeHours", "would refuse every scan"),
        ({"maxSeverity": "medium", "maxAgeHours": -24}, "maxAgeHours", "would refuse every scan"),
        ({"maxSeverity": "medium", "maxAgeHours": 721}, "maxAgeHours", "more than 720 (30 days)"),
        ({"maxSeverity": "medium", "maxAgeHours": 87600}, "maxAgeHours", "more than 720 (30 days)"),
        ({"maxSeverity": "medium", "maxAgeHours": "24h"}, "maxAgeHours", "not a whole number of hours"),
        ({"maxSeverity": "medium", "maxAgeHours": 1.5}, "maxAgeHours", "not a whole number of hours"),
        ({"maxSeverity": "medium", "maxAgeHours": True}, "maxAgeHours", "not a whole number of hours"),
        ({"maxSeverity": "medium"}, "maxAgeHours", "is required"),
        ({"maxAgeHours": 24}, "maxSeverity", "is required"),
        (
            {"maxSeverity": "medium", "maxAgeHours": 24, "signer": "builder"},
            "signer",
            "allowed here: maxAgeHours, maxSeverity",
        ),
    ],
)
def test_each_refusal_names_its_key_and_the_fix(required: dict[str, Any], key: str, says: str) -> None:
    ((refused, message),) = _problems(_with_scan(required))
    assert refused == f"{KEY}.{key}"
    assert says in message


@pytest.mark.parametrize(("severity", "hours"), [("none", 1), ("low", 24), ("medium", 168), ("high", 720)])
def test_the_config_one_step_away_validates_and_reaches_the_trust_model(severity: str, hours: int) -> None:
    config = parse_stack_config(_with_scan({"maxSeverity": severity, "maxAgeHours": hours}), today=TODAY)
    payments = trust_model(config).namespace("payments")
    assert payments.vulnerabilities == VulnerabilityScan(severity, hours)  # type: ignore[arg-type]
    assert payments.sbom == "spdx", "the other requirements of the namespace stay"


def test_a_scan_for_a_namespace_not_listed_is_refused() -> None:
    raw = _with_scan({"maxSeverity": "medium", "maxAgeHours": 24}, namespace="billing")
    assert _problems(raw) == [
        (
            "admission.attestations.billing",
            "billing is not listed in admission.namespaces — add it there or remove this requirement",
        )
    ]


def test_a_policy_controller_only_stack_refuses_a_scan_requirement_it_cannot_scope_as_it_refuses_an_sbom() -> None:
    def policy_controller_only(required: dict[str, Any]) -> list[tuple[str, str]]:
        raw = stack_raw("dev")
        raw["admission"]["engines"] = ["policy-controller"]
        raw["admission"]["defaultMode"] = "off"
        raw["admission"]["namespaces"] = {"payments": {"mode": "enforce"}}
        raw["admission"]["exceptions"] = []
        raw["admission"]["attestations"] = {"payments": required}
        raw["signing"]["signatureFormat"] = "legacy"  # the layout Policy Controller reads
        return _problems(raw)

    scan = policy_controller_only({"vulnerabilities": {"maxSeverity": "high", "maxAgeHours": 24}})
    sbom = policy_controller_only({"sbom": "spdx"})
    assert scan == sbom
    assert [key for key, _ in scan] == ["admission.attestations.payments"]
    assert "admission.namespaces.payments.repositories" in scan[0][1], "Policy Controller scopes by image path"


def test_the_scan_requirement_survives_the_stack_output() -> None:
    model = trust_model(parse_stack_config(_with_scan({"maxSeverity": "low", "maxAgeHours": 48}), today=TODAY))
    assert TrustModel.from_json(model.to_json()) == model
    older_output = model.to_json()
    for ns in older_output["namespaces"]:
        del ns["vulnerabilities"]  # written before the requirement existed
    assert all(ns.vulnerabilities is None for ns in TrustModel.from_json(older_output).namespaces)
