"""The agents' rendered cloud-config: valid cloud-config (cloud-init's own JSON schema when installed, and
always a table of the keys it uses), no way in, nothing from package mirrors, no secret, and the boot
program (tests/test_agent_boot_program.py runs it) embedded as it is.
"""

from __future__ import annotations

import ast
import base64
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from components.model.config import parse_stack_config
from components.render.agent_boot import (
    BOOT_PROGRAM,
    PROGRAM_PATH,
    TEST_ONLY_KEYS,
    UNIT_NAME,
    agent_cloud_config,
    agent_custom_data,
    boot_config,
)
from tests.conftest import stack_raw
from tests.secret_samples import fine_grained_token, github_token, jwt, private_key_header

SCALE_SET = "/subscriptions/s/resourceGroups/rg-agents/providers/Microsoft.Compute/virtualMachineScaleSets/vmss-a"
CA = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUQ2E\n-----END CERTIFICATE-----\n"
CLOUD_INIT_SCHEMA = Path(
    os.environ.get(
        "CLOUD_INIT_SCHEMA", "/usr/lib/python3/dist-packages/cloudinit/config/schemas/schema-cloud-config-v1.json"
    )
)
"""Shipped by the Debian/Ubuntu package `cloud-init` (not published on PyPI)."""

KEY_TYPES: dict[str, type] = {
    "package_update": bool,
    "package_upgrade": bool,
    "ssh_pwauth": bool,
    "disable_root": bool,
    "users": list,
    "write_files": list,
    "runcmd": list,
}
"""The top-level keys the document uses and their types, as cloud-init's module reference gives them
(cc_package_update_upgrade_install, cc_set_passwords, cc_ssh, cc_users_groups, cc_write_files,
cc_runcmd): checked even where cloud-init's schema is not installed."""
WRITE_FILE_KEYS = {"path", "owner", "permissions", "content"}
SECRET_SHAPES = {
    "GitHub token": r"\bgh[pousr]_[A-Za-z0-9]{20,}",
    "fine-grained PAT": r"github_" + r"pat_[A-Za-z0-9_]{20,}",
    "private key": r"-----BEGIN [A-Z ]*PRIVATE" + r" KEY-----",
    "JWT": r"ey" + r"J[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.",
    "storage key": r"AccountKey=|SharedAccessSignature=|[?&]sig=",
    "token value": r"""["']access_token["']\s*:\s*["']""",
    "password": r"(?i)\b(hashed_|plain_text_)?passwd\s*:|password\s*[:=]\s*\S",
    "Azure DevOps PAT": r"\b[a-z2-7]{52}\b",
}


@pytest.fixture(scope="module")
def boot() -> dict[str, Any]:
    config = parse_stack_config(stack_raw("prod")).build_agents
    assert config is not None
    return boot_config(
        config,
        host_client_id="00000000-0000-0000-0000-0000000000c1",
        scale_set_id=SCALE_SET,
        blob_endpoint="https://stcontosoprodagents.blob.core.windows.net/",
        registration_container="registrations",
        arm_api_version="2024-07-01",
        ca_certificates=(CA,),
    )


@pytest.fixture(scope="module")
def text(boot: dict[str, Any]) -> str:
    return agent_cloud_config(boot)


@pytest.fixture(scope="module")
def document(text: str) -> dict[str, Any]:
    loaded = yaml.safe_load(text)
    assert isinstance(loaded, dict)
    return loaded


def test_the_boot_config_holds_what_the_program_reads(boot: dict[str, Any]) -> None:
    assert boot == {
        "imdsEndpoint": "http://169.254.169.254",
        "hostIdentityClientId": "00000000-0000-0000-0000-0000000000c1",
        "blobEndpoint": "https://stcontosoprodagents.blob.core.windows.net/",
        "registrationContainer": "registrations",
        "armEndpoint": "https://management.azure.com",
        "scaleSetId": SCALE_SET,
        "armApiVersion": "2024-07-01",
        "registrationTimeoutMinutes": boot["registrationTimeoutMinutes"],
        "jobTimeoutMinutes": boot["jobTimeoutMinutes"],
        "runner": {
            "url": "https://github.com/actions/runner/releases/download/v2.320.0/actions-runner-linux-x64-2.320.0.tar.gz",
            "sha256": "93ac1b7ce743ee85b5d386f5c1787385ef07b3d7c728ff66ce0d3813d5f46900",
        },
        "caCertificates": [CA],
    }
    assert 0 < boot["registrationTimeoutMinutes"] < boot["jobTimeoutMinutes"]
    assert not TEST_ONLY_KEYS & set(boot)


def test_it_is_a_cloud_config_document_with_the_keys_it_means(text: str, document: dict[str, Any]) -> None:
    assert text.startswith("#cloud-config\n")
    assert set(document) == set(KEY_TYPES)
    for key, kind in KEY_TYPES.items():
        assert isinstance(document[key], kind), key
    for entry in document["write_files"]:
        assert set(entry) == WRITE_FILE_KEYS
        assert re.fullmatch(r"0[0-7]{3}", entry["permissions"])
    assert all(isinstance(c, list) and all(isinstance(a, str) for a in c) for c in document["runcmd"])


