"""The real boot program, run as a subprocess against local stand-ins for IMDS, Blob storage, Resource
Manager and the runner download: every exit path ends with the VM deleting itself from its scale set, or
(when it cannot) powering off for the reaper. Privileged commands are recorded, not run (`dryRunSystem`).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fake_agent_cloud import (
    ARM_TOKEN,
    BLOB_PATH,
    REGISTRATION,
    STORAGE_TOKEN,
    Cloud,
    archive,
    boot,
    member,
    serving,
)

# run.sh records what it was given and what it can see, then does what the case needs
RECORDS = (
    'printf "%s\\n" "$@" > "$PWD/args.txt"\n'
    'printf "HOME=%s\\nLEAKED=%s\\n" "$HOME" "${LEAKED_TO_JOB:-}" > "$PWD/env.txt"\n'
)
RUN_AS = ["run-as", "runner"]


@pytest.fixture
def cloud() -> Iterator[tuple[Cloud, str]]:
    state = Cloud(runner_archive=archive(RECORDS + "exit 0\n"))
    with serving(state) as base:
        yield state, base


def runner_args(root: Path) -> list[str] | None:
    args = root / "opt/actions-runner/args.txt"
    return args.read_text().split() if args.exists() else None


def assert_self_deleted(state: Cloud, commands: list[list[str]]) -> None:
    assert len(state.self_deletes()) == 1, "one POST to the scale set's delete, naming this VM"
    assert ["shutdown", "-h", "now"] not in commands


def assert_registration_taken(state: Cloud) -> None:
    """GET then DELETE of this VM's own blob, both with the Storage token and a storage API version."""
    gets, deletes = state.requests("GET", BLOB_PATH), state.requests("DELETE", BLOB_PATH)
    assert gets
    assert len(deletes) == 1
    assert state.calls.index(gets[-1]) < state.calls.index(deletes[0]), "read, then deleted"
    for call in (*gets, *deletes):
        assert call.headers["authorization"] == f"Bearer {STORAGE_TOKEN}"
        assert call.headers["x-ms-version"] >= "2017-11-09", "bearer tokens need 2017-11-09 or later"


def test_one_job_then_the_vm_deletes_itself(cloud: tuple[Cloud, str], tmp_path: Path) -> None:
    state, base = cloud
    run = boot(state, base, tmp_path)
    assert run.returncode == 0
    assert "runner exited with 0" in run.output
    assert runner_args(tmp_path) == ["--jitconfig", REGISTRATION], "the blob's content, as the JIT config"
    assert_registration_taken(state)
    assert_self_deleted(state, run.commands)
    # the platform is closed to the runner's user before the runner starts
    iptables = [c for c in run.commands if c[0] == "iptables"]
    assert {c[c.index("-d") + 1] for c in iptables} == {"169.254.169.254", "168.63.129.16"}
    assert all(c[c.index("--uid-owner") + 1] == "runner" and c[-1] == "REJECT" for c in iptables)
    started = next(i for i, c in enumerate(run.commands) if c[:2] == RUN_AS)
    assert all(run.commands.index(c) < started for c in iptables)
    assert ["chown", "-R", "runner:runner", str(tmp_path / "opt/actions-runner")] in run.commands
    assert run.commands[started][-1] == "<registration>", "the recorded launch never holds the registration"
    # the job gets a clean environment, with the runner's own home
    env = (tmp_path / "opt/actions-runner/env.txt").read_text().splitlines()
    assert env == [f"HOME={tmp_path}/home/runner", "LEAKED="]
    # the self-delete comes last, with its own (ARM) token
    assert state.calls[-1] == state.self_deletes()[0]
    assert all(ARM_TOKEN not in c.headers.get("authorization", "") for c in state.calls if c.path == BLOB_PATH)


def test_imds_is_asked_with_the_metadata_header_and_the_host_identity(cloud: tuple[Cloud, str], tmp_path: Path) -> None:
    state, base = cloud
    boot(state, base, tmp_path)
    imds = [c for c in state.calls if c.path.startswith("/imds/")]
    assert imds
    assert all(c.headers["metadata"] == "true" for c in imds)
    tokens = [c.path for c in imds if "/identity/oauth2/token" in c.path]
    assert any("resource=https%3A%2F%2Fstorage.azure.com%2F" in p for p in tokens)
    assert any("resource=https%3A%2F%2Fmanagement.azure.com%2F" in p for p in tokens)
    assert all("api-version=2018-02-01" in p and "client_id=00000000-0000-0000-0000-0000000000c1" in p for p in tokens)


def test_a_failed_job_still_ends_in_self_deletion(cloud: tuple[Cloud, str], tmp_path: Path) -> None:
    state, base = cloud
    state.runner_archive = archive(RECORDS + "exit 1\n")
    run = boot(state, base, tmp_path)
    assert run.returncode == 1
    assert "runner exited with 1" in run.output
    assert runner_args(tmp_path) == ["--jitconfig", REGISTRATION]
    assert_registration_taken(state)
    assert_self_deleted(state, run.commands)


