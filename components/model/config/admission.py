"""Config section of admission: engines, namespaces and their modes, attestations, exceptions."""

from __future__ import annotations

import re
from datetime import date
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from components.model.config.errors import RuleViolation, raise_violations
from components.model.config.fields import ConfigModel, NamespaceName, host_port_problem, today_of
from components.model.config.text import shown
from components.model.contract import MAX_SCAN_AGE_HOURS, RESERVED_NAMESPACES, Engine, MaxSeverity, SbomKind

_REPOSITORY_PATH = re.compile(r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*")


_IMAGE_GLOB = re.compile(
    r"[a-z0-9.-]+(:[0-9]{1,5})?/[a-z0-9._/*-]+(:[A-Za-z0-9_.*-]{1,128})?(@sha256:[0-9a-f*]{1,64})?"
)


_EMAIL = r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[a-z]{2,63}$"


_REPOSITORY_GLOB = re.compile(r"[a-z0-9*]+(?:[._-][a-z0-9*]+)*(?:/[a-z0-9*]+(?:[._-][a-z0-9*]+)*)*")


class ProvenanceRequirement(ConfigModel):
    """SLSA provenance an image must carry (v1 or v0.2 predicate)."""

    signer: str = Field(
        pattern=r"^[0-9a-zA-Z-]{1,127}$",
        description=(
            "Name of the keyless identity of the builder (`signing.keyless[].name`) that signs the provenance: "
            "only it may, never a key the build agents hold."
        ),
    )
    builder_id: str = Field(description="Exact builder id, e.g. the reusable workflow's URI with @refs/tags/vN.")
    source_repository: str = Field(description="Source repository URI, e.g. `https://github.com/contoso/app`.")
    source_ref: str | None = Field(default=None, description="Required source ref, e.g. `refs/heads/main`.")

    @field_validator("builder_id", "source_repository")
    @classmethod
    def _uri(cls, value: str) -> str:
        if "*" in value:
            raise ValueError(f"{shown(value)} contains a wildcard — name the exact builder/repository")
        if not re.fullmatch(r"(https|git\+https)://[A-Za-z0-9.-]+(:[0-9]{1,5})?/[-A-Za-z0-9._~%/@:+=]*", value):
            raise ValueError(f"{shown(value)} must be an https:// URI of a repository or workflow (exact)")
        return value

    @field_validator("source_ref")
    @classmethod
    def _ref(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"refs/(heads|tags)/[-A-Za-z0-9._/+]+", value):
            raise ValueError(f"{shown(value)} must be a full ref such as refs/heads/main")
        return value


class VulnerabilityRequirement(ConfigModel):
    """A signed, recent vulnerability scan an image must carry, with nothing above a severity."""

    max_severity: MaxSeverity = Field(
        description=(
            "Highest severity a finding may have: `none` (no finding at all), `low`, `medium` or `high` (`medium`: "
            "any HIGH or CRITICAL finding denies). A finding the scanner could not rate (UNKNOWN) is above every "
            "level."
        )
    )
    max_age_hours: int = Field(
        ge=1,
        le=MAX_SCAN_AGE_HOURS,
        description=(
            f"How old the scan may be at admission, in hours (1-{MAX_SCAN_AGE_HOURS}): rescan and re-attest "
            "running images more often than this, or their next pod is denied."
        ),
    )

    @field_validator("max_severity", mode="before")
    @classmethod
    def _severity(cls, value: object) -> object:
        if value == "critical":
            raise ValueError(
                "critical would let every finding through — pick none, low, medium or high, or drop the requirement"
            )
        if isinstance(value, str) and value.lower() in {"none", "low", "medium", "high"} and value != value.lower():
            raise ValueError(f"{shown(value)} — write the severity in lower case: {value.lower()}")
        return value

    @field_validator("max_age_hours", mode="before")
    @classmethod
    def _hours(cls, value: object) -> object:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{shown(value)} is not a whole number of hours — write e.g. 24")
        if value < 1:
            raise ValueError(f"{value} hours would refuse every scan — allow at least 1")
        if value > MAX_SCAN_AGE_HOURS:
            raise ValueError(
                f"{value} hours is more than {MAX_SCAN_AGE_HOURS} ({MAX_SCAN_AGE_HOURS // 24} days): a scan that old "
                "misses the vulnerabilities published since — rescan more often and lower it"
            )
        return value


class AttestationRequirements(ConfigModel):
    """Attestations required of every image admitted in a namespace."""

    sbom: SbomKind | None = Field(default=None, description="Required SBOM attestation type.")
    provenance: ProvenanceRequirement | None = None
    vulnerabilities: VulnerabilityRequirement | None = Field(
        default=None,
        description=(
            "Required vulnerability scan (cosign's vuln predicate of a Trivy report), signed like the SBOM by the "
            "namespace's signers."
        ),
    )


class NamespaceConfig(ConfigModel):
    """How admission treats one namespace."""

    mode: Literal["audit", "enforce"] = Field(description="`audit`: report only; `enforce`: deny what fails.")
    audit_until: date | None = Field(
        default=None, description="Migration deadline (YYYY-MM-DD) for audit mode; required in prod."
    )
    existing: bool = Field(default=False, description="Label an existing namespace instead of creating it.")
    signers: list[str] = Field(
        default_factory=list,
        description=(
            "Names of the authorities (`signing.keyless[].name`, `signing.keys[].name`) that may sign images run "
            "here; empty: any trusted authority (flagged by review for enforce namespaces)."
        ),
    )
    repositories: list[str] = Field(
        default_factory=list,
        description=(
            "Repository paths of the stack's registry that images run here must come from (`payments/*`: a `*` "
            "stays within one path segment); empty: any repository."
        ),
    )

    @field_validator("repositories")
    @classmethod
    def _repository_globs(cls, globs: list[str]) -> list[str]:
        problems = [
            (f"[{i}]", f"{shown(glob)} is not a repository path glob such as payments/* (lower-case, no leading /)")
            for i, glob in enumerate(globs)
            if not _REPOSITORY_GLOB.fullmatch(glob) or glob.strip("*/") == ""
        ]
        problems += [
            (f"[{i}]", f"{shown(g)} is listed twice — keep one") for i, g in enumerate(globs) if g in globs[:i]
        ]
        raise_violations(problems)
        return globs

    @model_validator(mode="after")
    def _deadline(self) -> NamespaceConfig:
        if self.audit_until is not None and self.mode == "enforce":
            raise RuleViolation([("auditUntil", "only applies to audit mode — remove it")])
        return self


class PolicyExceptionConfig(ConfigModel):
    """A time-boxed exemption from admission for named images in one namespace."""

    name: NamespaceName = Field(description="Name of the exception (a DNS label).")
    namespace: NamespaceName = Field(description="A namespace listed in admission.namespaces.")
    images: list[str] = Field(min_length=1, description="Image references or globs exempted.")
    owner: str = Field(pattern=_EMAIL, description="E-mail of the accountable owner.")
    reason: str = Field(min_length=10, description="Why the exception exists (ticket, risk acceptance).")
    expires: date = Field(description="Last day (YYYY-MM-DD) the exception applies; expired ones are refused.")

    @field_validator("images")
    @classmethod
    def _images(cls, images: list[str]) -> list[str]:
        problems: list[tuple[str, str]] = []
        for i, image in enumerate(images):
            host, _, rest = image.partition("/")
            repository = re.split(r"[:@]", rest, maxsplit=1)[0]
            if "*" in host or not rest or "*" in repository:
                problems.append(
                    (
                        f"[{i}]",
                        f"{shown(image)} would exempt more than one repository — name the registry and repository "
                        "exactly (a * only in the tag or digest)",
                    )
                )
            elif not _IMAGE_GLOB.fullmatch(image):
                problems.append(
                    (f"[{i}]", f"{shown(image)} is not an image reference or glob (registry/path[:tag|@digest])")
                )
            elif image in images[:i]:
                problems.append((f"[{i}]", f"{shown(image)} is listed twice — keep one"))
        raise_violations(problems)
        return images

    @field_validator("expires")
    @classmethod
    def _not_expired(cls, expires: date, info: ValidationInfo) -> date:
        today = today_of(info)
        if expires < today:
            raise ValueError(f"expired on {expires.isoformat()} — renew it with a new reason or remove it")
        return expires


class ExemptNamespace(ConfigModel):
    """A namespace left outside admission on purpose (an add-on whose images are signed by others)."""

    name: NamespaceName = Field(description="The namespace (never one listed in admission.namespaces).")
    owner: str = Field(pattern=_EMAIL, description="E-mail of who answers for what runs there.")
    reason: str = Field(min_length=10, description="Why nothing there is verified (which images, who signs them).")


class AdmissionConfig(ConfigModel):
    """What the admission engines enforce, per namespace."""

    engines: list[Engine] = Field(min_length=1, description="`kyverno` and/or `policy-controller`.")
    default_mode: Literal["enforce", "audit", "off"] = Field(
        default="enforce",
        description=(
            "How every namespace not listed in `namespaces` (and not exempt) is treated: signatures and the "
            "registry allow-list, enforced or audited. `off` leaves unlisted namespaces unchecked (flagged high by "
            "review); prod requires `enforce`. Kyverno carries it (Policy Controller checks listed enforce "
            "namespaces only)."
        ),
    )
    exempt_namespaces: list[ExemptNamespace] = Field(
        default_factory=list,
        description=(
            "Namespaces outside admission besides kube-system, kyverno and cosign-system, each with an owner and a "
            "reason (flagged by review)."
        ),
    )
    namespaces: dict[NamespaceName, NamespaceConfig] = Field(
        default_factory=dict,
        description="Namespaces with their own mode and requirements (others get `defaultMode`).",
    )
    attestations: dict[NamespaceName, AttestationRequirements] = Field(
        default_factory=dict, description="Attestations required per namespace (keys must be listed namespaces)."
    )
    allowed_registries: list[str] = Field(
        default_factory=list,
        description="Registries (host[:port][/path]) allowed besides the stack's own registry.",
    )
    require_digest: bool = Field(default=True, description="Require images to be referenced by digest.")
    exceptions: list[PolicyExceptionConfig] = Field(
        default_factory=list, description="Time-boxed exemptions (owner, reason, expiry); expired ones are refused."
    )

    @field_validator("engines")
    @classmethod
    def _unique_engines(cls, engines: list[str]) -> list[str]:
        if len(set(engines)) != len(engines):
            raise ValueError("lists an engine twice")
        return engines

    @field_validator("allowed_registries")
    @classmethod
    def _registries(cls, registries: list[str]) -> list[str]:
        problems: list[tuple[str, str]] = []
        for i, reg in enumerate(registries):
            host, _, path = reg.partition("/")
            problem = host_port_problem(host)
            if "*" in reg:
                problem = f"{shown(reg)} is a wildcard — name the registry (and repository path) exactly"
            elif problem is None and "." not in host and ":" not in host and host != "localhost":
                problem = f"{shown(host)} is not a registry host — write its full name, e.g. mcr.microsoft.com"
            elif problem is None and path and not _REPOSITORY_PATH.fullmatch(path):
                problem = f"{shown(path)} is not a repository path (lower-case components separated by '/')"
            elif reg in registries[:i]:
                problem = f"{shown(reg)} is listed twice — keep one"
            if problem is not None:
                problems.append((f"[{i}]", problem))
        raise_violations(problems)
        return registries

    @model_validator(mode="after")
    def _references_and_deadlines(self, info: ValidationInfo) -> AdmissionConfig:
        problems: list[tuple[str, str]] = []
        for ns in self.namespaces:
            if ns in RESERVED_NAMESPACES:
                problems.append(
                    (
                        f"namespaces.{ns}",
                        f"{ns} is never matched by admission (policing it can lock the cluster or the "
                        "engines out) — remove it",
                    )
                )
        listed_exempt = [e.name for e in self.exempt_namespaces]
        for i, name in enumerate(listed_exempt):
            if name in self.namespaces:
                problems.append(
                    (f"exemptNamespaces[{i}].name", f"{name} is listed in admission.namespaces too — keep one")
                )
            elif name in listed_exempt[:i]:
                problems.append((f"exemptNamespaces[{i}].name", f"{name} is exempt twice — keep one"))
            elif name in RESERVED_NAMESPACES:
                problems.append((f"exemptNamespaces[{i}].name", f"{name} is never matched anyway — remove it"))
        if not self.namespaces and self.default_mode == "off":
            problems.append(
                ("namespaces", "no namespace is under admission (defaultMode is off) — list namespaces or set a mode")
            )
        for ns in self.attestations:
            if ns not in self.namespaces:
                problems.append(
                    (
                        f"attestations.{ns}",
                        f"{ns} is not listed in admission.namespaces — add it there or remove this requirement",
                    )
                )
        for i, exc in enumerate(self.exceptions):
            if exc.namespace not in self.namespaces:
                problems.append(
                    (f"exceptions[{i}].namespace", f"{exc.namespace} is not listed in admission.namespaces")
                )
        names = [e.name for e in self.exceptions]
        for i, name in enumerate(names):
            if name in names[:i]:
                problems.append((f"exceptions[{i}].name", f"{shown(name)} is used twice"))
        today = today_of(info)
        for ns, cfg in self.namespaces.items():
            if cfg.audit_until is not None and cfg.audit_until < today:
                problems.append(
                    (
                        f"namespaces.{ns}.auditUntil",
                        f"the audit window closed on {cfg.audit_until.isoformat()} — switch to mode: enforce "
                        "or set a new deadline",
                    )
                )
        raise_violations(problems)
        return self
