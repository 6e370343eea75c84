"""Network, registry and Key Vault as a security reviewer would check them, on the real program
under mocks (dev and prod), plus the pure allowlist / rule helpers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from components.azure.roles import ACR_PULL, ACR_PUSH, REPOSITORY_READER, REPOSITORY_WRITER
from components.model.config import parse_stack_config
from components.render.egress import GITHUB_HOSTS, GITHUB_RESULTS_HOSTS, SIGSTORE_HOSTS, agent_nsg_rules, egress_rules
from policies.offline import check_resources
from policies.review import review
from scripts.planning import Plan, PlannedResource, plan_config
from tests.certificates import self_signed_pem
from tests.conftest import only, stack_raw

AZURE_STACKS = ["dev", "prod"]
SUBSCRIPTIONS = {"dev": "6f1c2a3b-0d4e-4f5a-9b8c-7d6e5f4a3b2c", "prod": "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"}
OTHER_PULLER = "0b6f3c1e-2d4a-4f5b-8c7d-9e0f1a2b3c4d"


@pytest.fixture(scope="module")
def loosened_dev() -> Plan:
    """dev with three independent changes, planned once (a plan takes seconds); each test reads its own:
    another cluster pulling, no cluster VNet to peer, DNS unfiltered. (A public registry is not one of them:
    it changes whether an unpeered cluster is flagged.)"""
    raw = stack_raw("dev")
    raw["registry"]["pullerPrincipalIds"] = {"dr-cluster": OTHER_PULLER}
    del raw["cluster"]["virtualNetworkId"]
    raw["network"]["egress"]["dnsFilteringEnabled"] = False
    return plan_config(raw)


@pytest.fixture(scope="module")
def hub_and_spoke_prod_without_safeguards() -> Plan:
    """prod in a hub-and-spoke estate (its DNS zones, no peering of ours), with the three safeguards a prod
    stack may turn off turned off: planned once for the two tests that read it."""
    raw = stack_raw("prod")
    del raw["cluster"]["virtualNetworkId"]
    raw["network"]["privateDnsZones"] = {
        "registry": f"{HUB_ZONES}/privatelink.azurecr.io",
        "vault": f"{HUB_ZONES}/privatelink.vaultcore.azure.net",
        "blob": f"{HUB_ZONES}/privatelink.blob.core.windows.net",
        "table": f"{HUB_ZONES}/privatelink.table.core.windows.net",
    }
    raw["azure"]["deleteLocksEnabled"] = False
    del raw["azure"]["availabilityZones"]
    raw["network"]["flowLogsEnabled"] = False
    return plan_config(raw)


def _fqdns(plan: Plan) -> list[str]:
    group = only(plan, "azure-native:network:FirewallPolicyRuleCollectionGroup")
    return [
        fqdn
        for collection in group.inputs["ruleCollections"]
        for rule in collection["rules"]
        for fqdn in rule["targetFqdns"]
    ]


def _nsg(plan: Plan, suffix: str) -> PlannedResource:
    return next(r for r in plan.of_type("azure-native:network:NetworkSecurityGroup") if r.name.endswith(suffix))


@pytest.mark.parametrize("stack", AZURE_STACKS)
def test_no_nsg_rule_admits_inbound_traffic_from_outside(plan_of: Callable[[str], Plan], stack: str) -> None:
    plan = plan_of(stack)
    network = plan.config.network
    assert network is not None
    for nsg in plan.of_type("azure-native:network:NetworkSecurityGroup"):
        rules = nsg.inputs["securityRules"]
        inbound = [r for r in rules if r["direction"] == "Inbound"]
        for r in inbound:
            if r["access"] == "Allow":
                assert r["sourceAddressPrefix"] not in ("*", "Internet", "0.0.0.0/0"), f"{nsg.urn}: {r}"
        deny_all = [r for r in inbound if r["sourceAddressPrefix"] == "*" and r["destinationAddressPrefix"] == "*"]
        assert deny_all, f"{nsg.urn} lacks an explicit deny-all inbound rule"
        assert deny_all[0]["access"] == "Deny"
        assert deny_all[0]["priority"] == 4096, "deny-all inbound sits at the lowest priority, above the defaults"
    agents = _nsg(plan, "agents-nsg")
    assert all(r["access"] == "Deny" for r in agents.inputs["securityRules"] if r["direction"] == "Inbound")


@pytest.mark.parametrize("stack", AZURE_STACKS)
def test_private_endpoints_accept_https_from_agents_and_listed_clients_only(
    plan_of: Callable[[str], Plan], stack: str
) -> None:
    plan = plan_of(stack)
    network = plan.config.network
    assert network is not None
    nsg = _nsg(plan, "endpoints-nsg")
    allowed = {
        (r["sourceAddressPrefix"], r["destinationAddressPrefix"], r["destinationPortRange"], r["protocol"])
        for r in nsg.inputs["securityRules"]
        if r["direction"] == "Inbound" and r["access"] == "Allow"
    }
    endpoints = str(network.subnets.endpoints)
    expected = {(str(network.subnets.agents), endpoints, "443", "Tcp")}
    expected |= {(str(network.subnets.control_plane), endpoints, "443", "Tcp")}  # the agents' control plane
    expected |= {(str(c), endpoints, "443", "Tcp") for c in network.endpoint_client_ranges}
    assert allowed == expected
    subnet = next(s for s in plan.of_type("azure-native:network:Subnet") if s.inputs["subnetName"] == "endpoints")
    assert subnet.inputs["networkSecurityGroup"]["id"] == nsg.outputs["id"]
    assert subnet.inputs["privateEndpointNetworkPolicies"] == "Enabled", "else Azure ignores the NSG for endpoints"


@pytest.mark.parametrize("stack", AZURE_STACKS)
def test_outbound_is_only_endpoints_and_firewall_then_deny(plan_of: Callable[[str], Plan], stack: str) -> None:
    plan = plan_of(stack)
    network = plan.config.network
    assert network is not None
    nsg = _nsg(plan, "agents-nsg")
    outbound = sorted(
        (r for r in nsg.inputs["securityRules"] if r["direction"] == "Outbound"), key=lambda r: r["priority"]
    )
    allowed = {(r["destinationAddressPrefix"], r["destinationPortRange"]) for r in outbound if r["access"] == "Allow"}
    assert allowed == {(str(network.subnets.endpoints), "443"), ("Internet", "443")}, nsg.urn
    assert outbound[-1]["access"] == "Deny"
    assert outbound[-1]["destinationAddressPrefix"] == "*"


@pytest.mark.parametrize("stack", AZURE_STACKS)
def test_egress_allowlist_is_exact(plan_of: Callable[[str], Plan], stack: str) -> None:
    plan = plan_of(stack)
    fqdns = _fqdns(plan)
    assert set(SIGSTORE_HOSTS) <= set(fqdns)
    assert set(GITHUB_HOSTS) <= set(fqdns)
    # one wildcard, under a GitHub-owned domain; blob storage only by GitHub's own account names
    assert [f for f in fqdns if "*" in f] == ["*.actions.githubusercontent.com"]
    assert "productionresultssa0.blob.core.windows.net" in fqdns
    assert "productionresultssa199.blob.core.windows.net" in fqdns
    assert "productionresultssa25.blob.core.windows.net" not in fqdns, "not a GitHub account"
    results = {f for f in fqdns if f.startswith("productionresultssa")}
    assert len(results) == 20 + 20 + 100  # sa0-19, sa30-49, sa100-199
    network = plan.config.network
    assert network is not None
    # the agents log in to Azure by OIDC federation: Entra ID's token endpoint
    entra = {"login.microsoftonline.com"}
    assert set(fqdns) == (
        set(SIGSTORE_HOSTS)
        | set(GITHUB_HOSTS)
        | {"*.actions.githubusercontent.com"}
        | results
        | entra
        | {"management.azure.com", "kv-contoso-ci.vault.azure.net"}
        | set(network.egress.extra_allowed_fqdns)
    )
    group = only(plan, "azure-native:network:FirewallPolicyRuleCollectionGroup")
    for collection in group.inputs["ruleCollections"]:
        assert collection["action"]["type"] == "Allow"
        for rule in collection["rules"]:
            control_plane = rule["name"] == "control-plane"
            source = network.subnets.control_plane if control_plane else network.subnets.agents
            assert rule["sourceAddresses"] == [str(source)], rule["name"]
            assert rule["protocols"] == [{"protocolType": "Https", "port": 443}]


@pytest.mark.parametrize("stack", AZURE_STACKS)
def test_default_route_goes_to_the_firewall(plan_of: Callable[[str], Plan], stack: str) -> None:
    plan = plan_of(stack)
    table = only(plan, "azure-native:network:RouteTable")
    (route,) = table.inputs["routes"]
    assert route["addressPrefix"] == "0.0.0.0/0"
    assert route["nextHopType"] == "VirtualAppliance"
    assert route["nextHopIpAddress"] == plan.outputs["firewallPrivateIp"]
    assert table.inputs["disableBgpRoutePropagation"] is True
    agents = next(s for s in plan.of_type("azure-native:network:Subnet") if s.inputs["subnetName"] == "agents")
    assert agents.inputs["routeTable"]["id"] == table.outputs["id"]
    assert agents.inputs["defaultOutboundAccess"] is False
    firewall_subnet = next(
        s for s in plan.of_type("azure-native:network:Subnet") if s.inputs["subnetName"] == "AzureFirewallSubnet"
    )
    assert firewall_subnet.inputs["addressPrefix"] == str(plan.config.network.subnets.firewall)  # type: ignore[union-attr]


def test_nsg_only_mode_has_no_firewall_and_uses_service_tags(plan_raw: Callable[..., Plan]) -> None:
    raw = stack_raw("dev")
    raw["network"]["egress"]["mode"] = "nsg-only"
    del raw["buildAgents"]  # agents need the firewall: GitHub and Sigstore have no service tag
    plan = plan_raw(raw)
    assert not plan.of_type("azure-native:network:AzureFirewall")
    assert not plan.of_type("azure-native:network:RouteTable")
    nsg = _nsg(plan, "agents-nsg")
    destinations = {r["destinationAddressPrefix"] for r in nsg.inputs["securityRules"] if r["access"] == "Allow"}
    assert "Internet" not in destinations
    assert {"AzureContainerRegistry", "AzureActiveDirectory", "AzureKeyVault", "Storage"} <= destinations
    assert any(f.key == "supply-chain:network.egress.mode" and f.severity == "high" for f in plan.findings)
    assert "egress-through-firewall" in {v.rule for v in check_resources(plan.resources)}


def _registry(plan: Plan) -> PlannedResource:
    """The registry: pulumi-azure-native's generic ARM resource for `Microsoft.ContainerRegistry/registries`."""
    assert not plan.of_type("azure-native:containerregistry:Registry"), "the typed resource's API has no ABAC mode"
    (registry,) = [
        r for r in plan.of_type("azure-native:resources:Resource") if r.inputs["resourceType"] == "registries"
    ]
    return registry


