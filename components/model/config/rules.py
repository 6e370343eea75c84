"""Rules that relate two or more config sections, as a list of small named rule objects.

Every rule runs over everything that validated: a section that failed its own checks is read field
by field, and a rule stops (silently) only when it reads a field that failed, whose own problem is
already reported. So one run lists every problem: a prod stack whose registry section is broken
still learns that prod refuses public registry access.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from components.model.config.errors import Problem, config_key
from components.model.config.signing import AzureKeyVaultKey, GeneratedKey
from components.model.contract import acr_login_server, is_public_good

INVALID = object()
"""Stands for a section that could not be read at all (missing, or not a mapping)."""


class Unusable(Exception):  # noqa: N818 - control flow: a rule read a field that failed its own checks
    """Raised when a rule reads a value that failed validation; the rule's run ends there."""


class Partial:
    """A section whose own checks failed, readable field by field: reading a failed field (or a
    derived property, which may read one) raises `Unusable`."""

    def __init__(self, model: BaseModel, invalid: frozenset[str]) -> None:
        self._model = model
        self._invalid = invalid

    def __getattr__(self, name: str) -> Any:
        if name in self._invalid or (self._invalid and name not in type(self._model).model_fields):
            raise Unusable(name)
        return getattr(self._model, name)


@dataclass(frozen=True)
class Sections:
    """Top-level sections by field name: a model, a `Partial`, None (absent) or `INVALID`."""

    values: Mapping[str, Any]

    @classmethod
    def of(cls, cfg: BaseModel) -> Sections:
        """The sections of a validated stack config."""
        return cls({name: getattr(cfg, name) for name in type(cfg).model_fields})

    def present(self, name: str) -> bool:
        """Whether the stack file has the section, valid or not."""
        return self.values.get(name) is not None

    def __getattr__(self, name: str) -> Any:
        value = self.values.get(name)
        if value is INVALID:
            raise Unusable(name)
        return value


@dataclass(frozen=True)
class Rule:
    """One cross-section rule: its name and the check that yields its problems."""

    name: str
    check: Callable[[Sections], Iterable[Problem]]


def _placement(s: Sections) -> Iterator[Problem]:
    env = s.environment
    if env == "local":
        for section, key in (("azure", "azure"), ("network", "network"), ("build_agents", "buildAgents")):
            if s.present(section):
                yield Problem(config_key(key), "the local stack is Kubernetes only — remove this section")
        if s.registry is not None and s.registry.name is not None:
            yield Problem(
                config_key("registry.name"),
                "the local stack uses an existing registry — set registry.loginServer instead",
            )
        if s.cluster is None or s.cluster.kubeconfig_context is None:
            yield Problem(
                config_key("cluster.kubeconfigContext"),
                "the local stack needs the kubeconfig context of its cluster (e.g. kind-supply-chain)",
            )
    elif env is not None:
        if s.azure is None:
            yield Problem(
                config_key("azure"),
                f"the {env} stack deploys to Azure — add azure.location and azure.resourceGroupName",
            )
        if s.network is None:
            yield Problem(config_key("network"), f"the {env} stack needs a build network (addressSpace, subnets)")
        if s.registry is not None and s.registry.name is None:
            yield Problem(
                config_key("registry.name"),
                "Azure stacks create their registry — set registry.name (5-50 letters and digits)",
            )


def _prod_audit(s: Sections) -> Iterator[Problem]:
    env = s.environment
    if env != "prod" or s.admission is None:
        return
    for ns, cfg in s.admission.namespaces.items():
        if cfg.mode == "audit" and cfg.audit_until is None:
            yield Problem(
                config_key(f"admission.namespaces.{ns}.auditUntil"),
                "audit mode in prod needs a migration deadline (YYYY-MM-DD) after which it must enforce",
            )


def _authority(s: Sections) -> Iterator[Problem]:
    if s.admission is None or s.signing.has_authority:
        return
    modes = {cfg.mode for cfg in s.admission.namespaces.values()} | ({s.admission.default_mode} - {"off"})
    if "enforce" in modes:
        yield Problem(
            config_key("signing"),
            "namespaces enforce signatures but no authority is trusted — add signing.keyless or signing.keys",
        )
    else:
        yield Problem(
            config_key("signing"),
            "admission is configured but no authority is trusted — add signing.keyless or signing.keys",
        )


