"""The reaper against Azurite and the ARM stand-in, with the clock moved instead of waiting: it deletes the VMs
that never registered (and starts their jobs again, a bounded number of times) and those past the job deadline,
cleans up after interrupted starts and lost events, and leaves everything else alone."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric import rsa

from scripts.agent_pool.arm import POOL_TAG, ArmClient
from scripts.agent_pool.dispatch import vm_body
from scripts.agent_pool.store import MAX_ATTEMPTS, JobState
from tests.agent_pool_harness import Azurite, Harness, start_harness, stop_harness, workflow_job

REGISTRATION_TIMEOUT = 10
JOB_TIMEOUT = 60


def _start(harness: Harness, job_id: int) -> str:
    """Deliver a queued job; the VM it started."""
    answer = harness.deliver(workflow_job("queued", job_id))
    assert answer.json()["started"] == 1, answer.text
    job = harness.store.job(job_id)
    assert job is not None
    return job.vm


def _deleted(harness: Harness) -> list[str]:
    return [call.path.rsplit("/", 1)[1] for call in harness.arm.recorded("DELETE", r"/virtualMachines/")]


def test_a_vm_that_never_registered_is_deleted_and_its_job_started_again(agent_pool: Harness) -> None:
    silent = _start(agent_pool, 1)
    registered = _start(agent_pool, 2)
    agent_pool.vm_reads_registration(registered)
    agent_pool.clock.advance(minutes=REGISTRATION_TIMEOUT - 1)
    assert agent_pool.reap()["never_registered"] == []  # not yet

    agent_pool.clock.advance(minutes=2)
    report = agent_pool.reap()

    assert report["never_registered"] == [silent]
    assert report["past_deadline"] == []
    assert _deleted(agent_pool) == [silent]
    job = agent_pool.store.job(1)
    assert job is not None
    assert job.state is JobState.STARTED
    assert job.attempts == 1
    assert report["started"] == [job.vm]
    assert sorted(agent_pool.arm.vms) == sorted([registered, job.vm])
    assert sorted(agent_pool.registrations()) == [job.vm]  # the silent VM's registration went with it
    assert sorted(slot.vm for slot in agent_pool.store.slots()) == sorted([registered, job.vm])


def test_a_job_whose_vms_never_register_is_abandoned_after_the_last_attempt(agent_pool: Harness) -> None:
    _start(agent_pool, 1)
    for _ in range(MAX_ATTEMPTS):
        agent_pool.clock.advance(minutes=REGISTRATION_TIMEOUT + 1)
        agent_pool.reap()

    job = agent_pool.store.job(1)
    assert job is not None
    assert job.state is JobState.ABANDONED
    assert len(agent_pool.arm.recorded("PUT", r"/virtualMachines/")) == MAX_ATTEMPTS
    assert agent_pool.arm.vms == {}
    assert agent_pool.store.slots() == []


def test_vms_past_the_job_deadline_are_deleted_and_younger_ones_left_alone(agent_pool: Harness) -> None:
    old = _start(agent_pool, 1)
    agent_pool.vm_reads_registration(old)
    agent_pool.clock.advance(minutes=40)
    young = _start(agent_pool, 2)
    agent_pool.vm_reads_registration(young)
    agent_pool.clock.advance(minutes=JOB_TIMEOUT - 40 + 15 - 1)
    unregistered_but_in_time = _start(agent_pool, 3)
    assert agent_pool.reap()["past_deadline"] == []  # inside the grace

    agent_pool.clock.advance(minutes=2)
    report = agent_pool.reap()

    assert report["past_deadline"] == [old]
    assert _deleted(agent_pool) == [old]
    assert sorted(agent_pool.arm.vms) == sorted([young, unregistered_but_in_time])
    job = agent_pool.store.job(1)
    assert job is not None
    assert job.state is JobState.STARTED  # GitHub reports the job itself (failed: its runner is gone)


def test_other_vms_in_the_resource_group_are_never_touched(agent_pool: Harness) -> None:
    ours = _start(agent_pool, 1)
    template = dict(agent_pool.arm.vms[ours])
    with agent_pool.arm.lock:
        for name, tags in [
            ("build-server", {POOL_TAG: "test"}),
            ("agent-" + "a" * 24, {POOL_TAG: "another-pool"}),
            ("agent-" + "b" * 24, {}),
        ]:
            agent_pool.arm.vms[name] = {**template, "name": name, "tags": tags}
    agent_pool.clock.advance(days=2)

    agent_pool.reap()

    assert _deleted(agent_pool) == [ours]  # never registered; the others are not the pool's to judge
    assert {"agent-" + "a" * 24, "agent-" + "b" * 24, "build-server"} <= set(agent_pool.arm.vms)


def test_orphaned_registrations_and_slots_are_cleaned_once_stale(agent_pool: Harness) -> None:
    # A registration whose VM never came (ARM said no and the clean-up failed), and a VM that finished and
    # deleted itself while its `completed` event was lost: its slot would be held for ever.
    now = agent_pool.clock()
    agent_pool.store.put_registration("agent-" + "c" * 24, "config", 5, now)
    done = _start(agent_pool, 1)
    agent_pool.vm_reads_registration(done)
    agent_pool.arm.self_delete(done)
    agent_pool.clock.advance(minutes=REGISTRATION_TIMEOUT - 1)
    early = agent_pool.reap()
    agent_pool.clock.advance(minutes=2)

    report = agent_pool.reap()

    assert (early["orphan_registrations"], early["freed_slots"]) == ([], [])
    assert report["orphan_registrations"] == ["agent-" + "c" * 24]
    assert report["freed_slots"] == [done]
    assert agent_pool.registrations() == {}
    assert agent_pool.store.slots() == []


def _claim_and_stop(harness: Harness, job_id: int, vm: str, create_vm: bool) -> None:
    """A dispatcher that claimed a slot and a pending job, perhaps created the VM, then died."""
    pending = {"State": "pending", "Vm": "", "Attempts": 0, "Repository": "contoso/payments"}
    harness.store.transition(job_id, lambda _: {**pending, "UpdatedAt": harness.clock().isoformat()})
    assert harness.store.claim_slot(vm, harness.settings.limits.max_instances, harness.clock())
    job = harness.store.claim_pending_job(vm, harness.clock())
    assert job is not None
    assert job.job_id == job_id
    if create_vm:
        arm = ArmClient(harness.settings.arm, "test", lambda: harness.arm.bearer)
        arm.put_vm(vm, vm_body(harness.settings, vm, job_id, harness.clock()))


def test_interrupted_starts_are_settled(azurite: Azurite, github_app_key: tuple[rsa.RSAPrivateKey, str]) -> None:
    harness = start_harness(azurite, github_app_key, maxInstances=2)  # both slots held by the dead starts
    try:
        without_vm, with_vm = "agent-" + "d" * 24, "agent-" + "e" * 24
        _claim_and_stop(harness, 1, without_vm, create_vm=False)
        _claim_and_stop(harness, 2, with_vm, create_vm=True)
        harness.clock.advance(minutes=REGISTRATION_TIMEOUT + 1)

        report = harness.reap()

        assert sorted(report["settled_jobs"]) == [1, 2]
        recorded = harness.store.job(2)
        assert recorded is not None
        assert (recorded.state, recorded.vm) == (JobState.STARTED, with_vm)
        restarted = harness.store.job(1)
        assert restarted is not None
        assert restarted.state is JobState.STARTED
        assert restarted.vm not in (without_vm, "")
        assert report["started"] == [restarted.vm]
        assert sorted(slot.vm for slot in harness.store.slots()) == sorted([with_vm, restarted.vm])
    finally:
        stop_harness(harness)


def test_a_resource_manager_failure_stops_the_run_without_deleting_anything(agent_pool: Harness) -> None:
    vm = _start(agent_pool, 1)
    agent_pool.clock.advance(minutes=REGISTRATION_TIMEOUT + 1)
    agent_pool.arm.fail_next("GET", r"/virtualMachines$", 503)

    report = agent_pool.reap()

    assert report["errors"] == ["ARM GET virtualMachines answered 503"]
    assert list(agent_pool.arm.vms) == [vm]
    assert list(agent_pool.registrations()) == [vm]
    assert _deleted(agent_pool) == []


def test_the_vm_list_is_read_across_pages(agent_pool: Harness) -> None:
    agent_pool.arm.page_size = 3
    vms = [_start(agent_pool, job_id) for job_id in range(1, 9)]
    agent_pool.clock.advance(minutes=REGISTRATION_TIMEOUT + 1)

    report = agent_pool.reap()

    assert sorted(report["never_registered"]) == sorted(vms)
