"""The stack outputs the checks read: the contract between `pulumi up` and the checks."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from components.model.trust import TrustModel
from scripts.checks.errors import UsageError


class StackOutputs(BaseModel):
    """What `pulumi stack output --json` holds (only the keys the checks use; others are ignored)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore", frozen=True)

    environment: str
    namespaces: dict[str, Literal["audit", "enforce"]] = Field(default_factory=dict)
    registry_login_server: str
    trust_model: dict[str, Any]
    kyverno_policies: list[str] = Field(default_factory=list)
    policy_controller_policies: list[str] = Field(default_factory=list)
    signing_key_uris: dict[str, str] = Field(default_factory=dict)
    vault_uri: str | None = None
    signing_private_keys_pem: dict[str, str] | None = None  # local stacks, with --show-secrets

    def model(self) -> TrustModel:
        try:
            return TrustModel.from_json(self.trust_model)
        except (KeyError, TypeError, ValueError) as exc:
            raise UsageError(f"the trustModel output is not one this version understands: {exc}") from exc


def parse_outputs(data: object, source: str) -> StackOutputs:
    try:
        return StackOutputs.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "<root>"
        raise UsageError(
            f"{source}: output {where}: {first['msg']} (run `pulumi up` with this version, then "
            "`pulumi stack output --json`)"
        ) from exc


def load_outputs_file(path: Path) -> StackOutputs:
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise UsageError(f"cannot read --outputs {path}: {exc.strerror}") from exc
    except ValueError as exc:
        raise UsageError(f"--outputs {path} is not JSON (pulumi stack output --json): {exc}") from exc
    return parse_outputs(data, str(path))


def load_stack_outputs(stack: str, *, show_secrets: bool = False, timeout: float = 120) -> StackOutputs:
    """Outputs of a deployed stack through the Pulumi CLI."""
    if shutil.which("pulumi") is None:
        raise UsageError("--stack needs the Pulumi CLI; or pass --outputs FILE (pulumi stack output --json)")
    command = ["pulumi", "stack", "output", "--json", "--stack", stack]
    if show_secrets:
        command.append("--show-secrets")
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise UsageError(f"`{' '.join(command)}` did not answer within {timeout:.0f}s") from exc
    if result.returncode != 0:
        raise UsageError(f"`{' '.join(command)}` failed: {result.stderr.strip().splitlines()[-1:]}")
    return parse_outputs(json.loads(result.stdout), f"stack {stack}")
