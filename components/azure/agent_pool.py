"""The ephemeral agents' pool as one piece: the scale set with its identities and storage
(`BuildAgents`), the control plane that fills it (`AgentControlPlane`), and the documents that tie them
together (each agent's cloud-config, the control plane's settings)."""

from __future__ import annotations

import json
from typing import Any

import pulumi

from components.azure.agent_control_plane import AgentControlPlane
from components.azure.build_agents import BuildAgents, JobIdentity
from components.azure.shared import Placement, PrivateNetwork
from components.model.config import StackConfig
from components.model.config.agent_rules import POOL_GROUP_SUFFIX
from components.render.agent_boot import agent_custom_data, boot_config
from components.render.agent_pool import (
    COMPUTE_API_VERSION,
    REGISTRATION_CONTAINER,
    AgentVm,
    pool_account_name,
    pool_settings,
    registration_blob_host,
    runner_group_settings,
)


class AgentPool(pulumi.ComponentResource):
    """Jobs of the listed repositories get one VM each, and sign in as the job identity to push and sign."""

    outputs: dict[str, Any]
    """The pool's stack outputs, keyed as `StackOutputs` names them."""

    def __init__(
        self,
        name: str,
        config: StackConfig,
        *,
        placement: Placement,
        subscription_id: pulumi.Output[str],
        agents_subnet_id: pulumi.Input[str],
        control_plane_subnet_id: pulumi.Input[str],
        private_network: PrivateNetwork,
        job_identity: JobIdentity,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("supply-chain:azure:AgentPool", name, {}, opts)
        agents = config.build_agents
        assert agents is not None
        assert config.azure is not None
        assert config.network is not None
        assert config.registry.name is not None
        child = pulumi.ResourceOptions(parent=self)
        account = pool_account_name(config.registry.name)
        pool_group = config.azure.resource_group_name + POOL_GROUP_SUFFIX
        tls = config.network.egress.tls_inspection
        ca_certificates = (tls.ca_certificate,) if tls is not None and tls.ca_certificate is not None else ()

        def cloud_config(client_id: pulumi.Output[str], scale_set_id: pulumi.Output[str]) -> pulumi.Output[str]:
            boot = pulumi.Output.all(client_id, scale_set_id).apply(
                lambda ids: boot_config(
                    agents,
                    host_client_id=ids[0],
                    scale_set_id=ids[1],
                    blob_endpoint=f"https://{registration_blob_host(account)}/",
                    registration_container=REGISTRATION_CONTAINER,
                    arm_api_version=COMPUTE_API_VERSION,
                    ca_certificates=ca_certificates,
                )
            )
            return boot.apply(agent_custom_data)

        pool = BuildAgents(
            f"{name}-agents",
            agents,
            placement=placement,
            pool_resource_group_name=pool_group,
            account_name=account,
            subscription_id=subscription_id,
            agents_subnet_id=agents_subnet_id,
            private_network=private_network,
            job_identity=job_identity,
            cloud_config=cloud_config,
            opts=child,
        )
        settings = pulumi.Output.all(
            pool.scale_set_id, pool.host_identity_id, agents_subnet_id, pool.custom_data, subscription_id
        ).apply(
            lambda v: json.dumps(
                pool_settings(
                    agents,
                    pool=pulumi.get_stack(),
                    vm=AgentVm(agents, v[2], v[1], v[0], v[3], placement.location, dict(placement.tags)),
                    account_name=account,
                    subscription_id=v[4],
                    pool_resource_group=pool_group,
                ),
                sort_keys=True,
            )
        )
        plane = AgentControlPlane(
            f"{name}-control",
            agents,
            app_name=f"{config.registry.name.lower()}-agents",
            placement=placement,
            account_name=pool.account_name,
            identity_id=pool.control_plane_identity_id,
            client_id=pool.control_plane_client_id,
            principal_id=pool.control_plane_principal_id,
            subnet_id=control_plane_subnet_id,
            subscription_id=subscription_id,
            settings=settings,
            opts=child,
        )
        self.outputs = {
            "agent_scale_set_id": pool.scale_set_id,
            "agent_pool_resource_group_name": pool.pool_resource_group_name,
            "agent_host_client_id": pool.host_identity_client_id,
            "agent_control_plane_client_id": pool.control_plane_client_id,
            "agent_registration_account": pool.account_name,
            "agent_runner_labels": list(agents.runner.all_labels),
            "agent_runner_group": runner_group_settings(agents),
            "agent_webhook_url": plane.webhook_url,
        }
        self.register_outputs({"webhookUrl": plane.webhook_url, "scaleSetId": pool.scale_set_id})
