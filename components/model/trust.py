"""The trust model: who may sign what, and what each namespace requires, as plain frozen data.

Built from a validated `StackConfig` by one pure function and read by every renderer, so a change of
identity in config changes every document that depends on it and nothing else does. Engine-neutral:
no Kyverno or Policy Controller field names live here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import date
from typing import Any, Literal

from components.model.config import StackConfig
from components.model.contract import (
    PUBLIC_GOOD_REKOR,
    SBOM_FORMATS,
    MaxSeverity,
    Mode,
    SbomFormat,
    SbomKind,
    acr_login_server,
    allowed_severities,
    is_public_good,
)
from components.model.key_authorities import KeyAuthority as KeyAuthority
from components.model.key_authorities import key_authorities


@dataclass(frozen=True)
class KeylessAuthority:
    """A Fulcio certificate identity: exact issuer plus exact subject or anchored subject regex."""

    issuer: str
    subject: str | None = None
    subject_regexp: str | None = None
    name: str | None = None
    """How namespaces' signer lists name it (None: it is trusted wherever any authority is)."""
    provenance_only: bool = False
    """A builder: signs provenance only, never trusted for image signatures."""
    callers: tuple[str, ...] = ()
    """GitHub `owner/repo`s that may run the workflow (empty: only its own repository)."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> KeylessAuthority:
        """An authority back from its `to_json` form."""
        return cls(**{**data, "callers": tuple(data.get("callers", ()))})

    def describe(self) -> str:
        """The identity as a reviewer reads it: subject (or pattern) and issuer."""
        return f"{self.subject or self.subject_regexp} (issuer {self.issuer})"


@dataclass(frozen=True)
class SigstoreInstance:
    """Where keyless certificates and transparency-log entries are checked. Empty = public good."""

    rekor_url: str = PUBLIC_GOOD_REKOR
    rekor_public_key: str | None = None
    ct_log_url: str | None = None
    ct_log_public_key: str | None = None
    fulcio_url: str | None = None
    fulcio_roots: str | None = None
    tsa_url: str | None = None
    tsa_cert_chain: str | None = None
    tuf_mirror: str | None = None
    tuf_root: str | None = None

    @property
    def public_good(self) -> bool:
        """Whether this is Sigstore's public-good instance (its trust material ships with every client)."""
        return is_public_good(self.rekor_url, self.tuf_mirror, self.fulcio_roots)


@dataclass(frozen=True)
class Provenance:
    """SLSA provenance an image must carry: who built it, from which source and ref."""

    builder_id: str
    source_repository: str  # https://host/owner/repo (no git+ prefix)
    source_ref: str | None = None
    signer: KeylessAuthority | None = None
    """The builder's identity: the only one whose provenance counts."""

    @property
    def source_uri(self) -> str:
        """The source as SLSA records it: `git+https://host/owner/repo@<ref>` (prefix when no ref is pinned)."""
        base = f"git+{self.source_repository}"
        return f"{base}@{self.source_ref}" if self.source_ref else f"{base}@"


@dataclass(frozen=True)
class VulnerabilityScan:
    """A signed vulnerability scan an image must carry: at most `max_age_hours` old, nothing above `max_severity`."""

    max_severity: MaxSeverity
    max_age_hours: int

    @property
    def allowed(self) -> tuple[str, ...]:
        """The scanner's severities a finding may have (empty: none at all)."""
        return allowed_severities(self.max_severity)


@dataclass(frozen=True)
class NamespacePolicy:
    """What admission requires in one namespace: its mode, SBOM format, provenance and vulnerability scan."""

    name: str
    mode: Mode
    sbom: SbomKind | None = None
    provenance: Provenance | None = None
    signers: tuple[str, ...] = ()
    """Authority names that may sign images run here (empty: any trusted authority)."""
    repositories: tuple[str, ...] = ()
    """Repository path globs of the stack's registry images run here must come from (empty: any)."""
    vulnerabilities: VulnerabilityScan | None = None

    @property
    def sbom_format(self) -> SbomFormat | None:
        """The required SBOM format's facts (predicate type, list field, ...), if an SBOM is required."""
        return SBOM_FORMATS[self.sbom] if self.sbom else None

    @property
    def sbom_predicate(self) -> str | None:
        """The in-toto predicate type of the required SBOM, if one is required."""
        return SBOM_FORMATS[self.sbom].predicate_type if self.sbom else None


