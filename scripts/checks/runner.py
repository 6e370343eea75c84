"""The post-deploy run: posture, chain cases (dry-run Pods with canaries), independent verification
of the known-good image, audit readiness. Steps, in order:

  1. plan the cases from the stack outputs (pure: `cases.plan_cases`);
  2. push the canaries (unsigned, untrusted signer, and, with a usable trusted key, trusted ones
     missing an SBOM or carrying someone else's provenance, and a tag moved after signing);
  3. posture of the cluster, the registry and the pinned keys;
  4. every case as a server-side dry-run Pod create, concurrently, within the deadline;
  5. the known-good image verified independently against the trust model;
  6. audit readiness from policy reports;
  7. canaries deleted, whatever happened above.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait

from sigstore.models import TrustedRoot

from components.model.contract import StackOutputs
from components.model.trust import TrustModel
from scripts.checks.canaries import CANARY_REPOSITORY, canaries_deleted, image_reference, push_canaries
from scripts.checks.cases import Case, known_good_targets, plan_cases
from scripts.checks.cluster import Cluster, pod_manifest
from scripts.checks.cosign import ImageRef
from scripts.checks.errors import CheckError, UnreachableError
from scripts.checks.images import check_image, encode_proof, requirement_problems
from scripts.checks.kms_keys import kms_key_checks
from scripts.checks.oci import Credentials, Registry
from scripts.checks.options import Options, parse_image
from scripts.checks.outputs import read_trust_model
from scripts.checks.posture import posture, registry_posture
from scripts.checks.results import Check, CheckFailed, CheckResult, Observation, passed_if, run_check, run_checks
from scripts.checks.runner_group import runner_group_posture


def _case_check(
    case: Case,
    cluster: Cluster,
    images: dict[str, ImageRef],
    options: Options,
    policies: list[str],
    progress: Callable[[str], None],
) -> Check:
    """A case as a check: admitted when it must be, else denied by one of `policies` (not by a
    webhook being down, a registry error or some other webhook)."""

    def observe() -> Observation:
        if case.skip_reason:
            return Observation(case.skip_reason, "skip")
        manifest = pod_manifest(
            f"supply-chain-check-{options.run_id}-{case.id.split('/')[-1]}"[:63].rstrip("-"),
            case.namespace,
            [image_reference(i, images, options.known_good) for i in case.containers],
            [image_reference(i, images, options.known_good) for i in case.init],
        )
        answer = cluster.dry_run_pod(manifest)
        progress(case.id)
        details = {"images": manifest["spec"], "warnings": list(answer.warnings), "httpStatus": answer.status}
        ok = answer.allowed if case.admit else answer.denied_by(policies)
        return passed_if(ok, "admitted" if answer.allowed else f"denied: {answer.message}", details)

    # the namespace leads the title: in a log or a step summary the same case repeats once per namespace
    return Check(f"chain/{case.id}", f"{case.namespace}: {case.title}", case.expected, observe)


def _positive_control(cases: list[Case], results: list[CheckResult]) -> Check:
    """Something is admitted in an enforce namespace: otherwise every denial could be a broken webhook."""

    def observe() -> Observation:
        enforce = {c.namespace for c in cases if not c.admit}
        controls = sorted(
            r.id for r in results if r.status == "pass" and r.observed == "admitted" and r.id.split("/")[1] in enforce
        )
        observed = ", ".join(controls) or "none ran: pass --known-good (or a usable --signing-key)"
        return passed_if(bool(controls) or not enforce, observed)

    return Check(
        "chain/positive-control",
        "admission admits something in an enforce namespace (else every denial proves nothing)",
        "at least one admitted case in an enforce namespace",
        observe,
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
    """Every case as a dry-run Pod create, `options.workers` at a time; a case with no answer by the
    `deadline` (a `time.monotonic` instant) fails; then the positive control."""
    checks = {case: _case_check(case, cluster, images, options, policies, progress) for case in cases}
    results = [run_check(check) for case, check in checks.items() if case.skip_reason]
    pool = ThreadPoolExecutor(max_workers=max(1, options.workers))
    futures = {pool.submit(run_check, check): check for case, check in checks.items() if not case.skip_reason}
    done, pending = wait(futures, timeout=max(0.0, deadline - time.monotonic()))
    pool.shutdown(wait=False, cancel_futures=True)  # the deadline holds: nothing waits for stragglers
    results += [future.result() for future in done]
    results += [futures[future].result("fail", "no answer before the deadline") for future in pending]
    results.append(run_check(_positive_control(cases, results)))
    return sorted(results, key=lambda r: r.id)


def _known_good_verifies(registry: Registry, model: TrustModel, root: TrustedRoot, reference: str) -> Check:
    """The known-good image carries what every namespace requires, verified here, independently."""
    image = parse_image(reference)
    if image.registry != registry.host:  # its signatures live beside it, not in the stack's registry
        registry = Registry(image.registry, credentials=Credentials.discover(image.registry), timeout=registry.timeout)

    def observe() -> Observation:
        try:
            report = check_image(registry, image, model, root)
        except UnreachableError:
            raise
        except CheckError as exc:  # malformed attachments, registry errors: a failed check, not a crash
            raise CheckFailed(f"could not be verified: {exc}") from exc
        targets = known_good_targets(model, image.repository)
        problems = {ns.name: requirement_problems(report, ns, model) for ns in model.namespaces if ns.name in targets}
        stray = report.stray_referrers()
        details = {
            "proofs": [encode_proof(p) for p in report.proofs],
            "problems": problems,
            "strayReferrers": [encode_proof(p) for p in stray],
        }
        failing = {ns: p for ns, p in problems.items() if p}
        found = [f"{ns}: {', '.join(p)}" for ns, p in failing.items()]
        if stray:  # a lockout waiting to happen: Kyverno reads bundles once any is attached
            found.append(
                f"{len(stray)} bundle referrer(s) no trusted authority made: Kyverno would read them instead of "
                "the legacy signatures; delete them (`oras discover`, then `oras manifest delete`) and restrict push"
            )
        return passed_if(not found, "; ".join(found) or "meets every namespace", details)

    return Check(
        "verify/known-good",
        "known-good image verifies independently against the trust model",
        "signed and attested as each namespace it is meant for requires",
        observe,
    )


def verify_known_good(registry: Registry, model: TrustModel, root: TrustedRoot, options: Options) -> list[CheckResult]:
    """The known-good image verified against the trust model (skipped without one)."""
    if not options.known_good:
        skipped = Check(
            "verify/known-good",
            "known-good image verifies independently",
            "signed and attested as each namespace requires",
            lambda: Observation("no known-good image given", "skip"),
        )
        return [run_check(skipped)]
    return [run_check(_known_good_verifies(registry, model, root, options.known_good))]


def _would_block(cluster: Cluster, namespace: str, policies: list[str]) -> Check:
    """Informational: the workloads in an audit namespace that enforce mode would block."""

    def observe() -> Observation:
        reports = cluster.list_namespaced_objects("wgpolicyk8s.io", "v1alpha2", namespace, "policyreports")
        if reports is None:
            return Observation("no PolicyReport API (wgpolicyk8s.io/v1alpha2) in the cluster", "skip")
        blocked = sorted(
            {
                f"{res.get('kind')}/{res.get('name')} ({result.get('policy')})"
                for report in reports
                for result in report.get("results", [])
                if result.get("result") == "fail" and result.get("policy") in policies
                for res in result.get("resources") or [report.get("scope") or {}]
            }
        )
        observed = f"{len(blocked)} workload(s)" + (f": {', '.join(blocked[:10])}" if blocked else "")
        return Observation(observed, details={"wouldBlock": blocked})  # the list is the result

    return Check(
        f"audit/{namespace}/would-block",
        f"{namespace}: workloads enforce mode would block",
        "a list (informational)",
        observe,
    )


def audit_readiness(cluster: Cluster, model: TrustModel, policies: list[str]) -> list[CheckResult]:
    """For audit namespaces: running workloads the enforce mode would block, from policy reports."""
    return run_checks(_would_block(cluster, ns.name, policies) for ns in model.in_mode("audit"))


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
    cases = plan_cases(model, options)  # 1
    wanted = {name for case in cases if not case.skip_reason for name in (*case.containers, *case.init)}
    images: dict[str, ImageRef] = {}  # filled as canaries are pushed: a failure halfway still cleans up
    results: list[CheckResult] = []
    policies = [*outputs.kyverno_policies, *outputs.policy_controller_policies]

    def step(name: str) -> bool:
        """Whether step `name` may start; past the deadline it is recorded as not started."""
        progress(name)
        if time.monotonic() < deadline:
            return True
        late = f"not started: the {options.deadline_seconds:.0f}s deadline had passed"
        results.append(CheckResult(f"deadline/{name}", f"{name} ran", "fail", "before the deadline", late))
        return False

    try:
        if step("canaries"):  # 2
            push_canaries(registry, CANARY_REPOSITORY, model, options, wanted, into=images)
        if step("posture"):  # 3
            results += posture(cluster, outputs, model)
            results += registry_posture(registry, outputs, images.get("unsigned"))
            results += kms_key_checks(model, options.vault_token)  # AWS: boto3's standard credential chain
            results += runner_group_posture(outputs, options.github_token)
        if step("chain cases"):  # 4
            results += chain_cases(cluster, cases, images, options, deadline, policies, progress)
        if step("independent verification"):  # 5
            results += verify_known_good(registry, model, root, options)
        if step("audit readiness"):  # 6
            results += audit_readiness(cluster, model, outputs.kyverno_policies)
    finally:  # 7
        results.append(run_check(canaries_deleted(registry, images)))
    return results
