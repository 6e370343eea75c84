"""Reading stack config: from a `stacks/Pulumi.<stack>.yaml` file (offline plan) or from the config map
the Pulumi runtime holds (`pulumi up`). Both hand `parse_stack_config` the same raw mapping."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from components.model import yaml_io
from components.model.config.errors import ConfigError, Problem
from components.model.contract import PROJECT

SECRET_PLACEHOLDER = "[secret]"
"""What a `secure:` value reads as offline: the plan has no key to decrypt it, and must not try."""


@dataclass(frozen=True)
class StackFile:
    """A stack config file as the Pulumi CLI would see it."""

    stack: str
    raw: dict[str, Any]
    """Project keys without the `supply-chain:` prefix, secure values replaced by the placeholder."""
    secret_keys: list[str] = field(default_factory=list)
    """Full keys (`supply-chain:x`) that hold or contain a secure value."""
    other: dict[str, Any] = field(default_factory=dict)
    """Keys of other namespaces (provider config such as `azure-native:location`), kept as given."""

    def pulumi_config(self) -> dict[str, str]:
        """The config map as the CLI hands it to the program: strings, objects JSON-encoded."""
        out = {f"{PROJECT}:{k}": _encode(v) for k, v in self.raw.items()}
        out.update({k: _encode(v) for k, v in self.other.items()})
        return out


def _encode(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


def _redact_secure(value: Any) -> tuple[Any, bool]:
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            return SECRET_PLACEHOLDER, True
        found = False
        out = {}
        for k, v in value.items():
            out[k], inner = _redact_secure(v)
            found = found or inner
        return out, found
    if isinstance(value, list):
        items = [_redact_secure(v) for v in value]
        return [v for v, _ in items], any(s for _, s in items)
    return value, False


def read_stack_file(path: Path, stack: str | None = None) -> StackFile:
    """Read `path` (a `Pulumi.<stack>.yaml`); the stack name defaults to the one in the file name."""
    name = stack or path.name.removeprefix("Pulumi.").removesuffix(".yaml").removesuffix(".yml")
    try:
        document = yaml_io.load(path.read_text())
    except OSError as exc:
        raise ConfigError([Problem(str(path), f"cannot read the stack file ({exc.strerror})")], str(path)) from None
    except yaml.YAMLError as exc:
        raise ConfigError([Problem(str(path), f"is not valid YAML: {exc}")], str(path)) from None
    if not isinstance(document, dict) or not isinstance(document.get("config", {}), dict):
        raise ConfigError([Problem(str(path), "must be a mapping with a `config:` mapping of keys")], str(path))
    raw: dict[str, Any] = {}
    other: dict[str, Any] = {}
    secret_keys: list[str] = []
    for key, value in (document.get("config") or {}).items():
        redacted, is_secret = _redact_secure(value)
        if is_secret:
            secret_keys.append(str(key))
        namespace, _, short = str(key).partition(":")
        if namespace == PROJECT and short:
            raw[short] = redacted
        else:
            other[str(key)] = redacted
    return StackFile(stack=name, raw=raw, secret_keys=secret_keys, other=other)


def _decode(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def raw_from_runtime(config: Mapping[str, Any]) -> dict[str, Any]:
    """Project keys from a runtime config map (`supply-chain:x` → JSON string or scalar)."""
    prefix = f"{PROJECT}:"
    return {k.removeprefix(prefix): _decode(v) for k, v in config.items() if k.startswith(prefix)}