@dataclass(frozen=True)
class Exemption:
    """A time-boxed exemption of named images in one namespace, with its owner and reason."""

    name: str
    namespace: str
    images: tuple[str, ...]
    owner: str
    reason: str
    expires: date


@dataclass(frozen=True)
class NamespaceScope:
    """The namespaces a mode-wide policy selects: those `listed`, or (`everything`) every namespace but
    those `excluded`. The engines' own and kube-system are never selected either way."""

    everything: bool
    listed: tuple[str, ...] = ()
    excluded: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return self.everything or bool(self.listed)


@dataclass(frozen=True)
class TrustModel:
    """Who may sign, from which Sigstore instance, and what each namespace requires."""

    keyless: tuple[KeylessAuthority, ...]
    keys: tuple[KeyAuthority, ...]
    sigstore: SigstoreInstance
    signed_registries: tuple[str, ...]  # images from here must be signed (the stack's registry)
    allowed_registries: tuple[str, ...]  # images from anywhere else are refused
    namespaces: tuple[NamespacePolicy, ...]
    require_digest: bool
    exemptions: tuple[Exemption, ...] = field(default=())
    plain_http_registry: bool = False
    registry_pull_secret: str | None = None
    signature_format: Literal["bundle", "legacy"] = "bundle"  # what signers write (Kyverno detects either)
    default_mode: Mode | None = None
    """How unlisted namespaces are treated; None leaves them unchecked."""
    exempt_namespaces: tuple[str, ...] = ()
    """Namespaces outside admission on purpose (besides the never-matched system and engine ones)."""

    def in_mode(self, mode: Mode) -> tuple[NamespacePolicy, ...]:
        """The listed namespaces admitted in `mode`."""
        return tuple(ns for ns in self.namespaces if ns.mode == mode)

    def scope(self, mode: Mode) -> NamespaceScope:
        """The namespaces `mode`'s signature and registry policies select: its listed ones, and every
        unlisted, non-exempt namespace when `mode` is the default."""
        if mode == self.default_mode:
            others = [ns.name for ns in self.namespaces if ns.mode != mode]
            return NamespaceScope(True, excluded=tuple(sorted({*others, *self.exempt_namespaces})))
        return NamespaceScope(False, listed=tuple(sorted(ns.name for ns in self.in_mode(mode))))

    def signers_of(self, ns: NamespacePolicy) -> TrustModel:
        """The model as `ns` sees it: only the authorities its signer list names (all, if it names none)."""
        if not ns.signers:
            return self
        return replace(
            self,
            keyless=tuple(k for k in self.keyless if k.name in ns.signers),
            keys=tuple(k for k in self.keys if k.authority_name in ns.signers),
        )

    def namespace(self, name: str) -> NamespacePolicy:
        """The policy of the namespace called `name`."""
        return next(ns for ns in self.namespaces if ns.name == name)

    def with_public_keys(self, pems: Mapping[str, str]) -> TrustModel:
        """The same model with public keys filled in for keys known only at deploy time (generated)."""
        keys = tuple(replace(k, public_key_pem=pems[k.name]) if k.name in pems else k for k in self.keys)
        return replace(self, keys=keys)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TrustModel:
        """The model back from its `to_json` form (the `trustModel` stack output). Keys that may hold null
        are read with `get` (an output without its null entries reads the same); fields added after the
        first outputs (signers, repositories, callers, exempt namespaces, vulnerability scans) default to their
        absence; every other key is required: each output ever written holds it."""
        namespaces = []
        for ns in data["namespaces"]:
            provenance = None
            if ns.get("provenance"):
                signer = ns["provenance"].get("signer")
                provenance = Provenance(
                    **{**ns["provenance"], "signer": KeylessAuthority.from_json(signer) if signer else None}
                )
            namespaces.append(
                NamespacePolicy(
                    ns["name"],
                    ns["mode"],
                    ns.get("sbom"),
                    provenance,
                    tuple(ns.get("signers", ())),
                    tuple(ns.get("repositories", ())),
                    VulnerabilityScan(**scan) if (scan := ns.get("vulnerabilities")) else None,
                )
            )
        return cls(
            keyless=tuple(KeylessAuthority.from_json(k) for k in data["keyless"]),
            keys=tuple(KeyAuthority(**k) for k in data["keys"]),
            sigstore=SigstoreInstance(**data["sigstore"]),
            signed_registries=tuple(data["signed_registries"]),
            allowed_registries=tuple(data["allowed_registries"]),
            namespaces=tuple(namespaces),
            require_digest=bool(data["require_digest"]),
            exemptions=tuple(
                Exemption(**{**e, "images": tuple(e["images"]), "expires": date.fromisoformat(e["expires"])})
                for e in data["exemptions"]
            ),
            plain_http_registry=bool(data["plain_http_registry"]),
            registry_pull_secret=data.get("registry_pull_secret"),
            signature_format=data["signature_format"],
            default_mode=data.get("default_mode"),
            exempt_namespaces=tuple(data.get("exempt_namespaces", ())),
        )

    def to_json(self) -> dict[str, Any]:
        """The model as JSON-ready data: a stack output the post-deploy checks read."""
        data = asdict(self)
        for ex in data["exemptions"]:
            ex["expires"] = ex["expires"].isoformat()
        return data


