"""Local stand-ins for what an agent VM talks to at boot: the instance metadata service (VM name, identity
tokens), Blob storage (the registration), Resource Manager (the self-delete) and GitHub's release
download. They answer like the real services (status codes, bodies, required headers) and record every
request; and `boot` runs the real boot program against them as a subprocess.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import subprocess
import sys
import tarfile
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from components.render.agent_boot import BOOT_PROGRAM
from tests.secret_samples import jwt

VM = "agent-0123456789abcdef01234567"
CLIENT_ID = "00000000-0000-0000-0000-0000000000c1"
SCALE_SET = "/subscriptions/s/resourceGroups/rg-agents/providers/Microsoft.Compute/virtualMachineScaleSets/vmss-a"
REGISTRATION = "JITCONFIG-" + base64.b64encode(b"a single-use runner registration").decode()
STORAGE_TOKEN = jwt()  # token shapes built at run time: the repository holds no token literal
ARM_TOKEN = jwt()
TOKENS = {"https://storage.azure.com/": STORAGE_TOKEN, "https://management.azure.com/": ARM_TOKEN}
BLOB_PATH = f"/blob/registrations/{VM}"
DELETE_PATH = f"/arm{SCALE_SET}/delete?api-version=2024-07-01&forceDeletion=true"


@dataclass(frozen=True)
class Call:
    """One request a stand-in received."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Cloud:
    """What the stand-ins answer (each list is served in order, its last status repeating) and what they
    were asked."""

    runner_archive: bytes = b""
    name_statuses: list[int] = field(default_factory=lambda: [200])
    token_statuses: dict[str, list[int]] = field(default_factory=dict)
    """By resource; 200 when absent."""
    blob_statuses: list[int] = field(default_factory=lambda: [200])
    """GET answers until the blob is deleted (then 404, as Storage does)."""
    blob_delete_statuses: list[int] = field(default_factory=lambda: [202])
    vm_delete_statuses: list[int] = field(default_factory=lambda: [202])
    calls: list[Call] = field(default_factory=list)
    blob_deleted: bool = False

    def requests(self, method: str, path_prefix: str) -> list[Call]:
        """The recorded requests of `method` whose path starts with `path_prefix`."""
        return [c for c in self.calls if c.method == method and c.path.startswith(path_prefix)]

    def self_deletes(self) -> list[Call]:
        """The scale-set delete calls that named this VM, with the ARM token."""
        return [
            c
            for c in self.requests("POST", DELETE_PATH)
            if json.loads(c.body) == {"instanceIds": [VM]} and c.headers.get("authorization") == f"Bearer {ARM_TOKEN}"
        ]


def _next(statuses: list[int]) -> int:
    return statuses.pop(0) if len(statuses) > 1 else statuses[0]


