"""Canary images: pushed for the cases that need them, each unique to the run and signed in the
stack's format, and deleted afterwards whatever happened.

  unsigned        no signature at all
  untrusted       signed by a throwaway key
  trusted         signed and attested (SBOM, provenance) by the trusted key
  no-sbom         signed by the trusted key, without the SBOM
  vulnerable      signed and attested by the trusted key, its fresh scan listing a critical finding
  bad-provenance  signed by the trusted key, with another builder's provenance
  moved-tag       a tag moved, after signing, to an image nobody signed (`moved-before` is the signed one)
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from components.model.contract import SLSA_PROVENANCE_V1, VULN_SCAN_PREDICATE
from components.model.trust import TrustModel
from scripts.checks.cosign import ImageRef
from scripts.checks.cosign_writer import (
    attest_bundle,
    attest_legacy,
    delete_canary,
    push_canary,
    sign_bundle,
    sign_legacy,
)
from scripts.checks.errors import CheckError
from scripts.checks.oci import Registry
from scripts.checks.options import Options
from scripts.checks.provenance import github_provenance_v1
from scripts.checks.results import Check, Observation, passed_if
from scripts.checks.signers import SigningKey

CANARY_REPOSITORY = "supply-chain-canary"
FOREIGN_BUILDER = "https://builder.invalid/someone-else"


def canary_scan(image: ImageRef, *, critical: bool) -> dict[str, Any]:
    """A vulnerability scan record of `image` finished now, in the shape `trivy image --format cosign-vuln` writes
    (cosign's vuln predicate around Trivy's report): clean, or with one critical finding."""
    result: dict[str, Any] = {"Target": f"{image} (canary)", "Class": "os-pkgs", "Type": "alpine"}
    if critical:
        result["Vulnerabilities"] = [
            {"VulnerabilityID": "CVE-0000-0000", "PkgName": "supply-chain-canary", "Severity": "CRITICAL"}
        ]
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "invocation": {"parameters": None, "uri": "", "event_id": "", "builder.id": ""},
        "scanner": {
            "uri": "pkg:github/aquasecurity/trivy",
            "version": "",
            "db": {"uri": "", "version": ""},
            "result": {
                "SchemaVersion": 2,
                "ArtifactName": str(image),
                "ArtifactType": "container_image",
                "Results": [result],
            },
        },
        "metadata": {"scanStartedOn": stamp, "scanFinishedOn": stamp},
    }


def _attest_required(
    registry: Registry,
    image: ImageRef,
    key: SigningKey,
    model: TrustModel,
    *,
    sbom: bool,
    provenance_builder: str | None,
    critical_finding: bool = False,
) -> None:
    """The attestations each namespace requires (the SBOM only if `sbom`; the scan clean unless
    `critical_finding`), signed by `key`."""
    attest = attest_bundle if model.signature_format == "bundle" else attest_legacy
    for ns in model.namespaces:
        if sbom and (sbom_format := ns.sbom_format):
            attest(
                registry,
                image,
                key,
                sbom_format.predicate_type,
                {sbom_format.list_field: [{"name": "supply-chain-canary"}]},
            )
        if ns.provenance:
            p = ns.provenance
            predicate = github_provenance_v1(
                provenance_builder or p.builder_id, p.source_repository, p.source_ref or "refs/heads/main"
            )
            attest(registry, image, key, SLSA_PROVENANCE_V1, predicate)
        if ns.vulnerabilities:
            attest(registry, image, key, VULN_SCAN_PREDICATE, canary_scan(image, critical=critical_finding))


def push_canaries(
    registry: Registry,
    repository: str,
    model: TrustModel,
    options: Options,
    wanted: set[str],
    into: dict[str, ImageRef] | None = None,
) -> dict[str, ImageRef]:
    """The canaries the cases need, each unique to this run, signed in the stack's format. Each
    lands in `into` as soon as it is pushed, so the caller can delete them if a later one fails."""
    sign = sign_bundle if model.signature_format == "bundle" else sign_legacy
    images: dict[str, ImageRef] = into if into is not None else {}
    run = options.run_id
    if "unsigned" in wanted:
        images["unsigned"] = push_canary(registry, repository, f"{run}-unsigned", nonce=f"{run}-unsigned")
    if "untrusted" in wanted:
        images["untrusted"] = push_canary(registry, repository, f"{run}-untrusted", nonce=f"{run}-untrusted")
        sign(registry, images["untrusted"], ec.generate_private_key(ec.SECP256R1()))  # a throwaway key
    key = options.signing_key
    if key is None:
        return images
    if "trusted" in wanted:
        images["trusted"] = push_canary(registry, repository, f"{run}-trusted", nonce=f"{run}-trusted")
        sign(registry, images["trusted"], key)
        _attest_required(registry, images["trusted"], key, model, sbom=True, provenance_builder=None)
    if "no-sbom" in wanted:
        images["no-sbom"] = push_canary(registry, repository, f"{run}-no-sbom", nonce=f"{run}-no-sbom")
        sign(registry, images["no-sbom"], key)
        _attest_required(registry, images["no-sbom"], key, model, sbom=False, provenance_builder=None)
    if "vulnerable" in wanted:
        images["vulnerable"] = push_canary(registry, repository, f"{run}-vulnerable", nonce=f"{run}-vulnerable")
        sign(registry, images["vulnerable"], key)
        _attest_required(
            registry, images["vulnerable"], key, model, sbom=True, provenance_builder=None, critical_finding=True
        )
    if "bad-provenance" in wanted:
        images["bad-provenance"] = push_canary(registry, repository, f"{run}-bad-prov", nonce=f"{run}-bad-prov")
        sign(registry, images["bad-provenance"], key)
        _attest_required(registry, images["bad-provenance"], key, model, sbom=True, provenance_builder=FOREIGN_BUILDER)
    if "moved-tag" in wanted:
        tag = f"{run}-moved"
        signed = push_canary(registry, repository, tag, nonce=f"{run}-moved-before")
        images["moved-before"] = signed
        sign(registry, signed, key)
        _attest_required(registry, signed, key, model, sbom=True, provenance_builder=None)
        images["moved-tag"] = push_canary(registry, repository, tag, nonce=f"{run}-moved-after")
    return images


def image_reference(name: str, images: dict[str, ImageRef], known_good: str | None) -> str:
    """What a Pod names for a case's image: a canary by digest, the moved tag by tag, else the literal."""
    if name == "known-good":
        return known_good or ""
    if name == "moved-tag":
        return images["moved-tag"].tagged  # by tag: the tag now names an image nobody signed
    if name in images:
        return str(images[name])
    return name  # a literal image reference


def canaries_deleted(registry: Registry, images: dict[str, ImageRef]) -> Check:
    """Delete every canary (and what is attached to it); fails naming any left behind."""

    def observe() -> Observation:
        left: list[str] = []
        for image in images.values():
            try:
                if image.digest not in delete_canary(registry, image):
                    left.append(str(image))
            except CheckError:
                left.append(str(image))
        return passed_if(
            not left,
            f"left behind: {', '.join(left)}" if left else f"{len(images)} canary image(s) deleted",
        )

    return Check("cleanup/canaries", "canaries are deleted", "every canary image deleted", observe)
