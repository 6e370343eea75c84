"""Runs once on each build agent, as root, at boot: take this VM's single-use registration, run exactly
one job with it, then delete this VM, whatever happened.

Standard library only: it runs on a stock Ubuntu image before anything else is installed, and egress is
allow-listed. It prints one line per step and never a token or the registration itself.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import tarfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path, PurePosixPath
from typing import Any

CONFIG_PATH = "/etc/supply-chain/agent.json"
STORAGE_RESOURCE = "https://storage.azure.com/"
ARM_RESOURCE = "https://management.azure.com/"
STORAGE_API_VERSION = "2023-11-03"
PLATFORM_ADDRESSES = ("169.254.169.254", "168.63.129.16")
"""The instance metadata service (identity tokens) and the platform's wire server: closed to job code."""
RUNNER_USER = "runner"


class BootError(Exception):
    """A step failed; the agent stops and deletes itself."""


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
        # IMDS and the platform are never reached through a proxy
        self.direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        self.vm_name = ""
        self.retry_seconds = float(config.get("retrySeconds", 1.0))

    def minutes(self, key: str) -> float:
        """A timeout from the config, in seconds."""
        return float(self.config[key]) * 60

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
            raise BootError(f"{method} {urllib.parse.urlsplit(url).netloc} failed: {error}") from None

    def metadata(self, path: str) -> bytes:
        """A value from the instance metadata service."""
        status, body = self.request("GET", f"{self.imds}{path}", {"Metadata": "true"})
        if status != 200:
            raise BootError(f"instance metadata answered {status}")
        return body

    def token(self, resource: str) -> str:
        """An access token of the host identity for `resource`."""
        query = urllib.parse.urlencode(
            {"api-version": "2018-02-01", "resource": resource, "client_id": self.config["hostIdentityClientId"]}
        )
        try:
            token = json.loads(self.metadata(f"/metadata/identity/oauth2/token?{query}"))["access_token"]
        except (ValueError, KeyError, TypeError):
            raise BootError("the identity endpoint answered without a token") from None
        return str(token)

    def take_registration(self) -> str:
        """Read this VM's registration, then delete it (read once), waiting for it up to the timeout."""
        url = f"{self.config['blobEndpoint'].rstrip('/')}/{self.config['registrationContainer']}/{self.vm_name}"
        deadline = time.monotonic() + self.minutes("registrationTimeoutMinutes")
        delay = self.retry_seconds
        while True:
            headers = {"Authorization": f"Bearer {self.token(STORAGE_RESOURCE)}", "x-ms-version": STORAGE_API_VERSION}
            status, body = self.request("GET", url, headers)
            if status == 200:
                break
            if status != 404:
                raise BootError(f"reading the registration answered {status}")
            if time.monotonic() + delay > deadline:
                raise BootError("no registration arrived in time")
            time.sleep(delay)
            delay = min(delay * 2, 15.0)
        status, _ = self.request("DELETE", url, headers)
        if status not in (200, 202):
            raise BootError(f"deleting the registration answered {status}: it must be readable once only")
        log("registration taken and deleted")
        return body.decode().strip()

    def system(self, *command: str) -> None:
        """A privileged command; in a dry run (tests) it is recorded instead."""
        if self.dry_run:
            with (self.root / "commands.log").open("a") as record:
                record.write(json.dumps(list(command)) + "\n")
            return
        subprocess.run(command, check=True)

    def harden(self) -> None:
        """Trust the inspection CA, if any; close the platform's addresses to the runner's user."""
        certificates = self.config.get("caCertificates") or []
        if certificates:
            target = self.root / "usr/local/share/ca-certificates"
            target.mkdir(parents=True, exist_ok=True)
            for index, pem in enumerate(certificates):
                (target / f"supply-chain-{index}.crt").write_text(pem)
            self.system("update-ca-certificates")
        for address in PLATFORM_ADDRESSES:
            self.system(
                "iptables", "-I", "OUTPUT", "-d", address, "-m", "owner", "--uid-owner", RUNNER_USER, "-j", "REJECT"
            )
        log("platform addresses closed to the runner's user")

    def install_runner(self) -> Path:
        """Download the pinned runner release, check its SHA-256, unpack it safely."""
        runner = self.config["runner"]
        archive = self.root / "opt/actions-runner.tar.gz"
        archive.parent.mkdir(parents=True, exist_ok=True)
        status, body = self.request("GET", str(runner["url"]), {}, timeout=300)
        if status != 200:
            raise BootError(f"downloading the runner answered {status}")
        digest = hashlib.sha256(body).hexdigest()
        if digest != runner["sha256"]:
            raise BootError(f"the runner's SHA-256 is {digest}, not the pinned {runner['sha256']}")
        archive.write_bytes(body)
        target = self.root / "opt/actions-runner"
        target.mkdir(parents=True, exist_ok=True)
        with tarfile.open(archive) as bundle:
            for member in bundle.getmembers():
                _refuse_escape(member)
            data_filter = getattr(tarfile, "data_filter", None)  # Python 3.12's own check, where it has one
            if data_filter is not None:
                bundle.extractall(target, filter=data_filter)
            else:
                bundle.extractall(target)
        self.system("chown", "-R", f"{RUNNER_USER}:{RUNNER_USER}", str(target))
        log(f"runner {digest[:12]} installed")
        return target

    def run_job(self, target: Path, registration: str) -> None:
        """The runner takes exactly one job with its just-in-time registration, within the deadline."""
        command = [str(target / "run.sh"), "--jitconfig", registration]
        user = None if self.dry_run else RUNNER_USER
        try:
            # its own session, so the deadline ends the job's every process, not only the runner
            runner = subprocess.Popen(command, cwd=target, user=user, start_new_session=True)
        except OSError as error:
            raise BootError(f"the runner did not start: {error.strerror}") from None
        try:
            returncode = runner.wait(timeout=self.minutes("jobTimeoutMinutes"))
        except subprocess.TimeoutExpired:
            os.killpg(runner.pid, signal.SIGKILL)
            runner.wait()
            raise BootError("the job outlived its deadline") from None
        log(f"runner exited with {returncode}")

    def delete_self(self) -> None:
        """Delete this VM from its scale set; if Azure will not, power off so the reaper removes it."""
        scale_set = self.config["scaleSetId"]
        version = self.config.get("armApiVersion", "2024-07-01")
        url = f"{self.config['armEndpoint'].rstrip('/')}{scale_set}/delete?api-version={version}&forceDeletion=true"
        body = json.dumps({"instanceIds": [self.vm_name]}).encode()
        for attempt in range(3):
            try:
                headers = {"Authorization": f"Bearer {self.token(ARM_RESOURCE)}", "Content-Type": "application/json"}
                status, _ = self.request("POST", url, headers, body)
            except BootError as failure:
                log(f"self-delete attempt {attempt + 1}: {failure}")
                continue
            if status in (200, 202):
                log("deleting this VM")
                return
            log(f"self-delete attempt {attempt + 1} answered {status}")
            if attempt < 2:
                time.sleep(self.retry_seconds * 2**attempt)
        log("self-delete failed: powering off for the reaper")
        self.system("shutdown", "-h", "now")

    def live(self) -> None:
        """One job, then gone."""
        try:
            self.vm_name = self.metadata("/metadata/instance/compute/name?api-version=2021-02-01&format=text").decode()
            log(f"agent {self.vm_name} starting")
            registration = self.take_registration()
            self.harden()
            self.run_job(self.install_runner(), registration)
        except BootError as failure:
            log(f"stopping: {failure}")
        finally:
            if self.vm_name:
                self.delete_self()
            else:
                log("cannot tell which VM this is: powering off for the reaper")
                self.system("shutdown", "-h", "now")


