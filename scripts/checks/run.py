"""The post-deploy run: posture, chain cases (dry-run pods with canaries), independent verification
of the known-good image, audit readiness. Steps, in order:

  1. plan the cases from the stack outputs (pure: `plan_cases`);
  2. push the canaries (unsigned, untrusted signer, and, with a usable trusted key, trusted ones
     missing an SBOM or carrying someone else's provenance, and a tag moved after signing);
  3. posture of the cluster and the registry;
  4. every case as a server-side dry-run Pod create, concurrently, within the deadline;
  5. the known-good image verified independently against the trust model;
  6. audit readiness from policy reports;
  7. canaries deleted, whatever happened above.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from cryptography.hazmat.primitives.asymmetric import ec
from sigstore.models import TrustedRoot

from components.model.contract import (
    ADMISSION_MODE_LABEL,
    KYVERNO_NAMESPACE,
    NEVER_MATCHED,
    SLSA_PROVENANCE_V1,
    StackOutputs,
)
from components.model.trust import KeyAuthority, NamespacePolicy, TrustModel
from scripts.checks.cluster import Cluster, is_ready, pod_manifest
from scripts.checks.cosign import (
    ImageRef,
    attest_bundle,
    attest_legacy,
    delete_canary,
    push_canary,
    sign_bundle,
    sign_legacy,
)
from scripts.checks.errors import CheckError, UnreachableError, UsageError, VerificationFailedError
from scripts.checks.images import check_image, encode_proof, requirement_problems
from scripts.checks.oci import Credentials, Registry
from scripts.checks.outputs import read_trust_model
from scripts.checks.vault import azure_cli_token, split_kms_uri, vault_public_key
from scripts.checks.verification import same_public_key

Status = Literal["pass", "fail", "skip"]
FOREIGN_IMAGE = "docker.io/library/busybox@sha256:" + "0" * 64  # never pulled: dry runs schedule nothing


@dataclass
class CheckResult:
    id: str
    title: str
    status: Status
    expected: str
    observed: str
    seconds: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "status": self.status,
            "expected": self.expected,
            "observed": self.observed,
            "seconds": round(self.seconds, 3),
            "details": self.details,
        }


@dataclass(frozen=True)
class Case:
    """One dry-run Pod: which images (by canary name or literal), and whether it must be admitted."""

    id: str
    title: str
    namespace: str
    containers: tuple[str, ...]
    init: tuple[str, ...] = ()
    admit: bool = False
    needs: tuple[str, ...] = ()  # canaries or inputs this case needs
    skip_reason: str = ""


@dataclass
class Options:
    known_good: str | None = None
    signing_key: ec.EllipticCurvePrivateKey | None = None
    signing_key_name: str | None = None
    deadline_seconds: float = 300.0
    workers: int = 8
    vault_token: Callable[[], str] = azure_cli_token
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:10])


def usable_signing_key(model: TrustModel, options: Options) -> tuple[KeyAuthority | None, str]:
    """The trusted key canaries can be signed with, or why there is none. Canaries are signed
    offline, so only a key that does not require transparency-log entries can vouch for them."""
    if options.signing_key is None:
        return None, "no trusted signing key given (--signing-key, or the local stack's generated key)"
    public = options.signing_key.public_key()
    for key in model.keys:
        if key.public_key_pem and same_public_key(public, key.public_key_pem):
            if key.transparency_log_required:
                return None, f"key {key.name} requires Rekor entries; canaries are signed offline"
            return key, ""
    return None, "the given signing key is not one of the stack's trusted keys"


def plan_cases(model: TrustModel, options: Options) -> list[Case]:
    """Every chain case for every namespace under admission (pure)."""
    trusted, why_not = usable_signing_key(model, options)
    cases: list[Case] = []
    for ns in model.namespaces:
        enforce = ns.mode == "enforce"
        verdict = "denied" if enforce else "admitted (audit)"

        def case(
            name: str,
            title: str,
            containers: tuple[str, ...],
            *,
            init: tuple[str, ...] = (),
            admit: bool = False,
            needs: tuple[str, ...] = (),
            skip: str = "",
            ns_: NamespacePolicy = ns,
        ) -> Case:
            return Case(f"{ns_.name}/{name}", title, ns_.name, containers, init, admit, needs, skip)

        if options.known_good:
            cases.append(case("known-good", "known-good image is admitted", ("known-good",), admit=True))
            cases.append(
                case(
                    "unsigned-init-container",
                    f"known-good image with an unsigned init container is {verdict}",
                    ("known-good",),
                    init=("unsigned",),
                    admit=not enforce,
                )
            )
        else:
            reason = "no known-good image given (--known-good IMAGE@DIGEST)"
            cases.append(case("known-good", "known-good image is admitted", ("known-good",), admit=True, skip=reason))
        cases.append(case("unsigned", f"unsigned canary is {verdict}", ("unsigned",), admit=not enforce))
        cases.append(
            case(
                "untrusted-signer", f"canary signed by an untrusted key is {verdict}", ("untrusted",), admit=not enforce
            )
        )
        cases.append(
            case(
                "foreign-registry",
                f"image from a registry not allowed is {verdict}",
                (FOREIGN_IMAGE,),
                admit=not enforce,
            )
        )
        cases.append(
            case(
                "trusted-canary",
                "canary signed and attested by a trusted key is admitted",
                ("trusted",),
                admit=True,
                skip=why_not if trusted is None else "",
            )
        )
        cases.append(
            case(
                "tag-moved",
                f"tag moved after signing is {verdict}",
                ("moved-tag",),
                admit=not enforce,
                skip=why_not if trusted is None else "",
            )
        )
        if ns.sbom:
            cases.append(
                case(
                    "missing-sbom",
                    f"signed canary without the required SBOM is {verdict}",
                    ("no-sbom",),
                    admit=not enforce,
                    skip=why_not if trusted is None else "",
                )
            )
        if ns.provenance:
            cases.append(
                case(
                    "foreign-provenance",
                    f"signed canary with another builder's provenance is {verdict}",
                    ("bad-provenance",),
                    admit=not enforce,
                    skip=why_not if trusted is None else "",
                )
            )
    return cases


# --- canaries ----------------------------------------------------------------------------------


def _attest_required(
    registry: Registry,
    image: ImageRef,
    key: ec.EllipticCurvePrivateKey,
    model: TrustModel,
    *,
    sbom: bool,
    provenance_builder: str | None,
) -> None:
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
            predicate = {
                "buildDefinition": {"resolvedDependencies": [{"uri": p.source_uri}]},
                "runDetails": {"builder": {"id": provenance_builder or p.builder_id}},
            }
            attest(registry, image, key, SLSA_PROVENANCE_V1, predicate)


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
    if key is not None:
        if "trusted" in wanted:
            images["trusted"] = push_canary(registry, repository, f"{run}-trusted", nonce=f"{run}-trusted")
            sign(registry, images["trusted"], key)
            _attest_required(registry, images["trusted"], key, model, sbom=True, provenance_builder=None)
        if "no-sbom" in wanted:
            images["no-sbom"] = push_canary(registry, repository, f"{run}-no-sbom", nonce=f"{run}-no-sbom")
            sign(registry, images["no-sbom"], key)
            _attest_required(registry, images["no-sbom"], key, model, sbom=False, provenance_builder=None)
        if "bad-provenance" in wanted:
            images["bad-provenance"] = push_canary(registry, repository, f"{run}-bad-prov", nonce=f"{run}-bad-prov")
            sign(registry, images["bad-provenance"], key)
            _attest_required(
                registry,
                images["bad-provenance"],
                key,
                model,
                sbom=True,
                provenance_builder="https://builder.invalid/someone-else",
            )
        if "moved-tag" in wanted:
            tag = f"{run}-moved"
            signed = push_canary(registry, repository, tag, nonce=f"{run}-moved-before")
            images["moved-before"] = signed
            sign(registry, signed, key)
            _attest_required(registry, signed, key, model, sbom=True, provenance_builder=None)
            images["moved-tag"] = push_canary(registry, repository, tag, nonce=f"{run}-moved-after")
    return images


def _image_text(name: str, images: dict[str, ImageRef], options: Options) -> str:
    if name == "known-good":
        return options.known_good or ""
    if name == "moved-tag":
        return images["moved-tag"].tagged  # by tag: the tag now names an image nobody signed
    if name in images:
        return str(images[name])
    return name  # a literal image reference


# --- the run -----------------------------------------------------------------------------------


@contextmanager
def _timed(results: list[CheckResult], id_: str, title: str, expected: str) -> Iterator[CheckResult]:
    result = CheckResult(id_, title, "fail", expected, "")  # a body that raises leaves a failure
    start = time.monotonic()
    try:
        yield result
    except CheckError:
        raise
    finally:
        result.seconds = time.monotonic() - start
        results.append(result)


def posture(cluster: Cluster, outputs: StackOutputs, model: TrustModel) -> list[CheckResult]:
    results: list[CheckResult] = []
    # Only webhooks that receive Pod creates decide admission; the engines' other webhooks (for
    # their own policy objects) are Fail with no namespace selector and would mislead every check.
    hooks = [
        h
        for h in cluster.validating_webhooks()
        if ("kyverno" in h.configuration or "sigstore" in h.configuration) and h.covers_pod_creates
    ]
    with _timed(results, "posture/webhooks-exist", "the engines' Pod webhooks are registered", "at least one") as r:
        r.observed = ", ".join(sorted({f"{h.configuration}/{h.name}" for h in hooks})) or "none"
        r.details = {
            "webhooks": [
                {
                    "name": h.name,
                    "failurePolicy": h.failure_policy,
                    "objectSelector": dict(h.object_selector),
                    "matchConditions": list(h.match_conditions),
                }
                for h in hooks
            ]
        }
        r.status = "pass" if hooks else "fail"
    with _timed(
        results,
        "posture/system-namespaces",
        "no webhook matches system or engine namespaces",
        "none of kube-system, kyverno, cosign-system",
    ) as r:
        hits = [
            f"{h.name} → {ns}"
            for h in hooks
            for ns in NEVER_MATCHED
            if h.could_match(ns, cluster.namespace_labels(ns) or {})
        ]
        r.observed = "; ".join(hits) or "none"
        r.status = "fail" if hits else "pass"
    with _timed(results, "posture/timeouts", "webhook timeouts are bounded", "≤ 30 s") as r:
        slow = [f"{h.name}: {h.timeout_seconds}s" for h in hooks if h.timeout_seconds > 30]
        r.observed = "; ".join(slow) or "all ≤ 30 s"
        r.status = "fail" if slow else "pass"
    for ns in model.in_mode("enforce"):
        with _timed(
            results,
            f"posture/{ns.name}/fail-closed",
            f"{ns.name} is behind a fail-closed webhook",
            "a webhook with failurePolicy Fail selects it",
        ) as r:
            ns_labels = cluster.namespace_labels(ns.name) or {}
            closed = [h.name for h in hooks if h.failure_policy == "Fail" and h.could_match(ns.name, ns_labels)]
            r.observed = ", ".join(closed) or "none"
            r.status = "pass" if closed else "fail"
    for name, mode in sorted(outputs.namespaces.items()):
        with _timed(
            results, f"posture/{name}/label", f"{name} is labelled {mode}", f"{ADMISSION_MODE_LABEL}={mode}"
        ) as r:
            labels = cluster.namespace_labels(name)
            r.observed = (
                "namespace missing" if labels is None else f"{ADMISSION_MODE_LABEL}={labels.get(ADMISSION_MODE_LABEL)}"
            )
            r.status = "pass" if labels is not None and labels.get(ADMISSION_MODE_LABEL) == mode else "fail"
    kinds = [
        ("policies.kyverno.io", "v1", "imagevalidatingpolicies", outputs.kyverno_policies),
        ("policies.kyverno.io", "v1", "validatingpolicies", outputs.kyverno_policies),
        ("policy.sigstore.dev", "v1beta1", "clusterimagepolicies", outputs.policy_controller_policies),
    ]
    present: dict[str, bool] = {}
    for group, version, plural, wanted in kinds:
        if not wanted:
            continue
        for obj in cluster.list_cluster_objects(group, version, plural) or []:
            name = obj["metadata"]["name"]
            if name in wanted:
                present[name] = plural == "clusterimagepolicies" or is_ready(obj)
    for name in sorted(set(outputs.kyverno_policies) | set(outputs.policy_controller_policies)):
        with _timed(results, f"posture/policy/{name}", f"policy {name} is present and ready", "present, ready") as r:
            r.observed = "missing" if name not in present else ("ready" if present[name] else "not ready")
            r.status = "pass" if present.get(name) else "fail"
    exceptions = cluster.list_namespaced_objects("policies.kyverno.io", "v1", KYVERNO_NAMESPACE, "policyexceptions")
    with _timed(results, "posture/exceptions-current", "no policy exception is past its expiry", "none expired") as r:
        now = datetime.now(UTC)
        expired = [e["metadata"]["name"] for e in exceptions or [] if _expired(e.get("spec", {}).get("expiresAt"), now)]
        r.observed = ", ".join(expired) or "none"
        r.status = "fail" if expired else "pass"
    return results


def pinned_keys(
    model: TrustModel,
    token: Callable[[], str],
    locate: Callable[[str], tuple[str, str, str | None]] = split_kms_uri,
) -> list[CheckResult]:
    """Keys whose public half the stack pins in config match the vault's (data-plane read)."""
    results: list[CheckResult] = []
    for key in model.keys:
        if not (key.kms_uri and key.public_key_pem):
            continue
        with _timed(
            results, f"keys/{key.name}/pinned", f"pinned public key of {key.name} is the vault's", "the same public key"
        ) as r:
            try:
                vault_url, name, version = locate(key.kms_uri)
                actual = vault_public_key(vault_url, name, token(), version=version)
            except (UnreachableError, UsageError) as exc:
                r.status, r.observed = "skip", f"vault not readable from here: {exc}"
                continue
            except VerificationFailedError as exc:
                r.status, r.observed = "fail", str(exc)
                continue
            same = same_public_key(actual, key.public_key_pem)
            r.status = "pass" if same else "fail"
            r.observed = "same key" if same else "a different key (rotated? update signing.keys[].publicKey)"
    return results


