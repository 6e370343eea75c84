"""The offline plan runs the policy pack's rules over the planned resources: the shipped stacks pass, the
review is written for machines and for a pull request, and `--fail-on` decides the exit code."""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from pulumi_policy import (
    EnforcementLevel,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from components.model.config.stack_file import key_lines
from policies.offline import PackConfigError, Violation, check_resources, fails, read_pack_config
from policies.review import Finding
from policies.rules.base import RESOURCE_TYPES
from scripts import plan as plan_cli
from scripts.planning import Plan, PlannedResource
from scripts.review_report import review_entries
from scripts.review_sarif import review_sarif
from tests.conftest import ROOT

ISSUER = "https://token.actions.githubusercontent.com"


@pytest.mark.parametrize("stack", ["dev", "prod", "local"])
def test_the_shipped_stacks_break_no_mandatory_rule(plan_of: Callable[[str], Plan], stack: str) -> None:
    assert [v for v in check_resources(plan_of(stack).resources) if v.level == "mandatory"] == []


def test_a_rule_the_pack_config_makes_mandatory_fails_the_plan_and_the_review_says_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = yaml.safe_load((ROOT / "stacks" / "Pulumi.dev.yaml").read_text())
    del document["config"]["supply-chain:buildAgents"]  # not what this is about; a third of the plan's time
    stack_file = tmp_path / "Pulumi.reviewed.yaml"
    stack_file.write_text(yaml.safe_dump(document))
    pack_config = tmp_path / "pack-config.json"
    pack_config.write_text(json.dumps({"registry-retention-keeps-running-images": "mandatory"}))
    out = tmp_path / "plan"

    code = plan_cli.main(["--config", str(stack_file), "--out", str(out), "--policy-config", str(pack_config)])

    assert code == 3, "planned, but a mandatory rule is broken"
    printed = capsys.readouterr().out
    assert "1 mandatory and " in printed
    review = json.loads((out / "review.json").read_text())
    violations = [entry for entry in review if entry["rule"] != "stack-config-review"]
    assert [entry for entry in violations if entry["level"] == "mandatory"] == [
        {
            "rule": "registry-retention-keeps-running-images",
            "urn": "urn:pulumi:reviewed::supply-chain::supply-chain:azure:ContainerRegistry"
            "$azure-native:resources:Resource::supply-chain-registry-acr",
            "level": "mandatory",
            "message": "untagged manifests are deleted after 7 days, including images still running by digest "
            "after their tag moved",
            "fix": "Remove registry.retentionDays where images run by digest (prod keeps untagged manifests).",
        }
    ]
    findings = [entry for entry in review if entry["rule"] == "stack-config-review"]
    assert {
        "key": "supply-chain:registry.retentionDays",
        "severity": "medium",
        "packRule": "registry-retention-keeps-running-images",
        "fix": "Remove registry.retentionDays where images run by digest (prod keeps untagged manifests).",
    }.items() <= findings[0].items()
    markdown = (out / "review.md").read_text()
    assert markdown.startswith("## Review of stack `reviewed`")
    assert "| mandatory | `registry-retention-keeps-running-images` | `supply-chain-registry-acr` |" in markdown
    assert (out / "plan.json").is_file(), "a failed review still leaves the plan to read"


def test_every_rule_meets_the_resources_it_is_about_in_a_shipped_stack(plan_of: Callable[[str], Plan]) -> None:
    planned = {r.type for stack in ("dev", "prod", "local") for r in plan_of(stack).resources}
    assert {name for name, types in RESOURCE_TYPES.items() if not types & planned} == set(), (
        "a rule whose resource type no stack plans checks nothing (a misspelt type token?)"
    )


def test_fail_on_decides_which_violations_fail() -> None:
    advisory = [Violation("registry-bypass-off", "urn:x", "advisory", "bypass")]
    mandatory = [*advisory, Violation("registry-export-off", "urn:x", "mandatory", "export")]
    assert [fails(v, "mandatory") for v in ([], advisory, mandatory)] == [False, False, True]
    assert [fails(v, "advisory") for v in ([], advisory, mandatory)] == [False, True, True]
    assert [fails(v, "never") for v in ([], advisory, mandatory)] == [False, False, False]


def test_a_disabled_rule_reports_nothing(plan_of: Callable[[str], Plan]) -> None:
    resources = plan_of("dev").resources
    reported = {v.rule for v in check_resources(resources)}
    assert {"agents-image-pinned", "registry-retention-keeps-running-images"} <= reported
    after = {v.rule for v in check_resources(resources, {"agents-image-pinned": "disabled"})}
    assert after == reported - {"agents-image-pinned"}


def _loosened(resource: PlannedResource, **inputs: Any) -> PlannedResource:
    """The resource as if planned with `inputs` changed (the mock echoes inputs into its state)."""
    changed = {**copy.deepcopy(resource.inputs), **inputs}
    return dataclasses.replace(resource, inputs=changed, state={**resource.state, **inputs})


def test_a_deliberately_insecure_prod_breaks_each_rule_it_should(plan_of: Callable[[str], Plan]) -> None:
    """The prod plan with what the config model refuses done anyway, resource by resource: each is caught."""
    resources = []
    for r in plan_of("prod").resources:
        name = str(r.inputs.get("metadata", {}).get("name", "")) if isinstance(r.inputs.get("metadata"), dict) else ""
        if r.type == "azure-native:resources:Resource" and r.inputs["resourceType"] == "registries":
            body = {
                **r.inputs["properties"],
                "publicNetworkAccess": "Enabled",
                "networkRuleSet": {"defaultAction": "Allow"},
            }
            r = _loosened(r, properties={**body, "roleAssignmentMode": "LegacyRegistryPermissions"})
        elif r.type == "azure-native:authorization:RoleAssignment" and "condition" in r.inputs:
            r = _loosened(r, condition=None)  # the agents' writer grant on every repository
        elif r.type == "azure-native:network:NetworkSecurityGroup" and r.name.endswith("agents-nsg"):
            inbound = {"name": "ssh-in", "direction": "Inbound", "access": "Allow", "sourceAddressPrefix": "Internet"}
            r = _loosened(r, securityRules=[*r.inputs["securityRules"], inbound])
        elif r.type == "kubernetes:helm.sh/v3:Release" and r.inputs.get("chart") == "kyverno":
            r = _loosened(r, version="3.x")
        elif r.type == "kubernetes:core/v1:Namespace" and name == "analytics":
            r = _loosened(
                r, metadata={**r.inputs["metadata"], "annotations": {"supply-chain/audit-until": "2024-01-31"}}
            )
        elif r.type.endswith("ImageValidatingPolicy") and name == "verify-image-signatures-enforce":
            spec = copy.deepcopy(r.inputs["spec"])
            spec["failurePolicy"] = "Ignore"
            spec["attestors"][0]["cosign"]["keyless"]["identities"][0] = {"issuer": ISSUER, "subjectRegExp": ".*"}
            r = _loosened(r, spec=spec)
        elif r.type == "azure-native:network:VirtualNetworkPeering" or r.name.endswith("-zone-link-cluster"):
            continue  # the cluster's network left unpeered
        resources.append(r)

    broken = {(v.rule, v.level) for v in check_resources(resources)}

    assert {
        ("registry-public-endpoint-allowlisted", "mandatory"),
        ("nsg-no-inbound-from-internet", "mandatory"),
        ("helm-charts-pinned", "mandatory"),
        ("audit-namespaces-have-a-deadline", "mandatory"),
        ("admission-enforce-fails-closed", "mandatory"),
        ("admission-identities-pinned", "mandatory"),
        ("cluster-reaches-private-endpoints", "advisory"),  # the vault: the registry's endpoint is public now
        ("registry-repository-permissions", "advisory"),
        ("registry-push-limited-to-repositories", "advisory"),
    } <= broken
    assert fails(check_resources(resources), "mandatory")


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("{bad", "not JSON"),
        ('["registry-bypass-off"]', "a JSON object of rule names is expected"),
        ('{"registry-bypass-of": "mandatory"}', "'registry-bypass-of' is not a rule of the pack"),
        ('{"registry-bypass-off": "fatal"}', "registry-bypass-off: level 'fatal' is not one of"),
        ('{"registry-bypass-off": {"enforcementLevel": "blocking"}}', "level 'blocking' is not one of"),
        ('{"registry-bypass-off": 3}', "a level or an object of settings is expected"),
    ],
)
def test_a_pack_config_the_pack_cannot_use_is_refused_before_planning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, says: str
) -> None:
    pack_config = tmp_path / "pack-config.json"
    pack_config.write_text(text)
    out = tmp_path / "plan"
    assert plan_cli.main(["--stack", "local", "--out", str(out), "--policy-config", str(pack_config)]) == 2
    printed = capsys.readouterr().err
    assert printed.startswith(f"{pack_config}: ")
    assert says in printed
    assert printed.count("\n") == 1
    assert not out.exists(), "nothing is planned with a config the pack cannot use"


