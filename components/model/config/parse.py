"""Parsing raw config into a `StackConfig`, and pydantic's errors into problems a user can act on."""

from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Annotated, Any, Union

from pydantic import BaseModel, TypeAdapter, ValidationError

from components.model.config.errors import ConfigError, Problem, RuleViolation, config_key
from components.model.config.rules import INVALID, Sections, cross_section_problems
from components.model.config.signing import SigningKey
from components.model.config.stack import StackConfig


def parse_stack_config(
    raw: Mapping[str, Any], *, today: date | None = None, source: str = "stack config"
) -> StackConfig:
    """Validate `raw` (top-level keys without the `supply-chain:` prefix) into a `StackConfig`.

    Raises `ConfigError` with every problem found: field-level ones from each section, plus the
    cross-section rules over the sections that validated on their own.
    """
    context = {"today": today or datetime.now(UTC).date()}
    try:
        return StackConfig.model_validate(dict(raw), context=context)
    except ValidationError as exc:
        problems = _problems_from(exc)
        sections = _partial_sections(raw, context)
        if any(v is INVALID for v in sections.values.values()):
            # the whole-model rules did not run; run them over what did validate
            problems += cross_section_problems(sections)
        raise ConfigError(_dedupe(problems), source) from None


def _partial_sections(raw: Mapping[str, Any], context: dict[str, Any]) -> Sections:
    values: dict[str, Any] = {}
    for name, field in StackConfig.model_fields.items():
        alias = field.alias or name
        if alias not in raw:
            values[name] = INVALID if field.is_required() else field.get_default(call_default_factory=True)
            continue
        try:
            values[name] = TypeAdapter[Any](field.annotation or Any).validate_python(raw[alias], context=context)
        except ValidationError:
            values[name] = INVALID
    return Sections(values)


def _dedupe(problems: list[Problem]) -> list[Problem]:
    seen: set[tuple[str, str]] = set()
    out: list[Problem] = []
    for p in problems:
        if (p.key, p.message) not in seen:
            seen.add((p.key, p.message))
            out.append(p)
    return out


def _join(parts: Iterable[str | int]) -> str:
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part.startswith("["):
            text += part
        elif part:
            text += f".{part}" if text else part
    return text


def _problems_from(exc: ValidationError) -> list[Problem]:
    problems: list[Problem] = []
    for err in exc.errors():
        # drop the discriminator tag and pydantic's "[key]" marker for dict-key errors
        loc = [p for p in err["loc"] if not (isinstance(p, str) and (p in _UNION_TAGS or p == "[key]"))]
        error = (err.get("ctx") or {}).get("error")
        if isinstance(error, RuleViolation):
            for sub, message in error.violations:
                sub_parts = re.findall(r"[^.\[\]]+|\[\d+\]", sub)
                problems.append(Problem(config_key(_join([*loc, *sub_parts])), message))
            continue
        problems.append(Problem(config_key(_join(loc)), _describe(err, loc)))
    return problems


def _discriminator_tags(union: Any) -> tuple[str, ...]:
    """The `kind` values of a discriminated union of config models."""
    members = typing.get_args(typing.get_args(union)[0])
    return tuple(typing.get_args(m.model_fields["kind"].annotation)[0] for m in members)


_UNION_TAGS = frozenset(_discriminator_tags(SigningKey))


def _describe(err: Any, loc: list[str | int]) -> str:
    kind = err["type"]
    given = err.get("input")
    if kind == "extra_forbidden":
        allowed = _allowed_keys(loc[:-1])
        hint = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        did_you_mean = f"did you mean {hint[0]!r}? " if hint else ""
        return f"unknown key; {did_you_mean}allowed here: {', '.join(sorted(allowed))}"
    if kind == "missing":
        return "is required; add it"
    if kind == "value_error":
        return str(err["msg"]).removeprefix("Value error, ")
    message = str(err["msg"])
    if kind == "union_tag_invalid":
        return f"{message}; set kind to one of {', '.join(_discriminator_tags(SigningKey))}"
    if kind.endswith("_type") or kind.endswith("_parsing") or kind in ("literal_error", "enum"):
        return f"{message} (got {given!r})"
    return message


def _allowed_keys(loc: Sequence[str | int]) -> list[str]:
    """The keys accepted at `loc` (walking the model by aliases), for "did you mean" hints."""
    current: Any = StackConfig
    for part in loc:
        model = _model_in(current)
        if model is None:
            return []
        if isinstance(part, int) or (
            isinstance(part, str) and part not in {f.alias for f in model.model_fields.values()}
        ):
            # list index or dict key: descend into the element type
            current = _element_type(current)
            continue
        field = next(f for f in model.model_fields.values() if f.alias == part)
        current = field.annotation
    model = _model_in(current)
    return [f.alias for f in model.model_fields.values() if f.alias] if model else []


def _model_in(tp: Any) -> type[BaseModel] | None:
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return tp
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType) and len(args) == 1:
        return _model_in(args[0])
    if origin is Annotated:
        return _model_in(args[0])
    return None


def _element_type(tp: Any) -> Any:
    origin = typing.get_origin(tp)
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    if origin in (Union, types.UnionType) and len(args) == 1:
        return _element_type(args[0])
    if origin is list and args:
        return args[0]
    if origin is dict and len(args) == 2:
        return args[1]
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return tp
    return None
