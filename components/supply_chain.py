"""The top component: builds the stack's pieces from one validated `StackConfig` and names its outputs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
from pulumi_azure_native import authorization, containerservice, managedidentity, resources

from components.azure.agent_pool import AgentPool
from components.azure.build_agents import JobIdentity
from components.azure.flow_logs import flow_log_account_name
from components.azure.identities import ChainIdentities
from components.azure.key_vault import SigningKeyVault
from components.azure.network import BuildNetwork
from components.azure.registry import ContainerRegistry, registry_role_grants
from components.azure.shared import Diagnostics, Placement, PrivateNetwork, azure_tags
from components.azure.signing_keys import VaultSigningKeys
from components.cluster.admission_engine import AdmissionEngine, deploy_time_values, fill_deferred, with_deferred_keys
from components.cluster.namespaces import AdmissionNamespaces
from components.cluster.provider import aks_parts, kubernetes_provider
from components.generated_key import GeneratedSigningKey
from components.github.runner_group import RunnerGroup
from components.model.config import AzureKeyVaultKey, GeneratedKey, StackConfig
from components.model.config.network import ZONE_NAMES
from components.model.contract import (
    WORKLOAD_IDENTITY_AUDIENCE,
    StackOutputs,
    kms_uri,
    service_account_subject,
    vault_name_for,
)
from components.model.trust import TrustModel, trust_model
from components.render.agent_pool import pool_account_name
from components.render.egress import private_endpoint_hosts
from components.render.engines import ENGINES


@dataclass(frozen=True)
class _AzureParts:
    """What the Azure half hands the rest: its outputs, and the identity the engines sign in as."""

    outputs: dict[str, Any]
    workload_identity_client_id: pulumi.Output[str] | None = None
    key_versions: pulumi.Output[dict[str, str]] | None = None
    """The vault keys' current versions, which the policies trust by number."""


@dataclass(frozen=True)
class _GeneratedKeys:
    """The local stack's generated keys: public halves for the engines, private ones as a secret."""

    public: pulumi.Output[dict[str, str]] | None = None
    outputs: dict[str, Any] = field(default_factory=dict)


