"""The Azure Functions adapter (Python v2 programming model): an HTTP route for GitHub's webhook and a timer
for the reaper, both delegating to the same handlers as the local server.

Deployment layout (the app's zip): this package as `agent_pool/`, and at the root a `function_app.py` holding
`from agent_pool.function_app import app` (the host indexes the `FunctionApp` found there), with the
package's dependencies installed by the build, at the versions of the project's lock: azure-functions,
azure-data-tables, azure-storage-blob, azure-identity, azure-keyvault-secrets, requests, pydantic, cryptography.
App settings: AGENT_POOL_SETTINGS, and AZURE_CLIENT_ID naming the user-assigned identity it runs as.

The route is anonymous at the Functions level on purpose: GitHub cannot send a function key except in the URL,
and every request is authenticated by its HMAC signature before anything else is read.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable

import azure.functions as func

from .errors import AgentPoolError
from .pool import AgentPool

log = logging.getLogger(__name__)

REAPER_SCHEDULE = "0 */5 * * * *"
"""Every 5 minutes (NCRONTAB, with seconds)."""


class PoolHolder:
    """The pool, built from the app settings on first use and kept for the worker's life."""

    def __init__(self, factory: Callable[[], AgentPool]) -> None:
        self._factory = factory
        self._pool: AgentPool | None = None
        self._lock = threading.Lock()

    def get(self) -> AgentPool:
        """The pool (built once)."""
        with self._lock:
            if self._pool is None:
                self._pool = self._factory()
            return self._pool

    def replace(self, pool: AgentPool) -> None:
        """Use `pool` from now on (tests and local runs)."""
        with self._lock:
            self._pool = pool


POOL = PoolHolder(lambda: AgentPool.from_environment(os.environ))

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


def github_webhook(req: func.HttpRequest) -> func.HttpResponse:
    """POST /api/github/webhook: one GitHub delivery."""
    try:
        pool = POOL.get()
    except AgentPoolError as error:
        log.error("control plane not configured: %s", error)
        return func.HttpResponse('{"error": "control plane not configured"}', status_code=500)
    response = pool.webhook.handle(dict(req.headers), req.get_body())
    return func.HttpResponse(json.dumps(response.body), status_code=response.status, mimetype="application/json")


def reaper(timer: func.TimerRequest) -> None:
    """Every 5 minutes: one reaper run (its report goes to the log)."""
    if timer.past_due:
        log.info("reaper: the timer is past due; running now")
    POOL.get().reaper.run()


app.route(route="github/webhook", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)(github_webhook)
app.timer_trigger(schedule=REAPER_SCHEDULE, arg_name="timer", run_on_startup=False, use_monitor=True)(reaper)
