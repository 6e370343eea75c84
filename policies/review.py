"""Review findings over a validated stack config.

The config model refuses what is never acceptable; these rules report what is allowed but must be
a conscious, reviewed choice (the insecure option spelled out in stack config). The offline plan
prints them; the policy pack for `pulumi preview --policy-pack` will run the same functions.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from components.config import PROJECT, StackConfig

Severity = Literal["high", "medium", "low", "info"]
SEVERITY_ORDER: dict[Severity, int] = {"high": 0, "medium": 1, "low": 2, "info": 3}


@dataclass(frozen=True)
class Finding:
    severity: Severity
    key: str
    message: str

    def as_json(self) -> dict[str, str]:
        return {"severity": self.severity, "key": self.key, "message": self.message}


def _key(path: str) -> str:
    return f"{PROJECT}:{path}"


def review(config: StackConfig) -> list[Finding]:
    """Every finding, most severe first."""
    return sorted(_findings(config), key=lambda f: (SEVERITY_ORDER[f.severity], f.key))


def _findings(config: StackConfig) -> Iterator[Finding]:
    registry = config.registry
    if registry.public_network_access_enabled:
        ranges = ", ".join(str(r) for r in registry.allowed_ip_ranges)
        yield Finding(
            "high",
            _key("registry.publicNetworkAccessEnabled"),
            f"the registry's public endpoint is open to {ranges}; prefer the private endpoint only",
        )
    if registry.azure_services_bypass_enabled:
        yield Finding(
            "medium",
            _key("registry.azureServicesBypassEnabled"),
            "trusted Azure services bypass the registry's network rules",
        )
    if config.network is not None and config.network.egress.mode == "nsg-only":
        yield Finding(
            "high",
            _key("network.egress.mode"),
            "nsg-only egress cannot restrict Sigstore, GitHub or package hosts by name: agents can reach "
            "anything in the allowed service tags and the Internet ranges behind them",
        )
    if config.network is not None:
        for fqdn in config.network.egress.extra_allowed_fqdns:
            yield Finding("info", _key("network.egress.extraAllowedFqdns"), f"agents may reach {fqdn}")
    if config.build_agents is not None and config.build_agents.image.version == "latest":
        severity: Literal["medium", "low"] = "medium" if config.environment == "prod" else "low"
        yield Finding(
            severity,
            _key("buildAgents.image.version"),
            "agent image is not pinned (latest); pin a version so image changes go through review",
        )
    if config.admission is not None:
        for ns, cfg in sorted(config.admission.namespaces.items()):
            if cfg.mode == "audit":
                until = f" until {cfg.audit_until.isoformat()}" if cfg.audit_until else " with no deadline"
                yield Finding(
                    "medium" if config.environment == "prod" else "info",
                    _key(f"admission.namespaces.{ns}.mode"),
                    f"{ns} admits unsigned images (audit){until}",
                )
        if not config.admission.require_digest:
            yield Finding(
                "medium",
                _key("admission.requireDigest"),
                "images may be referenced by tag; a tag moved after admission runs different code",
            )
        for i, exc in enumerate(config.admission.exceptions):
            yield Finding(
                "medium",
                _key(f"admission.exceptions[{i}]"),
                f"{exc.namespace}: {', '.join(exc.images)} exempt until {exc.expires.isoformat()} "
                f"(owner {exc.owner}: {exc.reason})",
            )
    for i, identity in enumerate(config.signing.keyless):
        if identity.subject_reg_exp is not None:
            yield Finding(
                "low",
                _key(f"signing.keyless[{i}].subjectRegExp"),
                f"identities matching {identity.subject_reg_exp} may sign; an exact subject is narrower",
            )
