"""What the two admission engines' pods ask the scheduler for: Helm values the charts pass straight into
the Deployments. A misspelt quantity (`256mi`) is refused by the API server and the engine never starts;
`200M` CPU is two hundred million cores, which no node has; either leaves admission down."""

from __future__ import annotations

import pytest

from components.render.kyverno_values import kyverno_values
from components.render.policy_controller_values import policy_controller_values


@pytest.mark.parametrize("client_id", [None, "00000000-0000-0000-0000-00000000000a"])
def test_kyverno_admission_pods_request_a_fifth_of_a_core_and_are_capped_in_memory(client_id: str | None) -> None:
    admission = kyverno_values(workload_identity_client_id=client_id)["admissionController"]
    assert admission["container"]["resources"] == {
        "requests": {"cpu": "200m", "memory": "256Mi"},
        "limits": {"memory": "768Mi"},
    }


def test_kyverno_runs_one_reports_controller_beside_three_admission_controllers() -> None:
    values = kyverno_values()
    assert values["admissionController"]["replicas"] == 3
    assert values["reportsController"]["replicas"] == 1, "background scans re-verify images: one at a time"


@pytest.mark.parametrize("client_id", [None, "00000000-0000-0000-0000-00000000000b"])
def test_policy_controller_webhook_pods_request_a_tenth_of_a_core_and_are_capped_in_memory(
    client_id: str | None,
) -> None:
    webhook = policy_controller_values(workload_identity_client_id=client_id)["webhook"]
    assert webhook["resources"] == {
        "requests": {"cpu": "100m", "memory": "128Mi"},
        "limits": {"memory": "512Mi"},
    }
