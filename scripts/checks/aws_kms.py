"""AWS KMS reads and signatures (boto3, the standard credential chain: environment, profile, web identity, the
instance or pod role): a signing key's metadata and public half, to compare with the PEM a stack pins, and `Sign`
over a digest, to sign canaries with no private key on disk. `AWS_ENDPOINT_URL` (or `AWS_ENDPOINT_URL_KMS`)
points boto3 at another endpoint, such as a VPC endpoint, or moto in the tests.

Every AWS error becomes one of the checks' errors in one line: `UnreachableError` when there is nothing to ask
(no credentials, no region, the endpoint does not answer), `VerificationFailedError` when AWS answered no (access
denied, no such key, a disabled key, a key that cannot sign)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import boto3
import botocore.exceptions
from botocore.config import Config
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from components.model.contract import AwsKmsArn, parse_aws_kms_uri
from components.model.trust import KeyAuthority
from scripts.checks.errors import CheckError, UnreachableError, UsageError, VerificationFailedError
from scripts.checks.key_signatures import PublicKey
from scripts.checks.signers import HashName, digest

SIGNING_SPECS = ("ECC_NIST_P256", "ECC_NIST_P384", "RSA_2048", "RSA_3072", "RSA_4096")
"""Key specs both engines verify (P-521 and secp256k1 keys sign, but no engine here verifies them)."""

_ALGORITHM_HASH: dict[str, HashName] = {
    "ECDSA_SHA_256": "sha256",
    "ECDSA_SHA_384": "sha384",
    "ECDSA_SHA_512": "sha512",
    "RSASSA_PSS_SHA_256": "sha256",
    "RSASSA_PSS_SHA_384": "sha384",
    "RSASSA_PSS_SHA_512": "sha512",
    "RSASSA_PKCS1_V1_5_SHA_256": "sha256",
    "RSASSA_PKCS1_V1_5_SHA_384": "sha384",
    "RSASSA_PKCS1_V1_5_SHA_512": "sha512",
}


@dataclass(frozen=True)
class KmsKeyFacts:
    """What KMS says of a key: its ARN (the key an alias points to), spec, usage, state, signing algorithms (in
    KMS's order) and public half."""

    arn: str
    spec: str
    usage: str
    state: str
    signing_algorithms: tuple[str, ...]
    public_key: PublicKey | None
    """None when KMS gave none (a key that cannot sign is not asked) or gave one no engine reads."""

    @property
    def signing_algorithm(self) -> str:
        """The algorithm cosign signs with: the first the key lists (sigstore's AWS provider takes that one), so
        an engine asking KMS for the key verifies with it too."""
        return self.signing_algorithms[0] if self.signing_algorithms else ""

    def problems(self) -> list[str]:
        """Why cosign cannot sign with this key, or no engine here verify what it signs (empty: usable)."""
        problems = []
        if self.state != "Enabled":
            problems.append(f"the key is {self.state}: it signs nothing until it is enabled")
        if self.usage != "SIGN_VERIFY":
            problems.append(f"key usage is {self.usage}, not SIGN_VERIFY: not a signing key")
        if self.spec not in SIGNING_SPECS:
            problems.append(f"key spec {self.spec} is not one the engines verify ({', '.join(SIGNING_SPECS)})")
        elif self.signing_algorithm not in _ALGORITHM_HASH:
            problems.append(f"signing algorithm {self.signing_algorithm or 'none'} is not one cosign uses")
        elif not problems and self.public_key is None:
            problems.append("KMS gave no EC or RSA public key for it")
        return problems


def locate(key: KeyAuthority) -> AwsKmsArn:
    """The ARN behind an aws-kms key's `awskms:///<ARN>` reference."""
    parsed = parse_aws_kms_uri(key.kms_uri or "")
    if parsed is None:
        raise UsageError(f"key {key.name}: {key.kms_uri!r} is not an awskms:///<key or alias ARN> reference")
    return parsed


def kms_client(region: str, timeout: float = 10.0) -> Any:
    """A KMS client for `region` with bounded timeouts and retries (credentials from the standard chain)."""
    config = Config(connect_timeout=timeout, read_timeout=timeout, retries={"max_attempts": 2, "mode": "standard"})
    try:
        return boto3.client("kms", region_name=region, config=config)
    except botocore.exceptions.BotoCoreError as exc:  # a profile that does not exist, an endpoint URL that is none
        raise UnreachableError(f"no AWS KMS client for {region}: {exc}") from None


def _one_line(key_id: str, exc: Exception) -> CheckError:
    """An AWS error as one of the checks' errors, in one line, naming the key."""
    if isinstance(exc, (botocore.exceptions.NoCredentialsError, botocore.exceptions.PartialCredentialsError)):
        return UnreachableError(
            "no AWS credentials here (environment, profile, web identity or instance role): cannot read " + key_id
        )
    if isinstance(exc, botocore.exceptions.NoRegionError):
        return UnreachableError(f"no AWS region for {key_id}")
    if isinstance(exc, (botocore.exceptions.EndpointConnectionError, botocore.exceptions.ConnectTimeoutError)):
        return UnreachableError(f"AWS KMS did not answer for {key_id}: {type(exc).__name__}")
    if isinstance(exc, botocore.exceptions.ReadTimeoutError):
        return UnreachableError(f"AWS KMS did not answer for {key_id} in time")
    if isinstance(exc, botocore.exceptions.ClientError):
        error = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        code = str(error.get("Code", "")) or "error"
        if status == 403 and code in ("403", "AccessDenied"):  # an IAM refusal in XML, where KMS speaks JSON
            code = "AccessDeniedException"
        message = " ".join(str(error.get("Message", "")).split())
        message = "" if message.startswith("<") else message[:200]  # a markup body says nothing in one line
        hint = {
            "AccessDeniedException": "access denied: grant kms:DescribeKey and kms:GetPublicKey (kms:Sign to sign "
            "canaries)",
            "NotFoundException": "no such key or alias in this account and region",
            "DisabledException": "the key is disabled",
            "KMSInvalidStateException": "the key is not enabled (pending deletion or import?)",
            "InvalidKeyUsageException": "the key is not a SIGN_VERIFY key",
            "UnrecognizedClientException": "the credentials are not valid for AWS",
            "InvalidClientTokenId": "the credentials are not valid for AWS",
            "ExpiredTokenException": "the credentials have expired",
        }.get(code, message or "AWS refused the request")
        return VerificationFailedError(f"AWS KMS {code} for {key_id}: {hint}")
    if isinstance(exc, botocore.exceptions.BotoCoreError):
        return UnreachableError(f"AWS KMS call for {key_id} failed: {type(exc).__name__}")
    raise exc


def read_key(client: Any, key_id: str) -> KmsKeyFacts:
    """The key's metadata (DescribeKey) and public half (GetPublicKey). Raises one-line check errors."""
    try:
        metadata = client.describe_key(KeyId=key_id)["KeyMetadata"]
        if metadata.get("KeyUsage") != "SIGN_VERIFY" or metadata.get("KeyState") != "Enabled":
            # GetPublicKey of a symmetric or disabled key only says no; the metadata says why
            public_der = None
        else:
            public_der = client.get_public_key(KeyId=key_id)["PublicKey"]
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
        raise _one_line(key_id, exc) from None
    public = None
    if public_der is not None:
        try:
            loaded = serialization.load_der_public_key(public_der)
        except ValueError as exc:
            raise VerificationFailedError(f"AWS KMS returned a public key for {key_id} that does not parse") from exc
        public = loaded if isinstance(loaded, (ec.EllipticCurvePublicKey, rsa.RSAPublicKey)) else None
    return KmsKeyFacts(
        arn=str(metadata.get("Arn", key_id)),
        spec=str(metadata.get("KeySpec") or metadata.get("CustomerMasterKeySpec") or "unknown"),
        usage=str(metadata.get("KeyUsage", "unknown")),
        state=str(metadata.get("KeyState", "unknown")),
        signing_algorithms=tuple(metadata.get("SigningAlgorithms") or ()),
        public_key=public,
    )


def usable_key(client: Any, key_id: str) -> KmsKeyFacts:
    """`read_key`, refusing (one line) a key cosign cannot sign with or no engine verify."""
    facts = read_key(client, key_id)
    if problems := facts.problems():
        raise VerificationFailedError(f"{key_id}: {'; '.join(problems)}")
    return facts


class AwsKmsSigner:
    """A stack's aws-kms key signing canaries inside KMS: `Sign` with MessageType DIGEST over the digest the key's
    first signing algorithm names, as cosign does (the engines verify with that algorithm)."""

    def __init__(self, key_name: str, client: Any, key_id: str, facts: KmsKeyFacts) -> None:
        self._key_name = key_name
        self._client = client
        self._key_id = key_id
        self.facts = facts

    @classmethod
    def connect(cls, key: KeyAuthority, client: Any | None = None) -> AwsKmsSigner:
        """A signer for `key`, once KMS has said it is an enabled signing key of a spec the engines verify."""
        arn = locate(key)
        client = client if client is not None else kms_client(arn.region)
        return cls(key.name, client, arn.arn, usable_key(client, arn.arn))

    @property
    def key_name(self) -> str | None:
        """The stack's name for the key."""
        return self._key_name

    def public_key(self) -> PublicKey:
        """The key's public half, as KMS returned it."""
        if self.facts.public_key is None:  # connect() refuses such a key; a signer built by hand may not
            raise VerificationFailedError(f"{self._key_id}: KMS gave no public key")
        return self.facts.public_key

    def sign(self, data: bytes) -> bytes:
        """KMS's signature over `data`'s digest (DER for ECDSA, as KMS returns it; PKCS #1 for RSA)."""
        algorithm = self.facts.signing_algorithm
        try:
            answer = self._client.sign(
                KeyId=self._key_id,
                Message=digest(data, _ALGORITHM_HASH[algorithm]),
                MessageType="DIGEST",
                SigningAlgorithm=algorithm,
            )
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            raise _one_line(self._key_id, exc) from None
        return bytes(answer["Signature"])
