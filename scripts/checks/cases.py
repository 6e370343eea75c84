"""The chain cases: which dry-run Pods prove admission in each namespace, planned from the trust
model alone (pure). Every namespace under admission gets the same questions: is the known-good image
admitted; are an unsigned canary, an untrusted signer, a foreign registry and a tag moved after
signing refused (admitted in audit); and, where required, a missing SBOM or someone else's provenance."""

from __future__ import annotations

import re
from dataclasses import dataclass

from components.model.contract import repository_glob_regex
from components.model.trust import KeyAuthority, NamespacePolicy, TrustModel
from scripts.checks.canaries import CANARY_REPOSITORY
from scripts.checks.options import Options, parse_image
from scripts.checks.signers import as_signer
from scripts.checks.verification import same_public_key

FOREIGN_IMAGE = "docker.io/library/busybox@sha256:" + "0" * 64  # never pulled: dry runs schedule nothing


@dataclass(frozen=True)
class Case:
    """One dry-run Pod: which images (by canary name or literal), and whether it must be admitted."""

    id: str
    title: str
    namespace: str
    containers: tuple[str, ...]
    init: tuple[str, ...] = ()
    admit: bool = False
    skip_reason: str = ""

    @property
    def expected(self) -> str:
        """What admission must answer, in the evidence's words."""
        return "admitted" if self.admit else "denied by policy"


def usable_signing_key(model: TrustModel, options: Options) -> tuple[KeyAuthority | None, str]:
    """The trusted key canaries can be signed with, or why there is none. Canaries are signed
    offline (no Rekor entry, whether the key is in memory or in a KMS), so only a key that does not require
    transparency-log entries can vouch for them."""
    if options.signing_key is None:
        return None, options.signing_key_problem or (
            "no trusted signing key given (--signing-key, --kms-key, or the local stack's generated key)"
        )
    signer = as_signer(options.signing_key)
    public = signer.public_key()
    for key in model.keys:
        pinned_and_same = key.public_key_pem is not None and same_public_key(public, key.public_key_pem)
        # a KMS signer is the stack's key by name (its public half may be pinned nowhere); a key file, by its PEM
        if key.name == signer.key_name or pinned_and_same:
            if key.public_key_pem is not None and not pinned_and_same:  # an alias pointed elsewhere, a new key
                return None, f"KMS holds another key for {key.name} than its pinned publicKey; it vouches for nothing"
            if key.transparency_log_required:
                return None, f"key {key.name} requires Rekor entries; canaries are signed offline"
            return key, ""
    return None, "the given signing key is not one of the stack's trusted keys"


def plan_cases(model: TrustModel, options: Options) -> list[Case]:
    """Every chain case for every namespace under admission (pure)."""
    trusted, why_no_key = usable_signing_key(model, options)  # why_no_key is "" when there is a key
    cases: list[Case] = []
    targets = known_good_targets(model, parse_image(options.known_good).repository) if options.known_good else ()
    for ns in (*model.namespaces, *unlisted_namespaces(model)):
        barrier = key_barrier(ns, trusted) if trusted is not None else ""
        cases += _namespace_cases(
            ns,
            known_good=bool(options.known_good),
            why_no_key=why_no_key,
            barrier=barrier,
            elsewhere=bool(options.known_good) and ns.name not in targets and ns in model.namespaces,
        )
    return cases


def known_good_targets(model: TrustModel, repository: str) -> tuple[str, ...]:
    """The namespaces the known-good image is meant for: those whose repositories take it, else (when no
    namespace claims it) every namespace that names no repositories. Elsewhere it is another tenant's image."""
    claimed = tuple(
        ns.name
        for ns in model.namespaces
        if any(re.fullmatch(repository_glob_regex(g), repository) for g in ns.repositories)
    )
    return claimed or tuple(ns.name for ns in model.namespaces if not ns.repositories)


