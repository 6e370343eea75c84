"""What a signature covers: an artifact by its SHA-256 digest (`Subject`), or the payload of a DSSE
envelope (`DssePayload`), which is signed through DSSE's pre-authentication encoding (`pae`)."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from sigstore.hashes import Hashed
from sigstore_models.common.v1 import HashAlgorithm

from scripts.checks.errors import UsageError


@dataclass(frozen=True)
class Subject:
    """What was signed, by its SHA-256 digest (an image manifest digest or a file's)."""

    sha256: bytes

    @classmethod
    def of_bytes(cls, data: bytes) -> Subject:
        """The subject of some content."""
        return cls(hashlib.sha256(data).digest())

    @classmethod
    def parse(cls, value: str) -> Subject:
        """`sha256:<hex>` or a path to a file."""
        if value.startswith("sha256:"):
            digest = value.removeprefix("sha256:")
            if not re.fullmatch(r"[0-9a-f]{64}", digest):
                raise UsageError(f"{value!r} is not a sha256:<64 hex> digest")
            return cls(bytes.fromhex(digest))
        path = Path(value)
        if not path.is_file():
            raise UsageError(f"{value!r} is neither a sha256: digest nor a readable file")
        return cls.of_bytes(path.read_bytes())

    @property
    def hex(self) -> str:
        """The digest in hex, as `sha256:<hex>` spells it."""
        return self.sha256.hex()

    def hashed(self) -> Hashed:
        """The digest as the `sigstore` library takes a prehashed input."""
        return Hashed(algorithm=HashAlgorithm.SHA2_256, digest=self.sha256)


@dataclass(frozen=True)
class DssePayload:
    """A DSSE envelope's payload and its type: what the envelope's signatures sign (through `pae`)."""

    payload_type: str
    payload: bytes

    def pae(self) -> bytes:
        """The bytes each signature of the envelope signs."""
        return pae(self.payload_type, self.payload)


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE pre-authentication encoding: what a DSSE signature signs."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)
