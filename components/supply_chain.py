"""The top component: builds the stack's pieces from one validated `StackConfig`."""

from __future__ import annotations

import pulumi
from pulumi_azure_native import authorization, containerservice, managedidentity, resources

from components.admission.kyverno_values import ADMISSION_SERVICE_ACCOUNT, REPORTS_SERVICE_ACCOUNT
from components.admission.policy_controller_values import SERVICE_ACCOUNT as POLICY_CONTROLLER_SERVICE_ACCOUNT
from components.cluster import aks_parts, kubernetes_provider
from components.identities import ChainIdentities
from components.key_vault import SigningKeyVault
from components.kyverno import KyvernoAdmission
from components.labels import azure_tags
from components.model.config import AzureKeyVaultKey, GeneratedKey, StackConfig
from components.model.contract import (
    KYVERNO_NAMESPACE,
    POLICY_CONTROLLER_NAMESPACE,
    WORKLOAD_IDENTITY_AUDIENCE,
    kms_uri,
    service_account_subject,
    vault_name_for,
)
from components.model.trust import TrustModel, trust_model
from components.namespaces import AdmissionNamespaces
from components.network import BuildNetwork
from components.policy_controller import PolicyControllerAdmission
from components.registry import ContainerRegistry
from components.signing_keys import GeneratedSigningKey, VaultSigningKeys


