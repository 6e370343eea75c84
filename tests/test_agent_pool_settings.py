"""The control plane's pure parts: the settings document (one-line errors naming the key, no value echoed),
the secret cache (time-to-live, rate-limited refresh, the rotated-out value's grace), the App JWT, and the
package's independence from the rest of the project (it ships alone in the Function app)."""

from __future__ import annotations

import ast
import base64
import copy
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from scripts.agent_pool.errors import GitHubError, SecretError, SettingsError
from scripts.agent_pool.github import app_jwt
from scripts.agent_pool.settings import load_settings, parse_settings
from scripts.agent_pool.vault import CachedSecrets, split_secret_uri
from tests.agent_pool_harness import FakeClock, StaticSecrets
from tests.secret_samples import private_key_block

PACKAGE = Path(__file__).resolve().parent.parent / "scripts" / "agent_pool"
GUID = "00000000-0000-0000-0000-000000000001"
DOCUMENT: dict[str, Any] = {
    "pool": "prod",
    "github": {"apiUrl": "https://api.github.com", "organization": "contoso", "appId": 123456,
               "installationId": 7890123, "runnerGroup": "supply-chain-prod",
               "labels": ["self-hosted", "supply-chain", "prod"], "repositories": ["contoso/payments"]},
    "secrets": {"webhookSecretUri": "https://kv-pool.vault.azure.net/secrets/webhook-secret",
                "appPrivateKeyUri": "https://kv-pool.vault.azure.net/secrets/app-key/0123456789abcdef0123456789abcdef"},
    "storage": {"blobEndpoint": "https://stpool.blob.core.windows.net/",
                "tableEndpoint": "https://stpool.table.core.windows.net/", "registrationContainer": "registrations",
                "jobsTable": "jobs", "deliveriesTable": "deliveries", "slotsTable": "slots"},
    "arm": {"endpoint": "https://management.azure.com", "subscriptionId": GUID, "resourceGroup": "rg-prod-agents",
            "scaleSetId": f"/subscriptions/{GUID}/resourceGroups/rg-prod-agents/providers/Microsoft.Compute/"
                          "virtualMachineScaleSets/vmss-agents", "apiVersion": "2024-07-01"},
    "vm": {"location": "westeurope", "properties": {"priority": "Spot"}},
    "limits": {"maxInstances": 10, "registrationTimeoutMinutes": 10, "jobTimeoutMinutes": 60},
}  # fmt: skip


def _with(path: str, value: Any) -> str:
    document = copy.deepcopy(DOCUMENT)
    *parents, last = path.split(".")
    node = document
    for key in parents:
        node = node[key]
    if value is KeyError:
        node.pop(last)
    else:
        node[last] = value
    return json.dumps(document)


def test_the_design_document_parses() -> None:
    settings = parse_settings(json.dumps(DOCUMENT))
    assert settings.github.app_id == 123456
    assert settings.storage.blob_endpoint == "https://stpool.blob.core.windows.net"
    assert settings.limits.max_instances == 10


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("github.appId", KeyError, "github.appId: Field required"),
        ("github.appId", "one", "github.appId: Input should be a valid integer"),
        ("github.labels", ["supply-chain"], "github.labels: Value error, must include self-hosted"),
        ("github.repositories", ["payments"], "github.repositories: Value error, each must be <org>/<repo>"),
        ("github.apiUrl", "http://api.github.com", "github.apiUrl: Value error, must be an https URL"),
        ("github.colour", "blue", "github.colour: Extra inputs are not permitted"),
        (
            "secrets.webhookSecretUri",
            "s3cr3t-value-not-a-uri",
            "secrets.webhookSecretUri: Value error, must be https://",
        ),
        ("storage.jobsTable", "jobs-table", "storage.jobsTable: String should match pattern"),
        ("arm.subscriptionId", "sub", "arm.subscriptionId: String should match pattern"),
        ("vm", {"location": "westeurope"}, "vm: Value error, needs properties"),
        ("vm", {"name": "x", "location": "l", "properties": {}}, "vm: Value error, needs properties"),
        ("vm", {"name": "x", "location": "l", "properties": {"a": 1}}, "vm: Value error, must not carry a name"),
        ("limits.maxInstances", -1, "limits.maxInstances: Input should be greater than or equal to 0"),
        ("limits.registrationTimeoutMinutes", 60, "registrationTimeoutMinutes must be shorter than"),
    ],
)
def test_each_bad_key_is_named_on_one_line_without_its_value(path: str, value: Any, expected: str) -> None:
    with pytest.raises(SettingsError) as raised:
        parse_settings(_with(path, value))
    message = str(raised.value)
    assert expected in message
    assert "\n" not in message
    assert "s3cr3t-value" not in message


