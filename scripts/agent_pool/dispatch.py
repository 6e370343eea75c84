"""Dispatch: start pending jobs while a slot is free. Each start is: hold a slot, claim the oldest pending job,
get a just-in-time runner config from GitHub, write it as the VM's registration blob, create the VM through ARM.

Nothing is lost: a job stays pending until its VM was created; a failure at any step undoes the steps before it
(runner, blob, slot) and returns the job to pending for the next dispatch (a webhook's, or the reaper's).
"""

from __future__ import annotations

import copy
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .arm import CREATED_TAG, JOB_TAG, POOL_TAG, ArmClient
from .errors import DependencyError
from .github import GitHubApp
from .settings import PoolSettings
from .store import MAX_ATTEMPTS, Job, JobState, Store

log = logging.getLogger(__name__)

WEBHOOK_MAX_STARTS = 3
"""Starts one webhook request may make: GitHub waits 10 s for an answer, and each start is three remote calls.
One start covers the request's own job; the spare ones catch up after a failure. The reaper starts any number."""


def new_vm_name() -> str:
    """`agent-` and 24 random hex digits: unguessable, since the name is also the registration blob's name."""
    return f"agent-{secrets.token_hex(12)}"


def vm_body(settings: PoolSettings, vm: str, job_id: int, now: datetime) -> dict[str, Any]:
    """The ARM PUT body of one agent: the settings' template, tagged with its job, creation time and pool
    (the reaper judges VMs by these), its computer name set to the VM's name."""
    body = copy.deepcopy(settings.vm)
    created = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    body["tags"] = {**(body.get("tags") or {}), JOB_TAG: str(job_id), CREATED_TAG: created, POOL_TAG: settings.pool}
    os_profile = body["properties"].get("osProfile")
    if isinstance(os_profile, dict):
        os_profile["computerName"] = vm
    return body


@dataclass
class _Progress:
    """How far one start got, so a failure undoes exactly those steps."""

    runner_id: int | None = None
    blob_written: bool = False
    vm_requested: bool = False


@dataclass(frozen=True)
class DispatchOutcome:
    """What one dispatch did: the (job id, VM name) pairs it started, and why it stopped early, if it did."""

    started: tuple[tuple[int, str], ...]
    deferred: str | None = None


class Dispatcher:
    """Starts pending jobs within the bound `limits.maxInstances`; safe to run concurrently."""

    def __init__(
        self,
        settings: PoolSettings,
        store: Store,
        github: GitHubApp,
        arm: ArmClient,
        clock: Callable[[], datetime],
        vm_names: Callable[[], str] = new_vm_name,
    ) -> None:
        self._settings = settings
        self._store = store
        self._github = github
        self._arm = arm
        self._clock = clock
        self._vm_names = vm_names

    def dispatch(self, max_starts: int | None = None) -> DispatchOutcome:
        """Start pending jobs until none is pending, no slot is free, `max_starts` were started, or a
        dependency fails (then the job is pending again and the reason is returned)."""
        started: list[tuple[int, str]] = []
        limit = self._settings.limits.max_instances
        while max_starts is None or len(started) < max_starts:
            try:
                held = self._store.slots()
                if len(held) >= limit:
                    break
                pending = self._store.jobs(JobState.PENDING, limit=4)
                if not pending:
                    break
                vm = self._vm_names()
                if not self._store.claim_slot(vm, limit, self._clock(), {slot.index for slot in held}):
                    break  # other dispatchers took the free slots first
                job = self._store.claim_pending_job(vm, self._clock(), pending)
                if job is None:  # other dispatchers took the pending jobs first
                    self._store.release_slot(vm)
                    break
            except DependencyError as error:
                return DispatchOutcome(tuple(started), str(error))
            progress = _Progress()
            try:
                self._start(job, vm, progress)
            except DependencyError as error:
                log.warning("job %s not started, pending again: %s", job.job_id, error)
                self._undo(job, vm, progress, str(error))
                return DispatchOutcome(tuple(started), str(error))
            started.append((job.job_id, vm))
        return DispatchOutcome(tuple(started))

    def _start(self, job: Job, vm: str, progress: _Progress) -> None:
        # Steps: 1 runner config (GitHub), 2 registration blob, 3 VM (ARM), 4 record. Each undoable until 3.
        config = self._github.generate_jitconfig(vm)
        progress.runner_id = config.runner_id
        self._store.put_registration(vm, config.encoded_jit_config, job.job_id, self._clock())
        progress.blob_written = True
        progress.vm_requested = True
        self._arm.put_vm(vm, vm_body(self._settings, vm, job.job_id, self._clock()))
        try:
            self._store.transition(job.job_id, _started(vm, self._clock()), assume=job)
        except DependencyError as error:
            # The VM exists: not undone. The reaper finds the job `starting` with its VM and records it started.
            log.warning("job %s started on %s but not recorded: %s", job.job_id, vm, error)

    def _undo(self, job: Job, vm: str, progress: _Progress, reason: str) -> None:
        """Undo a failed start, each step on its own: a failure here is left to the reaper (the blob and slot
        age out; the VM, if ARM created it after all, finds no registration and deletes itself)."""
        undo_steps: list[tuple[str, Callable[[], object]]] = []
        if progress.vm_requested:  # an error answer or a timeout may still have created it
            undo_steps.append(("VM", lambda: self._arm.delete_vm(vm)))
        if progress.blob_written:
            undo_steps.append(("registration", lambda: self._store.delete_registration(vm)))
        if progress.runner_id is not None:
            runner_id = progress.runner_id
            undo_steps.append(("runner", lambda: self._github.delete_runner(runner_id)))
        undo_steps.append(
            ("job", lambda: self._store.transition(job.job_id, back_to_pending(vm, self._clock(), reason)))
        )
        undo_steps.append(("slot", lambda: self._store.release_slot(vm)))
        for what, step in undo_steps:
            try:
                step()
            except DependencyError as error:
                log.warning("undoing %s of %s failed, left to the reaper: %s", what, vm, error)


def _started(vm: str, now: datetime) -> Callable[[Job | None], dict[str, Any] | None]:
    def decide(job: Job | None) -> dict[str, Any] | None:
        if job is None or job.state is not JobState.STARTING or job.vm != vm:
            return None  # an event moved it on meanwhile (running, completed): that state stands
        return {"State": JobState.STARTED.value, "UpdatedAt": now.isoformat()}

    return decide


def back_to_pending(
    vm: str, now: datetime, reason: str, count_attempt: bool = False
) -> Callable[[Job | None], dict[str, Any] | None]:
    """The transition that returns a job started (or being started) on `vm` to pending; with `count_attempt`
    (its VM never registered), abandoned once it used MAX_ATTEMPTS."""

    def decide(job: Job | None) -> dict[str, Any] | None:
        if job is None or job.vm != vm or job.state not in (JobState.STARTING, JobState.STARTED):
            return None
        attempts = job.attempts + (1 if count_attempt else 0)
        state = JobState.ABANDONED if attempts >= MAX_ATTEMPTS else JobState.PENDING
        return {
            "State": state.value,
            "Vm": "",
            "Attempts": attempts,
            "LastError": reason[:200],
            "UpdatedAt": now.isoformat(),
        }

    return decide
