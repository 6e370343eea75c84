"""Dispatch within the strict bound: a concurrent burst of 200 jobs against 10 slots starts exactly 10, keeps 190
pending, none lost and none twice, and starts ten more each time ten complete, never more than 10 VMs at once;
the oldest pending jobs start first; a GitHub or ARM failure mid-start leaves the job pending and nothing behind."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from scripts.agent_pool.arm import JOB_TAG
from scripts.agent_pool.store import JobState
from tests.agent_pool_harness import Azurite, Harness, start_harness, stop_harness, workflow_job

BURST = 200
SLOTS = 10
QUEUE = 2 * SLOTS  # enough to see the order; the 200 burst is the concurrent test's
WAVES = 1  # of the burst's jobs finishing concurrently; the queue test drains one by one


def _run(work: Callable[[Any], Any], items: Iterable[Any], threads: int) -> list[Any]:
    if threads == 1:
        return [work(item) for item in items]
    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(work, items))


def _started_jobs(harness: Harness) -> Counter[str]:
    return Counter(call.body["tags"][JOB_TAG] for call in harness.arm.recorded("PUT", r"/virtualMachines/"))


def _finish_running_jobs(harness: Harness, threads: int) -> int:
    """Every VM standing: read its registration, run its job, delete itself, and GitHub reports the job
    completed on it (as the boot program and GitHub do). The number of jobs finished."""
    with harness.arm.lock:
        standing = [(name, int(vm["tags"][JOB_TAG])) for name, vm in harness.arm.vms.items()]

    def finish(item: tuple[str, int]) -> None:
        vm, job_id = item
        harness.vm_reads_registration(vm)
        harness.arm.self_delete(vm)
        answer = harness.deliver(workflow_job("completed", job_id, runner_name=vm))
        assert answer.status_code == 200, answer.text

    _run(finish, standing, threads)
    return len(standing)


def test_a_queue_longer_than_the_slots_starts_the_10_oldest_and_the_next_as_jobs_complete(
    agent_pool: Harness,
) -> None:
    answers = [agent_pool.deliver(workflow_job("queued", job_id)) for job_id in range(1, QUEUE + 1)]

    assert {answer.status_code for answer in answers} == {200}
    assert [answer.json()["started"] for answer in answers] == [1] * SLOTS + [0] * (QUEUE - SLOTS)
    assert set(_started_jobs(agent_pool)) == {str(job_id) for job_id in range(1, SLOTS + 1)}
    assert len(agent_pool.registrations()) == SLOTS
    assert len(agent_pool.store.jobs(JobState.PENDING)) == QUEUE - SLOTS

    assert _finish_running_jobs(agent_pool, threads=1) == SLOTS

    assert set(_started_jobs(agent_pool)) == {str(job_id) for job_id in range(1, 2 * SLOTS + 1)}
    assert len(agent_pool.arm.vms) == SLOTS
    assert len(agent_pool.store.jobs(JobState.PENDING)) == QUEUE - 2 * SLOTS


def test_a_concurrent_burst_of_200_jobs_never_exceeds_10_vms_and_loses_none(agent_pool: Harness) -> None:
    deliver = lambda job_id: agent_pool.deliver(workflow_job("queued", job_id))  # noqa: E731
    answers = _run(deliver, range(1, BURST + 1), threads=8)

    assert {answer.status_code for answer in answers} == {200}
    assert sum(answer.json()["started"] for answer in answers) == SLOTS
    assert len(agent_pool.arm.vms) == SLOTS
    assert len(agent_pool.registrations()) == SLOTS
    assert len(agent_pool.store.slots()) == SLOTS
    started = set(_started_jobs(agent_pool))
    pending = {str(job.job_id) for job in agent_pool.store.jobs(JobState.PENDING)}
    assert len(pending) == BURST - SLOTS
    assert started | pending == {str(job_id) for job_id in range(1, BURST + 1)}  # none lost, none in both

    # A wave of every standing VM finishing its job at once starts the next ten, never more.
    for wave in range(1, WAVES + 1):
        assert _finish_running_jobs(agent_pool, threads=8) == SLOTS
        assert len(agent_pool.arm.vms) == SLOTS
        assert len(agent_pool.store.jobs(JobState.COMPLETED)) == wave * SLOTS
        assert len(agent_pool.store.jobs(JobState.PENDING)) == BURST - (wave + 1) * SLOTS

    assert _started_jobs(agent_pool) == Counter({job_id: 1 for job_id in _started_jobs(agent_pool)})  # none twice
    assert len(_started_jobs(agent_pool)) == (WAVES + 1) * SLOTS
    assert agent_pool.arm.most_at_once == SLOTS
    assert len(agent_pool.store.slots()) == SLOTS
    assert len(agent_pool.registrations()) == SLOTS


def test_the_installation_token_and_runner_group_are_reused_until_the_token_nears_expiry(agent_pool: Harness) -> None:
    for job_id in (1, 2, 3):
        agent_pool.deliver(workflow_job("queued", job_id))
    tokens = len(agent_pool.github.recorded("POST", r"/access_tokens$"))
    groups = len(agent_pool.github.recorded("GET", r"/runner-groups$"))
    agent_pool.clock.advance(minutes=56)  # the token has less than 5 of its 60 minutes left
    agent_pool.deliver(workflow_job("queued", 4))

    assert (tokens, groups) == (1, 1)
    assert len(agent_pool.github.recorded("POST", r"/access_tokens$")) == 2
    assert len(agent_pool.github.recorded("GET", r"/runner-groups$")) == 1


def test_racing_dispatchers_never_hold_more_slots_than_the_bound(agent_pool: Harness) -> None:
    now = datetime.now(UTC)
    barrier = threading.Barrier(24)

    def claim(index: int) -> bool:
        barrier.wait()
        return agent_pool.store.claim_slot(f"agent-{index:024x}", SLOTS, now)

    free = SLOTS
    for round_ in range(3):
        won = _run(claim, range(round_ * 100, round_ * 100 + 24), threads=24)
        held = agent_pool.store.slots()
        assert (sum(won), len(held)) == (free, SLOTS), f"round {round_}"
        assert len({slot.vm for slot in held}) == SLOTS
        free = round_ + 3
        for slot in held[1 : 1 + free]:  # free a few: the next round races for the gaps
            assert agent_pool.store.release_slot(slot.vm)
        barrier.reset()


def test_racing_dispatchers_claim_each_pending_job_once(agent_pool: Harness) -> None:
    for job_id in range(1, 6):
        agent_pool.store.transition(job_id, lambda job: {"State": "pending", "Vm": "", "Attempts": 0,
                                                         "Repository": "contoso/payments",
                                                         "UpdatedAt": datetime.now(UTC).isoformat()})  # fmt: skip
    barrier = threading.Barrier(12)

    def claim(index: int) -> int | None:
        barrier.wait()
        job = agent_pool.store.claim_pending_job(f"agent-{index:024x}", datetime.now(UTC))
        return job.job_id if job else None

    claimed = [job_id for job_id in _run(claim, range(12), threads=12) if job_id is not None]

    assert sorted(claimed) == [1, 2, 3, 4, 5]


def _assert_nothing_left_behind(harness: Harness, job_id: int) -> None:
    job = harness.store.job(job_id)
    assert job is not None
    assert job.state is JobState.PENDING
    assert job.vm == ""
    assert harness.registrations() == {}
    assert harness.store.slots() == []
    assert harness.arm.vms == {}
    assert harness.github.runners == {}


@pytest.mark.parametrize(
    ("service", "method", "path", "status"),
    [
        ("github", "POST", r"/access_tokens$", 500),
        ("github", "POST", r"/generate-jitconfig$", 502),
        ("arm", "PUT", r"/virtualMachines/", 500),
        ("arm", "PUT", r"/virtualMachines/", 409),
    ],
    ids=["GitHub token", "GitHub JIT config", "ARM 500", "ARM quota"],
)
def test_a_failure_mid_start_leaves_the_job_pending_and_nothing_behind(
    agent_pool: Harness, service: str, method: str, path: str, status: int
) -> None:
    stand_in = agent_pool.github if service == "github" else agent_pool.arm
    stand_in.fail_next(method, path, status)

    answer = agent_pool.deliver(workflow_job("queued", 42))

    assert answer.status_code == 200
    assert answer.json()["started"] == 0
    assert "deferred" in answer.json()
    _assert_nothing_left_behind(agent_pool, 42)
    if service == "arm":  # its runner was registered at GitHub before ARM failed: removed again
        assert len(agent_pool.github.recorded("DELETE", r"/actions/runners/[0-9]+$")) == 1
        assert len(agent_pool.arm.recorded("DELETE", r"/virtualMachines/")) == 1  # in case ARM made it after all

    retried = agent_pool.reap()

    assert len(retried["started"]) == 1
    job = agent_pool.store.job(42)
    assert job is not None
    assert job.state is JobState.STARTED
    assert list(agent_pool.arm.vms) == [job.vm]
    assert list(agent_pool.registrations()) == [job.vm]


def test_a_failure_undoing_a_start_is_left_to_the_reaper(agent_pool: Harness) -> None:
    # ARM fails the PUT and then the clean-up DELETE: the job still goes back to pending, its slot is freed.
    agent_pool.arm.fail_next("PUT", r"/virtualMachines/", 503)
    agent_pool.arm.fail_next("DELETE", r"/virtualMachines/", 503)

    agent_pool.deliver(workflow_job("queued", 7))

    _assert_nothing_left_behind(agent_pool, 7)


def test_with_max_instances_0_jobs_are_recorded_and_none_started(
    azurite: Azurite, github_app_key: tuple[rsa.RSAPrivateKey, str]
) -> None:
    harness = start_harness(azurite, github_app_key, maxInstances=0)
    try:
        answer = harness.deliver(workflow_job("queued", 1))
        assert answer.json()["started"] == 0
        assert harness.reap()["started"] == []
        assert [job.job_id for job in harness.store.jobs(JobState.PENDING)] == [1]
        assert harness.arm.calls == [] or all(call.method == "GET" for call in harness.arm.calls)
    finally:
        stop_harness(harness)
