"""What a post-deploy run is asked to do: the known-good image, the key to sign canaries with, the
deadline and concurrency, and how to read Key Vault. `parse_image` reads `--known-good`."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric import ec

from scripts.checks.cosign import ImageRef
from scripts.checks.errors import UsageError
from scripts.checks.runner_group import github_token_from_environment
from scripts.checks.vault import azure_cli_token


@dataclass
class Options:
    """The run's inputs beyond the stack outputs; `run_id` makes its canaries and pods unique."""

    known_good: str | None = None
    signing_key: ec.EllipticCurvePrivateKey | None = None
    deadline_seconds: float = 300.0
    workers: int = 8
    vault_token: Callable[[], str] = azure_cli_token
    github_token: Callable[[], str | None] = github_token_from_environment
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:10])


def parse_image(reference: str) -> ImageRef:
    """`--known-good REGISTRY/REPOSITORY[:TAG]@sha256:DIGEST` as an image reference (by digest)."""
    name, at, digest = reference.partition("@")
    if not at or not digest.startswith("sha256:"):
        raise UsageError(f"--known-good must be IMAGE@sha256:DIGEST, not {reference!r}")
    registry, slash, repository = name.partition("/")
    if not slash:
        raise UsageError(f"--known-good must name its registry: {reference!r}")
    repository = repository.split(":")[0]
    return ImageRef(registry, repository, digest)