def _expired(expires_at: object, now: datetime) -> bool:
    if not isinstance(expires_at, str):
        return False
    try:
        return datetime.fromisoformat(expires_at.replace("Z", "+00:00")) < now
    except ValueError:
        return True  # an expiry nobody can read is treated as passed


def registry_posture(registry: Registry, outputs: StackOutputs, probe: ImageRef | None) -> list[CheckResult]:
    results: list[CheckResult] = []
    with _timed(results, "registry/anonymous-pull", "the registry refuses anonymous pulls", "401 or 403") as r:
        if outputs.environment == "local":
            r.status, r.observed = "skip", "the local stack's registry is anonymous by design"
        elif probe is None:
            r.status, r.observed = "skip", "no image to probe with"
        else:
            status = registry.anonymous_status(probe.repository, probe.digest)
            r.observed = f"HTTP {status}"
            r.status = "pass" if status in (401, 403) else "fail"
    return results


def public_access(registry: Registry) -> CheckResult:
    """Run from outside the private network: the registry must not answer, or answer 403 (ACR's
    network rules: "client with IP ... is not allowed access")."""
    start = time.monotonic()
    try:
        status = registry.ping()
    except UnreachableError as exc:
        observed, ok = f"not reachable from here ({exc})", True
    else:
        observed, ok = f"HTTP {status} from here", status == 403
    return CheckResult(
        "registry/public-access",
        "the registry is closed to this (outside) network",
        "pass" if ok else "fail",
        "unreachable, or 403 by network rules",
        observed,
        time.monotonic() - start,
    )