def test_a_job_past_its_deadline_is_cut_off_with_all_its_processes(cloud: tuple[Cloud, str], tmp_path: Path) -> None:
    state, base = cloud
    state.runner_archive = archive(RECORDS + 'sleep 30 &\necho $! > "$PWD/child.pid"\nsleep 30\n')
    started = time.monotonic()
    run = boot(state, base, tmp_path, jobTimeoutMinutes=0.01)
    assert time.monotonic() - started < 10, "the deadline (0.6 s) ended the job, not its 30 s sleep"
    assert "outlived its deadline" in run.output
    assert runner_args(tmp_path) == ["--jitconfig", REGISTRATION]
    child = (tmp_path / "opt/actions-runner/child.pid").read_text().strip()
    stat = Path(f"/proc/{child}/stat")
    assert not stat.exists() or stat.read_text().split(") ")[1].startswith("Z"), "the job's background process too"
    assert_registration_taken(state)
    assert_self_deleted(state, run.commands)


def test_no_registration_in_time_means_no_runner(cloud: tuple[Cloud, str], tmp_path: Path) -> None:
    state, base = cloud
    state.blob_statuses = [404]
    run = boot(state, base, tmp_path)
    assert "no registration arrived in time" in run.output
    assert len(state.requests("GET", BLOB_PATH)) > 2, "it polled, backing off"
    assert not state.requests("DELETE", BLOB_PATH)
    assert runner_args(tmp_path) is None
    assert not [c for c in run.commands if c[0] == "iptables" or c[:2] == RUN_AS]
    assert not state.requests("GET", "/runner.tar.gz"), "nothing downloaded for nothing"
    assert_self_deleted(state, run.commands)


def test_a_late_registration_is_waited_for(cloud: tuple[Cloud, str], tmp_path: Path) -> None:
    state, base = cloud
    state.blob_statuses = [404, 503, 404, 200]
    run = boot(state, base, tmp_path, registrationTimeoutMinutes=0.1)
    assert run.returncode == 0
    assert len(state.requests("GET", BLOB_PATH)) == 4
    assert runner_args(tmp_path) == ["--jitconfig", REGISTRATION]
    assert_self_deleted(state, run.commands)


def test_a_runner_that_is_not_the_pinned_release_never_starts(cloud: tuple[Cloud, str], tmp_path: Path) -> None:
    state, base = cloud
    run = boot(state, base, tmp_path, runner={"url": f"{base}/runner.tar.gz", "sha256": "0" * 64})
    assert "not the pinned" in run.output
    assert runner_args(tmp_path) is None
    assert not [c for c in run.commands if c[:2] == RUN_AS]
    assert not (tmp_path / "opt/actions-runner.tar.gz").exists(), "the mismatching download is removed"
    assert not (tmp_path / "opt/actions-runner/run.sh").exists(), "and never unpacked"
    assert_registration_taken(state)
    assert_self_deleted(state, run.commands)


def test_a_failed_download_ends_in_self_deletion(cloud: tuple[Cloud, str], tmp_path: Path) -> None:
    state, base = cloud
    run = boot(state, base, tmp_path, runner={"url": f"{base}/missing.tar.gz", "sha256": "0" * 64})
    assert "downloading the runner answered 404" in run.output
    assert runner_args(tmp_path) is None
    assert_self_deleted(state, run.commands)


@pytest.mark.parametrize(
    "trap",
    [
        member("../escaped"),
        member("bin/../../escaped"),
        member("/tmp/escaped-absolute"),
        member("bin/evil", symlink="../../escaped"),
        member("bin/evil", symlink="/etc/passwd"),
        member("evil", hardlink="../escaped"),
    ],
    ids=["dot-dot", "dot-dot-inside", "absolute", "symlink-out", "symlink-absolute", "hardlink-out"],
)
def test_an_archive_reaching_outside_its_directory_is_refused(
    cloud: tuple[Cloud, str], tmp_path: Path, trap: object
) -> None:
    state, base = cloud
    assert isinstance(trap, type(member("x")))
    state.runner_archive = archive(RECORDS + "exit 0\n", extra=(trap,))
    run = boot(state, base, tmp_path)
    assert "outside its directory" in run.output
    assert not (tmp_path / "opt/escaped").exists()
    assert not (tmp_path / "escaped").exists()
    assert runner_args(tmp_path) is None, "no member was unpacked, nothing ran"
    assert_self_deleted(state, run.commands)


