"""User-assigned identities for the chain's actors, so each gets only the roles it needs."""

from __future__ import annotations

import pulumi

from components.azure.shared import Placement, managed_identity


class ChainIdentities(pulumi.ComponentResource):
    """`build_agents` pushes and signs; `admission` pulls and verifies (Kyverno, Policy Controller)."""

    build_agents_principal_id: pulumi.Output[str]
    build_agents_client_id: pulumi.Output[str]
    build_agents_identity_name: pulumi.Output[str]
    admission_principal_id: pulumi.Output[str]
    admission_client_id: pulumi.Output[str]
    admission_identity_name: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        *,
        placement: Placement,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("supply-chain:azure:ChainIdentities", name, {}, opts)
        child = pulumi.ResourceOptions(parent=self)

        agents, admission = (
            managed_identity(f"{name}-build-agents", placement, child),
            managed_identity(f"{name}-admission", placement, child),
        )
        self.build_agents_principal_id = agents.principal_id
        self.build_agents_client_id = agents.client_id
        self.build_agents_identity_name = agents.name
        self.admission_principal_id = admission.principal_id
        self.admission_client_id = admission.client_id
        self.admission_identity_name = admission.name
        self.register_outputs(
            {
                "buildAgentsClientId": self.build_agents_client_id,
                "admissionClientId": self.admission_client_id,
            }
        )