def chain_cases(
    cluster: Cluster,
    cases: list[Case],
    images: dict[str, ImageRef],
    options: Options,
    deadline: float,
    policies: list[str],
    progress: Callable[[str], None] = lambda _: None,
) -> list[CheckResult]:
    results: list[CheckResult] = []
    runnable = [c for c in cases if not c.skip_reason]
    for case in cases:
        if case.skip_reason:
            results.append(CheckResult(f"chain/{case.id}", case.title, "skip", _expect(case), case.skip_reason))

    def one(case: Case) -> CheckResult:
        start = time.monotonic()
        manifest = pod_manifest(
            f"supply-chain-check-{options.run_id}-{case.id.split('/')[-1]}"[:63].rstrip("-"),
            case.namespace,
            [_image_text(i, images, options) for i in case.containers],
            [_image_text(i, images, options) for i in case.init],
        )
        answer = cluster.dry_run_pod(manifest)
        ok = answer.allowed if case.admit else answer.denied_by(policies)
        observed = "admitted" if answer.allowed else f"denied: {answer.message}"
        progress(case.id)
        return CheckResult(
            f"chain/{case.id}",
            case.title,
            "pass" if ok else "fail",
            _expect(case),
            observed,
            time.monotonic() - start,
            {"images": manifest["spec"], "warnings": list(answer.warnings), "httpStatus": answer.status},
        )

    pool = ThreadPoolExecutor(max_workers=max(1, options.workers))
    futures = {pool.submit(one, c): c for c in runnable}
    done, pending = wait(futures, timeout=max(0.0, deadline - time.monotonic()))
    pool.shutdown(wait=False, cancel_futures=True)  # the deadline holds: nothing waits for stragglers
    for future in done:
        results.append(future.result())
    for future in pending:
        case = futures[future]
        results.append(
            CheckResult(f"chain/{case.id}", case.title, "fail", _expect(case), "no answer before the deadline")
        )
    enforce = {c.namespace for c in cases if not c.admit}
    controls = [r for r in results if r.status == "pass" and r.observed == "admitted" and r.id.split("/")[1] in enforce]
    results.append(
        CheckResult(
            "chain/positive-control",
            "admission admits something in an enforce namespace (else every denial proves nothing)",
            "pass" if controls or not enforce else "fail",
            "at least one admitted case in an enforce namespace",
            ", ".join(r.id for r in controls) or "none ran: pass --known-good (or a usable --signing-key)",
        )
    )
    return sorted(results, key=lambda r: r.id)


