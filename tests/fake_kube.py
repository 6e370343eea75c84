"""A stand-in Kubernetes API server for contract tests of what the checks send and how they read
answers. It decides nothing about signatures: each test writes a fixed table of what admission
answers for each image in each namespace, and a pod gets the first refusal among its images (an
image the table does not list is a 500, so a test cannot pass on an answer nobody wrote down).
What it proves is the request shape (dry run on every create, no other write) and the response
handling, including refusals that are not the stack's policies (an outage, another webhook)."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from kubernetes import client

Answer = tuple[int, str]
"""HTTP status and message: 201 admits (a message becomes a Warning header), anything else refuses."""
ADMITTED: Answer = (201, "")
AUDITED: Answer = (201, "audit: would be denied")
OUTAGE: Answer = (
    500,
    'Internal error occurred: failed calling webhook "validate.kyverno.svc-fail": failed to call webhook: Post '
    '"https://kyverno-svc.kyverno.svc:443/validate/fail?timeout=15s": '
    "dial tcp 10.96.0.20:443: connect: connection refused",
)
OTHER_WEBHOOK: Answer = (
    403,
    'admission webhook "validation.gatekeeper.sh" denied the request: [no-busybox] not allowed',
)


def denied(policy: str, why: str) -> Answer:
    """Kyverno's refusal by `policy`, as the API server relays it."""
    return 403, f'admission webhook "vpol.validate.kyverno.svc-fail" denied the request: Policy {policy} failed: {why}'


@dataclass
class FakeApi:
    outcomes: dict[tuple[str, str], Answer] = field(default_factory=dict)  # (namespace, image) -> answer
    default: Answer | None = None  # for images the table does not list; None: a 500 naming the image
    namespaces: dict[str, dict[str, str]] = field(default_factory=dict)
    webhooks: list[dict[str, Any]] = field(default_factory=list)
    cluster_objects: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # plural -> items
    namespaced_objects: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    requests: list[tuple[str, str, dict[str, list[str]], Any]] = field(default_factory=list)
    stalled: dict[tuple[str, str], float] = field(default_factory=dict)  # (namespace, image) -> seconds to answer


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
            time.sleep(_stall(api, match.group(1), body))
            status, message = _answer(api, match.group(1), body)
            if status == 201:
                self._send(201, body, {"Warning": f'299 - "{message}"'} if message else {})
            else:
                reason = "Forbidden" if status == 403 else "InternalError"
                failure = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": status}
                self._send(status, {**failure, "reason": reason, "message": message})

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


def _stall(api: FakeApi, namespace: str, pod: dict[str, Any]) -> float:
    """How long admission takes to answer for the pod: its slowest image's stall (a hung webhook)."""
    spec = pod["spec"]
    images = [c["image"] for c in [*spec["containers"], *spec.get("initContainers", [])]]
    return max((api.stalled.get((namespace, image), 0.0) for image in images), default=0.0)


def _answer(api: FakeApi, namespace: str, pod: dict[str, Any]) -> Answer:
    """The first refusal among the pod's images (containers, then init containers), else admitted."""
    spec = pod["spec"]
    answers = []
    for container in [*spec["containers"], *spec.get("initContainers", [])]:
        answer = api.outcomes.get((namespace, container["image"]), api.default)
        answers.append(answer or (500, f"the fake API server has no outcome for {container['image']} in {namespace}"))
    return next((a for a in answers if a[0] != 201), answers[0])


@contextmanager
def serve(api: FakeApi) -> Iterator[client.ApiClient]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(api))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    configuration = client.Configuration()
    configuration.host = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield client.ApiClient(configuration)
    finally:
        server.shutdown()
        server.server_close()
