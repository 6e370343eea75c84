"""The build agents' scale set: one fresh, isolated Spot VM per job, unreachable, holding no secret."""

from __future__ import annotations

import base64
import binascii
import gzip
import re
from typing import Any

from pulumi_policy import ReportViolation, ResourceValidationArgs

from policies.rules.base import MANDATORY, dig, resource_policy

SCALE_SET = "azure-native:compute:VirtualMachineScaleSet"

SECRET_SHAPES = {
    "a private key": re.compile(r"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----"),
    "a GitHub token": re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{40,})"),
    "a JSON web token": re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
    "a storage account key": re.compile(r"AccountKey=[A-Za-z0-9+/=]{40,}"),
    "a SAS token": re.compile(r"[?&]sig=[A-Za-z0-9%+/=]{20,}"),
}
"""Shapes of standing secrets that have no place in custom data (readable by anyone who reads the VM model)."""


def _profile(args: ResourceValidationArgs) -> dict[str, Any]:
    return dict(args.props.get("virtualMachineProfile") or {})


def _spot_deletes(args: ResourceValidationArgs, report: ReportViolation) -> None:
    profile = _profile(args)
    if profile.get("priority") == "Spot" and profile.get("evictionPolicy") != "Delete":
        report("evicted Spot agents are deallocated, not deleted: a stopped agent keeps its disk and state", None)


def _isolated_machine(args: ResourceValidationArgs, report: ReportViolation) -> None:
    profile = _profile(args)
    os_disk = dig(profile, "storageProfile", "osDisk") or {}
    if dig(os_disk, "diffDiskSettings", "option") != "Local":
        report("the OS disk is persistent: one job's files outlive it (use an ephemeral OS disk)", None)
    security = profile.get("securityProfile") or {}
    if security.get("securityType") != "TrustedLaunch" or not (
        dig(security, "uefiSettings", "secureBootEnabled") and dig(security, "uefiSettings", "vTpmEnabled")
    ):
        report("not Trusted Launch with secure boot and vTPM: a tampered boot chain goes unnoticed", None)
    if security.get("encryptionAtHost") is not True:
        report("encryption at host is off: temp and cache disks are stored unencrypted", None)


def _unreachable(args: ResourceValidationArgs, report: ReportViolation) -> None:
    profile = _profile(args)
    for nic in dig(profile, "networkProfile", "networkInterfaceConfigurations") or []:
        for ip in nic.get("ipConfigurations") or []:
            if ip.get("publicIPAddressConfiguration"):
                report(f"NIC {nic.get('name')} gets a public IP", None)
    os_profile = profile.get("osProfile") or {}
    if os_profile.get("adminPassword"):
        report("the agents have an admin password", None)
    if dig(os_profile, "linuxConfiguration", "disablePasswordAuthentication") is not True:
        report("password sign-in is not disabled", None)


def _decoded(custom_data: str) -> str:
    try:
        raw = base64.b64decode(custom_data, validate=True)
    except (binascii.Error, ValueError):
        return custom_data
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    return raw.decode("utf-8", "replace")


def _no_secret_in_custom_data(args: ResourceValidationArgs, report: ReportViolation) -> None:
    custom_data = dig(_profile(args), "osProfile", "customData")
    if not isinstance(custom_data, str) or not custom_data:
        return
    text = _decoded(custom_data)
    for what, shape in SECRET_SHAPES.items():
        if shape.search(text):  # the match is never echoed: the report must not leak what it found
            report(f"custom data holds {what}; every VM and anyone reading the VM model can read it", None)


POLICIES = [
    resource_policy(
        "agents-spot-evictions-delete",
        resource_type=SCALE_SET,
        description="Spot agents are deleted when evicted, never kept stopped with a job's state on them.",
        level=MANDATORY,
        remediation="Set evictionPolicy Delete (the BuildAgents component does).",
        check=_spot_deletes,
    ),
    resource_policy(
        "agents-isolated-machine",
        resource_type=SCALE_SET,
        description="Each agent boots verified (Trusted Launch), encrypts at host, keeps nothing (ephemeral OS disk).",
        level=MANDATORY,
        remediation="Use the BuildAgents component; pick a VM size with a local disk (buildAgents.vmSize).",
        check=_isolated_machine,
    ),
    resource_policy(
        "agents-unreachable",
        resource_type=SCALE_SET,
        description="Agents have no public IP and no password: there is no way in.",
        level=MANDATORY,
        remediation="Remove public IP configurations and admin passwords; agents are reached by nobody.",
        check=_unreachable,
    ),
    resource_policy(
        "agents-no-secret-in-custom-data",
        resource_type=SCALE_SET,
        description="The agents' custom data holds no token, key or password (it is readable from the VM model).",
        level=MANDATORY,
        remediation="Hand agents single-use registrations through the pool's store, read with their identity.",
        check=_no_secret_in_custom_data,
    ),
]
