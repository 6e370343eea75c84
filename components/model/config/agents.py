"""Config section of the ephemeral build agents and the CI service they serve."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from components.model.config.errors import raise_violations
from components.model.config.fields import ConfigModel
from components.model.config.text import shown
from components.model.registry_permissions import (
    MAX_REPOSITORY_PATTERNS,
    RepositoryPattern,
    pattern_problem,
    push_condition,
)

_MARKETPLACE_NAME = r"^[A-Za-z0-9][-A-Za-z0-9_.]{0,63}$"
_GITHUB_ORG = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})"
_GITHUB_REPO = rf"{_GITHUB_ORG}/[A-Za-z0-9._-]{{1,100}}"
_WORKFLOW_REF = (
    rf"{_GITHUB_REPO}/\.github/workflows/[A-Za-z0-9._-]{{1,100}}\.ya?ml@refs/(heads|tags)/[A-Za-z0-9._/-]{{1,200}}"
)
_GUID = r"[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}"
_VAULT_ID = re.compile(
    rf"/subscriptions/{_GUID}/resource[gG]roups/[-A-Za-z0-9_.()]{{1,90}}"
    r"/providers/Microsoft\.KeyVault/vaults/[A-Za-z0-9-]{3,24}"
)
_GALLERY_IMAGE_ID = re.compile(
    rf"/subscriptions/{_GUID}/resource[gG]roups/[-A-Za-z0-9_.()]{{1,90}}/providers/Microsoft\.Compute/galleries/"
    r"[A-Za-z0-9_.]{1,80}/images/[-A-Za-z0-9_.]{1,80}/versions/(?P<version>[0-9]{1,9}\.[0-9]{1,9}\.[0-9]{1,9}|latest)"
)

MAX_FEDERATED_REPOSITORIES = 20
"""Azure's limit of federated credentials on one managed identity: one per repository the pool pushes for."""


class RunnerConfig(ConfigModel):
    """The GitHub organisation the agents serve, and which of its jobs they take."""

    kind: Literal["github"] = Field(
        description="`github` (Actions runners registered just in time, one job each). Azure DevOps is not built."
    )
    scope: str = Field(description="The GitHub organisation (`<org>`); runners join one of its runner groups.")
    labels: list[str] = Field(
        default_factory=list,
        max_length=20,
        description="Labels besides `self-hosted` (a job's `runs-on` must use only these to reach the pool).",
    )
    group: str = Field(
        default="supply-chain",
        pattern=r"^[A-Za-z0-9][-A-Za-z0-9_. ]{0,62}[A-Za-z0-9]$",
        description="Runner group the agents join; its settings (repositories, workflows) are output for review.",
    )
    manage_group: bool = Field(
        default=False,
        description=(
            "Create and keep the runner group with the Pulumi GitHub provider (`pulumi up` then needs a GitHub "
            "token or App allowed to administer the organisation's runner groups, e.g. `GITHUB_TOKEN`); false: the "
            "group's settings are only output, and the post-deploy check compares them with GitHub's."
        ),
    )
    repositories: list[str] = Field(
        min_length=1,
        max_length=MAX_FEDERATED_REPOSITORIES,
        description=(
            "Repositories (`<org>/<repo>`) whose jobs the pool takes and which may push and sign from it "
            f"(one federated credential each; at most {MAX_FEDERATED_REPOSITORIES})."
        ),
    )
    workflows: list[str] = Field(
        default_factory=list,
        max_length=50,
        description=(
            "Restrict the runner group to these workflows (`<org>/<repo>/.github/workflows/<file>@<ref>`); "
            "empty: any workflow of the listed repositories."
        ),
    )
    push_ref: str = Field(
        default="refs/heads/main",
        pattern=r"^refs/(heads|tags)/[A-Za-z0-9._/-]{1,200}$",
        description=(
            "The git ref whose jobs may log in as the agents' job identity (OIDC federation) to push and sign."
        ),
    )

    @model_validator(mode="after")
    def _org_and_names(self) -> RunnerConfig:
        problems: list[tuple[str, str]] = []
        if not re.fullmatch(_GITHUB_ORG, self.scope):
            hint = " — list the repository in runner.repositories instead" if "/" in self.scope else ""
            problems.append(("scope", f"{shown(self.scope)} is not a GitHub organisation{hint}"))
        for i, label in enumerate(self.labels):
            if not re.fullmatch(r"[A-Za-z0-9._-]{1,64}", label):
                problems.append((f"labels[{i}]", f"{shown(label)} is not a runner label (letters, digits, . _ -)"))
        lowered = [label.lower() for label in self.labels]
        for i, label in enumerate(lowered):
            if label == "self-hosted" or label in lowered[:i]:
                problems.append((f"labels[{i}]", f"{shown(label)} is listed twice (`self-hosted` is implied)"))
        seen: set[str] = set()
        for i, repo in enumerate(self.repositories):
            if not re.fullmatch(_GITHUB_REPO, repo):
                problems.append((f"repositories[{i}]", f"{shown(repo)} is not `<org>/<repo>`"))
            elif repo.split("/", 1)[0].lower() != self.scope.lower():
                problems.append((f"repositories[{i}]", f"{shown(repo)} is outside the organisation {self.scope}"))
            elif repo.lower() in seen:
                problems.append((f"repositories[{i}]", f"{shown(repo)} is listed twice"))
            seen.add(repo.lower())
        for i, workflow in enumerate(self.workflows):
            if not re.fullmatch(_WORKFLOW_REF, workflow):
                problems.append(
                    (f"workflows[{i}]", f"{shown(workflow)} is not `<org>/<repo>/.github/workflows/<file>@<ref>`")
                )
            elif workflow.split("/", 1)[0].lower() != self.scope.lower():
                problems.append((f"workflows[{i}]", f"{shown(workflow)} is outside the organisation {self.scope}"))
        raise_violations(problems)
        return self

    @property
    def all_labels(self) -> tuple[str, ...]:
        """Every label the agents register with: `self-hosted` first, then the configured ones."""
        return ("self-hosted", *self.labels)


