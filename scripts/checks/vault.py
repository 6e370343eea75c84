"""Key Vault data-plane reads: a signing key's public half, to compare with the PEM a stack pins."""

from __future__ import annotations

import base64
import shutil
import subprocess

import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from components.model.contract import parse_kms_uri
from scripts.checks.errors import UnreachableError, UsageError, VerificationFailedError

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
