"""The settings document (JSON in the app setting `AGENT_POOL_SETTINGS`), rendered by the stack.

It holds no secret: the webhook secret and the App's private key are named by their Key Vault URIs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.alias_generators import to_camel

from .errors import SettingsError

SETTINGS_VARIABLE = "AGENT_POOL_SETTINGS"

_LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
_SECRET_URI = re.compile(r"^https://[A-Za-z0-9.-]+(:[0-9]+)?/secrets/[A-Za-z0-9-]{1,127}(/[0-9a-fA-F]{32})?$")


def _endpoint(value: str) -> str:
    """An https URL, or plain http on loopback only (the local stand-ins and Azurite): never cleartext off-host."""
    parts = urlsplit(value)
    if parts.scheme == "https" and parts.hostname:
        return value.rstrip("/")
    if parts.scheme == "http" and parts.hostname in _LOOPBACK_HOSTS:
        return value.rstrip("/")
    raise ValueError("must be an https URL (plain http only on loopback)")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True, frozen=True)


class GitHubSettings(_Section):
    """The GitHub App, the organisation, and which of its jobs this pool takes."""

    api_url: str = Field(description="GitHub's REST API, e.g. https://api.github.com.")
    organization: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}$")
    app_id: int = Field(ge=1)
    installation_id: int = Field(ge=1)
    runner_group: str = Field(min_length=1, max_length=64)
    labels: tuple[str, ...] = Field(min_length=1, description="Every label the runners register with.")
    repositories: tuple[str, ...] = Field(min_length=1, description="`<org>/<repo>` whose jobs the pool takes.")

    @field_validator("api_url")
    @classmethod
    def _api_url(cls, value: str) -> str:
        return _endpoint(value)

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if "self-hosted" not in {label.lower() for label in value}:
            raise ValueError("must include self-hosted")
        return value

    @field_validator("repositories")
    @classmethod
    def _repositories(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for repository in value:
            if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]{1,100}", repository):
                raise ValueError("each must be <org>/<repo>")
        return value


class SecretsSettings(_Section):
    """Key Vault URIs of the two secrets, read with the function's managed identity."""

    webhook_secret_uri: str
    app_private_key_uri: str

    @field_validator("webhook_secret_uri", "app_private_key_uri")
    @classmethod
    def _secret_uri(cls, value: str) -> str:
        if not _SECRET_URI.fullmatch(value):
            raise ValueError("must be https://<vault>.vault.azure.net/secrets/<name>[/<version>]")
        return value


_STORAGE_NAME = r"^[A-Za-z][A-Za-z0-9]{2,62}$"


class StorageSettings(_Section):
    """The storage account's endpoints, the registration container and the three tables."""

    blob_endpoint: str
    table_endpoint: str
    registration_container: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
    jobs_table: str = Field(pattern=_STORAGE_NAME)
    deliveries_table: str = Field(pattern=_STORAGE_NAME)
    slots_table: str = Field(pattern=_STORAGE_NAME)

    @field_validator("blob_endpoint", "table_endpoint")
    @classmethod
    def _endpoints(cls, value: str) -> str:
        return _endpoint(value)


class ArmSettings(_Section):
    """Where the agents' VMs are created: Resource Manager, the pool's resource group and its scale set."""

    endpoint: str
    subscription_id: str = Field(pattern=r"^[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}$")
    resource_group: str = Field(pattern=r"^[-A-Za-z0-9_.()]{1,90}$")
    scale_set_id: str = Field(pattern=r"^/subscriptions/.+/virtualMachineScaleSets/[^/]+$")
    api_version: str = Field(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}(-preview)?$")

    @field_validator("endpoint")
    @classmethod
    def _arm_endpoint(cls, value: str) -> str:
        return _endpoint(value)


class LimitsSettings(_Section):
    """The strict bound on concurrent agents and the two deadlines."""

    max_instances: int = Field(ge=0, le=1000, description="0 disables the pool: jobs are recorded, none started.")
    registration_timeout_minutes: int = Field(ge=1, le=1440)
    job_timeout_minutes: int = Field(ge=1, le=10080)


class PoolSettings(_Section):
    """The whole settings document."""

    pool: str = Field(pattern=r"^[A-Za-z0-9][-A-Za-z0-9_.]{0,62}$")
    github: GitHubSettings
    secrets: SecretsSettings
    storage: StorageSettings
    arm: ArmSettings
    vm: dict[str, Any] = Field(description="ARM virtualMachines PUT body without the name.")
    limits: LimitsSettings

    @field_validator("vm")
    @classmethod
    def _vm_body(cls, value: dict[str, Any]) -> dict[str, Any]:
        missing = [key for key in ("location", "properties") if not value.get(key)]
        if missing:
            raise ValueError(f"needs {' and '.join(missing)}")
        if "name" in value:
            raise ValueError("must not carry a name (each VM gets its own)")
        if not isinstance(value["properties"], dict):
            raise ValueError("properties must be an object")
        return value

    @model_validator(mode="after")
    def _deadlines(self) -> PoolSettings:
        if self.limits.registration_timeout_minutes >= self.limits.job_timeout_minutes:
            raise ValueError("limits.registrationTimeoutMinutes must be shorter than limits.jobTimeoutMinutes")
        return self


def _one_line(error: ValidationError) -> str:
    problems = []
    for item in error.errors(include_url=False, include_input=False):
        key = ".".join(str(part) for part in item["loc"]) or "(document)"
        problems.append(f"{key}: {item['msg']}")
    return "; ".join(problems)


def parse_settings(document: str | bytes) -> PoolSettings:
    """The settings from their JSON text; a SettingsError naming each bad key (values are never echoed)."""
    try:
        raw = json.loads(document)
    except (ValueError, RecursionError) as error:
        where = f" (line {error.lineno} column {error.colno})" if isinstance(error, json.JSONDecodeError) else ""
        raise SettingsError(f"{SETTINGS_VARIABLE} is not valid JSON{where}") from None
    if not isinstance(raw, dict):
        raise SettingsError(f"{SETTINGS_VARIABLE} must be a JSON object")
    try:
        return PoolSettings.model_validate(raw)
    except ValidationError as error:
        raise SettingsError(f"{SETTINGS_VARIABLE}: {_one_line(error)}") from None


def load_settings(environ: Mapping[str, str]) -> PoolSettings:
    """The settings from the environment (`AGENT_POOL_SETTINGS`)."""
    document = environ.get(SETTINGS_VARIABLE)
    if not document:
        raise SettingsError(f"{SETTINGS_VARIABLE} is not set: the stack renders it as an app setting")
    return parse_settings(document)