def registry_login_server(config: StackConfig) -> str:
    """The registry host images are pushed to: `<name>.azurecr.io` for an ACR the stack creates."""
    if config.registry.name is not None:
        return acr_login_server(config.registry.name)
    assert config.registry.login_server is not None  # the config model requires one of the two
    return config.registry.login_server


def trust_model(config: StackConfig) -> TrustModel:
    """The trust model of a validated stack config (pure; no Pulumi, no network)."""
    sig = config.signing.sigstore
    admission = config.admission
    login_server = registry_login_server(config)
    namespaces: list[NamespacePolicy] = []
    exemptions: list[Exemption] = []
    allowed: list[str] = [login_server]
    require_digest = True
    authorities = [
        KeylessAuthority(k.issuer, k.subject, k.subject_reg_exp, k.name, k.provenance_only, tuple(k.callers))
        for k in config.signing.keyless
    ]
    identities = {k.name: k for k in authorities if k.name is not None}
    if admission is not None:
        for name, ns in sorted(admission.namespaces.items()):
            required = admission.attestations.get(name)
            scan = required.vulnerabilities if required else None
            provenance = None
            if required is not None and required.provenance is not None:
                p = required.provenance
                provenance = Provenance(
                    p.builder_id,
                    p.source_repository.removeprefix("git+"),
                    p.source_ref,
                    identities.get(p.signer),
                )
            namespaces.append(
                NamespacePolicy(
                    name,
                    ns.mode,
                    required.sbom if required else None,
                    provenance,
                    tuple(ns.signers),
                    tuple(ns.repositories),
                    VulnerabilityScan(scan.max_severity, scan.max_age_hours) if scan else None,
                )
            )
        exemptions = [
            Exemption(e.name, e.namespace, tuple(e.images), e.owner, e.reason, e.expires) for e in admission.exceptions
        ]
        allowed += [r for r in admission.allowed_registries if r not in allowed]
        require_digest = admission.require_digest
    return TrustModel(
        # a provenance-only builder signs no image: it appears only as its namespaces' provenance signer
        keyless=tuple(k for k in authorities if not k.provenance_only),
        keys=tuple(key_authorities(config)),
        sigstore=SigstoreInstance(
            rekor_url=sig.rekor_url or PUBLIC_GOOD_REKOR,
            rekor_public_key=sig.rekor_public_key,
            ct_log_url=sig.ct_log_url,
            ct_log_public_key=sig.ct_log_public_key,
            fulcio_url=sig.fulcio_url,
            fulcio_roots=sig.fulcio_roots,
            tsa_url=sig.tsa_url,
            tsa_cert_chain=sig.tsa_cert_chain,
            tuf_mirror=sig.tuf_mirror,
            tuf_root=sig.tuf_root,
        ),
        signed_registries=(login_server,),
        allowed_registries=tuple(allowed),
        namespaces=tuple(namespaces),
        require_digest=require_digest,
        exemptions=tuple(exemptions),
        plain_http_registry=config.registry.plain_http_enabled,
        registry_pull_secret=config.registry.pull_secret_name,
        signature_format=config.signing.signature_format,
        default_mode=None if admission is None or admission.default_mode == "off" else admission.default_mode,
        exempt_namespaces=tuple(e.name for e in admission.exempt_namespaces) if admission else (),
    )
