"""What text a stack config may hold, checked once over the raw config before the model reads it.

- Names, URLs, patterns and ids are printable ASCII with no whitespace at either end: a trailing
  newline or a look-alike letter cannot pass for `kube-system` or an issuer.
- PEM fields may span lines; free-text fields (an exception's reason, tag values) may hold any
  printable Unicode, but no control or bidirectional-override characters.
- Nothing may look like a secret (a private key, a token, an access key): config is reviewed in
  the open and copied into plans and policies. Such a value is refused without being shown, and
  `scrub` removes it from any message that would otherwise repeat it.
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.serialization import load_der_private_key

PEM_FIELDS = frozenset(
    {"pem", "publicKey", "rekorPublicKey", "ctLogPublicKey", "fulcioRoots", "tsaCertChain", "caCertificate"}
)
"""Keys whose values are PEM text and so may span lines."""
FREE_TEXT_FIELDS = frozenset({"reason"})
"""Keys whose values are prose for reviewers and may hold any printable Unicode."""
FREE_TEXT_MAPS = frozenset({"tags"})
"""Keys whose mapping values (not keys) are free text (Azure tag values)."""

MAX_TEXT = 16384
"""No single value needs more (a PEM chain of a few certificates is under 8 KiB)."""

_SECRET_MARKERS = re.compile(
    r"PRIVATE KEY|PuTTY-User-Key-File|"  # PEM and PuTTY private keys, any algorithm
    r"\b(ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,}|"  # GitHub tokens
    r"glpat-[A-Za-z0-9_-]{20,}|xox[abprs]-[A-Za-z0-9-]{10,}|"  # GitLab, Slack tokens
    r"\bAKIA[0-9A-Z]{16}\b|"  # AWS access key ids
    r"AccountKey=|SharedAccessKey=|SharedAccessSignature|[?&]sig=[A-Za-z0-9%/+=]{20,}|"  # Azure keys, SAS
    r"[0-9A-Za-z]{3}8Q~[0-9A-Za-z_~.-]{30,}|"  # Entra client secrets
    r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\."  # JWTs (OIDC and other bearer tokens)
)
_SHORTEST_SECRET = 11
"""No marker above matches fewer characters (`PRIVATE KEY`, `AccountKey=`)."""
_BASE64_BLOB = re.compile(r"[A-Za-z0-9+/\s]{96,}={0,2}")
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")


@functools.lru_cache(maxsize=65536)
def looks_secret(text: str) -> bool:
    """Whether `text` holds what looks like a private key or a credential (never to be shown)."""
    if len(text) < _SHORTEST_SECRET:
        return False
    if _SECRET_MARKERS.search(text):
        return True
    match = _BASE64_BLOB.fullmatch(text.strip())
    if match is None:
        return False
    try:  # a bare base64 DER private key (PKCS#8, SEC1 or PKCS#1)
        load_der_private_key(base64.b64decode("".join(text.split()), validate=True), password=None)
    except (ValueError, TypeError, binascii.Error):
        return False
    return True


def shown(value: object, limit: int = 48) -> str:
    """`value` as a message may show it: secrets never, long values only by a short prefix."""
    if isinstance(value, str) and looks_secret(value):
        return f"(a value of {len(value)} characters that looks like a secret, not shown)"
    text = repr(value)
    if len(text) > limit:
        return f"{text[: limit // 2]}… ({len(str(value))} characters)"
    return text


@dataclass(frozen=True)
class TextProblem:
    """A value (or a key) with text the config may not hold, and where it is."""

    path: str
    message: str


def _join(path: str, part: str | int) -> str:
    if isinstance(part, int):
        return f"{path}[{part}]"
    return f"{path}.{part}"  # an empty key shows as such (`.name`): its child is not a top-level key


def _character_problem(text: str, *, multiline: bool, free: bool) -> str | None:
    plain = text.replace("\n", "") if multiline else text
    if plain.isprintable() and (plain.isascii() or (free and not _BIDI.intersection(plain))):
        return None  # the common case, decided in C
    for index, char in enumerate(text):
        if char == "\n" and multiline:
            continue
        if char in _BIDI or unicodedata.category(char) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"):
            return f"holds the control character U+{ord(char):04X} at position {index} — remove it"
        if not free and not char.isascii():
            return (
                f"holds the non-ASCII character U+{ord(char):04X} ({unicodedata.name(char, 'unnamed')}) at position "
                f"{index} — names, URLs and ids here are ASCII; retype it"
            )
    return None


def _value_problem(text: str, *, multiline: bool, free: bool) -> str | None:
    if looks_secret(text):
        return (
            f"holds what looks like a private key or credential ({len(text)} characters, not shown) — secrets never "
            "go in config; remove it and rotate it"
        )
    if len(text) > MAX_TEXT:
        return f"is {len(text)} characters long — no value here needs more than {MAX_TEXT}"
    if text != text.strip() and not (multiline and text.rstrip("\n") == text.rstrip("\n").strip()):
        return "has whitespace at its start or end — remove it (a trailing newline or space changes the value)"
    return _character_problem(text, multiline=multiline, free=free)


def text_problems(raw: Mapping[str, Any]) -> Iterator[TextProblem]:
    """Every key and string value of the raw project config the model may not read, with its path."""
    stack: list[tuple[str, Any, str | None]] = [(k, v, k) for k, v in raw.items()]
    while stack:
        path, value, key = stack.pop()
        if isinstance(value, Mapping):
            free_values = key in FREE_TEXT_MAPS
            for child_key, child in value.items():
                child_path = _join(path, child_key if isinstance(child_key, str) else str(child_key))
                if isinstance(child_key, str) and (problem := _value_problem(child_key, multiline=False, free=False)):
                    yield TextProblem(child_path, f"the key {problem}")
                    continue
                stack.append((child_path, child, "<free>" if free_values else str(child_key)))
        elif isinstance(value, list):
            stack.extend((_join(path, i), item, key) for i, item in enumerate(value))
        elif isinstance(value, str):
            problem = _value_problem(
                value, multiline=key in PEM_FIELDS, free=key in FREE_TEXT_FIELDS or key == "<free>"
            )
            if problem is not None:
                yield TextProblem(path, problem)


def printable(text: str) -> str:
    """`text` with control, bidirectional and other invisible characters escaped, for a message line
    (`isprintable` is false for each of them: every bidirectional control, the no-break space)."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)


def scrub(text: str, raw: Mapping[str, Any]) -> str:
    """`text` with every secret-looking string of `raw` (keys and values) replaced: a last guard for
    messages built by other code (a library's error that quotes its input)."""
    for secret in _secret_strings(raw):
        text = text.replace(secret, "(not shown)")
    return text


def _secret_strings(value: Any) -> Iterator[str]:
    if isinstance(value, Mapping):
        for k, v in value.items():
            if isinstance(k, str) and looks_secret(k):
                yield k
            yield from _secret_strings(v)
    elif isinstance(value, list):
        for item in value:
            yield from _secret_strings(item)
    elif isinstance(value, str) and looks_secret(value):
        yield value
