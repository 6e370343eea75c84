"""The offline plan: run the real `__main__.py` in-process on Pulumi's mock engine.

Steps of `plan_stack`:
  1. validate the stack's config (the same `parse_stack_config` the program uses), so a bad
     config fails fast with its problem list and nothing is registered;
  2. reset the Pulumi runtime (the mock engine otherwise keeps the previous run's root stack);
  3. install the mocks and the stack's config, run `__main__.py`, wait for every registration;
  4. collect what was registered (type, name, parent, inputs with secrets redacted) and the
     stack outputs, and run the review rules over the config.

No Pulumi CLI, cloud or cluster is involved: resources get plausible ids and outputs (ARM ids,
a registry login server, ...) so that the program's `apply`s run as they would in a preview.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import re
import runpy
import sys
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc, settings
from pulumi.runtime.config import set_all_config
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from components.model.config import StackConfig, parse_stack_config
from components.model.config.stack_file import SECRET_PLACEHOLDER, StackFile
from components.model.contract import PROJECT
from policies.review import Finding, review

PROJECT_ROOT = Path(__file__).resolve().parent.parent
MOCK_SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"
MOCK_TENANT = "11111111-1111-1111-1111-111111111111"
UNKNOWN = "[unknown]"


@dataclass(frozen=True)
class PlannedResource:
    """One registration, as plan.json records it."""

    urn: str
    type: str
    name: str
    parent: str | None
    inputs: dict[str, Any]
    custom: bool
    outputs: dict[str, Any] = field(default_factory=dict, compare=False)
    """What the mocks answered (ids, names, login servers), secrets redacted: for tests, not plan.json."""
    dependencies: tuple[str, ...] = field(default=(), compare=False)
    """URNs this resource waits for (explicit `depends_on`): for tests, not plan.json."""

    def as_json(self) -> dict[str, Any]:
        return {"urn": self.urn, "type": self.type, "name": self.name, "parent": self.parent, "inputs": self.inputs}

    @property
    def is_kubernetes_object(self) -> bool:
        return self.type.startswith("kubernetes:") and not self.type.startswith("kubernetes:helm.sh/")


@dataclass(frozen=True)
class Plan:
    stack: str
    config: StackConfig
    resources: list[PlannedResource]
    outputs: dict[str, Any]
    findings: list[Finding]

    def of_type(self, type_token: str) -> list[PlannedResource]:
        return [r for r in self.resources if r.type == type_token]

    def one(self, type_token: str) -> PlannedResource:
        found = self.of_type(type_token)
        if len(found) != 1:
            raise AssertionError(f"expected one {type_token}, found {[r.urn for r in found]}")
        return found[0]

    def children_of(self, urn: str) -> list[PlannedResource]:
        return [r for r in self.resources if r.parent == urn]

    def as_json(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "resources": [r.as_json() for r in self.resources],
            "outputs": self.outputs,
            "review": [f.as_json() for f in self.findings],
        }


# --------------------------------------------------------------------------------------------
# Mocks: plausible answers for what the program registers and invokes
# --------------------------------------------------------------------------------------------

_ARM_TYPES: dict[str, str] = {
    # type token → ARM provider/type path; extended as components add resource kinds
    "azure-native:containerregistry:Registry": "Microsoft.ContainerRegistry/registries",
    "azure-native:keyvault:Vault": "Microsoft.KeyVault/vaults",
    "azure-native:network:VirtualNetwork": "Microsoft.Network/virtualNetworks",
    "azure-native:network:NetworkSecurityGroup": "Microsoft.Network/networkSecurityGroups",
    "azure-native:network:RouteTable": "Microsoft.Network/routeTables",
    "azure-native:network:AzureFirewall": "Microsoft.Network/azureFirewalls",
    "azure-native:network:FirewallPolicy": "Microsoft.Network/firewallPolicies",
    "azure-native:network:PublicIPAddress": "Microsoft.Network/publicIPAddresses",
    "azure-native:network:PrivateEndpoint": "Microsoft.Network/privateEndpoints",
    "azure-native:privatedns:PrivateZone": "Microsoft.Network/privateDnsZones",
    "azure-native:managedidentity:UserAssignedIdentity": "Microsoft.ManagedIdentity/userAssignedIdentities",
    "azure-native:compute:VirtualMachineScaleSet": "Microsoft.Compute/virtualMachineScaleSets",
}


def _lower_camel(text: str) -> str:
    return text[:1].lower() + text[1:]


def _stable_guid(*parts: str) -> str:
    return str(uuid.UUID(hashlib.sha256("/".join(parts).encode()).hexdigest()[:32]))


class PlanMocks(pulumi_mocks.Mocks):
    """Answers registrations with ids and outputs shaped like the real providers' answers."""

    def __init__(self) -> None:
        self.subnet_prefixes: dict[str, str] = {}  # subnet id → prefix, for plausible private IPs
        self.endpoint_count = 0

    def new_resource(self, args: pulumi_mocks.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        if not args.custom:
            return None, {}
        state = dict(args.inputs)
        token = args.typ
        if token.startswith("pulumi:providers:"):
            return _stable_guid(token, args.name), state
        if token.startswith("azure-native:"):
            return self._azure(token, args.name, state)
        if token.startswith("kubernetes:"):
            return self._kubernetes(args.name, state)
        if token == "tls:index/privateKey:PrivateKey":
            return f"{args.name}-id", {**state, **_generated_key_pems()}
        return f"{args.name}-id", state

    def _azure(self, token: str, logical: str, state: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        module, type_name = token.split(":")[1], token.split(":")[2]
        name = state.get(f"{_lower_camel(type_name)}Name") or f"{logical}{_stable_guid(logical)[:6]}"
        if token == "azure-native:resources:ResourceGroup":
            name = state.get("resourceGroupName", name)
            arm_id = f"/subscriptions/{MOCK_SUBSCRIPTION}/resourceGroups/{name}"
        else:
            arm_type = _ARM_TYPES.get(token, f"Microsoft.{module.capitalize()}/{_lower_camel(type_name)}s")
            group = state.get("resourceGroupName", "rg-mock")
            arm_id = f"/subscriptions/{MOCK_SUBSCRIPTION}/resourceGroups/{group}/providers/{arm_type}/{name}"
        state.update({"name": name, "id": arm_id, "azureApiVersion": "mock"})
        if token == "azure-native:containerregistry:Registry":
            state["loginServer"] = f"{str(name).lower()}.azurecr.io"
        if token == "azure-native:network:Subnet":
            name = state.get("subnetName", name)
            arm_id = (
                f"/subscriptions/{MOCK_SUBSCRIPTION}/resourceGroups/{state.get('resourceGroupName', 'rg-mock')}"
                f"/providers/Microsoft.Network/virtualNetworks/{state.get('virtualNetworkName')}/subnets/{name}"
            )
            state.update(name=name, id=arm_id)
            self.subnet_prefixes[arm_id] = str(state.get("addressPrefix", "10.0.0.0/24"))
        if token == "azure-native:network:AzureFirewall":
            configs = [dict(c) for c in state.get("ipConfigurations") or []]
            for c in configs:
                c["privateIPAddress"] = self._host_in((c.get("subnet") or {}).get("id"), 4)
            state["ipConfigurations"] = configs
        if token == "azure-native:network:PrivateEndpoint":
            self.endpoint_count += 1
            ip = self._host_in((state.get("subnet") or {}).get("id"), 3 + self.endpoint_count)
            state["customDnsConfigs"] = [{"fqdn": f"{name}.privatelink", "ipAddresses": [ip]}]
        if token == "azure-native:keyvault:Key":
            arm_id = (
                f"/subscriptions/{MOCK_SUBSCRIPTION}/resourceGroups/{state.get('resourceGroupName', 'rg-mock')}"
                f"/providers/Microsoft.KeyVault/vaults/{state.get('vaultName')}/keys/{name}"
            )
            uri = f"https://{state.get('vaultName')}.vault.azure.net/keys/{name}"
            state.update(
                id=arm_id, keyUri=uri, keyUriWithVersion=f"{uri}/{_stable_guid('version', logical).replace('-', '')}"
            )
        if token == "azure-native:keyvault:Vault":
            state["properties"] = {**(state.get("properties") or {}), "vaultUri": f"https://{name}.vault.azure.net/"}
        if token == "azure-native:managedidentity:UserAssignedIdentity":
            state.update(
                principalId=_stable_guid("principal", logical),
                clientId=_stable_guid("client", logical),
                tenantId=MOCK_TENANT,
            )
        return arm_id, state

    def _host_in(self, subnet_id: str | None, offset: int) -> str:
        prefix = self.subnet_prefixes.get(subnet_id or "", "10.0.0.0/24")
        return str(ipaddress.ip_network(prefix)[offset])  # Azure reserves the first four addresses

    def _kubernetes(self, logical: str, state: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        metadata = dict(state.get("metadata") or {})
        metadata.setdefault("name", logical)
        metadata.setdefault("uid", _stable_guid("uid", logical))
        state["metadata"] = metadata
        namespace = metadata.get("namespace")
        return (f"{namespace}/{metadata['name']}" if namespace else str(metadata["name"])), state

    def call(self, args: pulumi_mocks.MockCallArgs) -> dict[str, Any]:  # type: ignore[override]
        if args.token == "azure-native:containerservice:listManagedClusterUserCredentials":
            name = args.args.get("resourceName", "aks")
            kubeconfig = _mock_kubeconfig(str(name))
            return {"kubeconfigs": [{"name": "clusterUser", "value": base64.b64encode(kubeconfig.encode()).decode()}]}
        if args.token == "azure-native:containerservice:getManagedCluster":
            name = str(args.args.get("resourceName", "aks"))
            return {
                "name": name,
                "identityProfile": {
                    "kubeletidentity": {
                        "clientId": _stable_guid("kubelet-client", name),
                        "objectId": _stable_guid("kubelet", name),
                        "resourceId": f"/subscriptions/{MOCK_SUBSCRIPTION}/resourceGroups/MC_{name}/providers/"
                        f"Microsoft.ManagedIdentity/userAssignedIdentities/{name}-agentpool",
                    }
                },
                "oidcIssuerProfile": {"enabled": True, "issuerURL": f"https://oidc.mock/{name}/"},
            }
        if args.token == "azure-native:authorization:getClientConfig":
            return {
                "clientId": _stable_guid("client"),
                "objectId": _stable_guid("deployer"),
                "subscriptionId": MOCK_SUBSCRIPTION,
                "tenantId": MOCK_TENANT,
            }
        raise NotImplementedError(
            f"the offline plan has no mock for invoke {args.token}; add one in scripts/planning.py"
        )


def _generated_key_pems() -> dict[str, str]:
    """A real EC P-256 key, so rendered policies carry a PEM the engines would accept. The plan
    shows its public half only; the private half is a secret output and printed as such."""
    private = ec.generate_private_key(ec.SECP256R1())
    return {
        "publicKeyPem": private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode(),
        "privateKeyPem": private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode(),
    }


def _mock_kubeconfig(cluster: str) -> str:
    return (
        "apiVersion: v1\nkind: Config\n"
        f"clusters:\n- name: {cluster}\n  cluster:\n    server: https://{cluster}.hcp.westeurope.azmk8s.io:443\n"
        f"contexts:\n- name: {cluster}\n  context:\n    cluster: {cluster}\n    user: clusterUser\n"
        f"current-context: {cluster}\nusers:\n- name: clusterUser\n  user:\n    token: mock\n"
    )


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """The mock engine's monitor, also remembering each registration's parent and inputs."""

    def __init__(self, mocks: pulumi_mocks.Mocks) -> None:
        super().__init__(mocks)
        self.registrations: list[tuple[str, str, str, str | None, dict[str, Any], bool]] = []
        self.dependencies: dict[str, tuple[str, ...]] = {}

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (gRPC method name)
        response = super().RegisterResource(request)  # type: ignore[no-untyped-call]
        inputs = rpc.deserialize_properties(request.object) if request.type != "pulumi:pulumi:Stack" else {}
        self.registrations.append(
            (response.urn, request.type, request.name, request.parent or None, inputs, bool(request.custom))
        )
        self.dependencies[response.urn] = tuple(request.dependencies)
        return response


# --------------------------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------------------------


def redact(value: Any) -> Any:
    """Plain JSON data from deserialized properties: secrets → `[secret]`, unknowns → `[unknown]`."""
    if rpc.is_rpc_secret(value):
        return SECRET_PLACEHOLDER
    if isinstance(value, Mapping):
        return {str(k): redact(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact(v) for v in value]
    if value == rpc.UNKNOWN:
        return UNKNOWN
    if isinstance(value, float) and value.is_integer():
        return int(value)  # the engine's wire format has only doubles; what was written was an integer
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def _reset_runtime() -> None:
    settings.reset_options(project=PROJECT)
    settings.SETTINGS.rpc_manager.clear()
    settings.SETTINGS.outputs.clear()


def _resolve(value: Any) -> Any:
    output = pulumi.Output.from_input(value)
    resolved = _sync_await(output.future(with_unknowns=True))
    if _sync_await(output.is_secret()):
        return SECRET_PLACEHOLDER
    return redact(resolved)


def plan_stack(stack_file: StackFile) -> Plan:
    """Plan `stack_file` in-process. Raises `ConfigError` for bad config, anything else for a
    broken program (an unknown resource argument, a failed apply, ...)."""
    config = parse_stack_config(stack_file.raw, source=f"stack {stack_file.stack!r}")
    if str(PROJECT_ROOT) not in sys.path:
        sys.path.insert(0, str(PROJECT_ROOT))

    _reset_runtime()
    monitor = RecordingMonitor(PlanMocks())
    pulumi.runtime.set_mocks(monitor.mocks, project=PROJECT, stack=stack_file.stack, preview=True, monitor=monitor)
    set_all_config(stack_file.pulumi_config(), stack_file.secret_keys)

    def program() -> None:
        runpy.run_path(str(PROJECT_ROOT / "__main__.py"), run_name="__main__")

    _sync_await(run_pulumi_func(program))

    root = settings.get_root_resource()
    outputs = {k: _resolve(v) for k, v in sorted(getattr(root, "outputs", {}).items())}
    states = {urn: reg.state for urn, reg in monitor.resources.items()}
    resources = [
        PlannedResource(
            urn,
            type_,
            name,
            parent,
            redact(inputs),
            custom,
            redact(states.get(urn, {})),
            monitor.dependencies.get(urn, ()),
        )
        for urn, type_, name, parent, inputs, custom in monitor.registrations
    ]
    # registrations arrive in whatever order the async runtime resolves them: sort for stable diffs
    resources.sort(key=lambda r: (r.parent is not None, r.urn))
    return Plan(stack_file.stack, config, resources, outputs, review(config))


def plan_config(raw: Mapping[str, Any], stack: str = "test") -> Plan:
    """Plan a config given as a mapping (top-level keys without the project prefix)."""
    return plan_stack(StackFile(stack=stack, raw=dict(raw)))


def manifest_file_name(index: int, resource: PlannedResource) -> str:
    metadata = resource.inputs.get("metadata") or {}
    kind = str(resource.inputs.get("kind") or resource.type.rsplit(":", 1)[-1]).lower()
    parts = [f"{index:03d}", kind, metadata.get("namespace"), metadata.get("name") or resource.name]
    suffix = "-patch" if resource.type.endswith("Patch") else ""
    return re.sub(r"[^a-z0-9.-]+", "-", "-".join(str(p) for p in parts if p).lower()) + suffix + ".yaml"


def kubernetes_manifests(plan: Plan) -> list[tuple[str, dict[str, Any]]]:
    """Every Kubernetes object the program registers, as (file name, object), in registration order."""
    out: list[tuple[str, dict[str, Any]]] = []
    objects = [r for r in plan.resources if r.is_kubernetes_object]
    # namespaces first, as they are applied; then the engines' documents
    objects.sort(key=lambda r: not r.type.startswith("kubernetes:core/v1:Namespace"))
    for resource in objects:
        document: dict[str, Any] = {
            k: resource.inputs[k] for k in ("apiVersion", "kind", "metadata") if k in resource.inputs
        }
        document.update({k: v for k, v in resource.inputs.items() if k not in document})
        out.append((manifest_file_name(len(out) + 1, resource), document))
    return out
