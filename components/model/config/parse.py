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
from components.model.config.rules import INVALID, Partial, Sections, cross_section_problems
from components.model.config.signing import SigningKey
from components.model.config.stack import StackConfig
from components.model.config.text import printable, scrub, shown, text_problems


def parse_stack_config(
    raw: Mapping[str, Any], *, today: date | None = None, source: str = "stack config"
) -> StackConfig:
    """Validate `raw` (top-level keys without the `supply-chain:` prefix) into a `StackConfig`.

    Raises `ConfigError` with every problem found: field-level ones from each section, plus the
    cross-section rules over the sections that validated on their own.
    """
    context = {"today": today or datetime.now(UTC).date()}
    text = [Problem(config_key(p.path), p.message) for p in text_problems(raw)]
    try:
        config = StackConfig.model_validate(dict(raw), context=context)
    except ValidationError as exc:
        problems = _problems_from(exc)
        if not any(err["loc"] == () for err in exc.errors()):
            # a section failed, so the whole-model rules did not run: run them over what did validate
            problems += cross_section_problems(_partial_sections(raw, exc, context))
        raise _refusal(text, problems, raw, source) from None
    if text:
        raise _refusal(text, [], raw, source)
    return config


def _refusal(text: list[Problem], problems: list[Problem], raw: Mapping[str, Any], source: str) -> ConfigError:
    """One error: the text problems, then the model's, except where a key's text was already refused
    (the model's message about such a value would only repeat, or quote, what is wrong with it)."""
    refused = [p.key for p in text]
    kept = [p for p in problems if not any(p.key == k or p.key.startswith((f"{k}.", f"{k}[")) for k in refused)]
    scrubbed = [Problem(printable(scrub(p.key, raw)), printable(scrub(p.message, raw))) for p in _dedupe(text + kept)]
    return ConfigError(scrubbed, source)


def _partial_sections(raw: Mapping[str, Any], exc: ValidationError, context: dict[str, Any]) -> Sections:
    """Every section as far as it validated: a section whose own fields failed is read field by field,
    and a rule that reads one of the failed fields does not run (its own problem is reported)."""
    failed: dict[str, set[str]] = {}
    for err in exc.errors():
        loc = err["loc"]
        if loc:
            failed.setdefault(str(loc[0]), set()).update({str(loc[1])} if len(loc) > 1 else set())
    values: dict[str, Any] = {}
    for name, field in StackConfig.model_fields.items():
        alias = field.alias or name
        if alias not in raw:
            values[name] = INVALID if field.is_required() else field.get_default(call_default_factory=True)
            continue
        if alias not in failed:
            values[name] = TypeAdapter[Any](field.annotation or Any).validate_python(raw[alias], context=context)
            continue
        values[name] = _partial(field.annotation, raw[alias], failed[alias], context)
    return Sections(values)


def _partial(annotation: Any, value: Any, failed: set[str], context: dict[str, Any]) -> Any:
    """A section whose model check failed, as a `Partial` of its valid fields (or INVALID)."""
    model = _model_in(annotation)
    if model is None or not isinstance(value, Mapping):
        return INVALID
    fields: dict[str, Any] = {}
    invalid: set[str] = set()
    for name, field in model.model_fields.items():
        alias = field.alias or name
        if alias in failed:
            invalid.add(name)
        elif alias in value:
            try:
                fields[name] = TypeAdapter[Any](field.annotation or Any).validate_python(value[alias], context=context)
            except ValidationError:
                invalid.add(name)
    return Partial(model.model_construct(**fields), frozenset(invalid))


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
        return f"is not a key here — {did_you_mean}allowed here: {', '.join(sorted(allowed))}"
    if kind == "missing":
        return "is required — add it"
    if kind == "value_error":
        return str(err["msg"]).removeprefix("Value error, ")
    if kind == "string_pattern_mismatch":
        field = _field_at(loc)
        what = field.description if field is not None and field.description else "the expected form"
        return f"{shown(given)} does not have the form this key takes — {what}"
    message = str(err["msg"])
    if kind == "union_tag_invalid":
        return f"{message} — set kind to one of {', '.join(_discriminator_tags(SigningKey))}"
    if kind.endswith("_type") or kind.endswith("_parsing") or kind in ("literal_error", "enum"):
        return f"{message} (got {shown(given)})"
    return message


def _allowed_keys(loc: Sequence[str | int]) -> list[str]:
    """The keys accepted at `loc` (walking the model by aliases), for "did you mean" hints."""
    current: Any = StackConfig
    for part in loc:
        model = _model_in(current)
        if model is None:  # a dict of models (keyed by namespace, say) or a list of them: its element
            current = _element_type(current)
            if current is None:
                return []
            continue
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


def _field_at(loc: Sequence[str | int]) -> Any:
    """The pydantic field at `loc` (walking the model by aliases), or None."""
    if not loc:
        return None
    *parents, last = loc
    current: Any = StackConfig
    for part in parents:
        model = _model_in(current)
        if model is None:
            return None
        field = next((f for f in model.model_fields.values() if f.alias == part), None)
        current = _element_type(current) if field is None else field.annotation
    model = _model_in(current)
    return next((f for f in model.model_fields.values() if f.alias == last), None) if model else None


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