def _refuse_escape(member: tarfile.TarInfo) -> None:
    """A member may not leave the target: no absolute path, no `..`, no link pointing out."""
    path = PurePosixPath(member.name)
    if path.is_absolute() or ".." in path.parts:
        raise BootError(f"the runner archive holds {member.name!r}, outside its directory")
    if member.issym() or member.islnk():
        link = PurePosixPath(member.linkname)
        # a symlink's target is relative to its directory, a hard link's to the archive's root
        resolved = path.parent / link if member.issym() else link
        if link.is_absolute() or ".." in resolved.parts:
            raise BootError(f"the runner archive links {member.name!r} outside its directory")
    if not (member.isfile() or member.isdir() or member.issym() or member.islnk()):
        raise BootError(f"the runner archive holds a device or fifo: {member.name!r}")


def main() -> int:
    """Read the boot config and live one job."""
    path = os.environ.get("AGENT_BOOT_CONFIG", CONFIG_PATH)
    try:
        config = json.loads(Path(path).read_text())
    except (OSError, ValueError) as error:
        log(f"no boot config at {path}: {error}; powering off for the reaper")
        subprocess.run(["shutdown", "-h", "now"], check=False)
        return 1
    Agent(config).live()
    return 0


if __name__ == "__main__":
    sys.exit(main())