def _key_kinds(s: Sections) -> Iterator[Problem]:
    env = s.environment
    for i, key in enumerate(s.signing.keys):
        if isinstance(key, GeneratedKey) and env != "local":
            yield Problem(
                config_key(f"signing.keys[{i}].kind"),
                "generated keys are for the local stack — use azure-key-vault, aws-kms or public-key",
            )
        if isinstance(key, AzureKeyVaultKey):
            if s.azure is None:
                yield Problem(
                    config_key(f"signing.keys[{i}].kind"),
                    "azure-key-vault keys need an Azure stack — use generated (local), aws-kms or public-key",
                )
            if env == "prod" and key.hsm_enabled is False:
                yield Problem(
                    config_key(f"signing.keys[{i}].hsmEnabled"),
                    "prod signing keys are HSM-backed — remove hsmEnabled: false",
                )
        if env == "prod" and not key.transparency_log_required:
            yield Problem(
                config_key(f"signing.keys[{i}].transparencyLogRequired"),
                "prod signatures must be in the transparency log (tamper-evident, revocable) — remove it",
            )


def _pull_secret(s: Sections) -> Iterator[Problem]:
    env = s.environment
    if s.registry.pull_secret_name is not None and env != "local":
        yield Problem(
            config_key("registry.pullSecretName"),
            "Azure stacks read the registry with workload identity (no stored secret) — remove it",
        )


def _plain_http(s: Sections) -> Iterator[Problem]:
    env = s.environment
    if s.registry.plain_http_enabled and env != "local":
        yield Problem(
            config_key("registry.plainHttpEnabled"),
            "plain HTTP lets anyone on the path swap images and signatures — it is for the local stack only",
        )


def _engine_capabilities(s: Sections) -> Iterator[Problem]:
    if s.admission is None or "policy-controller" not in s.admission.engines:
        return
    kyverno = "kyverno" in s.admission.engines
    if not kyverno:
        if s.admission.default_mode != "off":
            yield Problem(
                config_key("admission.defaultMode"),
                "unlisted namespaces need kyverno (Policy Controller checks only namespaces it labels) — add "
                "kyverno to admission.engines, or set defaultMode: off and list every namespace",
            )
        for ns, cfg in s.admission.namespaces.items():
            if cfg.mode == "audit":
                yield Problem(
                    config_key(f"admission.namespaces.{ns}.mode"),
                    "audit mode needs kyverno (Policy Controller policies cannot be scoped to one namespace) — "
                    "add kyverno to admission.engines",
                )
        for ns in s.admission.attestations:
            ns_cfg = s.admission.namespaces.get(ns)
            if ns_cfg is None or ns_cfg.mode != "enforce" or ns_cfg.repositories:
                continue  # unlisted and audit namespaces have their own problem; with repositories it is served
            yield Problem(
                config_key(f"admission.attestations.{ns}"),
                "Policy Controller cannot select a namespace, only images: it requires attestations of a "
                f"namespace's repositories — list them in admission.namespaces.{ns}.repositories, or add kyverno "
                "to admission.engines",
            )
    for i, exc in enumerate(s.admission.exceptions):
        ns_cfg = s.admission.namespaces.get(exc.namespace)
        if ns_cfg is not None and ns_cfg.mode == "enforce":
            yield Problem(
                config_key(f"admission.exceptions[{i}]"),
                "Policy Controller has no exceptions and would still deny these images in an enforce "
                "namespace — drop policy-controller from admission.engines or remove the exception",
            )


def _signature_format(s: Sections) -> Iterator[Problem]:
    if s.admission is None:
        return
    sig = s.signing.sigstore
    if s.signing.signature_format != "bundle":
        return
    if "policy-controller" in s.admission.engines:
        # through v0.15.1 it reports "bundle support for image signatures is not yet implemented": every image denied
        yield Problem(
            config_key("signing.signatureFormat"),
            "Policy Controller cannot verify bundle-format image signatures (it would deny every image) — set "
            "legacy (sign with --new-bundle-format=false) or drop policy-controller",
        )
    if (
        "kyverno" in s.admission.engines
        and not is_public_good(sig.rekor_url, sig.tuf_mirror, sig.fulcio_roots)
        and sig.tuf_mirror is None
    ):
        yield Problem(
            config_key("signing.sigstore.tufMirror"),
            "Kyverno verifies bundles against a TUF-served trusted root — give the private instance's "
            "tufMirror + tufRoot, or set signing.signatureFormat: legacy",
        )


def _admission_needs_cluster(s: Sections) -> Iterator[Problem]:
    if s.admission is not None and s.cluster is None:
        yield Problem(
            config_key("cluster"),
            "admission is configured but no cluster is — add cluster.kubeconfigContext or cluster.aksClusterId",
        )


def _prod_enforces(s: Sections) -> Iterator[Problem]:
    if s.environment != "prod":
        return
    if s.admission is not None and s.admission.default_mode != "enforce":
        yield Problem(
            config_key("admission.defaultMode"),
            "prod checks every namespace it does not list — set it to enforce (exempt add-on namespaces by name)",
        )
    if s.admission is None:
        yield Problem(
            config_key("admission"),
            "prod admits only what it verifies, and no admission is configured — add admission with at least one "
            "enforce namespace",
        )
    elif s.admission.default_mode != "enforce" and not any(
        cfg.mode == "enforce" for cfg in s.admission.namespaces.values()
    ):
        yield Problem(
            config_key("admission.namespaces"),
            "no namespace enforces in prod — set mode: enforce on at least one (audit is for a dated migration)",
        )


