"""Local HTTP stand-ins for GitHub's REST API and Azure Resource Manager, for the control plane's tests.

Each one serves on loopback in a thread, RECORDS every call, and answers as the real API does for the calls the
control plane makes (paths, status codes, field names from GitHub's REST and ARM's documentation), checking
what the real one checks: the App JWT's signature and lifetime, the installation token, ARM's bearer token and
api-version. `fail_next` makes the next matching calls fail, as an outage would.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa


@dataclass(frozen=True)
class Call:
    """One request a stand-in received."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


@dataclass
class _Failure:
    method: str
    path: re.Pattern[str]
    status: int
    remaining: int


Answer = tuple[int, Any]


@dataclass
class StandIn:
    """A recording HTTP server; subclasses route requests in `answer`."""

    calls: list[Call] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _failures: list[_Failure] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    def start(self) -> str:
        """Serve on a free loopback port; the base URL."""
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                call = Call(
                    self.command,
                    parts.path,
                    parse_qs(parts.query),
                    {k.lower(): v for k, v in self.headers.items()},
                    json.loads(raw) if raw else None,
                )
                status, body = stand_in.dispatch(call)
                payload = b"" if body is None else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = _serve  # noqa: N815 - the names http.server calls

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        """Stop serving."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def fail_next(self, method: str, path_pattern: str, status: int, times: int = 1) -> None:
        """Answer the next `times` calls of `method` whose path matches `path_pattern` with `status`."""
        with self.lock:
            self._failures.append(_Failure(method, re.compile(path_pattern), status, times))

    def dispatch(self, call: Call) -> Answer:
        """Record the call, then answer it (an injected failure first)."""
        with self.lock:
            self.calls.append(call)
            for failure in self._failures:
                if failure.remaining and failure.method == call.method and failure.path.search(call.path):
                    failure.remaining -= 1
                    return failure.status, {"message": "Server Error"}
            return self.answer(call)

    def answer(self, call: Call) -> Answer:
        """The real API's answer (called with the lock held)."""
        raise NotImplementedError

    def recorded(self, method: str, pattern: str) -> list[Call]:
        """The calls of `method` whose path matches `pattern`."""
        with self.lock:
            return [c for c in self.calls if c.method == method and re.search(pattern, c.path)]


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class GitHubStandIn(StandIn):
    """GitHub's App and self-hosted-runner endpoints for one organisation and one installation."""

    organization: str = ""
    app_id: int = 0
    installation_id: int = 0
    public_key: rsa.RSAPublicKey | None = None
    clock: Callable[[], datetime] = datetime.now
    groups: dict[str, int] = field(default_factory=dict)
    tokens: set[str] = field(default_factory=set)
    runners: dict[int, dict[str, Any]] = field(default_factory=dict)
    configs: dict[str, str] = field(default_factory=dict)
    """Runner name → the encoded_jit_config handed out for it."""

    def _app_jwt_problem(self, authorization: str) -> str | None:
        token = authorization.removeprefix("Bearer ")
        try:
            header, payload, signature = token.split(".")
            assert self.public_key is not None
            self.public_key.verify(
                _b64url_decode(signature), f"{header}.{payload}".encode(), padding.PKCS1v15(), hashes.SHA256()
            )
            claims = json.loads(_b64url_decode(payload))
            algorithm = json.loads(_b64url_decode(header))["alg"]
        except (ValueError, InvalidSignature, KeyError):
            return "A JSON web token could not be decoded"
        now = int(self.clock().timestamp())
        if algorithm != "RS256" or str(claims.get("iss")) != str(self.app_id):
            return "'Issuer' claim ('iss') must be an Integer"
        if not claims["iat"] <= now < claims["exp"] or claims["exp"] - claims["iat"] > 600:
            return "'Expiration time' claim ('exp') is too far in the future"
        return None

    def answer(self, call: Call) -> Answer:
        authorization = call.headers.get("authorization", "")
        org = f"/orgs/{self.organization}/actions"
        if call.method == "POST" and call.path == f"/app/installations/{self.installation_id}/access_tokens":
            problem = self._app_jwt_problem(authorization)
            if problem:
                return 401, {"message": problem}
            token = f"ghs_{secrets.token_urlsafe(27)}"
            self.tokens.add(token)
            expires = (self.clock() + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
            return 201, {
                "token": token,
                "expires_at": expires,
                "permissions": {"organization_self_hosted_runners": "write"},
            }
        if authorization.removeprefix("Bearer ") not in self.tokens:
            return 401, {"message": "Bad credentials"}
        if call.method == "GET" and call.path == f"{org}/runner-groups":
            groups = [
                {"id": gid, "name": name, "visibility": "selected", "default": gid == 1}
                for name, gid in self.groups.items()
            ]
            return 200, {"total_count": len(groups), "runner_groups": groups}
        if call.method == "POST" and call.path == f"{org}/runners/generate-jitconfig":
            body = call.body or {}
            if set(body) - {"name", "runner_group_id", "labels", "work_folder"} or not body.get("labels"):
                return 422, {"message": "Invalid request."}
            if body.get("runner_group_id") not in self.groups.values():
                return 404, {"message": "Not Found"}
            if any(r["name"] == body.get("name") for r in self.runners.values()):
                return 409, {"message": "Already exists - A runner with the name already exists."}
            runner_id = len(self.runners) + 1000
            runner = {
                "id": runner_id,
                "name": body["name"],
                "os": "unknown",
                "status": "offline",
                "busy": False,
                "labels": [{"id": 0, "name": label, "type": "custom"} for label in body["labels"]],
            }
            self.runners[runner_id] = runner
            self.configs[body["name"]] = base64.b64encode(secrets.token_bytes(48)).decode()
            return 201, {"runner": runner, "encoded_jit_config": self.configs[body["name"]]}
        match = re.fullmatch(rf"{org}/runners/([0-9]+)", call.path)
        if call.method == "DELETE" and match:
            return (204, None) if self.runners.pop(int(match[1]), None) else (404, {"message": "Not Found"})
        return 404, {"message": "Not Found"}


@dataclass
class ArmStandIn(StandIn):
    """Resource Manager's virtualMachines endpoints of one resource group; tracks the VMs that exist."""

    base_path: str = ""
    api_version: str = ""
    bearer: str = ""
    clock: Callable[[], datetime] = datetime.now
    page_size: int = 25
    vms: dict[str, dict[str, Any]] = field(default_factory=dict)
    most_at_once: int = 0
    """The most VMs that existed at the same time."""

    def self_delete(self, name: str) -> None:
        """The VM deletes itself (its boot program does, when its job ends)."""
        with self.lock:
            self.vms.pop(name, None)

    def answer(self, call: Call) -> Answer:
        if call.headers.get("authorization") != f"Bearer {self.bearer}":
            return 401, {"error": {"code": "AuthenticationFailed", "message": "Authentication failed."}}
        if call.query.get("api-version") != [self.api_version]:
            return 400, {"error": {"code": "InvalidApiVersionParameter", "message": "bad api-version"}}
        if call.method == "GET" and call.path == self.base_path:
            names = sorted(self.vms)
            start = int(call.query.get("$skiptoken", ["0"])[0])
            page: dict[str, Any] = {"value": [self.vms[n] for n in names[start : start + self.page_size]]}
            if start + self.page_size < len(names):
                skip = start + self.page_size
                page["nextLink"] = f"{self._base_url}{self.base_path}?api-version={self.api_version}&$skiptoken={skip}"
            return 200, page
        match = re.fullmatch(re.escape(self.base_path) + r"/([A-Za-z0-9-]+)", call.path)
        if match is None:
            return 404, {"error": {"code": "NotFound"}}
        name = match[1]
        if call.method == "PUT":
            body = call.body or {}
            if not body.get("location") or not isinstance(body.get("properties"), dict):
                return 400, {"error": {"code": "InvalidRequestContent"}}
            created = name not in self.vms
            properties = {
                **body["properties"],
                "provisioningState": "Creating",
                "timeCreated": self.clock().isoformat(),
            }
            self.vms[name] = {
                "name": name,
                "id": f"{self.base_path}/{name}",
                "location": body["location"],
                "tags": body.get("tags", {}),
                "properties": properties,
            }
            self.most_at_once = max(self.most_at_once, len(self.vms))
            return (201 if created else 200), self.vms[name]
        if call.method == "DELETE":
            return (202, None) if self.vms.pop(name, None) else (204, None)
        return 405, {"error": {"code": "MethodNotAllowed"}}

    @property
    def _base_url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"
