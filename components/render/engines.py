"""The admission engines as data: what to install (a pinned chart), where, which service accounts
read the registry and the vault, and how the engine's values and documents are rendered. The one
admission-engine component is driven by these descriptors, so a third engine is a new entry here."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from components.model.contract import KYVERNO_NAMESPACE, POLICY_CONTROLLER_NAMESPACE, Engine
from components.model.trust import TrustModel
from components.render import kyverno_values as kyverno_chart
from components.render import policy_controller_values as policy_controller_chart
from components.render.kyverno_policies import kyverno_policies
from components.render.policy_controller_policies import policy_controller_policies

Manifest = dict[str, Any]


@dataclass(frozen=True)
class ChartPin:
    """A Helm chart at an exact version from one repository, installed under a fixed release name."""

    chart: str
    version: str
    repository: str
    release_name: str


@dataclass(frozen=True)
class FederatedAccount:
    """A service account of the engine that signs in to Azure as the admission identity."""

    label: str
    """Names the federated credential (unique per identity)."""
    service_account: str


@dataclass(frozen=True)
class EngineDescriptor:
    """Everything the admission-engine component needs to know about one engine."""

    engine: Engine
    chart: ChartPin
    namespace: str
    federated_accounts: tuple[FederatedAccount, ...]
    values: Callable[[TrustModel, str | None], dict[str, Any]]
    """Helm values from the trust model and the workload identity's client id (None off AKS)."""
    documents: Callable[[TrustModel], list[Manifest]]
    """Every document the engine applies after its release."""
    policy_kinds: frozenset[str]
    """Kinds of the documents that are policies (named in the stack outputs, checked after deploy)."""


def _kyverno_values(model: TrustModel, workload_identity_client_id: str | None) -> dict[str, Any]:
    return kyverno_chart.kyverno_values(
        workload_identity_client_id=workload_identity_client_id,
        plain_http_registry=model.plain_http_registry,
        pull_secret=model.registry_pull_secret,
    )


def _policy_controller_values(model: TrustModel, workload_identity_client_id: str | None) -> dict[str, Any]:
    return policy_controller_chart.policy_controller_values(workload_identity_client_id=workload_identity_client_id)


KYVERNO = EngineDescriptor(
    engine="kyverno",
    chart=ChartPin(
        kyverno_chart.CHART, kyverno_chart.CHART_VERSION, kyverno_chart.CHART_REPOSITORY, kyverno_chart.RELEASE_NAME
    ),
    namespace=KYVERNO_NAMESPACE,
    federated_accounts=(
        FederatedAccount("kyverno-admission", kyverno_chart.ADMISSION_SERVICE_ACCOUNT),
        FederatedAccount("kyverno-reports", kyverno_chart.REPORTS_SERVICE_ACCOUNT),
    ),
    values=_kyverno_values,
    documents=kyverno_policies,
    policy_kinds=frozenset({"ImageValidatingPolicy", "ValidatingPolicy"}),
)

POLICY_CONTROLLER = EngineDescriptor(
    engine="policy-controller",
    chart=ChartPin(
        policy_controller_chart.CHART,
        policy_controller_chart.CHART_VERSION,
        policy_controller_chart.CHART_REPOSITORY,
        policy_controller_chart.RELEASE_NAME,
    ),
    namespace=POLICY_CONTROLLER_NAMESPACE,
    federated_accounts=(FederatedAccount("policy-controller", policy_controller_chart.SERVICE_ACCOUNT),),
    values=_policy_controller_values,
    documents=policy_controller_policies,
    policy_kinds=frozenset({"ClusterImagePolicy"}),
)

ENGINES: Mapping[Engine, EngineDescriptor] = {"kyverno": KYVERNO, "policy-controller": POLICY_CONTROLLER}
