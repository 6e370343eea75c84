"""The whole stack config, and the cluster section it points admission at."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, model_validator

from components.model.config.admission import AdmissionConfig
from components.model.config.agents import BuildAgentsConfig
from components.model.config.errors import RuleViolation, config_key, raise_violations
from components.model.config.fields import ConfigModel
from components.model.config.network import AzureConfig, NetworkConfig
from components.model.config.registry import RegistryConfig
from components.model.config.rules import Sections, cross_section_problems
from components.model.config.signing import AzureKeyVaultKey, SigningConfig

Environment = Literal["local", "dev", "staging", "prod"]


class ClusterConfig(ConfigModel):
    """The Kubernetes cluster admission is installed into."""

    kubeconfig_context: str | None = Field(
        default=None, description="Context in the local kubeconfig (e.g. `kind-supply-chain`)."
    )
    aks_cluster_id: str | None = Field(default=None, description="Resource id of an existing AKS cluster.")
    virtual_network_id: str | None = Field(
        default=None,
        description=(
            "Resource id of the VNet the cluster's nodes are in. The stack peers it with the build VNet (both "
            "directions, no gateway transit) and links the registry's and vault's private DNS zones to it, so "
            "nodes and engines reach both private endpoints; list its address space in "
            "`network.endpointClientRanges`. Required in prod when the registry is private."
        ),
    )

    @model_validator(mode="after")
    def _exactly_one_target(self) -> ClusterConfig:
        problems: list[tuple[str, str]] = []
        if (self.kubeconfig_context is None) == (self.aks_cluster_id is None):
            problems.append(("", "set exactly one of `kubeconfigContext` or `aksClusterId` (omit `cluster` for none)"))
        if self.aks_cluster_id is not None and not re.fullmatch(
            r"/subscriptions/[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}/resource[gG]roups/[-A-Za-z0-9_.()]{1,90}"
            r"/providers/Microsoft\.ContainerService/managedClusters/[A-Za-z0-9][-A-Za-z0-9_]{0,62}",
            self.aks_cluster_id,
        ):
            problems.append(
                (
                    "aksClusterId",
                    "must be /subscriptions/<guid>/resourceGroups/<rg>/providers/"
                    "Microsoft.ContainerService/managedClusters/<name>",
                )
            )
        if self.virtual_network_id is not None and not re.fullmatch(
            r"/subscriptions/[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}/resource[gG]roups/[-A-Za-z0-9_.()]{1,90}"
            r"/providers/Microsoft\.Network/virtualNetworks/[A-Za-z0-9][-A-Za-z0-9_.]{0,63}",
            self.virtual_network_id,
        ):
            problems.append(
                (
                    "virtualNetworkId",
                    "must be /subscriptions/<guid>/resourceGroups/<rg>/providers/"
                    "Microsoft.Network/virtualNetworks/<name>",
                )
            )
        raise_violations(problems)
        return self


class StackConfig(ConfigModel):
    """Everything a stack configures. Keys are `supply-chain:<section>` in `stacks/Pulumi.<stack>.yaml`."""

    environment: Environment = Field(description="`local` (Kubernetes only), `dev`, `staging` or `prod`.")
    azure: AzureConfig | None = Field(default=None, description="Azure placement; absent for `local`.")
    network: NetworkConfig | None = Field(default=None, description="Build network; Azure stacks only.")
    registry: RegistryConfig = Field(description="Container registry.")
    build_agents: BuildAgentsConfig | None = Field(
        default=None, description="Ephemeral build agents; Azure stacks only."
    )
    signing: SigningConfig = Field(description="Trust roots: who may sign.")
    admission: AdmissionConfig | None = Field(default=None, description="Admission engines and policies.")
    cluster: ClusterConfig | None = Field(default=None, description="Target cluster; omit for none.")

    @model_validator(mode="after")
    def _cross_section(self) -> StackConfig:
        problems = cross_section_problems(Sections.of(self))
        if problems:
            # keys here are already top-level paths; the empty parent keeps them as they are
            raise RuleViolation([(p.key.removeprefix(config_key("")), p.message) for p in problems])
        return self

    def delete_locks_enabled(self) -> bool:
        """Whether the registry and the vault get `CanNotDelete` locks: as configured, else in prod only."""
        configured = self.azure.delete_locks_enabled if self.azure is not None else None
        return configured if configured is not None else self.environment == "prod"

    def flow_logs_enabled(self) -> bool:
        """Whether the build VNet's flows are logged: as configured, else in prod only."""
        configured = self.network.flow_logs_enabled if self.network is not None else None
        return configured if configured is not None else self.environment == "prod"

    def hsm_enabled(self, key: AzureKeyVaultKey) -> bool:
        """Whether a Key Vault key is HSM-backed: as configured, else in prod only."""
        return key.hsm_enabled if key.hsm_enabled is not None else self.environment == "prod"