def test_each_config_finding_points_at_its_line_of_the_stack_file(plan_of: Callable[[str], Plan]) -> None:
    text = (ROOT / "stacks" / "Pulumi.prod.yaml").read_text()
    written = text.splitlines()
    entries = review_entries([], plan_of("prod").findings, key_lines(text))
    at = {entry["key"].removeprefix("supply-chain:"): written[entry["line"] - 1].strip() for entry in entries}
    assert at["admission.namespaces.analytics.mode"].startswith("analytics: {mode: audit")
    assert at["admission.exemptNamespaces[0]"] == "- name: gatekeeper-system"
    # a finding about a key left at its default points at the nearest key that is written
    assert at["signing.keys[0].publicKey"] == "- kind: azure-key-vault"
    assert at["network.egress.firewallTier"] == "egress:"
    assert key_lines("config: [unclosed") == {}


def test_the_pack_config_reader_refuses_each_unusable_file_in_its_own_words(tmp_path: Path) -> None:
    path = tmp_path / "pack-config.json"

    def refusal(data: bytes | None) -> str:
        if data is not None:
            path.write_bytes(data)
        with pytest.raises(PackConfigError) as refused:
            read_pack_config(path)
        return str(refused.value)

    assert refusal(None) == f"{path}: cannot read the pack config (No such file or directory)"
    assert refusal(b'{"a": "\xff"}') == f"{path}: not UTF-8 text"
    assert refusal(b"[1]") == f"{path}: a JSON object of rule names is expected"
    typo = "x" * 100
    assert refusal(json.dumps({typo: "advisory"}).encode()) == (
        f"{path}: {'x' * 80!r} is not a rule of the pack (see the README's rule table)"
    )
    assert (
        refusal(b'{"registry-bypass-off": 3}')
        == f"{path}: registry-bypass-off: a level or an object of settings is expected"
    )
    assert refusal(json.dumps({"registry-bypass-off": "m" * 60}).encode()) == (
        f"{path}: registry-bypass-off: level {'m' * 40!r} is not one of advisory, mandatory, disabled"
    )
    # settings without a level, and a level inside the settings, are what the CLI takes too
    settings = {"helm-charts-pinned": {"chartRepositories": {"kyverno": "https://mirror.example/kyverno"}}}
    path.write_text(json.dumps(settings))
    assert read_pack_config(path) == settings
    path.write_text(json.dumps({"registry-bypass-off": {"enforcementLevel": "mandatory"}}))
    assert read_pack_config(path) == {"registry-bypass-off": {"enforcementLevel": "mandatory"}}