def test_a_link_through_a_link_out_of_the_runner_is_refused(cloud: tuple[Cloud, str], tmp_path: Path) -> None:
    state, base = cloud
    # each link reads as inside on its own ("here/.." is "."), but "here" is the runner's directory itself
    traps = (member("here", symlink="."), member("up", symlink="here/.."), member("up/escaped"))
    state.runner_archive = archive(RECORDS + "exit 0\n", extra=traps)
    run = boot(state, base, tmp_path)
    assert "cannot be unpacked safely" in run.output, "Python's data filter, behind the member check"
    assert not (tmp_path / "opt/escaped").exists()
    assert runner_args(tmp_path) is None
    assert_self_deleted(state, run.commands)


def test_links_that_stay_inside_the_runner_are_unpacked(cloud: tuple[Cloud, str], tmp_path: Path) -> None:
    state, base = cloud
    # Node's own layout, as bundled runners carry it: bin/npm -> ../lib/node_modules/npm/bin/npm-cli.js
    extras = (
        member("externals/node/lib/node_modules/npm/bin/npm-cli.js"),
        member("externals/node/bin/npm", symlink="../lib/node_modules/npm/bin/npm-cli.js"),
    )
    state.runner_archive = archive(RECORDS + "exit 0\n", extra=extras)
    run = boot(state, base, tmp_path)
    assert run.returncode == 0, run.output
    assert (tmp_path / "opt/actions-runner/externals/node/bin/npm").read_text() == "x"


def test_a_storage_token_failure_still_deletes_the_vm(cloud: tuple[Cloud, str], tmp_path: Path) -> None:
    state, base = cloud
    state.token_statuses = {"https://storage.azure.com/": [500]}
    run = boot(state, base, tmp_path)
    assert "instance metadata answered 500" in run.output
    assert not state.requests("GET", BLOB_PATH)
    assert runner_args(tmp_path) is None
    assert_self_deleted(state, run.commands)


def test_transient_imds_answers_are_retried(cloud: tuple[Cloud, str], tmp_path: Path) -> None:
    state, base = cloud
    state.name_statuses = [503, 200]
    state.token_statuses = {"https://storage.azure.com/": [404, 429, 200], "https://management.azure.com/": [410, 200]}
    run = boot(state, base, tmp_path)
    assert run.returncode == 0, run.output
    assert_self_deleted(state, run.commands)


def test_without_its_name_the_vm_powers_off_for_the_reaper(cloud: tuple[Cloud, str], tmp_path: Path) -> None:
    state, base = cloud
    state.name_statuses = [500]
    run = boot(state, base, tmp_path)
    assert runner_args(tmp_path) is None
    assert not state.requests("GET", BLOB_PATH)
    assert not state.self_deletes()
    assert run.commands == [["shutdown", "-h", "now"]]
    assert "powering off for the reaper" in run.output


def test_a_refused_registration_read_stops_at_once(cloud: tuple[Cloud, str], tmp_path: Path) -> None:
    state, base = cloud
    state.blob_statuses = [403]
    run = boot(state, base, tmp_path, registrationTimeoutMinutes=5)
    assert "reading the registration answered 403" in run.output
    assert len(state.requests("GET", BLOB_PATH)) == 1, "an authorization failure is not waited out"
    assert runner_args(tmp_path) is None
    assert_self_deleted(state, run.commands)


def test_a_registration_that_cannot_be_deleted_is_not_used(cloud: tuple[Cloud, str], tmp_path: Path) -> None:
    state, base = cloud
    state.blob_delete_statuses = [403]
    run = boot(state, base, tmp_path)
    assert "readable once only" in run.output
    assert runner_args(tmp_path) is None
    assert_self_deleted(state, run.commands)


def test_when_azure_refuses_the_deletion_the_vm_powers_off(cloud: tuple[Cloud, str], tmp_path: Path) -> None:
    state, base = cloud
    state.vm_delete_statuses = [403]
    run = boot(state, base, tmp_path)
    assert len(state.requests("POST", "/arm/")) == 3, "a few attempts first"
    assert run.commands[-1] == ["shutdown", "-h", "now"]


def test_a_transient_deletion_failure_is_retried(cloud: tuple[Cloud, str], tmp_path: Path) -> None:
    state, base = cloud
    state.vm_delete_statuses = [500, 202]
    run = boot(state, base, tmp_path)
    assert len(state.requests("POST", "/arm/")) == 2
    assert ["shutdown", "-h", "now"] not in run.commands


def test_the_inspection_ca_is_trusted_before_anything_is_downloaded(cloud: tuple[Cloud, str], tmp_path: Path) -> None:
    state, base = cloud
    pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    run = boot(state, base, tmp_path, caCertificates=[pem])
    certificate = tmp_path / "usr/local/share/ca-certificates/supply-chain-0.crt"
    assert certificate.read_text() == pem
    assert certificate.stat().st_mode & 0o777 == 0o644
    assert run.commands[0] == ["update-ca-certificates"]
    assert run.returncode == 0