class RunnerPackageConfig(ConfigModel):
    """The Actions runner release the agents download at boot, pinned by checksum."""

    version: str = Field(pattern=r"^[0-9]{1,3}\.[0-9]{1,4}\.[0-9]{1,4}$", description="Runner release, e.g. `2.320.0`.")
    sha256: str = Field(
        pattern=r"^[0-9a-f]{64}$",
        description="SHA-256 of `actions-runner-linux-x64-<version>.tar.gz` (from the release page); a mismatch "
        "stops the agent before the runner starts.",
    )

    @property
    def url(self) -> str:
        """Where the release lives (github.com, then its release-assets host)."""
        return (
            f"https://github.com/actions/runner/releases/download/v{self.version}/"
            f"actions-runner-linux-x64-{self.version}.tar.gz"
        )


class ControlPlaneConfig(ConfigModel):
    """The webhook receiver's GitHub App and where its two secrets live."""

    app_id: int = Field(ge=1, le=10**10, description="The GitHub App's id (not secret).")
    installation_id: int = Field(ge=1, le=10**12, description="The App's installation id in the organisation.")
    vault_id: str = Field(
        description=(
            "Resource id of the Key Vault holding the webhook secret and the App's private key; the control plane "
            "reads those two secrets only (Key Vault Secrets User on each)."
        )
    )
    webhook_secret_name: str = Field(
        pattern=r"^[A-Za-z0-9-]{1,127}$", description="Name of the secret holding the webhook's HMAC secret."
    )
    app_private_key_secret_name: str = Field(
        pattern=r"^[A-Za-z0-9-]{1,127}$", description="Name of the secret holding the App's private key (PEM)."
    )

    @field_validator("vault_id")
    @classmethod
    def _vault_id(cls, value: str) -> str:
        if not _VAULT_ID.fullmatch(value):
            raise ValueError(
                "must be /subscriptions/<guid>/resourceGroups/<rg>/providers/Microsoft.KeyVault/vaults/<name>"
            )
        return value

    def secret_id(self, name: str) -> str:
        """The resource id of one of the control plane's secrets (the scope of its read role)."""
        return f"{self.vault_id}/secrets/{name}"


