"""Azure's own names for what the program creates: each Pulumi type token's ARM resource type, and the
few inputs pulumi-azure-native names differently from ARM. One table for the offline plan's mock ids
and the ARM rendering scanners read."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

ARM_TYPES: dict[str, str] = {
    "azure-native:resources:ResourceGroup": "Microsoft.Resources/resourceGroups",
    "azure-native:network:VirtualNetwork": "Microsoft.Network/virtualNetworks",
    "azure-native:network:Subnet": "Microsoft.Network/virtualNetworks/subnets",
    "azure-native:network:VirtualNetworkPeering": "Microsoft.Network/virtualNetworks/virtualNetworkPeerings",
    "azure-native:network:NetworkSecurityGroup": "Microsoft.Network/networkSecurityGroups",
    "azure-native:network:RouteTable": "Microsoft.Network/routeTables",
    "azure-native:network:PublicIPAddress": "Microsoft.Network/publicIPAddresses",
    "azure-native:network:FirewallPolicy": "Microsoft.Network/firewallPolicies",
    "azure-native:network:FirewallPolicyRuleCollectionGroup": "Microsoft.Network/firewallPolicies/ruleCollectionGroups",
    "azure-native:network:AzureFirewall": "Microsoft.Network/azureFirewalls",
    "azure-native:network:PrivateEndpoint": "Microsoft.Network/privateEndpoints",
    "azure-native:network:PrivateDnsZoneGroup": "Microsoft.Network/privateEndpoints/privateDnsZoneGroups",
    "azure-native:network:FlowLog": "Microsoft.Network/networkWatchers/flowLogs",
    "azure-native:privatedns:PrivateZone": "Microsoft.Network/privateDnsZones",
    "azure-native:privatedns:VirtualNetworkLink": "Microsoft.Network/privateDnsZones/virtualNetworkLinks",
    "azure-native:dnsresolver:DnsResolverPolicy": "Microsoft.Network/dnsResolverPolicies",
    "azure-native:dnsresolver:DnsResolverDomainList": "Microsoft.Network/dnsResolverDomainLists",
    "azure-native:dnsresolver:DnsSecurityRule": "Microsoft.Network/dnsResolverPolicies/dnsSecurityRules",
    "azure-native:dnsresolver:DnsResolverPolicyVirtualNetworkLink": (
        "Microsoft.Network/dnsResolverPolicies/virtualNetworkLinks"
    ),
    "azure-native:containerregistry:Registry": "Microsoft.ContainerRegistry/registries",
    "azure-native:keyvault:Vault": "Microsoft.KeyVault/vaults",
    "azure-native:keyvault:Key": "Microsoft.KeyVault/vaults/keys",
    "azure-native:storage:StorageAccount": "Microsoft.Storage/storageAccounts",
    "azure-native:managedidentity:UserAssignedIdentity": "Microsoft.ManagedIdentity/userAssignedIdentities",
    "azure-native:managedidentity:FederatedIdentityCredential": (
        "Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials"
    ),
    "azure-native:authorization:RoleAssignment": "Microsoft.Authorization/roleAssignments",
    "azure-native:authorization:RoleDefinition": "Microsoft.Authorization/roleDefinitions",
    "azure-native:authorization:ManagementLockByScope": "Microsoft.Authorization/locks",
    "azure-native:monitor:DiagnosticSetting": "Microsoft.Insights/diagnosticSettings",
    "azure-native:compute:VirtualMachineScaleSet": "Microsoft.Compute/virtualMachineScaleSets",
    "azure-native:storage:BlobContainer": "Microsoft.Storage/storageAccounts/blobServices/containers",
    "azure-native:storage:Table": "Microsoft.Storage/storageAccounts/tableServices/tables",
    "azure-native:web:AppServicePlan": "Microsoft.Web/serverfarms",
    "azure-native:web:WebApp": "Microsoft.Web/sites",
    "azure-native:web:WebAppFtpAllowed": "Microsoft.Web/sites/basicPublishingCredentialsPolicies",
    "azure-native:web:WebAppScmAllowed": "Microsoft.Web/sites/basicPublishingCredentialsPolicies",
}
"""Each Azure resource type the program creates, by its Pulumi token."""

NAME_INPUTS: dict[str, str] = {
    "azure-native:storage:StorageAccount": "accountName",
    "azure-native:network:FirewallPolicyRuleCollectionGroup": "ruleCollectionGroupName",
    "azure-native:authorization:ManagementLockByScope": "lockName",
    "azure-native:monitor:DiagnosticSetting": "name",
    "azure-native:storage:BlobContainer": "containerName",
    "azure-native:compute:VirtualMachineScaleSet": "vmScaleSetName",
    "azure-native:storage:Table": "tableName",
    "azure-native:web:AppServicePlan": "name",
    "azure-native:web:WebApp": "name",
}
"""The input holding the Azure name, where it is not `<lowerCamelType>Name`."""

ARM_PROPERTY_NAMES: dict[str, dict[str, str]] = {
    "azure-native:storage:StorageAccount": {
        "networkRuleSet": "networkAcls",
        "enableHttpsTrafficOnly": "supportsHttpsTrafficOnly",
    },
}
"""Inputs whose ARM property has another name, by type."""


GENERIC_RESOURCE = "azure-native:resources:Resource"
"""pulumi-azure-native's generic ARM resource: its ARM type and API version are among its inputs."""


