"""Independent verification of an image against the trust model: every signature and attestation
attached to it (both layouts) is verified offline, and the namespace's requirements are checked
with the same meaning the admission policies give them."""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

from sigstore.models import TrustedRoot

from components.model.contract import (
    GITHUB_ACTIONS_ISSUER,
    SLSA_PROVENANCE_TYPES,
    VULN_SCAN_PREDICATE,
    repository_glob_regex,
)
from components.model.trust import KeyAuthority, NamespacePolicy, TrustModel
from scripts.checks.cosign import CERTIFICATE_ANNOTATION, REKOR_BUNDLE_ANNOTATION, Found, ImageRef, find
from scripts.checks.documents import field, json_object
from scripts.checks.errors import CheckError
from scripts.checks.oci import Registry
from scripts.checks.provenance import meets_provenance
from scripts.checks.scans import scan_problem
from scripts.checks.signed import Subject
from scripts.checks.verification import (
    IdentityPolicy,
    KeyScheme,
    PublicKey,
    Verified,
    load_public_key,
    verify_legacy_key,
    verify_legacy_keyless,
    verify_with_identity,
    verify_with_key,
)


@dataclass(frozen=True)
class Proof:
    """One signature or attestation found on the image, and whether a trusted authority made it."""

    layout: str
    kind: str
    predicate_type: str | None
    verified_by: str | None
    reason: str = ""
    statement: dict[str, Any] | None = None
    signer: str = ""
    """Who signed it, as the signature itself says (a certificate's identity, which an identity pattern of the
    trust model only matched)."""


@dataclass(frozen=True)
class ImageReport:
    """Every proof found on one image."""

    image: str
    proofs: tuple[Proof, ...]
    signature_format: str | None = None
    """The layout admission reads in this stack ("legacy" or "bundle"); None: either counts."""

    def counted(self) -> list[Proof]:
        """The proofs admission reads: Policy Controller verifies only the stack's layout (and Kyverno, told
        nothing, reads bundles when any is attached), so a proof in the other layout vouches for nothing."""
        return [p for p in self.proofs if self.signature_format in (None, p.layout)]

    @property
    def signed(self) -> bool:
        """Whether a trusted signer signed the image (in the stack's layout)."""
        return any(p.kind == "signature" and p.verified_by for p in self.counted())

    def stray_referrers(self) -> list[Proof]:
        """Bundles on a legacy stack's image that no trusted authority made: any one of them switches Kyverno
        to bundle mode, where the legacy signatures the stack relies on are no longer read."""
        if self.signature_format != "legacy":
            return []
        return [p for p in self.proofs if p.layout == "bundle" and not p.verified_by]

    def signed_by(self, by: Collection[str]) -> bool:
        """Whether one of the authorities described `by` signed the image (in the stack's layout)."""
        return any(p.kind == "signature" and p.verified_by in by for p in self.counted())

    def statements(self, predicate_type: str, by: Collection[str] | None = None) -> list[dict[str, Any]]:
        """The in-toto statements of `predicate_type` that a trusted signer (or one described `by`) attested."""
        return [
            p.statement
            for p in self.counted()
            if p.kind == "attestation"
            and p.verified_by
            and (by is None or p.verified_by in by)
            and p.predicate_type == predicate_type
            and p.statement
        ]


def _identities(model: TrustModel, kind: str) -> list[IdentityPolicy]:
    """The identities that may have made a proof of `kind`: for attestations, the namespaces' builders
    too (they sign provenance only, never an image)."""
    authorities = list(model.keyless)
    if kind == "attestation":
        builders = [ns.provenance.signer for ns in model.namespaces if ns.provenance and ns.provenance.signer]
        authorities += [b for b in builders if b not in authorities]
    return [
        IdentityPolicy(
            k.issuer,
            subject=k.subject,
            subject_regexp=k.subject_regexp,
            bind_caller=k.issuer == GITHUB_ACTIONS_ISSUER and not k.provenance_only,
            callers=k.callers,
        )
        for k in authorities
    ]


