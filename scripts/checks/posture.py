"""Posture: how the cluster, the registry and the signing keys are set up, each fact a small check.

Cluster: the engines' Pod webhooks exist, never match system or engine namespaces, have bounded
timeouts and fail closed for enforce namespaces; namespaces carry their admission-mode label; the
stack's policies are present and ready; no policy exception is past its expiry. Registry: no
anonymous pulls, and (from outside the private network) closed to this network. Keys: a public key
the stack pins is the one the vault holds; an AWS KMS key is an enabled signing key of a spec the engines verify,
and the public key the stack pins for it is the one KMS holds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from components.model.contract import (
    ADMISSION_MODE_LABEL,
    AWS_KMS_SCHEME,
    KYVERNO_NAMESPACE,
    NEVER_MATCHED,
    StackOutputs,
)
from components.model.trust import KeyAuthority, TrustModel
from scripts.checks.aws_kms import kms_client, locate, read_key
from scripts.checks.cases import unlisted_namespaces
from scripts.checks.cluster import Cluster, Webhook, is_ready
from scripts.checks.cosign import ImageRef
from scripts.checks.errors import UnreachableError, UsageError, VerificationFailedError
from scripts.checks.oci import Registry
from scripts.checks.results import Check, CheckFailed, CheckResult, Observation, passed_if, run_check, run_checks
from scripts.checks.vault import split_kms_uri, vault_public_key
from scripts.checks.verification import same_public_key

MAX_WEBHOOK_TIMEOUT = 30  # seconds; the API server's own limit, and a slow webhook stalls every create

# --- cluster --------------------------------------------------------------------------------------


def pod_webhooks(cluster: Cluster) -> list[Webhook]:
    """The engines' webhooks that receive Pod creates. Only these decide admission; the engines' other
    webhooks (for their own policy objects) are Fail with no namespace selector and would mislead."""
    return [
        h
        for h in cluster.validating_webhooks()
        if ("kyverno" in h.configuration or "sigstore" in h.configuration) and h.covers_pod_creates
    ]


def webhooks_registered(hooks: Sequence[Webhook]) -> Check:
    """At least one engine webhook receives Pod creates."""

    def observe() -> Observation:
        details = {
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
        names = ", ".join(sorted({f"{h.configuration}/{h.name}" for h in hooks})) or "none"
        return passed_if(bool(hooks), names, details)

    return Check("posture/webhooks-exist", "the engines' Pod webhooks are registered", "at least one", observe)


def system_namespaces_unmatched(cluster: Cluster, hooks: Sequence[Webhook]) -> Check:
    """No Pod webhook could select kube-system or an engine's own namespace (that can lock them out)."""

    def observe() -> Observation:
        hits = [
            f"{h.name} → {ns}"
            for h in hooks
            for ns in NEVER_MATCHED
            if h.could_match(ns, cluster.namespace_labels(ns) or {})
        ]
        return passed_if(not hits, "; ".join(hits) or "none")

    return Check(
        "posture/system-namespaces",
        "no webhook matches system or engine namespaces",
        f"none of {', '.join(NEVER_MATCHED)}",
        observe,
    )


def timeouts_bounded(hooks: Sequence[Webhook]) -> Check:
    """Every Pod webhook answers within MAX_WEBHOOK_TIMEOUT seconds."""

    def observe() -> Observation:
        slow = [f"{h.name}: {h.timeout_seconds}s" for h in hooks if h.timeout_seconds > MAX_WEBHOOK_TIMEOUT]
        return passed_if(not slow, "; ".join(slow) or f"all ≤ {MAX_WEBHOOK_TIMEOUT} s")

    return Check("posture/timeouts", "webhook timeouts are bounded", f"≤ {MAX_WEBHOOK_TIMEOUT} s", observe)


def fail_closed(cluster: Cluster, namespace: str, hooks: Sequence[Webhook]) -> Check:
    """An enforce namespace is selected by a webhook with failurePolicy Fail (down means denied)."""

    def observe() -> Observation:
        labels = cluster.namespace_labels(namespace) or {}
        closed = [h.name for h in hooks if h.failure_policy == "Fail" and h.could_match(namespace, labels)]
        return passed_if(bool(closed), ", ".join(closed) or "none")

    return Check(
        f"posture/{namespace}/fail-closed",
        f"{namespace} is behind a fail-closed webhook",
        "a webhook with failurePolicy Fail selects it",
        observe,
    )