def arm_type(token: str, inputs: Mapping[str, Any]) -> str | None:
    """The ARM resource type of a planned resource: from the table, or for the generic resource from its
    namespace, parent path (`<type>/<name>/...`) and type inputs; None for a type the table lacks."""
    if token != GENERIC_RESOURCE:
        return ARM_TYPES.get(token)
    parent = str(inputs.get("parentResourcePath") or "").strip("/")
    parent_types = parent.split("/")[0::2] if parent else []
    return "/".join([str(inputs.get("resourceProviderNamespace", "")), *parent_types, str(inputs.get("resourceType"))])


def generic_resource_path(inputs: Mapping[str, Any], name: str) -> str:
    """The generic resource's id below its resource group: `providers/<namespace>/<parent path>/<type>/<name>`."""
    parent = str(inputs.get("parentResourcePath") or "").strip("/")
    steps = [str(inputs.get("resourceProviderNamespace", "")), *([parent] if parent else [])]
    return "/".join(["providers", *steps, str(inputs.get("resourceType")), name])


def lower_camel(text: str) -> str:
    """`StorageAccount` → `storageAccount`."""
    return text[:1].lower() + text[1:]


def name_input(token: str) -> str:
    """The input that holds a resource's Azure name."""
    return NAME_INPUTS.get(token, f"{lower_camel(token.rsplit(':', 1)[1])}Name")


CHILD_PATHS: dict[str, tuple[str, str, str]] = {
    "azure-native:storage:BlobContainer": (
        "accountName",
        "Microsoft.Storage/storageAccounts",
        "blobServices/default/containers",
    ),
    "azure-native:storage:Table": ("accountName", "Microsoft.Storage/storageAccounts", "tableServices/default/tables"),
    "azure-native:web:WebAppFtpAllowed": ("name", "Microsoft.Web/sites", "basicPublishingCredentialsPolicies"),
    "azure-native:web:WebAppScmAllowed": ("name", "Microsoft.Web/sites", "basicPublishingCredentialsPolicies"),
}
"""Child resources whose id runs through their parent's: the input naming the parent, the parent's type and
the child's path below it."""

FIXED_NAMES: dict[str, str] = {
    "azure-native:web:WebAppFtpAllowed": "ftp",
    "azure-native:web:WebAppScmAllowed": "scm",
}
"""Child resources Azure names itself."""
