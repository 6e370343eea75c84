"""The reaper (a timer, every 5 minutes): deletes the pool's VMs that never registered or outlived the job
deadline, cleans what failed starts and lost events left behind, then dispatches.

Steps:
1. list the pool's VMs (ARM) and the registration blobs not yet read;
2. delete (a) a VM whose blob is still there after `registrationTimeoutMinutes` (it never registered: its job
   is started again, at most MAX_ATTEMPTS times), (b) a VM older than `jobTimeoutMinutes` + DEADLINE_GRACE;
   nothing else;
3. settle jobs left `starting` (a dispatcher stopped mid-way): recorded started if their VM exists, else pending;
4. delete registration blobs whose VM does not exist, and free slots whose VM does not exist, once older than
   the registration timeout (younger ones may belong to a start in progress);
5. dispatch, without the webhook's limit on starts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from .arm import ArmClient, PoolVm
from .dispatch import Dispatcher, back_to_pending
from .errors import DependencyError
from .settings import PoolSettings
from .store import Job, JobState, Store

log = logging.getLogger(__name__)

DEADLINE_GRACE = timedelta(minutes=15)
"""Past the job deadline before the reaper steps in: the VM's own clock starts after boot and registration,
and it deletes itself first; the reaper is the backstop."""


@dataclass
class ReapReport:
    """What one run did (VM names, job ids), for the log and the local trigger's answer."""

    never_registered: list[str] = field(default_factory=list)
    past_deadline: list[str] = field(default_factory=list)
    orphan_registrations: list[str] = field(default_factory=list)
    freed_slots: list[str] = field(default_factory=list)
    settled_jobs: list[int] = field(default_factory=list)
    started: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        """The report as a JSON object."""
        return {name: list(value) for name, value in vars(self).items()}


class Reaper:
    """One reaper run per `run()` call; safe to run beside webhooks and other reapers."""

    def __init__(
        self,
        settings: PoolSettings,
        store: Store,
        arm: ArmClient,
        dispatcher: Dispatcher,
        clock: Callable[[], datetime],
    ) -> None:
        self._settings = settings
        self._store = store
        self._arm = arm
        self._dispatcher = dispatcher
        self._clock = clock
        self._registration_timeout = timedelta(minutes=settings.limits.registration_timeout_minutes)
        self._job_deadline = timedelta(minutes=settings.limits.job_timeout_minutes) + DEADLINE_GRACE

    def run(self) -> ReapReport:
        """Reap, settle and dispatch; a dependency failure ends the run early (the next one carries on)."""
        report = ReapReport()
        try:
            live = self._reap_vms(report)
            self._settle_starting_jobs(live, report)
            self._clean_orphans(live, report)
        except DependencyError as error:
            log.warning("reaper stopped early: %s", error)
            report.errors.append(str(error))
            return report
        outcome = self._dispatcher.dispatch()
        report.started = [vm for _, vm in outcome.started]
        if outcome.deferred:
            report.errors.append(outcome.deferred)
        log.info("reaper: %s", report.as_json())
        return report

    def _age(self, created: datetime | None) -> timedelta:
        # A VM without a readable creation time is treated as new: never deleted on a guess.
        return self._clock() - created if created is not None else timedelta(0)

    def _reap_vms(self, report: ReapReport) -> set[str]:
        """Steps 1-2; the names of the VMs left standing."""
        vms = self._arm.list_vms()
        registrations = self._store.registrations()
        live: set[str] = set()
        for vm in vms:
            age = self._age(vm.created)
            if vm.name in registrations and age > self._registration_timeout:
                self._delete(vm, report.never_registered, requeue=True)
            elif age > self._job_deadline:
                self._delete(vm, report.past_deadline, requeue=False)
            else:
                live.add(vm.name)
        return live

    def _delete(self, vm: PoolVm, into: list[str], requeue: bool) -> None:
        self._arm.delete_vm(vm.name)
        into.append(vm.name)
        self._store.delete_registration(vm.name)
        self._store.release_slot(vm.name)
        if requeue and vm.job_id is not None:
            # Its runner never came online, so its job is still queued at GitHub (unless another runner took it:
            # then the job is `running` or `completed` here and stays so).
            job = self._store.transition(
                vm.job_id, back_to_pending(vm.name, self._clock(), "VM never registered", count_attempt=True)
            )
            if job is not None and job.state is JobState.ABANDONED:
                log.error("job %s abandoned: %s VMs in a row never registered", job.job_id, job.attempts)

    def _settle_starting_jobs(self, live: set[str], report: ReapReport) -> None:
        """Step 3."""
        now = self._clock()
        for job in self._store.jobs(JobState.STARTING):
            if now - job.updated_at <= self._registration_timeout:
                continue  # a start may still be under way
            if job.vm in live:
                self._store.transition(job.job_id, _recorded_started(job))
            else:
                self._store.delete_registration(job.vm)
                self._store.transition(job.job_id, back_to_pending(job.vm, now, "start interrupted"))
                self._store.release_slot(job.vm)
            report.settled_jobs.append(job.job_id)

    def _clean_orphans(self, live: set[str], report: ReapReport) -> None:
        """Step 4."""
        now = self._clock()
        for name, written in self._store.registrations().items():
            if name not in live and now - written > self._registration_timeout:
                self._store.delete_registration(name)
                report.orphan_registrations.append(name)
        for slot in self._store.slots():
            if slot.vm not in live and now - slot.claimed_at > self._registration_timeout:
                self._store.release_slot(slot.vm)
                report.freed_slots.append(slot.vm)


def _recorded_started(seen: Job) -> Callable[[Job | None], dict[str, Any] | None]:
    def decide(job: Job | None) -> dict[str, Any] | None:
        if job is None or job.state is not JobState.STARTING or job.vm != seen.vm:
            return None
        return {"State": JobState.STARTED.value}

    return decide
