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


_STR = "tag:yaml.org,2002:str"


def _scalar(event: yaml.ScalarEvent) -> Any:
    if event.style in ("'", '"', "|", ">"):
        return event.value  # quoted and block scalars are strings
    tag = _RESOLVER.resolve(yaml.ScalarNode, event.value, event.implicit)  # type: ignore[no-untyped-call]
    if tag == _STR:
        return event.value
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
        elif top.key is not None:
            top.value.setdefault(top.key, value)  # a duplicate keeps the first value; it is refused anyway
            top.key = None
        elif type(value) is not str:
            line = _line(event)
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
            problems.append(YamlProblem(top.path, _line(event), "uses a merge key (<<) — write the keys out"))
            top.key = value
        elif value in top.seen:
            line = _line(event)
            message = f"is written twice (lines {top.seen[value]} and {line}) — keep one"
            problems.append(YamlProblem((*top.path, value), line, message))
            top.key = value
        else:
            top.seen[value] = _line(event)
            top.key = value

    def path_of_next() -> Path:
        if not stack:
            return ()
        top = stack[-1]
        if type(top.value) is list:
            return (*top.path, len(top.value))
        return (*top.path, top.key) if top.key is not None else top.path

    try:
        for event in yaml.parse(text, Loader=SafeLoader):
            if isinstance(event, yaml.ScalarEvent):
                if event.anchor is not None or (event.tag is not None and not event.implicit[0]):
                    _node_problems(event, path_of_next(), problems)
                    place(event.value, event)
                    continue
                try:
                    value = _scalar(event)
                except ValueError:
                    message = f"{event.value[:40]!r} is not a real date — write a date that exists, as YYYY-MM-DD"
                    problems.append(YamlProblem(path_of_next(), _line(event), message))
                    value = None
                place(value, event)
            elif isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                if event.anchor is not None or (event.tag is not None and event.tag != "!" and not event.implicit):
                    _node_problems(event, path_of_next(), problems)
                if len(stack) >= MAX_DEPTH:
                    message = f"nests deeper than {MAX_DEPTH} levels — flatten it"
                    problems.append(YamlProblem(path_of_next(), _line(event), message))
                    raise YamlRefused(problems)
                stack.append(_Container(path_of_next(), {} if isinstance(event, yaml.MappingStartEvent) else []))
            elif isinstance(event, yaml.CollectionEndEvent):
                done = stack.pop()
                place(done.value, event)
            elif isinstance(event, yaml.AliasEvent):
                if event.anchor is not None and event.anchor not in aliased:  # one problem per anchor
                    aliased.add(event.anchor)
                    message = f"uses the alias *{event.anchor} — write the value out where it applies"
                    problems.append(YamlProblem(path_of_next(), _line(event), message))
                place(None, event)
            elif isinstance(event, yaml.DocumentStartEvent):
                documents += 1
                if documents > 1:
                    message = "holds a second YAML document — a stack file holds one"
                    problems.append(YamlProblem((), _line(event), message))
                    break
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 0
        problems.append(YamlProblem(path_of_next(), line, f"is not valid YAML: {exc.problem or exc.context}"))
    except yaml.YAMLError as exc:  # the reader's own errors (a control character, ...)
        problems.append(YamlProblem((), 0, f"is not valid YAML: {exc}"))
    if problems:
        raise YamlRefused(problems)
    return result


def _node_problems(event: yaml.NodeEvent, path: Path, problems: list[YamlProblem]) -> None:
    """Anchors and explicit tags on a node: each refused where it stands."""
    line = _line(event)
    if event.anchor is not None:
        problems.append(YamlProblem(path, line, f"defines the anchor &{event.anchor} — remove it"))
    tag = getattr(event, "tag", None)
    if tag is not None and tag != "!":
        problems.append(YamlProblem(path, line, f"has the explicit tag {tag} — remove it"))
