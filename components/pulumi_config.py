"""The running stack's config, read from the Pulumi runtime (`pulumi up`, or the offline plan's mocks)."""

from __future__ import annotations

from typing import Any

import pulumi
from pulumi.runtime import config as runtime_config

from components.model.config import StackConfig, parse_stack_config
from components.model.config.stack_file import raw_from_runtime


def load_from_pulumi() -> StackConfig:
    """Validate the running stack's config; `ConfigError` names every problem."""
    # All keys, not just the ones the model asks for: an unknown top-level key is a typo to report.
    merged: dict[str, Any] = dict(runtime_config.get_config_env())
    merged.update(runtime_config.CONFIG.get())
    return parse_stack_config(raw_from_runtime(merged), source=f"stack {pulumi.get_stack()!r} config")
