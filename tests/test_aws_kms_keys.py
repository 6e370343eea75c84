"""AWS KMS signing keys (`kind: aws-kms`): the config refuses what cosign or the engines cannot use, the ARN
parser holds under fuzzing, and both engines trust the key the way they verify it (a pinned EC key offline,
with the hash its curve signs with; otherwise, and for RSA, through `awskms:///<ARN>`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import example, given
from hypothesis import strategies as st

from components.model.config import ConfigError, parse_stack_config
from components.model.contract import aws_kms_uri, parse_aws_kms_arn, parse_aws_kms_uri
from components.model.trust import TrustModel, trust_model
from components.render.kyverno_policies import kyverno_policies
from components.render.policy_controller_policies import policy_controller_policies
from tests.cel_harness import Registry, admit, compile_expression, expressions, pod
from tests.conftest import stack_raw
from tests.upstream import crd_errors

Manifest = dict[str, Any]

KEY_ARN = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
ALIAS_ARN = "arn:aws:kms:eu-west-1:111122223333:alias/build-farm/image-signing"
REG = "crcontosoprod.azurecr.io"
DIGEST = "@sha256:" + "a" * 64
PAYMENTS_IMAGE = f"{REG}/payments/api{DIGEST}"
STOREFRONT_IMAGE = f"{REG}/storefront/web{DIGEST}"


def _public_pem(private: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> str:
    return (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


P256 = _public_pem(ec.generate_private_key(ec.SECP256R1()))
P384 = _public_pem(ec.generate_private_key(ec.SECP384R1()))
RSA_3072 = _public_pem(rsa.generate_private_key(public_exponent=65537, key_size=3072))


def aws_key(**fields: Any) -> dict[str, Any]:
    """An aws-kms key entry: the build farm's key, by key ARN in eu-west-1, unless `fields` say otherwise."""
    return {"kind": "aws-kms", "name": "build-farm", "arn": KEY_ARN, "region": "eu-west-1", **fields}


def with_aws_key(stack: str, key: dict[str, Any], payments_signers: bool = True) -> dict[str, Any]:
    """`stack` trusting `key` besides its own; prod's payments may also be signed by it."""
    raw = stack_raw(stack)
    raw["signing"]["keys"].append(key)
    if payments_signers and stack == "prod":
        raw["admission"]["namespaces"]["payments"]["signers"].append(key["name"])
    return raw


def refusals(raw: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ConfigError) as caught:
        parse_stack_config(raw)
    return {p.key.removeprefix("supply-chain:"): p.message for p in caught.value.problems}


def model_with(stack: str, key: dict[str, Any]) -> TrustModel:
    return trust_model(parse_stack_config(with_aws_key(stack, key)))


# --- config ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("arn", [KEY_ARN, ALIAS_ARN])
@pytest.mark.parametrize("pem", [None, P256, P384, RSA_3072], ids=["unpinned", "p256", "p384", "rsa3072"])
def test_a_key_or_alias_arn_with_its_region_is_accepted_pinned_or_not(arn: str, pem: str | None) -> None:
    key = aws_key(arn=arn, **({"publicKey": pem} if pem else {}))
    config = parse_stack_config(with_aws_key("dev", key))
    (accepted,) = [k for k in config.signing.keys if k.name == "build-farm"]
    assert accepted.kind == "aws-kms"