@pytest.mark.parametrize("stack", AZURE_STACKS)
def test_registry_is_private_premium_and_locked_down(plan_of: Callable[[str], Plan], stack: str) -> None:
    plan = plan_of(stack)
    registry = _registry(plan)
    assert {k: registry.inputs[k] for k in ("resourceProviderNamespace", "parentResourcePath", "apiVersion")} == {
        "resourceProviderNamespace": "Microsoft.ContainerRegistry",
        "parentResourcePath": "",
        "apiVersion": "2025-11-01",
    }
    assert registry.inputs["resourceName"] == plan.config.registry.name
    assert registry.inputs["sku"] == {"name": "Premium"}
    acr = registry.inputs["properties"]
    assert acr["roleAssignmentMode"] == "AbacRepositoryPermissions"
    assert acr["zoneRedundancy"] == ("Enabled" if stack == "prod" else "Disabled")
    assert acr["networkRuleSet"] == {"defaultAction": "Deny", "ipRules": []}
    assert acr["adminUserEnabled"] is False
    assert acr["anonymousPullEnabled"] is False
    assert acr["publicNetworkAccess"] == "Disabled"
    assert acr["networkRuleSet"]["defaultAction"] == "Deny"
    assert acr["networkRuleBypassOptions"] == "None"
    assert acr["policies"]["exportPolicy"] == {"status": "disabled"}
    assert acr["policies"]["retentionPolicy"] == (
        {"days": 7, "status": "enabled"} if stack == "dev" else {"status": "disabled"}
    ), "prod keeps untagged manifests: admission pins images by digest"
    # both engines log in to ACR with ARM-audience tokens (see registry.py): disabling them denies every pull
    assert acr["policies"]["azureADAuthenticationAsArmPolicy"] == {"status": "enabled"}
    assert acr["dataEndpointEnabled"] is True
    assert plan.outputs["registryLoginServer"] == f"{plan.config.registry.name}.azurecr.io"
    assert plan.outputs["registryName"] == plan.config.registry.name
    assert plan.outputs["registryId"].endswith(
        f"/providers/Microsoft.ContainerRegistry/registries/{registry.inputs['resourceName']}"
    )


