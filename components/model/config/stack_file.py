"""Reading stack config: from a `stacks/Pulumi.<stack>.yaml` file (offline plan) or from the config map
the Pulumi runtime holds (`pulumi up`). Both hand `parse_stack_config` the same raw mapping.

A stack file is read strictly (`yaml_document`); every key must be this project's (`supply-chain:`) or
a setting of a provider the program uses, listed in `PROVIDER_KEYS`; a misspelt prefix is refused with
the spelling it was probably meant to have, never read as some other project's config. Secure values
are accepted only where a provider takes a secret: this project's own keys hold none.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from components.model.config import yaml_document
from components.model.config.errors import ConfigError, Problem
from components.model.contract import PROJECT
from components.model.yaml_io import SafeLoader

SECRET_PLACEHOLDER = "[secret]"
"""What a `secure:` value reads as offline: the plan has no key to decrypt it, and must not try."""

PROVIDER_KEYS: Mapping[str, frozenset[str]] = {
    # The program uses azure-native's default provider, so its settings apply; every other provider it
    # builds explicitly from this project's own keys (the cluster's Kubernetes provider from `cluster`).
    "azure-native": frozenset(
        {
            "auxiliaryTenantIds",
            "clientCertificatePassword",
            "clientCertificatePath",
            "clientId",
            "clientSecret",
            "disableInstanceDiscovery",
            "disablePulumiPartnerId",
            "environment",
            "location",
            "metadataHost",
            "msiEndpoint",
            "oidcRequestToken",
            "oidcRequestUrl",
            "oidcToken",
            "oidcTokenFilePath",
            "partnerId",
            "subscriptionId",
            "tenantId",
            "useDefaultAzureCredential",
            "useMsi",
            "useOidc",
        }
    ),
}
"""Keys of other namespaces a stack file may hold: the settings of providers the program uses."""

SECRET_PROVIDER_KEYS = frozenset(
    {
        "azure-native:clientCertificatePassword",
        "azure-native:clientSecret",
        "azure-native:oidcRequestToken",
        "azure-native:oidcToken",
    }
)
"""The only keys whose value may be `secure:` (this project's own keys hold no secret)."""

TOP_LEVEL_KEYS = frozenset({"config", "secretsprovider", "encryptedkey", "encryptionsalt", "environment"})
"""What a Pulumi stack file holds besides `config` (the secrets provider and ESC environments)."""


@dataclass(frozen=True)
class StackFile:
    """A stack config file as the Pulumi CLI would see it."""

    stack: str
    raw: dict[str, Any]
    """Project keys without the `supply-chain:` prefix."""
    secret_keys: list[str] = field(default_factory=list)
    """Full keys of provider settings that hold a secure value (read as the placeholder)."""
    other: dict[str, Any] = field(default_factory=dict)
    """Keys of other namespaces (provider config such as `azure-native:location`), kept as given."""

    def pulumi_config(self) -> dict[str, str]:
        """The config map as the CLI hands it to the program: strings, objects JSON-encoded."""
        out = {f"{PROJECT}:{k}": _encode(v) for k, v in self.raw.items()}
        out.update({k: _encode(v) for k, v in self.other.items()})
        return out


def _encode(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


def _is_secure(value: Any) -> bool:
    return isinstance(value, dict) and "secure" in value


def _secure_problems(key: str, value: Any, path: str = "") -> list[Problem]:
    """Secure values anywhere inside a project key: refused (the project reads no secret)."""
    if _is_secure(value):
        return [
            Problem(
                f"{key}{path}",
                "holds a secure value, and no key of this project takes a secret (private keys and tokens never "
                "go in config) — put the plain value here, or remove the key",
            )
        ]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _secure_problems(key, v, f"{path}.{k}")]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _secure_problems(key, v, f"{path}[{i}]")]
    return []


def namespace_problems(key: str) -> list[Problem]:
    """Why a config key of a stack (`namespace:name`) is not one this program reads, if it is not."""
    namespace, colon, name = key.partition(":")
    if not colon or not namespace or not name:
        return [Problem(key, f"is not a `namespace:key` config key — write it as {PROJECT}:<key>")]
    if namespace == PROJECT:
        return []  # the config model knows every project key and refuses the others by name
    if namespace in PROVIDER_KEYS:
        if name in PROVIDER_KEYS[namespace]:
            return []
        hint = difflib.get_close_matches(name, sorted(PROVIDER_KEYS[namespace]), n=1)
        did_you_mean = f"did you mean {namespace}:{hint[0]}? " if hint else ""
        return [Problem(key, f"is not a setting of the {namespace} provider — {did_you_mean}remove it")]
    close = difflib.get_close_matches(namespace, [PROJECT, *PROVIDER_KEYS], n=1, cutoff=0.6)
    if close:
        return [Problem(key, f"belongs to no project or provider this program reads — did you mean {close[0]}:{name}?")]
    readable = ", ".join(f"{n}:" for n in [PROJECT, *PROVIDER_KEYS])
    return [Problem(key, f"belongs to no project or provider this program reads (it reads {readable}) — remove it")]


