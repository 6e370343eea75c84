"""The control plane wired to real local parts: Azurite for storage, the local HTTP server for the webhook,
the GitHub and ARM stand-ins; a settable clock instead of sleeping."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import shutil
import socket
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests
from azure.data.tables import TableServiceClient
from azure.storage.blob import BlobServiceClient
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from scripts.agent_pool.pool import AgentPool
from scripts.agent_pool.server import WEBHOOK_PATH, serve
from scripts.agent_pool.settings import PoolSettings
from scripts.agent_pool.store import Store
from tests.agent_pool_standins import ArmStandIn, GitHubStandIn

AZURITE_VERSION = "3.37.0"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
"""Azurite's published development-account key (not a secret: every Azurite has it)."""

WEBHOOK_SECRET_URI = "https://pool-vault.vault.azure.net/secrets/webhook-secret"
APP_KEY_URI = "https://pool-vault.vault.azure.net/secrets/app-private-key"
ORG = "contoso"
REPOSITORIES = ("contoso/payments", "contoso/storefront")
LABELS = ("self-hosted", "supply-chain", "prod")
SUBSCRIPTION = "00000000-0000-0000-0000-000000000001"
RESOURCE_GROUP = "rg-test-agents"
API_VERSION = "2024-07-01"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Azurite:
    """A running Azurite (blob + table) on loopback."""

    process: subprocess.Popen[bytes]
    blob_port: int
    table_port: int

    @property
    def connection_string(self) -> str:
        """The development account's connection string for this instance."""
        return (
            f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={AZURITE_KEY};"
            f"BlobEndpoint=http://127.0.0.1:{self.blob_port}/devstoreaccount1;"
            f"TableEndpoint=http://127.0.0.1:{self.table_port}/devstoreaccount1;"
        )

    @classmethod
    def start(cls, binary: str, workdir: Path) -> Azurite:
        """Start it in memory on free ports; fails with its log when it does not come up in 30 s."""
        blob, queue, table = _free_port(), _free_port(), _free_port()
        log = (workdir / "azurite.log").open("wb")
        process = subprocess.Popen(
            [binary, "--silent", "--inMemoryPersistence", "--skipApiVersionCheck", "--disableTelemetry", "--loose",
             "--blobHost", "127.0.0.1", "--blobPort", str(blob), "--queueHost", "127.0.0.1", "--queuePort", str(queue),
             "--tableHost", "127.0.0.1", "--tablePort", str(table)],
            cwd=workdir, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and process.poll() is None:
            try:
                for port in (blob, table):
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return cls(process, blob, table)
            except OSError:
                time.sleep(0.2)
        process.kill()
        raise RuntimeError(f"Azurite did not start: {(workdir / 'azurite.log').read_text()[-2000:]}")

    def stop(self) -> None:
        """Stop it (its data was in memory only)."""
        self.process.terminate()
        self.process.wait(timeout=10)


def find_azurite(environment_value: str | None, project: Path) -> str | None:
    """Azurite's launcher: $SUPPLY_CHAIN_AZURITE, then build/azurite (where .ci/run installs it), then PATH."""
    for candidate in (environment_value, str(project / "build/azurite/node_modules/.bin/azurite")):
        if candidate and Path(candidate).is_file():
            return candidate
    return shutil.which("azurite")


class FakeClock:
    """A clock the tests move forward (thread-safe)."""

    def __init__(self) -> None:
        self._now = datetime.now(UTC).replace(microsecond=0)
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, **delta: float) -> None:
        """Move forward by `timedelta(**delta)`."""
        with self._lock:
            self._now += timedelta(**delta)


class StaticSecrets:
    """A secret source holding values in memory (Key Vault's place in the tests); counts its reads."""

    def __init__(self, values: dict[str, str]) -> None:
        self.values = values
        self.reads = 0

    def read(self, uri: str) -> str:
        """The value stored for `uri`."""
        self.reads += 1
        return self.values[uri]