def test_public_access_only_with_deny_default_and_allowlist(plan_raw: Callable[..., Plan]) -> None:
    raw = stack_raw("dev")
    raw["registry"].update(
        publicNetworkAccessEnabled=True, allowedIpRanges=["52.174.10.0/24"], azureServicesBypassEnabled=True
    )
    plan = plan_raw(raw)
    acr = _registry(plan).inputs["properties"]
    assert acr["publicNetworkAccess"] == "Enabled"
    assert acr["networkRuleSet"] == {
        "defaultAction": "Deny",
        "ipRules": [{"value": "52.174.10.0/24", "action": "Allow"}],
    }
    assert acr["networkRuleBypassOptions"] == "AzureServices"
    flagged = {f.key for f in plan.findings}
    assert {
        "supply-chain:registry.publicNetworkAccessEnabled",
        "supply-chain:registry.azureServicesBypassEnabled",
    } <= flagged


@pytest.mark.parametrize(
    ("service", "zone"), [("registry", "privatelink.azurecr.io"), ("vault", "privatelink.vaultcore.azure.net")]
)
@pytest.mark.parametrize("stack", AZURE_STACKS)
def test_private_endpoints_with_dns(plan_of: Callable[[str], Plan], stack: str, service: str, zone: str) -> None:
    plan = plan_of(stack)
    endpoint = next(
        e
        for e in plan.of_type("azure-native:network:PrivateEndpoint")
        if e.inputs["privateLinkServiceConnections"][0]["groupIds"] == [service]
    )
    assert endpoint.inputs["subnet"]["id"] == plan.outputs["endpointsSubnetId"]
    zones = {z.inputs["privateZoneName"]: z for z in plan.of_type("azure-native:privatedns:PrivateZone")}
    assert zone in zones
    links = [
        link
        for link in plan.of_type("azure-native:privatedns:VirtualNetworkLink")
        if link.inputs["privateZoneName"] == zone
    ]
    build_vnet = only(plan, "azure-native:network:VirtualNetwork").outputs["id"]
    cluster_vnet = (
        f"/subscriptions/{SUBSCRIPTIONS[stack]}/resourceGroups/rg-aks-{stack}"
        f"/providers/Microsoft.Network/virtualNetworks/vnet-aks-{stack}"
    )
    # the build VNet (agents) and the cluster's (nodes pull, engines verify) both resolve the endpoint
    assert {link.inputs["virtualNetwork"]["id"] for link in links} == {build_vnet, cluster_vnet}
    assert {link.inputs["registrationEnabled"] for link in links} == {False}
    groups = [
        g
        for g in plan.of_type("azure-native:network:PrivateDnsZoneGroup")
        if g.inputs["privateEndpointName"] == endpoint.outputs["name"]
    ]
    assert groups[0].inputs["privateDnsZoneConfigs"][0]["privateDnsZoneId"] == zones[zone].outputs["id"]


PUSH_CONDITION = (
    "((!(ActionMatches{'Microsoft.ContainerRegistry/registries/repositories/metadata/write'})"
    " AND !(ActionMatches{'Microsoft.ContainerRegistry/registries/repositories/content/write'}))"
    " OR (@Request[Microsoft.ContainerRegistry/registries/repositories:name] StringStartsWithIgnoreCase 'payments/'"
    " OR @Request[Microsoft.ContainerRegistry/registries/repositories:name] StringStartsWithIgnoreCase 'storefront/'))"
)
"""The agents' writer grant in dev and prod (`pushRepositories: [payments/**, storefront/**]`), spelled out."""


