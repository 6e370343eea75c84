"""A small local HTTP server for the control plane (tests and local runs; Azure runs `function_app`):
`POST /api/github/webhook` (the webhook) and `POST /api/reaper` (one reaper run). Loopback by default.

    AGENT_POOL_SETTINGS=... python -m scripts.agent_pool.server --port 7071
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .pool import AgentPool
from .webhook import MAX_BODY_BYTES, Response

WEBHOOK_PATH = "/api/github/webhook"
REAPER_PATH = "/api/reaper"


def _handler_class(pool: AgentPool) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self, response: Response) -> None:
            payload = json.dumps(response.body).encode()
            self.send_response(response.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_POST(self) -> None:
            try:
                length = int(self.headers.get("Content-Length", ""))
            except ValueError:
                self.close_connection = True
                self._answer(Response(411, {"error": "Content-Length required"}))
                return
            if length < 0 or length > MAX_BODY_BYTES:
                self.close_connection = True
                self._answer(Response(413, {"error": "body too large"}))
                return
            body = self.rfile.read(length)
            if self.path == WEBHOOK_PATH:
                self._answer(pool.webhook.handle(dict(self.headers.items()), body))
            elif self.path == REAPER_PATH:
                self._answer(Response(200, pool.reaper.run().as_json()))
            else:
                self._answer(Response(404, {"error": "not found"}))

        def log_message(self, format: str, *args: Any) -> None:
            logging.getLogger(__name__).debug("%s " + format, self.address_string(), *args)

    return Handler


def serve(pool: AgentPool, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    """Start serving `pool` in a daemon thread; the server (its `server_address` has the port). Stop it with
    `shutdown()` and `server_close()`."""
    server = ThreadingHTTPServer((host, port), _handler_class(pool))
    server.daemon_threads = True
    # A short poll interval: `shutdown()` waits for the loop to notice.
    threading.Thread(target=server.serve_forever, args=(0.05,), name="agent-pool-server", daemon=True).start()
    return server


def main() -> None:
    """Serve the pool configured by the environment until interrupted."""
    parser = argparse.ArgumentParser(description="Serve the agent pool's control plane locally.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7071)
    options = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    server = serve(AgentPool.from_environment(os.environ), options.host, options.port)
    print(f"agent pool control plane on http://{options.host}:{server.server_address[1]}{WEBHOOK_PATH}")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.shutdown()


if __name__ == "__main__":
    main()
