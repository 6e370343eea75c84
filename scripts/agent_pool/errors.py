"""One error type per failure area; messages are one line and never carry a secret or a request body."""

from __future__ import annotations


class AgentPoolError(Exception):
    """Base of the control plane's errors."""


class SettingsError(AgentPoolError):
    """The settings document is missing or invalid; the message names the key."""


class DependencyError(AgentPoolError):
    """An outside service (GitHub, ARM, storage, Key Vault) failed; the work is retried later."""


class GitHubError(DependencyError):
    """GitHub's API refused or failed a call."""


class ArmError(DependencyError):
    """Azure Resource Manager refused or failed a call."""


class SecretError(DependencyError):
    """A secret could not be read from Key Vault."""


class StorageError(DependencyError):
    """Azure Tables or Blob storage failed a call."""
