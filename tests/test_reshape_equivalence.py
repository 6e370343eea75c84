"""The reshaping of the code (issue 9) changes no plan: the shipped stacks register the same resources
(types, names, parents, inputs) and write the same manifests and Helm values as the commit before it.

The reference files under tests/reshape_reference/ were written by this module at that commit
(`python -m tests.test_reshape_equivalence --write`); they are deleted when the issue is resolved.
Differences that the reshaping makes on purpose are listed below, each with its reason.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from scripts import plan as plan_cli
from tests.conftest import ROOT

REFERENCE = Path(__file__).resolve().parent / "reshape_reference"
STACKS = ("local", "dev", "prod")

RENAMED_TYPES: dict[str, str] = {
    # one admission-engine component driven by an engine descriptor replaces one class per engine
    "supply-chain:kubernetes:KyvernoAdmission": "supply-chain:kubernetes:AdmissionEngine",
    "supply-chain:kubernetes:PolicyControllerAdmission": "supply-chain:kubernetes:AdmissionEngine",
}
"""Component type tokens renamed by the reshaping (old → new); each new type aliases the old one."""

_FIREWALL = "supply-chain:azure:EgressFirewall::supply-chain-net-firewall"
MOVED: dict[tuple[str, str], tuple[str, str]] = {
    # the firewall became a child component of the network (each moved resource aliases its old place)
    ("azure-native:network:PublicIPAddress", "supply-chain-net-firewall-pip"): (
        "supply-chain-net-firewall-pip",
        _FIREWALL,
    ),
    ("azure-native:network:FirewallPolicy", "supply-chain-net-firewall-policy"): (
        "supply-chain-net-firewall-policy",
        _FIREWALL,
    ),
    ("azure-native:network:FirewallPolicyRuleCollectionGroup", "supply-chain-net-egress-allowlist"): (
        "supply-chain-net-firewall-allowlist",
        _FIREWALL,
    ),
    ("azure-native:network:AzureFirewall", "supply-chain-net-firewall"): ("supply-chain-net-firewall", _FIREWALL),
    ("azure-native:monitor:DiagnosticSetting", "supply-chain-net-firewall-diagnostics"): (
        "supply-chain-net-firewall-diagnostics",
        _FIREWALL,
    ),
}
"""Resources the reshaping moved on purpose: (type, old name) → (new name, new parent)."""

ADDED: dict[str, set[tuple[str, str]]] = {
    "dev": {("supply-chain:azure:EgressFirewall", "supply-chain-net-firewall")},
    "prod": {
        ("supply-chain:azure:EgressFirewall", "supply-chain-net-firewall"),
        # the Key Vault has diagnostics like the registry and the firewall (signing.logAnalyticsWorkspaceId)
        ("azure-native:monitor:DiagnosticSetting", "supply-chain-signing-diagnostics"),
    },
}
"""Resources the reshaping adds on purpose, per stack: (type, name)."""


def _moved(resource: dict[str, Any]) -> dict[str, Any]:
    """A reference resource where the reshaping put it: renamed types, moved resources."""
    parent = resource["parent"]
    if parent is not None:
        parent_type, _, parent_name = parent.partition("::")
        parent = f"{RENAMED_TYPES.get(parent_type, parent_type)}::{parent_name}"
    resource = {**resource, "type": RENAMED_TYPES.get(resource["type"], resource["type"]), "parent": parent}
    key = (resource["type"], resource["name"])
    if key not in MOVED:
        return resource
    name, parent = MOVED[key]
    return {**resource, "name": name, "parent": parent}


_PEM = re.compile(r"-----BEGIN PUBLIC KEY-----[A-Za-z0-9+/=\s\\n]+?-----END PUBLIC KEY-----(\\n|\n)?")


def _stable(text: str, stack_text: str) -> str:
    """Generated key material differs on every run; pinned keys (in the stack file) do not."""

    def keep_pinned(match: re.Match[str]) -> str:
        body = re.sub(r"\s|\\n", "", match.group(0))
        return match.group(0) if body in re.sub(r"\s", "", stack_text) else "<generated public key>"

    return _PEM.sub(keep_pinned, text)


def _canonical(value: Any, stack_text: str) -> Any:
    return json.loads(_stable(json.dumps(value, sort_keys=True), stack_text))


def snapshot(stack: str, out: Path) -> dict[str, Any]:
    """What a plan of `stack` registers and writes, in a form independent of registration order."""
    assert plan_cli.main(["--stack", stack, "--out", str(out), "--quiet"]) == 0
    stack_text = (ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text()
    plan = json.loads((out / "plan.json").read_text())
    by_urn = {r["urn"]: r for r in plan["resources"]}

    def named(urn: str | None) -> str | None:
        if urn is None:
            return None
        parent = by_urn[urn]
        return f"{RENAMED_TYPES.get(parent['type'], parent['type'])}::{parent['name']}"

    resources = sorted(
        (
            {
                "type": RENAMED_TYPES.get(r["type"], r["type"]),
                "name": r["name"],
                "parent": named(r["parent"]),
                "inputs": _canonical(r["inputs"], stack_text),
            }
            for r in plan["resources"]
        ),
        key=lambda r: (r["type"], r["name"]),
    )
    manifests = {}
    for path in sorted((out / "manifests").glob("*.yaml")):
        document = yaml.safe_load(path.read_text())
        metadata = document.get("metadata", {})
        key = f"{document.get('kind')}/{metadata.get('namespace', '')}/{metadata.get('name')}"
        manifests[key] = _canonical(document, stack_text)
    helm = {
        p.name: [p.read_text().splitlines()[0], _canonical(yaml.safe_load(p.read_text()), stack_text)]
        for p in sorted((out / "helm").glob("*.yaml"))
    }
    return {"resources": resources, "manifests": manifests, "helm": helm}


@pytest.mark.parametrize("stack", STACKS)
def test_the_reshaped_program_plans_what_the_previous_one_did(stack: str, tmp_path: Path) -> None:
    reference = json.loads((REFERENCE / f"{stack}.json").read_text())
    now = snapshot(stack, tmp_path)
    added = ADDED.get(stack, set())
    now_resources = [r for r in now["resources"] if (r["type"], r["name"]) not in added]
    assert {(r["type"], r["name"]) for r in now["resources"]} >= added, "an intended addition is missing"
    before = {(r["type"], r["name"]): r for r in map(_moved, reference["resources"])}
    after = {(r["type"], r["name"]): r for r in now_resources}
    assert sorted(after.keys() - before.keys()) == [], "resources the reshaping added"
    assert sorted(before.keys() - after.keys()) == [], "resources the reshaping dropped"
    changed = [key for key in before if before[key] != after[key]]
    assert changed == [], f"resources whose parent or inputs changed: {changed}"
    assert now["manifests"] == reference["manifests"]
    assert now["helm"] == reference["helm"]


if __name__ == "__main__" and sys.argv[1:] == ["--write"]:
    import tempfile

    REFERENCE.mkdir(exist_ok=True)
    for name in STACKS:
        with tempfile.TemporaryDirectory() as folder:
            data = snapshot(name, Path(folder))
        (REFERENCE / f"{name}.json").write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
        print(f"wrote {REFERENCE / f'{name}.json'}: {len(data['resources'])} registrations")