@pytest.mark.skipif(
    not CLOUD_INIT_SCHEMA.is_file(),
    reason=f"cloud-init's schema is not at {CLOUD_INIT_SCHEMA}: `apt-get install cloud-init` "
    "(Debian/Ubuntu; not on PyPI) or set CLOUD_INIT_SCHEMA; the key table is checked regardless",
)
def test_cloud_init_schema_accepts_it(document: dict[str, Any]) -> None:
    schema = json.loads(CLOUD_INIT_SCHEMA.read_text())
    validator = jsonschema.validators.validator_for(schema)(schema)
    problems = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(document)]
    assert problems == []
    # the schema lets unknown top-level keys through (cloud-init ignores them): each must be a module's key
    known = {key for definition in schema["$defs"].values() for key in definition.get("properties", {})}
    assert set(document) <= known, sorted(set(document) - known)


def test_nothing_is_installed_from_package_mirrors(document: dict[str, Any]) -> None:
    assert document["package_update"] is False
    assert document["package_upgrade"] is False
    assert not {"packages", "apt", "snap", "bootcmd"} & set(document)
    masked = ["systemctl", "mask", "--now", "apt-daily.timer", "apt-daily-upgrade.timer"]
    assert masked in document["runcmd"]


def test_there_is_no_way_in(document: dict[str, Any]) -> None:
    assert document["ssh_pwauth"] is False
    assert document["disable_root"] is True
    assert document["runcmd"][0] == ["systemctl", "mask", "--now", "ssh.service", "ssh.socket"]


def test_the_runner_user_has_no_sudo_password_key_or_group(document: dict[str, Any]) -> None:
    users = [u for u in document["users"] if isinstance(u, dict)]
    assert users == [{"name": "runner", "shell": "/bin/bash", "lock_passwd": True, "no_create_home": False}]
    assert document["users"][0] == "default", "the image's admin user, which Azure requires and nobody can reach"


def test_the_config_and_program_are_written_for_root_only(boot: dict[str, Any], document: dict[str, Any]) -> None:
    files = {f["path"]: f for f in document["write_files"]}
    config = files["/etc/supply-chain/agent.json"]
    assert (config["owner"], config["permissions"]) == ("root:root", "0600")
    assert json.loads(config["content"]) == boot
    program = files[PROGRAM_PATH]
    assert (program["owner"], program["permissions"]) == ("root:root", "0700")
    assert program["content"] == BOOT_PROGRAM.read_text(), "the program the tests run, byte for byte"


def test_the_unit_runs_the_program_once_after_the_network(document: dict[str, Any]) -> None:
    unit = next(f for f in document["write_files"] if f["path"] == f"/etc/systemd/system/{UNIT_NAME}")
    lines = unit["content"].splitlines()
    assert {"Wants=network-online.target", "After=network-online.target", "Type=oneshot"} <= set(lines)
    assert f"ExecStart=/usr/bin/python3 {PROGRAM_PATH}" in lines
    assert "WantedBy=multi-user.target" in lines
    assert not [line for line in lines if line.startswith("Restart=") and line != "Restart=no"]
    runcmd = document["runcmd"]
    enable, start = ["systemctl", "enable", UNIT_NAME], ["systemctl", "start", "--no-block", UNIT_NAME]
    assert runcmd.index(["systemctl", "daemon-reload"]) < runcmd.index(enable) < runcmd.index(start)


def test_it_holds_no_secret(text: str) -> None:
    found = {name: re.findall(shape, text) for name, shape in SECRET_SHAPES.items()}
    assert {name: hits for name, hits in found.items() if hits} == {}


def test_the_secret_shapes_would_be_caught() -> None:
    samples = {
        "GitHub token": github_token(),
        "fine-grained PAT": fine_grained_token(),
        "private key": private_key_header("OPENSSH"),
        "JWT": jwt(),
        "storage key": "DefaultEndpointsProtocol=https;AccountKey=abc==",
        "token value": '{"access_token": "x"}',
        "password": "hashed_passwd: $6$salt$hash",
        "Azure DevOps PAT": "a" * 52,
    }
    for name, sample in samples.items():
        assert re.search(SECRET_SHAPES[name], sample), name


def test_a_test_only_key_is_never_rendered(boot: dict[str, Any]) -> None:
    for key in sorted(TEST_ONLY_KEYS):
        with pytest.raises(ValueError, match=key):
            agent_cloud_config({**boot, key: True})


def test_the_custom_data_is_the_document_within_azures_limit(boot: dict[str, Any], text: str) -> None:
    data = agent_custom_data(boot)
    assert base64.b64decode(data).decode() == text
    assert len(data) < 64 * 1024, "Azure's custom data limit"


def test_the_boot_program_needs_only_the_standard_library() -> None:
    tree = ast.parse(BOOT_PROGRAM.read_text())
    imported = {
        (alias.name if isinstance(node, ast.Import) else node.module or "").split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert "json" in imported
    assert imported <= set(sys.stdlib_module_names) | {"__future__"}, imported
