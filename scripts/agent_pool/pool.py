"""Wiring: the webhook handler and the reaper over one store, GitHub App, ARM client and secret cache."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from azure.core.credentials import TokenCredential

from .arm import ArmClient, bearer_from
from .dispatch import Dispatcher, new_vm_name
from .github import GitHubApp
from .reaper import Reaper
from .settings import PoolSettings, load_settings
from .store import Store
from .vault import CachedSecrets, KeyVaultSecrets, SecretSource
from .webhook import WebhookHandler


def utc_now() -> datetime:
    """The real clock (tests pass their own)."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class AgentPool:
    """The control plane's two entry points and what they share."""

    settings: PoolSettings
    store: Store
    dispatcher: Dispatcher
    webhook: WebhookHandler
    reaper: Reaper

    @classmethod
    def assemble(
        cls,
        settings: PoolSettings,
        store: Store,
        secrets: SecretSource,
        arm_bearer: Callable[[], str],
        clock: Callable[[], datetime] = utc_now,
        vm_names: Callable[[], str] = new_vm_name,
    ) -> AgentPool:
        """The pool over the given store, secret source and ARM token provider (tests pass local ones)."""
        cached = CachedSecrets(secrets, clock)
        github = GitHubApp(settings.github, lambda: cached.read(settings.secrets.app_private_key_uri), clock)
        arm = ArmClient(settings.arm, settings.pool, arm_bearer)
        dispatcher = Dispatcher(settings, store, github, arm, clock, vm_names)
        return cls(
            settings=settings,
            store=store,
            dispatcher=dispatcher,
            webhook=WebhookHandler(settings, cached, store, dispatcher, clock),
            reaper=Reaper(settings, store, arm, dispatcher, clock),
        )

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> AgentPool:
        """The pool as deployed: settings from AGENT_POOL_SETTINGS, the managed identity for Key Vault, ARM and
        storage (a user-assigned identity is chosen by the standard AZURE_CLIENT_ID app setting)."""
        settings = load_settings(environ)
        credential = _credential()
        store = Store.from_environment(settings.storage, environ, _credential)
        return cls.assemble(
            settings, store, KeyVaultSecrets(credential), bearer_from(credential, settings.arm.endpoint)
        )


@functools.cache
def _credential() -> TokenCredential:
    # Imported here: building it loads much of azure-identity, which the tests' local wiring never needs.
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential()
