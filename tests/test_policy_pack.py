"""The policy pack as the Pulumi CLI runs it: `policies/__main__.py` started as a process, its port read from
stdout, then asked over gRPC (the analyzer protocol of `pulumi preview --policy-pack`) what it enforces and
what it makes of a resource. The SDK's own server answers; nothing here stands in for it."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import grpc
import pytest
from google.protobuf import empty_pb2, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

from tests.conftest import ROOT

RULES = {
    "registry-no-shared-access": "mandatory",
    "registry-export-off": "mandatory",
    "registry-public-endpoint-allowlisted": "mandatory",
    "registry-endpoint-private": "advisory",
    "registry-bypass-off": "advisory",
    "registry-retention-keeps-running-images": "advisory",
    "registry-repository-permissions": "advisory",
    "registry-push-limited-to-repositories": "advisory",
    "nsg-no-inbound-from-internet": "mandatory",
    "egress-allowlist-exact": "mandatory",
    "default-route-to-firewall": "mandatory",
    "agents-spot-evictions-delete": "mandatory",
    "agents-isolated-machine": "mandatory",
    "agents-unreachable": "mandatory",
    "agents-no-secret-in-custom-data": "mandatory",
    "vault-locked-down": "mandatory",
    "signing-keys-hsm-in-prod": "mandatory",
    "roles-narrowest-scope": "mandatory",
    "helm-charts-pinned": "mandatory",
    "admission-enforce-fails-closed": "mandatory",
    "admission-system-namespaces-never-matched": "mandatory",
    "admission-identities-pinned": "mandatory",
    "admission-exceptions-owned-and-unexpired": "mandatory",
    "admission-transparency-log-required": "advisory",
    "admission-registry-over-https": "advisory",
    "admission-images-by-digest": "advisory",
    "agents-image-pinned": "advisory",
    "runner-group-selected-repositories": "mandatory",
    "runner-group-workflows-listed": "advisory",
    "enforce-namespaces-covered": "mandatory",
    "audit-namespaces-have-a-deadline": "mandatory",
    "egress-through-firewall": "advisory",
    "dns-filtered": "advisory",
    "unlisted-namespaces-enforced": "advisory",
    "namespaces-outside-admission": "advisory",
    "other-registries-signed": "advisory",
    "namespaces-bound-to-signers": "advisory",
    "keyless-callers-checked": "advisory",
    "attestations-kept-to-their-namespace": "advisory",
    "namespaces-in-audit": "advisory",
    "identities-exact": "advisory",
    "signing-key-rotation-closed": "advisory",
    "sigstore-public-good": "advisory",
    "vault-keys-pinned": "advisory",
    "admission-exceptions-reviewed": "advisory",
    "prod-safeguards": "advisory",
    "github-limited-to-organisation": "advisory",
    "egress-extra-destinations": "advisory",
    "job-identity-federations-listed": "advisory",
    "cluster-reaches-private-endpoints": "advisory",
}
REGISTRY = "azure-native:resources:Resource"
"""The registry as the program plans it: the provider's generic ARM resource, its body under `properties`."""
URN = "urn:pulumi:prod::supply-chain::azure-native:resources:Resource::acr"


@pytest.fixture(scope="module")
def analyzer() -> Iterator[analyzer_pb2_grpc.AnalyzerStub]:
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "policies" / "__main__.py")], stdout=subprocess.PIPE, cwd=ROOT / "policies"
    )
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline())  # the SDK prints its port first, as the CLI expects
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            grpc.channel_ready_future(channel).result(timeout=30)
            yield analyzer_pb2_grpc.AnalyzerStub(channel)
    finally:
        process.kill()
        process.wait()


def _analyze(
    stub: analyzer_pb2_grpc.AnalyzerStub, properties: dict[str, object]
) -> list[analyzer_pb2.AnalyzeDiagnostic]:
    struct = struct_pb2.Struct()
    struct.update(
        {
            "resourceProviderNamespace": "Microsoft.ContainerRegistry",
            "resourceType": "registries",
            "parentResourcePath": "",
            "apiVersion": "2025-11-01",
            "resourceName": "acr",
            "properties": {"roleAssignmentMode": "AbacRepositoryPermissions", **properties},
        }
    )
    response = stub.Analyze(analyzer_pb2.AnalyzeRequest(type=REGISTRY, properties=struct, urn=URN, name="acr"))
    return list(response.diagnostics)


def test_the_pack_tells_the_cli_every_rule_with_its_level_and_fix(analyzer: analyzer_pb2_grpc.AnalyzerStub) -> None:
    info = analyzer.GetAnalyzerInfo(empty_pb2.Empty())
    assert info.name == "supply-chain"
    levels = {
        policy.name: analyzer_pb2.EnforcementLevel.Name(policy.enforcementLevel).lower() for policy in info.policies
    }
    assert levels == RULES
    assert all(policy.description and policy.remediation_steps for policy in info.policies)


def test_a_registry_with_an_admin_user_is_refused_over_the_wire(analyzer: analyzer_pb2_grpc.AnalyzerStub) -> None:
    locked = {
        "adminUserEnabled": False,
        "anonymousPullEnabled": False,
        "publicNetworkAccess": "Disabled",
        "networkRuleBypassOptions": "None",
        "policies": {"exportPolicy": {"status": "disabled"}, "retentionPolicy": {"status": "disabled"}},
    }
    assert _analyze(analyzer, locked) == []

    diagnostics = _analyze(analyzer, {**locked, "adminUserEnabled": True})

    # no urn: the CLI files the violation under the resource it asked about
    assert [(d.policyName, d.urn, analyzer_pb2.EnforcementLevel.Name(d.enforcementLevel)) for d in diagnostics] == [
        ("registry-no-shared-access", "", "MANDATORY")
    ]
    assert "admin user" in diagnostics[0].message


def test_a_rule_turned_advisory_by_the_pack_config_reports_as_advisory(
    analyzer: analyzer_pb2_grpc.AnalyzerStub,
) -> None:
    level = analyzer_pb2.EnforcementLevel.Value("ADVISORY")
    config = analyzer_pb2.ConfigureAnalyzerRequest(
        policyConfig={"registry-export-off": analyzer_pb2.PolicyConfig(enforcementLevel=level)}
    )
    analyzer.Configure(config)
    try:
        diagnostics = _analyze(
            analyzer,
            {"adminUserEnabled": False, "publicNetworkAccess": "Disabled", "networkRuleBypassOptions": "None"},
        )
        assert [(d.policyName, d.enforcementLevel) for d in diagnostics] == [("registry-export-off", level)]
    finally:
        analyzer.Configure(analyzer_pb2.ConfigureAnalyzerRequest())
