"""Config errors: one `ConfigError` listing every problem, each with its full key and the fix."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from components.model.contract import PROJECT


def config_key(path: str) -> str:
    """The full Pulumi config key of a path inside the project's config (`supply-chain:<path>`)."""
    return f"{PROJECT}:{path}"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the config: the full key and what to do about it."""

    key: str
    message: str

    def __str__(self) -> str:
        return f"{self.key}: {self.message}"


class ConfigError(Exception):
    """The stack config is invalid. `problems` lists every problem found, each with its key."""

    def __init__(self, problems: Sequence[Problem], source: str = "stack config") -> None:
        self.problems = list(problems)
        self.source = source
        lines = [f"{source} is invalid ({len(self.problems)} problem(s)):"]
        lines += [f"  - {p}" for p in self.problems]
        super().__init__("\n".join(lines))


class RuleViolation(ValueError):  # noqa: N818 - carries problems, raised inside pydantic
    """Raised by validators; `subkeys` point below the validated object (e.g. `subnets.agents`)
    so the reported key is the one the user must edit, not its parent."""

    def __init__(self, violations: Sequence[tuple[str, str]]) -> None:
        self.violations = list(violations)
        super().__init__("; ".join(f"{k}: {m}" if k else m for k, m in self.violations))


def raise_violations(violations: list[tuple[str, str]]) -> None:
    """Raise the violations found by a validator, if any (pydantic then reports each with its key)."""
    if violations:
        raise RuleViolation(violations)