class ImageConfig(ConfigModel):
    """The agents' OS image: a marketplace image, or an image of the estate's compute gallery."""

    publisher: str = Field(default="Canonical", pattern=_MARKETPLACE_NAME, description="Image publisher.")
    offer: str = Field(default="ubuntu-24_04-lts", pattern=_MARKETPLACE_NAME, description="Image offer.")
    sku: str = Field(
        default="server", pattern=_MARKETPLACE_NAME, description="Image SKU (a Gen2 image: Trusted Launch)."
    )
    version: str = Field(
        default="latest",
        pattern=r"^(latest|[0-9]{1,9}\.[0-9]{1,9}\.[0-9]{1,12})$",
        description="`latest` or a version such as `24.04.202510010`; prod refuses `latest`.",
    )
    gallery_image_id: str | None = Field(
        default=None,
        description=(
            "Resource id of a compute-gallery image version (`.../galleries/<g>/images/<i>/versions/<x.y.z>`) "
            "instead of the marketplace image; prod refuses `latest`."
        ),
    )

    @field_validator("gallery_image_id")
    @classmethod
    def _gallery_image(cls, value: str | None) -> str | None:
        if value is not None and not _GALLERY_IMAGE_ID.fullmatch(value):
            raise ValueError(
                "must be /subscriptions/<guid>/resourceGroups/<rg>/providers/Microsoft.Compute/galleries/<gallery>"
                "/images/<image>/versions/<x.y.z>"
            )
        return value

    @property
    def pinned(self) -> bool:
        """Whether the image names one version, so a change of image goes through review."""
        if self.gallery_image_id is not None:
            match = _GALLERY_IMAGE_ID.fullmatch(self.gallery_image_id)
            return match is not None and match["version"] != "latest"
        return self.version != "latest"


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
    """Ephemeral, isolated build agents: one Spot VM per queued job, created on demand, gone after it."""

    runner: RunnerConfig
    push_repositories: list[str] = Field(
        default_factory=list,
        description=(
            "Repositories of the stack's registry the pool's jobs may push to (they read every repository), e.g. "
            "`shop/api`, or "
            "`payments/**` for every repository under `payments/` at any depth; a `*` within one segment is refused "
            "(ACR's condition matches a name exactly or by prefix). Required with the registry's repository "
            f"permissions (`registry.repositoryPermissionsEnabled`); at most {MAX_REPOSITORY_PATTERNS}."
        ),
    )
    runner_package: RunnerPackageConfig = Field(description="The Actions runner release, pinned by SHA-256.")
    control_plane: ControlPlaneConfig = Field(
        description="The webhook receiver that turns each queued job into one VM and one single-use registration."
    )
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
    max_instances: int = Field(ge=0, le=1000, description="Upper bound of concurrent agents (0 disables the pool).")
    spot_enabled: bool = Field(default=True, description="Run agents on Spot capacity (evicted VMs are deleted).")
    spot_max_price: float = Field(default=-1, description="Spot price cap in USD/hour; -1 caps at the on-demand price.")
    job_timeout_minutes: int = Field(
        default=120, ge=5, le=1440, description="An agent deletes itself (and the reaper deletes it) after this long."
    )
    registration_timeout_minutes: int = Field(
        default=10,
        ge=2,
        le=60,
        description="An agent that has not read its registration by then deletes itself, or the reaper deletes it.",
    )
    image: ImageConfig = Field(default_factory=ImageConfig)

    @field_validator("push_repositories")
    @classmethod
    def _push_repositories(cls, patterns: list[str]) -> list[str]:
        if len(patterns) > MAX_REPOSITORY_PATTERNS:
            raise ValueError(
                f"lists {len(patterns)} repositories, more than {MAX_REPOSITORY_PATTERNS} — group them under "
                "prefixes (payments/**)"
            )
        problems: list[tuple[str, str]] = []
        parsed: list[RepositoryPattern] = []
        for i, text in enumerate(patterns):
            if (problem := pattern_problem(text)) is not None:
                problems.append((f"[{i}]", f"{shown(text)} {problem}"))
                continue
            pattern = RepositoryPattern.parse(text)
            if (earlier := next((p for p in parsed if p.covers(pattern)), None)) is not None:
                again = "is listed twice" if earlier == pattern else f"is already reached by {earlier}"
                problems.append((f"[{i}]", f"{shown(text)} {again} — remove it"))
            elif (later := next((p for p in parsed if pattern.covers(p)), None)) is not None:
                problems.append((f"[{i}]", f"{shown(text)} reaches {later}, listed before it — remove {later}"))
            parsed.append(pattern)
        if not problems and parsed:
            try:
                push_condition(parsed)
            except ValueError as too_long:
                problems.append(("", str(too_long)))
        raise_violations(problems)
        return patterns

    @model_validator(mode="after")
    def _sizes_and_prices(self) -> BuildAgentsConfig:
        problems: list[tuple[str, str]] = []
        if self.spot_max_price != -1 and self.spot_max_price <= 0:
            problems.append(("spotMaxPrice", "use -1 (on-demand cap) or a positive USD/hour price"))
        if not self.spot_enabled and self.spot_max_price != -1:
            problems.append(("spotMaxPrice", "only applies when spotEnabled is true — remove it"))
        if self.registration_timeout_minutes >= self.job_timeout_minutes:
            problems.append(("registrationTimeoutMinutes", "must be shorter than jobTimeoutMinutes"))
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

    @property
    def os_disk_location(self) -> OsDiskPlacement:
        """Where the ephemeral OS disk goes: the configured placement, else the known size's temp disk."""
        return self.os_disk_placement or "ResourceDisk"