class SupplyChain(pulumi.ComponentResource):
    """The sign-and-admit chain for one stack. Children are created only for the sections the
    stack configures: Azure resources for Azure stacks, Kubernetes ones when a cluster is set."""

    outputs: dict[str, pulumi.Input[Any]]
    """The stack outputs, keyed as `StackOutputs` names them."""

    def __init__(self, name: str, config: StackConfig, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("supply-chain:index:SupplyChain", name, {}, opts)
        model = trust_model(config)
        namespaces = {ns: cfg.mode for ns, cfg in config.admission.namespaces.items()} if config.admission else {}
        values: dict[str, Any] = {"environment": config.environment, "namespaces": namespaces}

        azure = self._azure(name, config) if config.azure is not None else None
        if azure is not None:
            values.update(azure.outputs)
        else:
            values["registry_login_server"] = config.registry.login_server

        keys = self._generated_keys(name, config)
        values.update(keys.outputs)
        deferred = deploy_time_values(keys.public, azure.key_versions if azure is not None else None)
        values["trust_model"] = (
            deferred.apply(lambda known: fill_deferred(with_deferred_keys(model).to_json(), known))
            if deferred is not None
            else model.to_json()
        )

        if config.cluster is not None and config.admission is not None:
            client_id = azure.workload_identity_client_id if azure is not None else None
            values.update(self._admission(name, config, model, deferred, client_id))

        self.outputs = StackOutputs.exported(**values)
        self.register_outputs(dict(self.outputs))

    def _generated_keys(self, name: str, config: StackConfig) -> _GeneratedKeys:
        generated = [k for k in config.signing.keys if isinstance(k, GeneratedKey)]
        if not generated:
            return _GeneratedKeys()
        child = pulumi.ResourceOptions(parent=self)
        keys = {k.name: GeneratedSigningKey(f"{name}-key", k, opts=child) for k in generated}
        public: pulumi.Output[dict[str, str]] = pulumi.Output.all(
            **{n: k.public_key_pem for n, k in keys.items()}
        ).apply(dict)
        private: pulumi.Output[dict[str, str]] = pulumi.Output.all(
            **{n: k.private_key_pem for n, k in keys.items()}
        ).apply(dict)
        # Secret: for signing local test images; never shown without --show-secrets.
        return _GeneratedKeys(
            public,
            {"signing_private_keys_pem": pulumi.Output.secret(private), "signing_public_keys_pem": public},
        )

    def _admission(
        self,
        name: str,
        config: StackConfig,
        model: TrustModel,
        deferred: pulumi.Output[dict[str, str]] | None,
        workload_identity_client_id: pulumi.Output[str] | None,
    ) -> dict[str, Any]:
        assert config.cluster is not None
        assert config.admission is not None
        child = pulumi.ResourceOptions(parent=self)
        provider = kubernetes_provider(f"{name}-k8s", config.cluster, parent=self)
        engines = config.admission.engines
        namespaces = AdmissionNamespaces(
            f"{name}-ns",
            config.admission.namespaces,
            provider,
            policy_controller="policy-controller" in engines,
            opts=child,
        )
        outputs: dict[str, Any] = {}
        for engine in engines:
            admission = AdmissionEngine(
                f"{name}-{engine}",
                ENGINES[engine],
                model,
                provider,
                workload_identity_client_id=workload_identity_client_id,
                deferred=deferred,
                depends_on=[namespaces],
                opts=child,
            )
            outputs[f"{engine.replace('-', '_')}_policies"] = admission.policy_names
        return outputs

    def _azure(self, name: str, config: StackConfig) -> _AzureParts:
        assert config.azure is not None
        assert config.network is not None
        assert config.registry.name is not None
        child = pulumi.ResourceOptions(parent=self)
        location = config.azure.location
        tags = azure_tags(config, pulumi.get_stack())
        group = resources.ResourceGroup(
            f"{name}-rg",
            resource_group_name=config.azure.resource_group_name,
            location=location,
            tags=tags,
            opts=child,
        )
        placement = Placement(group.name, location, tags, tuple(config.azure.availability_zones))
        client = authorization.get_client_config_output(opts=pulumi.InvokeOutputOptions(parent=self))
        cluster_vnet_id = config.cluster.virtual_network_id if config.cluster is not None else None
        net = BuildNetwork(
            f"{name}-net",
            config.network,
            config.build_agents,
            placement=placement,
            cluster_vnet_id=cluster_vnet_id,
            private_hosts=private_endpoint_hosts(
                config.registry.name,
                location,
                vault_name_for(config.registry.name)
                if any(isinstance(k, AzureKeyVaultKey) for k in config.signing.keys)
                else None,
                pool_account_name(config.registry.name) if config.build_agents is not None else None,
            ),
            flow_log_account=flow_log_account_name(config.registry.name) if config.flow_logs_enabled() else None,
            opts=child,
        )
        zones = config.network.private_dns_zones
        private_network = PrivateNetwork(
            net.endpoints_subnet_id,
            net.vnet_id,
            cluster_vnet_id,
            {group: zone for group in ZONE_NAMES if (zone := getattr(zones, group)) is not None},
        )
        identities = ChainIdentities(f"{name}-id", placement=placement, opts=child)
        agent_outputs: dict[str, Any] = {}
        if config.build_agents is not None:
            assert net.control_plane_subnet_id is not None  # the config requires the subnet with agents
            agent_outputs = AgentPool(
                f"{name}-pool",
                config,
                placement=placement,
                subscription_id=client.subscription_id,
                agents_subnet_id=net.agents_subnet_id,
                control_plane_subnet_id=net.control_plane_subnet_id,
                private_network=private_network,
                job_identity=JobIdentity(identities.build_agents_identity_name, placement.resource_group_name),
                opts=child,
            ).outputs
            if config.build_agents.runner.manage_group:
                runner_group = RunnerGroup(f"{name}-runner-group", agent_outputs["agent_runner_group"], opts=child)
                agent_outputs["agent_runner_group_id"] = runner_group.group_id
        pullers: dict[str, pulumi.Input[str]] = {"admission": identities.admission_principal_id}
        pullers.update(config.registry.puller_principal_ids)
        workload_identity_client_id: pulumi.Output[str] | None = None
        if config.cluster is not None and config.cluster.aks_cluster_id is not None:
            aks_group, aks_name = aks_parts(config.cluster.aks_cluster_id)
            cluster = containerservice.get_managed_cluster_output(
                resource_group_name=aks_group, resource_name=aks_name, opts=pulumi.InvokeOutputOptions(parent=self)
            )
            pullers["kubelet"] = cluster.identity_profile.apply(
                lambda profile: profile["kubeletidentity"].object_id if profile else ""
            )
            issuer = cluster.oidc_issuer_profile.apply(lambda p: p.issuer_url if p and p.issuer_url else "")
            self._federate_engines(name, config, identities, group.name, issuer)
            workload_identity_client_id = identities.admission_client_id
        registry_workspace = config.registry.log_analytics_workspace_id
        registry = ContainerRegistry(
            f"{name}-registry",
            config.registry,
            zone_redundant=config.environment == "prod",
            placement=placement,
            private_network=private_network,
            role_grants=registry_role_grants(
                config.registry,
                config.build_agents.push_repositories if config.build_agents is not None else [],
                subscription_id=client.subscription_id,
                pusher=identities.build_agents_principal_id,
                pullers=pullers,
            ),
            diagnostics=Diagnostics(registry_workspace) if registry_workspace is not None else None,
            locked=config.delete_locks_enabled(),
            opts=child,
        )
        outputs: dict[str, Any] = {
            "resource_group_name": group.name,
            "registry_id": registry.registry_id,
            "registry_name": registry.registry_name,
            "registry_login_server": registry.login_server,
            "registry_private_ips": registry.private_ips,
            "agents_subnet_id": net.agents_subnet_id,
            "endpoints_subnet_id": net.endpoints_subnet_id,
            "build_agents_client_id": identities.build_agents_client_id,
            "admission_client_id": identities.admission_client_id,
        }
        if net.firewall_private_ip is not None:
            outputs["firewall_private_ip"] = net.firewall_private_ip
        outputs.update(agent_outputs)

        vault_keys = [k for k in config.signing.keys if isinstance(k, AzureKeyVaultKey)]
        if vault_keys:
            vault_name = vault_name_for(config.registry.name)
            vault_workspace = config.signing.log_analytics_workspace_id
            vault = SigningKeyVault(
                f"{name}-signing",
                vault_name=vault_name,
                hsm_required=any(config.hsm_enabled(k) for k in vault_keys),
                tenant_id=client.tenant_id,
                placement=placement,
                private_network=private_network,
                diagnostics=Diagnostics(vault_workspace) if vault_workspace is not None else None,
                locked=config.delete_locks_enabled(),
                opts=child,
            )
            signing_keys = VaultSigningKeys(
                f"{name}-keys",
                [(k, config.hsm_enabled(k)) for k in vault_keys],
                vault_id=vault.vault_id,
                vault_name=vault.vault_name,
                placement=placement,
                signers={"build-agents": identities.build_agents_principal_id},
                verifiers={"admission": identities.admission_principal_id},
                opts=child,
            )
            key_versions: pulumi.Output[dict[str, str]] = pulumi.Output.all(**signing_keys.key_versions).apply(dict)
            outputs.update(
                vault_uri=vault.vault_uri,
                vault_private_ips=vault.private_ips,
                # what the agents sign with: the version the policies trust, by number
                signing_key_uris=key_versions.apply(
                    lambda versions: {k: kms_uri(vault_name, k, v) for k, v in versions.items()}
                ),
            )
            return _AzureParts(outputs, workload_identity_client_id, key_versions)
        return _AzureParts(outputs, workload_identity_client_id)

    def _federate_engines(
        self,
        name: str,
        config: StackConfig,
        identities: ChainIdentities,
        resource_group_name: pulumi.Input[str],
        issuer: pulumi.Input[str],
    ) -> None:
        """The engines' service accounts sign in as the admission identity (workload identity)."""
        engines = config.admission.engines if config.admission else []
        accounts: Mapping[str, tuple[str, str]] = {
            account.label: (ENGINES[engine].namespace, account.service_account)
            for engine in engines
            for account in ENGINES[engine].federated_accounts
        }
        # Azure refuses concurrent writes of federated credentials on one identity (409
        # ConcurrentFederatedIdentityCredentialsWritesForSingleManagedIdentity): one after the other.
        previous: list[pulumi.Resource] = []
        for label, (namespace, service_account) in accounts.items():
            credential = managedidentity.FederatedIdentityCredential(
                f"{name}-fic-{label}",
                resource_name_=identities.admission_identity_name,
                federated_identity_credential_resource_name=label,
                resource_group_name=resource_group_name,
                issuer=issuer,
                subject=service_account_subject(namespace, service_account),
                audiences=[WORKLOAD_IDENTITY_AUDIENCE],
                opts=pulumi.ResourceOptions(parent=self, depends_on=previous),
            )
            previous = [credential]
