"""The agents' boot: the rendered cloud-config, and the real boot program run against local stand-ins
for the instance metadata service, Blob storage, Resource Manager and GitHub's release download.

Every path ends with the VM gone: it deletes itself from its scale set, or (when Azure will not let it)
powers off for the reaper.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import subprocess
import sys
import tarfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.model.config import parse_stack_config
from components.render.agent_boot import BOOT_PROGRAM, agent_cloud_config, agent_custom_data, boot_config
from tests.conftest import stack_raw

VM = "agent-0123456789abcdef01234567"
SCALE_SET = "/subscriptions/s/resourceGroups/rg-agents/providers/Microsoft.Compute/virtualMachineScaleSets/vmss-a"
REGISTRATION = "JITCONFIG-c2luZ2xlIHVzZQ"
TOKEN = "eyJ0eXAiOiJKV1QiLCJhbGciOiJub25lIn0.TOKEN"


@dataclass
class StandIns:
    """What the stand-ins answer and what they were asked."""

    runner_archive: bytes = b""
    registration_status: int = 200
    token_status: int = 200
    delete_status: int = 202
    calls: list[tuple[str, str]] = field(default_factory=list)
    blob_deleted: bool = False


def _server(state: StandIns) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _answer(self, status: int, body: bytes = b"") -> None:
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _route(self, method: str) -> None:
            state.calls.append((method, self.path))
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            if self.path.startswith("/imds/metadata/instance/compute/name"):
                ok = self.headers.get("Metadata") == "true"
                return self._answer(200 if ok else 400, VM.encode())
            if self.path.startswith("/imds/metadata/identity/oauth2/token"):
                return self._answer(state.token_status, json.dumps({"access_token": TOKEN}).encode())
            if self.path == f"/blob/registrations/{VM}":
                if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    return self._answer(403)
                if method == "DELETE":
                    state.blob_deleted = True
                    return self._answer(202)
                gone = state.blob_deleted or state.registration_status != 200
                return self._answer(404 if gone else 200, REGISTRATION.encode())
            if self.path.startswith(f"/arm{SCALE_SET}/delete?"):
                state.calls[-1] = (method, f"{self.path} {body.decode()}")
                return self._answer(state.delete_status)
            if self.path == "/runner.tar.gz":
                return self._answer(200, state.runner_archive)
            return self._answer(404)

        def do_GET(self) -> None:
            self._route("GET")

        def do_DELETE(self) -> None:
            self._route("DELETE")

        def do_POST(self) -> None:
            self._route("POST")

    return ThreadingHTTPServer(("127.0.0.1", 0), Handler)


@pytest.fixture
def stand_ins() -> Iterator[tuple[StandIns, str]]:
    state = StandIns()
    server = _server(state)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _archive(script: str, extra: tuple[str, ...] = ()) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as bundle:
        for name, text, mode in [("run.sh", "#!/bin/sh\n" + script, 0o755), *((n, "x", 0o644) for n in extra)]:
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), mode
            bundle.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


RUNS = 'printf "%s\\n" "$@" > "$PWD/args.txt"\n'


def _boot(state: StandIns, base: str, tmp_path: Path, **overrides: Any) -> tuple[str, list[list[str]]]:
    config = {
        "imdsEndpoint": f"{base}/imds",
        "hostIdentityClientId": "00000000-0000-0000-0000-0000000000c1",
        "blobEndpoint": f"{base}/blob/",
        "registrationContainer": "registrations",
        "armEndpoint": f"{base}/arm",
        "scaleSetId": SCALE_SET,
        "armApiVersion": "2024-07-01",
        "registrationTimeoutMinutes": 0.02,
        "jobTimeoutMinutes": 0.05,
        "runner": {"url": f"{base}/runner.tar.gz", "sha256": hashlib.sha256(state.runner_archive).hexdigest()},
        "caCertificates": [],
        "rootDir": str(tmp_path),
        "dryRunSystem": True,
        "retrySeconds": 0.05,
        **overrides,
    }
    (tmp_path / "agent.json").write_text(json.dumps(config))
    result = subprocess.run(
        [sys.executable, str(BOOT_PROGRAM)],
        env={"AGENT_BOOT_CONFIG": str(tmp_path / "agent.json"), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    log = tmp_path / "commands.log"
    commands = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    output = result.stdout + result.stderr
    assert REGISTRATION not in output, "never the registration in the journal"
    assert TOKEN not in output, "nor a token"
    return output, commands


def _self_deleted(state: StandIns) -> bool:
    return any(
        method == "POST" and "forceDeletion=true" in path and json.loads(path.split(" ", 1)[1]) == {"instanceIds": [VM]}
        for method, path in state.calls
    )


def _runner_args(tmp_path: Path) -> list[str] | None:
    args = tmp_path / "opt/actions-runner/args.txt"
    return args.read_text().split() if args.exists() else None


def test_one_job_then_the_vm_deletes_itself(stand_ins: tuple[StandIns, str], tmp_path: Path) -> None:
    state, base = stand_ins
    state.runner_archive = _archive(RUNS + "exit 0\n")
    output, commands = _boot(state, base, tmp_path)
    assert _runner_args(tmp_path) == ["--jitconfig", REGISTRATION]
    assert state.blob_deleted, "the registration is read once and deleted"
    get, delete = ("GET", f"/blob/registrations/{VM}"), ("DELETE", f"/blob/registrations/{VM}")
    assert state.calls.index(get) < state.calls.index(delete)
    iptables = [c for c in commands if c[0] == "iptables"]
    assert {c[c.index("-d") + 1] for c in iptables} == {"169.254.169.254", "168.63.129.16"}
    assert all(c[c.index("--uid-owner") + 1] == "runner" and c[-1] == "REJECT" for c in iptables)
    assert _self_deleted(state)
    assert ["shutdown", "-h", "now"] not in commands
    assert "runner exited with 0" in output


def test_a_failed_job_still_ends_in_self_deletion(stand_ins: tuple[StandIns, str], tmp_path: Path) -> None:
    state, base = stand_ins
    state.runner_archive = _archive(RUNS + "exit 1\n")
    output, _ = _boot(state, base, tmp_path)
    assert "runner exited with 1" in output
    assert _self_deleted(state)


def test_a_job_past_its_deadline_is_cut_off(stand_ins: tuple[StandIns, str], tmp_path: Path) -> None:
    state, base = stand_ins
    state.runner_archive = _archive(RUNS + "sleep 30\n")
    output, _ = _boot(state, base, tmp_path, jobTimeoutMinutes=0.01)
    assert "outlived its deadline" in output
    assert _self_deleted(state)


def test_no_registration_in_time_means_no_runner(stand_ins: tuple[StandIns, str], tmp_path: Path) -> None:
    state, base = stand_ins
    state.runner_archive = _archive(RUNS)
    state.registration_status = 404
    output, commands = _boot(state, base, tmp_path)
    assert "no registration arrived in time" in output
    assert _runner_args(tmp_path) is None
    assert not [c for c in commands if c[0] == "iptables"]
    assert _self_deleted(state)


def test_a_runner_that_is_not_the_pinned_release_never_starts(stand_ins: tuple[StandIns, str], tmp_path: Path) -> None:
    state, base = stand_ins
    state.runner_archive = _archive(RUNS)
    output, _ = _boot(state, base, tmp_path, runner={"url": f"{base}/runner.tar.gz", "sha256": "0" * 64})
    assert "not the pinned" in output
    assert _runner_args(tmp_path) is None
    assert _self_deleted(state)


def test_an_archive_reaching_outside_its_directory_is_refused(stand_ins: tuple[StandIns, str], tmp_path: Path) -> None:
    state, base = stand_ins
    state.runner_archive = _archive(RUNS, extra=("../escaped",))
    output, _ = _boot(state, base, tmp_path)
    assert "outside its directory" in output
    assert not (tmp_path / "opt/escaped").exists()
    assert _runner_args(tmp_path) is None
    assert _self_deleted(state)


def test_without_tokens_the_vm_powers_off_for_the_reaper(stand_ins: tuple[StandIns, str], tmp_path: Path) -> None:
    state, base = stand_ins
    state.runner_archive = _archive(RUNS)
    state.token_status = 500
    output, commands = _boot(state, base, tmp_path)
    assert _runner_args(tmp_path) is None
    assert not _self_deleted(state)
    assert commands[-1] == ["shutdown", "-h", "now"]
    assert "powering off for the reaper" in output


def test_when_azure_refuses_the_deletion_the_vm_powers_off(stand_ins: tuple[StandIns, str], tmp_path: Path) -> None:
    state, base = stand_ins
    state.runner_archive = _archive(RUNS + "exit 0\n")
    state.delete_status = 403
    _, commands = _boot(state, base, tmp_path)
    assert commands[-1] == ["shutdown", "-h", "now"]


def test_the_inspection_ca_is_trusted_before_the_job(stand_ins: tuple[StandIns, str], tmp_path: Path) -> None:
    state, base = stand_ins
    state.runner_archive = _archive(RUNS + "exit 0\n")
    pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    _, commands = _boot(state, base, tmp_path, caCertificates=[pem])
    assert (tmp_path / "usr/local/share/ca-certificates/supply-chain-0.crt").read_text() == pem
    assert commands[0] == ["update-ca-certificates"]


def test_the_cloud_config_is_valid_and_holds_no_secret() -> None:
    config = parse_stack_config(stack_raw("prod")).build_agents
    assert config is not None
    boot = boot_config(
        config,
        host_client_id="00000000-0000-0000-0000-0000000000c1",
        scale_set_id=SCALE_SET,
        blob_endpoint="https://crcontosoprodagents.blob.core.windows.net/",
        registration_container="registrations",
        arm_api_version="2024-07-01",
    )
    text = agent_cloud_config(boot)
    assert text.startswith("#cloud-config\n")
    document = yaml.safe_load(text)
    assert set(document) == {
        "package_update",
        "package_upgrade",
        "ssh_pwauth",
        "disable_root",
        "users",
        "write_files",
        "runcmd",
    }
    assert document["package_update"] is False
    assert document["ssh_pwauth"] is False
    runner = next(u for u in document["users"] if isinstance(u, dict))
    assert runner == {"name": "runner", "shell": "/bin/bash", "lock_passwd": True, "no_create_home": False}
    assert "sudo" not in runner
    files = {f["path"]: f for f in document["write_files"]}
    assert files["/etc/supply-chain/agent.json"]["permissions"] == "0600"
    assert json.loads(files["/etc/supply-chain/agent.json"]["content"]) == boot
    assert files["/opt/supply-chain/boot.py"]["content"] == BOOT_PROGRAM.read_text()
    assert ["systemctl", "mask", "--now", "ssh.service", "ssh.socket"] in document["runcmd"]
    assert boot["runner"] == {
        "url": "https://github.com/actions/runner/releases/download/v2.320.0/actions-runner-linux-x64-2.320.0.tar.gz",
        "sha256": "93ac1b7ce743ee85b5d386f5c1787385ef07b3d7c728ff66ce0d3813d5f46900",
    }
    for marker in ("PRIVATE KEY", "ghp_", "github_pat_", "password", 'access_token": "'):
        assert marker not in text
    assert base64.b64decode(agent_custom_data(boot)).decode() == text
    assert len(agent_custom_data(boot)) < 64 * 1024, "Azure's custom data limit"
