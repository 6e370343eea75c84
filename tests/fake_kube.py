"""A stand-in Kubernetes API server for contract tests of what the checks send and how they read
answers. It decides nothing about signatures: the test says which pods it admits. What it proves
is the request shape (dry run on every create, no other write) and the response handling."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from kubernetes import client

Decide = Callable[[str, dict[str, Any]], tuple[bool, str]]


@dataclass
class FakeApi:
    decide: Decide
    namespaces: dict[str, dict[str, str]] = field(default_factory=dict)
    webhooks: list[dict[str, Any]] = field(default_factory=list)
    cluster_objects: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # plural -> items
    namespaced_objects: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    requests: list[tuple[str, str, dict[str, list[str]], Any]] = field(default_factory=list)


def _handler(api: FakeApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _record(self) -> tuple[str, dict[str, list[str]], Any]:
            url = urlparse(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            query = parse_qs(url.query)
            api.requests.append((self.command, url.path, query, body))
            return url.path, query, body

        def do_POST(self) -> None:
            path, query, body = self._record()
            match = re.fullmatch(r"/api/v1/namespaces/([^/]+)/pods", path)
            if not match or query.get("dryRun") != ["All"]:
                self._send(500, {"kind": "Status", "message": "the fake refuses anything but dry-run pod creates"})
                return
            allowed, message = api.decide(match.group(1), body)
            if allowed:
                self._send(201, body, {"Warning": '299 - "audit: would be denied"'})
            else:
                self._send(
                    403,
                    {
                        "kind": "Status",
                        "apiVersion": "v1",
                        "status": "Failure",
                        "reason": "Forbidden",
                        "code": 403,
                        "message": f'admission webhook "kyverno-svc.kyverno.svc" denied the request: {message}',
                    },
                )

        def do_GET(self) -> None:
            path, _, _ = self._record()
            if path == "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations":
                self._send(200, {"kind": "ValidatingWebhookConfigurationList", "items": api.webhooks})
                return
            if match := re.fullmatch(r"/api/v1/namespaces/([^/]+)", path):
                labels = api.namespaces.get(match.group(1))
                if labels is None:
                    self._send(404, {"kind": "Status", "code": 404, "message": "not found"})
                else:
                    self._send(200, {"kind": "Namespace", "metadata": {"name": match.group(1), "labels": labels}})
                return
            if match := re.fullmatch(r"/apis/([^/]+)/([^/]+)/namespaces/([^/]+)/([^/]+)", path):
                items = api.namespaced_objects.get((match.group(3), match.group(4)))
                self._send(404 if items is None else 200, {"items": items or []})
                return
            if match := re.fullmatch(r"/apis/([^/]+)/([^/]+)/([^/]+)", path):
                items = api.cluster_objects.get(match.group(3))
                self._send(404 if items is None else 200, {"items": items or []})
                return
            self._send(404, {"kind": "Status", "code": 404})

        def do_PUT(self) -> None:
            self._record()
            self._send(500, {"message": "no persistent writes"})

        do_PATCH = do_PUT  # noqa: N815
        do_DELETE = do_PUT  # noqa: N815

    return Handler


@contextmanager
def serve(api: FakeApi) -> Iterator[client.ApiClient]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(api))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    configuration = client.Configuration()
    configuration.host = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield client.ApiClient(configuration)
    finally:
        server.shutdown()
        server.server_close()