def _handler(cloud: Cloud) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _answer(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _storage_error(self, status: int, code: str) -> None:
            body = f'<?xml version="1.0" encoding="utf-8"?><Error><Code>{code}</Code></Error>'.encode()
            self._answer(status, body, {"Content-Type": "application/xml", "x-ms-error-code": code})

        def _imds(self) -> None:
            if self.headers.get("Metadata") != "true":
                return self._answer(400, b'{"error":"Bad request. Required metadata header not specified"}')
            if self.path.startswith("/imds/metadata/instance/compute/name?api-version=2021-02-01&format=text"):
                return self._answer(_next(cloud.name_statuses), VM.encode(), {"Content-Type": "text/plain"})
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
            resource = query.get("resource", [""])[0]
            if query.get("client_id") != [CLIENT_ID] or resource not in TOKENS:
                return self._answer(400, b'{"error":"invalid_request"}')
            status = _next(cloud.token_statuses.setdefault(resource, [200]))
            token = {"access_token": TOKENS[resource], "expires_in": "86399", "resource": resource}
            self._answer(status, json.dumps({**token, "token_type": "Bearer"} if status == 200 else {}).encode())

        def _blob(self, method: str) -> None:
            if self.headers.get("Authorization") != f"Bearer {STORAGE_TOKEN}" or not self.headers.get("x-ms-version"):
                return self._storage_error(403, "AuthenticationFailed")
            if method == "DELETE":
                status = _next(cloud.blob_delete_statuses)
                cloud.blob_deleted = cloud.blob_deleted or status == 202
                return self._answer(status) if status == 202 else self._storage_error(status, "AuthorizationFailure")
            status = 404 if cloud.blob_deleted else _next(cloud.blob_statuses)
            if status == 200:
                return self._answer(200, REGISTRATION.encode(), {"x-ms-blob-type": "BlockBlob"})
            self._storage_error(status, "BlobNotFound" if status == 404 else "ServerBusy")

        def _route(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            cloud.calls.append(Call(method, self.path, headers, body))
            if self.path.startswith("/imds/") and method == "GET":
                return self._imds()
            if self.path == BLOB_PATH and method in ("GET", "DELETE"):
                return self._blob(method)
            if self.path == DELETE_PATH and method == "POST":
                if headers.get("authorization") != f"Bearer {ARM_TOKEN}":
                    return self._answer(401, b'{"error":{"code":"InvalidAuthenticationToken"}}')
                return self._answer(_next(cloud.vm_delete_statuses), b"", {"Location": "/arm/operations/1"})
            if self.path == "/runner.tar.gz" and method == "GET":
                return self._answer(200, cloud.runner_archive, {"Content-Type": "application/octet-stream"})
            self._answer(404)

        def do_GET(self) -> None:
            self._route("GET")

        def do_DELETE(self) -> None:
            self._route("DELETE")

        def do_POST(self) -> None:
            self._route("POST")

    return Handler


@contextmanager
def serving(cloud: Cloud) -> Iterator[str]:
    """All stand-ins on one loopback port; yields its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(cloud))
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)  # a quick shutdown
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def archive(run_sh: str, extra: tuple[tarfile.TarInfo, ...] = ()) -> bytes:
    """A gzipped runner release whose `run.sh` is `run_sh`, plus `extra` members (links, traps)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as bundle:
        data = ("#!/bin/sh\n" + run_sh).encode()
        info = tarfile.TarInfo("./run.sh")
        info.size, info.mode = len(data), 0o755
        bundle.addfile(info, io.BytesIO(data))
        for member in extra:
            bundle.addfile(member, io.BytesIO(b"x" * member.size) if member.isfile() else None)
    return buffer.getvalue()


def member(name: str, *, symlink: str = "", hardlink: str = "") -> tarfile.TarInfo:
    """A one-byte file, or a link, for `archive`'s extras."""
    info = tarfile.TarInfo(name)
    if symlink:
        info.type, info.linkname = tarfile.SYMTYPE, symlink
    elif hardlink:
        info.type, info.linkname = tarfile.LNKTYPE, hardlink
    else:
        info.size = 1
    return info


@dataclass(frozen=True)
class Boot:
    """What one run of the boot program did."""

    returncode: int
    output: str
    commands: list[list[str]]
    """The privileged commands it asked for, in order (dry run)."""


def boot(cloud: Cloud, base: str, root: Path, **overrides: Any) -> Boot:
    """Run the real boot program once against the stand-ins at `base`, its files under `root`."""
    config = {
        "imdsEndpoint": f"{base}/imds",
        "hostIdentityClientId": CLIENT_ID,
        "blobEndpoint": f"{base}/blob/",
        "registrationContainer": "registrations",
        "armEndpoint": f"{base}/arm",
        "scaleSetId": SCALE_SET,
        "armApiVersion": "2024-07-01",
        "registrationTimeoutMinutes": 0.02,
        "jobTimeoutMinutes": 0.05,
        "runner": {"url": f"{base}/runner.tar.gz", "sha256": hashlib.sha256(cloud.runner_archive).hexdigest()},
        "caCertificates": [],
        "rootDir": str(root),
        "dryRunSystem": True,
        "retrySeconds": 0.02,
        **overrides,
    }
    (root / "agent.json").write_text(json.dumps(config))
    result = subprocess.run(
        [sys.executable, str(BOOT_PROGRAM)],
        env={"AGENT_BOOT_CONFIG": str(root / "agent.json"), "PATH": "/usr/bin:/bin", "LEAKED_TO_JOB": "yes"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    log = root / "commands.log"
    commands = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    output = result.stdout + result.stderr
    for secret in (REGISTRATION, STORAGE_TOKEN, ARM_TOKEN):
        assert secret not in output, "the journal never holds the registration or a token"
    assert "Traceback" not in output, output
    return Boot(result.returncode, output, commands)
