"""Config section of admission: engines, namespaces and their modes, attestations, exceptions."""

from __future__ import annotations

import re
from datetime import date
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from components.model.config.errors import RuleViolation, raise_violations
from components.model.config.fields import HOST_PORT, ConfigModel, NamespaceName, today_of
from components.model.config.text import shown
from components.model.contract import RESERVED_NAMESPACES, Engine, SbomKind


class ProvenanceRequirement(ConfigModel):
    """SLSA provenance an image must carry (v1 or v0.2 predicate)."""

    builder_id: str = Field(description="Exact builder id, e.g. the reusable workflow's URI with @refs/tags/vN.")
    source_repository: str = Field(description="Source repository URI, e.g. `https://github.com/contoso/app`.")
    source_ref: str | None = Field(default=None, description="Required source ref, e.g. `refs/heads/main`.")

    @field_validator("builder_id", "source_repository")
    @classmethod
    def _uri(cls, value: str) -> str:
        if not re.match(r"^(https|git\+https)://\S+$", value):
            raise ValueError(f"{shown(value)} must be an https:// URI (exact, no wildcards)")
        if "*" in value:
            raise ValueError(f"{shown(value)} contains a wildcard — name the exact builder/repository")
        return value

    @field_validator("source_ref")
    @classmethod
    def _ref(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"refs/(heads|tags)/\S+", value):
            raise ValueError(f"{shown(value)} must be a full ref such as refs/heads/main")
        return value


class AttestationRequirements(ConfigModel):
    """Attestations required of every image admitted in a namespace."""

    sbom: SbomKind | None = Field(default=None, description="Required SBOM attestation type.")
    provenance: ProvenanceRequirement | None = None


class NamespaceConfig(ConfigModel):
    """How admission treats one namespace."""

    mode: Literal["audit", "enforce"] = Field(description="`audit`: report only; `enforce`: deny what fails.")
    audit_until: date | None = Field(
        default=None, description="Migration deadline (YYYY-MM-DD) for audit mode; required in prod."
    )
    existing: bool = Field(default=False, description="Label an existing namespace instead of creating it.")

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
    owner: str = Field(pattern=r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$", description="E-mail of the accountable owner.")
    reason: str = Field(min_length=10, description="Why the exception exists (ticket, risk acceptance).")
    expires: date = Field(description="Last day (YYYY-MM-DD) the exception applies; expired ones are refused.")

    @field_validator("images")
    @classmethod
    def _images(cls, images: list[str]) -> list[str]:
        for image in images:
            if image.strip() in ("*", "*/*", "**") or not image.strip():
                raise ValueError(f"{shown(image)} would exempt every image — name the images")
        return images

    @field_validator("expires")
    @classmethod
    def _not_expired(cls, expires: date, info: ValidationInfo) -> date:
        today = today_of(info)
        if expires < today:
            raise ValueError(f"expired on {expires.isoformat()} — renew it with a new reason or remove it")
        return expires


class AdmissionConfig(ConfigModel):
    """What the admission engines enforce, per namespace."""

    engines: list[Engine] = Field(min_length=1, description="`kyverno` and/or `policy-controller`.")
    namespaces: dict[NamespaceName, NamespaceConfig] = Field(
        min_length=1, description="Namespaces under admission and their mode (others are not matched)."
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
        for reg in registries:
            host = reg.split("/", 1)[0]
            if "*" in reg or not HOST_PORT.match(host) or ("." not in host and ":" not in host and host != "localhost"):
                raise ValueError(
                    f"{shown(reg)} is not a registry host[:port][/path] (no wildcards, e.g. mcr.microsoft.com)"
                )
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