def _role_assignments(plan: Plan) -> set[tuple[str, str, str]]:
    return {
        (r.inputs["principalId"], r.inputs["roleDefinitionId"].rsplit("/", 1)[1], r.inputs["scope"])
        for r in plan.of_type("azure-native:authorization:RoleAssignment")
    }


def _identity(plan: Plan, suffix: str) -> PlannedResource:
    return next(r for r in plan.of_type("azure-native:managedidentity:UserAssignedIdentity") if r.name.endswith(suffix))


@pytest.mark.parametrize("stack", AZURE_STACKS)
def test_role_assignments_are_exactly_least_privilege(plan_of: Callable[[str], Plan], stack: str) -> None:
    plan = plan_of(stack)
    registry_id = plan.outputs["registryId"]
    agents = _identity(plan, "build-agents").outputs["principalId"]
    admission = _identity(plan, "admission").outputs["principalId"]
    pool = {
        _identity(plan, suffix).outputs["principalId"] for suffix in ("agents-host", "agents-control")
    }  # the agent pool's own actors: tests/test_build_agents.py
    kubelet_candidates = {p for p, role, _ in _role_assignments(plan) if p not in (agents, admission, *pool)}
    assert len(kubelet_candidates) == 1, "one more principal: the AKS kubelet identity"
    (kubelet,) = kubelet_candidates
    (key,) = [k.outputs["id"] for k in plan.of_type("azure-native:keyvault:Key")]
    roles = {
        r.name.rsplit("-", 1)[1]: r
        for r in plan.of_type("azure-native:authorization:RoleDefinition")
        if "-agents-" not in r.name
    }
    assert set(roles) == {"signer", "verifier"}
    signer, verifier = (roles[kind].outputs["id"].rsplit("/", 1)[1] for kind in ("signer", "verifier"))
    assert {a for a in _role_assignments(plan) if a[0] not in pool} == {
        (agents, REPOSITORY_WRITER, registry_id),
        (admission, REPOSITORY_READER, registry_id),
        (kubelet, REPOSITORY_READER, registry_id),
        (agents, signer, key),
        (admission, verifier, key),
    }
    # the writer reaches the pool's repositories only, for every action of its role; the readers every repository
    on_registry = sorted(
        (r.inputs["roleDefinitionId"].rsplit("/", 1)[1], r.inputs.get("condition"), r.inputs.get("conditionVersion"))
        for r in plan.of_type("azure-native:authorization:RoleAssignment")
        if r.inputs["scope"] == registry_id
    )
    assert on_registry == sorted(
        [(REPOSITORY_WRITER, PUSH_CONDITION, "2.0"), (REPOSITORY_READER, None, None), (REPOSITORY_READER, None, None)]
    )
    # exactly the calls each makes: cosign signs (get key + sign); Kyverno verifies through the vault
    # (get key + verify); nobody but the deployment can update, back up, delete or rotate a key
    assert roles["signer"].inputs["permissions"] == [
        {
            "actions": [],
            "dataActions": ["Microsoft.KeyVault/vaults/keys/read", "Microsoft.KeyVault/vaults/keys/sign/action"],
        }
    ]
    assert roles["verifier"].inputs["permissions"] == [
        {
            "actions": [],
            "dataActions": ["Microsoft.KeyVault/vaults/keys/read", "Microsoft.KeyVault/vaults/keys/verify/action"],
        }
    ]
    vault = only(plan, "azure-native:keyvault:Vault").outputs["id"]
    for role in roles.values():
        assert role.inputs["assignableScopes"] == [vault]
    for assignment in plan.of_type("azure-native:authorization:RoleAssignment"):
        assert assignment.inputs["principalType"] == "ServicePrincipal", assignment.urn


@pytest.mark.parametrize("stack", AZURE_STACKS)
def test_federated_credentials_on_one_identity_are_written_one_at_a_time(
    plan_of: Callable[[str], Plan], stack: str
) -> None:
    every_credential = plan_of(stack).of_type("azure-native:managedidentity:FederatedIdentityCredential")
    identities = {c.inputs["resourceName"] for c in every_credential}
    assert len(identities) == 2, "the admission identity (engines) and the job identity (repositories)"
    for identity in identities:
        credentials = [c for c in every_credential if c.inputs["resourceName"] == identity]
        assert len(credentials) >= 2
        urns = {c.urn for c in credentials}
        waits_for = {c.urn: set(c.depends_on) & urns for c in credentials}
        first = [urn for urn, before in waits_for.items() if not before]
        assert len(first) == 1, "exactly one credential starts the chain"
        chain = first
        while next_ := [urn for urn, before in waits_for.items() if before == {chain[-1]}]:
            chain.append(next_[0])
        assert len(chain) == len(credentials), "each credential waits for the one before it"


def test_the_first_key_version_expires_two_rotation_periods_after_creation() -> None:
    from datetime import date

    from components.azure.signing_keys import first_version_expiry
    from components.model.config import AzureKeyVaultKey

    key = AzureKeyVaultKey.model_validate({"kind": "azure-key-vault", "name": "image-signing", "rotationDays": 180})
    assert first_version_expiry(key, date(2026, 11, 26)) == 1826755200  # 2027-11-21T00:00:00Z