@pytest.mark.parametrize(
    ("environment", "expected"),
    [
        ({}, "AGENT_POOL_SETTINGS is not set: the stack renders it as an app setting"),
        ({"AGENT_POOL_SETTINGS": "{'pool': 1}"}, "AGENT_POOL_SETTINGS is not valid JSON (line 1 column 2)"),
        ({"AGENT_POOL_SETTINGS": "[]"}, "AGENT_POOL_SETTINGS must be a JSON object"),
    ],
)
def test_the_environment_variable_is_required_and_json(environment: dict[str, str], expected: str) -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings(environment)
    assert str(raised.value) == expected


def test_plain_http_is_accepted_on_loopback_only() -> None:
    assert parse_settings(_with("github.apiUrl", "http://127.0.0.1:8080/")).github.api_url == "http://127.0.0.1:8080"
    with pytest.raises(SettingsError, match=r"^AGENT_POOL_SETTINGS: arm\.endpoint: "):
        parse_settings(_with("arm.endpoint", "http://169.254.169.254"))


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("https://kv.vault.azure.net/secrets/webhook", ("https://kv.vault.azure.net", "webhook", None)),
        ("https://kv.vault.azure.net/secrets/key/" + "a" * 32, ("https://kv.vault.azure.net", "key", "a" * 32)),
    ],
)
def test_a_secret_uri_names_the_vault_the_secret_and_perhaps_its_version(
    uri: str, expected: tuple[str, str, str | None]
) -> None:
    assert split_secret_uri(uri) == expected
    with pytest.raises(SecretError):
        split_secret_uri(uri.replace("/secrets/", "/keys/"))


def test_secrets_are_cached_for_their_lifetime_then_read_again() -> None:
    clock, source = FakeClock(), StaticSecrets({"uri": "one"})
    cache = CachedSecrets(source, clock)
    assert (cache.read("uri"), cache.read("uri"), source.reads) == ("one", "one", 1)
    source.values["uri"] = "two"
    clock.advance(minutes=4)
    assert cache.read("uri") == "one"
    clock.advance(minutes=2)
    assert (cache.read("uri"), source.reads) == ("two", 2)


def test_a_forced_refresh_is_rate_limited_and_keeps_the_previous_value_for_a_grace() -> None:
    clock, source = FakeClock(), StaticSecrets({"uri": "old"})
    cache = CachedSecrets(source, clock)
    cache.read("uri")
    source.values["uri"] = "new"
    assert cache.refresh("uri") is False  # just read: a flood of bad signatures cannot hammer Key Vault
    assert source.reads == 1
    clock.advance(seconds=31)
    assert cache.refresh("uri") is True
    assert cache.candidates("uri") == ("new", "old")
    clock.advance(minutes=59)
    assert cache.candidates("uri") == ("new", "old")
    clock.advance(minutes=2)
    assert cache.candidates("uri") == ("new",)


def _b64(part: str) -> Any:
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def test_the_app_jwt_is_rs256_back_dated_and_short_lived() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    ).decode()
    now = datetime(2030, 1, 1, tzinfo=UTC)

    header, claims, signature = app_jwt(123456, pem, now).split(".")

    assert _b64(header) == {"alg": "RS256", "typ": "JWT"}
    assert _b64(claims)["iss"] == "123456"
    assert _b64(claims)["iat"] == int((now - timedelta(seconds=60)).timestamp())
    assert 0 < _b64(claims)["exp"] - int(now.timestamp()) <= 600 - 60
    key.public_key().verify(
        base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)),
        f"{header}.{claims}".encode(),
        padding.PKCS1v15(),
        hashes.SHA256(),
    )


def test_a_key_that_is_not_an_rsa_pem_is_refused_without_echoing_it() -> None:
    with pytest.raises(GitHubError) as raised:
        app_jwt(1, private_key_block("not-a-key-material"), datetime.now(UTC))
    assert "not-a-key-material" not in str(raised.value)


def _imports(path: Path) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(0, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append((node.level, node.module or ""))
    return found


def test_the_package_imports_only_itself_by_relative_import_and_its_declared_dependencies() -> None:
    allowed = {"azure", "requests", "pydantic", "cryptography"} | set(sys.stdlib_module_names)
    for path in sorted(PACKAGE.glob("*.py")):
        for level, module in _imports(path):
            if level == 0:
                assert module.split(".")[0] in allowed, f"{path.name} imports {module}"
            else:
                assert level == 1, f"{path.name} reaches outside the package ({'.' * level}{module})"
