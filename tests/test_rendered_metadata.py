"""What a cluster admin reads on the rendered documents without opening the config: the labels that
select everything the stack put there (`kubectl get ... -l app.kubernetes.io/managed-by=pulumi-supply-chain`),
a title and description on each Policy Controller policy, and who answers for an exception, why, until
when and where."""

from __future__ import annotations

from typing import Any

import pytest

from components.render.kyverno_policies import kyverno_policies
from components.render.policy_controller_policies import policy_controller_policies
from tests.conftest import SHIPPED_STACKS
from tests.test_policy_controller import model_of

MANAGED = {"app.kubernetes.io/managed-by": "pulumi-supply-chain", "app.kubernetes.io/part-of": "supply-chain"}


def _with_an_extra_registry(raw: dict[str, Any]) -> None:
    raw["admission"]["allowedRegistries"] = ["mcr.microsoft.com"]


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_every_rendered_document_of_both_engines_carries_the_stacks_labels(stack: str) -> None:
    model = model_of(stack, _with_an_extra_registry)
    docs = kyverno_policies(model) + policy_controller_policies(model)
    kinds = set()
    for doc in docs:
        assert doc["metadata"].get("labels") == MANAGED, f"{doc['kind']}/{doc['metadata']['name']}"
        kinds.add(doc["kind"])
    if stack == "prod":
        assert {"PolicyException", "ClusterImagePolicy"} <= kinds


def test_every_policy_controller_policy_has_a_title_and_a_description() -> None:
    docs = policy_controller_policies(model_of("prod", _with_an_extra_registry))
    assert len(docs) == 7
    for doc in docs:
        annotations = doc["metadata"]["annotations"]
        assert annotations.get("supply-chain/title"), doc["metadata"]["name"]
        assert annotations.get("supply-chain/description"), doc["metadata"]["name"]


def test_an_exception_names_its_owner_reason_last_day_and_namespace() -> None:
    (exception,) = [d for d in kyverno_policies(model_of("prod")) if d["kind"] == "PolicyException"]
    assert exception["metadata"]["annotations"] == {
        "supply-chain/owner": "analytics-lead@contoso.example",
        "supply-chain/reason": "Unsigned vendor image; replacement tracked in SEC-1432.",
        "supply-chain/expires": "2027-06-30",
        "supply-chain/namespace": "analytics",
    }
