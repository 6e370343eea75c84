"""What a post-deploy run is asked to do: the known-good image, the key to sign canaries with (a private key, or
one of the stack's KMS keys), the deadline and concurrency, and how to read Key Vault. `parse_image` reads
`--known-good`."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from scripts.checks.cosign import ImageRef
from scripts.checks.errors import UsageError
from scripts.checks.runner_group import github_token_from_environment
from scripts.checks.signers import SigningKey
from scripts.checks.vault import azure_cli_token


@dataclass
class Options:
    """The run's inputs beyond the stack outputs; `run_id` makes its canaries and pods unique."""

    known_good: str | None = None
    signing_key: SigningKey | None = None
    signing_key_problem: str = ""
    """Why the signing key asked for could not be used (a KMS key KMS refused): the trusted cases say so."""
    deadline_seconds: float = 300.0
    workers: int = 8
    vault_token: Callable[[], str] = azure_cli_token
    github_token: Callable[[], str | None] = github_token_from_environment
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:10])


_SHA256_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


def parse_image(reference: str) -> ImageRef:
    """`--known-good REGISTRY/REPOSITORY[:TAG]@sha256:DIGEST` as an image reference (by digest)."""
    name, at, digest = reference.partition("@")
    if not at or not _SHA256_DIGEST.fullmatch(digest):
        raise UsageError(f"--known-good must be IMAGE@sha256:DIGEST (64 lowercase hex digits), not {reference[:200]!r}")
    registry, slash, repository = name.partition("/")
    if not slash:
        raise UsageError(f"--known-good must name its registry: {reference[:200]!r}")
    repository = repository.split(":")[0]
    return ImageRef(registry, repository, digest)