def test_a_violation_reads_back_as_review_json_records_it() -> None:
    violation = Violation("registry-bypass-off", "urn:pulumi:s::p::t::acr", "advisory", "bypass on")
    assert violation.as_json() == {
        "rule": "registry-bypass-off",
        "urn": "urn:pulumi:s::p::t::acr",
        "level": "advisory",
        "message": "bypass on",
    }


SARIF_TOOL = Path(
    os.environ.get("SUPPLY_CHAIN_SARIF") or ROOT / "build/sarif/node_modules/@microsoft/sarif-multitool-linux"
)
"""Microsoft's SARIF Multitool (Linux build), which carries the SARIF 2.1.0 schema; .ci/run installs it."""


def _prod_sarif(plan_of: Callable[[str], Plan]) -> tuple[dict[str, Any], list[str]]:
    plan = plan_of("prod")
    stack_file = ROOT / "stacks" / "Pulumi.prod.yaml"
    text = stack_file.read_text()
    sarif = review_sarif("prod", check_resources(plan.resources), plan.findings, key_lines(text), stack_file)
    return sarif, text.splitlines()


def test_the_prod_review_as_sarif_is_valid_sarif_2_1_0(plan_of: Callable[[str], Plan]) -> None:
    schema_file = SARIF_TOOL / "sarif-2.1.0.json"
    if not schema_file.is_file():
        pytest.skip(f"{schema_file} is absent: .ci/run installs the SARIF schema (npm, .ci/sarif)")
    sarif, _ = _prod_sarif(plan_of)
    validator = jsonschema.Draft202012Validator(
        json.loads(schema_file.read_text()), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    assert [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(sarif)] == []
    assert len(sarif["runs"][0]["results"]) >= 10, "prod's review has findings to show"


def test_github_code_scanning_would_accept_the_prod_review(plan_of: Callable[[str], Plan], tmp_path: Path) -> None:
    tool = SARIF_TOOL / "Sarif.Multitool"
    if not os.access(tool, os.X_OK):
        pytest.skip(f"{tool} is absent: .ci/run installs Microsoft's SARIF validator (npm, .ci/sarif)")
    sarif, _ = _prod_sarif(plan_of)
    (tmp_path / "review.sarif").write_text(json.dumps(sarif))
    checked = subprocess.run(
        [
            str(tool),
            "validate",
            "--rule-kind",
            "Sarif;Gh",
            "--output",
            str(tmp_path / "out.sarif"),
            str(tmp_path / "review.sarif"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    complaints = json.loads((tmp_path / "out.sarif").read_text())["runs"][0]["results"]
    # The one complaint kept: the tool has no public home page to link (SARIF2005, a warning).
    assert sorted({c["ruleId"] for c in complaints}) in ([], ["SARIF2005"]), checked.stdout


def test_each_sarif_finding_points_at_the_line_that_holds_its_key(plan_of: Callable[[str], Plan]) -> None:
    sarif, lines = _prod_sarif(plan_of)
    findings = [r for r in sarif["runs"][0]["results"] if "key" in r.get("properties", {})]
    assert findings
    for result in findings:
        location = result["locations"][0]["physicalLocation"]
        assert location["artifactLocation"] == {"uri": "stacks/Pulumi.prod.yaml", "uriBaseId": "%SRCROOT%"}
        line = lines[location["region"]["startLine"] - 1]
        written = result["properties"]["key"].removeprefix("supply-chain:")
        # The key's own line (a list item's is its `- ` line), or its nearest written parent's (a key left at its
        # default is not in the file).
        names = [part.split("[")[0] for part in written.split(".")]
        assert any(f"{name}:" in line for name in names) or ("[" in written and line.lstrip().startswith("- ")), (
            written,
            line,
        )
    exemptions = [r for r in findings if r["properties"]["key"] == "supply-chain:admission.exemptNamespaces[0]"]
    assert [r["ruleId"] for r in exemptions] == ["namespaces-outside-admission"]
    assert "gatekeeper-system" in lines[exemptions[0]["locations"][0]["physicalLocation"]["region"]["startLine"] - 1]


def test_sarif_levels_follow_the_review_and_a_foreign_stack_file_is_named_by_its_path(tmp_path: Path) -> None:
    stack_file = tmp_path / "Pulumi.elsewhere.yaml"
    mandatory = Violation("registry-retention-keeps-running-images", "urn:pulumi:s::p::t::reg", "mandatory", "x")
    advisory = Violation("namespaces-in-audit", "urn:pulumi:s::p::t::ns", "advisory", "y")
    high = Finding("high", "supply-chain:registry.retentionDays", "deletes running images")
    info = Finding("info", "supply-chain:admission.engines", "explains")
    sarif = review_sarif(
        "s", [mandatory, advisory], [high, info], {"supply-chain:registry.retentionDays": 7}, stack_file
    )
    results = sarif["runs"][0]["results"]
    assert [(r["ruleId"], r["level"]) for r in results] == [
        ("registry-retention-keeps-running-images", "error"),
        ("namespaces-in-audit", "warning"),
        ("registry-retention-keeps-running-images", "error"),
        ("stack-config-review", "note"),
    ]
    # A violation is shown where its concern is written when the review has a finding for it, else at line 1.
    assert [r["locations"][0]["physicalLocation"]["region"]["startLine"] for r in results] == [7, 1, 7, 1]
    assert results[0]["locations"][0]["physicalLocation"]["artifactLocation"] == {"uri": stack_file.as_uri()}
    assert results[0]["locations"][0]["logicalLocations"] == [
        {"fullyQualifiedName": "urn:pulumi:s::p::t::reg", "kind": "resource"}
    ]
    assert sarif["runs"][0]["automationDetails"] == {"id": "supply-chain-review/s/"}


def _planned(urn_name: str, resource_type: str, inputs: dict[str, Any], **extra: Any) -> PlannedResource:
    return PlannedResource(
        f"urn:pulumi:s::p::{resource_type}::{urn_name}", resource_type, urn_name, extra.pop("parent", None),
        inputs, extra.pop("custom", True), **extra,
    )  # fmt: skip


def test_each_rule_gets_the_bag_the_cli_would_hand_it_with_its_own_settings() -> None:
    """What a rule reads of a resource: its type, inputs, URN, name and parent, the SDK's defaults for options
    the plan does not know, and the rule's settings from the pack config without the level."""
    seen: dict[str, Any] = {}

    def resource_rule(args: ResourceValidationArgs, report: Any) -> None:
        seen.setdefault("resource", []).append(args)

    def stack_rule(args: StackValidationArgs, report: Any) -> None:
        seen["stack"] = args

    probes = [
        ResourceValidationPolicy("probe-resource", "probe", resource_rule, EnforcementLevel.ADVISORY),
        StackValidationPolicy("probe-stack", "probe", stack_rule, EnforcementLevel.ADVISORY),
    ]
    parent = "urn:pulumi:s::p::supply-chain:azure:ContainerRegistry::acr"
    registry = _planned(
        "acr", "azure-native:containerregistry:Registry", {"sku": {"name": "Premium"}, "registryName": "cr"},
        parent=parent, state={"registryName": "cr1234", "loginServer": "cr1234.azurecr.io"},
    )  # fmt: skip
    component = _planned("acr", "supply-chain:azure:ContainerRegistry", {"x": 1}, custom=False)
    config = {
        "probe-resource": {"enforcementLevel": "mandatory", "limit": 3},
        "probe-stack": {"enforcementLevel": "advisory", "names": ["a"]},
    }
    check_resources([component, registry], config, probes)

    [args] = seen["resource"]
    assert (args.resource_type, args.urn, args.name) == (
        "azure-native:containerregistry:Registry",
        "urn:pulumi:s::p::azure-native:containerregistry:Registry::acr",
        "acr",
    )
    assert args.props == {"sku": {"name": "Premium"}, "registryName": "cr"}, "a resource rule judges the inputs"
    assert args.provider is None
    assert args.get_config() == {"limit": 3}
    stack = seen["stack"]
    assert stack.get_config() == {"names": ["a"]}
    [resource] = stack.resources  # components hold no settings: only cloud resources
    assert (resource.resource_type, resource.urn, resource.name) == (
        "azure-native:containerregistry:Registry",
        "urn:pulumi:s::p::azure-native:containerregistry:Registry::acr",
        "acr",
    )
    assert resource.props == {"sku": {"name": "Premium"}, "registryName": "cr1234", "loginServer": "cr1234.azurecr.io"}
    assert (resource.provider, resource.parent, resource.dependencies, resource.property_dependencies) == (
        None, None, [], {},
    )  # fmt: skip
    for opts in (args.opts, resource.opts):
        timeouts = opts.custom_timeouts
        assert (timeouts.create_seconds, timeouts.update_seconds, timeouts.delete_seconds) == (0, 0, 0)
        assert (opts.protect, opts.ignore_changes, opts.delete_before_replace, opts.aliases) == (False, [], None, [])
        assert (opts.additional_secret_outputs, opts.parent) == ([], parent)


def test_the_pack_config_sets_each_rules_level_and_settings_and_mandatory_ones_come_first() -> None:
    registry = _planned(
        "acr", "azure-native:containerregistry:Registry",
        {"adminUserEnabled": True, "publicNetworkAccess": "Disabled", "networkRuleBypassOptions": "AzureServices",
         "policies": {"exportPolicy": {"status": "enabled"}}},
    )  # fmt: skip
    urn = "urn:pulumi:s::p::azure-native:containerregistry:Registry::acr"
    release = _planned(
        "kyverno", "kubernetes:helm.sh/v3:Release",
        {"chart": "kyverno", "version": "3.9.0", "repositoryOpts": {"repo": "https://mirror.example/kyverno"}},
    )  # fmt: skip
    audit_ns = _planned(
        "ns-b", "kubernetes:core/v1:Namespace",
        {"metadata": {"name": "b-team", "labels": {"supply-chain/admission-mode": "audit"}}},
    )  # fmt: skip
    vnet = _planned("vnet", "azure-native:network:VirtualNetwork", {"virtualNetworkName": "vnet-build"})
    config = {
        "registry-bypass-off": "mandatory",
        "registry-export-off": {"enforcementLevel": "advisory"},
        "registry-no-shared-access": {},  # settings without a level keep the rule's own
        "helm-charts-pinned": {"chartRepositories": {"kyverno": "https://mirror.example/kyverno/"}},
        "dns-filtered": "disabled",
    }
    found = [(v.level, v.rule, v.urn) for v in check_resources([registry, release, audit_ns, vnet], config)]
    assert found == [
        ("mandatory", "registry-bypass-off", urn),
        ("mandatory", "registry-no-shared-access", urn),
        ("advisory", "egress-through-firewall", ""),  # a stack rule's finding about no one resource
        ("advisory", "namespaces-in-audit", "urn:pulumi:s::p::kubernetes:core/v1:Namespace::ns-b"),
        ("advisory", "registry-export-off", urn),
        ("advisory", "registry-repository-permissions", urn),  # the typed resource's API has no ABAC mode
    ]
    # without the pack's settings, the mirror is not the chart's repository
    assert [v.rule for v in check_resources([release]) if v.rule == "helm-charts-pinned"] == ["helm-charts-pinned"]
