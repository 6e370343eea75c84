"""The agents' control plane hosted as a Flex Consumption function app: the webhook receiver and the
reaper, running as the control plane identity, reaching the pool's private storage from its own subnet.

Flex Consumption because it is the Linux plan that keeps its host storage and its deployment package
with a managed identity (no connection string, so the account keeps shared keys off) and integrates
with a VNet while scaling to zero.
"""

from __future__ import annotations

import pulumi
from pulumi_azure_native import storage, web

from components.azure.roles import KEY_VAULT_SECRETS_USER
from components.azure.shared import Placement, RoleGrant, assign_roles, built_in_role
from components.model.config import BuildAgentsConfig
from components.render.agent_pool import GITHUB_HOOK_RANGES

PACKAGE_CONTAINER = "app-package"
WEBHOOK_PATH = "/api/github/webhook"


class AgentControlPlane(pulumi.ComponentResource):
    """Webhooks in (from GitHub's hook ranges only, HTTPS only), VMs and registrations out."""

    webhook_url: pulumi.Output[str]
    app_name: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        config: BuildAgentsConfig,
        *,
        app_name: str,
        placement: Placement,
        account_name: pulumi.Input[str],
        identity_id: pulumi.Input[str],
        client_id: pulumi.Input[str],
        principal_id: pulumi.Input[str],
        subnet_id: pulumi.Input[str],
        subscription_id: pulumi.Input[str],
        settings: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("supply-chain:azure:AgentControlPlane", name, {}, opts)
        child = pulumi.ResourceOptions(parent=self)
        storage.BlobContainer(
            f"{name}-package",
            account_name=account_name,
            container_name=PACKAGE_CONTAINER,
            public_access=storage.PublicAccess.NONE,
            resource_group_name=placement.resource_group_name,
            opts=child,
        )
        plan = web.AppServicePlan(
            f"{name}-plan",
            name=f"asp-{name}",
            kind="functionapp",
            reserved=True,  # Linux
            sku=web.SkuDescriptionArgs(name="FC1", tier="FlexConsumption"),
            zone_redundant=True if placement.zones else None,
            resource_group_name=placement.resource_group_name,
            location=placement.location,
            tags=placement.tags,
            opts=child,
        )
        identity_auth = web.FunctionsDeploymentStorageAuthenticationArgs(
            type="UserAssignedIdentity", user_assigned_identity_resource_id=identity_id
        )
        app = web.WebApp(
            f"{name}-app",
            name=app_name,
            kind="functionapp,linux",
            server_farm_id=plan.id,
            https_only=True,
            public_network_access="Enabled",  # GitHub must reach the webhook; restricted to its ranges below
            virtual_network_subnet_id=subnet_id,
            identity=web.ManagedServiceIdentityArgs(
                type=web.ManagedServiceIdentityType.USER_ASSIGNED, user_assigned_identities=[identity_id]
            ),
            function_app_config=web.FunctionAppConfigArgs(
                deployment=web.FunctionsDeploymentArgs(
                    storage=web.FunctionsDeploymentStorageArgs(
                        type="blobContainer",
                        value=pulumi.Output.concat(
                            "https://", account_name, f".blob.core.windows.net/{PACKAGE_CONTAINER}"
                        ),
                        authentication=identity_auth,
                    )
                ),
                runtime=web.FunctionsRuntimeArgs(name="python", version="3.11"),
                scale_and_concurrency=web.FunctionsScaleAndConcurrencyArgs(
                    maximum_instance_count=40, instance_memory_mb=2048
                ),
            ),
            site_config=web.SiteConfigArgs(
                min_tls_version="1.2",
                scm_min_tls_version="1.2",
                ftps_state="Disabled",
                http20_enabled=True,
                ip_security_restrictions_default_action="Deny",
                ip_security_restrictions=[
                    web.IpSecurityRestrictionArgs(
                        name=f"github-hooks-{i}", ip_address=cidr, action="Allow", priority=100 + i, tag="Default"
                    )
                    for i, cidr in enumerate(GITHUB_HOOK_RANGES)
                ],
                scm_ip_security_restrictions_default_action="Deny",
                app_settings=[
                    web.NameValuePairArgs(name=key, value=value)
                    for key, value in (
                        ("AzureWebJobsStorage__accountName", account_name),
                        ("AzureWebJobsStorage__credential", "managedidentity"),
                        ("AzureWebJobsStorage__clientId", client_id),
                        ("AZURE_CLIENT_ID", client_id),
                        ("AGENT_POOL_SETTINGS", settings),
                    )
                ],
            ),
            resource_group_name=placement.resource_group_name,
            location=placement.location,
            tags=placement.tags,
            opts=child,
        )
        # no basic-auth publishing: deployments authenticate with Entra ID
        for kind, resource in (("ftp", web.WebAppFtpAllowed), ("scm", web.WebAppScmAllowed)):
            resource(
                f"{name}-{kind}-basic-auth",
                name=app.name,
                allow=False,
                resource_group_name=placement.resource_group_name,
                opts=child,
            )
        plane = config.control_plane
        for label, secret in (("webhook", plane.webhook_secret_name), ("app-key", plane.app_private_key_secret_name)):
            assign_roles(
                f"{name}-{label}",
                plane.secret_id(secret),
                [RoleGrant("read", built_in_role(subscription_id, KEY_VAULT_SECRETS_USER), principal_id)],
                child,
            )
        self.app_name = app.name
        self.webhook_url = pulumi.Output.concat("https://", app.default_host_name, WEBHOOK_PATH)
        self.register_outputs({"webhookUrl": self.webhook_url})