@pytest.mark.parametrize(("stack", "sku"), [("dev", "standard"), ("prod", "premium")])
def test_key_vault_is_rbac_purge_protected_and_private(plan_of: Callable[[str], Plan], stack: str, sku: str) -> None:
    plan = plan_of(stack)
    props: dict[str, Any] = only(plan, "azure-native:keyvault:Vault").inputs["properties"]
    assert props["enableRbacAuthorization"] is True
    assert props["enablePurgeProtection"] is True
    assert props["enableSoftDelete"] is True
    assert props["publicNetworkAccess"] == "Disabled"
    assert props["networkAcls"] == {"defaultAction": "Deny", "bypass": "None"}
    assert props["sku"]["name"] == sku, "HSM-backed keys need the premium SKU"
    assert plan.outputs["vaultUri"].startswith("https://")


def test_diagnostics_only_where_a_workspace_is_configured(plan_of: Callable[[str], Plan]) -> None:
    assert not plan_of("dev").of_type("azure-native:monitor:DiagnosticSetting")
    prod = plan_of("prod")
    settings = {s.inputs["resourceUri"]: s.inputs for s in prod.of_type("azure-native:monitor:DiagnosticSetting")}
    firewall = only(prod, "azure-native:network:AzureFirewall").outputs["id"]
    vault = only(prod, "azure-native:keyvault:Vault").outputs["id"]
    dns = only(prod, "azure-native:dnsresolver:DnsResolverPolicy").outputs["id"]
    assert set(settings) == {prod.outputs["registryId"], firewall, vault, dns}
    assert settings[prod.outputs["registryId"]]["workspaceId"] == prod.config.registry.log_analytics_workspace_id
    assert settings[vault]["workspaceId"] == prod.config.signing.log_analytics_workspace_id
    assert settings[vault]["logs"] == [{"categoryGroup": "allLogs", "enabled": True}], "AuditEvent: every sign"
    assert prod.config.network is not None
    assert settings[firewall]["workspaceId"] == prod.config.network.log_analytics_workspace_id
    assert settings[firewall]["logs"] == [{"categoryGroup": "allLogs", "enabled": True}]


def test_given_pullers_get_repository_reader_and_nothing_else(loosened_dev: Plan) -> None:
    assert {role for p, role, _ in _role_assignments(loosened_dev) if p == OTHER_PULLER} == {REPOSITORY_READER}


@pytest.mark.parametrize("stack", AZURE_STACKS)
def test_in_abac_mode_no_legacy_registry_role_is_assigned(plan_of: Callable[[str], Plan], stack: str) -> None:
    """AcrPush and AcrPull are not honoured in ABAC mode: assigning them would only mislead a reader."""
    assert {role for _, role, _ in _role_assignments(plan_of(stack))} & {ACR_PUSH, ACR_PULL} == set()


def _legacy(stack: str) -> dict[str, Any]:
    raw = stack_raw(stack)
    raw["registry"]["repositoryPermissionsEnabled"] = False
    del raw["buildAgents"]["pushRepositories"]
    return raw


def test_the_review_flags_the_legacy_opt_out_louder_in_prod() -> None:
    for stack, severity in (("dev", "medium"), ("prod", "high")):
        findings = {(f.severity, f.key) for f in review(parse_stack_config(_legacy(stack)))}
        assert (severity, "supply-chain:registry.repositoryPermissionsEnabled") in findings, stack


def test_the_legacy_opt_out_grants_acrpush_and_acrpull_and_the_review_says_so(plan_raw: Callable[..., Plan]) -> None:
    stack = "prod"  # the grants are the same in dev; its review's severity is checked above, without a plan
    plan = plan_raw(_legacy(stack))
    assert _registry(plan).inputs["properties"]["roleAssignmentMode"] == "LegacyRegistryPermissions"
    registry_id = plan.outputs["registryId"]
    on_registry = {(principal, role) for principal, role, scope in _role_assignments(plan) if scope == registry_id}
    agents = _identity(plan, "build-agents").outputs["principalId"]
    admission = _identity(plan, "admission").outputs["principalId"]
    assert (agents, ACR_PUSH) in on_registry
    assert (admission, ACR_PULL) in on_registry
    assert {role for _, role in on_registry} == {ACR_PUSH, ACR_PULL}
    assert not [r for r in plan.of_type("azure-native:authorization:RoleAssignment") if "condition" in r.inputs]
    severity = "high" if stack == "prod" else "medium"
    assert (severity, "supply-chain:registry.repositoryPermissionsEnabled") in {
        (f.severity, f.key) for f in plan.findings
    }
    reported = {(v.rule, v.level) for v in check_resources(plan.resources)}
    assert {
        ("registry-repository-permissions", "advisory"),
        ("registry-push-limited-to-repositories", "advisory"),
    } <= reported


def test_without_build_agents_nobody_may_push_in_abac_mode(plan_raw: Callable[..., Plan]) -> None:
    """The job identity exists without agents, but no one can sign in as it: in ABAC mode it gets no writer grant."""
    raw = stack_raw("dev")
    del raw["buildAgents"]
    plan = plan_raw(raw)
    roles = {role for _, role, scope in _role_assignments(plan) if scope == plan.outputs["registryId"]}
    assert roles == {REPOSITORY_READER}


@pytest.mark.parametrize("stack", AZURE_STACKS)
def test_outputs_contract(plan_of: Callable[[str], Plan], stack: str) -> None:
    outputs = plan_of(stack).outputs
    for key in (
        "registryId",
        "registryName",
        "registryLoginServer",
        "registryPrivateIps",
        "vaultUri",
        "vaultPrivateIps",
        "firewallPrivateIp",
        "agentsSubnetId",
        "endpointsSubnetId",
    ):
        assert outputs.get(key), f"missing output {key}"


