"""The trust summary answers a security reviewer's questions from trust.md's text alone: who may sign for a
namespace, what it requires and from whom, what the agents reach, which roles the agents' identity holds, what
unlisted namespaces get and which exceptions exist. Deterministic, never cut, and without Azure for `local`.

trust.md of prod is compared with tests/snapshots/trust-prod.md. After a deliberate change, regenerate it with
`SUPPLY_CHAIN_UPDATE_SNAPSHOTS=1 pytest tests/test_trust_summary.py` and review the diff like code.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from components.azure.build_agents import STORAGE_BLOB_DATA_OWNER, STORAGE_TABLE_DATA_CONTRIBUTOR
from components.azure.roles import ACR_PULL, ACR_PUSH, KEY_VAULT_SECRETS_USER
from components.model.config import parse_stack_config
from components.render.egress import GITHUB_HOSTS, GITHUB_RESULTS_HOSTS, SIGSTORE_HOSTS
from scripts.planning import Plan
from scripts.trust_report import trust_compact, trust_markdown, write_trust
from scripts.trust_roles import BUILT_IN_ROLES
from scripts.trust_summary import trust_summary
from tests.conftest import ROOT, stack_raw

SNAPSHOT = ROOT / "tests" / "snapshots" / "trust-prod.md"
PAYMENTS_SIGNER = "https://github.com/contoso/payments-api/.github/workflows/release.yml@refs/heads/main"
STOREFRONT_SIGNER = "https://github.com/contoso/storefront-web/.github/workflows/release.yml@refs/heads/main"
BUILDER = "https://github.com/contoso/workflows/.github/workflows/build-sign-attest.yml@refs/heads/main"
GITHUB_ISSUER = "https://token.actions.githubusercontent.com"


@pytest.fixture
def prod_md(plan_of: Callable[[str], Plan]) -> str:
    """trust.md of the prod stack (the session's cached plan)."""
    return trust_markdown(trust_summary(plan_of("prod")))


def section(text: str, heading: str) -> str:
    """The part of `text` under `heading` (a whole line), up to the next heading of the same or a higher level."""
    level = heading.split(" ", 1)[0]
    start = text.index(f"\n{heading}\n") + 1
    following = re.compile(rf"^#{{1,{len(level)}}} ", re.MULTILINE)
    after = following.search(text, start + len(heading))
    return text[start : after.start() if after else len(text)]


def test_who_may_sign_for_payments_is_its_own_release_workflow_only(prod_md: str) -> None:
    payments = section(prod_md, "### Namespace `payments`")
    signers = payments.split("- May sign images run here (signers `payments-release`):\n", 1)[1].split("- Repos")[0]
    assert f"identity `payments-release`: issuer `{GITHUB_ISSUER}`, subject `{PAYMENTS_SIGNER}`" in signers
    assert STOREFRONT_SIGNER not in payments
    assert "storefront-release" not in payments
    assert "key `image-signing`" not in signers, "the vault key signs nothing in payments: it names its signers"
    assert "- Mode: **enforce**" in payments
    assert "- Exempt: no" in payments
    assert "- Repositories: `payments/*`" in payments


def test_payments_requires_an_spdx_sbom_and_provenance_signed_by_the_builder(prod_md: str) -> None:
    payments = section(prod_md, "### Namespace `payments`")
    assert "- Requires SBOM: SPDX (`https://spdx.dev/Document`)" in payments
    provenance = next(line for line in payments.splitlines() if line.startswith("- Requires provenance:"))
    assert f"builder id `{BUILDER}`" in provenance
    assert "source repository `https://github.com/contoso/payments-api` at `refs/heads/main`" in provenance
    assert f"signed by identity `builder`: issuer `{GITHUB_ISSUER}`, subject `{BUILDER}`" in provenance
    storefront = section(prod_md, "### Namespace `storefront`")
    assert "- Requires SBOM: CycloneDX" in storefront
    assert "- Requires provenance: no" in storefront


def test_what_the_agents_can_reach_names_every_destination(prod_md: str, plan_of: Callable[[str], Plan]) -> None:
    egress = section(prod_md, "## Build agents' egress")
    agents_rows = [row for row in egress.splitlines() if "(agents subnet)" in row or "| agents |" in row]
    reached = " ".join(agents_rows)
    for host in (*SIGSTORE_HOSTS, *GITHUB_HOSTS, *GITHUB_RESULTS_HOSTS, "*.actions.githubusercontent.com"):
        assert re.search(rf"[ |,]{re.escape(host)}[ ,|]", reached), f"{host} missing from the agents' egress"
    assert "contoso.pkgs.visualstudio.com" in reached
    assert "login.microsoftonline.com" in reached
    assert "private endpoints of crcontosoprod.azurecr.io" in reached, "the registry, by its private endpoint"
    assert "kv-crcontosoprod.vault.azure.net" in reached
    assert "Https:443" in reached
    assert "| Deny | deny-all-out | * | * | * |" in reached
    # every destination any firewall rule of the plan names is in the text
    group = plan_of("prod").of_type("azure-native:network:FirewallPolicyRuleCollectionGroup")[0]
    planned = {h for c in group.inputs["ruleCollections"] for r in c["rules"] for h in r.get("targetFqdns", [])}
    assert {h for h in planned if h not in egress} == set()


def test_the_agents_identity_writes_its_repositories_and_holds_the_key_signer_role_by_name_and_scope(
    prod_md: str,
) -> None:
    agents = section(prod_md, "### `id-supply-chain-id-build-agents` (managed identity)")
    roles = [line for line in agents.splitlines() if line.startswith("- **")]
    assert len(roles) == 2, roles
    assert roles[0].startswith("- **Container Registry Repository Writer** (built-in) on `")
    assert roles[0].split("`")[1].endswith("/providers/Microsoft.ContainerRegistry/registries/crcontosoprod")
    # the condition, whole: which repositories the writes reach
    assert "; only where `((!(ActionMatches{" in roles[0]
    assert "StringStartsWithIgnoreCase 'payments/' OR " in roles[0]
    assert "StringStartsWithIgnoreCase 'storefront/'))`; assignment" in roles[0]
    assert roles[1].startswith("- **Signing key signer (kv-crcontosoprod)** (custom: ")
    assert "`Microsoft.KeyVault/vaults/keys/sign/action`" in roles[1]
    assert "(can sign with vault keys)" in roles[1]
    assert "/vaults/kv-crcontosoprod/keys/image-signing`" in roles[1]
    key = section(prod_md, "### Key `image-signing`")
    assert "- Can sign with it: id-supply-chain-id-build-agents\n" in key
    admission = section(prod_md, "### `id-supply-chain-id-admission` (managed identity)")
    assert "**Container Registry Repository Reader** (built-in)" in admission
    assert "AcrPull" not in prod_md, "not honoured in ABAC mode, never assigned"
    assert "AcrPush" not in prod_md
    assert "can sign" not in admission, "the admission identity verifies only"


def test_unlisted_namespaces_get_enforced_signatures_from_any_trusted_signer(prod_md: str) -> None:
    unlisted = section(prod_md, "### Namespaces not listed")
    assert "- Mode: **enforce**; checks: signatures and the registry allow-list" in unlisted
    assert PAYMENTS_SIGNER in unlisted
    assert STOREFRONT_SIGNER in unlisted
    assert "key `image-signing`" in unlisted
    assert BUILDER not in unlisted, "the provenance-only builder signs no image"
    assert "- Registries admitted: `crcontosoprod.azurecr.io`;" in unlisted
    assert "  - `gatekeeper-system`: owner platform-team@contoso.example; reason: AKS-managed" in unlisted


def test_which_exceptions_exist_with_images_owner_expiry_and_reason(prod_md: str) -> None:
    expected = (
        "- `legacy-report-renderer` in namespace `analytics`: images "
        "`crcontosoprod.azurecr.io/analytics/report-renderer@sha256:*`; owner analytics-lead@contoso.example; "
        "expires 2027-06-30; reason: Unsigned vendor image; replacement tracked in SEC-1432."
    )
    assert expected in section(prod_md, "## Exceptions")
    analytics = section(prod_md, "### Namespace `analytics`")
    assert expected in analytics
    assert "- Mode: **audit** until 2027-09-30" in analytics
    assert "- Exceptions: none" in section(prod_md, "### Namespace `payments`")


def test_prod_trust_md_matches_its_snapshot(prod_md: str) -> None:
    if os.environ.get("SUPPLY_CHAIN_UPDATE_SNAPSHOTS"):
        SNAPSHOT.parent.mkdir(exist_ok=True)
        SNAPSHOT.write_text(prod_md)
    assert prod_md == SNAPSHOT.read_text(), f"trust.md of prod changed: review it, then regenerate {SNAPSHOT.name}"


def test_nothing_is_cut_and_every_identity_is_whole_on_one_line(prod_md: str, plan_of: Callable[[str], Plan]) -> None:
    assert "…" not in prod_md
    assert "..." not in prod_md
    plan = plan_of("prod")
    whole = [PAYMENTS_SIGNER, STOREFRONT_SIGNER, BUILDER, GITHUB_ISSUER]
    whole += [str(r.inputs["scope"]) for r in plan.of_type("azure-native:authorization:RoleAssignment")]
    for text in whole:
        assert any(text in line for line in prod_md.splitlines()), f"{text} is not whole on any line"
    compact = "\n".join(trust_compact(trust_summary(plan)))
    assert "…" not in compact
    assert PAYMENTS_SIGNER in compact


def test_writing_twice_gives_the_same_bytes(plan_of: Callable[[str], Plan], tmp_path: Path) -> None:
    plan = plan_of("prod")
    for attempt in ("1", "2"):
        (tmp_path / attempt).mkdir()
        write_trust(tmp_path / attempt, trust_summary(plan))
    for name in ("trust.md", "trust.json"):
        assert (tmp_path / "1" / name).read_bytes() == (tmp_path / "2" / name).read_bytes(), name
    data = json.loads((tmp_path / "1" / "trust.json").read_text())
    assert data["admission"]["namespaces"]["payments"]["signers"]["identities"][0]["subject"] == PAYMENTS_SIGNER


def test_local_stack_gets_a_summary_without_the_azure_parts(plan_of: Callable[[str], Plan]) -> None:
    summary = trust_summary(plan_of("local"))
    assert "egress" not in summary
    assert "roleAssignments" not in summary
    text = trust_markdown(summary)
    assert "## Build agents' egress" not in text
    assert "## Role assignments" not in text
    assert "This stack creates no Azure resources" in text
    assert "- Mode: **enforce**" in section(text, "### Namespace `demo`")
    assert "- Mode: **audit**; checks: signatures and the registry allow-list" in section(
        text, "### Namespaces not listed"
    )
    assert "- Kind: generated" in section(text, "### Key `local-signing`")


def test_every_built_in_role_the_program_assigns_has_a_name() -> None:
    used = (ACR_PUSH, ACR_PULL, KEY_VAULT_SECRETS_USER, STORAGE_BLOB_DATA_OWNER, STORAGE_TABLE_DATA_CONTRIBUTOR)
    assert [guid for guid in used if guid not in BUILT_IN_ROLES] == []


def test_a_rotated_keys_previous_version_is_listed_with_its_deadline(plan_of: Callable[[str], Plan]) -> None:
    raw = stack_raw("prod")
    version = "0123456789abcdef0123456789abcdef"
    raw["signing"]["keys"][0]["previousVersions"] = [{"version": version, "until": "2026-03-01"}]
    plan = plan_of("prod")  # the same resources: only the config's key entry differs
    rotated = replace(plan, config=parse_stack_config(raw, source="rotated", today=date(2026, 1, 15)))
    key = section(trust_markdown(trust_summary(rotated)), "### Key `image-signing`")
    uri = f"azurekms://kv-crcontosoprod.vault.azure.net/image-signing/{version}"
    assert f"  - `{version}` until 2026-03-01: `{uri}`" in key
    assert "- Can sign with it: id-supply-chain-id-build-agents\n" in key, "a previous version is the same key"


def test_what_names_the_agents_can_resolve_and_that_every_other_name_fails(prod_md: str) -> None:
    dns = section(
        prod_md,
        "### Names the agents can resolve (DNS security policy, in priority order; a name covers its subdomains)",
    )
    rows = [row for row in dns.splitlines() if row.startswith("| dnspol-")]
    assert [row.split(" | ")[1:4] for row in rows] == [
        ["100", "allow-reachable", "Allow"],
        ["65000", "block-the-rest", "Block (SERVFAIL)"],
    ]
    allowed = rows[0].rsplit(" | ", 1)[1]
    for name in (*SIGSTORE_HOSTS, "api.github.com", "crcontosoprod.azurecr.io", "kv-crcontosoprod.vault.azure.net"):
        assert re.search(rf"(^|, ){re.escape(name)}(,|\s|$)", allowed), f"{name} is not resolvable"
    names = allowed.split(", ")
    assert "blob.core.windows.net" not in names, "never every storage account (a name covers its subdomains)"
    assert not {"windows.net", "azure.com"} & set(names)
    assert rows[1].endswith("| every name |")


def test_an_nsg_only_stack_with_a_pinned_key_says_what_decides_and_who_holds_the_key(
    plan_raw: Callable[..., Plan],
) -> None:
    raw = stack_raw("dev")
    del raw["buildAgents"]  # nsg-only refuses build agents (NSGs cannot name Sigstore or GitHub)
    raw["network"]["egress"] = {"mode": "nsg-only"}
    del raw["network"]["subnets"]["controlPlane"]
    pem = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    raw["signing"]["keys"] = [{"kind": "public-key", "name": "release-key", "pem": pem.decode()}]
    text = trust_markdown(trust_summary(plan_raw(raw, stack="nsgonly")))

    firewall = section(text, "### Firewall rules")
    assert "No firewall (`network.egress.mode: nsg-only`)" in firewall
    nsg = section(text, "### NSG outbound rules (in priority order)")
    for tag in ("AzureContainerRegistry", "AzureActiveDirectory", "AzureKeyVault", "Storage"):
        assert f"| Tcp | {tag} | 443 |" in nsg
    assert "| 4096 | Deny | deny-all-out | * | * | * |" in nsg
    key = section(text, "### Key `release-key`")
    assert "- Kind: public-key" in key
    assert "- Lives in: `pinned public key`" in key
    assert "- Can sign with it: whoever holds the private key (outside this stack)" in key
    assert "- Kind: azure-key-vault" not in text, "no vault key is trusted"
