"""Reading untrusted JSON documents (payloads, statements, bundles) without trusting their shape."""

from __future__ import annotations

import json
from typing import Any


def field(document: object, *path: str) -> object:
    """The value at `path`, or None where any step is missing or not an object (never raises)."""
    for key in path:
        if not isinstance(document, dict):
            return None
        document = document.get(key)
    return document


def json_object(data: bytes | str) -> dict[str, Any] | None:
    """`data` parsed as a JSON object, or None if it is not one (malformed JSON, a list, a number...)."""
    try:
        document = json.loads(data)
    except (ValueError, RecursionError):
        return None
    return document if isinstance(document, dict) else None