def _where(path: tuple[str | int, ...], line: int, source: str) -> str:
    """Where a problem of the file is: a config key, else the file and line."""
    if len(path) >= 2 and path[0] == "config":
        text = str(path[1])
        for part in path[2:]:
            text += f"[{part}]" if isinstance(part, int) else f".{part}"
        return text
    return f"{source}:{line}" if line else source


def read_stack_file(path: Path, stack: str | None = None) -> StackFile:
    """Read `path` (a `Pulumi.<stack>.yaml`) strictly; the stack name defaults to the one in the file name.
    `ConfigError` names every problem with its key (or the file and line, for what precedes the keys)."""
    name = stack or path.name.removeprefix("Pulumi.").removesuffix(".yaml").removesuffix(".yml")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError([Problem(str(path), f"cannot read the stack file ({exc.strerror})")], str(path)) from None
    return parse_stack_file(data, name, str(path))


def parse_stack_file(data: bytes, stack: str, source: str = "stack file") -> StackFile:
    """A stack file's bytes as a `StackFile`; `ConfigError` names every problem."""
    try:
        document = yaml_document.load(yaml_document.decode(data))
    except yaml_document.YamlRefused as refused:
        raise ConfigError(
            [Problem(_where(p.path, p.line, source), p.message) for p in refused.problems], source
        ) from None
    if not isinstance(document, dict) or not isinstance(document.get("config"), dict):
        raise ConfigError([Problem(source, "must be a mapping with a `config:` mapping of keys")], source)
    problems: list[Problem] = [
        Problem(f"{source}: {key}", f"is not a stack file key — keep to {', '.join(sorted(TOP_LEVEL_KEYS))}")
        for key in document
        if key not in TOP_LEVEL_KEYS
    ]
    raw: dict[str, Any] = {}
    other: dict[str, Any] = {}
    secret_keys: list[str] = []
    for key, value in document["config"].items():
        problems += namespace_problems(key)
        namespace, _, short = key.partition(":")
        if namespace == PROJECT:
            problems += _secure_problems(key, value)
            raw[short] = value
        elif _is_secure(value) and key in SECRET_PROVIDER_KEYS:
            secret_keys.append(key)
            other[key] = SECRET_PLACEHOLDER  # the plan has no key to decrypt it, and must not try
        else:
            if _is_secure(value):
                problems.append(Problem(key, "holds a secure value, and this setting is not a secret — write it plain"))
            other[key] = value
    if problems:
        raise ConfigError(problems, source)
    return StackFile(stack=stack, raw=raw, secret_keys=secret_keys, other=other)


def _decode(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def raw_from_runtime(config: Mapping[str, Any]) -> dict[str, Any]:
    """Project keys from a runtime config map (`supply-chain:x` → JSON string or scalar); a key of
    another namespace that this program does not read is refused, as in a stack file."""
    # the engine's own settings (`pulumi:`) reach the program too
    problems = [p for key in config if not key.startswith("pulumi:") for p in namespace_problems(key)]
    if problems:
        raise ConfigError(problems, "stack config")
    prefix = f"{PROJECT}:"
    return {k.removeprefix(prefix): _decode(v) for k, v in config.items() if k.startswith(prefix)}


def key_lines(text: str) -> dict[str, int]:
    """The line of every config key in a stack file's text, keyed as findings name them
    (`supply-chain:admission.exceptions[0].owner`); empty when the text is not YAML. For pointing a reviewer
    at a key, after the strict read accepted the file."""
    try:
        root = yaml.compose(text, Loader=SafeLoader)
    except yaml.YAMLError:
        return {}
    lines: dict[str, int] = {}

    def walk(node: yaml.Node, key: str) -> None:
        if isinstance(node, yaml.MappingNode):
            for key_node, value in node.value:
                child = f"{key}.{key_node.value}" if key else str(key_node.value)
                lines.setdefault(child, key_node.start_mark.line + 1)
                walk(value, child)
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                child = f"{key}[{index}]"
                lines.setdefault(child, item.start_mark.line + 1)
                walk(item, child)

    if isinstance(root, yaml.MappingNode):
        for key_node, value in root.value:
            if key_node.value == "config" and isinstance(value, yaml.MappingNode):
                for config_key, config_value in value.value:
                    lines.setdefault(str(config_key.value), config_key.start_mark.line + 1)
                    walk(config_value, str(config_key.value))
    return lines


def line_of(lines: Mapping[str, int], key: str) -> int | None:
    """The line of `key`, or of its nearest written parent (a key left at its default is not in the file)."""
    while key:
        if key in lines:
            return lines[key]
        cut = max(key.rfind("."), key.rfind("["))
        key = key[:cut] if cut > key.find(":") else ""
    return None