def key_barrier(ns: NamespacePolicy, key: KeyAuthority) -> str:
    """Why a canary signed and attested by `key` must not get into `ns` ("" if it may): the tenant
    binding and the builder's own provenance signature are exactly what keep a shared key out."""
    if ns.signers and key.authority_name not in ns.signers:
        return f"key {key.name} is not one of {ns.name}'s signers"
    if ns.repositories and not any(re.fullmatch(repository_glob_regex(g), CANARY_REPOSITORY) for g in ns.repositories):
        return f"{CANARY_REPOSITORY} is not one of {ns.name}'s repositories"
    if ns.provenance and ns.provenance.signer is not None:
        return f"its provenance is signed by {key.name}, not by {ns.name}'s builder"
    return ""


UNLISTED_PROBE = "default"
"""An unlisted namespace every cluster has: it stands for all the namespaces the stack does not name."""


def unlisted_namespaces(model: TrustModel) -> tuple[NamespacePolicy, ...]:
    """The namespace that proves the default mode, when there is one and `default` is neither listed nor exempt."""
    listed = {ns.name for ns in model.namespaces} | set(model.exempt_namespaces)
    if model.default_mode is None or UNLISTED_PROBE in listed:
        return ()
    return (NamespacePolicy(UNLISTED_PROBE, model.default_mode),)


def _namespace_cases(
    ns: NamespacePolicy, *, known_good: bool, why_no_key: str, barrier: str, elsewhere: bool
) -> list[Case]:
    """The cases of one namespace; `why_no_key` says why no canary can be signed by a trusted key ("" if one
    can), `barrier` why this namespace must refuse even that key's canary ("" if it must admit it)."""
    enforce = ns.mode == "enforce"
    verdict = "denied" if enforce else "admitted (audit)"

    def case(
        name: str,
        title: str,
        containers: tuple[str, ...],
        *,
        init: tuple[str, ...] = (),
        admit: bool = not enforce,
        skip: str = "",
    ) -> Case:
        return Case(f"{ns.name}/{name}", title, ns.name, containers, init, admit, skip_reason=skip)

    cases: list[Case] = []
    if known_good and elsewhere:
        title = f"known-good image of another tenant is {verdict}"
        cases.append(case("other-tenants-image", title, ("known-good",)))
    elif known_good:
        cases.append(case("known-good", "known-good image is admitted", ("known-good",), admit=True))
        cases.append(
            case(
                "unsigned-init-container",
                f"known-good image with an unsigned init container is {verdict}",
                ("known-good",),
                init=("unsigned",),
            )
        )
    else:
        reason = "no known-good image given (--known-good IMAGE@DIGEST)"
        cases.append(case("known-good", "known-good image is admitted", ("known-good",), admit=True, skip=reason))
    cases.append(case("unsigned", f"unsigned canary is {verdict}", ("unsigned",)))
    cases.append(case("untrusted-signer", f"canary signed by an untrusted key is {verdict}", ("untrusted",)))
    cases.append(case("foreign-registry", f"image from a registry not allowed is {verdict}", (FOREIGN_IMAGE,)))
    if barrier:
        title = f"canary signed and attested by the stack's key is {verdict}: {barrier}"
        cases.append(case("key-canary-kept-out", title, ("trusted",), skip=why_no_key))
    else:
        title = "canary signed and attested by a trusted key is admitted"
        cases.append(case("trusted-canary", title, ("trusted",), admit=True, skip=why_no_key))
    cases.append(case("tag-moved", f"tag moved after signing is {verdict}", ("moved-tag",), skip=why_no_key))
    if ns.sbom:
        title = f"signed canary without the required SBOM is {verdict}"
        cases.append(case("missing-sbom", title, ("no-sbom",), skip=why_no_key))
    if ns.vulnerabilities:
        title = f"signed canary whose fresh scan lists a critical finding is {verdict}"
        cases.append(case("critical-finding", title, ("vulnerable",), skip=why_no_key))
    if ns.provenance:
        title = f"signed canary with another builder's provenance is {verdict}"
        cases.append(case("foreign-provenance", title, ("bad-provenance",), skip=why_no_key))
    return cases
