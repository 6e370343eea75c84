"""Key Vault data plane: a signing key's public half, to compare with the PEM a stack pins, and its `sign`
operation, to sign canaries with a key that never leaves the vault. Both use the Azure CLI's login
(`az account get-access-token`, which also works after `az login --federated-token`)."""

from __future__ import annotations

import base64
import shutil
import subprocess
import time
from collections.abc import Callable
from typing import Any

import requests
from azure.core.credentials import AccessToken
from azure.core.exceptions import AzureError, ClientAuthenticationError, HttpResponseError, ServiceRequestError
from azure.keyvault.keys.crypto import CryptographyClient, SignatureAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from components.model.contract import parse_kms_uri
from components.model.trust import KeyAuthority
from scripts.checks.errors import CheckError, UnreachableError, UsageError, VerificationFailedError
from scripts.checks.key_signatures import PublicKey
from scripts.checks.signers import HashName, digest, p1363_to_der

API_VERSION = "7.4"
_CURVES: dict[str, ec.EllipticCurve] = {"P-256": ec.SECP256R1(), "P-384": ec.SECP384R1()}


def split_kms_uri(uri: str) -> tuple[str, str, str | None]:
    """(vault base URL, key name, version) of an `azurekms://` reference."""
    key = parse_kms_uri(uri)
    if key is None:
        raise UsageError(f"{uri!r} is not an azurekms://<vault>.vault.azure.net/<key>[/<version>] reference")
    return key.vault_url, key.key_name, key.version


def _b64url(value: str) -> int:
    return int.from_bytes(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)), "big")


def jwk_to_pem(jwk: dict[str, str]) -> str:
    """The PEM of an EC JSON Web Key as Key Vault returns it (kty EC or EC-HSM)."""
    if jwk.get("kty") not in ("EC", "EC-HSM") or jwk.get("crv") not in _CURVES:
        raise VerificationFailedError(f"the vault key is {jwk.get('kty')} {jwk.get('crv')}, not EC P-256/P-384")
    numbers = ec.EllipticCurvePublicNumbers(_b64url(jwk["x"]), _b64url(jwk["y"]), _CURVES[jwk["crv"]])
    return (
        numbers.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def azure_cli_token(resource: str = "https://vault.azure.net", timeout: float = 60) -> str:
    """An access token for `resource` from the Azure CLI's login (az login, or workload identity)."""
    if shutil.which("az") is None:
        raise UsageError("reading Key Vault needs the az CLI (az login) or workload identity")
    result = subprocess.run(
        ["az", "account", "get-access-token", "--resource", resource, "--query", "accessToken", "-o", "tsv"],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise UsageError(f"az account get-access-token failed: {result.stderr.strip()[-200:]}")
    return result.stdout.strip()


def vault_public_key(vault_url: str, key: str, token: str, *, version: str | None = None, timeout: float = 10.0) -> str:
    """The current (or given) version's public key, as PEM."""
    url = f"{vault_url}/keys/{key}" + (f"/{version}" if version else "")
    try:
        response = requests.get(
            url, params={"api-version": API_VERSION}, headers={"Authorization": f"Bearer {token}"}, timeout=timeout
        )
    except requests.RequestException as exc:
        raise UnreachableError(f"Key Vault {vault_url}: {type(exc).__name__} (private endpoint only?)") from exc
    if response.status_code != 200:
        raise VerificationFailedError(f"Key Vault {url}: HTTP {response.status_code}: {response.text[:200]}")
    try:
        jwk: dict[str, str] = response.json()["key"]
        return jwk_to_pem(jwk)
    except (ValueError, KeyError, TypeError) as exc:
        raise VerificationFailedError(f"Key Vault {url}: not a key bundle ({exc})") from exc


class _CliToken:
    """The SDK's credential protocol over a token function (the Azure CLI's by default), so a signature uses the
    same login as the reads."""

    def __init__(self, token: Callable[[], str]) -> None:
        self._token = token

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        """A token for the vault (the CLI's tokens last at least five minutes past issue)."""
        return AccessToken(self._token(), int(time.time()) + 300)


# Key Vault's ECDSA algorithms by curve: ES256 signs a SHA-256 digest, ES384 a SHA-384 one.
_ALGORITHMS: dict[str, tuple[SignatureAlgorithm, HashName]] = {
    "secp256r1": (SignatureAlgorithm.es256, "sha256"),
    "secp384r1": (SignatureAlgorithm.es384, "sha384"),
}


class VaultSigner:
    """A stack's azure-key-vault key signing canaries in the vault (`sign` over the digest the checks compute; the
    vault answers r‖s, turned into the DER cosign writes). The version signed with is the trust model's: the
    current one, by number."""

    def __init__(self, key_name: str, key_id: str, public: ec.EllipticCurvePublicKey, client: Any) -> None:
        self._key_name = key_name
        self._key_id = key_id
        self._public = public
        self._client = client

    @classmethod
    def connect(cls, key: KeyAuthority, token: Callable[[], str]) -> VaultSigner:
        """A signer for `key`, once the vault has given its public half (an EC P-256 or P-384 key)."""
        vault_url, name, version = split_kms_uri(key.kms_uri or "")
        key_id = f"{vault_url}/keys/{name}" + (f"/{version}" if version else "")
        public = serialization.load_pem_public_key(vault_public_key(vault_url, name, token(), version=version).encode())
        if not isinstance(public, ec.EllipticCurvePublicKey) or public.curve.name not in _ALGORITHMS:
            raise VerificationFailedError(f"{key_id} is not an EC P-256 or P-384 key")
        return cls(key.name, key_id, public, CryptographyClient(key_id, _CliToken(token)))

    @property
    def key_name(self) -> str | None:
        """The stack's name for the key."""
        return self._key_name

    def public_key(self) -> PublicKey:
        """The key's public half, as the vault gave it."""
        return self._public

    def sign(self, data: bytes) -> bytes:
        """The vault's ECDSA signature over `data`'s digest, DER-encoded."""
        algorithm, hash_name = _ALGORITHMS[self._public.curve.name]
        try:
            result = self._client.sign(algorithm, digest(data, hash_name))
        except AzureError as exc:
            raise _vault_error(self._key_id, exc) from None
        return p1363_to_der(bytes(result.signature))


def _vault_error(key_id: str, exc: AzureError) -> CheckError:
    """A Key Vault SDK error in one line, naming the key."""
    if isinstance(exc, ClientAuthenticationError):
        return UnreachableError(f"no Azure login that reaches {key_id} (az login, or workload identity)")
    if isinstance(exc, ServiceRequestError):
        return UnreachableError(f"Key Vault did not answer for {key_id} (private endpoint only?)")
    if isinstance(exc, HttpResponseError):
        reason = {403: "not allowed to sign (the stack's signer role?)", 404: "no such key or version"}.get(
            exc.status_code or 0, f"HTTP {exc.status_code}"
        )
        return VerificationFailedError(f"Key Vault refused to sign with {key_id}: {reason}")
    return UnreachableError(f"Key Vault call for {key_id} failed: {type(exc).__name__}")
