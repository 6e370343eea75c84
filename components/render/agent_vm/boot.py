"""Runs once on each build agent, as root, at boot: take this VM's single-use registration, run exactly
one job with it, then delete this VM, whatever happened.

Steps: (1) this VM's name from the instance metadata service (IMDS); (2) a Storage token for the host
identity, then GET and DELETE the blob named after the VM (read once), polling until the registration
timeout; (3) trust the inspection CA, if any, and close IMDS and the wire server to the runner's user;
(4) download the runner release, check its pinned SHA-256, unpack it without leaving its directory;
(5) run `run.sh --jitconfig <registration>` as `runner` under the job deadline; (6) always: an ARM token,
then delete this VM from its scale set, and power off if Azure will not (the reaper removes it).

Standard library only: it runs on a stock Ubuntu image before anything else is installed, and egress is
allow-listed. It prints one line per step, never a token nor the registration itself.

Test-only config keys (never rendered for a real VM): `dryRunSystem` records privileged commands
(update-ca-certificates, iptables, chown, shutdown) in `<rootDir>/commands.log` instead of running them,
and runs the runner as the calling user rather than switching to `runner`; `rootDir` moves the files this
program writes (CA certificates, the runner) under a scratch directory; `retrySeconds` shortens back-off.
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import os
import posixpath
import signal
import subprocess
import sys
import tarfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

CONFIG_PATH = "/etc/supply-chain/agent.json"
STORAGE_RESOURCE = "https://storage.azure.com/"
ARM_RESOURCE = "https://management.azure.com/"
STORAGE_API_VERSION = "2023-11-03"
NAME_PATH = "/metadata/instance/compute/name?api-version=2021-02-01&format=text"
PLATFORM_ADDRESSES = ("169.254.169.254", "168.63.129.16")
"""The instance metadata service (identity tokens) and the platform's wire server: closed to job code."""
RUNNER_USER = "runner"
RUNNER_HOME = "/home/runner"
IMDS_ATTEMPTS = 5
"""IMDS answers 404/410/429/5xx for a while after boot (the identity may not be attached yet): retry."""
IMDS_RETRYABLE = frozenset({404, 410, 429, 500, 502, 503, 504})
BLOB_RETRYABLE = frozenset({404, 408, 429, 500, 502, 503, 504})
"""404: not written yet; the others are Storage's transient answers. Anything else ends the wait."""
DELETE_ATTEMPTS = 3
MAX_BACKOFF_SECONDS = 15.0
DOWNLOAD_CHUNK = 1 << 20


class BootError(Exception):
    """A step failed; the agent stops and deletes itself. Its text never holds a token or the registration."""


def log(message: str) -> None:
    """One line per step, to the journal."""
    print(f"supply-chain-agent: {message}", flush=True)


