"""Cross-section config rules, each refusal held to its exact keys: where each kind of stack runs (the
local stack is Kubernetes only, Azure stacks build in their own network and registry), why a stack
that trusts no one is refused, and how a hub-and-spoke prod reaches its private endpoints without
peering. Next to each refusal, the config one step away still validates."""

from __future__ import annotations

import copy
from datetime import date
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from components.model.config import ConfigError, StackConfig, parse_stack_config
from tests.certificates import self_signed_pem
from tests.conftest import stack_raw

TODAY = date(2026, 11, 24)
HUB_ZONES = (
    "/subscriptions/9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d/resourceGroups/rg-hub-dns"
    "/providers/Microsoft.Network/privateDnsZones"
)
REGISTRY_ZONE = f"{HUB_ZONES}/privatelink.azurecr.io"
VAULT_ZONE = f"{HUB_ZONES}/privatelink.vaultcore.azure.net"


def _problems(raw: dict[str, Any]) -> list[tuple[str, str]]:
    """Every (key without the project prefix, message) the refusal of `raw` lists."""
    with pytest.raises(ConfigError) as caught:
        parse_stack_config(raw, today=TODAY)
    return [(p.key.removeprefix("supply-chain:"), p.message) for p in caught.value.problems]


def _keys(raw: dict[str, Any]) -> list[str]:
    return sorted(key for key, _ in _problems(raw))


def _public_key_pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


# --- where each kind of stack runs ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("section", "keys"),
    [
        ("azure", ["azure"]),
        ("network", ["network"]),
        # the agents' own rule asks for a network too; the local stack refuses both
        ("buildAgents", ["buildAgents", "network"]),
    ],
)
def test_the_local_stack_refuses_each_azure_section_by_name(section: str, keys: list[str]) -> None:
    raw = stack_raw("local")
    raw[section] = copy.deepcopy(stack_raw("dev")[section])
    assert _keys(raw) == keys


def test_the_local_stack_refuses_azure_sections_all_at_once() -> None:
    raw = stack_raw("local")
    dev = stack_raw("dev")
    for section in ("azure", "network", "buildAgents"):
        raw[section] = copy.deepcopy(dev[section])
    assert _keys(raw) == ["azure", "buildAgents", "network"]


def test_the_local_stack_uses_an_existing_registry_not_one_it_would_create() -> None:
    raw = stack_raw("local")
    raw["registry"] = {"name": "crlocal01"}
    ((key, message),) = _problems(raw)
    assert key == "registry.name"
    assert "registry.loginServer" in message, "the refusal names the key to set instead"


def test_an_azure_stack_creates_its_registry_by_name() -> None:
    raw = stack_raw("dev")
    raw["registry"] = {"loginServer": "registry.contoso.example"}
    ((key, message),) = _problems(raw)
    assert key == "registry.name"
    assert "5-50 letters and digits" in message, "the refusal says what a registry name is"


def test_an_azure_stack_without_agents_still_needs_its_build_network() -> None:
    raw = stack_raw("dev")
    del raw["network"], raw["buildAgents"], raw["cluster"]["virtualNetworkId"]
    ((key, message),) = _problems(raw)
    assert key == "network"
    assert "the dev stack needs a build network" in message
    assert "addressSpace" in message, "the refusal names what the section holds"


def test_build_agents_need_the_build_network() -> None:
    raw = stack_raw("dev")
    del raw["network"], raw["cluster"]["virtualNetworkId"]
    problems = _problems(raw)
    assert [key for key, _ in problems] == ["network", "network"]  # the stack's own network, and the agents'
    assert any(message.startswith("buildAgents run in the build network") for _, message in problems), problems


@pytest.mark.parametrize("drop", [("buildAgents",), ("cluster", "virtualNetworkId")], ids=["no agents", "no peering"])
def test_a_dev_stack_without_agents_or_peering_validates(drop: tuple[str, ...]) -> None:
    raw = stack_raw("dev")
    node = raw
    for part in drop[:-1]:
        node = node[part]
    del node[drop[-1]]
    assert isinstance(parse_stack_config(raw, today=TODAY), StackConfig)