def _first(attempts: list[tuple[str, Callable[[], Verified]]]) -> tuple[str | None, str, str]:
    """The first authority whose verification passes and who signed, else every reason each failed."""
    reasons = []
    for name, attempt in attempts:
        try:
            return name, attempt().signer, ""
        except CheckError as exc:
            reasons.append(f"{name}: {exc}")
    return None, "", "; ".join(reasons) or "no trusted authority of this kind"


def _keys(model: TrustModel) -> tuple[list[tuple[KeyAuthority, PublicKey]], list[str]]:
    """The keys pinned by value (each with its loaded public key), and a note for each known by KMS URI only."""
    usable = [(k, load_public_key(k.public_key_pem.encode())) for k in model.keys if k.public_key_pem]
    skipped = [
        f"{k.name}: known by KMS URI only (pin signing.keys[].publicKey to verify it here)"
        for k in model.keys
        if not k.public_key_pem
    ]
    return usable, skipped


def key_scheme(key: KeyAuthority) -> KeyScheme:
    """How the engines verify `key`'s signatures: with its hash, and RSASSA-PSS too when they ask its KMS."""
    return KeyScheme(key.hash_algorithm, rsa_pss=key.verified_through_kms)


def verify_found(found: Found, image: ImageRef, model: TrustModel, root: TrustedRoot) -> Proof:
    """Verify one signature or attestation against every trusted authority of its kind."""
    statement = json_object(found.payload) if found.payload_type else None
    if not found.names(image):
        return Proof(found.layout, found.kind, found.predicate_type, None, "signs another image's digest")
    subject = Subject(bytes.fromhex(image.digest.removeprefix("sha256:")))
    keys, skipped = _keys(model)
    attempts: list[tuple[str, Callable[[], Verified]]] = []
    signed, signature = found.content(), found.signature
    if found.layout == "bundle" and found.bundle is not None:
        bundle = found.bundle
        material = field(json_object(bundle), "verificationMaterial")
        material = material if isinstance(material, dict) else {}
        if "publicKey" not in material:
            attempts += [
                (i.describe(), partial(verify_with_identity, bundle, subject, root, i))
                for i in _identities(model, found.kind)
            ]
        # a key vouches only for a bundle that names a key (sigstore-go, which the engines use, verifies a key's
        # signature in no other bundle, and refuses one without verification material)
        for key, public in keys if "publicKey" in material else []:
            if material.get("tlogEntries"):
                attempts.append((key.describe(), partial(verify_with_key, bundle, subject, root, public)))
            else:  # a bundle made offline: only a key that does not require the log can vouch for it
                check = partial(
                    verify_legacy_key,
                    signed,
                    signature,
                    public,
                    root,
                    None,
                    log_required=key.transparency_log_required,
                    scheme=key_scheme(key),
                )
                attempts.append((key.describe(), check))
    else:
        certificate = found.annotation(CERTIFICATE_ANNOTATION)
        rekor = found.annotation(REKOR_BUNDLE_ANNOTATION)
        if certificate and rekor:
            attempts += [
                (
                    i.describe(),
                    partial(verify_legacy_keyless, signed, signature, certificate.encode(), rekor.encode(), root, i),
                )
                for i in _identities(model, found.kind)
            ]
        elif not certificate:
            for key, public in keys:
                check = partial(
                    verify_legacy_key,
                    signed,
                    signature,
                    public,
                    root,
                    rekor.encode() if rekor else None,
                    log_required=key.transparency_log_required,
                    scheme=key_scheme(key),
                )
                attempts.append((key.describe(), check))
    verified_by, signer, reason = _first(attempts)
    if verified_by is None and skipped:  # a refusal always has a reason (at least "no trusted authority...")
        reason = "; ".join([reason, *skipped])
    return Proof(found.layout, found.kind, found.predicate_type, verified_by, reason, statement, signer)