def settings_document(github_url: str, arm_url: str, azurite: Azurite, suffix: str, **limits: int) -> dict[str, Any]:
    """A settings document like the stack renders, pointing at the local parts (tables and container named
    with `suffix`, so tests sharing one Azurite never see each other's data)."""
    return {
        "pool": "test",
        "github": {"apiUrl": github_url, "organization": ORG, "appId": 123456, "installationId": 7890123,
                   "runnerGroup": "supply-chain-test", "labels": list(LABELS), "repositories": list(REPOSITORIES)},
        "secrets": {"webhookSecretUri": WEBHOOK_SECRET_URI, "appPrivateKeyUri": APP_KEY_URI},
        "storage": {"blobEndpoint": f"http://127.0.0.1:{azurite.blob_port}/devstoreaccount1",
                    "tableEndpoint": f"http://127.0.0.1:{azurite.table_port}/devstoreaccount1",
                    "registrationContainer": f"registrations-{suffix}", "jobsTable": f"jobs{suffix}",
                    "deliveriesTable": f"deliveries{suffix}", "slotsTable": f"slots{suffix}"},
        "arm": {"endpoint": arm_url, "subscriptionId": SUBSCRIPTION, "resourceGroup": RESOURCE_GROUP,
                "scaleSetId": f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{RESOURCE_GROUP}/providers/"
                              "Microsoft.Compute/virtualMachineScaleSets/vmss-agents",
                "apiVersion": API_VERSION},
        "vm": {"location": "westeurope", "tags": {"owner": "platform"},
               "properties": {"hardwareProfile": {"vmSize": "Standard_D2ads_v5"},
                              "osProfile": {"computerName": "placeholder", "adminUsername": "agent"}}},
        "limits": {"maxInstances": 10, "registrationTimeoutMinutes": 10, "jobTimeoutMinutes": 60, **limits},
    }  # fmt: skip


def workflow_job(action: str, job_id: int, **overrides: Any) -> dict[str, Any]:
    """A `workflow_job` delivery's payload in GitHub's shape (the fields the control plane reads, and more)."""
    job: dict[str, Any] = {
        "id": job_id, "run_id": 9000 + job_id, "run_attempt": 1, "node_id": f"CR_{job_id}",
        "head_sha": "009b8a3a9ccbb128af87f9b1c0f4c62e8a304f6d", "name": "build", "status": action,
        "conclusion": "success" if action == "completed" else None, "labels": list(LABELS),
        "runner_id": None, "runner_name": None, "runner_group_id": None, "runner_group_name": None,
        "created_at": "2025-01-01T00:00:00Z", "started_at": "2025-01-01T00:00:00Z", "steps": [],
        "workflow_name": "Build",
    }  # fmt: skip
    runner_name = overrides.pop("runner_name", None)
    if runner_name is not None:
        job.update(runner_name=runner_name, runner_id=1000, runner_group_id=7, runner_group_name="supply-chain-test")
    job.update(overrides.pop("job", {}))
    return {
        "action": action,
        "workflow_job": job,
        "repository": {"id": 1, "full_name": overrides.pop("repository", REPOSITORIES[0]), "private": True},
        "organization": {"login": ORG},
        "installation": {"id": 7890123},
        **overrides,
    }


