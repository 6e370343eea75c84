"""The admission rules of the policy pack over Kyverno and Policy Controller documents, through the SDK's argument
bag: the chain's own documents pass; a fail-open, system-namespace-matching, unpinned or expired one is reported."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import pytest
from pulumi_policy import PolicyCustomTimeouts, PolicyResourceOptions, ResourceValidationArgs, ResourceValidationPolicy

from policies.rules import ALL_POLICIES

POLICIES = {policy.name: policy for policy in ALL_POLICIES if isinstance(policy, ResourceValidationPolicy)}
OPTIONS = PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [])
IVP = "kubernetes:policies.kyverno.io/v1:ImageValidatingPolicy"
CIP = "kubernetes:policy.sigstore.dev/v1beta1:ClusterImagePolicy"
EXCEPTION = "kubernetes:policies.kyverno.io/v1:PolicyException"
ISSUER = "https://token.actions.githubusercontent.com"
SUBJECT = "https://github.com/contoso/payments-api/.github/workflows/release.yml@refs/heads/main"

ENFORCE = {
    "spec": {
        "validationActions": ["Deny"],
        "failurePolicy": "Fail",
        "validationConfigurations": {"required": True, "verifyDigest": True},
        "matchConstraints": {
            "resourceRules": [{"operations": ["CREATE", "UPDATE"], "resources": ["pods", "pods/ephemeralcontainers"]}],
            "namespaceSelector": {
                "matchExpressions": [
                    {"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["payments"]},
                    {
                        "key": "kubernetes.io/metadata.name",
                        "operator": "NotIn",
                        "values": ["kube-system", "kyverno", "cosign-system"],
                    },
                ]
            },
        },
        "attestors": [{"cosign": {"keyless": {"identities": [{"issuer": ISSUER, "subject": SUBJECT}]}}}],
    }
}
AUTHORITY = {"spec": {"authorities": [{"keyless": {"identities": [{"issuer": ISSUER, "subject": SUBJECT}]}}]}}
EXCEPTION_DOC = {
    "metadata": {
        "annotations": {"supply-chain/owner": "analytics-lead@contoso.example", "supply-chain/reason": "SEC-1"}
    },
    "spec": {"expiresAt": "2999-06-30T23:59:59Z"},
}


def _violations(rule: str, resource_type: str, props: Mapping[str, Any]) -> list[str]:
    found: list[str] = []

    def report(message: str, urn: str | None = None) -> None:
        found.append(message)

    args = ResourceValidationArgs(resource_type, props, "urn:pulumi:s::p::t::r", "r", OPTIONS, None, {})
    POLICIES[rule].validate(args, report)
    return found


def _changed(base: Mapping[str, Any], edit: Any) -> dict[str, Any]:
    document = copy.deepcopy(dict(base))
    edit(document)
    return document


UNVERIFIED = ["an image may pass unverified (required or verifyDigest is false)"]
CASES = [
    ("admission-enforce-fails-closed", IVP, ENFORCE, lambda d: d["spec"].update(failurePolicy="Ignore"),
     ["denies, but admits everything when Kyverno cannot answer (failurePolicy Ignore)"]),
    ("admission-enforce-fails-closed", IVP, ENFORCE,
     lambda d: d["spec"]["matchConstraints"]["resourceRules"][0].update(operations=["CREATE"]),
     ["checks CREATE only: pods must be checked on CREATE and UPDATE"]),
    ("admission-enforce-fails-closed", IVP, ENFORCE,
     lambda d: d["spec"]["validationConfigurations"].update(verifyDigest=False), UNVERIFIED),
    ("admission-enforce-fails-closed", IVP, ENFORCE,
     lambda d: d["spec"]["validationConfigurations"].update(required=False), UNVERIFIED),
    ("admission-system-namespaces-never-matched", IVP, ENFORCE,
     lambda d: d["spec"]["matchConstraints"]["namespaceSelector"]["matchExpressions"].pop(),
     ["does not exclude cosign-system, kube-system, kyverno by name: a label there would let it block the cluster"]),
    ("admission-identities-pinned", IVP, ENFORCE,
     lambda d: d["spec"]["attestors"][0]["cosign"]["keyless"]["identities"][0].update(
         subject=None, subjectRegExp=".*"),
     ["subject pattern '.*' matches every identity (anyone with an OIDC token could sign) — pin the org and "
      "workflow"]),
    ("admission-identities-pinned", IVP, ENFORCE,
     lambda d: d["spec"]["attestors"][0]["cosign"]["keyless"]["identities"][0].update(
         issuer=None, issuerRegExp=".*"), ["an identity accepts any issuer matching '.*': name the issuer"]),
    ("admission-identities-pinned", CIP, AUTHORITY,
     lambda d: d["spec"]["authorities"][0]["keyless"]["identities"][0].update(
         subject=None, subjectRegExp="https://github.com/contoso/.*"),
     ["subject pattern 'https://github.com/contoso/.*' is not anchored — start every alternative with ^ and end it "
      "with $ so it cannot match inside a longer identity"]),
    ("admission-identities-pinned", CIP, AUTHORITY,
     lambda d: d["spec"]["authorities"][0]["keyless"]["identities"][0].update(subject=None),
     ["an identity names no subject: anyone the issuer vouches for may sign"]),
    ("admission-exceptions-owned-and-unexpired", EXCEPTION, EXCEPTION_DOC,
     lambda d: d["spec"].update(expiresAt="2020-01-01T00:00:00Z"),
     ["expired at 2020-01-01T00:00:00Z: remove it, or renew it through review"]),
    ("admission-exceptions-owned-and-unexpired", EXCEPTION, EXCEPTION_DOC, lambda d: d["spec"].clear(),
     ["an exception that never expires"]),
    ("admission-exceptions-owned-and-unexpired", EXCEPTION, EXCEPTION_DOC,
     lambda d: d["metadata"]["annotations"].pop("supply-chain/owner"), ["an exception without owner"]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("rule", "resource_type", "compliant", "edit", "messages"),
    CASES,
    ids=[f"{case[0]}: {case[-1][0][:40]}" for case in CASES],
)
def test_the_chains_document_passes_and_each_loosening_is_named(
    rule: str, resource_type: str, compliant: Mapping[str, Any], edit: Any, messages: list[str]
) -> None:
    assert _violations(rule, resource_type, compliant) == []
    assert _violations(rule, resource_type, _changed(compliant, edit)) == messages


def test_an_audit_policy_may_fail_open() -> None:
    audit = _changed(ENFORCE, lambda d: d["spec"].update(validationActions=["Audit"], failurePolicy="Ignore"))
    assert _violations("admission-enforce-fails-closed", IVP, audit) == []


def _selector(*expressions: dict[str, Any]) -> dict[str, Any]:
    return _changed(ENFORCE, lambda d: d["spec"]["matchConstraints"]["namespaceSelector"].update(
        matchExpressions=list(expressions)))  # fmt: skip


def test_system_namespaces_are_excluded_only_by_not_in_on_the_name_label_however_the_expressions_split() -> None:
    rule = "admission-system-namespaces-never-matched"
    name = "kubernetes.io/metadata.name"
    split = _selector(
        {"key": name, "operator": "NotIn", "values": ["kube-system"]},
        {"key": name, "operator": "NotIn", "values": ["kyverno", "cosign-system"]},
    )
    assert _violations(rule, IVP, split) == []
    naming_them = _selector({"key": name, "operator": "In", "values": ["kube-system", "kyverno", "cosign-system"]})
    assert _violations(rule, IVP, naming_them) == [
        "does not exclude cosign-system, kube-system, kyverno by name: a label there would let it block the cluster"
    ]


def test_the_operations_checked_are_named() -> None:
    rule = "admission-enforce-fails-closed"
    connect = _changed(
        ENFORCE, lambda d: d["spec"]["matchConstraints"]["resourceRules"][0].update(operations=["CREATE", "CONNECT"])
    )
    assert _violations(rule, IVP, connect) == ["checks CONNECT, CREATE only: pods must be checked on CREATE and UPDATE"]
    none = _changed(ENFORCE, lambda d: d["spec"]["matchConstraints"].pop("resourceRules"))
    assert _violations(rule, IVP, none) == ["checks no operation only: pods must be checked on CREATE and UPDATE"]


def test_an_email_pattern_is_refused_for_a_ci_issuer_and_an_unreadable_expiry_is_named() -> None:
    by_mail = _changed(
        ENFORCE,
        lambda d: d["spec"]["attestors"][0]["cosign"]["keyless"]["identities"][0].update(
            subject=None, subjectRegExp=r"^release@contoso\.example$"
        ),
    )
    assert _violations("admission-identities-pinned", IVP, by_mail) == [
        r"subject pattern '^release@contoso\\.example$' is an e-mail pattern, and "
        "https://token.actions.githubusercontent.com names workflows by URI (a branch named x@domain would match) — "
        "pin https://<host>/<owner>/ instead"
    ]
    someday = _changed(EXCEPTION_DOC, lambda d: d["spec"].update(expiresAt="after the migration"))
    assert _violations("admission-exceptions-owned-and-unexpired", EXCEPTION, someday) == [
        "expiresAt 'after the migration' is not a time"
    ]