def namespace_labelled(cluster: Cluster, namespace: str, mode: str) -> Check:
    """A namespace under admission carries the admission-mode label the config gives it."""

    def observe() -> Observation:
        labels = cluster.namespace_labels(namespace)
        if labels is None:
            raise CheckFailed("namespace missing")
        value = labels.get(ADMISSION_MODE_LABEL)
        return passed_if(value == mode, f"{ADMISSION_MODE_LABEL}={value}")

    return Check(
        f"posture/{namespace}/label", f"{namespace} is labelled {mode}", f"{ADMISSION_MODE_LABEL}={mode}", observe
    )


def policies_ready(cluster: Cluster, outputs: StackOutputs) -> list[Check]:
    """Each policy the stack exported is in the cluster and ready (listed once, checked by name)."""
    kinds = [
        ("policies.kyverno.io", "v1", "imagevalidatingpolicies", outputs.kyverno_policies),
        ("policies.kyverno.io", "v1", "validatingpolicies", outputs.kyverno_policies),
        ("policy.sigstore.dev", "v1beta1", "clusterimagepolicies", outputs.policy_controller_policies),
    ]
    ready: dict[str, bool] = {}
    for group, version, plural, wanted in kinds:
        if not wanted:
            continue
        for obj in cluster.list_cluster_objects(group, version, plural) or []:
            name = obj["metadata"]["name"]
            if name in wanted:  # Policy Controller reports no readiness: present is ready
                ready[name] = plural == "clusterimagepolicies" or is_ready(obj)

    def policy_ready(name: str) -> Check:
        def observe() -> Observation:
            if name not in ready:
                raise CheckFailed("missing")
            return passed_if(ready[name], "ready" if ready[name] else "not ready")

        return Check(f"posture/policy/{name}", f"policy {name} is present and ready", "present, ready", observe)

    return [
        policy_ready(name) for name in sorted(set(outputs.kyverno_policies) | set(outputs.policy_controller_policies))
    ]


def exceptions_current(cluster: Cluster) -> Check:
    """No Kyverno PolicyException is past its `expiresAt` (an unreadable expiry counts as passed)."""
    exceptions = cluster.list_namespaced_objects("policies.kyverno.io", "v1", KYVERNO_NAMESPACE, "policyexceptions")

    def observe() -> Observation:
        now = datetime.now(UTC)
        expired = [e["metadata"]["name"] for e in exceptions or [] if _expired(e.get("spec", {}).get("expiresAt"), now)]
        return passed_if(not expired, ", ".join(expired) or "none")

    return Check("posture/exceptions-current", "no policy exception is past its expiry", "none expired", observe)


def _expired(expires_at: object, now: datetime) -> bool:
    if not isinstance(expires_at, str):
        return False
    try:
        return datetime.fromisoformat(expires_at.replace("Z", "+00:00")) < now
    except ValueError:
        return True  # an expiry nobody can read is treated as passed


def posture(cluster: Cluster, outputs: StackOutputs, model: TrustModel) -> list[CheckResult]:
    """Every cluster posture check, in the evidence's order."""
    hooks = pod_webhooks(cluster)
    results = run_checks(
        [
            webhooks_registered(hooks),
            system_namespaces_unmatched(cluster, hooks),
            timeouts_bounded(hooks),
            *(
                fail_closed(cluster, ns.name, hooks)
                for ns in (*model.in_mode("enforce"), *unlisted_namespaces(model))
                if ns.mode == "enforce"
            ),
            *(namespace_labelled(cluster, name, mode) for name, mode in sorted(outputs.namespaces.items())),
        ]
    )
    results += run_checks(policies_ready(cluster, outputs))
    results.append(run_check(exceptions_current(cluster)))
    return results


# --- registry -------------------------------------------------------------------------------------


def anonymous_pull_refused(registry: Registry, outputs: StackOutputs, probe: ImageRef | None) -> Check:
    """The registry refuses an unauthenticated manifest read (skipped for the local, anonymous one)."""

    def observe() -> Observation:
        if outputs.environment == "local":
            return Observation("the local stack's registry is anonymous by design", "skip")
        if probe is None:
            return Observation("no image to probe with", "skip")
        status = registry.anonymous_status(probe.repository, probe.digest)
        return passed_if(status in (401, 403), f"HTTP {status}")

    return Check("registry/anonymous-pull", "the registry refuses anonymous pulls", "401 or 403", observe)