def _expect(case: Case) -> str:
    return "admitted" if case.admit else "denied by policy"


def verify_known_good(
    registry: Registry, outputs: StackOutputs, model: TrustModel, root: TrustedRoot, options: Options
) -> list[CheckResult]:
    results: list[CheckResult] = []
    if not options.known_good:
        return [
            CheckResult(
                "verify/known-good",
                "known-good image verifies independently",
                "skip",
                "signed and attested as each namespace requires",
                "no known-good image given",
            )
        ]
    image = parse_image(options.known_good)
    if image.registry != registry.host:  # its signatures live beside it, not in the stack's registry
        registry = Registry(image.registry, credentials=Credentials.discover(image.registry), timeout=registry.timeout)
    with _timed(
        results,
        "verify/known-good",
        "known-good image verifies independently against the trust model",
        "signed and attested as each namespace requires",
    ) as r:
        try:
            report = check_image(registry, image, model, root)
        except UnreachableError:
            raise
        except CheckError as exc:  # malformed attachments, registry errors: a failed check, not a crash
            r.observed = f"could not be verified: {exc}"
            return results
        problems = {ns.name: requirement_problems(report, ns) for ns in model.namespaces}
        r.details = {"proofs": [encode_proof(p) for p in report.proofs], "problems": problems}
        failing = {ns: p for ns, p in problems.items() if p}
        r.observed = "; ".join(f"{ns}: {', '.join(p)}" for ns, p in failing.items()) or "meets every namespace"
        r.status = "fail" if failing else "pass"
    return results