@pytest.mark.parametrize(
    ("fields", "key", "fix"),
    [
        ({"region": "us-east-1"}, "region", "the ARN's region is eu-west-1"),
        ({"arn": "alias/build-farm"}, "arn", "write the key ARN"),
        ({"arn": "1234abcd-12ab-34cd-56ef-1234567890ab"}, "arn", "write the key ARN"),
        ({"arn": KEY_ARN.replace("arn:aws:", "arn:aws-cn:"), "region": "eu-west-1"}, "arn", "aws or aws-us-gov"),
        ({"arn": "arn:aws:kms:eu-west-1:111122223333:alias/aws/ebs"}, "arn", "symmetric and cannot sign"),
        ({"arn": "arn:aws:s3:::my-bucket"}, "arn", "not a KMS key ARN"),
        ({"arn": KEY_ARN.replace(":111122223333:", ":1111:")}, "arn", "not a KMS key ARN"),
        ({"arn": KEY_ARN + "/extra"}, "arn", "not a KMS key ARN"),
        ({"region": "EU-WEST-1"}, "region", "is not an AWS region name"),
        ({"publicKey": _public_pem(ec.generate_private_key(ec.SECP521R1()))}, "publicKey", "use P-256 or P-384"),
        (
            {"publicKey": _public_pem(rsa.generate_private_key(public_exponent=65537, key_size=1024))},
            "publicKey",
            "too weak",
        ),
        ({"publicKey": "not a pem"}, "publicKey", "is not a PEM public key"),
        ({"keyId": "x"}, "keyId", "is not a key here"),
    ],
    ids=[
        "region-mismatch",
        "bare-alias",
        "bare-key-id",
        "china-partition",
        "aws-managed-alias",
        "other-service",
        "short-account",
        "trailing-path",
        "region-shape",
        "p521",
        "rsa1024",
        "not-pem",
        "unknown-field",
    ],
)
def test_a_key_cosign_or_the_engines_cannot_use_is_refused_at_its_key_with_the_fix(
    fields: dict[str, Any], key: str, fix: str
) -> None:
    problems = refusals(with_aws_key("dev", aws_key(**fields), payments_signers=False))
    where = f"signing.keys[1].{key}"
    assert where in problems, problems
    assert fix in problems[where]


def test_a_pasted_private_key_is_refused_without_being_shown() -> None:
    private = (
        ec.generate_private_key(ec.SECP256R1())
        .private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        .decode()
    )
    with pytest.raises(ConfigError) as caught:
        parse_stack_config(with_aws_key("dev", aws_key(publicKey=private)))
    text = str(caught.value)
    assert "signing.keys[1].publicKey" in text
    assert "not shown" in text
    body = private.splitlines()[1]
    assert body not in text
    assert "PRIVATE KEY-----\n" not in text


def test_a_huge_pem_is_refused_by_its_size() -> None:
    huge = "-----BEGIN PUBLIC KEY-----\n" + ("QUFB" * 16 + "\n") * 400 + "-----END PUBLIC KEY-----\n"
    problems = refusals(with_aws_key("dev", aws_key(publicKey=huge)))
    assert "no value here needs more than" in problems["signing.keys[1].publicKey"]


def test_prod_refuses_an_aws_key_that_skips_the_transparency_log() -> None:
    problems = refusals(with_aws_key("prod", aws_key(transparencyLogRequired=False)))
    assert "signing.keys[1].transparencyLogRequired" in problems


def test_an_aws_key_name_is_unique_among_authorities_whatever_the_case() -> None:
    problems = refusals(with_aws_key("dev", aws_key(name="Image-Signing"), payments_signers=False))
    assert "already used" in problems["signing.keys[1].name"]


# --- the ARN parser, fuzzed ----------------------------------------------------------------------------

REGIONS = st.from_regex(r"[a-z]{2}(-[a-z]{2,10}){1,2}-[0-9]", fullmatch=True)
ACCOUNTS = st.from_regex(r"[0-9]{12}", fullmatch=True)
KEY_IDS = st.uuids().map(str) | st.from_regex(r"mrk-[0-9a-f]{32}", fullmatch=True)
ALIASES = st.from_regex(r"[A-Za-z0-9_-][A-Za-z0-9/_-]{0,40}", fullmatch=True).filter(lambda a: not a.startswith("aws/"))


NAMES = KEY_IDS.map(lambda k: "key/" + k) | ALIASES.map(lambda a: "alias/" + a)


@given(st.sampled_from(["aws", "aws-us-gov"]), REGIONS, ACCOUNTS, NAMES)
def test_every_key_and_alias_arn_reads_back_as_its_parts(partition: str, region: str, account: str, name: str) -> None:
    arn = f"arn:{partition}:kms:{region}:{account}:{name}"
    parsed = parse_aws_kms_arn(arn)
    assert parsed is not None
    assert (parsed.partition, parsed.region, parsed.account) == (partition, region, account)
    kind, _, rest = name.partition("/")
    assert (parsed.key_id, parsed.alias) == ((rest, None) if kind == "key" else (None, rest))
    assert parsed.uri == f"awskms:///{arn}", "cosign's form: no endpoint, three slashes"
    assert parse_aws_kms_uri(parsed.uri) == parsed