class Agent:
    """One agent's life, driven by its boot config."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.imds = str(config.get("imdsEndpoint", "http://169.254.169.254")).rstrip("/")
        self.root = Path(str(config.get("rootDir", "/")))
        self.dry_run = bool(config.get("dryRunSystem", False))
        self.retry_seconds = float(config.get("retrySeconds", 1.0))
        # IMDS, Storage's private endpoint and ARM are reached directly, never through an environment proxy
        self.direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        self.vm_name = ""

    def seconds(self, key: str) -> float:
        """A timeout from the config (minutes, fractions allowed), in seconds."""
        return float(self.config[key]) * 60

    def backoff(self, attempt: int) -> float:
        """How long to wait before retry number `attempt` (0-based)."""
        return float(min(self.retry_seconds * 2**attempt, MAX_BACKOFF_SECONDS))

    def request(
        self, method: str, url: str, headers: dict[str, str], body: bytes | None = None, timeout: float = 30
    ) -> tuple[int, bytes]:
        """One HTTP call; the status and body, also for 4xx/5xx answers."""
        request = urllib.request.Request(url, data=body, method=method, headers=headers)
        try:
            with self.direct.open(request, timeout=timeout) as response:
                return int(response.status), bytes(response.read())
        except urllib.error.HTTPError as error:
            return int(error.code), bytes(error.read())
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise BootError(f"{method} {urllib.parse.urlsplit(url).netloc} failed: {reason}") from None

    def metadata(self, path: str) -> bytes:
        """A value from the instance metadata service, retrying its transient answers."""
        status = 0
        for attempt in range(IMDS_ATTEMPTS):
            if attempt:
                time.sleep(self.backoff(attempt - 1))
            try:
                status, body = self.request("GET", f"{self.imds}{path}", {"Metadata": "true"})
            except BootError:
                if attempt == IMDS_ATTEMPTS - 1:
                    raise
                continue
            if status == 200:
                return body
            if status not in IMDS_RETRYABLE:
                break
        raise BootError(f"instance metadata answered {status} ({path.split('?')[0]})")

    def token(self, resource: str) -> str:
        """An access token of the host identity for `resource` (never logged)."""
        query = urllib.parse.urlencode(
            {"api-version": "2018-02-01", "resource": resource, "client_id": self.config["hostIdentityClientId"]}
        )
        try:
            token = json.loads(self.metadata(f"/metadata/identity/oauth2/token?{query}"))["access_token"]
        except (ValueError, KeyError, TypeError):
            raise BootError("the identity endpoint answered without a token") from None
        return str(token)

    def storage_headers(self) -> dict[str, str]:
        """Headers of a Blob call as the host identity."""
        return {
            "Authorization": f"Bearer {self.token(STORAGE_RESOURCE)}",
            "x-ms-version": STORAGE_API_VERSION,
            "x-ms-date": email.utils.formatdate(usegmt=True),
        }

    def take_registration(self) -> str:
        """Read this VM's registration, then delete it (read once), waiting for it up to the timeout."""
        url = f"{self.config['blobEndpoint'].rstrip('/')}/{self.config['registrationContainer']}/{self.vm_name}"
        deadline = time.monotonic() + self.seconds("registrationTimeoutMinutes")
        attempt = 0
        while True:
            status, body = self.request("GET", url, self.storage_headers())
            if status == 200:
                break
            if status not in BLOB_RETRYABLE:
                raise BootError(f"reading the registration answered {status}")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BootError(f"no registration arrived in time (last answer {status})")
            time.sleep(min(self.backoff(attempt), remaining))
            attempt += 1
        status, _ = self.request("DELETE", url, self.storage_headers())
        if status not in (200, 202):
            raise BootError(f"deleting the registration answered {status}: it must be readable once only")
        registration = body.decode("utf-8", "replace").strip()
        if not registration:
            raise BootError("the registration is empty")
        log("registration read and deleted")
        return registration

    def system(self, *command: str) -> None:
        """Every privileged command goes through here; a dry run (tests) records it instead."""
        if self.dry_run:
            with (self.root / "commands.log").open("a") as record:
                record.write(json.dumps(list(command)) + "\n")
            return
        try:
            subprocess.run(command, check=True, stdin=subprocess.DEVNULL)
        except (OSError, subprocess.CalledProcessError) as error:
            raise BootError(f"{command[0]} failed: {getattr(error, 'returncode', error)}") from None

    def harden(self) -> None:
        """Trust the inspection CA, if any (before any download); close the platform to the runner's user."""
        certificates = self.config.get("caCertificates") or []
        if certificates:
            target = self.root / "usr/local/share/ca-certificates"
            target.mkdir(parents=True, exist_ok=True)
            for index, pem in enumerate(certificates):
                path = target / f"supply-chain-{index}.crt"
                path.write_text(str(pem))
                path.chmod(0o644)
            self.system("update-ca-certificates")
            log(f"{len(certificates)} CA certificate(s) trusted")
        for address in PLATFORM_ADDRESSES:
            self.system(
                "iptables", "-I", "OUTPUT", "-d", address, "-m", "owner", "--uid-owner", RUNNER_USER, "-j", "REJECT"
            )
        log("instance metadata and wire server closed to the runner's user")

    def download_runner(self) -> Path:
        """The pinned runner release on disk, only if its SHA-256 is the pinned one."""
        runner = self.config["runner"]
        archive = self.root / "opt/actions-runner.tar.gz"
        archive.parent.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        try:
            # the release URL redirects to GitHub's release storage; urllib follows it
            with urllib.request.urlopen(str(runner["url"]), timeout=300) as response, archive.open("wb") as out:
                while chunk := response.read(DOWNLOAD_CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
        except urllib.error.HTTPError as error:
            raise BootError(f"downloading the runner answered {error.code}") from None
        except (urllib.error.URLError, OSError) as error:
            raise BootError(f"downloading the runner failed: {getattr(error, 'reason', error)}") from None
        if digest.hexdigest() != str(runner["sha256"]).lower():
            archive.unlink()
            raise BootError(f"the runner's SHA-256 is {digest.hexdigest()}, not the pinned {runner['sha256']}")
        log(f"runner {digest.hexdigest()[:12]} downloaded, checksum matches")
        return archive

    def install_runner(self, archive: Path) -> Path:
        """Unpack the runner where only it lives, refusing any member that would land outside."""
        target = self.root / "opt/actions-runner"
        target.mkdir(parents=True, exist_ok=True)
        try:
            with tarfile.open(archive) as bundle:
                members = bundle.getmembers()
                for member in members:
                    refuse_escape(member)
                # and Python's own check, which also follows links already extracted
                bundle.extractall(target, members=members, filter="data")
        except (tarfile.TarError, OSError) as error:
            raise BootError(f"the runner archive cannot be unpacked safely: {error}") from None
        self.system("chown", "-R", f"{RUNNER_USER}:{RUNNER_USER}", str(target))
        log("runner unpacked")
        return target

    def run_job(self, target: Path, registration: str) -> int:
        """The runner takes exactly one job with its just-in-time registration, within the deadline."""
        home = self.root / RUNNER_HOME.lstrip("/") if self.dry_run else Path(RUNNER_HOME)
        environment = {
            "HOME": str(home),
            "USER": RUNNER_USER,
            "LOGNAME": RUNNER_USER,
            "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "LANG": "C.UTF-8",
        }
        # the runner's user, group and no other group (not root's)
        identity: dict[str, Any] = {"user": RUNNER_USER, "group": RUNNER_USER, "extra_groups": []}
        if self.dry_run:
            identity = {}
            self.system("run-as", RUNNER_USER, str(target / "run.sh"), "--jitconfig", "<registration>")
        try:
            # its own session, so the deadline ends the job's every process, not only the runner
            runner = subprocess.Popen(
                [str(target / "run.sh"), "--jitconfig", registration],
                cwd=target,
                env=environment,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                **identity,
            )
        except (OSError, ValueError, KeyError) as error:
            raise BootError(f"the runner did not start: {type(error).__name__}") from None
        log(f"runner started, deadline {self.seconds('jobTimeoutMinutes'):.0f}s")
        try:
            returncode = runner.wait(timeout=self.seconds("jobTimeoutMinutes"))
        except subprocess.TimeoutExpired:
            os.killpg(runner.pid, signal.SIGKILL)
            runner.wait()
            raise BootError("the job outlived its deadline") from None
        log(f"runner exited with {returncode}")
        return returncode

    def delete_self(self) -> None:
        """Delete this VM from its scale set; if Azure will not, power off so the reaper removes it."""
        try:
            version = self.config.get("armApiVersion", "2024-07-01")
            url = (
                f"{str(self.config['armEndpoint']).rstrip('/')}{self.config['scaleSetId']}"
                f"/delete?api-version={version}&forceDeletion=true"
            )
            body = json.dumps({"instanceIds": [self.vm_name]}).encode()
        except (KeyError, TypeError):
            log("the boot config names no scale set")
            self.power_off()
            return
        for attempt in range(DELETE_ATTEMPTS):
            if attempt:
                time.sleep(self.backoff(attempt - 1))
            try:
                headers = {"Authorization": f"Bearer {self.token(ARM_RESOURCE)}", "Content-Type": "application/json"}
                status, _ = self.request("POST", url, headers, body)
            except BootError as failure:
                log(f"self-delete attempt {attempt + 1}: {failure}")
                continue
            if status in (200, 202):
                log(f"deleting this VM ({self.vm_name}) from its scale set")
                return
            log(f"self-delete attempt {attempt + 1} answered {status}")
        self.power_off()

    def power_off(self) -> None:
        """The last resort: a stopped VM that the reaper deletes."""
        log("powering off for the reaper")
        try:
            self.system("shutdown", "-h", "now")
        except BootError as failure:
            log(f"cannot power off: {failure}")

    def live(self) -> bool:
        """One job, then gone. True when the job ran and the runner exited 0."""
        succeeded = False
        try:
            self.vm_name = self.metadata(NAME_PATH).decode().strip()
            if not self.vm_name:
                raise BootError("instance metadata gave no VM name")
            log(f"agent {self.vm_name} starting")
            registration = self.take_registration()
            self.harden()
            target = self.install_runner(self.download_runner())
            succeeded = self.run_job(target, registration) == 0
        except BootError as failure:
            log(f"stopping: {failure}")
        except Exception as error:  # noqa: BLE001 -- anything unforeseen still ends in deletion; its text
            # could hold anything (a URL, the registration), so only its type is logged
            log(f"stopping: unexpected {type(error).__name__}")
        finally:
            if self.vm_name:
                self.delete_self()
            else:
                log("cannot tell which VM this is")
                self.power_off()
        return succeeded


def refuse_escape(member: tarfile.TarInfo) -> None:
    """A member may not leave the target: no absolute path, no `..` out, no link pointing out, no device."""
    name = posixpath.normpath(member.name)
    if member.name.startswith("/") or name == ".." or name.startswith("../"):
        raise BootError(f"the runner archive holds {member.name!r}, outside its directory")
    if member.issym() or member.islnk():
        # a symlink's target is relative to its own directory, a hard link's to the archive's root
        base = posixpath.dirname(name) if member.issym() else ""
        resolved = posixpath.normpath(posixpath.join(base, member.linkname))
        if member.linkname.startswith("/") or resolved == ".." or resolved.startswith("../"):
            raise BootError(f"the runner archive links {member.name!r} outside its directory")
    if not (member.isfile() or member.isdir() or member.issym() or member.islnk()):
        raise BootError(f"the runner archive holds a device or fifo: {member.name!r}")


def main() -> int:
    """Read the boot config and live one job; 0 only when the job ran and succeeded."""
    path = os.environ.get("AGENT_BOOT_CONFIG", CONFIG_PATH)
    try:
        config = json.loads(Path(path).read_text())
        if not isinstance(config, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as error:
        log(f"no usable boot config at {path}: {type(error).__name__}; powering off for the reaper")
        subprocess.run(["shutdown", "-h", "now"], check=False)
        return 1
    return 0 if Agent(config).live() else 1


if __name__ == "__main__":
    sys.exit(main())
