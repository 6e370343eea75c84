"""The agents' cloud-config: a runner user, the boot config, the boot program and the unit that runs it.

The same document boots every agent, so it holds nothing about any job and no secret: each agent
takes its own single-use registration at boot (`agent_vm/boot.py`).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import yaml

from components.model.config import BuildAgentsConfig

BOOT_PROGRAM = Path(__file__).parent / "agent_vm" / "boot.py"
CONFIG_PATH = "/etc/supply-chain/agent.json"
PROGRAM_PATH = "/opt/supply-chain/boot.py"
UNIT_NAME = "supply-chain-agent.service"
TEST_ONLY_KEYS = frozenset({"dryRunSystem", "rootDir", "retrySeconds"})
"""Boot config keys that only tests set (see the boot program): a VM booted with them would skip the
IMDS block and run the job as root, so the renderer refuses them."""

_UNIT = f"""[Unit]
Description=Take this VM's registration, run one job, delete the VM
Wants=network-online.target
After=network-online.target

[Service]
Type=oneshot
ExecStart=/usr/bin/python3 {PROGRAM_PATH}
# the program enforces the job deadline itself, then deletes the VM
TimeoutStartSec=infinity
StandardOutput=journal
StandardError=journal

[Install]
WantedBy=multi-user.target
"""


class _BlockDumper(yaml.SafeDumper):
    """Writes multi-line strings (the program, the unit, the config) as literal blocks, readable as they are
    on the VM, instead of one escaped line."""


def _block_string(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


_BlockDumper.add_representer(str, _block_string)


def boot_config(
    config: BuildAgentsConfig,
    *,
    host_client_id: str,
    scale_set_id: str,
    blob_endpoint: str,
    registration_container: str,
    arm_api_version: str,
    ca_certificates: tuple[str, ...] = (),
) -> dict[str, Any]:
    """What the boot program reads: where its registration is, how it deletes itself, its timeouts and the
    pinned runner release. Public values only."""
    return {
        "imdsEndpoint": "http://169.254.169.254",
        "hostIdentityClientId": host_client_id,
        "blobEndpoint": blob_endpoint,
        "registrationContainer": registration_container,
        "armEndpoint": "https://management.azure.com",
        "scaleSetId": scale_set_id,
        "armApiVersion": arm_api_version,
        "registrationTimeoutMinutes": config.registration_timeout_minutes,
        "jobTimeoutMinutes": config.job_timeout_minutes,
        "runner": {"url": config.runner_package.url, "sha256": config.runner_package.sha256},
        "caCertificates": list(ca_certificates),
    }


def agent_cloud_config(boot: dict[str, Any]) -> str:
    """The `#cloud-config` document every agent boots with."""
    if TEST_ONLY_KEYS & set(boot):
        raise ValueError(f"test-only boot config keys: {sorted(TEST_ONLY_KEYS & set(boot))}")
    document = {
        "package_update": False,  # egress is allow-listed: nothing is installed from package mirrors
        "package_upgrade": False,
        "ssh_pwauth": False,
        "disable_root": True,
        "users": [
            "default",
            # the job runs as this user: no sudo, no password, no key
            {"name": "runner", "shell": "/bin/bash", "lock_passwd": True, "no_create_home": False},
        ],
        "write_files": [
            {"path": CONFIG_PATH, "owner": "root:root", "permissions": "0600", "content": json.dumps(boot, indent=2)},
            {"path": PROGRAM_PATH, "owner": "root:root", "permissions": "0700", "content": BOOT_PROGRAM.read_text()},
            {"path": f"/etc/systemd/system/{UNIT_NAME}", "owner": "root:root", "permissions": "0644", "content": _UNIT},
        ],
        "runcmd": [
            ["systemctl", "mask", "--now", "ssh.service", "ssh.socket"],  # no interactive way in
            # nothing reaches for package mirrors behind the allow-listed egress, nor holds dpkg's lock
            ["systemctl", "mask", "--now", "apt-daily.timer", "apt-daily-upgrade.timer"],
            ["systemctl", "daemon-reload"],
            # enabled, so a reboot runs it again (its registration is gone: it deletes the VM); started
            # without blocking, as cloud-init's last stage must not wait for the job
            ["systemctl", "enable", UNIT_NAME],
            ["systemctl", "start", "--no-block", UNIT_NAME],
        ],
    }
    return "#cloud-config\n" + yaml.dump(document, Dumper=_BlockDumper, sort_keys=False, width=1000)


def agent_custom_data(boot: dict[str, Any]) -> str:
    """The cloud-config as VM custom data (base64)."""
    return base64.b64encode(agent_cloud_config(boot).encode()).decode()