def parse_image(reference: str) -> ImageRef:
    name, at, digest = reference.partition("@")
    if not at or not digest.startswith("sha256:"):
        raise UsageError(f"--known-good must be IMAGE@sha256:DIGEST, not {reference!r}")
    registry, slash, repository = name.partition("/")
    if not slash:
        raise UsageError(f"--known-good must name its registry: {reference!r}")
    repository = repository.split(":")[0]
    return ImageRef(registry, repository, digest)


def audit_readiness(cluster: Cluster, model: TrustModel, policies: list[str]) -> list[CheckResult]:
    """For audit namespaces: running workloads the enforce mode would block, from policy reports."""
    results: list[CheckResult] = []
    for ns in model.in_mode("audit"):
        with _timed(
            results,
            f"audit/{ns.name}/would-block",
            f"{ns.name}: workloads enforce mode would block",
            "a list (informational)",
        ) as r:
            reports = cluster.list_namespaced_objects("wgpolicyk8s.io", "v1alpha2", ns.name, "policyreports")
            if reports is None:
                r.status, r.observed = "skip", "no PolicyReport API (wgpolicyk8s.io/v1alpha2) in the cluster"
                continue
            blocked = sorted(
                {
                    f"{res.get('kind')}/{res.get('name')} ({result.get('policy')})"
                    for report in reports
                    for result in report.get("results", [])
                    if result.get("result") == "fail" and result.get("policy") in policies
                    for res in result.get("resources") or [report.get("scope") or {}]
                }
            )
            r.details = {"wouldBlock": blocked}
            r.observed = f"{len(blocked)} workload(s)" + (f": {', '.join(blocked[:10])}" if blocked else "")
            r.status = "pass"  # informational: the list is the result
    return results


