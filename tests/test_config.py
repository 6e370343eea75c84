"""The config model: shipped stacks validate; bad config is refused with the key to fix."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from components.model.config import ConfigError, StackConfig, identity_pattern_problems, parse_stack_config
from components.model.config.text import scrub
from tests.certificates import self_signed_pem
from tests.conftest import SHIPPED_STACKS, stack_raw

TODAY = date(2026, 11, 24)
Mutation = Callable[[dict[str, Any]], None]


def _pem(key: Any) -> str:
    pem: bytes = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem.decode()


def refused(raw: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_stack_config(raw, today=TODAY)
    return [p.key for p in caught.value.problems]


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_shipped_stack_validates(stack: str) -> None:
    config = parse_stack_config(stack_raw(stack))
    assert isinstance(config, StackConfig)
    assert config.environment == stack


def _set(path: str, value: Any) -> Mutation:
    """A mutation that sets `a.b[0].c` to value (creating mappings on the way)."""

    def apply(raw: dict[str, Any]) -> None:
        parts = path.replace("[", ".[").split(".")
        node: Any = raw
        for part in parts[:-1]:
            node = node[int(part[1:-1])] if part.startswith("[") else node.setdefault(part, {})
        last = parts[-1]
        if last.startswith("["):
            node[int(last[1:-1])] = value
        else:
            node[last] = value

    return apply


def _delete(path: str) -> Mutation:
    def apply(raw: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = raw
        for part in parents:
            node = node[part]
        del node[last]

    return apply


def _both(*mutations: Mutation) -> Mutation:
    def apply(raw: dict[str, Any]) -> None:
        for mutation in mutations:
            mutation(raw)

    return apply


P = "supply-chain:"
HUB_ZONES = (
    "/subscriptions/9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d/resourceGroups/rg-hub-dns"
    "/providers/Microsoft.Network/privateDnsZones"
)
INVALID: list[tuple[str, str, Mutation, str]] = [
    # (case, base stack, mutation, key that must be named)
    ("wrong type", "dev", _set("buildAgents.maxInstances", "many"), "buildAgents.maxInstances"),
    ("unknown top-level key (typo)", "dev", _set("registy", {"name": "x"}), "registy"),
    ("unknown nested key (typo)", "dev", _set("registry.retentionDay", 3), "registry.retentionDay"),
    ("unknown environment", "dev", _set("environment", "production"), "environment"),
    ("invalid CIDR", "dev", _set("network.addressSpace", "10.40.0.0/33"), "network.addressSpace"),
    ("CIDR with host bits", "dev", _set("network.subnets.agents", "10.40.0.1/24"), "network.subnets.agents"),
    ("overlapping subnets", "dev", _set("network.subnets.endpoints", "10.40.0.128/25"), "network.subnets.endpoints"),
    ("subnet outside address space", "dev", _set("network.subnets.agents", "10.41.0.0/24"), "network.subnets.agents"),
    ("firewall subnet too small", "dev", _set("network.subnets.firewall", "10.40.2.0/27"), "network.subnets.firewall"),
    (
        "wildcard egress FQDN",
        "dev",
        _set("network.egress.extraAllowedFqdns", ["*.github.com"]),
        "network.egress.extraAllowedFqdns[0]",
    ),
    ("unknown egress mode", "dev", _set("network.egress.mode", "open"), "network.egress.mode"),
    ("ACR name with dash", "dev", _set("registry.name", "cr-contoso"), "registry.name"),
    ("ACR name too short", "dev", _set("registry.name", "cr1"), "registry.name"),
    ("retention out of range", "dev", _set("registry.retentionDays", 400), "registry.retentionDays"),
    (
        "public access with private range",
        "dev",
        _both(_set("registry.publicNetworkAccessEnabled", True), _set("registry.allowedIpRanges", ["10.0.0.0/8"])),
        "registry.allowedIpRanges[0]",
    ),
    (
        "public access without ranges",
        "dev",
        _set("registry.publicNetworkAccessEnabled", True),
        "registry.allowedIpRanges",
    ),
    (
        "prod with public registry",
        "prod",
        _both(_set("registry.publicNetworkAccessEnabled", True), _set("registry.allowedIpRanges", ["52.174.10.0/24"])),
        "registry.publicNetworkAccessEnabled",
    ),
    ("negative max instances", "dev", _set("buildAgents.maxInstances", -1), "buildAgents.maxInstances"),
    ("azure-devops is not built", "dev", _set("buildAgents.runner.kind", "azure-devops"), "buildAgents.runner.kind"),
    (
        "registration outlasting the job",
        "dev",
        _set("buildAgents.jobTimeoutMinutes", 10),
        "buildAgents.registrationTimeoutMinutes",
    ),
    (
        "github scope not an org",
        "dev",
        _set("buildAgents.runner.scope", "https://github.com/contoso"),
        "buildAgents.runner.scope",
    ),
    ("match-all identity", "dev", _set("signing.keyless[0].subjectRegExp", ".*"), "signing.keyless[0].subjectRegExp"),
    (
        "unanchored identity",
        "dev",
        _set("signing.keyless[0].subjectRegExp", r"https://github\.com/contoso/.+"),
        "signing.keyless[0].subjectRegExp",
    ),
    (
        "identity without owner",
        "dev",
        _set("signing.keyless[0].subjectRegExp", r"^https://github\.com/.+$"),
        "signing.keyless[0].subjectRegExp",
    ),
    (
        "empty subject",
        "dev",
        _set("signing.keyless[0]", {"issuer": "https://token.actions.githubusercontent.com", "subject": " "}),
        "signing.keyless[0].subject",
    ),
    (
        "subject and regexp both",
        "dev",
        _set("signing.keyless[0].subject", "https://github.com/contoso/x"),
        "signing.keyless[0].subjectRegExp",
    ),
    (
        "issuer not https",
        "dev",
        _set("signing.keyless[0].issuer", "http://issuer.example"),
        "signing.keyless[0].issuer",
    ),
    ("unknown key kind", "dev", _set("signing.keys[0]", {"kind": "pgp", "name": "k"}), "signing.keys[0]"),
    (
        "generated key outside local",
        "dev",
        _set("signing.keys[0]", {"kind": "generated", "name": "k"}),
        "signing.keys[0].kind",
    ),
    ("software key in prod", "prod", _set("signing.keys[0].hsmEnabled", False), "signing.keys[0].hsmEnabled"),
    (
        "weak RSA key",
        "dev",
        _set(
            "signing.keys[0]",
            {
                "kind": "public-key",
                "name": "k",
                "pem": _pem(rsa.generate_private_key(public_exponent=65537, key_size=1024)),
            },
        ),
        "signing.keys[0].pem",
    ),
    (
        "unsupported curve",
        "dev",
        _set(
            "signing.keys[0]", {"kind": "public-key", "name": "k", "pem": _pem(ec.generate_private_key(ec.SECP521R1()))}
        ),
        "signing.keys[0].pem",
    ),
    (
        "ed25519 key",
        "dev",
        _set("signing.keys[0]", {"kind": "public-key", "name": "k", "pem": _pem(ed25519.Ed25519PrivateKey.generate())}),
        "signing.keys[0].pem",
    ),
    (
        "not a PEM",
        "dev",
        _set("signing.keys[0]", {"kind": "public-key", "name": "k", "pem": "ssh-ed25519 AAAA"}),
        "signing.keys[0].pem",
    ),
    ("enforce with no authority", "local", _set("signing", {}), "signing"),
    (
        "kube-system enforced",
        "dev",
        _set("admission.namespaces.kube-system", {"mode": "enforce"}),
        "admission.namespaces.kube-system",
    ),
    (
        "kyverno namespace listed",
        "dev",
        _set("admission.namespaces.kyverno", {"mode": "audit"}),
        "admission.namespaces.kyverno",
    ),
    (
        "policy-controller namespace listed",
        "dev",
        _set("admission.namespaces.cosign-system", {"mode": "enforce"}),
        "admission.namespaces.cosign-system",
    ),
    (
        "invalid namespace name",
        "dev",
        _set("admission.namespaces.Payments_API", {"mode": "enforce"}),
        "admission.namespaces.Payments_API",
    ),
    (
        "prod audit without deadline",
        "prod",
        _delete("admission.namespaces.analytics.auditUntil"),
        "admission.namespaces.analytics.auditUntil",
    ),
    (
        "audit deadline passed",
        "prod",
        _set("admission.namespaces.analytics.auditUntil", "2026-01-31"),
        "admission.namespaces.analytics.auditUntil",
    ),
    (
        "deadline on enforce namespace",
        "prod",
        _set("admission.namespaces.payments.auditUntil", "2027-01-31"),
        "admission.namespaces.payments.auditUntil",
    ),
    (
        "attestation for unlisted namespace",
        "dev",
        _set("admission.attestations.billing", {"sbom": "spdx"}),
        "admission.attestations.billing",
    ),
    (
        "unknown SBOM type",
        "dev",
        _set("admission.attestations.payments.sbom", "swid"),
        "admission.attestations.payments.sbom",
    ),
    (
        "provenance builder wildcard",
        "dev",
        _set("admission.attestations.payments.provenance.builderId", "https://github.com/*"),
        "admission.attestations.payments.provenance.builderId",
    ),
    (
        "provenance ref not a full ref",
        "dev",
        _set("admission.attestations.payments.provenance.sourceRef", "main"),
        "admission.attestations.payments.provenance.sourceRef",
    ),
    (
        "expired exception",
        "prod",
        _set("admission.exceptions[0].expires", "2026-10-01"),
        "admission.exceptions[0].expires",
    ),
    (
        "exception for every image",
        "prod",
        _set("admission.exceptions[0].images", ["*"]),
        "admission.exceptions[0].images[0]",
    ),
    ("no engine", "dev", _set("admission.engines", []), "admission.engines"),
    (
        "policy-controller alone with audit namespaces",
        "dev",
        _set("admission.engines", ["policy-controller"]),
        "admission.namespaces.payments.mode",
    ),
    (
        "policy-controller alone with attestations of a namespace without repositories",
        "dev",
        _both(_set("admission.engines", ["policy-controller"]), _set("admission.namespaces.payments.mode", "enforce")),
        "admission.attestations.payments",
    ),
    (
        "policy-controller with an exception in an enforce namespace",
        "prod",
        _set("admission.exceptions[0].namespace", "payments"),
        "admission.exceptions[0]",
    ),
    (
        "private Sigstore without Fulcio roots for keyless",
        "prod",
        _set(
            "signing.sigstore",
            {
                "rekorUrl": "https://rekor.contoso.example",
                "rekorPublicKey": _pem(ec.generate_private_key(ec.SECP256R1())),
            },
        ),
        "signing.sigstore.fulcioRoots",
    ),
    (
        "wildcard allowed registry",
        "dev",
        _set("admission.allowedRegistries", ["*.azurecr.io"]),
        "admission.allowedRegistries[0]",
    ),
    (
        "local stack with azure section",
        "local",
        _set("azure", {"location": "westeurope", "resourceGroupName": "rg"}),
        "azure",
    ),
    ("local stack without kube context", "local", _delete("cluster"), "cluster.kubeconfigContext"),
    ("azure stack without azure section", "dev", _delete("azure"), "azure"),
    ("both cluster kinds", "dev", _set("cluster.kubeconfigContext", "kind-x"), "cluster"),
    ("malformed AKS id", "dev", _set("cluster.aksClusterId", "aks-contoso-dev"), "cluster.aksClusterId"),
    (
        "transparency log off in prod",
        "prod",
        _set("signing.keys[0].transparencyLogRequired", False),
        "signing.keys[0].transparencyLogRequired",
    ),
    (
        "prod cluster network not peered while the registry is private",
        "prod",
        _delete("cluster.virtualNetworkId"),
        "cluster.virtualNetworkId",
    ),
    (
        "cluster VNet peered but the endpoints' NSG admits only the agents",
        "dev",
        _set("network.endpointClientRanges", []),
        "network.endpointClientRanges",
    ),
    (
        "cluster VNet range overlapping the build VNet (cannot peer)",
        "prod",
        _set("network.endpointClientRanges", ["10.50.128.0/17"]),
        "network.endpointClientRanges[0]",
    ),
    (
        "cluster VNet id of another resource type",
        "dev",
        _set(
            "cluster.virtualNetworkId",
            "/subscriptions/6f1c2a3b-0d4e-4f5a-9b8c-7d6e5f4a3b2c/resourceGroups/rg/providers/Microsoft.Network/"
            "networkSecurityGroups/nsg",
        ),
        "cluster.virtualNetworkId",
    ),
    (
        "cluster VNet on the local stack",
        "local",
        _set(
            "cluster.virtualNetworkId",
            "/subscriptions/6f1c2a3b-0d4e-4f5a-9b8c-7d6e5f4a3b2c/resourceGroups/rg/providers/Microsoft.Network/"
            "virtualNetworks/vnet",
        ),
        "cluster.virtualNetworkId",
    ),
    ("a zone listed twice", "prod", _set("azure.availabilityZones", ["1", "1"]), "azure.availabilityZones"),
    ("a zone that does not exist", "prod", _set("azure.availabilityZones", ["4"]), "azure.availabilityZones[0]"),
    (
        "two keys whose names differ only in case (one Policy Controller authority)",
        "prod",
        _set(
            "signing.keys",
            [
                {"kind": "azure-key-vault", "name": "image-signing", "rotationDays": 180},
                {"kind": "azure-key-vault", "name": "Image-Signing", "rotationDays": 180},
            ],
        ),
        "signing.keys[1].name",
    ),
    (
        "the vault's zone given as the registry's",
        "prod",
        _set(
            "network.privateDnsZones",
            {"registry": f"{HUB_ZONES}/privatelink.vaultcore.azure.net"},
        ),
        "network.privateDnsZones.registry",
    ),
    (
        "a central zone id of another resource type",
        "prod",
        _set("network.privateDnsZones", {"vault": "/subscriptions/9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d/x"}),
        "network.privateDnsZones.vault",
    ),
    (
        "hub and spoke covering the registry but not the vault, and no peering",
        "prod",
        _both(
            _delete("cluster.virtualNetworkId"),
            _set(
                "network.privateDnsZones",
                {"registry": f"{HUB_ZONES}/privatelink.azurecr.io"},
            ),
        ),
        "cluster.virtualNetworkId",
    ),
    (
        "Premium without a CA to inspect TLS with",
        "prod",
        _set("network.egress.firewallTier", "Premium"),
        "network.egress.tlsInspection",
    ),
    (
        "TLS inspection on a Standard firewall",
        "prod",
        _set(
            "network.egress.tlsInspection",
            {
                "certificateSecretId": "https://kv-pki.vault.azure.net/secrets/ca",
                "vaultId": "/subscriptions/9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d/resourceGroups/rg/providers/"
                "Microsoft.KeyVault/vaults/kv-pki",
            },
        ),
        "network.egress.tlsInspection",
    ),
    (
        "the CA's secret in another vault than the one named",
        "prod",
        _both(
            _set("network.egress.firewallTier", "Premium"),
            _set(
                "network.egress.tlsInspection",
                {
                    "certificateSecretId": "https://kv-pki.vault.azure.net/secrets/ca",
                    "vaultId": "/subscriptions/9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d/resourceGroups/rg/providers/"
                    "Microsoft.KeyVault/vaults/kv-other",
                },
            ),
        ),
        "network.egress.tlsInspection.vaultId",
    ),
    (
        "public endpoint client range",
        "prod",
        _set("network.endpointClientRanges", ["20.0.0.0/16"]),
        "network.endpointClientRanges[0]",
    ),
    (
        "firewall logs without a firewall",
        "prod",
        _set("network.egress.mode", "nsg-only"),
        "network.logAnalyticsWorkspaceId",
    ),
    (
        "vault logs without a vault key",
        "prod",
        _set(
            "signing.keys",
            [{"kind": "public-key", "name": "ext", "pem": _pem(ec.generate_private_key(ec.SECP256R1()))}],
        ),
        "signing.logAnalyticsWorkspaceId",
    ),
    (
        "vault logs to something that is not a workspace id",
        "prod",
        _set("signing.logAnalyticsWorkspaceId", "law-security"),
        "signing.logAnalyticsWorkspaceId",
    ),
    (
        "puller with a non-GUID id",
        "dev",
        _set("registry.pullerPrincipalIds", {"dr": "not-a-guid"}),
        "registry.pullerPrincipalIds.dr",
    ),
    (
        "policy-controller with bundle signatures and keys",
        "prod",
        _set("signing.signatureFormat", "bundle"),
        "signing.signatureFormat",
    ),
    (
        "policy-controller with bundle signatures, keyless only",
        "prod",
        _both(_set("signing.signatureFormat", "bundle"), _set("signing.keys", [])),
        "signing.signatureFormat",
    ),
    (
        "Fulcio roots without the Fulcio URL",
        "prod",
        _set("signing.sigstore", {"fulcioRoots": self_signed_pem()}),
        "signing.sigstore.fulcioUrl",
    ),
    (
        "private Sigstore bundles for Kyverno without TUF",
        "dev",
        _set(
            "signing.sigstore",
            {
                "rekorUrl": "https://rekor.contoso.example",
                "rekorPublicKey": _pem(ec.generate_private_key(ec.SECP256R1())),
                "fulcioUrl": "https://fulcio.contoso.example",
                "fulcioRoots": self_signed_pem(),
            },
        ),
        "signing.sigstore.tufMirror",
    ),
    (
        "private Rekor for key signatures, bundles for Kyverno without TUF",
        "local",
        _set(
            "signing.sigstore",
            {
                "rekorUrl": "https://rekor.contoso.example",
                "rekorPublicKey": _pem(ec.generate_private_key(ec.SECP256R1())),
            },
        ),
        "signing.sigstore.tufMirror",
    ),
    ("pull secret on an Azure stack", "dev", _set("registry.pullSecretName", "regcred"), "registry.pullSecretName"),
    ("plain HTTP registry outside local", "dev", _set("registry.plainHttpEnabled", True), "registry.plainHttpEnabled"),
    (
        "malformed key version",
        "prod",
        _set("signing.keys[0].previousVersions", [{"version": "v1", "until": date(2026, 12, 31)}]),
        "signing.keys[0].previousVersions[0].version",
    ),
    (
        "key version listed without the end of its overlap",
        "prod",
        _set("signing.keys[0].previousVersions", ["a" * 32]),
        "signing.keys[0].previousVersions[0]",
    ),
    (
        "key version whose overlap has ended",
        "prod",
        _set("signing.keys[0].previousVersions", [{"version": "a" * 32, "until": date(2026, 11, 23)}]),
        "signing.keys[0].previousVersions[0].until",
    ),
    (
        "key version trusted past the next rotation",
        "prod",
        _set("signing.keys[0].previousVersions", [{"version": "a" * 32, "until": date(2027, 6, 1)}]),
        "signing.keys[0].previousVersions",
    ),
    (
        "key version listed twice",
        "prod",
        _set("signing.keys[0].previousVersions", [{"version": "a" * 32, "until": date(2026, 12, 15)}] * 2),
        "signing.keys[0].previousVersions",
    ),
    (
        "TUF mirror without its root",
        "prod",
        _set("signing.sigstore", {"tufMirror": "https://tuf.sigstore.contoso.example"}),
        "signing.sigstore.tufRoot",
    ),
    (
        "private Rekor without a key",
        "prod",
        _set("signing.sigstore", {"rekorUrl": "https://rekor.contoso.example"}),
        "signing.sigstore.rekorPublicKey",
    ),
    (
        "Rekor key that is not a key",
        "prod",
        _set("signing.sigstore.rekorPublicKey", "nope"),
        "signing.sigstore.rekorPublicKey",
    ),
]


@pytest.mark.parametrize(("base", "mutation", "key"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID])
def test_invalid_config_is_refused_naming_the_key(base: str, mutation: Mutation, key: str) -> None:
    raw = stack_raw(base)
    mutation(raw)
    keys = refused(raw)
    assert P + key in keys, f"expected {P + key} among {keys}"


def test_every_problem_is_reported_at_once() -> None:
    raw = stack_raw("prod")
    for mutation in (
        _set("netwrok", {}),
        _set("network.subnets.endpoints", "10.50.0.0/24"),
        _set("registry.name", "cr-prod"),
        _set("signing.keyless[0]", {"issuer": "https://token.actions.githubusercontent.com", "subjectRegExp": ".*"}),
        _set("admission.namespaces.kube-system", {"mode": "enforce"}),
        _set("buildAgents.maxInstances", -5),
    ):
        mutation(raw)
    with pytest.raises(ConfigError) as caught:
        parse_stack_config(raw, today=TODAY)
    keys = {p.key for p in caught.value.problems}
    assert {
        P + "netwrok",
        P + "network.subnets.endpoints",
        P + "registry.name",
        P + "signing.keyless[0].subjectRegExp",
        P + "admission.namespaces.kube-system",
        P + "buildAgents.maxInstances",
    } <= keys
    message = str(caught.value)
    assert "did you mean 'network'" in message
    assert message.count("\n  - ") == len(caught.value.problems)


def test_cross_section_rules_run_when_another_section_is_broken() -> None:
    raw = stack_raw("prod")
    _set("registry.publicNetworkAccessEnabled", True)(raw)
    _set("registry.allowedIpRanges", ["52.174.10.0/24"])(raw)
    _set("buildAgents.maxInstances", "lots")(raw)  # unrelated field error
    keys = refused(raw)
    assert P + "buildAgents.maxInstances" in keys
    assert P + "registry.publicNetworkAccessEnabled" in keys


def test_cross_section_rules_read_the_valid_fields_of_a_section_with_a_broken_one() -> None:
    raw = stack_raw("prod")
    _set("registry.publicNetworkAccessEnabled", True)(raw)
    _set("registry.allowedIpRanges", ["52.174.10.0/24"])(raw)
    _set("registry.name", "cr-prod")(raw)  # the same section's own field error
    keys = refused(raw)
    assert P + "registry.name" in keys
    assert P + "registry.publicNetworkAccessEnabled" in keys


def test_a_refused_key_is_shown_with_invisible_characters_escaped_and_letters_as_typed() -> None:
    raw = stack_raw("dev")
    namespaces = raw["admission"]["namespaces"]
    for name in ("pay\u202ements", "caf\u00e9\u00a0", "ops\x1b[31m"):
        namespaces[name] = {"mode": "enforce"}
    keys = refused(raw)
    assert P + "admission.namespaces.pay\\u202ements" in keys  # a right-to-left override, escaped
    assert P + "admission.namespaces.caf\u00e9\\xa0" in keys  # é as typed, the no-break space escaped
    assert P + "admission.namespaces.ops\\x1b[31m" in keys  # a terminal escape sequence, escaped


def test_a_secret_in_a_list_is_scrubbed_from_a_message_that_quotes_it() -> None:
    token = "ghp_" + "A1b2C3d4" * 5
    raw = {"admission": {"allowedRegistries": ["mcr.microsoft.com", token]}}
    assert scrub(f"cannot parse {token!r} as a registry", raw) == "cannot parse '(not shown)' as a registry"


def test_problems_name_the_fix() -> None:
    raw = stack_raw("dev")
    _set("signing.keyless[0].subjectRegExp", ".*")(raw)
    with pytest.raises(ConfigError) as caught:
        parse_stack_config(raw, today=TODAY)
    (problem,) = caught.value.problems
    assert "anyone" in problem.message
    assert "pin the org" in problem.message


@pytest.mark.parametrize(
    "pattern",
    [
        r"^https://github\.com/contoso/[A-Za-z0-9_.-]+/\.github/workflows/release\.yml@refs/heads/main$",
        r"^https://github\.com/contoso/app/\.github/workflows/.+@refs/tags/v\d+\.\d+\.\d+$",
        r"^[a-z.]+@contoso\.example$",
    ],
)
def test_pinned_identity_patterns_are_accepted(pattern: str) -> None:
    assert identity_pattern_problems(pattern) == []


@pytest.mark.parametrize(
    "pattern",
    [
        ".*",
        "^.*$",
        ".+",
        "",
        r"^https://github\.com/.*$",  # any owner
        r"^https://github\.com/contoso.*$",  # contoso-evil too
        r"https://github\.com/contoso/app/.*",  # unanchored
        r"^https://github\.com/contoso/app/.*",  # no end anchor
        r"^.*@contoso\.example",  # no end anchor
        "^(",  # does not compile
    ],
)
def test_identity_patterns_that_trust_too_much_are_refused(pattern: str) -> None:
    assert identity_pattern_problems(pattern)


def test_accepted_public_keys() -> None:
    raw = stack_raw("dev")
    _set(
        "signing.keys",
        [
            {"kind": "public-key", "name": "p256", "pem": _pem(ec.generate_private_key(ec.SECP256R1()))},
            {"kind": "public-key", "name": "p384", "pem": _pem(ec.generate_private_key(ec.SECP384R1()))},
            {
                "kind": "public-key",
                "name": "rsa",
                "pem": _pem(rsa.generate_private_key(public_exponent=65537, key_size=2048)),
            },
        ],
    )(raw)
    config = parse_stack_config(raw, today=TODAY)
    assert [k.name for k in config.signing.keys] == ["p256", "p384", "rsa"]


def test_hsm_defaults_on_in_prod_only() -> None:
    prod = parse_stack_config(stack_raw("prod"), today=TODAY)
    dev = parse_stack_config(stack_raw("dev"), today=TODAY)
    from components.model.config import AzureKeyVaultKey

    prod_key, dev_key = prod.signing.keys[0], dev.signing.keys[0]
    assert isinstance(prod_key, AzureKeyVaultKey)
    assert isinstance(dev_key, AzureKeyVaultKey)
    assert prod.hsm_enabled(prod_key) is True
    assert dev.hsm_enabled(dev_key) is False


def test_secure_defaults() -> None:
    raw = stack_raw("dev")
    config = parse_stack_config(raw, today=TODAY)
    assert config.registry.public_network_access_enabled is False
    assert config.registry.azure_services_bypass_enabled is False
    assert config.network is not None
    assert config.network.egress.mode == "firewall"
    assert config.admission is not None
    assert config.admission.require_digest is True


def test_config_is_immutable() -> None:
    config = parse_stack_config(copy.deepcopy(stack_raw("local")), today=TODAY)
    with pytest.raises(Exception, match="frozen"):
        config.environment = "prod"  # type: ignore[misc]
