"""The review of AWS KMS keys: a key the engines ask AWS KMS for at admission (not pinned, or RSA) is reported where
the fix goes (`publicKey`), louder by alias (whoever may update the alias picks the trusted key), and the policy
pack reports the same from the rendered documents, so `pulumi preview --policy-pack` sees it too."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from components.model.config import parse_stack_config
from components.model.trust import trust_model
from components.render.kyverno_policies import kyverno_policies
from components.render.policy_controller_policies import policy_controller_policies
from policies.offline import check_resources
from policies.review import Finding, pack_rule, review
from policies.rules.admission import CLUSTER_IMAGE_POLICY, IMAGE_POLICY
from policies.rules.trust import vault_reads
from scripts.planning import Plan
from tests.conftest import stack_raw

KEY_ARN = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
ALIAS_ARN = "arn:aws:kms:eu-west-1:111122223333:alias/build-farm"


def _pem(private: Any) -> str:
    public: bytes = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return public.decode()


def with_aws_key(arn: str, pem: str | None = None, stack: str = "prod") -> dict[str, Any]:
    raw = stack_raw(stack)
    key = {"kind": "aws-kms", "name": "build-farm", "arn": arn, "region": "eu-west-1"}
    raw["signing"]["keys"].append({**key, **({"publicKey": pem} if pem else {})})
    return raw


def aws_findings(raw: dict[str, Any]) -> list[Finding]:
    return [f for f in review(parse_stack_config(raw)) if f.key == "supply-chain:signing.keys[1].publicKey"]


def test_an_unpinned_key_arn_is_reported_low_with_the_credentials_it_needs() -> None:
    (finding,) = aws_findings(with_aws_key(KEY_ARN))
    assert finding.severity == "low"
    assert "need AWS credentials in the cluster (IRSA or pod identity on EKS" in finding.message
    assert "alias" not in finding.message
    assert pack_rule(finding) == "vault-keys-pinned"


def test_an_unpinned_alias_is_reported_medium_naming_who_picks_the_key() -> None:
    (finding,) = aws_findings(with_aws_key(ALIAS_ARN))
    assert finding.severity == "medium"
    assert "whoever may update the alias decides which key is trusted" in finding.message


def test_a_pinned_ec_key_is_verified_offline_and_not_reported() -> None:
    assert aws_findings(with_aws_key(ALIAS_ARN, _pem(ec.generate_private_key(ec.SECP384R1())))) == []


def test_a_pinned_rsa_key_is_still_read_from_kms_and_reported() -> None:
    pem = _pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    (finding,) = aws_findings(with_aws_key(KEY_ARN, pem))
    assert "an RSA key, verified through KMS" in finding.message


@pytest.mark.parametrize(("arn", "alias"), [(KEY_ARN, False), (ALIAS_ARN, True)], ids=["key", "alias"])
def test_the_pack_reports_each_aws_key_the_rendered_documents_read_from_kms(arn: str, alias: bool) -> None:
    model = trust_model(parse_stack_config(with_aws_key(arn)))
    documents = [(IMAGE_POLICY, d) for d in kyverno_policies(model)]
    documents += [(CLUSTER_IMAGE_POLICY, d) for d in policy_controller_policies(model)]
    reported = {uri: message for kind, doc in documents for uri, message in vault_reads(kind, doc)}
    uri = f"awskms:///{arn}"
    assert uri in reported
    assert "need AWS credentials in the cluster" in reported[uri]
    assert ("whoever may update the alias" in reported[uri]) is alias


def test_policy_controllers_documents_alone_name_the_aws_key_they_read() -> None:
    model = trust_model(parse_stack_config(with_aws_key(KEY_ARN)))
    documents = policy_controller_policies(model)
    assert documents, "the stack runs Policy Controller"
    read = {uri for d in documents for uri, _ in vault_reads(CLUSTER_IMAGE_POLICY, d)}
    assert {uri for uri in read if uri.startswith("awskms:")} == {f"awskms:///{KEY_ARN}"}


def test_the_review_and_the_pack_agree_on_a_planned_stack(plan_raw: Callable[[dict[str, Any]], Plan]) -> None:
    raw = with_aws_key(ALIAS_ARN, stack="dev")
    del raw["buildAgents"]  # not what this is about; a third of the plan's time
    plan = plan_raw(raw)
    (finding,) = [f for f in plan.findings if f.key == "supply-chain:signing.keys[1].publicKey"]
    reported = [v for v in check_resources(plan.resources) if v.rule == pack_rule(finding)]
    assert any(f"awskms:///{ALIAS_ARN}" in v.message for v in reported)