@given(st.text(max_size=120))
@example("arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab")  # an ARN is not its URI
def test_anything_else_is_no_arn_and_no_uri(text: str) -> None:
    parsed = parse_aws_kms_arn(text)
    assert parsed is None or (text == parsed.arn and text.isascii() and "\n" not in text)
    from_uri = parse_aws_kms_uri(text)
    assert from_uri is None or text == aws_kms_uri(from_uri.arn)


@given(ACCOUNTS, st.sampled_from(["\n", " ", "/", ":x", "\x00", "é"]))
def test_an_arn_with_anything_after_it_is_refused(account: str, tail: str) -> None:
    assert parse_aws_kms_arn(f"arn:aws:kms:eu-west-1:{account}:key/{'0' * 8}-0000-0000-0000-{'0' * 12}{tail}") is None


# --- trust model -----------------------------------------------------------------------------------------


def _authority(model: TrustModel, name: str = "build-farm") -> Any:
    return next(k for k in model.keys if k.name == name)


def test_an_unpinned_key_is_trusted_by_its_awskms_uri() -> None:
    key = _authority(model_with("dev", aws_key(arn=ALIAS_ARN)))
    assert key.kms_uri == f"awskms:///{ALIAS_ARN}"
    assert not key.verified_offline
    assert key.describe() == f"key build-farm (awskms:///{ALIAS_ARN})"


@pytest.mark.parametrize(
    ("pem", "offline", "digest"), [(P256, True, "sha256"), (P384, True, "sha384"), (RSA_3072, False, "sha256")]
)
def test_a_pinned_ec_key_is_verified_offline_with_its_curves_hash_and_rsa_through_kms(
    pem: str, offline: bool, digest: str
) -> None:
    key = _authority(model_with("dev", aws_key(publicKey=pem)))
    assert key.public_key_pem == pem, "the checks compare the pinned key with KMS's either way"
    assert (key.verified_offline, key.hash_algorithm) == (offline, digest)


def test_the_trust_model_output_reads_back_with_the_aws_key() -> None:
    model = model_with("prod", aws_key(publicKey=P384))
    assert TrustModel.from_json(model.to_json()) == model


# --- Kyverno ---------------------------------------------------------------------------------------------


def kyverno_of(key: dict[str, Any]) -> dict[str, Manifest]:
    return {d["metadata"]["name"]: d for d in kyverno_policies(model_with("prod", key))}


def _attestor(policy: Manifest) -> Manifest:
    return next(a for a in policy["spec"]["attestors"] if a["name"] == "key_build_farm")


@pytest.mark.parametrize(
    ("fields", "reference"),
    [
        ({}, {"kms": f"awskms:///{KEY_ARN}"}),
        ({"arn": ALIAS_ARN}, {"kms": f"awskms:///{ALIAS_ARN}"}),
        ({"publicKey": P256}, {"data": P256}),
        ({"publicKey": P384}, {"data": P384, "hashAlgorithm": "sha384"}),
        ({"publicKey": RSA_3072}, {"kms": f"awskms:///{KEY_ARN}"}),
    ],
    ids=["key-arn", "alias-arn", "p256-pinned", "p384-pinned", "rsa-pinned"],
)
def test_kyverno_verifies_the_key_as_cosign_signed_with_it(
    shared_dir: Path, fields: dict[str, Any], reference: dict[str, str]
) -> None:
    docs = kyverno_of(aws_key(**fields))
    assert _attestor(docs["verify-image-signatures-enforce"])["cosign"]["key"] == reference
    for doc in docs.values():
        assert crd_errors(doc) == [], f"{doc['kind']}/{doc['metadata']['name']}"


@pytest.mark.parametrize("fields", [{}, {"publicKey": P384}], ids=["by-uri", "pinned"])
def test_every_cel_expression_with_an_aws_key_compiles(fields: dict[str, Any]) -> None:
    for doc in kyverno_of(aws_key(**fields)).values():
        for expression in expressions(doc):
            compile_expression(expression)


AWS_SIGNED = Registry().sign(PAYMENTS_IMAGE, "key_build_farm").sign(STOREFRONT_IMAGE, "key_build_farm")