def test_pure_rules_without_pulumi() -> None:
    config = parse_stack_config(stack_raw("prod"))
    assert config.network is not None
    names = [r.name for r in egress_rules(config.network, None)]
    assert names == ["sigstore", "stack-extras"], "no CI hosts when no agents are configured"
    rules = agent_nsg_rules(config.network)
    assert [r["name"] for r in rules][-2:] == ["deny-all-out", "deny-all-in"]


def test_prod_locks_the_registry_and_the_vault_against_deletion_and_dev_does_not(
    plan_of: Callable[[str], Plan],
) -> None:
    prod = plan_of("prod")
    locks = prod.of_type("azure-native:authorization:ManagementLockByScope")
    vault = only(prod, "azure-native:keyvault:Vault").outputs["id"]
    assert {lock.inputs["scope"] for lock in locks} == {prod.outputs["registryId"], vault}
    assert {lock.inputs["level"] for lock in locks} == {"CanNotDelete"}
    assert not plan_of("dev").of_type("azure-native:authorization:ManagementLockByScope")


def test_retention_of_untagged_manifests_is_flagged_where_it_is_allowed(plan_of: Callable[[str], Plan]) -> None:
    flagged = {(f.severity, f.key) for f in plan_of("dev").findings}
    assert ("medium", "supply-chain:registry.retentionDays") in flagged


@pytest.mark.parametrize("stack", AZURE_STACKS)
def test_the_cluster_vnet_is_peered_both_ways_and_shares_nothing_else(
    plan_of: Callable[[str], Plan], stack: str
) -> None:
    plan = plan_of(stack)
    build_vnet = only(plan, "azure-native:network:VirtualNetwork")
    cluster_vnet = (
        f"/subscriptions/{SUBSCRIPTIONS[stack]}/resourceGroups/rg-aks-{stack}"
        f"/providers/Microsoft.Network/virtualNetworks/vnet-aks-{stack}"
    )
    peerings = {
        (p.inputs["resourceGroupName"], p.inputs["virtualNetworkName"]): p
        for p in plan.of_type("azure-native:network:VirtualNetworkPeering")
    }
    assert set(peerings) == {
        (f"rg-supplychain-{stack}", build_vnet.outputs["name"]),
        (f"rg-aks-{stack}", f"vnet-aks-{stack}"),
    }
    assert peerings[(f"rg-supplychain-{stack}", build_vnet.outputs["name"])].inputs["remoteVirtualNetwork"] == {
        "id": cluster_vnet
    }
    assert peerings[(f"rg-aks-{stack}", f"vnet-aks-{stack}")].inputs["remoteVirtualNetwork"] == {
        "id": build_vnet.outputs["id"]
    }
    for peering in peerings.values():
        assert peering.inputs["allowVirtualNetworkAccess"] is True
        assert peering.inputs["allowForwardedTraffic"] is False
        assert peering.inputs["allowGatewayTransit"] is False
        assert peering.inputs["useRemoteGateways"] is False


def test_an_unpeered_cluster_is_flagged_where_it_is_not_refused(loosened_dev: Plan) -> None:
    plan = loosened_dev
    assert not plan.of_type("azure-native:network:VirtualNetworkPeering")
    links = plan.of_type("azure-native:privatedns:VirtualNetworkLink")
    assert len(links) == 4, "the build VNet's links only: registry, vault, the pool's blobs and tables"
    assert not [link for link in links if link.name.endswith("-cluster")]
    flagged = {(f.severity, f.key) for f in plan.findings}
    assert ("high", "supply-chain:cluster.virtualNetworkId") in flagged


@pytest.mark.parametrize(
    ("stack", "extras"),
    [("dev", {"pypi.org", "files.pythonhosted.org"}), ("prod", {"contoso.pkgs.visualstudio.com"})],
)
def test_agents_resolve_only_the_names_they_may_reach(
    plan_of: Callable[[str], Plan], stack: str, extras: set[str]
) -> None:
    plan = plan_of(stack)
    lists = {d.name.rsplit("-", 1)[1]: d for d in plan.of_type("azure-native:dnsresolver:DnsResolverDomainList")}
    assert set(lists) == {"allowed", "everything"}
    assert set(lists["allowed"].inputs["domains"]) == {
        "fulcio.sigstore.dev",
        "rekor.sigstore.dev",
        "tuf-repo-cdn.sigstore.dev",
        "timestamp.sigstore.dev",
        *GITHUB_HOSTS,
        "actions.githubusercontent.com",  # the firewall's one wildcard: the name and its subdomains
        *GITHUB_RESULTS_HOSTS,
        "login.microsoftonline.com",
        "management.azure.com",  # agents delete their own VM; the control plane creates them
        "kv-contoso-ci.vault.azure.net",  # the control plane's secrets
        f"crcontoso{stack}agents.blob.core.windows.net",  # registrations
        f"crcontoso{stack}agents.table.core.windows.net",  # the control plane's tables
        "privatelink.blob.core.windows.net",
        "privatelink.table.core.windows.net",
        *extras,
        f"crcontoso{stack}.azurecr.io",
        f"crcontoso{stack}.westeurope.data.azurecr.io",
        "privatelink.azurecr.io",
        f"kv-crcontoso{stack}.vault.azure.net",
        "privatelink.vaultcore.azure.net",
    }
    assert lists["everything"].inputs["domains"] == ["."]
    rules = {r.inputs["priority"]: r.inputs for r in plan.of_type("azure-native:dnsresolver:DnsSecurityRule")}
    assert set(rules) == {100, 65000}, "allow first, then block everything else at the lowest priority"
    assert rules[100]["action"] == {"actionType": "Allow"}
    assert rules[100]["dnsResolverDomainLists"] == [{"id": lists["allowed"].outputs["id"]}]
    assert rules[65000]["action"] == {"actionType": "Block", "blockResponseCode": "SERVFAIL"}
    assert rules[65000]["dnsResolverDomainLists"] == [{"id": lists["everything"].outputs["id"]}]
    link = only(plan, "azure-native:dnsresolver:DnsResolverPolicyVirtualNetworkLink")
    assert link.inputs["virtualNetwork"] == {"id": only(plan, "azure-native:network:VirtualNetwork").outputs["id"]}


