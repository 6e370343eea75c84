"""Config section of the ephemeral build agents and the CI service they serve."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, model_validator

from components.model.config.errors import raise_violations
from components.model.config.fields import ConfigModel
from components.model.config.text import shown

_MARKETPLACE_NAME = r"^[A-Za-z0-9][-A-Za-z0-9_.]{0,63}$"


class RunnerConfig(ConfigModel):
    """The CI service the ephemeral agents register with."""

    kind: Literal["github", "azure-devops"] = Field(
        description="`github` (Actions runners) or `azure-devops` (agents)."
    )
    scope: str = Field(description="github: `<org>` or `<org>/<repo>`; azure-devops: `https://dev.azure.com/<org>`.")
    labels: list[str] = Field(default_factory=list, description="Extra runner labels (github).")
    pool: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9][-A-Za-z0-9_. ]{0,62}[A-Za-z0-9]$",
        description="Agent pool name (azure-devops, required there).",
    )

    @model_validator(mode="after")
    def _per_kind(self) -> RunnerConfig:
        problems: list[tuple[str, str]] = []
        if self.kind == "github":
            if not re.fullmatch(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})(?:/[A-Za-z0-9._-]{1,100})?", self.scope):
                problems.append(("scope", f"{shown(self.scope)} is not a GitHub `<org>` or `<org>/<repo>`"))
            if self.pool is not None:
                problems.append(("pool", "is for azure-devops runners — github runners use `labels`"))
        else:
            if not re.fullmatch(r"https://dev\.azure\.com/[A-Za-z0-9][A-Za-z0-9-]{0,49}", self.scope):
                problems.append(
                    ("scope", f"{shown(self.scope)} is not an organization URL https://dev.azure.com/<org>")
                )
            if not self.pool:
                problems.append(("pool", "azure-devops runners need the agent pool name"))
        for i, label in enumerate(self.labels):
            if not re.fullmatch(r"[A-Za-z0-9._-]{1,64}", label):
                problems.append((f"labels[{i}]", f"{shown(label)} is not a runner label (letters, digits, . _ -)"))
        raise_violations(problems)
        return self


class ImageConfig(ConfigModel):
    """Marketplace image of the agent VMs."""

    publisher: str = Field(default="Canonical", pattern=_MARKETPLACE_NAME, description="Image publisher.")
    offer: str = Field(default="ubuntu-24_04-lts", pattern=_MARKETPLACE_NAME, description="Image offer.")
    sku: str = Field(default="server", pattern=_MARKETPLACE_NAME, description="Image SKU.")
    version: str = Field(
        default="latest",
        pattern=r"^(latest|[0-9]{1,9}\.[0-9]{1,9}\.[0-9]{1,12})$",
        description="`latest` or a version such as `24.04.202510010`; pin one in prod (`latest` is flagged by review).",
    )


OS_IMAGE_GIB = 30
"""The OS disk of the marketplace Ubuntu images the agents boot; an ephemeral OS disk must fit locally."""


def _local_disks() -> dict[str, int]:
    # The D-series v5 sizes with a local temp disk ("d" in the name): 37.5 GiB of it per vCPU.
    sizes = {}
    for family in ("ads", "ds"):
        for vcpus in (2, 4, 8, 16, 32, 48, 64, 96):
            sizes[f"Standard_D{vcpus}{family}_v5"] = int(vcpus * 37.5)
    return sizes


LOCAL_DISK_GIB = _local_disks()
"""VM sizes known to have a local (temp) disk, and its size: an ephemeral OS disk lives there."""

OsDiskPlacement = Literal["ResourceDisk", "CacheDisk", "NvmeDisk"]


class BuildAgentsConfig(ConfigModel):
    """Ephemeral, isolated build agents (a Spot VM scale set, one job per VM)."""

    runner: RunnerConfig
    vm_size: str = Field(
        default="Standard_D2ads_v5",
        pattern=r"^Standard_[A-Za-z0-9_]{1,60}$",
        description=(
            "VM size of each agent. Its OS disk is ephemeral, so the size needs a local disk: a D-series v5 size "
            "with `d` in its name (`Standard_D2ads_v5`, `Standard_D4ds_v5`, ...), or set `osDiskPlacement`."
        ),
    )
    os_disk_placement: OsDiskPlacement | None = Field(
        default=None,
        description=(
            "Where the ephemeral OS disk lives, for a size outside the known table (`ResourceDisk`, `CacheDisk` or "
            "`NvmeDisk`); known sizes use their temp disk."
        ),
    )
    min_instances: int = Field(default=0, ge=0, description="Warm agents kept idle (0 = scale from zero).")
    max_instances: int = Field(ge=0, le=1000, description="Upper bound of concurrent agents (0 disables the pool).")
    spot_enabled: bool = Field(default=True, description="Run agents on Spot capacity (evictable, cheaper).")
    spot_max_price: float = Field(default=-1, description="Spot price cap in USD/hour; -1 caps at the on-demand price.")
    image: ImageConfig = Field(default_factory=ImageConfig)

    @model_validator(mode="after")
    def _sizes_and_prices(self) -> BuildAgentsConfig:
        problems: list[tuple[str, str]] = []
        if self.min_instances > self.max_instances:
            problems.append(("minInstances", f"{self.min_instances} exceeds maxInstances {self.max_instances}"))
        if self.spot_max_price != -1 and self.spot_max_price <= 0:
            problems.append(("spotMaxPrice", "use -1 (on-demand cap) or a positive USD/hour price"))
        if not self.spot_enabled and self.spot_max_price != -1:
            problems.append(("spotMaxPrice", "only applies when spotEnabled is true — remove it"))
        local = LOCAL_DISK_GIB.get(self.vm_size)
        if local is None and self.os_disk_placement is None:
            problems.append(
                (
                    "vmSize",
                    f"{self.vm_size} is not a size known to have a local disk for the agents' ephemeral OS disk — "
                    "use a D-series v5 size with `d` in its name (e.g. Standard_D2ads_v5), or set osDiskPlacement",
                )
            )
        elif local is not None and local < OS_IMAGE_GIB:
            problems.append(("vmSize", f"{self.vm_size}'s {local} GiB local disk cannot hold a {OS_IMAGE_GIB} GiB OS"))
        raise_violations(problems)
        return self
