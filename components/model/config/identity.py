"""Keyless identity patterns, analysed rather than prefix-tested.

The engines match a certificate's whole identity (its SAN) against `subjectRegExp` with Go's RE2, so a
pattern is refused when it would trust more than one owner's workflows, or when RE2 would read it
differently from Python (or not at all):

- it is parsed (Python's own regex parser) and every top-level branch of an alternation must be
  anchored and pinned on its own: `^<pinned>$|^https://.*$` trusts everyone;
- each branch starts with `^` and a literal `scheme://host/<owner>/`, or (for e-mail identities, never
  with a CI issuer, whose tokens carry URI identities) ends with a literal `@<domain>$`, and ends with `$`;
- lookaround, backreferences, conditionals, atomic groups, possessive repeats and `\\Z` are refused
  (RE2 has none of them), and so are POSIX classes like `[[:alpha:]]` (RE2 reads a class, Python a set).
"""

from __future__ import annotations

import importlib
import re
from typing import Any

from components.model.config.text import shown
from components.model.contract import GITHUB_ACTIONS_ISSUER

sre_parse: Any = importlib.import_module("re._parser")
"""Python's own regular-expression parser (private; typeshed has no stub for it, whatever mypy's cache says)."""

CI_ISSUERS = frozenset(
    {
        GITHUB_ACTIONS_ISSUER,
        "https://gitlab.com",
        "https://agent.buildkite.com",
    }
)
"""OIDC issuers of CI systems: their tokens name workflows by URI, never by e-mail."""

_UNSUPPORTED_BY_RE2 = {
    "ASSERT": "lookahead or lookbehind",
    "ASSERT_NOT": "negative lookahead or lookbehind",
    "GROUPREF": "a backreference",
    "GROUPREF_EXISTS": "a conditional group",
    "ATOMIC_GROUP": "an atomic group",
    "POSSESSIVE_REPEAT": "a possessive repeat",
}
_PINNED_URL = re.compile(r"[a-z][a-z0-9+.-]*://[^/]+/[^/]+/")
_EMAIL_DOMAIN = re.compile(r"@(?:[a-z0-9-]+\.)+[a-z]{2,63}\Z")


def _name(opcode: Any) -> str:
    return str(opcode).rsplit(".", 1)[-1]


def _walk(items: Any) -> Any:
    """Every (opcode name, argument) in a parsed pattern, nested ones included, up to the first construct
    RE2 lacks: that one is refused whatever it holds, so the walk never enters it."""
    for opcode, argument in items:
        yield _name(opcode), argument
        if _name(opcode) == "SUBPATTERN":
            yield from _walk(argument[-1])
        elif _name(opcode) in ("MAX_REPEAT", "MIN_REPEAT"):
            yield from _walk(argument[2])
        elif _name(opcode) == "BRANCH":
            for branch in argument[1]:
                yield from _walk(branch)


def _is_at(item: Any, where: str) -> bool:
    return _name(item[0]) == "AT" and _name(item[1]) == where


def _alternatives(item: Any) -> list[list[Any]] | None:
    """The alternatives a BRANCH or group item stands for (a group: its one content), else None."""
    if _name(item[0]) == "BRANCH":
        return [list(alt) for alt in item[1][1]]
    if _name(item[0]) == "SUBPATTERN":
        return [list(item[1][-1])]
    return None


def _anchored(items: list[Any], where: str, edge: int) -> bool:
    """Whether every path through `items` starts (edge 0) or ends (edge -1) with `^` / `$`."""
    if not items:
        return False
    item = items[edge]
    if _is_at(item, where):
        return True
    alternatives = _alternatives(item)
    return alternatives is not None and all(_anchored(alt, where, edge) for alt in alternatives)


def _literals(items: list[Any], from_end: bool) -> list[str]:
    """The literal text each path through `items` must start (or end) with. Conservative: a group's
    literal is not joined with what follows it, so a prefix may be shorter than it could be, never longer."""
    sequence = list(reversed(items)) if from_end else items
    literal = ""
    for item in sequence:
        if _is_at(item, "AT_END" if from_end else "AT_BEGINNING"):
            continue
        if _name(item[0]) == "LITERAL":
            literal = chr(item[1]) + literal if from_end else literal + chr(item[1])
            continue
        alternatives = _alternatives(item)
        if alternatives is None:
            break
        return [p + literal if from_end else literal + p for alt in alternatives for p in _literals(alt, from_end)]
    return [literal]


def _matches_anything(items: list[Any]) -> bool:
    """Whether a path is `.*` or `.+` between its anchors (any text at all)."""
    body = [item for item in items if _name(item[0]) != "AT"]
    return (
        len(body) == 1
        and _name(body[0][0]) in ("MAX_REPEAT", "MIN_REPEAT")
        and [_name(o) for o, _ in body[0][1][2]] == ["ANY"]
    )


def _branch_problems(items: list[Any], pattern: str, issuer: str | None) -> list[str]:
    if not (_anchored(items, "AT_BEGINNING", 0) and _anchored(items, "AT_END", -1)):
        return [
            f"{shown(pattern)} is not anchored — start every alternative with ^ and end it with $ so it cannot "
            "match inside a longer identity"
        ]
    if all(_PINNED_URL.match(prefix) for prefix in _literals(items, from_end=False)):
        return []
    if all(_EMAIL_DOMAIN.search(suffix.lower()) for suffix in _literals(items, from_end=True)):
        if issuer in CI_ISSUERS:
            return [
                f"{shown(pattern)} is an e-mail pattern, and {issuer} names workflows by URI (a branch named "
                "x@domain would match) — pin https://<host>/<owner>/ instead"
            ]
        return []
    return [
        f"{shown(pattern)} does not pin an owner — every alternative must begin with a literal "
        "https://<host>/<owner>/ (dots escaped) or end with a literal @<domain>$"
    ]


def identity_pattern_problems(pattern: str, issuer: str | None = None) -> list[str]:
    """Why a keyless subject regex would trust more than one owner, or read differently in RE2, if it does."""
    if not pattern.strip():
        return ["is empty — write an anchored pattern such as ^https://github\\.com/contoso/.+@refs/heads/main$"]
    if "[:" in pattern or "\\Z" in pattern:
        return [f"{shown(pattern)} uses a construct RE2 reads differently ([:class:] or \\Z) — write it plainly"]
    try:
        parsed = sre_parse.parse(pattern)
    except re.error as exc:  # re._constants.error is re.error
        return [f"does not compile ({exc})"]
    for opcode, _ in _walk(parsed):
        if opcode in _UNSUPPORTED_BY_RE2:
            return [
                f"{shown(pattern)} uses {_UNSUPPORTED_BY_RE2[opcode]}, which RE2 (the engines' regex) does not "
                "have — rewrite it without"
            ]
    items = list(parsed)
    # `^a$|^b$` parses as one branch (Python moves a common leading literal out of it): every path
    # through the pattern must be anchored and pinned on its own
    branches = [items]
    if len(items) == 1 and _name(items[0][0]) == "BRANCH":
        branches = [list(alt) for alt in items[0][1][1]]
    if any(_matches_anything(branch) for branch in branches):
        return [
            f"{shown(pattern)} matches every identity (anyone with an OIDC token could sign) — pin the org and workflow"
        ]
    problems: list[str] = []
    for branch in branches:
        for problem in _branch_problems(branch, pattern, issuer):
            if problem not in problems:
                problems.append(problem)
    return problems