def _exceptions_in_allowed_registries(s: Sections) -> Iterator[Problem]:
    if s.admission is None:
        return
    registry = s.registry
    own = acr_login_server(registry.name) if registry.name is not None else registry.login_server
    allowed = [own, *s.admission.allowed_registries]
    for i, exception in enumerate(s.admission.exceptions):
        for j, image in enumerate(exception.images):
            if not any(image.startswith(f"{r}/") for r in allowed if r):
                yield Problem(
                    config_key(f"admission.exceptions[{i}].images[{j}]"),
                    "comes from a registry admission does not allow, and an exception never lifts the registry "
                    "allow-list — add the registry to admission.allowedRegistries (reviewed), or push the image to "
                    f"{own}",
                )


def _signers_known(s: Sections) -> Iterator[Problem]:
    if s.admission is None:
        return
    known = s.signing.authority_names
    for ns, cfg in s.admission.namespaces.items():
        for i, signer in enumerate(cfg.signers):
            if signer not in known:
                yield Problem(
                    config_key(f"admission.namespaces.{ns}.signers[{i}]"),
                    f"{signer} names no authority — name one of signing.keyless[].name / signing.keys[].name "
                    f"({', '.join(sorted(known)) or 'none are named'})",
                )


def _provenance_from_the_builder(s: Sections) -> Iterator[Problem]:
    if s.admission is None:
        return
    identities = {k.name for k in s.signing.keyless if k.name is not None}
    keys = {k.name for k in s.signing.keys}
    for ns, required in s.admission.attestations.items():
        if required.provenance is None or required.provenance.signer in identities:
            continue
        why = (
            "is a key (the build agents could forge provenance with it)"
            if required.provenance.signer in keys
            else ("names no keyless identity")
        )
        yield Problem(
            config_key(f"admission.attestations.{ns}.provenance.signer"),
            f"{required.provenance.signer} {why} — name the builder's keyless identity (signing.keyless[].name)",
        )


def _reusable_workflows_bound(s: Sections) -> Iterator[Problem]:
    """A reusable workflow signs for every repository that calls it; only Policy Controller can check the caller
    (the certificate's workflow-repository claim, on legacy signatures), Kyverno cannot (kyverno#15809)."""
    if s.environment != "prod":
        return
    engines = s.admission.engines if s.admission is not None else []
    enforced = "policy-controller" in engines and s.signing.signature_format == "legacy"
    for i, identity in enumerate(s.signing.keyless):
        if identity.callers and not identity.provenance_only and not enforced:
            yield Problem(
                config_key(f"signing.keyless[{i}].callers"),
                "a reusable workflow's callers are checked only by Policy Controller on legacy signatures — add "
                "policy-controller to admission.engines with signing.signatureFormat: legacy, or trust each "
                "service's own workflow instead",
            )


from components.model.config import agent_rules, network_rules  # noqa: E402 - their rules read `Sections`, defined above

RULES: tuple[Rule, ...] = (
    Rule("placement", _placement),
    Rule("agents-need-network", network_rules.agents_need_network),
    Rule("prod-registry", network_rules.prod_registry),
    Rule("prod-audit", _prod_audit),
    Rule("authority", _authority),
    Rule("key-kinds", _key_kinds),
    Rule("pull-secret", _pull_secret),
    Rule("plain-http", _plain_http),
    Rule("engine-capabilities", _engine_capabilities),
    Rule("signature-format", _signature_format),
    Rule("admission-needs-cluster", _admission_needs_cluster),
    Rule("cluster-reaches-endpoints", network_rules.cluster_reaches_endpoints),
    Rule("prod-enforces", _prod_enforces),
    Rule("agent-subnet-capacity", network_rules.agent_subnet_capacity),
    Rule("prod-agent-pool", agent_rules.prod_agent_pool),
    Rule("agents-reach-their-services", agent_rules.agents_reach_their_services),
    Rule("pool-group-fits", agent_rules.pool_group_fits),
    Rule("push-repositories-listed", agent_rules.push_repositories_listed),
    Rule("prod-packages-through-a-cache", network_rules.prod_packages_through_a_cache),
    Rule("exceptions-in-allowed-registries", _exceptions_in_allowed_registries),
    Rule("signers-known", _signers_known),
    Rule("provenance-from-the-builder", _provenance_from_the_builder),
    Rule("reusable-workflows-bound", _reusable_workflows_bound),
)


def cross_section_problems(sections: Sections) -> list[Problem]:
    """The problems of every rule, each run as far as the values it reads are valid, in rule order."""
    problems: list[Problem] = []
    for rule in RULES:
        try:
            for problem in rule.check(sections):
                problems.append(problem)
        except Unusable:
            continue
    return problems
