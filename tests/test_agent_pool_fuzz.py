"""Property tests of the webhook's parsing (Hypothesis): whatever a correctly signed body holds, the answer is
a 2xx or a 4xx, never a 500 or a traceback; garbage and malformed events write nothing and call nothing."""

from __future__ import annotations

import copy
import json
import uuid
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from scripts.agent_pool.webhook import Response
from tests.agent_pool_harness import Harness, workflow_job

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=16,
)
FIELD_PATHS = [
    ("action",),
    ("workflow_job",),
    ("workflow_job", "id"),
    ("workflow_job", "labels"),
    ("workflow_job", "runner_name"),
    ("repository",),
    ("repository", "full_name"),
]


def _handle(harness: Harness, body: bytes, **headers: str) -> Response:
    return harness.pool.webhook.handle({**harness.headers(body), **headers}, body)


def _nothing_written(harness: Harness) -> None:
    snapshot = harness.snapshot()
    assert snapshot["rows"] == {table: [] for table in snapshot["rows"]}
    assert snapshot["blobs"] == {}
    assert harness.github.calls == []
    assert harness.arm.calls == []


def test_garbage_bodies_are_refused_without_writing(agent_pool: Harness) -> None:
    @given(body=st.binary(max_size=512) | JSON_VALUES.map(lambda value: json.dumps(value).encode()))
    @settings(max_examples=300, deadline=None, database=None)
    def refused(body: bytes) -> None:
        answer = _handle(agent_pool, body)
        assert answer.status in (202, 400), (answer, body)
        assert set(answer.body) == {"result" if answer.status == 202 else "error"}

    refused()
    _nothing_written(agent_pool)


def test_any_signature_but_the_right_one_is_refused(agent_pool: Harness) -> None:
    body = json.dumps(workflow_job("queued", 1)).encode()

    @given(
        signature=st.text(max_size=80) | st.text("0123456789abcdef", min_size=64, max_size=64).map("sha256=".__add__)
    )
    @settings(max_examples=200, deadline=None, database=None)
    def refused(signature: str) -> None:
        answer = _handle(agent_pool, body, **{"X-Hub-Signature-256": signature})
        assert answer.status == 401

    refused()
    _nothing_written(agent_pool)


@st.composite
def mutated_events(draw: st.DrawFn) -> dict[str, Any]:
    """A real event with one field replaced by any JSON value, or removed."""
    action = draw(st.sampled_from(["queued", "in_progress", "completed"]))
    payload = workflow_job(action, draw(st.integers(1, 10**9)))
    path = draw(st.sampled_from(FIELD_PATHS))
    parent = payload
    for key in path[:-1]:
        parent = parent[key]
    if draw(st.booleans()):
        parent.pop(path[-1])
    else:
        parent[path[-1]] = draw(JSON_VALUES)
    return copy.deepcopy(payload)


def test_malformed_events_never_fail_the_handler_and_refusals_write_nothing(agent_pool: Harness) -> None:
    accepted: list[str] = []

    @given(payload=mutated_events())
    @settings(max_examples=100, deadline=None, database=None)
    def handled(payload: dict[str, Any]) -> None:
        body, delivery = json.dumps(payload).encode(), str(uuid.uuid4())
        job = payload.get("workflow_job")
        job_id = job.get("id") if isinstance(job, dict) else None
        job_id = job_id if type(job_id) is int and 0 < job_id < 2**63 else None
        job_before = agent_pool.store.job(job_id) if job_id else None  # an earlier example may have made it
        calls = len(agent_pool.github.calls), len(agent_pool.arm.calls)
        answer = _handle(agent_pool, body, **{"X-GitHub-Delivery": delivery})
        assert answer.status in (200, 202, 400), answer
        if answer.status == 200:
            accepted.append(delivery)
            return
        assert (len(agent_pool.github.calls), len(agent_pool.arm.calls)) == calls
        assert agent_pool.store.delivery_digest(delivery) is None
        if job_id:
            assert agent_pool.store.job(job_id) == job_before  # same row, same ETag: not written

    handled()
    deliveries = agent_pool.snapshot()["rows"][agent_pool.settings.storage.deliveries_table]
    assert len(deliveries) == len(accepted)