def registry_posture(registry: Registry, outputs: StackOutputs, probe: ImageRef | None) -> list[CheckResult]:
    """The registry's posture as seen from inside (anonymous pulls refused)."""
    return [run_check(anonymous_pull_refused(registry, outputs, probe))]


def public_access_closed(registry: Registry) -> Check:
    """Run from outside the private network: the registry must not answer, or answer 403 (ACR's
    network rules: "client with IP ... is not allowed access")."""

    def observe() -> Observation:
        try:
            status = registry.ping()
        except UnreachableError as exc:
            return Observation(f"not reachable from here ({exc})")
        return passed_if(status == 403, f"HTTP {status} from here")

    return Check(
        "registry/public-access",
        "the registry is closed to this (outside) network",
        "unreachable, or 403 by network rules",
        observe,
    )


def public_access(registry: Registry) -> CheckResult:
    """The outside-network probe's result (`python -m scripts.verify --outside-network`)."""
    return run_check(public_access_closed(registry))


# --- signing keys ---------------------------------------------------------------------------------


def pinned_key_matches(
    key: KeyAuthority, token: Callable[[], str], locate: Callable[[str], tuple[str, str, str | None]]
) -> Check:
    """The public key the stack pins for a Key Vault key is the vault's (a data-plane read)."""

    def observe() -> Observation:
        try:
            vault_url, name, version = locate(key.kms_uri or "")
            actual = vault_public_key(vault_url, name, token(), version=version)
        except (UnreachableError, UsageError) as exc:
            return Observation(f"vault not readable from here: {exc}", "skip")
        except VerificationFailedError as exc:
            raise CheckFailed(str(exc)) from exc
        same = same_public_key(actual, key.public_key_pem or "")
        return passed_if(same, "same key" if same else "a different key (rotated? update signing.keys[].publicKey)")

    return Check(
        f"keys/{key.name}/pinned", f"pinned public key of {key.name} is the vault's", "the same public key", observe
    )


def pinned_keys(
    model: TrustModel,
    token: Callable[[], str],
    locate: Callable[[str], tuple[str, str, str | None]] = split_kms_uri,
) -> list[CheckResult]:
    """Keys whose public half the stack pins in config match the vault's."""
    return run_checks(
        pinned_key_matches(key, token, locate)
        for key in model.keys
        if key.kms_uri and key.public_key_pem and not key.kms_uri.startswith(AWS_KMS_SCHEME)
    )


def aws_kms_key_usable(key: KeyAuthority, client_for: Callable[[str], Any]) -> Check:
    """The AWS KMS key behind `key` is an enabled SIGN_VERIFY key of a spec the engines verify, and the public key
    the stack pins (if any) is the one KMS holds: an alias pointed at another key shows here. Without credentials,
    or when KMS does not answer from here, a skip saying so; a refusal by AWS (access denied, no such key) fails."""
    pinned = key.public_key_pem is not None

    def observe() -> Observation:
        arn = locate(key)
        try:
            facts = read_key(client_for(arn.region), arn.arn)
        except UnreachableError as exc:
            return Observation(f"AWS KMS not readable from here: {exc}", "skip")
        except VerificationFailedError as exc:
            raise CheckFailed(str(exc)) from exc
        details = {"arn": facts.arn, "keySpec": facts.spec, "keyUsage": facts.usage, "keyState": facts.state}
        if problems := facts.problems():
            return passed_if(False, "; ".join(problems), details)
        if not pinned:
            return passed_if(True, f"{facts.spec}, {facts.usage}, signs with {facts.signing_algorithm}", details)
        same = facts.public_key is not None and same_public_key(facts.public_key, key.public_key_pem or "")
        observed = (
            f"same key ({facts.spec})"
            if same
            else f"KMS holds a different key ({facts.arn}; alias retargeted or key replaced? update publicKey)"
        )
        return passed_if(same, observed, details)

    return Check(
        f"keys/{key.name}/aws-kms",
        f"AWS KMS key {key.name} signs as the stack trusts it",
        "an enabled SIGN_VERIFY key" + (", the pinned public key" if pinned else ""),
        observe,
    )


def aws_kms_keys(model: TrustModel, client_for: Callable[[str], Any] = kms_client) -> list[CheckResult]:
    """Every AWS KMS key the stack trusts, read from KMS (`client_for(region)` makes the client)."""
    return run_checks(
        aws_kms_key_usable(key, client_for)
        for key in model.keys
        if key.kms_uri and key.kms_uri.startswith(AWS_KMS_SCHEME)
    )
