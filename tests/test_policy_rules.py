"""Each rule of the policy pack through the policy SDK's own argument bag (`ResourceValidationArgs`): a compliant
resource passes, each way of breaking it is reported with a message a reviewer understands."""

from __future__ import annotations

import base64
import copy
import gzip
import secrets
import string
from collections.abc import Mapping
from typing import Any

import pytest
from pulumi_policy import PolicyCustomTimeouts, PolicyResourceOptions, ResourceValidationArgs, ResourceValidationPolicy

from policies.rules import ALL_POLICIES
from policies.rules.network import too_wide
from tests.policy_args import LOCKED_REGISTRY
from tests.secret_samples import fine_grained_token, github_token, jwt, private_key_block

POLICIES = {policy.name: policy for policy in ALL_POLICIES if isinstance(policy, ResourceValidationPolicy)}
SUB = "/subscriptions/9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
OPTIONS = PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [])


def _violations(
    rule: str, resource_type: str, props: Mapping[str, Any], config: Mapping[str, Any] | None = None
) -> list[str]:
    found: list[str] = []
    args = ResourceValidationArgs(
        resource_type, props, f"urn:pulumi:s::p::{resource_type}::r", "r", OPTIONS, None, config
    )

    def report(message: str, urn: str | None = None) -> None:
        found.append(message)

    POLICIES[rule].validate(args, report)
    return found


REGISTRY = "azure-native:containerregistry:Registry"
ALLOWLISTED_REGISTRY = {
    **LOCKED_REGISTRY,
    "publicNetworkAccess": "Enabled",
    "networkRuleSet": {"defaultAction": "Deny", "ipRules": [{"iPAddressOrRange": "52.174.10.0/24"}]},
}
SCALE_SET = "azure-native:compute:VirtualMachineScaleSet"
AGENTS = {
    "virtualMachineProfile": {
        "priority": "Spot",
        "evictionPolicy": "Delete",
        "securityProfile": {
            "securityType": "TrustedLaunch",
            "uefiSettings": {"secureBootEnabled": True, "vTpmEnabled": True},
            "encryptionAtHost": True,
        },
        "storageProfile": {"osDisk": {"diffDiskSettings": {"option": "Local", "placement": "ResourceDisk"}}},
        "networkProfile": {"networkInterfaceConfigurations": [{"name": "agent-nic", "ipConfigurations": [{}]}]},
        "osProfile": {
            "linuxConfiguration": {"disablePasswordAuthentication": True},
            "customData": base64.b64encode(b"#cloud-config\nruncmd: [/opt/agent/boot]\n").decode(),
        },
    }
}