def check_image(registry: Registry, image: ImageRef, model: TrustModel, root: TrustedRoot) -> ImageReport:
    """Every signature and attestation on `image`, each verified against the trust model."""
    proofs = tuple(verify_found(f, image, model, root) for f in find(registry, image))
    return ImageReport(str(image), proofs, model.signature_format)


def _names_something(statement: dict[str, Any], list_field: str) -> bool:
    """Whether an SBOM statement lists at least one entry with a name (as the SBOM policy requires)."""
    entries = field(statement, "predicate", list_field)
    return isinstance(entries, list) and any(
        isinstance(e, dict) and isinstance(e.get("name"), str) and e["name"] != "" for e in entries
    )


def requirement_problems(
    report: ImageReport, ns: NamespacePolicy, model: TrustModel, *, now: datetime | None = None
) -> list[str]:
    """What the namespace requires and the image lacks, in the policies' terms (empty: admissible): the
    registry allow-list, then for the stack's registries the namespace's repositories and signers, its SBOM,
    its provenance (signed by its builder) and its vulnerability scan (signed like the SBOM, fresh at `now`,
    the current time unless given)."""
    location, _, _ = report.image.partition("@")
    registry, _, repository = location.partition("/")
    if registry not in model.allowed_registries:
        return [f"registry {registry} is not one of the allowed registries ({', '.join(model.allowed_registries)})"]
    if registry not in model.signed_registries:
        return []  # an extra allowed registry: admitted by the allow-list, no signature required
    problems = []
    if ns.repositories and not any(re.fullmatch(repository_glob_regex(g), repository) for g in ns.repositories):
        problems.append(f"repository {repository} is not one of {ns.name}'s ({', '.join(ns.repositories)})")
    tenant = model.signers_of(ns)
    # who vouches for the image, its SBOM and its scan, as the engines' attestors do: the namespace's signers, or
    # every image authority; never a provenance-only builder, though its attestations verify for provenance
    signers = {a.describe() for a in tenant.keyless} | {k.describe() for k in tenant.keys}
    if not report.signed:
        problems.append("no signature by a trusted signer")
    elif ns.signers and not report.signed_by(signers):
        problems.append(f"no signature by {ns.name}'s signers ({', '.join(ns.signers)})")
    if (sbom := ns.sbom_format) is not None:
        sboms = report.statements(sbom.predicate_type, by=signers)
        if not sboms:
            problems.append(f"no {ns.sbom} SBOM attestation by a trusted signer")
        elif not any(_names_something(s, sbom.list_field) for s in sboms):
            problems.append(f"the {ns.sbom} SBOM lists no {sbom.item} with a name")
    if (p := ns.provenance) is not None:
        builder = p.signer.describe() if p.signer is not None else None
        statements = [s for t in SLSA_PROVENANCE_TYPES for s in report.statements(t, by={builder} if builder else None)]
        if not any(meets_provenance(p, s) for s in statements):
            problems.append(
                f"no SLSA provenance by {builder or 'a trusted signer'} naming builder {p.builder_id} "
                f"and source {p.source_uri}"
            )
    if (scan := ns.vulnerabilities) is not None:
        scans = report.statements(VULN_SCAN_PREDICATE, by=signers)
        if (problem := scan_problem(scan, scans, now or datetime.now(UTC))) is not None:
            problems.append(problem)
    return problems


def encode_proof(proof: Proof) -> str:
    """A short, stable text of a proof for reports."""
    status = f"verified by {proof.verified_by}" if proof.verified_by else f"not trusted: {proof.reason}"
    if proof.verified_by and "(issuer " in proof.signer and proof.signer != proof.verified_by:
        status += f", signed as {proof.signer}"  # the certificate identity a pattern matched, not the pattern
    kind = proof.predicate_type or proof.kind
    return f"{proof.layout} {kind}: {status}"
