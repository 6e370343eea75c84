"""Policy Controller's check of who ran a GitHub workflow: a ClusterImagePolicy-level Rego policy over the
verified signatures' workflow-repository claim (certificate extension 1.3.6.1.4.1.57264.1.5).

A certificate names the workflow file, not the repository that ran it: a reusable workflow signs for every
caller. Policy Controller hands its policy each verified keyless signature's `subject` and
`githubWorkflowRepo`, so the policy can require the caller a reviewer named (`callers`), or, by default, the
workflow's own repository. It sees those claims on legacy signatures only (bundle attestations carry no
certificate fields), so it is rendered for legacy stacks. Kyverno cannot check the claim (kyverno#15809)."""

from __future__ import annotations

import json
import re
from typing import Any

from components.model.contract import GITHUB_ACTIONS_ISSUER
from components.model.trust import KeylessAuthority, TrustModel

_WORKFLOW_REPOSITORY = re.compile(r"https://github\.com/([A-Za-z0-9-]+/[A-Za-z0-9_.-]+)/\.github/workflows/.+")


def own_repository(subject: str) -> str | None:
    """The `owner/repo` whose workflow a GitHub subject names, if it names one."""
    match = _WORKFLOW_REPOSITORY.fullmatch(subject)
    return match.group(1) if match else None


def allowed_callers(identity: KeylessAuthority) -> tuple[str, ...]:
    """Who may run a pinned identity's workflow: its declared callers, else its own repository."""
    if identity.callers:
        return identity.callers
    own = own_repository(identity.subject or "")
    return (own,) if own else ()


def _text(value: Any) -> str:
    return json.dumps(value)  # a JSON string or array is a Rego literal


def caller_policy(model: TrustModel, evidence: str = "signatures") -> dict[str, str] | None:
    """The `spec.policy` binding the model's GitHub identities to their callers (None: nothing to bind).
    `evidence` is where an authority's match holds what it verified: its image `signatures`, or one
    attestation's list (`attestations["sbom"]`), each entry with the same certificate claims."""
    github = [k for k in model.keyless if k.issuer == GITHUB_ACTIONS_ISSUER]
    if model.signature_format != "legacy" or not github:
        return None
    signatures = f"input.authorityMatches.keyless.{evidence}"
    rules = [
        "package sigstore",
        "",
        "import future.keywords.if",
        "import future.keywords.in",
        "",
        "default isCompliant := false",
        "",
        "# a key's signature: keys are held by the agents, not bound to a workflow run",
        "isCompliant if {",
        "\tsome name, match in input.authorityMatches",
        '\tname != "keyless"',
        f"\tcount(match.{evidence}) > 0",
        "}",
    ]
    if any(k.issuer != GITHUB_ACTIONS_ISSUER for k in model.keyless):
        rules += [
            "",
            "# identities of other issuers carry no workflow claim",
            "isCompliant if {",
            f"\tsome sig in {signatures}",
            f"\tsig.issuer != {_text(GITHUB_ACTIONS_ISSUER)}",
            "}",
        ]
    pinned = {k.subject: list(allowed_callers(k)) for k in github if k.subject is not None}
    if pinned:
        rules += [
            "",
            "# each workflow, run by the repositories the stack names (by default its own)",
            f"callers := {_text(pinned)}",
            "",
            "isCompliant if {",
            f"\tsome sig in {signatures}",
            "\tsig.githubWorkflowRepo in callers[sig.subject]",
            "}",
        ]
    for k in github:
        if k.subject_regexp is None:
            continue
        caller = (
            f"\tsig.githubWorkflowRepo in {_text(list(k.callers))}"
            if k.callers
            else '\tstartswith(sig.subject, concat("", ["https://github.com/", sig.githubWorkflowRepo, "/"]))'
        )
        rules += [
            "",
            "isCompliant if {",
            f"\tsome sig in {signatures}",
            f"\tregex.match({_text(k.subject_regexp)}, sig.subject)",
            caller,
            "}",
        ]
    return {"type": "rego", "data": "\n".join(rules) + "\n"}
