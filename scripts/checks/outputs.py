"""Reading the stack outputs (`components.model.contract.StackOutputs`, the contract between
`pulumi up` and the checks) from a file or a deployed stack, and the trust model they carry."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from pydantic import ValidationError

from components.model.contract import StackOutputs
from components.model.trust import TrustModel
from scripts.checks.errors import UsageError

HIDDEN_SECRET = "[secret]"
"""What `pulumi stack output --json` prints for a secret output without `--show-secrets`."""


def parse_outputs(data: object, source: str) -> StackOutputs:
    """The outputs from `pulumi stack output --json` data; a usage error naming the first bad key. A hidden
    secret (`[secret]`) counts as not given: only the step that needs it refuses, saying so."""
    if isinstance(data, dict):
        data = {key: value for key, value in data.items() if value != HIDDEN_SECRET}
    try:
        return StackOutputs.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "<root>"
        raise UsageError(
            f"{source}: output {where}: {first['msg']} (run `pulumi up` with this version, then "
            "`pulumi stack output --json`)"
        ) from exc


def read_trust_model(outputs: StackOutputs) -> TrustModel:
    """The trust model the stack exported (`trustModel`); a usage error if this version cannot read it."""
    try:
        return TrustModel.from_json(outputs.trust_model)
    except (KeyError, TypeError, ValueError) as exc:
        raise UsageError(f"the trustModel output is not one this version understands: {exc}") from exc


def load_outputs_file(path: Path) -> StackOutputs:
    """Outputs saved with `pulumi stack output --json > FILE`."""
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


GENERATED_KEY = "tls:index/privateKey:PrivateKey"


def load_plan_outputs(directory: Path) -> StackOutputs:
    """The outputs of an offline plan (`make plan`), for a stack whose outputs the plan knows exactly: one with no
    Azure resources (the mock engine's ids and addresses are not the deployed ones) and no generated key (the
    plan's is a stand-in; the real one is made by `pulumi up`)."""
    path = directory / "plan.json"
    try:
        plan = json.loads(path.read_text())
    except OSError as exc:
        raise UsageError(
            f"cannot read --from-plan {path}: {exc.strerror} (write it with `make plan STACK=...`)"
        ) from exc
    except ValueError as exc:
        raise UsageError(f"--from-plan {path} is not JSON: {exc}") from exc
    resources = plan.get("resources") if isinstance(plan, dict) else None
    if not isinstance(resources, list) or not isinstance(plan.get("outputs"), dict):
        raise UsageError(f"--from-plan {path} is not a plan (no resources and outputs): write it with `make plan`")
    types = {str(r.get("type")) for r in resources if isinstance(r, dict)}
    if any(t.startswith("azure-native:") for t in types):
        raise UsageError(
            f"--from-plan {directory}: an Azure stack's plan holds the mock engine's ids and addresses, not the "
            "deployed ones; pass --outputs FILE (pulumi stack output --json)"
        )
    if GENERATED_KEY in types:
        raise UsageError(
            f"--from-plan {directory}: the stack's generated signing key exists only once `pulumi up` makes it (the "
            "plan's is a stand-in); trust a key of your own (signing.keys kind public-key) or pass --outputs FILE"
        )
    return parse_outputs(plan["outputs"], str(path))