CANARY_REPOSITORY = "supply-chain-canary"


def run_all(
    outputs: StackOutputs,
    cluster: Cluster,
    registry: Registry,
    root: TrustedRoot,
    options: Options,
    progress: Callable[[str], None] = lambda _: None,
) -> list[CheckResult]:
    """Every check, canaries cleaned up whatever happens. Raises UnreachableError (exit 3) when
    the cluster or the registry cannot be reached; check failures are results, not exceptions."""
    deadline = time.monotonic() + options.deadline_seconds
    model = read_trust_model(outputs)
    cases = plan_cases(model, options)
    wanted = {name for case in cases if not case.skip_reason for name in (*case.containers, *case.init)}
    images: dict[str, ImageRef] = {}  # filled as canaries are pushed: a failure halfway still cleans up
    results: list[CheckResult] = []
    policies = [*outputs.kyverno_policies, *outputs.policy_controller_policies]

    def step(name: str) -> bool:
        progress(name)
        if time.monotonic() < deadline:
            return True
        results.append(
            CheckResult(
                f"deadline/{name}",
                f"{name} ran",
                "fail",
                "before the deadline",
                f"not started: the {options.deadline_seconds:.0f}s deadline had passed",
            )
        )
        return False

    try:
        if step("canaries"):
            push_canaries(registry, CANARY_REPOSITORY, model, options, wanted, into=images)
        if step("posture"):
            results += posture(cluster, outputs, model)
            results += registry_posture(registry, outputs, images.get("unsigned"))
            results += pinned_keys(model, options.vault_token)
        if step("chain cases"):
            results += chain_cases(cluster, cases, images, options, deadline, policies, progress)
        if step("independent verification"):
            results += verify_known_good(registry, outputs, model, root, options)
        if step("audit readiness"):
            results += audit_readiness(cluster, model, outputs.kyverno_policies)
    finally:
        left: list[str] = []
        for image in images.values():
            try:
                if image.digest not in delete_canary(registry, image):
                    left.append(str(image))
            except CheckError:
                left.append(str(image))
        results.append(
            CheckResult(
                "cleanup/canaries",
                "canaries are deleted",
                "fail" if left else "pass",
                "every canary image deleted",
                f"left behind: {', '.join(left)}" if left else f"{len(images)} canary image(s) deleted",
            )
        )
    return results
