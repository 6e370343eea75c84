"""The build agents' config: what a pool needs, what prod refuses, and that a pasted secret is refused
without being repeated."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from components.model.config import ConfigError, parse_stack_config
from scripts.planning import Plan
from tests.certificates import self_signed_pem
from tests.conftest import stack_raw
from tests.secret_samples import github_token, private_key_header

TODAY = date(2026, 11, 24)
P = "supply-chain:"


def _refused(raw: dict[str, Any]) -> tuple[list[str], str]:
    with pytest.raises(ConfigError) as caught:
        parse_stack_config(raw, today=TODAY)
    return [p.key for p in caught.value.problems], str(caught.value)


def _agents(stack: str, **changes: Any) -> dict[str, Any]:
    raw = stack_raw(stack)
    for path, value in changes.items():
        node = raw["buildAgents"]
        *parents, last = path.split("__")
        for part in parents:
            node = node[part]
        if value is None:
            del node[last]
        else:
            node[last] = value
    return raw


REFUSALS = [
    ("prod pool of 0", "prod", {"maxInstances": 0}, "buildAgents.maxInstances"),
    ("prod on latest image", "prod", {"image__version": "latest"}, "buildAgents.image.version"),
    (
        "prod on the latest gallery image",
        "prod",
        {
            "image__galleryImageId": "/subscriptions/9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d/resourceGroups/rg-img/"
            "providers/Microsoft.Compute/galleries/agents/images/ubuntu/versions/latest"
        },
        "buildAgents.image.galleryImageId",
    ),
    ("spot price below -1", "dev", {"spotMaxPrice": -2}, "buildAgents.spotMaxPrice"),
    ("a size without a local disk", "dev", {"vmSize": "Standard_D2s_v5"}, "buildAgents.vmSize"),
    (
        "a repository of another org",
        "dev",
        {"runner__repositories": ["fabrikam/api"]},
        "buildAgents.runner.repositories[0]",
    ),
    (
        "a repository listed twice",
        "dev",
        {"runner__repositories": ["contoso/api", "Contoso/API"]},
        "buildAgents.runner.repositories[1]",
    ),
    ("no repository", "dev", {"runner__repositories": []}, "buildAgents.runner.repositories"),
    (
        "more repositories than federated credentials",
        "dev",
        {"runner__repositories": [f"contoso/r{i}" for i in range(21)]},
        "buildAgents.runner.repositories",
    ),
    ("a repository as the scope", "dev", {"runner__scope": "contoso/api"}, "buildAgents.runner.scope"),
    ("self-hosted as a label", "dev", {"runner__labels": ["self-hosted", "dev"]}, "buildAgents.runner.labels[0]"),
    (
        "a workflow outside the org",
        "dev",
        {"runner__workflows": ["fabrikam/w/.github/workflows/b.yml@refs/heads/main"]},
        "buildAgents.runner.workflows[0]",
    ),
    (
        "a workflow without a ref",
        "dev",
        {"runner__workflows": ["contoso/w/.github/workflows/b.yml"]},
        "buildAgents.runner.workflows[0]",
    ),
    ("a flood of labels", "dev", {"runner__labels": [f"l{i}" for i in range(21)]}, "buildAgents.runner.labels"),
    ("an unpinned runner", "dev", {"runnerPackage__sha256": "latest"}, "buildAgents.runnerPackage.sha256"),
    ("azure-devops", "dev", {"runner__kind": "azure-devops"}, "buildAgents.runner.kind"),
    ("a vault id that is not one", "dev", {"controlPlane__vaultId": "kv-ci"}, "buildAgents.controlPlane.vaultId"),
    ("a push ref that is not a ref", "dev", {"runner__pushRef": "main"}, "buildAgents.runner.pushRef"),
]


@pytest.mark.parametrize(("stack", "changes", "key"), [r[1:] for r in REFUSALS], ids=[r[0] for r in REFUSALS])
def test_each_refusal_names_the_key(stack: str, changes: dict[str, Any], key: str) -> None:
    keys, _ = _refused(_agents(stack, **changes))
    assert P + key in keys, keys


def test_agents_need_the_firewall_and_a_control_plane_subnet() -> None:
    raw = stack_raw("dev")
    raw["network"]["egress"]["mode"] = "nsg-only"
    del raw["network"]["subnets"]["controlPlane"]
    keys, _ = _refused(raw)
    assert P + "network.egress.mode" in keys
    assert P + "network.subnets.controlPlane" in keys


def test_a_control_plane_subnet_must_not_overlap_the_agents() -> None:
    raw = stack_raw("dev")
    raw["network"]["subnets"]["controlPlane"] = "10.40.0.16/28"
    keys, _ = _refused(raw)
    assert P + "network.subnets.controlPlane" in keys


def test_behind_tls_inspection_agents_need_the_ca_certificate() -> None:
    raw = stack_raw("prod")
    tls = {
        "certificateSecretId": "https://kv-contoso-pki.vault.azure.net/secrets/firewall-tls-ca",
        "vaultId": "/subscriptions/9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d/resourceGroups/rg-pki/providers/"
        "Microsoft.KeyVault/vaults/kv-contoso-pki",
    }
    raw["network"]["egress"].update(firewallTier="Premium", tlsInspection=tls)
    keys, _ = _refused(raw)
    assert P + "network.egress.tlsInspection.caCertificate" in keys
    tls["caCertificate"] = self_signed_pem("contoso tls ca")
    parse_stack_config(raw, today=TODAY)


def test_a_long_resource_group_leaves_no_room_for_the_pool_group() -> None:
    raw = stack_raw("dev")
    raw["azure"]["resourceGroupName"] = "rg-" + "x" * 85
    keys, _ = _refused(raw)
    assert P + "azure.resourceGroupName" in keys


PASTED = [
    ("a GitHub token as the runner group", {"runner__group": github_token()}, "gh" + "p_"),
    ("an App key as a secret name", {"controlPlane__appPrivateKeySecretName": private_key_header("RSA")}, "BEGIN"),
]


@pytest.mark.parametrize(("changes", "marker"), [p[1:] for p in PASTED], ids=[p[0] for p in PASTED])
def test_a_pasted_secret_is_refused_and_never_repeated(changes: dict[str, Any], marker: str) -> None:
    raw = _agents("dev", **changes)
    (value,) = changes.values()
    _, message = _refused(raw)
    assert value not in message
    assert marker not in message


def test_no_config_value_reaches_the_plan_as_a_secret(plan_raw: Callable[..., Plan]) -> None:
    # secret names and ids are not secrets; what the control plane reads stays in the vault
    plan = plan_raw(_agents("dev"))
    text = json.dumps(plan.as_json())
    for marker in ("PRIVATE" + " KEY", "gh" + "p_", "github" + "_pat_", "jitconfig"):
        assert marker not in text
    settings_text = next(
        pair["value"]
        for app in plan.of_type("azure-native:web:WebApp")
        for pair in app.inputs["siteConfig"]["appSettings"]
        if pair["name"] == "AGENT_POOL_SETTINGS"
    )
    settings = json.loads(settings_text)
    assert settings["secrets"] == {
        "webhookSecretUri": "https://kv-contoso-ci.vault.azure.net/secrets/supply-chain-dev-webhook",
        "appPrivateKeyUri": "https://kv-contoso-ci.vault.azure.net/secrets/supply-chain-dev-app-key",
    }


@settings(max_examples=200, deadline=None)
@given(
    repository=st.text(alphabet="abcAB01-_./ \\\n:@", max_size=60),
    label=st.text(alphabet="abc01-_. :*\t", max_size=70),
)
def test_fuzzed_runner_names_are_accepted_or_refused_by_key(repository: str, label: str) -> None:
    raw = _agents("dev", runner__repositories=[repository], runner__labels=[label])
    problems: list[str] = []
    try:
        parse_stack_config(raw, today=TODAY)
    except ConfigError as error:
        problems = [p.key for p in error.problems]
    if problems:
        assert all(key.startswith(P + "buildAgents.runner.") for key in problems), problems
    else:
        assert repository.lower().startswith("contoso/")
