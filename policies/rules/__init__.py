"""The review rules as CrossGuard policies: plain functions over what the policy SDK hands a policy
(`ResourceValidationArgs`), so `pulumi preview --policy-pack policies` and the offline plan run the same code."""

from __future__ import annotations

from pulumi_policy import Policy

from policies.rules import (
    admission,
    agents,
    helm,
    key_vault,
    loosenings,
    network,
    reach,
    registry,
    roles,
    safeguards,
    scope,
    stack,
    trust,
)

ALL_POLICIES: list[Policy] = [
    *registry.POLICIES,
    *network.POLICIES,
    *agents.POLICIES,
    *key_vault.POLICIES,
    *roles.POLICIES,
    *helm.POLICIES,
    *admission.POLICIES,
    *loosenings.POLICIES,
    *stack.POLICIES,
    *scope.POLICIES,
    *trust.POLICIES,
    *safeguards.POLICIES,
    *reach.POLICIES,
]
"""Every rule of the pack, in the order the review lists them."""