@pytest.mark.parametrize(("stack", "fits", "subnet"), [("dev", 251, "10.40.0.0/24"), ("prod", 507, "10.50.0.0/23")])
def test_every_agent_gets_an_address_azure_does_not_reserve(stack: str, fits: int, subnet: str) -> None:
    raw = stack_raw(stack)
    raw["buildAgents"]["maxInstances"] = fits
    assert isinstance(parse_stack_config(raw, today=TODAY), StackConfig)
    raw["buildAgents"]["maxInstances"] = fits + 1
    ((key, message),) = _problems(raw)
    assert key == "buildAgents.maxInstances"
    assert message.startswith(f"{fits + 1} agents do not fit subnets.agents ({subnet}: {fits} addresses"), message


def test_vault_keys_need_an_azure_stack() -> None:
    raw = stack_raw("local")
    raw["signing"] = {"keys": [{"kind": "azure-key-vault", "name": "image-signing"}]}
    assert _keys(raw) == ["signing.keys[0].kind"]


# --- a stack that trusts no one -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("default_mode", "namespaces", "why"),
    [
        # an enforce namespace would deny every image: the refusal says so
        ("audit", {"demo": {"mode": "enforce"}}, "namespaces enforce signatures"),
        ("off", {"demo": {"mode": "enforce"}, "sandbox": {"mode": "audit"}}, "namespaces enforce signatures"),
        ("enforce", {}, "namespaces enforce signatures"),  # every unlisted namespace enforces
        ("enforce", {"sandbox": {"mode": "audit"}}, "namespaces enforce signatures"),
        # nothing enforces: admission would only report, the refusal says it is configured for nothing
        ("audit", {"demo": {"mode": "audit"}}, "admission is configured"),
        ("off", {"sandbox": {"mode": "audit"}}, "admission is configured"),
        ("audit", {}, "admission is configured"),
    ],
)
def test_admission_without_an_authority_is_refused_saying_what_it_would_do(
    default_mode: str, namespaces: dict[str, Any], why: str
) -> None:
    raw = stack_raw("local")
    raw["signing"] = {}
    raw["admission"]["defaultMode"] = default_mode
    raw["admission"]["namespaces"] = namespaces
    raw["admission"]["attestations"] = {}
    ((key, message),) = _problems(raw)
    assert key == "signing"
    assert message.startswith(why), message
    assert "signing.keyless or signing.keys" in message, "the refusal names the keys that add an authority"


# --- a hub-and-spoke prod: the estate's zones instead of peering ---------------------------------------


def _prod_unpeered(zones: dict[str, str], *, vault_key: bool = True) -> dict[str, Any]:
    raw = stack_raw("prod")
    del raw["cluster"]["virtualNetworkId"]
    raw["network"]["privateDnsZones"] = zones
    if not vault_key:
        raw["signing"]["keys"] = [{"kind": "public-key", "name": "external", "pem": _public_key_pem()}]
        del raw["signing"]["logAnalyticsWorkspaceId"]  # vault logs need a vault
    return raw


@pytest.mark.parametrize(
    ("zones", "vault_key"),
    [
        ({"registry": REGISTRY_ZONE, "vault": VAULT_ZONE}, True),
        ({"registry": REGISTRY_ZONE}, False),  # no vault key: the registry's zone is all the cluster resolves
        ({"registry": REGISTRY_ZONE, "vault": VAULT_ZONE}, False),
    ],
    ids=["both zones", "registry zone, no vault key", "both zones, no vault key"],
)
def test_an_unpeered_prod_whose_estate_resolves_every_endpoint_plans(zones: dict[str, str], vault_key: bool) -> None:
    assert isinstance(parse_stack_config(_prod_unpeered(zones, vault_key=vault_key), today=TODAY), StackConfig)


@pytest.mark.parametrize(
    ("zones", "vault_key"),
    [
        ({}, True),
        ({}, False),
        ({"registry": REGISTRY_ZONE}, True),  # the vault key's endpoint resolves nowhere
        ({"vault": VAULT_ZONE}, True),
        ({"vault": VAULT_ZONE}, False),
    ],
    ids=["no zones", "no zones, no vault key", "registry zone only", "vault zone only", "vault zone, no vault key"],
)
def test_an_unpeered_prod_whose_estate_misses_an_endpoint_is_refused(zones: dict[str, str], vault_key: bool) -> None:
    assert _keys(_prod_unpeered(zones, vault_key=vault_key)) == ["cluster.virtualNetworkId"]