class SupplyChain(pulumi.ComponentResource):
    """The sign-and-admit chain for one stack. Children are created only for the sections the
    stack configures: Azure resources for Azure stacks, Kubernetes ones when a cluster is set."""

    outputs: dict[str, pulumi.Input[object]]

    def __init__(self, name: str, config: StackConfig, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("supply-chain:index:SupplyChain", name, {}, opts)
        stack = pulumi.get_stack()
        child = pulumi.ResourceOptions(parent=self)
        modes: dict[str, str] = (
            {ns: cfg.mode for ns, cfg in config.admission.namespaces.items()} if config.admission else {}
        )
        self.outputs = {"environment": config.environment, "namespaces": modes}
        self._workload_identity_client_id: pulumi.Output[str] | None = None
        model = trust_model(config)

        if config.azure is not None and config.network is not None and config.registry.name is not None:
            self._azure(name, config, stack, child)
        elif config.registry.login_server is not None:
            self.outputs["registryLoginServer"] = config.registry.login_server

        generated = [k for k in config.signing.keys if isinstance(k, GeneratedKey)]
        public_keys: pulumi.Output[dict[str, str]] | None = None
        if generated:
            keys = {k.name: GeneratedSigningKey(f"{name}-key", k, opts=child) for k in generated}
            public_keys = pulumi.Output.all(**{n: k.public_key_pem for n, k in keys.items()}).apply(dict)
            # Secret: for signing local test images; never shown without --show-secrets.
            private: pulumi.Output[dict[str, str]] = pulumi.Output.all(
                **{n: k.private_key_pem for n, k in keys.items()}
            ).apply(dict)
            secret_private: pulumi.Output[dict[str, str]] = pulumi.Output.secret(private)
            self.outputs["signingPrivateKeysPem"] = secret_private
            self.outputs["signingPublicKeysPem"] = public_keys
        self.outputs["trustModel"] = (
            public_keys.apply(lambda pems: model.with_public_keys(pems).to_json())
            if public_keys is not None
            else model.to_json()
        )

        if config.cluster is not None and config.admission is not None:
            self._admission(name, config, model, public_keys, child)

        self.register_outputs(dict(self.outputs))

    def _admission(
        self,
        name: str,
        config: StackConfig,
        model: TrustModel,
        public_keys: pulumi.Output[dict[str, str]] | None,
        child: pulumi.ResourceOptions,
    ) -> None:
        assert config.cluster is not None
        assert config.admission is not None
        provider = kubernetes_provider(f"{name}-k8s", config.cluster, parent=self)
        engines = config.admission.engines
        namespaces = AdmissionNamespaces(
            f"{name}-ns",
            config.admission.namespaces,
            provider,
            policy_controller="policy-controller" in engines,
            opts=child,
        )
        if "kyverno" in engines:
            kyverno = KyvernoAdmission(
                f"{name}-kyverno",
                model,
                provider,
                workload_identity_client_id=self._workload_identity_client_id,
                generated_public_keys=public_keys,
                depends_on=[namespaces],
                opts=child,
            )
            self.outputs["kyvernoPolicies"] = kyverno.policy_names
        if "policy-controller" in engines:
            controller = PolicyControllerAdmission(
                f"{name}-policy-controller",
                model,
                provider,
                workload_identity_client_id=self._workload_identity_client_id,
                generated_public_keys=public_keys,
                depends_on=[namespaces],
                opts=child,
            )
            self.outputs["policyControllerPolicies"] = controller.policy_names

    def _azure(self, name: str, config: StackConfig, stack: str, child: pulumi.ResourceOptions) -> None:
        assert config.azure is not None
        assert config.network is not None
        assert config.registry.name is not None
        tags = azure_tags(config, stack)
        location = config.azure.location
        group = resources.ResourceGroup(
            f"{name}-rg",
            resource_group_name=config.azure.resource_group_name,
            location=location,
            tags=tags,
            opts=child,
        )
        client = authorization.get_client_config_output(opts=pulumi.InvokeOutputOptions(parent=self))
        net = BuildNetwork(
            f"{name}-net",
            config.network,
            config.build_agents.runner if config.build_agents else None,
            resource_group_name=group.name,
            location=location,
            tags=tags,
            opts=child,
        )
        identities = ChainIdentities(f"{name}-id", group.name, location, tags, opts=child)
        pullers: dict[str, pulumi.Input[str]] = {"admission": identities.admission_principal_id}
        pullers.update(config.registry.puller_principal_ids)
        if config.cluster is not None and config.cluster.aks_cluster_id is not None:
            aks_group, aks_name = aks_parts(config.cluster.aks_cluster_id)
            cluster = containerservice.get_managed_cluster_output(
                resource_group_name=aks_group, resource_name=aks_name, opts=pulumi.InvokeOutputOptions(parent=self)
            )
            pullers["kubelet"] = cluster.identity_profile.apply(
                lambda profile: profile["kubeletidentity"].object_id if profile else ""
            )
            # The engines' service accounts sign in as the admission identity (workload identity).
            issuer = cluster.oidc_issuer_profile.apply(lambda p: p.issuer_url if p and p.issuer_url else "")
            engines = config.admission.engines if config.admission else []
            accounts = []
            if "kyverno" in engines:
                accounts += [
                    ("kyverno-admission", KYVERNO_NAMESPACE, ADMISSION_SERVICE_ACCOUNT),
                    ("kyverno-reports", KYVERNO_NAMESPACE, REPORTS_SERVICE_ACCOUNT),
                ]
            if "policy-controller" in engines:
                accounts.append(("policy-controller", POLICY_CONTROLLER_NAMESPACE, POLICY_CONTROLLER_SERVICE_ACCOUNT))
            for label, namespace, account in accounts:
                managedidentity.FederatedIdentityCredential(
                    f"{name}-fic-{label}",
                    resource_name_=identities.admission_identity_name,
                    federated_identity_credential_resource_name=label,
                    resource_group_name=group.name,
                    issuer=issuer,
                    subject=service_account_subject(namespace, account),
                    audiences=[WORKLOAD_IDENTITY_AUDIENCE],
                    opts=child,
                )
            self._workload_identity_client_id = identities.admission_client_id
        registry = ContainerRegistry(
            f"{name}-registry",
            config.registry,
            zone_redundant=config.environment == "prod",
            resource_group_name=group.name,
            location=location,
            tags=tags,
            endpoints_subnet_id=net.endpoints_subnet_id,
            vnet_id=net.vnet_id,
            subscription_id=client.subscription_id,
            pushers={"build-agents": identities.build_agents_principal_id},
            pullers=pullers,
            opts=child,
        )
        self.outputs.update(
            resourceGroupName=group.name,
            registryId=registry.registry_id,
            registryName=registry.registry_name,
            registryLoginServer=registry.login_server,
            registryPrivateIps=registry.private_ips,
            agentsSubnetId=net.agents_subnet_id,
            endpointsSubnetId=net.endpoints_subnet_id,
            buildAgentsClientId=identities.build_agents_client_id,
            admissionClientId=identities.admission_client_id,
        )
        if net.firewall_private_ip is not None:
            self.outputs["firewallPrivateIp"] = net.firewall_private_ip

        vault_keys = [k for k in config.signing.keys if isinstance(k, AzureKeyVaultKey)]
        if vault_keys:
            vault = SigningKeyVault(
                f"{name}-signing",
                vault_name=vault_name_for(config.registry.name),
                hsm_required=any(config.hsm_enabled(k) for k in vault_keys),
                tenant_id=client.tenant_id,
                resource_group_name=group.name,
                location=location,
                tags=tags,
                endpoints_subnet_id=net.endpoints_subnet_id,
                vnet_id=net.vnet_id,
                opts=child,
            )
            vault_name = vault_name_for(config.registry.name)
            VaultSigningKeys(
                f"{name}-keys",
                [(k, config.hsm_enabled(k)) for k in vault_keys],
                vault_id=vault.vault_id,
                vault_name=vault.vault_name,
                resource_group_name=group.name,
                subscription_id=client.subscription_id,
                signers={"build-agents": identities.build_agents_principal_id},
                verifiers={"admission": identities.admission_principal_id},
                tags=tags,
                opts=child,
            )
            self.outputs.update(
                vaultUri=vault.vault_uri,
                vaultPrivateIps=vault.private_ips,
                signingKeyUris={k.name: kms_uri(vault_name, k.name) for k in vault_keys},
            )
