"""The post-deploy checks with AWS KMS keys, against moto: a key's public half read with GetPublicKey and compared
with the pinned PEM; canaries signed inside KMS (Sign, MessageType DIGEST, over the digest of cosign's payloads)
that the project's own verifier accepts under that key and refuses under another; every AWS refusal one line.
In-process (`mock_aws`, one per module); the CLI against moto's server, and the cases without AWS, are in
test_aws_kms_cli.py."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

import boto3
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from moto import mock_aws
from moto.core import set_initial_no_auth_action_count
from moto.core.models import DEFAULT_ACCOUNT_ID as ACCOUNT
from moto.kms.models import kms_backends

from components.model.config import parse_stack_config
from components.model.contract import SBOM_FORMATS
from components.model.trust import KeyAuthority, TrustModel, trust_model
from scripts.checks.aws_kms import AwsKmsSigner, read_key
from scripts.checks.cases import usable_signing_key
from scripts.checks.cosign_writer import attest_bundle, attest_legacy, push_canary, sign_bundle, sign_legacy
from scripts.checks.errors import UsageError, VerificationFailedError
from scripts.checks.images import check_image
from scripts.checks.kms_keys import canary_key, kms_signer
from scripts.checks.oci import Registry
from scripts.checks.options import Options
from scripts.checks.posture import aws_kms_keys
from scripts.checks.verification import trusted_root
from tests.conftest import stack_raw
from tests.moto_kms import digest_signing

REGION = "eu-west-1"


def isolate(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    """Test credentials and nothing else of the machine's AWS setup (no profile, no instance role)."""
    for name in [n for n in os.environ if n.startswith("AWS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(folder / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(folder / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture(scope="module")
def _moto_kms(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """moto's in-process AWS for this module (signing DIGEST messages as AWS does) and one client of it: a mock
    and a client per test cost more than the tests. The tests without a mock are in test_aws_kms_cli.py."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        isolate(monkeypatch, tmp_path_factory.mktemp("aws"))
        with mock_aws(), digest_signing():
            yield boto3.client("kms", region_name=REGION)


@pytest.fixture
def kms(_moto_kms: Any) -> Any:
    """The KMS client, its keys and aliases emptied: each test starts from an empty KMS."""
    kms_backends[ACCOUNT][REGION].reset()
    return _moto_kms


def signing_key(kms: Any, spec: str = "ECC_NIST_P256", usage: str = "SIGN_VERIFY") -> dict[str, Any]:
    metadata: dict[str, Any] = kms.create_key(KeyUsage=usage, KeySpec=spec)["KeyMetadata"]
    return metadata


def public_pem(kms: Any, arn: str) -> str:
    der = kms.get_public_key(KeyId=arn)["PublicKey"]
    pem: bytes = serialization.load_der_public_key(der).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem.decode()


def other_pem() -> str:
    return (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def model_with(arn: str, pem: str | None = None, *, tlog: bool = False) -> TrustModel:
    """The dev stack trusting the AWS KMS key `arn` as `build-farm` (pinned to `pem` if given)."""
    raw = stack_raw("dev")
    key: dict[str, Any] = {"kind": "aws-kms", "name": "build-farm", "arn": arn, "region": REGION}
    key["transparencyLogRequired"] = tlog
    if pem is not None:
        key["publicKey"] = pem
    raw["signing"]["keys"].append(key)
    return trust_model(parse_stack_config(raw))


def aws_key(model: TrustModel) -> KeyAuthority:
    return next(k for k in model.keys if k.name == "build-farm")


def outcome(model: TrustModel) -> tuple[str, str]:
    (result,) = aws_kms_keys(model)
    assert result.id == "keys/build-farm/aws-kms"
    return result.status, result.observed


# --- the key, read with GetPublicKey --------------------------------------------------------------------


@pytest.mark.parametrize("spec", ["ECC_NIST_P256", "ECC_NIST_P384", "RSA_2048", "RSA_4096"])
def test_a_pinned_public_key_that_is_the_kms_keys_passes(kms: Any, spec: str) -> None:
    arn = signing_key(kms, spec)["Arn"]
    assert outcome(model_with(arn, public_pem(kms, arn))) == ("pass", f"same key ({spec})")


def test_a_pinned_public_key_of_another_key_fails_naming_the_fix(kms: Any) -> None:
    arn = signing_key(kms)["Arn"]
    status, observed = outcome(model_with(arn, other_pem()))
    assert status == "fail"
    assert "KMS holds a different key" in observed
    assert "update publicKey" in observed


def test_an_alias_pointed_at_another_key_is_caught_by_the_pin(kms: Any) -> None:
    first, second = signing_key(kms), signing_key(kms)
    kms.create_alias(AliasName="alias/build-farm", TargetKeyId=first["KeyId"])
    alias_arn = f"arn:aws:kms:{REGION}:{first['Arn'].split(':')[4]}:alias/build-farm"
    pinned = model_with(alias_arn, public_pem(kms, first["Arn"]))
    assert outcome(pinned)[0] == "pass"
    kms.update_alias(AliasName="alias/build-farm", TargetKeyId=second["KeyId"])
    status, observed = outcome(pinned)
    assert status == "fail"
    assert second["Arn"] in observed, "names the key the alias now points to"


def test_an_unpinned_key_passes_when_it_can_sign_and_says_how(kms: Any) -> None:
    arn = signing_key(kms, "ECC_NIST_P384")["Arn"]
    assert outcome(model_with(arn)) == ("pass", "ECC_NIST_P384, SIGN_VERIFY, signs with ECDSA_SHA_384")


def test_a_disabled_key_fails(kms: Any) -> None:
    metadata = signing_key(kms)
    kms.disable_key(KeyId=metadata["KeyId"])
    status, observed = outcome(model_with(metadata["Arn"], public_pem(kms, metadata["Arn"])))
    assert status == "fail"
    assert observed == "the key is Disabled: it signs nothing until it is enabled"


def test_a_key_pending_deletion_fails(kms: Any) -> None:
    metadata = signing_key(kms)
    kms.schedule_key_deletion(KeyId=metadata["KeyId"], PendingWindowInDays=7)
    status, observed = outcome(model_with(metadata["Arn"]))
    assert status == "fail"
    assert "PendingDeletion" in observed


def test_an_encryption_key_is_no_signing_key(kms: Any) -> None:
    arn = signing_key(kms, "SYMMETRIC_DEFAULT", usage="ENCRYPT_DECRYPT")["Arn"]
    status, observed = outcome(model_with(arn))
    assert status == "fail"
    assert "key usage is ENCRYPT_DECRYPT, not SIGN_VERIFY" in observed


@pytest.mark.parametrize("spec", ["ECC_SECG_P256K1", "ECC_NIST_P521"])
def test_a_signing_key_of_a_spec_no_engine_verifies_fails(kms: Any, spec: str) -> None:
    status, observed = outcome(model_with(signing_key(kms, spec)["Arn"]))
    assert status == "fail"
    assert f"key spec {spec} is not one the engines verify" in observed


def test_a_key_that_does_not_exist_fails_in_one_line(kms: Any) -> None:
    arn = f"arn:aws:kms:{REGION}:123456789012:key/{uuid.uuid4()}"
    status, observed = outcome(model_with(arn))
    assert status == "fail"
    assert observed == f"AWS KMS NotFoundException for {arn}: no such key or alias in this account and region"


def test_access_denied_fails_naming_the_permissions(kms: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    arn = signing_key(kms)["Arn"]
    iam = boto3.client("iam", region_name=REGION)
    iam.create_user(UserName="checks")
    access = iam.create_access_key(UserName="checks")["AccessKey"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", access["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", access["SecretAccessKey"])

    @set_initial_no_auth_action_count(0)  # moto enforces IAM: the user has no policy
    def read() -> tuple[str, str]:
        return outcome(model_with(arn))

    status, observed = read()
    assert status == "fail"
    assert observed.startswith(f"AWS KMS AccessDeniedException for {arn}: access denied: grant kms:DescribeKey")
    assert "<" not in observed, "no XML body in the line"


def test_keys_the_stack_does_not_hold_in_aws_are_not_read(kms: Any) -> None:
    assert aws_kms_keys(trust_model(parse_stack_config(stack_raw("prod")))) == []


# --- canaries signed inside KMS ----------------------------------------------------------------------------


@pytest.fixture
def registry(loopback_registry: str) -> Registry:
    return Registry(loopback_registry, plain_http=True, timeout=5)


def _verified_by(
    registry: Registry, model: TrustModel, layout: Literal["legacy", "bundle"], signer: Any, *, attest: bool = True
) -> set[str]:
    """Who the project's verifier says signed a canary `signer` signed (and attested) in `layout`."""
    repo = f"canary/{uuid.uuid4().hex[:8]}"
    image = push_canary(registry, repo, "kms", nonce=uuid.uuid4().hex)
    (sign_legacy if layout == "legacy" else sign_bundle)(registry, image, signer)
    if attest:
        write = attest_legacy if layout == "legacy" else attest_bundle
        write(registry, image, signer, SBOM_FORMATS["spdx"].predicate_type, {"packages": [{"name": "canary"}]})
    local = replace(model, signed_registries=(registry.host,), signature_format=layout)
    report = check_image(registry, image, local, trusted_root())
    found = {p.kind for p in report.proofs}
    assert found == ({"signature", "attestation"} if attest else {"signature"})
    return {f"{p.kind}: {p.verified_by or p.reason}" for p in report.proofs}


@pytest.mark.parametrize("layout", ["legacy", "bundle"])
@pytest.mark.parametrize("spec", ["ECC_NIST_P256", "ECC_NIST_P384", "RSA_3072"])
def test_a_canary_signed_in_kms_verifies_under_that_key(
    kms: Any, registry: Registry, layout: Literal["legacy", "bundle"], spec: str
) -> None:
    arn = signing_key(kms, spec)["Arn"]
    model = model_with(arn, public_pem(kms, arn))
    signer = AwsKmsSigner.connect(aws_key(model))
    described = aws_key(model).describe()
    assert _verified_by(registry, model, layout, signer) == {f"signature: {described}", f"attestation: {described}"}


@pytest.mark.parametrize("algorithm", ["RSASSA_PSS_SHA_256", "RSASSA_PKCS1_V1_5_SHA_256"])
def test_an_rsa_kms_keys_signature_verifies_with_either_padding_kms_signs_with(
    kms: Any, registry: Registry, algorithm: str
) -> None:
    # AWS lists an RSA key's PSS algorithms first; the engines ask KMS, which verifies either padding
    arn = signing_key(kms, "RSA_3072")["Arn"]
    model = model_with(arn, public_pem(kms, arn))
    signer = AwsKmsSigner.connect(aws_key(model))
    signer.facts = replace(signer.facts, signing_algorithms=(algorithm,))
    described = aws_key(model).describe()
    assert _verified_by(registry, model, "legacy", signer) == {f"signature: {described}", f"attestation: {described}"}


def test_a_canary_signed_in_kms_is_refused_under_a_different_key(kms: Any, registry: Registry) -> None:
    arn = signing_key(kms)["Arn"]
    signer = AwsKmsSigner.connect(aws_key(model_with(arn, public_pem(kms, arn))))
    other = model_with(signing_key(kms)["Arn"], other_pem())
    (proof,) = _verified_by(registry, other, "legacy", signer, attest=False)
    assert proof.startswith("signature: ")
    assert "key build-farm" in proof
    assert "does not verify with the trusted key" in proof


def test_a_p384_signature_is_over_sha384_as_the_rendered_hash_algorithm_says(kms: Any, registry: Registry) -> None:
    arn = signing_key(kms, "ECC_NIST_P384")["Arn"]
    model = model_with(arn, public_pem(kms, arn))
    signer = AwsKmsSigner.connect(aws_key(model))
    assumed_sha256 = replace(model, keys=tuple(replace(k, hash_algorithm="sha256") for k in model.keys))
    (proof,) = _verified_by(registry, assumed_sha256, "legacy", signer, attest=False)
    assert "does not verify" in proof, "a verifier assuming SHA-256 for this key would refuse what KMS signed"


def test_the_kms_signer_is_the_stacks_key_by_name_and_signs_only_offline_keys(kms: Any) -> None:
    arn = signing_key(kms)["Arn"]
    offline = model_with(arn)  # unpinned: only the name ties the signer to the key
    signer = AwsKmsSigner.connect(aws_key(offline))
    assert usable_signing_key(offline, Options(signing_key=signer)) == (aws_key(offline), "")
    logged = model_with(arn, tlog=True)
    assert usable_signing_key(logged, Options(signing_key=signer)) == (
        None,
        "key build-farm requires Rekor entries; canaries are signed offline",
    )


def test_a_kms_signer_whose_key_is_not_the_pinned_one_signs_no_trusted_canary(kms: Any) -> None:
    first, second = signing_key(kms), signing_key(kms)
    kms.create_alias(AliasName="alias/build-farm", TargetKeyId=first["KeyId"])
    alias_arn = f"arn:aws:kms:{REGION}:{first['Arn'].split(':')[4]}:alias/build-farm"
    pinned = model_with(alias_arn, public_pem(kms, first["Arn"]))
    kms.update_alias(AliasName="alias/build-farm", TargetKeyId=second["KeyId"])
    signer = AwsKmsSigner.connect(aws_key(pinned))
    assert usable_signing_key(pinned, Options(signing_key=signer)) == (
        None,
        "KMS holds another key for build-farm than its pinned publicKey; it vouches for nothing",
    )


def test_kms_signer_refuses_in_one_line_what_cannot_sign(kms: Any) -> None:
    metadata = signing_key(kms)
    model = model_with(metadata["Arn"])
    kms.disable_key(KeyId=metadata["KeyId"])
    signer, problem = kms_signer("build-farm", model)
    assert signer is None
    assert problem == (
        f"key build-farm cannot sign canaries: {metadata['Arn']}: the key is Disabled: it signs nothing until it is "
        "enabled"
    )
    with pytest.raises(UsageError, match="not one of the stack's KMS keys"):
        kms_signer("no-such-key", model)


def test_canaries_are_signed_by_a_kms_key_or_a_key_file_never_both(kms: Any) -> None:
    model = model_with(signing_key(kms)["Arn"])
    key_file = ec.generate_private_key(ec.SECP256R1())
    assert canary_key(None, key_file, model) == (key_file, "")
    signer, problem = canary_key("build-farm", None, model)
    assert isinstance(signer, AwsKmsSigner)
    assert problem == ""
    with pytest.raises(UsageError, match="--kms-key signs canaries instead of a key file"):
        canary_key("build-farm", key_file, model)


def test_a_sign_refused_mid_run_is_a_check_error_not_a_traceback(kms: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    arn = signing_key(kms)["Arn"]
    iam = boto3.client("iam", region_name=REGION)
    iam.create_user(UserName="reader")
    reads = {"Effect": "Allow", "Action": ["kms:DescribeKey", "kms:GetPublicKey"], "Resource": arn}
    iam.put_user_policy(
        UserName="reader",
        PolicyName="read-only",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [reads]}),
    )
    access = iam.create_access_key(UserName="reader")["AccessKey"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", access["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", access["SecretAccessKey"])

    @set_initial_no_auth_action_count(0)  # moto enforces IAM: the key may be read, not used to sign
    def sign() -> None:
        signer = AwsKmsSigner.connect(aws_key(model_with(arn)))
        signer.sign(b"payload")

    with pytest.raises(VerificationFailedError) as refused:
        sign()
    assert str(refused.value).startswith(f"AWS KMS AccessDeniedException for {arn}: access denied")
    assert "\n" not in str(refused.value)


def test_read_key_reports_the_key_an_alias_points_to(kms: Any) -> None:
    metadata = signing_key(kms)
    kms.create_alias(AliasName="alias/signing", TargetKeyId=metadata["KeyId"])
    facts = read_key(kms, metadata["Arn"].replace(f"key/{metadata['KeyId']}", "alias/signing"))
    assert facts.arn == metadata["Arn"]
