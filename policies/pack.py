"""The CrossGuard policy pack: every rule of `policies.rules`, served to the Pulumi CLI by the policy SDK."""

from __future__ import annotations

from pulumi_policy import EnforcementLevel, PolicyPack

from policies.rules import ALL_POLICIES

PACK_NAME = "supply-chain"


def serve() -> None:
    """Serve the pack to the Pulumi CLI (`pulumi preview --policy-pack policies`); returns when the CLI stops it."""
    PolicyPack(
        name=PACK_NAME,
        policies=list(ALL_POLICIES),
        enforcement_level=EnforcementLevel.MANDATORY,
        description="What the sign-and-admit supply chain keeps true of every resource it deploys.",
    )
