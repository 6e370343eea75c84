"""The webhook: GitHub's `workflow_job` deliveries in, one decision out. Transport-free (`handle(headers, body)`):
the local server and the Azure Functions adapter both call it.

Answers (each body is JSON, a `result` or a short `error` that never repeats the request body or a secret):
- 413 body over 1 MiB; 401 signature missing or wrong (checked before anything else is read);
- 400 no delivery id or event name, malformed JSON, missing or mistyped fields, labels that are not this
  pool's, or a repository it does not serve; 409 a delivery id seen before with a different body (a replay);
- 200 `ping`; 200 a duplicate delivery (nothing new); 200 a `workflow_job` recorded (and dispatched);
- 202 any other event or `workflow_job` action (ignored: the App may be subscribed to more than it needs,
  and a 4xx would show those as failed deliveries in GitHub);
- 503 storage or Key Vault unavailable (nothing recorded: GitHub's redelivery can be retried).
Nothing is written for any answer but the 200s of a `workflow_job`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError

from .arm import VM_NAME
from .dispatch import WEBHOOK_MAX_STARTS, Dispatcher
from .errors import DependencyError
from .settings import PoolSettings
from .store import Job, JobState, Store
from .vault import CachedSecrets

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024
"""A workflow_job delivery is a few kilobytes; anything this large is not one."""

_SIGNATURE = re.compile(r"^sha256=([0-9a-fA-F]{64})$")
_DELIVERY_ID = re.compile(r"^[A-Za-z0-9-]{1,64}$")
_HANDLED_ACTIONS = ("queued", "in_progress", "completed")


@dataclass(frozen=True)
class Response:
    """An HTTP answer: status and JSON body."""

    status: int
    body: dict[str, Any] = field(default_factory=dict)


def _refused(status: int, reason: str) -> Response:
    return Response(status, {"error": reason})


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class _Repository(_Lenient):
    full_name: StrictStr = Field(min_length=3, max_length=200)


class _WorkflowJob(_Lenient):
    id: StrictInt = Field(ge=1, le=2**63 - 1)
    labels: list[StrictStr] = Field(max_length=100)
    runner_name: StrictStr | None = None


class _WorkflowJobEvent(_Lenient):
    action: StrictStr
    workflow_job: _WorkflowJob
    repository: _Repository


def signature_matches(body: bytes, header: str | None, secrets: tuple[str, ...]) -> bool:
    """Whether `X-Hub-Signature-256` is `sha256=<HMAC-SHA256 of the raw body>` under one of `secrets`
    (compared in constant time)."""
    match = _SIGNATURE.fullmatch(header or "")
    if match is None:
        return False
    given = match[1].lower()
    found = False
    for secret in secrets:
        expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        found |= hmac.compare_digest(expected, given)  # no early exit: every candidate is tried
    return found


def takes_labels(settings: PoolSettings, labels: list[str]) -> bool:
    """A job is this pool's when its labels (any case) are a non-empty subset of the pool's, with `self-hosted`."""
    wanted = {label.lower() for label in labels}
    return bool(wanted) and "self-hosted" in wanted and wanted <= {label.lower() for label in settings.github.labels}


def serves_repository(settings: PoolSettings, full_name: str) -> bool:
    """Whether the repository (any case) is one the pool serves."""
    return full_name.lower() in {repository.lower() for repository in settings.github.repositories}


def _parse_json(body: bytes) -> dict[str, Any] | None:
    def refuse_constant(name: str) -> None:
        raise ValueError(name)  # NaN and Infinity are not JSON

    try:
        document = json.loads(body, parse_constant=refuse_constant)
    except (ValueError, RecursionError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        return None
    return document if isinstance(document, dict) else None


def _field_problem(error: ValidationError) -> str:
    first = error.errors(include_url=False, include_input=False)[0]
    return f"{'.'.join(str(part) for part in first['loc'])}: {first['msg']}"


class WebhookHandler:
    """Verifies, routes and records `workflow_job` deliveries, then dispatches."""

    def __init__(
        self,
        settings: PoolSettings,
        secrets: CachedSecrets,
        store: Store,
        dispatcher: Dispatcher,
        clock: Callable[[], datetime],
    ) -> None:
        self._settings = settings
        self._secrets = secrets
        self._store = store
        self._dispatcher = dispatcher
        self._clock = clock

    def handle(self, headers: Mapping[str, str], body: bytes) -> Response:
        """The answer to one delivery (headers in any case). Never raises."""
        try:
            return self._handle({name.lower(): value for name, value in headers.items()}, body)
        except DependencyError as error:
            log.warning("webhook: dependency failed: %s", error)
            return _refused(503, "a dependency is unavailable; redeliver later")
        except Exception:
            log.exception("webhook: unexpected failure")
            return _refused(500, "internal error")

    def _verified(self, headers: Mapping[str, str], body: bytes) -> bool:
        uri = self._settings.secrets.webhook_secret_uri
        header = headers.get("x-hub-signature-256")
        if _SIGNATURE.fullmatch(header or "") is None:
            return False
        if signature_matches(body, header, self._secrets.candidates(uri)):
            return True
        # The secret may have been rotated since it was cached: read it again (rate-limited) and retry once.
        return self._secrets.refresh(uri) and signature_matches(body, header, self._secrets.candidates(uri))

    def _handle(self, headers: Mapping[str, str], body: bytes) -> Response:
        if len(body) > MAX_BODY_BYTES:
            return _refused(413, "body too large")
        if "x-hub-signature-256" not in headers:
            return _refused(401, "missing X-Hub-Signature-256")
        if not self._verified(headers, body):
            return _refused(401, "bad signature")
        delivery = headers.get("x-github-delivery", "")
        if not _DELIVERY_ID.fullmatch(delivery):
            return _refused(400, "missing or malformed X-GitHub-Delivery")
        event = headers.get("x-github-event", "")
        if not event:
            return _refused(400, "missing X-GitHub-Event")
        if event == "ping":
            return Response(200, {"result": "pong"})
        if event != "workflow_job":
            return Response(202, {"result": "ignored: not a workflow_job event"})
        document = _parse_json(body)
        if document is None:
            return _refused(400, "body is not a JSON object")
        action = document.get("action")
        if not isinstance(action, str):
            return _refused(400, "action: missing or not a string")
        if action not in _HANDLED_ACTIONS:
            return Response(202, {"result": "ignored: action not handled"})
        try:
            parsed = _WorkflowJobEvent.model_validate(document)
        except ValidationError as error:
            return _refused(400, f"malformed workflow_job event: {_field_problem(error)}")
        if not takes_labels(self._settings, parsed.workflow_job.labels):
            return _refused(400, "labels are not this pool's")
        if not serves_repository(self._settings, parsed.repository.full_name):
            return _refused(400, "repository is not served by this pool")

        digest = hashlib.sha256(body).hexdigest()
        seen = self._store.delivery_digest(delivery)
        if seen is not None:
            if hmac.compare_digest(seen, digest):
                return Response(200, {"result": "duplicate delivery"})
            return _refused(409, "delivery id already used with a different body")
        job = self._apply(parsed)
        self._store.record_delivery(delivery, digest, f"{event}.{action}", self._clock())
        outcome = self._dispatcher.dispatch(max_starts=WEBHOOK_MAX_STARTS)
        answer: dict[str, Any] = {"result": action, "job": parsed.workflow_job.id, "started": len(outcome.started)}
        if job is not None:
            answer["state"] = job.state.value
        if outcome.deferred:
            answer["deferred"] = "dispatch failed; the job stays pending and is retried"
        return Response(200, answer)

    def _apply(self, event: _WorkflowJobEvent) -> Job | None:
        """Record the event's effect on its job, idempotently by job id (a replay changes nothing)."""
        now = self._clock().isoformat()
        job_id, runner = event.workflow_job.id, event.workflow_job.runner_name or ""
        new_row = {"Repository": event.repository.full_name, "Vm": "", "Attempts": 0, "UpdatedAt": now}

        def decide(job: Job | None) -> dict[str, Any] | None:
            if event.action == "queued":
                return {**new_row, "State": JobState.PENDING.value} if job is None else None
            if event.action == "in_progress":
                if job is None:
                    return {**new_row, "State": JobState.RUNNING.value, "Runner": runner}
                if job.state in (JobState.PENDING, JobState.STARTING, JobState.STARTED):
                    return {"State": JobState.RUNNING.value, "Runner": runner, "UpdatedAt": now}
                return None
            if job is None:
                return {**new_row, "State": JobState.COMPLETED.value, "Runner": runner}
            if job.state is not JobState.COMPLETED:
                return {"State": JobState.COMPLETED.value, "Runner": runner, "UpdatedAt": now}
            return None

        # A `queued` job is new but for replays: try the insert first.
        job = self._store.transition(job_id, decide, assume_absent=event.action == "queued")
        if event.action == "completed" and VM_NAME.fullmatch(runner):
            # The runner's VM deletes itself now; its slot is free for the next job.
            self._store.release_slot(runner)
        return job
