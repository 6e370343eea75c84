"""The two secrets (webhook HMAC secret, GitHub App private key): read from Key Vault with the function's managed
identity and cached in memory for a short time, so a rotation takes effect within minutes without a restart."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol
from urllib.parse import urlsplit

from azure.core.credentials import TokenCredential
from azure.core.exceptions import AzureError
from azure.keyvault.secrets import SecretClient

from .errors import SecretError

SECRET_TTL = timedelta(minutes=5)
"""How long a value read from Key Vault is used before it is read again."""

REFRESH_INTERVAL = timedelta(seconds=30)
"""The shortest time between two forced re-reads (after a signature mismatch): a flood of badly signed requests
must not become a flood of Key Vault reads."""

PREVIOUS_VALUE_GRACE = timedelta(hours=1)
"""How long the value before a rotation is still accepted, so the vault and GitHub need not change at once."""


class SecretSource(Protocol):
    """Reads one secret's current value by its Key Vault URI."""

    def read(self, uri: str) -> str:
        """The secret's value; SecretError when it cannot be read."""
        ...


def split_secret_uri(uri: str) -> tuple[str, str, str | None]:
    """`https://<vault>/secrets/<name>[/<version>]` as (vault URL, name, version or None: the current one)."""
    parts = urlsplit(uri)
    segments = parts.path.strip("/").split("/")
    if len(segments) not in (2, 3) or segments[0] != "secrets" or not segments[1]:
        raise SecretError("a Key Vault secret URI is https://<vault>/secrets/<name>[/<version>]")
    return f"{parts.scheme}://{parts.netloc}", segments[1], segments[2] if len(segments) == 3 else None


class KeyVaultSecrets:
    """Key Vault through the function's managed identity (Key Vault Secrets User on each of the two secrets)."""

    def __init__(self, credential: TokenCredential) -> None:
        self._credential = credential
        self._clients: dict[str, SecretClient] = {}
        self._lock = threading.Lock()

    def read(self, uri: str) -> str:
        """The value of the secret `https://<vault>/secrets/<name>[/<version>]`."""
        vault_url, name, version = split_secret_uri(uri)
        with self._lock:
            client = self._clients.get(vault_url)
            if client is None:
                client = self._clients[vault_url] = SecretClient(vault_url, self._credential)
        try:
            value = client.get_secret(name, version).value
        except AzureError as error:
            raise SecretError(f"Key Vault secret {name} could not be read ({type(error).__name__})") from None
        if not value:
            raise SecretError(f"Key Vault secret {name} is empty")
        return value


@dataclass
class _Entry:
    value: str
    read_at: datetime
    previous: str | None = None
    replaced_at: datetime | None = None


class CachedSecrets:
    """A SecretSource in front of another, with a time-to-live, a rate-limited forced refresh, and the value
    before the last rotation kept for a grace period (see `candidates`)."""

    def __init__(self, source: SecretSource, clock: Callable[[], datetime]) -> None:
        self._source = source
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()

    def read(self, uri: str) -> str:
        """The secret's value, from memory while it is younger than SECRET_TTL."""
        with self._lock:
            entry = self._entries.get(uri)
            if entry is not None and self._clock() - entry.read_at < SECRET_TTL:
                return entry.value
        return self._reread(uri)

    def candidates(self, uri: str) -> tuple[str, ...]:
        """The current value, then the one it replaced if that was within PREVIOUS_VALUE_GRACE."""
        current = self.read(uri)
        with self._lock:
            entry = self._entries[uri]
            recent = entry.replaced_at is not None and self._clock() - entry.replaced_at < PREVIOUS_VALUE_GRACE
            return (current, entry.previous) if recent and entry.previous else (current,)

    def refresh(self, uri: str) -> bool:
        """Re-read now unless that was done within REFRESH_INTERVAL; whether the value changed."""
        with self._lock:
            entry = self._entries.get(uri)
            if entry is not None and self._clock() - entry.read_at < REFRESH_INTERVAL:
                return False
            before = entry.value if entry else None
        return self._reread(uri) != before

    def _reread(self, uri: str) -> str:
        value = self._source.read(uri)
        now = self._clock()
        with self._lock:
            entry = self._entries.get(uri)
            if entry is None:
                self._entries[uri] = _Entry(value, now)
            elif entry.value != value:
                self._entries[uri] = _Entry(value, now, previous=entry.value, replaced_at=now)
            else:
                entry.read_at = now
        return value