# --- how a refusal quotes a long value ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "quoted"),
    [
        ("cr-" + "x" * 43, "'cr-" + "x" * 43 + "'"),  # 48 characters quoted: shown whole
        ("cr-" + "x" * 44, "'cr-" + "x" * 20 + "… (47 characters)"),  # longer: its start and its length
        ("cr-" + "x" * 60, "'cr-" + "x" * 20 + "… (63 characters)"),
    ],
)
def test_a_refusal_quotes_a_long_value_by_its_start_and_length(name: str, quoted: str) -> None:
    raw = stack_raw("dev")
    raw["registry"]["name"] = name
    ((key, message),) = _problems(raw)
    assert key == "registry.name"
    assert message.startswith(f"{quoted} is not a valid ACR name"), message


# --- admission needs a cluster; prod enforces ------------------------------------------------------------


def test_admission_without_a_cluster_is_refused_and_a_stack_without_both_validates() -> None:
    raw = stack_raw("dev")
    del raw["cluster"]
    ((key, message),) = _problems(raw)
    assert key == "cluster"
    assert "cluster.kubeconfigContext" in message, message
    assert "cluster.aksClusterId" in message, message
    del raw["admission"]
    assert isinstance(parse_stack_config(raw, today=TODAY), StackConfig)


def _prod_admission(default_mode: str, namespaces: tuple[str, ...]) -> dict[str, Any]:
    """prod with these of its namespaces (payments, storefront: enforce; analytics: audit until a deadline)."""
    raw = stack_raw("prod")
    admission = raw["admission"]
    admission["defaultMode"] = default_mode
    admission["namespaces"] = {ns: cfg for ns, cfg in admission["namespaces"].items() if ns in namespaces}
    admission["attestations"] = {ns: a for ns, a in admission["attestations"].items() if ns in namespaces}
    admission["exceptions"] = [e for e in admission["exceptions"] if e["namespace"] in namespaces]
    return raw


@pytest.mark.parametrize(
    ("default_mode", "namespaces", "keys"),
    [
        ("enforce", ("payments", "storefront", "analytics"), []),
        ("enforce", ("analytics",), []),  # every unlisted namespace enforces
        ("enforce", (), []),
        ("audit", ("payments", "storefront", "analytics"), ["admission.defaultMode"]),
        ("audit", ("payments", "storefront"), ["admission.defaultMode"]),
        ("audit", ("analytics",), ["admission.defaultMode", "admission.namespaces"]),  # nothing enforces at all
        ("off", (), ["admission.defaultMode", "admission.namespaces"]),
    ],
)
def test_prod_enforces_unlisted_namespaces_and_at_least_one_listed_or_unlisted(
    default_mode: str, namespaces: tuple[str, ...], keys: list[str]
) -> None:
    raw = _prod_admission(default_mode, namespaces)
    if not keys:
        assert isinstance(parse_stack_config(raw, today=TODAY), StackConfig)
        return
    problems = dict(_problems(raw))
    assert sorted(problems) == keys
    if "admission.namespaces" in problems:
        assert "set mode: enforce on at least one" in problems["admission.namespaces"]


def test_prod_without_admission_is_refused() -> None:
    raw = stack_raw("prod")
    del raw["admission"]
    ((key, message),) = _problems(raw)
    assert key == "admission"
    assert "enforce namespace" in message


# --- engines: what Policy Controller alone can do ---------------------------------------------------------


def _policy_controller_alone(default_mode: str) -> dict[str, Any]:
    raw = stack_raw("dev")
    raw["signing"]["signatureFormat"] = "legacy"
    raw["admission"].update(
        engines=["policy-controller"], defaultMode=default_mode, namespaces={"payments": {"mode": "enforce"}}
    )
    raw["admission"]["attestations"] = {}
    return raw


def test_policy_controller_alone_checks_only_listed_namespaces() -> None:
    assert isinstance(parse_stack_config(_policy_controller_alone("off"), today=TODAY), StackConfig)
    for default_mode in ("audit", "enforce"):
        assert _keys(_policy_controller_alone(default_mode)) == ["admission.defaultMode"], default_mode