def _with(base: Mapping[str, Any], path: str, value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(dict(base))
    *parents, last = path.split(".")
    node = changed
    for step in parents:
        node = node.setdefault(step, {})
    if value is None:
        node.pop(last, None)
    else:
        node[last] = value
    return changed


CASES = [
    # rule, type, compliant props, (path, value) that breaks it, the message a reviewer reads
    ("registry-no-shared-access", REGISTRY, LOCKED_REGISTRY, ("adminUserEnabled", True),
     "the admin user is on: one shared password pushes and pulls every image"),
    ("registry-no-shared-access", REGISTRY, LOCKED_REGISTRY, ("anonymousPullEnabled", True),
     "anonymous pull is on: anyone who reaches the registry reads every image"),
    ("registry-export-off", REGISTRY, LOCKED_REGISTRY, ("policies.exportPolicy.status", "enabled"),
     "export is allowed: images can be copied out of the registry's network rules"),
    ("registry-public-endpoint-allowlisted", REGISTRY, LOCKED_REGISTRY, ("publicNetworkAccess", "Enabled"),
     "the public endpoint is open without an IP allowlist (default action Deny with listed ranges)"),
    ("registry-endpoint-private", REGISTRY, LOCKED_REGISTRY, ("publicNetworkAccess", "Enabled"),
     "the public endpoint is on (allowed: nobody listed)"),
    ("registry-bypass-off", REGISTRY, LOCKED_REGISTRY, ("networkRuleBypassOptions", "AzureServices"),
     "trusted Azure services bypass the network rules"),
    ("registry-retention-keeps-running-images", REGISTRY, LOCKED_REGISTRY,
     ("policies.retentionPolicy", {"status": "enabled", "days": 7}),
     "untagged manifests are deleted after 7 days, including images still running by digest after their tag moved"),
    ("agents-spot-evictions-delete", SCALE_SET, AGENTS, ("virtualMachineProfile.evictionPolicy", "Deallocate"),
     "evicted Spot agents are deallocated, not deleted: a stopped agent keeps its disk and state"),
    ("agents-isolated-machine", SCALE_SET, AGENTS,
     ("virtualMachineProfile.storageProfile.osDisk.diffDiskSettings", None),
     "the OS disk is persistent: one job's files outlive it (use an ephemeral OS disk)"),
    ("agents-isolated-machine", SCALE_SET, AGENTS,
     ("virtualMachineProfile.securityProfile.uefiSettings.secureBootEnabled", False),
     "not Trusted Launch with secure boot and vTPM: a tampered boot chain goes unnoticed"),
    ("agents-isolated-machine", SCALE_SET, AGENTS, ("virtualMachineProfile.securityProfile.encryptionAtHost", False),
     "encryption at host is off: temp and cache disks are stored unencrypted"),
    ("agents-unreachable", SCALE_SET, AGENTS,
     ("virtualMachineProfile.osProfile.adminPassword", secrets.token_urlsafe(16)), "the agents have an admin password"),
    ("agents-unreachable", SCALE_SET, AGENTS,
     ("virtualMachineProfile.osProfile.linuxConfiguration.disablePasswordAuthentication", False),
     "password sign-in is not disabled"),
]  # fmt: skip


def test_rules_ignore_resources_of_other_types() -> None:
    broken = _with(LOCKED_REGISTRY, "adminUserEnabled", True)
    assert _violations("registry-no-shared-access", "azure-native:storage:StorageAccount", broken) == []


def test_a_public_ip_on_any_agent_nic_is_reported() -> None:
    nics = [{"name": "agent-nic", "ipConfigurations": [{"publicIPAddressConfiguration": {"name": "pip"}}]}]
    props = _with(AGENTS, "virtualMachineProfile.networkProfile.networkInterfaceConfigurations", nics)
    assert _violations("agents-unreachable", SCALE_SET, props) == ["NIC agent-nic gets a public IP"]


@pytest.mark.parametrize(
    "secret",
    [github_token(), fine_grained_token(), jwt(), private_key_block("MIIEvQIBADANBgkqhkiG9w0BAQEFAASC", "OPENSSH")],
    ids=["GitHub token", "fine-grained token", "JWT", "private key"],
)
def test_a_secret_in_custom_data_is_reported_without_echoing_it(secret: str) -> None:
    custom_data = base64.b64encode(f"#cloud-config\nwrite_files: [{{content: '{secret}'}}]\n".encode()).decode()
    found = _violations(
        "agents-no-secret-in-custom-data",
        SCALE_SET,
        _with(AGENTS, "virtualMachineProfile.osProfile.customData", custom_data),
    )
    assert len(found) == 1
    assert "custom data holds" in found[0]
    assert not any(line.strip() and line.strip() in found[0] for line in secret.splitlines() if len(line.strip()) > 8)
    assert _violations("agents-no-secret-in-custom-data", SCALE_SET, AGENTS) == []


NSG = "azure-native:network:NetworkSecurityGroup"
DENY_IN = {"name": "deny-all-in", "direction": "Inbound", "access": "Deny", "sourceAddressPrefix": "*"}
HOOKS_IN = {
    "name": "github-hooks",
    "direction": "Inbound",
    "access": "Allow",
    "sourceAddressPrefixes": ["192.30.252.0/22"],
}
GROUP = "azure-native:network:FirewallPolicyRuleCollectionGroup"
EXACT = {
    "ruleCollections": [
        {
            "rules": [
                {"name": "sigstore", "targetFqdns": ["rekor.sigstore.dev"]},
                {"name": "github-jobs", "targetFqdns": ["*.actions.githubusercontent.com"]},
            ]
        }
    ]
}
ROUTES = "azure-native:network:RouteTable"
TO_FIREWALL = {"routes": [{"name": "default", "addressPrefix": "0.0.0.0/0", "nextHopType": "VirtualAppliance"}]}
VAULT = "azure-native:keyvault:Vault"
LOCKED_VAULT = {
    "properties": {
        "enableRbacAuthorization": True,
        "enablePurgeProtection": True,
        "publicNetworkAccess": "Disabled",
        "networkAcls": {"defaultAction": "Deny"},
    }
}
KEY = "azure-native:keyvault:Key"
PROD_KEY = {"tags": {"environment": "prod"}, "properties": {"kty": "EC-HSM", "attributes": {"exportable": False}}}
ASSIGNMENT = "azure-native:authorization:RoleAssignment"
ROLES = f"{SUB}/providers/Microsoft.Authorization/roleDefinitions"
ON_REGISTRY = {
    "scope": f"{SUB}/resourceGroups/rg-sc/providers/Microsoft.ContainerRegistry/registries/cr",
    "roleDefinitionId": f"{SUB}/providers/Microsoft.Authorization/roleDefinitions/7f951dda-4ed3-4680-a7ca-43fe172d538d",
}
RELEASE = "kubernetes:helm.sh/v3:Release"
KYVERNO = {"chart": "kyverno", "version": "3.9.0", "repositoryOpts": {"repo": "https://kyverno.github.io/kyverno/"}}

IVP = "kubernetes:policies.kyverno.io/v1:ImageValidatingPolicy"
STRICT_IVP = {
    "spec": {
        "attestors": [{"name": "key", "cosign": {"ctlog": {"url": "https://rekor.sigstore.dev"}}}],
        "validationConfigurations": {"mutateDigest": False},
    }
}
RUNNER_GROUP = "github:index/actionsRunnerGroup:ActionsRunnerGroup"
SELECTED = {"visibility": "selected", "allowsPublicRepositories": False, "restrictedToWorkflows": True}

MORE_CASES = [
    ("admission-transparency-log-required", IVP, STRICT_IVP,
     ("spec.attestors", [{"name": "key", "cosign": {"ctlog": {"insecureIgnoreTlog": True}}}]),
     "attestor key accepts signatures without a transparency-log entry"),
    ("admission-registry-over-https", IVP, STRICT_IVP, ("spec.credentials", {"allowInsecureRegistry": True}),
     "the registry is read over plain HTTP: images and signatures can be swapped in transit"),
    ("admission-images-by-digest", IVP, STRICT_IVP, ("spec.validationConfigurations.mutateDigest", True),
     "images may be referenced by tag (Kyverno pins the verified digest onto the pod)"),
    ("agents-image-pinned", SCALE_SET, AGENTS,
     ("virtualMachineProfile.storageProfile.imageReference", {"version": "latest"}),
     "the agents' image is `latest`: an image change reaches every job without review"),
    ("runner-group-selected-repositories", RUNNER_GROUP, SELECTED, ("visibility", "all"),
     "runner group visibility all: every repository may use the agents"),
    ("runner-group-selected-repositories", RUNNER_GROUP, SELECTED, ("allowsPublicRepositories", True),
     "public repositories may use the agents: anyone's pull request runs on them"),
    ("runner-group-workflows-listed", RUNNER_GROUP, SELECTED, ("restrictedToWorkflows", False),
     "any workflow of the listed repositories may run on the agents"),
    ("nsg-no-inbound-from-internet", NSG, {"securityRules": [DENY_IN, HOOKS_IN]},
     ("securityRules", [DENY_IN, {**HOOKS_IN, "sourceAddressPrefixes": ["Internet"]}]),
     "rule github-hooks allows inbound traffic from Internet"),
    ("nsg-no-inbound-from-internet", NSG, {"securityRules": [DENY_IN, HOOKS_IN]},
     ("securityRules", [{**DENY_IN, "access": "Allow"}]), "rule deny-all-in allows inbound traffic from *"),
    ("nsg-no-inbound-from-internet", NSG, {"securityRules": [DENY_IN, HOOKS_IN]},
     ("securityRules", [{**HOOKS_IN, "sourceAddressPrefixes": ["0.0.0.0/1", "128.0.0.0/1"]}]),
     "rule github-hooks allows inbound traffic from 0.0.0.0/1, 128.0.0.0/1"),
    ("default-route-to-firewall", ROUTES, TO_FIREWALL,
     ("routes", [*TO_FIREWALL["routes"], {"name": "half", "addressPrefix": "0.0.0.0/1", "nextHopType": "Internet"}]),
     "route half sends 0.0.0.0/1 straight to the Internet"),
    ("registry-public-endpoint-allowlisted", REGISTRY, ALLOWLISTED_REGISTRY,
     ("networkRuleSet", {"defaultAction": "Deny", "ipRules": [{"iPAddressOrRange": "0.0.0.0/0"}]}),
     "the allowlist holds 0.0.0.0/0: the Internet, not a list"),
    ("egress-allowlist-exact", GROUP, EXACT,
     ("ruleCollections", [{"rules": [{"name": "any-blob", "targetFqdns": ["*.blob.core.windows.net"]}]}]),
     "rule any-blob allows the wildcard *.blob.core.windows.net"),
    ("egress-allowlist-exact", GROUP, EXACT,
     ("ruleCollections", [{"rules": [{"name": "anything", "destinationAddresses": ["*"]}]}]),
     "rule anything allows any destination address"),
    ("default-route-to-firewall", ROUTES, TO_FIREWALL,
     ("routes", [{**TO_FIREWALL["routes"][0], "nextHopType": "VirtualNetworkGateway"}]),
     "the default route default goes to VirtualNetworkGateway, not the firewall"),
    ("default-route-to-firewall", ROUTES, TO_FIREWALL, ("routes", []),
     "no default route: traffic not listed elsewhere leaves by Azure's default Internet route"),
    ("vault-locked-down", VAULT, LOCKED_VAULT, ("properties.enableRbacAuthorization", False),
     "access policies instead of Azure RBAC: vault-wide grants nobody reviews per key"),
    ("vault-locked-down", VAULT, LOCKED_VAULT, ("properties.enablePurgeProtection", False),
     "purge protection is off: a deleted signing key can be purged at once, for good"),
    ("vault-locked-down", VAULT, LOCKED_VAULT, ("properties.publicNetworkAccess", "Enabled"),
     "the vault's public endpoint is on"),
    ("signing-keys-hsm-in-prod", KEY, PROD_KEY, ("properties.kty", "EC"),
     "a prod signing key of type EC: software-protected, not HSM-backed"),
    ("signing-keys-hsm-in-prod", KEY, PROD_KEY, ("properties.attributes.exportable", True),
     "the key is exportable: its private half can leave the vault"),
    ("roles-narrowest-scope", ASSIGNMENT, ON_REGISTRY, ("scope", SUB),
     "assigned on a whole subscription or management group (/subscriptions/9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d)"),
    ("roles-narrowest-scope", ASSIGNMENT, ON_REGISTRY,
     ("scope", f"{SUB}/resourceGroups/rg-sc"), "assigned on the whole resource group rg-sc: assign it on the resource"),
    ("roles-narrowest-scope", ASSIGNMENT, ON_REGISTRY,
     ("roleDefinitionId", f"{ROLES}/b24988ac-6180-42a0-ab88-20f7382dd24c"),
     "assigns Contributor: grant the few actions needed, on the one resource"),
    ("helm-charts-pinned", RELEASE, KYVERNO, ("version", "^3.9"),
     "chart kyverno is not pinned to an exact version (^3.9)"),
    ("helm-charts-pinned", RELEASE, KYVERNO, ("repositoryOpts.repo", "https://charts.example.com/kyverno"),
     "chart kyverno comes from https://charts.example.com/kyverno, not https://kyverno.github.io/kyverno/"),
    ("helm-charts-pinned", RELEASE, KYVERNO, ("chart", "kyverno-unofficial"),
     "chart kyverno-unofficial is not one of the admission engines' charts"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("rule", "resource_type", "compliant", "change", "message"),
    CASES + MORE_CASES,
    ids=[f"{case[0]}: {case[-1][:40]}" for case in CASES + MORE_CASES],  # the same in every xdist worker
)
def test_each_rule_passes_the_compliant_resource_and_names_the_break(
    rule: str, resource_type: str, compliant: Mapping[str, Any], change: tuple[str, Any], message: str
) -> None:
    assert _violations(rule, resource_type, compliant) == []
    assert _violations(rule, resource_type, _with(compliant, *change)) == [message]


@pytest.mark.parametrize(
    ("prefix", "wide"),
    [("Internet", True), ("*", True), ("0.0.0.0/0", True), ("52.0.0.0/8", True), ("52.174.0.0/15", True),
     ("52.174.0.0/16", False), ("192.30.252.0/22", False), ("10.0.0.0/8", False), ("VirtualNetwork", False),
     ("AzureLoadBalancer", False), ("2001:db8::/16", True), ("::/0", True), ("2a01:110::/31", True),
     ("2a01:110::/32", False)],
)  # fmt: skip
def test_what_counts_as_the_internet(prefix: str, wide: bool) -> None:
    assert too_wide(prefix) is wide


def test_a_dev_key_may_be_software_protected_but_never_exportable() -> None:
    dev_key = _with(PROD_KEY, "tags", {"environment": "dev"})
    assert _violations("signing-keys-hsm-in-prod", KEY, _with(dev_key, "properties.kty", "EC")) == []


def test_the_agents_pool_group_is_the_only_resource_group_scope_and_the_pack_config_can_change_that() -> None:
    pool_group = _with(ON_REGISTRY, "scope", f"{SUB}/resourceGroups/rg-supplychain-prod-agents")
    assert _violations("roles-narrowest-scope", ASSIGNMENT, pool_group) == []
    assert _violations("roles-narrowest-scope", ASSIGNMENT, pool_group, {"resourceGroupScopes": []}) == [
        "assigned on the whole resource group rg-supplychain-prod-agents: assign it on the resource"
    ]


def test_a_mirror_named_in_the_pack_config_is_accepted() -> None:
    mirrored = _with(KYVERNO, "repositoryOpts.repo", "https://charts.example.com/kyverno")
    config = {"chartRepositories": {"kyverno": "https://charts.example.com/kyverno"}}
    assert _violations("helm-charts-pinned", RELEASE, mirrored, config) == []


def test_a_public_registry_endpoint_is_reported_with_whom_it_lets_in() -> None:
    assert _violations("registry-endpoint-private", REGISTRY, ALLOWLISTED_REGISTRY) == [
        "the public endpoint is on (allowed: 52.174.10.0/24)"
    ]
    two = {
        "defaultAction": "Deny",
        "ipRules": [{"iPAddressOrRange": "52.174.10.0/24"}, {"iPAddressOrRange": "1.2.3.4"}],
    }
    assert _violations("registry-endpoint-private", REGISTRY, {**ALLOWLISTED_REGISTRY, "networkRuleSet": two}) == [
        "the public endpoint is on (allowed: 52.174.10.0/24, 1.2.3.4)"
    ]
    unset = {
        key: value
        for key, value in ALLOWLISTED_REGISTRY.items()
        if key not in ("publicNetworkAccess", "networkRuleSet")
    }
    assert _violations("registry-endpoint-private", REGISTRY, unset) == [
        "the public endpoint is on (allowed: nobody listed)"
    ], "Azure's default is an open endpoint: a missing setting is not a private one"


def _custom_data(text: bytes) -> dict[str, Any]:
    return _with(AGENTS, "virtualMachineProfile.osProfile.customData", base64.b64encode(text).decode())


def test_a_secret_in_gzipped_plain_or_partly_binary_custom_data_is_found() -> None:
    rule = "agents-no-secret-in-custom-data"
    key = private_key_block("MIIEvQIBADANBgkqhkiG9w0BAQEFAASC")
    found = ["custom data holds a private key; every VM and anyone reading the VM model can read it"]
    script = f"#cloud-config\nwrite_files: [{{content: '{key}'}}]\n"
    assert _violations(rule, SCALE_SET, _custom_data(gzip.compress(script.encode()))) == found, "cloud-init's gzip"
    assert _violations(rule, SCALE_SET, _custom_data(b"\xff\xfe" + script.encode())) == found, "not all UTF-8"
    # Plain text is read as it is, even when its letters alone would decode as base64 (a lenient decoder drops
    # the rest and reads garbage).
    letters = sum(c in string.ascii_letters + string.digits + "+/" for c in script)
    plain = script + "#" + "a" * (-letters % 4)
    assert _violations(rule, SCALE_SET, _with(AGENTS, "virtualMachineProfile.osProfile.customData", plain)) == found
    assert _violations(rule, SCALE_SET, _with(AGENTS, "virtualMachineProfile.osProfile.customData", 42)) == [], (
        "custom data that is no text holds no secret the rule can read"
    )


def test_secure_boot_and_vtpm_are_each_required() -> None:
    no_vtpm = _with(AGENTS, "virtualMachineProfile.securityProfile.uefiSettings.vTpmEnabled", False)
    assert _violations("agents-isolated-machine", SCALE_SET, no_vtpm) == [
        "not Trusted Launch with secure boot and vTPM: a tampered boot chain goes unnoticed"
    ]


def test_a_vault_that_allows_by_default_is_reported_and_rsa_hsm_keys_pass_in_prod() -> None:
    open_acls = _with(LOCKED_VAULT, "properties.networkAcls.defaultAction", "Allow")
    assert _violations("vault-locked-down", VAULT, open_acls) == ["the vault's network rules do not deny by default"]
    assert _violations("signing-keys-hsm-in-prod", KEY, _with(PROD_KEY, "properties.kty", "RSA-HSM")) == []


def test_a_release_without_chart_version_or_repository_is_named_as_such() -> None:
    assert _violations("helm-charts-pinned", RELEASE, {}) == [
        "chart  is not pinned to an exact version (none)",
        "chart  is not one of the admission engines' charts",
    ]
    assert _violations("helm-charts-pinned", RELEASE, _with(KYVERNO, "repositoryOpts", None)) == [
        "chart kyverno comes from no repository, not https://kyverno.github.io/kyverno/"
    ]


@pytest.mark.parametrize(
    ("repository", "config", "message"),
    [
        ("https://kyverno.github.io/kyverno/X", None,
         "chart kyverno comes from https://kyverno.github.io/kyverno/X, not https://kyverno.github.io/kyverno/"),
        ("https://mirror.example/kyverno", {"chartRepositories": {"kyverno": "https://mirror.example/kyvernoX/"}},
         "chart kyverno comes from https://mirror.example/kyverno, not https://mirror.example/kyvernoX/"),
    ],
)  # fmt: skip
def test_only_a_trailing_slash_is_ignored_in_a_chart_repository(repository: str, config: Any, message: str) -> None:
    release = _with(KYVERNO, "repositoryOpts.repo", repository)
    assert _violations("helm-charts-pinned", RELEASE, release, config) == [message]


def test_a_standalone_security_rule_is_checked_like_one_in_its_group() -> None:
    rule = {**HOOKS_IN, "sourceAddressPrefix": "Internet", "sourceAddressPrefixes": []}
    assert _violations("nsg-no-inbound-from-internet", "azure-native:network:SecurityRule", rule) == [
        "rule github-hooks allows inbound traffic from Internet"
    ]


def test_network_rule_wildcards_and_every_fqdn_tag_are_reported() -> None:
    network_rules = {
        "ruleCollections": [
            {"rules": [{"name": "dns", "destinationFqdns": ["*.contoso.example"]}]},
            {"rules": [{"name": "tags", "fqdnTags": ["*"]}, {"name": "updates", "fqdnTags": ["WindowsUpdate"]}]},
        ]
    }
    assert _violations("egress-allowlist-exact", GROUP, network_rules) == [
        "rule dns allows the wildcard *.contoso.example",
        "rule tags allows every FQDN tag",
    ]


@pytest.mark.parametrize(
    ("scope", "message"),
    [
        ("/", "assigned on a whole subscription or management group (/)"),
        (
            "/providers/Microsoft.Management/managementGroups/contoso",
            "assigned on a whole subscription or management group "
            "(/providers/Microsoft.Management/managementGroups/contoso)",
        ),
    ],
)
def test_the_tenant_root_and_a_management_group_are_whole_scopes(scope: str, message: str) -> None:
    assert _violations("roles-narrowest-scope", ASSIGNMENT, _with(ON_REGISTRY, "scope", scope)) == [message]


def test_a_broad_role_is_recognised_by_its_bare_id() -> None:
    owner = _with(ON_REGISTRY, "roleDefinitionId", "8E3AF657-A8FF-443C-A75C-2FE8C4BCB635")
    assert _violations("roles-narrowest-scope", ASSIGNMENT, owner) == [
        "assigns Owner: grant the few actions needed, on the one resource"
    ]


def test_a_gallery_image_version_latest_is_unpinned() -> None:
    gallery = f"{SUB}/resourceGroups/rg/providers/Microsoft.Compute/galleries/g/images/agent/versions/Latest"
    image = _with(AGENTS, "virtualMachineProfile.storageProfile.imageReference", {"id": gallery})
    assert _violations("agents-image-pinned", SCALE_SET, image) == [
        "the agents' image is `latest`: an image change reaches every job without review"
    ]
    pinned = _with(image, "virtualMachineProfile.storageProfile.imageReference", {"id": gallery[:-6] + "1.0.7"})
    assert _violations("agents-image-pinned", SCALE_SET, pinned) == []