@pytest.mark.parametrize(
    ("policy", "namespace", "image", "registry", "allowed"),
    [
        ("verify-image-signatures-enforce", "payments", PAYMENTS_IMAGE, AWS_SIGNED, True),
        ("verify-image-signatures-enforce", "default", PAYMENTS_IMAGE, AWS_SIGNED, True),
        ("verify-image-signatures-enforce", "payments", PAYMENTS_IMAGE, Registry(), False),
        (
            "verify-image-signatures-enforce",
            "payments",
            PAYMENTS_IMAGE,
            Registry().sign(PAYMENTS_IMAGE, "key_other"),
            False,
        ),
        ("require-signers-payments", "payments", PAYMENTS_IMAGE, AWS_SIGNED, True),
        ("require-signers-storefront", "storefront", STOREFRONT_IMAGE, AWS_SIGNED, False),
        (
            "require-signers-storefront",
            "storefront",
            STOREFRONT_IMAGE,
            Registry().sign(STOREFRONT_IMAGE, "keyless"),
            True,
        ),
    ],
    ids=[
        "signed-admitted-in-its-tenant",
        "signed-admitted-in-unlisted-namespace",
        "unsigned-denied",
        "other-key-denied",
        "named-signer-admitted",
        "not-a-named-signer-denied",
        "the-tenants-own-signer-still-admitted",
    ],
)
def test_kyverno_admits_what_the_aws_key_signed_where_it_may_sign(
    policy: str, namespace: str, image: str, registry: Registry, allowed: bool
) -> None:
    docs = kyverno_of(aws_key(publicKey=P256))
    assert admit(docs[policy], pod(namespace, [image]), registry).allowed is allowed


def test_a_key_signing_offline_skips_the_log_only_for_itself() -> None:
    raw = with_aws_key("dev", aws_key(transparencyLogRequired=False))
    docs = {d["metadata"]["name"]: d for d in kyverno_policies(trust_model(parse_stack_config(raw)))}
    attestors = {a["name"]: a["cosign"] for a in docs["verify-image-signatures-audit"]["spec"]["attestors"]}
    assert attestors["key_build_farm"]["ctlog"].get("insecureIgnoreTlog") is True
    assert "insecureIgnoreTlog" not in attestors["key_image_signing"]["ctlog"]


# --- Policy Controller -----------------------------------------------------------------------------------


def _authority_doc(key: dict[str, Any]) -> tuple[Manifest, list[Manifest]]:
    docs = policy_controller_policies(model_with("prod", key))
    policy = next(d for d in docs if d["metadata"]["name"] == "verify-image-signatures")
    return next(a for a in policy["spec"]["authorities"] if a["name"] == "key-build-farm"), docs


@pytest.mark.parametrize(
    ("fields", "reference"),
    [
        ({}, {"kms": f"awskms:///{KEY_ARN}", "hashAlgorithm": "sha256"}),
        ({"arn": ALIAS_ARN}, {"kms": f"awskms:///{ALIAS_ARN}", "hashAlgorithm": "sha256"}),
        ({"publicKey": P256}, {"data": P256, "hashAlgorithm": "sha256"}),
        ({"publicKey": P384}, {"data": P384, "hashAlgorithm": "sha384"}),
        ({"publicKey": RSA_3072}, {"kms": f"awskms:///{KEY_ARN}", "hashAlgorithm": "sha256"}),
    ],
    ids=["key-arn", "alias-arn", "p256-pinned", "p384-pinned", "rsa-pinned"],
)
def test_policy_controller_verifies_the_key_as_cosign_signed_with_it(
    shared_dir: Path, fields: dict[str, Any], reference: dict[str, str]
) -> None:
    authority, docs = _authority_doc(aws_key(**fields))
    assert authority["key"] == reference
    assert authority["ctlog"] == {"url": "https://rekor.sigstore.dev"}, "the log is required unless config says not"
    for doc in docs:
        assert crd_errors(doc) == [], f"{doc['kind']}/{doc['metadata']['name']}"


def test_policy_controller_lists_the_aws_key_beside_the_others() -> None:
    docs = policy_controller_policies(model_with("prod", aws_key(publicKey=P256)))
    policy = next(d for d in docs if d["metadata"]["name"] == "verify-image-signatures")
    assert [a["name"] for a in policy["spec"]["authorities"]] == ["keyless", "key-image-signing", "key-build-farm"]