def test_policy_controller_alone_takes_attestations_only_where_it_can_select_the_images() -> None:
    raw = _policy_controller_alone("off")
    raw["admission"]["namespaces"] = {
        "a-served": {"mode": "enforce", "repositories": ["a/*"]},
        "b": {"mode": "enforce"},
    }
    raw["admission"]["attestations"] = {"a-served": {"sbom": "spdx"}, "b": {"sbom": "spdx"}}
    assert _keys(raw) == ["admission.attestations.b"], (
        "a namespace with repositories is served; the next is still checked"
    )
    raw["admission"]["attestations"] = {"unlisted": {"sbom": "spdx"}}
    assert not [m for _, m in _problems(raw) if "cannot select a namespace" in m], "an unlisted one has its own problem"


# --- bundle signatures under Kyverno: a private instance's trusted root ----------------------------------


@pytest.mark.parametrize(
    ("sigstore", "signature_format", "keys"),
    [
        ({}, "bundle", []),  # public good: Kyverno has its trusted root
        ({"fulcioUrl": "https://fulcio.contoso.example"}, "bundle", ["signing.sigstore.tufMirror"]),
        ({"fulcioUrl": "https://fulcio.contoso.example"}, "legacy", []),
    ],
    ids=["public good", "private Fulcio, bundles", "private Fulcio, legacy"],
)
def test_kyverno_bundles_from_a_private_fulcio_need_its_tuf_root(
    sigstore: dict[str, str], signature_format: str, keys: list[str]
) -> None:
    raw = stack_raw("dev")  # Kyverno alone
    if sigstore:
        sigstore = {**sigstore, "fulcioRoots": self_signed_pem()}
    raw["signing"]["sigstore"] = sigstore
    raw["signing"]["signatureFormat"] = signature_format
    if keys:
        assert _keys(raw) == keys
    else:
        assert isinstance(parse_stack_config(raw, today=TODAY), StackConfig)


# --- who signs what: namespace signers and the provenance builder -----------------------------------------


def test_a_namespace_signer_must_name_an_authority_and_the_refusal_lists_them() -> None:
    raw = stack_raw("dev")
    raw["admission"]["namespaces"]["storefront"]["signers"] = ["release", "nobody"]
    ((key, message),) = _problems(raw)
    assert key == "admission.namespaces.storefront.signers[1]"
    assert message.startswith("nobody names no authority"), message
    assert message.endswith("(builder, image-signing, release)"), "every name a signer may use, sorted"


def test_a_namespace_signer_with_no_authority_named_is_told_so() -> None:
    raw = stack_raw("dev")
    release = {k: v for k, v in raw["signing"]["keyless"][0].items() if k != "name"}
    raw["signing"] = {"keyless": [release]}
    raw["admission"]["attestations"] = {}
    raw["admission"]["namespaces"]["storefront"]["signers"] = ["release"]
    ((key, message),) = _problems(raw)
    assert key == "admission.namespaces.storefront.signers[0]"
    assert message.endswith("(none are named)"), message


@pytest.mark.parametrize(
    ("payments", "storefront", "key", "why"),
    [
        ("image-signing", None, "payments", "image-signing is a key (the build agents could forge provenance"),
        ("nobody", None, "payments", "nobody names no keyless identity"),
        ("builder", "nobody", "storefront", "nobody names no keyless identity"),  # after a namespace that is fine
        ("builder", "image-signing", "storefront", "image-signing is a key"),
        ("builder", "release", None, None),  # any keyless identity of the stack may sign provenance
    ],
)
def test_provenance_is_signed_by_a_keyless_identity_never_a_key(
    payments: str, storefront: str | None, key: str | None, why: str | None
) -> None:
    raw = stack_raw("dev")
    attestations = raw["admission"]["attestations"]
    attestations["payments"]["provenance"]["signer"] = payments
    if storefront is not None:
        attestations["storefront"] = copy.deepcopy(attestations["payments"])
        attestations["storefront"]["provenance"]["signer"] = storefront
    if key is None:
        assert isinstance(parse_stack_config(raw, today=TODAY), StackConfig)
        return
    assert why is not None  # the table gives a reason with every refused key
    ((refused, message),) = _problems(raw)
    assert refused == f"admission.attestations.{key}.provenance.signer"
    assert message.startswith(why), message
    assert "signing.keyless[].name" in message, "the refusal names where a keyless identity is named"