def test_dns_queries_are_logged_where_a_workspace_is_set(plan_of: Callable[[str], Plan]) -> None:
    prod = plan_of("prod")
    policy = only(prod, "azure-native:dnsresolver:DnsResolverPolicy").outputs["id"]
    settings = {s.inputs["resourceUri"]: s.inputs for s in prod.of_type("azure-native:monitor:DiagnosticSetting")}
    assert prod.config.network is not None
    assert settings[policy]["workspaceId"] == prod.config.network.log_analytics_workspace_id


def test_unfiltered_dns_is_flagged(loosened_dev: Plan) -> None:
    plan = loosened_dev
    assert not plan.of_type("azure-native:dnsresolver:DnsResolverPolicy")
    flagged = {(f.severity, f.key) for f in plan.findings}
    assert ("medium", "supply-chain:network.egress.dnsFilteringEnabled") in flagged
    assert [(v.rule, v.level) for v in check_resources(plan.resources) if v.rule == "dns-filtered"] == [
        ("dns-filtered", "advisory")
    ]


def test_the_prod_firewall_and_its_ip_span_three_zones(plan_of: Callable[[str], Plan]) -> None:
    prod = plan_of("prod")
    assert only(prod, "azure-native:network:AzureFirewall").inputs["zones"] == ["1", "2", "3"]
    assert only(prod, "azure-native:network:PublicIPAddress").inputs["zones"] == ["1", "2", "3"]
    assert "zones" not in only(plan_of("dev"), "azure-native:network:AzureFirewall").inputs


def test_prod_logs_every_flow_of_the_build_network_where_agents_cannot_reach(plan_of: Callable[[str], Plan]) -> None:
    prod = plan_of("prod")
    flow_log = only(prod, "azure-native:network:FlowLog").inputs
    store = next(a for a in prod.of_type("azure-native:storage:StorageAccount") if a.name.endswith("-flows-store"))
    assert flow_log["targetResourceId"] == only(prod, "azure-native:network:VirtualNetwork").outputs["id"]
    assert flow_log["storageId"] == store.outputs["id"]
    assert flow_log["networkWatcherName"] == "NetworkWatcher_westeurope"
    assert flow_log["resourceGroupName"] == "NetworkWatcherRG"
    assert flow_log["retentionPolicy"] == {"days": 90, "enabled": True}
    assert flow_log["format"] == {"type": "JSON", "version": 2}
    assert store.inputs["accountName"] == "stcrcontosoprodflow"
    assert store.inputs["allowSharedKeyAccess"] is False, "Entra identities only"
    assert store.inputs["allowBlobPublicAccess"] is False
    assert store.inputs["minimumTlsVersion"] == "TLS1_2"
    assert store.inputs["networkRuleSet"] == {"defaultAction": "Deny", "bypass": "AzureServices"}
    assert not plan_of("dev").of_type("azure-native:network:FlowLog"), "on in prod by default only"


@pytest.mark.parametrize("stack", AZURE_STACKS)
def test_writes_azure_serialises_wait_for_each_other(plan_of: Callable[[str], Plan], stack: str) -> None:
    """A VNet takes one write at a time (subnets, then peerings), and so does a private zone (its links)."""
    plan = plan_of(stack)
    agents_subnet = next(s for s in plan.of_type("azure-native:network:Subnet") if s.inputs["subnetName"] == "agents")
    peerings = {p.name.rsplit("-", 2)[-2]: p for p in plan.of_type("azure-native:network:VirtualNetworkPeering")}
    assert set(peerings) == {"to", "from"}
    control_subnet = next(
        s for s in plan.of_type("azure-native:network:Subnet") if s.inputs["subnetName"] == "control-plane"
    )
    assert agents_subnet.urn in control_subnet.depends_on
    assert control_subnet.urn in peerings["to"].depends_on, "after the last subnet write"
    assert peerings["to"].urn in peerings["from"].depends_on
    for zone in ("privatelink.azurecr.io", "privatelink.vaultcore.azure.net"):
        links = [
            link
            for link in plan.of_type("azure-native:privatedns:VirtualNetworkLink")
            if link.inputs["privateZoneName"] == zone
        ]
        build, cluster = sorted(links, key=lambda link: link.name.endswith("-cluster"))
        assert build.urn in cluster.depends_on, f"{zone}: the cluster's link waits for the build VNet's"


HUB_ZONES = (
    "/subscriptions/9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d/resourceGroups/rg-hub-dns"
    "/providers/Microsoft.Network/privateDnsZones"
)


