"""Tags the components put on every Azure resource."""

from __future__ import annotations

from components.model.config import StackConfig
from components.model.contract import MANAGED_BY


def azure_tags(config: StackConfig, stack: str) -> dict[str, str]:
    """Tags for every Azure resource: the stack's own tags plus where the resource came from."""
    tags = dict(config.azure.tags) if config.azure else {}
    tags.setdefault("managed-by", MANAGED_BY)
    tags.setdefault("pulumi-stack", stack)
    return tags
