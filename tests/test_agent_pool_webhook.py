"""The webhook over real HTTP, against Azurite and the GitHub / ARM stand-ins: one job → one registration and
one VM; every refusal (signature, replay, labels, repository, malformed body) writes nothing anywhere."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from scripts.agent_pool.arm import CREATED_TAG, JOB_TAG, POOL_TAG, VM_NAME
from scripts.agent_pool.store import JobState
from tests.agent_pool_harness import LABELS, WEBHOOK_SECRET_URI, Harness, workflow_job


def test_a_queued_job_gets_one_registration_and_one_vm(agent_pool: Harness) -> None:
    answer = agent_pool.deliver(workflow_job("queued", 4711))

    assert answer.status_code == 200, answer.text
    assert answer.json() == {"result": "queued", "job": 4711, "started": 1, "state": "pending"}
    [put] = agent_pool.arm.recorded("PUT", r"/virtualMachines/")
    vm = put.path.rsplit("/", 1)[1]
    assert VM_NAME.fullmatch(vm)
    # GitHub: a JIT config for exactly that runner name, in the pool's group, with the pool's labels.
    [jit] = agent_pool.github.recorded("POST", r"/generate-jitconfig$")
    assert jit.body == {"name": vm, "runner_group_id": 7, "labels": list(LABELS), "work_folder": "_work"}
    # The registration: one blob named after the VM, holding the config GitHub handed out for it, nothing else.
    assert agent_pool.registrations() == {vm: agent_pool.github.configs[vm].encode()}
    base64.b64decode(agent_pool.registrations()[vm], validate=True)
    # The VM: the settings' template, tagged for the reaper, its computer name its own.
    assert put.body["location"] == "westeurope"
    assert put.body["tags"] == {
        "owner": "platform",
        JOB_TAG: "4711",
        POOL_TAG: "test",
        CREATED_TAG: agent_pool.clock().strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    assert put.body["properties"]["osProfile"]["computerName"] == vm
    job = agent_pool.store.job(4711)
    assert job is not None
    assert job.state is JobState.STARTED
    assert job.vm == vm
    assert [slot.vm for slot in agent_pool.store.slots()] == [vm]


def test_a_duplicate_delivery_changes_nothing(agent_pool: Harness) -> None:
    body = json.dumps(workflow_job("queued", 1)).encode()
    headers = agent_pool.headers(body)
    assert agent_pool.post(body, headers).status_code == 200
    before = agent_pool.snapshot()

    again = agent_pool.post(body, headers)

    assert again.status_code == 200
    assert again.json() == {"result": "duplicate delivery"}
    assert agent_pool.snapshot() == before


def test_a_delivery_id_replayed_with_another_body_is_refused(agent_pool: Harness) -> None:
    first = json.dumps(workflow_job("queued", 1)).encode()
    headers = agent_pool.headers(first)
    assert agent_pool.post(first, headers).status_code == 200
    before = agent_pool.snapshot()
    other = json.dumps(workflow_job("queued", 2)).encode()

    answer = agent_pool.post(other, {**headers, "X-Hub-Signature-256": agent_pool.sign(other)})

    assert answer.status_code == 409
    assert answer.json() == {"error": "delivery id already used with a different body"}
    assert agent_pool.snapshot() == before


def test_a_job_replayed_under_a_new_delivery_id_starts_nothing_new(agent_pool: Harness) -> None:
    # The delivery id is not signed: a captured body can come back under any id. The job id de-duplicates it.
    payload = workflow_job("queued", 1)
    assert agent_pool.deliver(payload).status_code == 200
    vms, blobs = len(agent_pool.arm.vms), agent_pool.registrations()

    answer = agent_pool.deliver(payload)

    assert answer.status_code == 200
    assert answer.json()["started"] == 0
    assert len(agent_pool.arm.vms) == vms
    assert agent_pool.registrations() == blobs
    assert len(agent_pool.github.recorded("POST", "generate-jitconfig")) == 1


def _signed_elsewise(harness: Harness, body: bytes) -> dict[str, str]:
    return {**harness.headers(body), "X-Hub-Signature-256": harness.sign(body, secret="not-the-secret")}


REFUSALS: list[tuple[str, Any, int, str]] = [
    ("bad signature", lambda h, b: _signed_elsewise(h, b), 401, "bad signature"),
    ("signature of another body", lambda h, b: {**h.headers(b), "X-Hub-Signature-256": h.sign(b + b" ")}, 401,
     "bad signature"),
    ("missing signature", lambda h, b: {k: v for k, v in h.headers(b).items() if k != "X-Hub-Signature-256"}, 401,
     "missing X-Hub-Signature-256"),
    ("empty signature", lambda h, b: {**h.headers(b), "X-Hub-Signature-256": ""}, 401, "bad signature"),
    ("sha1 signature", lambda h, b: {**h.headers(b), "X-Hub-Signature-256": "sha1=" + "0" * 40}, 401, "bad signature"),
    ("unprefixed signature", lambda h, b: {**h.headers(b), "X-Hub-Signature-256": h.sign(b)[7:]}, 401, "bad signature"),
    ("no delivery id", lambda h, b: {k: v for k, v in h.headers(b).items() if k != "X-GitHub-Delivery"}, 400,
     "missing or malformed X-GitHub-Delivery"),
    ("delivery id with a path", lambda h, b: {**h.headers(b), "X-GitHub-Delivery": "a/../b"}, 400,
     "missing or malformed X-GitHub-Delivery"),
    ("no event name", lambda h, b: {k: v for k, v in h.headers(b).items() if k != "X-GitHub-Event"}, 400,
     "missing X-GitHub-Event"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "headers", "status", "reason"), REFUSALS, ids=[r[0] for r in REFUSALS])
def test_refused_headers_write_nothing(agent_pool: Harness, case: str, headers: Any, status: int, reason: str) -> None:
    body = json.dumps(workflow_job("queued", 5)).encode()
    before = agent_pool.snapshot()

    answer = agent_pool.post(body, headers(agent_pool, body))

    assert (answer.status_code, answer.json()) == (status, {"error": reason}), case
    assert agent_pool.snapshot() == before
    assert agent_pool.github.calls == []
    assert agent_pool.arm.calls == []


BAD_BODIES: list[tuple[str, bytes, str]] = [
    ("not JSON", b"{not json", "body is not a JSON object"),
    ("a JSON list", b"[1, 2]", "body is not a JSON object"),
    ("not UTF-8", b'{"action": "\xff"}', "body is not a JSON object"),
    ("NaN", b'{"action": "queued", "x": NaN}', "body is not a JSON object"),
    ("deep nesting", b"[" * 100_000 + b"]" * 100_000, "body is not a JSON object"),
    ("no action", json.dumps({"workflow_job": {}}).encode(), "action: missing or not a string"),
    ("no workflow_job", json.dumps({**workflow_job("queued", 1), "workflow_job": None}).encode(),
     "malformed workflow_job event: workflow_job: Input should be a valid dictionary or instance of _WorkflowJob"),
    ("job id as text", json.dumps(workflow_job("queued", 1, job={"id": "1"})).encode(),
     "malformed workflow_job event: workflow_job.id: Input should be a valid integer"),
    ("job id zero", json.dumps(workflow_job("queued", 1, job={"id": 0})).encode(),
     "malformed workflow_job event: workflow_job.id: Input should be greater than or equal to 1"),
    ("labels not a list", json.dumps(workflow_job("queued", 1, job={"labels": "self-hosted"})).encode(),
     "malformed workflow_job event: workflow_job.labels: Input should be a valid list"),
    ("no repository", json.dumps({**workflow_job("queued", 1), "repository": {}}).encode(),
     "malformed workflow_job event: repository.full_name: Field required"),
    ("another pool's labels", json.dumps(workflow_job("queued", 1, job={"labels": ["self-hosted", "gpu"]})).encode(),
     "labels are not this pool's"),
    ("GitHub-hosted labels", json.dumps(workflow_job("queued", 1, job={"labels": ["ubuntu-latest"]})).encode(),
     "labels are not this pool's"),
    ("no self-hosted label", json.dumps(workflow_job("queued", 1, job={"labels": ["prod"]})).encode(),
     "labels are not this pool's"),
    ("no labels", json.dumps(workflow_job("queued", 1, job={"labels": []})).encode(), "labels are not this pool's"),
    ("repository not listed", json.dumps(workflow_job("queued", 1, repository="contoso/other")).encode(),
     "repository is not served by this pool"),
    ("repository of another org", json.dumps(workflow_job("queued", 1, repository="fabrikam/payments")).encode(),
     "repository is not served by this pool"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "body", "reason"), BAD_BODIES, ids=[b[0] for b in BAD_BODIES])
def test_refused_bodies_write_nothing_and_echo_nothing(
    agent_pool: Harness, case: str, body: bytes, reason: str
) -> None:
    before = agent_pool.snapshot()

    answer = agent_pool.post(body, agent_pool.headers(body))

    assert (answer.status_code, answer.json()) == (400, {"error": reason}), case
    assert agent_pool.snapshot() == before
    assert agent_pool.github.calls == []
    assert agent_pool.arm.calls == []


def test_a_refusal_never_echoes_the_body_or_the_secret(agent_pool: Harness) -> None:
    marker = "payload-marker-7f3a"
    body = json.dumps(workflow_job("queued", 1, job={"id": marker, "labels": [marker]})).encode()
    for headers in (agent_pool.headers(body), _signed_elsewise(agent_pool, body)):
        answer = agent_pool.post(body, headers)
        assert answer.status_code in (400, 401)
        assert marker not in answer.text
        assert agent_pool.secrets.values[WEBHOOK_SECRET_URI] not in answer.text


def test_label_and_repository_matching_ignores_case(agent_pool: Harness) -> None:
    payload = workflow_job("queued", 8, job={"labels": ["Self-Hosted", "SUPPLY-CHAIN"]}, repository="Contoso/Payments")
    assert agent_pool.deliver(payload).json()["started"] == 1


@pytest.mark.parametrize(
    ("event", "payload", "status", "answer"),
    [
        ("ping", {"zen": "Keep it logically awesome.", "hook_id": 1}, 200, {"result": "pong"}),
        ("push", {"ref": "refs/heads/main"}, 202, {"result": "ignored: not a workflow_job event"}),
        ("workflow_job", workflow_job("waiting", 3), 202, {"result": "ignored: action not handled"}),
    ],
)
def test_other_events_and_actions_are_answered_without_writing(
    agent_pool: Harness, event: str, payload: dict[str, Any], status: int, answer: dict[str, Any]
) -> None:
    before = agent_pool.snapshot()
    body = json.dumps(payload).encode()

    response = agent_pool.post(body, agent_pool.headers(body, event=event))

    assert (response.status_code, response.json()) == (status, answer)
    assert agent_pool.snapshot() == before


def test_an_oversized_body_is_refused_before_it_is_read(agent_pool: Harness) -> None:
    body = b"{" + b" " * (1024 * 1024) + b"}"
    answer = agent_pool.post(body, agent_pool.headers(body))
    assert answer.status_code == 413
    assert agent_pool.snapshot()["rows"] == {name: [] for name in agent_pool.snapshot()["rows"]}


def test_a_rotated_webhook_secret_is_picked_up_and_the_old_one_honoured_for_a_grace(agent_pool: Harness) -> None:
    old = agent_pool.secrets.values[WEBHOOK_SECRET_URI]
    assert agent_pool.deliver(workflow_job("queued", 1)).status_code == 200
    agent_pool.secrets.values[WEBHOOK_SECRET_URI] = "rotated-" + old
    agent_pool.clock.advance(minutes=1)  # past the forced-refresh interval, within the cache's lifetime

    signed_new = agent_pool.deliver(workflow_job("queued", 2))
    body = json.dumps(workflow_job("queued", 3)).encode()
    signed_old = agent_pool.post(body, {**agent_pool.headers(body), "X-Hub-Signature-256": agent_pool.sign(body, old)})
    agent_pool.clock.advance(hours=2)
    body = json.dumps(workflow_job("queued", 4)).encode()
    too_late = agent_pool.post(body, {**agent_pool.headers(body), "X-Hub-Signature-256": agent_pool.sign(body, old)})

    assert (signed_new.status_code, signed_old.status_code, too_late.status_code) == (200, 200, 401)


def test_in_progress_and_completed_events_follow_the_job(agent_pool: Harness) -> None:
    agent_pool.deliver(workflow_job("queued", 1))
    job = agent_pool.store.job(1)
    assert job is not None
    vm = job.vm

    agent_pool.deliver(workflow_job("in_progress", 1, runner_name=vm))
    running = agent_pool.store.job(1)
    agent_pool.arm.self_delete(vm)
    agent_pool.deliver(workflow_job("completed", 1, runner_name=vm))
    # A late, out-of-order `queued` for a finished job starts nothing.
    late = agent_pool.deliver(workflow_job("queued", 1))

    assert running is not None
    assert running.state is JobState.RUNNING
    completed = agent_pool.store.job(1)
    assert completed is not None
    assert completed.state is JobState.COMPLETED
    assert agent_pool.store.slots() == []
    assert late.json()["started"] == 0
    assert agent_pool.arm.vms == {}
