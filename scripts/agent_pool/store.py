"""The control plane's state in one storage account: three tables (deliveries, jobs, slots) and the
registration container (one blob per VM, named after it, holding its just-in-time runner config).

Every decision two concurrent function instances could race on is an atomic storage operation:
- a delivery or a job is recorded by an insert that fails when the row exists;
- a slot is claimed by inserting row `0000`..`max-1`: an insert fails when the row exists, so no more than
  `maxInstances` slots can ever be held, however many dispatchers run;
- a pending job is claimed, and any job changes state, by an update conditional on the row's ETag.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, ParamSpec, TypeVar

from azure.core import MatchConditions
from azure.core.credentials import TokenCredential
from azure.core.exceptions import AzureError, ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableClient, TableEntity, TableServiceClient, UpdateMode
from azure.storage.blob import BlobServiceClient, ContainerClient

from .errors import StorageError
from .settings import StorageSettings

CONNECTION_STRING_VARIABLE = "AGENT_POOL_STORAGE_CONNECTION_STRING"
"""Tests and local runs only (Azurite's well-known development account): in Azure the function reaches its
storage with its managed identity, and the account has shared-key access turned off."""

MAX_ATTEMPTS = 3
"""A job whose VM never registered is started again at most this often in all (a broken image must not
become an endless stream of VMs); then it is abandoned and the reaper's log says so."""

_JOBS, _SLOTS, _DELIVERIES = "job", "slot", "delivery"
_CONDITIONAL_RETRIES = 8

P = ParamSpec("P")
R = TypeVar("R")


def _storage_call(function: Callable[P, R]) -> Callable[P, R]:
    """Turn the SDK's errors that escape a store method into StorageError (a dependency failure)."""

    @functools.wraps(function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return function(*args, **kwargs)
        except AzureError as error:
            raise StorageError(f"storage {function.__name__} failed: {type(error).__name__}") from None

    return wrapper


class JobState(StrEnum):
    """Where a job stands. Only `pending` jobs are started; `completed` is final whatever came before."""

    PENDING = "pending"
    STARTING = "starting"  # claimed by a dispatcher: registration and VM under way
    STARTED = "started"  # its VM was created; the runner has not reported the job running yet
    RUNNING = "running"
    COMPLETED = "completed"
    ABANDONED = "abandoned"


@dataclass(frozen=True)
class Job:
    """One GitHub job this pool takes."""

    job_id: int
    state: JobState
    repository: str
    vm: str
    attempts: int
    updated_at: datetime
    etag: str


@dataclass(frozen=True)
class Slot:
    """One of the `maxInstances` places an agent VM holds from its creation until its job completes."""

    index: str
    vm: str
    claimed_at: datetime


def _job_key(job_id: int) -> str:
    # Zero-padded so that the table's RowKey order is the jobs' id order (oldest first).
    return f"{job_id:020d}"


def _job(entity: TableEntity, etag: str | None = None) -> Job:
    return Job(
        job_id=int(entity["RowKey"]),
        state=JobState(entity["State"]),
        repository=str(entity.get("Repository", "")),
        vm=str(entity.get("Vm", "")),
        attempts=int(entity.get("Attempts", 0)),
        updated_at=datetime.fromisoformat(entity["UpdatedAt"]),
        etag=etag or str(entity.metadata["etag"]),
    )


Transition = Callable[[Job | None], dict[str, Any] | None]
"""Given the job as stored (None: not yet), the properties to write, or None to leave it."""


class Store:
    """Tables and the registration container, as the control plane uses them."""

    def __init__(self, tables: TableServiceClient, blobs: BlobServiceClient, settings: StorageSettings) -> None:
        self._tables = tables
        self._jobs: TableClient = tables.get_table_client(settings.jobs_table)
        self._slots: TableClient = tables.get_table_client(settings.slots_table)
        self._deliveries: TableClient = tables.get_table_client(settings.deliveries_table)
        self._registrations: ContainerClient = blobs.get_container_client(settings.registration_container)
        self._settings = settings

    @classmethod
    def from_environment(
        cls, settings: StorageSettings, environ: Mapping[str, str], credential: Callable[[], TokenCredential]
    ) -> Store:
        """The storage of the settings with the managed identity; with AGENT_POOL_STORAGE_CONNECTION_STRING set
        (tests and local runs against Azurite), that connection string's endpoints and key instead."""
        connection_string = environ.get(CONNECTION_STRING_VARIABLE)
        if connection_string:
            return cls(
                TableServiceClient.from_connection_string(connection_string),
                BlobServiceClient.from_connection_string(connection_string),
                settings,
            )
        identity = credential()
        return cls(
            TableServiceClient(settings.table_endpoint, credential=identity),
            BlobServiceClient(settings.blob_endpoint, credential=identity),
            settings,
        )

    @_storage_call
    def ensure_created(self) -> None:
        """Create the tables and the container if absent (local runs and tests; in Azure the stack creates them)."""
        for name in (self._settings.jobs_table, self._settings.slots_table, self._settings.deliveries_table):
            self._tables.create_table_if_not_exists(name)
        with contextlib.suppress(ResourceExistsError):
            self._registrations.create_container()

    # -- deliveries -------------------------------------------------------------------------------------------

    @_storage_call
    def delivery_digest(self, delivery_id: str) -> str | None:
        """The body digest recorded for a delivery id, or None when the id is new."""
        try:
            return str(self._deliveries.get_entity(_DELIVERIES, delivery_id)["BodySha256"])
        except ResourceNotFoundError:
            return None

    @_storage_call
    def record_delivery(self, delivery_id: str, body_sha256: str, event: str, now: datetime) -> bool:
        """Record a handled delivery (after its effect: a failure in between leaves GitHub's redelivery able to
        finish the work, and every effect is idempotent by job id); False when it was recorded already."""
        try:
            self._deliveries.create_entity(
                {
                    "PartitionKey": _DELIVERIES,
                    "RowKey": delivery_id,
                    "BodySha256": body_sha256,
                    "Event": event,
                    "ReceivedAt": now.isoformat(),
                }
            )
        except ResourceExistsError:
            return False
        return True

    # -- jobs -------------------------------------------------------------------------------------------------

    @_storage_call
    def job(self, job_id: int) -> Job | None:
        """The job as stored, or None."""
        try:
            return _job(self._jobs.get_entity(_JOBS, _job_key(job_id)))
        except ResourceNotFoundError:
            return None

    @_storage_call
    def transition(
        self, job_id: int, decide: Transition, *, assume: Job | None = None, assume_absent: bool = False
    ) -> Job | None:
        """Apply `decide` to the job atomically: insert when absent, else update conditional on its ETag;
        re-read and decide again when another writer got there first. The job as it stands afterwards.
        `assume` (a job just read) or `assume_absent` skip the first read; a wrong guess costs one retry."""
        current, known = assume, assume is not None or assume_absent
        for _ in range(_CONDITIONAL_RETRIES):
            if not known:
                current = self.job(job_id)
            known = False
            change = decide(current)
            if change is None:
                return current
            try:
                return self._write(job_id, current, change)
            except (ResourceExistsError, ResourceModifiedError, ResourceNotFoundError):
                continue
        raise StorageError(f"job {job_id}: too many concurrent writers")

    def _write(self, job_id: int, current: Job | None, change: dict[str, Any]) -> Job:
        """Insert (current None) or conditionally update; the job as written, without reading it back."""
        entity = {"PartitionKey": _JOBS, "RowKey": _job_key(job_id), **change}
        if current is None:
            written = self._jobs.create_entity(entity)
            base: dict[str, Any] = {}
        else:
            written = self._jobs.update_entity(
                entity, mode=UpdateMode.MERGE, etag=current.etag, match_condition=MatchConditions.IfNotModified
            )
            base = {
                "State": current.state.value,
                "Repository": current.repository,
                "Vm": current.vm,
                "Attempts": current.attempts,
                "UpdatedAt": current.updated_at.isoformat(),
            }
        return _job(TableEntity({**base, **entity}), str(written["etag"]))

    @_storage_call
    def jobs(self, state: JobState, limit: int | None = None) -> list[Job]:
        """Jobs in `state`, oldest id first (at most `limit`)."""
        found: list[Job] = []
        entities = self._jobs.query_entities(
            "PartitionKey eq @partition and State eq @state",
            parameters={"partition": _JOBS, "state": state.value},
            results_per_page=limit or 1000,
        )
        for entity in entities:
            found.append(_job(entity))
            if limit is not None and len(found) >= limit:
                break
        return found

    @_storage_call
    def claim_pending_job(self, vm: str, now: datetime, candidates: list[Job] | None = None) -> Job | None:
        """Move the oldest pending job nobody else claimed to `starting` for `vm` (trying `candidates`, just
        read, first); None when none is left."""
        for _ in range(_CONDITIONAL_RETRIES):
            candidates = candidates or self.jobs(JobState.PENDING, limit=16)
            if not candidates:
                return None
            for job in candidates:
                change = {"State": JobState.STARTING.value, "Vm": vm, "UpdatedAt": now.isoformat()}
                try:
                    return self._write(job.job_id, job, change)
                except (ResourceModifiedError, ResourceNotFoundError):
                    continue  # another dispatcher claimed it (or an event moved it on) first
            candidates = None
        return None

    # -- slots ------------------------------------------------------------------------------------------------

    @_storage_call
    def slots(self) -> list[Slot]:
        """Every slot held now."""
        return [
            Slot(entity["RowKey"], str(entity["Vm"]), datetime.fromisoformat(entity["ClaimedAt"]))
            for entity in self._slots.query_entities("PartitionKey eq @p", parameters={"p": _SLOTS})
        ]

    @_storage_call
    def claim_slot(self, vm: str, max_instances: int, now: datetime, held: set[str] | None = None) -> bool:
        """Hold one of the slots `0`..`max_instances-1` for `vm` (skipping `held`, the slots just read); False
        when all are held."""
        if held is None:
            held = {slot.index for slot in self.slots()}
        for index in (f"{i:04d}" for i in range(max_instances)):
            if index in held:
                continue
            try:
                self._slots.create_entity(
                    {"PartitionKey": _SLOTS, "RowKey": index, "Vm": vm, "ClaimedAt": now.isoformat()}
                )
            except ResourceExistsError:
                continue  # another dispatcher took this one first
            return True
        return False

    @_storage_call
    def release_slot(self, vm: str) -> bool:
        """Free the slot `vm` holds; False when it holds none."""
        released = False
        for entity in self._slots.query_entities(
            "PartitionKey eq @p and Vm eq @vm", parameters={"p": _SLOTS, "vm": vm}
        ):
            try:
                self._slots.delete_entity(
                    _SLOTS,
                    entity["RowKey"],
                    etag=entity.metadata["etag"],
                    match_condition=MatchConditions.IfNotModified,
                )
                released = True
            except (ResourceModifiedError, ResourceNotFoundError):
                pass  # released (and perhaps claimed again) by someone else meanwhile
        return released

    # -- registration blobs -----------------------------------------------------------------------------------

    @_storage_call
    def put_registration(self, vm: str, encoded_jit_config: str, job_id: int, now: datetime) -> None:
        """Write the VM's single-use runner config as blob `<vm>` (never over an existing one)."""
        self._registrations.upload_blob(
            vm,
            encoded_jit_config.encode(),
            overwrite=False,
            metadata={"job": str(job_id), "created": now.isoformat()},
        )

    @_storage_call
    def registrations(self) -> dict[str, datetime]:
        """Every registration blob not yet read by its VM, with the time it was written."""
        found: dict[str, datetime] = {}
        for blob in self._registrations.list_blobs(include=["metadata"]):
            created = (blob.metadata or {}).get("created")
            found[blob.name] = datetime.fromisoformat(created) if created else blob.last_modified
        return found

    @_storage_call
    def delete_registration(self, vm: str) -> bool:
        """Delete the blob `<vm>`; False when it was gone already (the VM read it)."""
        try:
            self._registrations.delete_blob(vm)
        except ResourceNotFoundError:
            return False
        return True
