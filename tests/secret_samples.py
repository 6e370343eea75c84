"""Secret-shaped samples for the tests that prove a secret is refused, caught or never echoed.

Built at run time from parts, so the repository itself holds nothing a secret scanner (or a reader) would
take for a leaked credential: no token literal, no PEM private-key header, no JWT.
"""

from __future__ import annotations

import base64
import json
import secrets
import string

_ALPHANUMERIC = string.ascii_letters + string.digits


def _random(length: int, alphabet: str = _ALPHANUMERIC) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


def github_token() -> str:
    """A classic GitHub personal access token's shape (`gh` + `p_` + 36 characters), random each call."""
    return "gh" + "p_" + _random(36)


def fine_grained_token() -> str:
    """A fine-grained GitHub token's shape, random each call."""
    return "github" + "_pat_" + _random(40, _ALPHANUMERIC + "_")


def private_key_header(kind: str = "RSA") -> str:
    """The first line of a PEM private key of `kind` (`RSA`, `OPENSSH`, or "" for PKCS#8)."""
    label = f"{kind} PRIVATE" if kind else "PRIVATE"
    return "-----" + "BEGIN " + label + " KEY-----"


def private_key_block(body: str, kind: str = "") -> str:
    """A PEM private-key block around `body` (which need not be key material)."""
    label = f"{kind} PRIVATE" if kind else "PRIVATE"
    return f"{private_key_header(kind)}\n{body}\n-----END {label} KEY-----"


def jwt() -> str:
    """An unsigned JWT's shape: base64url header and claims, then a signature part."""

    def part(document: dict[str, str]) -> str:
        return base64.urlsafe_b64encode(json.dumps(document).encode()).decode().rstrip("=")

    return f"{part({'alg': 'RS256'})}.{part({'sub': 'agent'})}.{_random(8)}"
