"""Strict reading of a stack file's YAML: one pass over libyaml's events, building plain data.

A reviewer approves what the file says, so the file may say each thing once and in one way:
- duplicate keys are refused (with YAML's usual rule, the last one silently wins);
- anchors, aliases and merge keys (`<<`) are refused: every value stands where it applies, and a
  small file cannot expand into a huge one;
- explicit tags, non-scalar keys and more than one document are refused;
- nesting is bounded, the file's size is bounded, and its bytes must be UTF-8.

Scalars are resolved and built by PyYAML's own resolver and safe constructor, so `true`, `30`,
`2027-06-30` mean what they mean in any YAML reader; an impossible date is a problem, not a crash.
Every problem names where it is (the path of keys and its line) and is reported together.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from components.model.yaml_io import SafeLoader

MAX_BYTES = 1024 * 1024
MAX_DEPTH = 24
"""Deeper than any stack config needs (the deepest key is six levels down)."""

Path = tuple[str | int, ...]


@dataclass(frozen=True)
class YamlProblem:
    """One thing wrong with the document: where (key path and line) and what."""

    path: Path
    line: int
    message: str


class YamlRefused(Exception):  # noqa: N818 - carries problems to the caller, which reports them
    """The document cannot be read as config; `problems` says every reason found."""

    def __init__(self, problems: list[YamlProblem]) -> None:
        super().__init__("; ".join(p.message for p in problems))
        self.problems = problems


@dataclass
class _Container:
    """A mapping or sequence under construction, with the path that leads to it."""

    path: Path
    value: dict[str, Any] | list[Any]
    key: str | None = None
    """For a mapping: the key whose value comes next (None: a key comes next)."""
    seen: dict[str, int] = field(default_factory=dict)
    """For a mapping: the line each key was first written on."""


_RESOLVER = yaml.resolver.Resolver()


def _scalar(event: yaml.ScalarEvent) -> Any:
    tag = _RESOLVER.resolve(yaml.ScalarNode, event.value, event.implicit)  # type: ignore[no-untyped-call]
    if tag == "tag:yaml.org,2002:merge":
        return "<<"  # refused as a key by `load`; a constructor would fail on it
    node = yaml.ScalarNode(tag, event.value, style=event.style)
    return yaml.constructor.SafeConstructor().construct_object(node)


def _line(event: yaml.Event) -> int:
    return event.start_mark.line + 1 if event.start_mark is not None else 0


def decode(data: bytes) -> str:
    """The file's text: UTF-8 only, within the size bound; `YamlRefused` otherwise."""
    if len(data) > MAX_BYTES:
        raise YamlRefused([YamlProblem((), 0, f"is {len(data)} bytes — a stack file is at most {MAX_BYTES} bytes")])
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise YamlRefused(
            [YamlProblem((), line, f"is not UTF-8 (byte {exc.start} on line {line}) — save the file as UTF-8")]
        ) from None


def load(text: str) -> Any:
    """The one document in `text` as plain data, or `YamlRefused` listing every problem."""
    problems: list[YamlProblem] = []
    stack: list[_Container] = []
    result: Any = None
    documents = 0
    aliased: set[str] = set()

    def place(value: Any, event: yaml.Event) -> None:
        nonlocal result
        if not stack:
            result = value
            return
        top = stack[-1]
        if isinstance(top.value, list):
            top.value.append(value)
        elif top.key is None:
            line = _line(event)
            if not isinstance(value, str):
                written = event.value if isinstance(event, yaml.ScalarEvent) else "a list or mapping"
                problems.append(
                    YamlProblem(
                        top.path,
                        line,
                        f"has the key {written[:40]!r}, which YAML reads as {type(value).__name__}, not a name"
                        " — quote it or write a name",
                    )
                )
                top.key = f"<key on line {line}>"
            elif value == "<<":
                problems.append(YamlProblem(top.path, line, "uses a merge key (<<) — write the keys out"))
                top.key = value
            elif value in top.seen:
                problems.append(
                    YamlProblem(
                        (*top.path, value),
                        line,
                        f"is written twice (lines {top.seen[value]} and {line}) — keep one",
                    )
                )
                top.key = value
            else:
                top.seen[value] = line
                top.key = value
        else:
            top.value.setdefault(top.key, value)  # a duplicate keeps the first value; it is refused anyway
            top.key = None

    def path_of_next() -> Path:
        if not stack:
            return ()
        top = stack[-1]
        if isinstance(top.value, list):
            return (*top.path, len(top.value))
        return (*top.path, top.key) if top.key is not None else top.path

    try:
        for event in yaml.parse(text, Loader=SafeLoader):
            if isinstance(event, yaml.DocumentStartEvent):
                documents += 1
                if documents > 1:
                    line = _line(event)
                    problems.append(YamlProblem((), line, "holds a second YAML document — a stack file holds one"))
                    break
                continue
            if not isinstance(event, (yaml.NodeEvent, yaml.CollectionEndEvent)):
                continue
            line = _line(event)
            if isinstance(event, yaml.AliasEvent):
                if event.anchor is not None and event.anchor not in aliased:  # one problem per anchor
                    aliased.add(event.anchor)
                    message = f"uses the alias *{event.anchor} — write the value out where it applies"
                    problems.append(YamlProblem(path_of_next(), line, message))
                place(None, event)
                continue
            if isinstance(event, yaml.NodeEvent) and event.anchor is not None:
                problems.append(YamlProblem(path_of_next(), line, f"defines the anchor &{event.anchor} — remove it"))
            tag = getattr(event, "tag", None)
            if tag is not None and tag != "!" and not (isinstance(event, yaml.ScalarEvent) and event.implicit[0]):
                problems.append(YamlProblem(path_of_next(), line, f"has the explicit tag {tag} — remove it"))
                tag = None
            if isinstance(event, yaml.ScalarEvent):
                try:
                    value = _scalar(event) if tag is None else event.value
                except ValueError:
                    problems.append(
                        YamlProblem(
                            path_of_next(),
                            line,
                            f"{event.value[:40]!r} is not a real date — write a date that exists, as YYYY-MM-DD",
                        )
                    )
                    value = None
                place(value, event)
            elif isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                if len(stack) >= MAX_DEPTH:
                    problems.append(
                        YamlProblem(path_of_next(), line, f"nests deeper than {MAX_DEPTH} levels — flatten it")
                    )
                    raise YamlRefused(problems)
                container: dict[str, Any] | list[Any] = {} if isinstance(event, yaml.MappingStartEvent) else []
                stack.append(_Container(path_of_next(), container))
            else:  # the end of a mapping or sequence
                done = stack.pop()
                place(done.value, event)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 0
        problems.append(YamlProblem(path_of_next(), line, f"is not valid YAML: {exc.problem or exc.context}"))
    except yaml.YAMLError as exc:  # the reader's own errors (a control character, ...)
        problems.append(YamlProblem((), 0, f"is not valid YAML: {exc}"))
    if problems:
        raise YamlRefused(problems)
    return result
