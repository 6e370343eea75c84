"""The signing keys of the trust model: each configured key as the engines trust it (by pinned public key, or by
KMS URI), with the versions a rotation still trusts. Part of the trust model (`trust.py`), plain frozen data."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from components.model.config import AwsKmsKey, AzureKeyVaultKey, GeneratedKey, PublicKeyAuthority, StackConfig
from components.model.contract import aws_kms_uri, current_key_version, kms_uri, vault_name_for


@dataclass(frozen=True)
class KeyAuthority:
    """A signing key, trusted by public key PEM when known, otherwise by KMS URI."""

    name: str
    public_key_pem: str | None = None
    kms_uri: str | None = None
    transparency_log_required: bool = True
    authority: str | None = None
    """The configured key this is (a previous version belongs to its key); None: the key itself."""
    hash_algorithm: Literal["sha256", "sha384"] = "sha256"
    """The digest signatures by this key are made over (cosign signs with an AWS KMS P-384 key over SHA-384)."""
    verified_through_kms: bool = False
    """The engines verify through the KMS although a public key is pinned: the pinned PEM cannot say how the key
    signs (an RSA key in AWS KMS signs with its first KMS algorithm); the checks still compare the PEM."""

    @property
    def verified_offline(self) -> bool:
        """Whether the engines verify with the pinned public key, never calling the KMS."""
        return self.public_key_pem is not None and not self.verified_through_kms

    @property
    def authority_name(self) -> str:
        """The name namespaces' signer lists use for this key."""
        return self.authority or self.name

    def describe(self) -> str:
        """The key as a reviewer reads it: its name and where it lives."""
        return f"key {self.name} ({self.kms_uri or 'pinned public key'})"


def key_authorities(config: StackConfig) -> list[KeyAuthority]:
    """Every configured key as the engines trust it, each rotating key's previous versions after it."""
    out: list[KeyAuthority] = []
    for key in config.signing.keys:
        if isinstance(key, AzureKeyVaultKey):
            assert config.registry.name is not None  # azure-key-vault keys need an Azure stack (config rule)
            vault = vault_name_for(config.registry.name)
            # The pinned PEM stands for the current version; without it the engines ask the vault for that
            # version, by number: a versionless URI would follow a rotation and drop every older image at once.
            out.append(
                KeyAuthority(
                    name=key.name,
                    public_key_pem=key.public_key,
                    kms_uri=kms_uri(vault, key.name, current_key_version(key.name)),
                    transparency_log_required=key.transparency_log_required,
                )
            )
            # During a rotation's overlap the previous versions stay trusted (any one of), each by its own URI.
            out += [
                KeyAuthority(
                    name=f"{key.name}-{previous.version[:8]}",
                    kms_uri=kms_uri(vault, key.name, previous.version),
                    transparency_log_required=key.transparency_log_required,
                    authority=key.name,
                )
                for previous in key.previous_versions
            ]
        elif isinstance(key, AwsKmsKey):
            out.append(aws_kms_authority(key))
        elif isinstance(key, PublicKeyAuthority):
            out.append(
                KeyAuthority(key.name, public_key_pem=key.pem, transparency_log_required=key.transparency_log_required)
            )
        elif isinstance(key, GeneratedKey):
            # The public half exists only once the key is generated: see TrustModel.with_public_keys.
            out.append(KeyAuthority(key.name, transparency_log_required=key.transparency_log_required))
    return out


def aws_kms_authority(key: AwsKmsKey) -> KeyAuthority:
    """An AWS KMS key as the engines trust it. cosign signs with the key's first KMS signing algorithm:
    ECDSA over SHA-256 for P-256, over SHA-384 for P-384, RSASSA-PSS or PKCS #1 v1.5 for RSA (the key's
    metadata says which). A pinned EC key is verified offline with the hash its curve signs with: no AWS call at
    admission, no AWS credentials in the cluster, and a retargeted alias changes nothing. A pinned RSA key cannot
    say its padding (engines verify a PEM with PKCS #1 v1.5 only), so RSA keys are verified through KMS."""
    public = load_pem_public_key(key.public_key.encode()) if key.public_key else None
    curve = public.curve.name if isinstance(public, ec.EllipticCurvePublicKey) else None
    return KeyAuthority(
        key.name,
        public_key_pem=key.public_key,
        kms_uri=aws_kms_uri(key.arn),
        transparency_log_required=key.transparency_log_required,
        hash_algorithm="sha384" if curve == "secp384r1" else "sha256",
        verified_through_kms=public is not None and curve is None,  # the config admits only EC or RSA keys
    )
