"""The offline plan's mock engine: plausible answers for what the program registers and invokes.

Resources get ids and outputs shaped like the real providers' (ARM ids, a registry login server, private
IPs inside the configured subnets, an AKS cluster's kubelet identity), so the program's `apply`s run as
they would in a preview. What a type answers beyond its inputs is one entry of `AZURE_ANSWERS`.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pulumi.runtime import mocks as pulumi_mocks

from components.model.contract import acr_login_server
from scripts.arm_types import (
    ARM_TYPES,
    CHILD_PATHS,
    FIXED_NAMES,
    GENERIC_RESOURCE,
    arm_type,
    generic_resource_path,
    lower_camel,
    name_input,
)

MOCK_SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"
MOCK_TENANT = "11111111-1111-1111-1111-111111111111"


def stable_guid(*parts: str) -> str:
    """A GUID that is the same for the same parts on every run (plans are reproducible)."""
    return str(uuid.UUID(hashlib.sha256("/".join(parts).encode()).hexdigest()[:32]))


def _group_id(state: dict[str, Any]) -> str:
    return f"/subscriptions/{MOCK_SUBSCRIPTION}/resourceGroups/{state.get('resourceGroupName', 'rg-mock')}"


@dataclass
class _Network:
    """Subnets registered so far, so endpoints and firewalls get addresses inside them."""

    subnet_prefixes: dict[str, str] = field(default_factory=dict)

    def host_in(self, subnet_id: str | None, offset: int) -> str:
        """The address at `offset` inside a registered subnet."""
        prefix = self.subnet_prefixes.get(subnet_id or "", "10.0.0.0/24")
        return str(ipaddress.ip_network(prefix)[offset])  # Azure reserves the first four addresses


Answer = Callable[[_Network, str, str, dict[str, Any]], dict[str, Any]]
"""(network, logical name, Azure name, state) → what the provider adds to the state."""


def _registry(net: _Network, logical: str, name: str, state: dict[str, Any]) -> dict[str, Any]:
    # ACR answers its read-only fields inside `properties`: the login server (the name in lower case), the data
    # endpoints when they are on, and the state it reached.
    properties = dict(state.get("properties") or {})
    server = acr_login_server(name)
    location = str(state.get("location", "westeurope"))
    properties.update(
        loginServer=server,
        provisioningState="Succeeded",
        dataEndpointHostNames=[f"{name.lower()}.{location}.data.azurecr.io"]
        if properties.get("dataEndpointEnabled")
        else [],
    )
    return {"properties": properties, "type": "Microsoft.ContainerRegistry/registries"}


def _subnet(net: _Network, logical: str, name: str, state: dict[str, Any]) -> dict[str, Any]:
    name = state.get("subnetName", name)
    vnet = state.get("virtualNetworkName")
    arm_id = f"{_group_id(state)}/providers/Microsoft.Network/virtualNetworks/{vnet}/subnets/{name}"
    net.subnet_prefixes[arm_id] = str(state.get("addressPrefix", "10.0.0.0/24"))
    return {"name": name, "id": arm_id}


def _firewall(net: _Network, logical: str, name: str, state: dict[str, Any]) -> dict[str, Any]:
    configs = [dict(c) for c in state.get("ipConfigurations") or []]
    for c in configs:
        c["privateIPAddress"] = net.host_in((c.get("subnet") or {}).get("id"), 4)
    return {"ipConfigurations": configs}


def _private_endpoint(net: _Network, logical: str, name: str, state: dict[str, Any]) -> dict[str, Any]:
    # An address derived from the endpoint's name: the same on every run, whatever registers first.
    offset = 5 + int(hashlib.sha256(logical.encode()).hexdigest(), 16) % 200
    ip = net.host_in((state.get("subnet") or {}).get("id"), offset)
    return {"customDnsConfigs": [{"fqdn": f"{name}.privatelink", "ipAddresses": [ip]}]}


def _key(net: _Network, logical: str, name: str, state: dict[str, Any]) -> dict[str, Any]:
    vault = state.get("vaultName")
    uri = f"https://{vault}.vault.azure.net/keys/{name}"
    return {
        "id": f"{_group_id(state)}/providers/Microsoft.KeyVault/vaults/{vault}/keys/{name}",
        "keyUri": uri,
        "keyUriWithVersion": f"{uri}/{stable_guid('version', logical).replace('-', '')}",
    }


def _vault(net: _Network, logical: str, name: str, state: dict[str, Any]) -> dict[str, Any]:
    return {"properties": {**(state.get("properties") or {}), "vaultUri": f"https://{name}.vault.azure.net/"}}


def _identity(net: _Network, logical: str, name: str, state: dict[str, Any]) -> dict[str, Any]:
    return {
        "principalId": stable_guid("principal", logical),
        "clientId": stable_guid("client", logical),
        "tenantId": MOCK_TENANT,
    }


def _identity_map(net: _Network, logical: str, name: str, state: dict[str, Any]) -> dict[str, Any]:
    identity = state.get("identity")
    if not identity:
        return {}
    # Azure answers the identities as a map keyed by id, where the request lists them
    return {"identity": {**identity, "userAssignedIdentities": {key: {} for key in identity["userAssignedIdentities"]}}}


AZURE_ANSWERS: dict[str, Answer] = {
    "azure-native:network:FirewallPolicy": _identity_map,
    "azure-native:compute:VirtualMachineScaleSet": _identity_map,
    "azure-native:web:WebApp": lambda net, logical, name, state: {
        **_identity_map(net, logical, name, state),
        "defaultHostName": f"{name}.azurewebsites.net",
    },
    "azure-native:network:Subnet": _subnet,
    "azure-native:network:AzureFirewall": _firewall,
    "azure-native:network:PrivateEndpoint": _private_endpoint,
    "azure-native:keyvault:Key": _key,
    "azure-native:keyvault:Vault": _vault,
    "azure-native:managedidentity:UserAssignedIdentity": _identity,
}
"""What each Azure type adds to its inputs (besides `name`, `id` and `azureApiVersion`)."""

GENERIC_ANSWERS: dict[str, Answer] = {
    "Microsoft.ContainerRegistry/registries": _registry,
}
"""What a generic ARM resource (`azure-native:resources:Resource`) adds, by the ARM type its inputs name."""


def _mock_kubeconfig(cluster: str) -> str:
    return (
        "apiVersion: v1\nkind: Config\n"
        f"clusters:\n- name: {cluster}\n  cluster:\n    server: https://{cluster}.hcp.westeurope.azmk8s.io:443\n"
        f"contexts:\n- name: {cluster}\n  context:\n    cluster: {cluster}\n    user: clusterUser\n"
        f"current-context: {cluster}\nusers:\n- name: clusterUser\n  user:\n    token: mock\n"
    )


def _cluster_credentials(args: dict[str, Any]) -> dict[str, Any]:
    kubeconfig = _mock_kubeconfig(str(args.get("resourceName", "aks")))
    return {"kubeconfigs": [{"name": "clusterUser", "value": base64.b64encode(kubeconfig.encode()).decode()}]}


def _managed_cluster(args: dict[str, Any]) -> dict[str, Any]:
    name = str(args.get("resourceName", "aks"))
    return {
        "name": name,
        "identityProfile": {
            "kubeletidentity": {
                "clientId": stable_guid("kubelet-client", name),
                "objectId": stable_guid("kubelet", name),
                "resourceId": f"/subscriptions/{MOCK_SUBSCRIPTION}/resourceGroups/MC_{name}/providers/"
                f"Microsoft.ManagedIdentity/userAssignedIdentities/{name}-agentpool",
            }
        },
        "oidcIssuerProfile": {"enabled": True, "issuerURL": f"https://oidc.mock/{name}/"},
    }


def _client_config(args: dict[str, Any]) -> dict[str, Any]:
    return {
        "clientId": stable_guid("client"),
        "objectId": stable_guid("deployer"),
        "subscriptionId": MOCK_SUBSCRIPTION,
        "tenantId": MOCK_TENANT,
    }


def _github_repository(args: dict[str, Any]) -> dict[str, Any]:
    full_name = str(args.get("fullName", ""))
    repo_id = int(hashlib.sha256(full_name.lower().encode()).hexdigest()[:8], 16)  # stable, like GitHub's
    return {"fullName": full_name, "name": full_name.split("/")[-1], "repoId": repo_id}


INVOKE_ANSWERS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "github:index/getRepository:getRepository": _github_repository,
    "azure-native:containerservice:listManagedClusterUserCredentials": _cluster_credentials,
    "azure-native:containerservice:getManagedCluster": _managed_cluster,
    "azure-native:authorization:getClientConfig": _client_config,
}
"""The answer of each invoke (data source) the program calls."""


def generated_key_pems(logical: str) -> dict[str, str]:
    """A real EC P-256 key derived from the resource's name, so rendered policies carry a PEM the
    engines would accept and plans are reproducible. The plan shows its public half only; the private
    half is a secret output. Never a key to sign anything real with: anyone can derive it."""
    scalar = int(hashlib.sha256(f"offline-plan-key/{logical}".encode()).hexdigest(), 16) % (2**255)
    private = ec.derive_private_key(scalar or 1, ec.SECP256R1())
    return {
        "publicKeyPem": private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode(),
        "privateKeyPem": private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode(),
    }


class PlanMocks(pulumi_mocks.Mocks):
    """Answers registrations and invokes from the tables above."""

    def __init__(self) -> None:
        self.network = _Network()
        self.handling = threading.local()
        """The inputs of the registration this thread is answering (the monitor records them)."""

    def new_resource(self, args: pulumi_mocks.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        """Id and state of one registered resource."""
        self.handling.inputs = args.inputs
        if not args.custom:
            return None, {}
        state = dict(args.inputs)
        token = args.typ
        if token.startswith("pulumi:providers:"):
            return stable_guid(token, args.name), state
        if token.startswith("azure-native:"):
            return self._azure(token, args.name, state)
        if token.startswith("kubernetes:"):
            return self._kubernetes(args.name, state)
        if token.startswith("github:"):  # GitHub's ids are numbers
            return str(int(stable_guid(token, args.name)[:8], 16)), state
        if token == "tls:index/privateKey:PrivateKey":
            return f"{args.name}-id", {**state, **generated_key_pems(args.name)}
        return f"{args.name}-id", state

    def _azure(self, token: str, logical: str, state: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        module, type_name = token.split(":")[1], token.split(":")[2]
        name = str(state.get(name_input(token)) or f"{logical}{stable_guid(logical)[:6]}")
        if token == "azure-native:resources:ResourceGroup":
            name = str(state.get("resourceGroupName", name))
            arm_id = f"/subscriptions/{MOCK_SUBSCRIPTION}/resourceGroups/{name}"
        elif token == GENERIC_RESOURCE:
            arm_id = f"{_group_id(state)}/{generic_resource_path(state, name)}"
        elif token in CHILD_PATHS:
            parent_input, parent_type, path = CHILD_PATHS[token]
            name = FIXED_NAMES.get(token, name)
            arm_id = f"{_group_id(state)}/providers/{parent_type}/{state.get(parent_input)}/{path}/{name}"
        else:
            resource_type = ARM_TYPES.get(token, f"Microsoft.{module.capitalize()}/{lower_camel(type_name)}s")
            arm_id = f"{_group_id(state)}/providers/{resource_type}/{name}"
        state.update({"name": name, "id": arm_id, "azureApiVersion": "mock"})
        answer = AZURE_ANSWERS.get(token)
        if token == GENERIC_RESOURCE:
            state["azureApiVersion"] = str(state.get("apiVersion", "mock"))  # the version it was asked for
            answer = GENERIC_ANSWERS.get(arm_type(token, state) or "")
        if answer is not None:
            state.update(answer(self.network, logical, name, state))
        return str(state["id"]), state

    def _kubernetes(self, logical: str, state: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        metadata = dict(state.get("metadata") or {})
        metadata.setdefault("name", logical)
        metadata.setdefault("uid", stable_guid("uid", logical))
        namespace = metadata.get("namespace")
        object_id = f"{namespace}/{metadata['name']}" if namespace else str(metadata["name"])
        if "spec" not in state:
            return object_id, {**state, "metadata": metadata}
        # An object answers its identity; its spec stays unknown to the program, which reads none back.
        # (Echoing hundreds of policy specs through the mock engine was most of a large plan's time.)
        return object_id, {k: state[k] for k in ("apiVersion", "kind") if k in state} | {"metadata": metadata}

    def call(self, args: pulumi_mocks.MockCallArgs) -> dict[str, Any]:  # type: ignore[override]
        """The answer of one invoke; an invoke without an answer is a clear error, not a silent {}."""
        answer = INVOKE_ANSWERS.get(args.token)
        if answer is None:
            raise NotImplementedError(
                f"the offline plan has no mock for invoke {args.token}; "
                "add one to INVOKE_ANSWERS in scripts/plan_mocks.py"
            )
        return answer(dict(args.args))


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """The mock engine's monitor, also remembering each registration's parent, inputs and dependencies."""

    def __init__(self, mocks: PlanMocks) -> None:
        super().__init__(mocks)
        self.plan_mocks = mocks
        self.registrations: list[tuple[str, str, str, str | None, dict[str, Any], bool]] = []
        self.dependencies: dict[str, tuple[str, ...]] = {}

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (gRPC method name)
        """Register as the mock engine does, and record what was asked."""
        self.plan_mocks.handling.inputs = {}
        response = super().RegisterResource(request)  # type: ignore[no-untyped-call]
        # the inputs as the mock engine deserialized them for `new_resource`, on this same thread
        inputs: dict[str, Any] = self.plan_mocks.handling.inputs
        self.registrations.append(
            (response.urn, request.type, request.name, request.parent or None, inputs, bool(request.custom))
        )
        self.dependencies[response.urn] = tuple(request.dependencies)
        return response