@dataclass
class Harness:
    """Everything one test needs: the pool served on loopback, its stand-ins, its store, its clock."""

    pool: AgentPool
    settings: PoolSettings
    github: GitHubStandIn
    arm: ArmStandIn
    clock: FakeClock
    secrets: StaticSecrets
    tables: TableServiceClient
    blobs: BlobServiceClient
    url: str
    server: ThreadingHTTPServer
    session: requests.Session = field(default_factory=requests.Session)

    @property
    def store(self) -> Store:
        """The pool's store."""
        return self.pool.store

    def sign(self, body: bytes, secret: str | None = None) -> str:
        """`X-Hub-Signature-256` of `body` under the webhook secret (or `secret`)."""
        key = secret if secret is not None else self.secrets.values[WEBHOOK_SECRET_URI]
        return "sha256=" + hmac.new(key.encode(), body, hashlib.sha256).hexdigest()

    def headers(self, body: bytes, event: str = "workflow_job", delivery: str | None = None) -> dict[str, str]:
        """GitHub's headers for one delivery of `body`."""
        return {
            "Content-Type": "application/json",
            "User-Agent": "GitHub-Hookshot/0000000",
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
            "X-Hub-Signature-256": self.sign(body),
        }

    def post(self, body: bytes, headers: dict[str, str]) -> requests.Response:
        """One real HTTP request to the webhook."""
        return self.session.post(f"{self.url}{WEBHOOK_PATH}", data=body, headers=headers, timeout=30)

    def deliver(self, payload: dict[str, Any], **header_overrides: str) -> requests.Response:
        """Deliver `payload` as GitHub would: signed, with a fresh delivery id."""
        body = json.dumps(payload).encode()
        return self.post(body, {**self.headers(body), **header_overrides})

    def snapshot(self) -> dict[str, Any]:
        """Every table row and registration blob (with content), and the stand-ins' call counts."""
        storage = self.settings.storage
        rows = {
            name: sorted(
                (json.dumps(dict(entity), sort_keys=True, default=str))
                for entity in self.tables.get_table_client(name).list_entities()
            )
            for name in (storage.deliveries_table, storage.jobs_table, storage.slots_table)
        }
        container = self.blobs.get_container_client(storage.registration_container)
        blobs = {b.name: container.download_blob(b.name).readall() for b in container.list_blobs()}
        return {"rows": rows, "blobs": blobs, "github": len(self.github.calls), "arm": len(self.arm.calls)}

    def registrations(self) -> dict[str, bytes]:
        """The registration blobs (VM name → content)."""
        return self.snapshot()["blobs"]  # type: ignore[no-any-return]

    def vm_reads_registration(self, vm: str) -> bytes:
        """What the VM's boot program does: read its blob once, then delete it."""
        blob = self.blobs.get_blob_client(self.settings.storage.registration_container, vm)
        content = blob.download_blob().readall()
        blob.delete_blob()
        return content

    def reap(self) -> dict[str, Any]:
        """Trigger one reaper run over HTTP; its report."""
        answer = self.session.post(f"{self.url}/api/reaper", data=b"", timeout=60)
        assert answer.status_code == 200, answer.text
        return answer.json()  # type: ignore[no-any-return]


def app_private_key() -> tuple[rsa.RSAPrivateKey, str]:
    """A fresh RSA key for the GitHub App, and its PEM."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return key, pem.decode()


def start_harness(azurite: Azurite, app_key: tuple[rsa.RSAPrivateKey, str], **limits: int) -> Harness:
    """Wire a fresh pool (its own tables and container) to Azurite and fresh stand-ins, and serve it."""
    clock = FakeClock()
    key, pem = app_key
    github = GitHubStandIn(organization=ORG, app_id=123456, installation_id=7890123, public_key=key.public_key(),
                           clock=clock, groups={"Default": 1, "supply-chain-test": 7})  # fmt: skip
    bearer = secrets.token_urlsafe(16)
    arm = ArmStandIn(
        base_path=f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{RESOURCE_GROUP}/providers/Microsoft.Compute/virtualMachines",
        api_version=API_VERSION,
        bearer=bearer,
        clock=clock,
    )
    github_url, arm_url = github.start(), arm.start()
    settings = PoolSettings.model_validate(
        settings_document(github_url, arm_url, azurite, secrets.token_hex(4), **limits)
    )
    tables = TableServiceClient.from_connection_string(azurite.connection_string)
    blobs = BlobServiceClient.from_connection_string(azurite.connection_string)
    store = Store(tables, blobs, settings.storage)
    store.ensure_created()
    source = StaticSecrets({WEBHOOK_SECRET_URI: secrets.token_urlsafe(32), APP_KEY_URI: pem})
    pool = AgentPool.assemble(settings, store, source, lambda: bearer, clock)
    server = serve(pool)
    url = f"http://127.0.0.1:{server.server_address[1]}"
    return Harness(pool, settings, github, arm, clock, source, tables, blobs, url, server)


def stop_harness(harness: Harness) -> None:
    """Stop the server and the stand-ins."""
    harness.server.shutdown()
    harness.server.server_close()
    harness.session.close()
    harness.github.stop()
    harness.arm.stop()