def test_a_hub_and_spoke_prod_puts_records_in_the_estates_zones_and_creates_none(
    hub_and_spoke_prod_without_safeguards: Plan,
) -> None:
    plan = hub_and_spoke_prod_without_safeguards
    assert not plan.of_type("azure-native:privatedns:PrivateZone"), "the estate owns the zones"
    assert not plan.of_type("azure-native:privatedns:VirtualNetworkLink"), "and links them where it routes"
    assert not plan.of_type("azure-native:network:VirtualNetworkPeering")
    zone_ids = {
        g.inputs["privateDnsZoneConfigs"][0]["privateDnsZoneId"]
        for g in plan.of_type("azure-native:network:PrivateDnsZoneGroup")
    }
    assert zone_ids == {
        f"{HUB_ZONES}/privatelink.azurecr.io",
        f"{HUB_ZONES}/privatelink.vaultcore.azure.net",
        f"{HUB_ZONES}/privatelink.blob.core.windows.net",
        f"{HUB_ZONES}/privatelink.table.core.windows.net",
    }


PREMIUM_CA = {
    "certificateSecretId": "https://kv-contoso-pki.vault.azure.net/secrets/firewall-tls-ca",
    "vaultId": "/subscriptions/9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d/resourceGroups/rg-pki/providers/"
    "Microsoft.KeyVault/vaults/kv-contoso-pki",
}


def test_a_premium_firewall_limits_github_to_the_organisations_paths_inside_tls(plan_raw: Callable[..., Plan]) -> None:
    raw = stack_raw("prod")
    ca = {**PREMIUM_CA, "caCertificate": self_signed_pem("contoso firewall ca")}
    raw["network"]["egress"].update(firewallTier="Premium", tlsInspection=ca)
    plan = plan_raw(raw)
    policy = only(plan, "azure-native:network:FirewallPolicy").inputs
    assert policy["sku"] == {"tier": "Premium"}
    assert policy["intrusionDetection"] == {"mode": "Deny"}
    assert policy["transportSecurity"]["certificateAuthority"]["keyVaultSecretId"] == PREMIUM_CA["certificateSecretId"]
    identity = next(
        i for i in plan.of_type("azure-native:managedidentity:UserAssignedIdentity") if i.name.endswith("-tls")
    )
    assert policy["identity"] == {"type": "UserAssigned", "userAssignedIdentities": [identity.outputs["id"]]}
    ca_secret = PREMIUM_CA["vaultId"] + "/secrets/firewall-tls-ca"
    assert (identity.outputs["principalId"], "4633458b-17de-408a-b874-0445c86b69e6", ca_secret) in (
        _role_assignments(plan)
    ), "the policy's identity reads the CA and no other secret: Key Vault Secrets User on that secret"
    assert only(plan, "azure-native:network:AzureFirewall").inputs["sku"] == {"name": "AZFW_VNet", "tier": "Premium"}
    rules = {
        rule["name"]: rule
        for collection in only(plan, "azure-native:network:FirewallPolicyRuleCollectionGroup").inputs["ruleCollections"]
        for rule in collection["rules"]
    }
    assert rules["github-org-paths"]["targetUrls"] == [
        "github.com/contoso/*",
        "codeload.github.com/contoso/*",
        "github.com/actions/runner/releases/download/v2.320.0/*",  # the pinned runner release, nothing else
    ]
    assert rules["github-org-paths"]["terminateTLS"] is True
    by_name = {fqdn for rule in rules.values() for fqdn in rule.get("targetFqdns", [])}
    assert "github.com" not in by_name, "github.com only by the organisation's paths"
    assert "codeload.github.com" not in by_name
    assert "api.github.com" in by_name
    allowed = next(
        d for d in plan.of_type("azure-native:dnsresolver:DnsResolverDomainList") if d.name.endswith("allowed")
    )
    assert "github.com" in allowed.inputs["domains"], "still resolvable"
    flagged = {f.key for f in plan.findings}
    assert "supply-chain:network.egress.firewallTier" not in flagged
    assert "github-limited-to-organisation" not in {v.rule for v in check_resources(plan.resources)}


def test_a_standard_firewall_in_front_of_github_runners_is_flagged(plan_of: Callable[[str], Plan]) -> None:
    flagged = {(f.severity, f.key) for f in plan_of("prod").findings}
    assert ("low", "supply-chain:network.egress.firewallTier") in flagged


def test_a_prod_stack_without_locks_zones_or_flow_logs_is_flagged_for_each(
    hub_and_spoke_prod_without_safeguards: Plan,
) -> None:
    """The three prod safeguards a stack may turn off: each is then absent and flagged."""
    plan = hub_and_spoke_prod_without_safeguards
    assert not plan.of_type("azure-native:authorization:ManagementLockByScope")
    assert not plan.of_type("azure-native:network:FlowLog")
    assert "zones" not in only(plan, "azure-native:network:AzureFirewall").inputs
    flagged = {(f.severity, f.key) for f in plan.findings}
    assert ("high", "supply-chain:azure.deleteLocksEnabled") in flagged
    assert ("medium", "supply-chain:azure.availabilityZones") in flagged
    assert ("medium", "supply-chain:network.flowLogsEnabled") in flagged
    assert sorted(v.message for v in check_resources(plan.resources) if v.rule == "prod-safeguards") == [
        "crcontosoprod has no delete lock: one mistaken destroy removes it",
        "kv-crcontosoprod has no delete lock: one mistaken destroy removes it",
        "the egress firewall sits in one zone: a zone outage stops every build",
        "vnet-supply-chain-net's flows are not logged: nobody can tell later what the agents reached",
    ], "the policy pack says the same of the resources"
