"""The trust summary of a plan, as plain data: who may sign what runs where, which attestations each namespace
requires, which keys sign and who can sign with them, what the build agents may reach and which roles the
stack assigns.

Pure: read from the validated config (through the engine-neutral trust model) and the planned resources'
inputs, never from Pulumi or a cloud. `trust_report` renders it (trust.md, trust.json, the console summary).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from components.model.config import AzureKeyVaultKey, GeneratedKey
from components.model.contract import NEVER_MATCHED, SBOM_FORMATS
from components.model.trust import KeyAuthority, KeylessAuthority, NamespacePolicy, TrustModel, trust_model
from scripts.trust_roles import role_assignments

if TYPE_CHECKING:
    from scripts.planning import Plan, PlannedResource

RULE_COLLECTION_GROUP = "azure-native:network:FirewallPolicyRuleCollectionGroup"
SECURITY_GROUP = "azure-native:network:NetworkSecurityGroup"
SUBNET = "azure-native:network:Subnet"
PRIVATE_ENDPOINT = "azure-native:network:PrivateEndpoint"
VAULT_KEY = "azure-native:keyvault:Key"
DNS_RULE = "azure-native:dnsresolver:DnsSecurityRule"
DNS_DOMAIN_LIST = "azure-native:dnsresolver:DnsResolverDomainList"
DESTINATIONS = (
    "targetFqdns",
    "targetUrls",
    "fqdnTags",
    "webCategories",
    "destinationAddresses",
    "destinationFqdns",
    "destinationIpGroups",
)
"""Where a firewall application or network rule lets traffic go."""


def _keyless(identity: KeylessAuthority) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": identity.name, "issuer": identity.issuer}
    entry["subject" if identity.subject else "subjectPattern"] = identity.subject or identity.subject_regexp
    if identity.callers:
        entry["callers"] = sorted(identity.callers)
    return entry


def _key_location(key: KeyAuthority) -> str:
    return key.kms_uri or "pinned public key"


def _signers(model: TrustModel) -> dict[str, Any]:
    return {
        "identities": sorted((_keyless(k) for k in model.keyless), key=lambda e: (str(e["name"]), e["issuer"])),
        "keys": sorted(({"name": k.name, "location": _key_location(k)} for k in model.keys), key=lambda e: e["name"]),
    }


def _namespace(plan: Plan, model: TrustModel, ns: NamespacePolicy) -> dict[str, Any]:
    admission = plan.config.admission
    assert admission is not None  # a listed namespace means an admission section
    audit_until = admission.namespaces[ns.name].audit_until
    attestations: dict[str, Any] = {}
    if ns.sbom is not None:
        sbom = SBOM_FORMATS[ns.sbom]
        attestations["sbom"] = {"format": sbom.title, "predicateType": sbom.predicate_type}
    if ns.provenance is not None:
        p = ns.provenance
        attestations["provenance"] = {
            "builderId": p.builder_id,
            "sourceRepository": p.source_repository,
            "sourceRef": p.source_ref,
            "signer": _keyless(p.signer) if p.signer else None,
        }
    return {
        "mode": ns.mode,
        "auditUntil": audit_until.isoformat() if audit_until else None,
        "signersNamed": sorted(ns.signers),
        "signers": _signers(model.signers_of(ns)),
        "repositories": sorted(ns.repositories),
        "attestations": attestations,
        "exceptions": _exceptions(model, ns.name),
        "exempt": False,
    }


def _exceptions(model: TrustModel, namespace: str | None = None) -> list[dict[str, Any]]:
    return [
        {
            "name": e.name,
            "namespace": e.namespace,
            "images": sorted(e.images),
            "owner": e.owner,
            "expires": e.expires.isoformat(),
            "reason": e.reason,
        }
        for e in sorted(model.exemptions, key=lambda e: (e.namespace, e.name))
        if namespace is None or e.namespace == namespace
    ]


def admission_summary(plan: Plan, model: TrustModel) -> dict[str, Any]:
    """Per listed namespace its mode, signers, attestations and exceptions; what unlisted namespaces get; the
    exempt and never-matched namespaces; the registries admitted and the Sigstore instance trusted."""
    admission = plan.config.admission
    exempt = admission.exempt_namespaces if admission else []
    return {
        "namespaces": {ns.name: _namespace(plan, model, ns) for ns in model.namespaces},
        "unlisted": {
            "mode": model.default_mode or "off",
            "checks": "signatures and the registry allow-list" if model.default_mode else "none: unchecked",
            "signers": _signers(model) if model.default_mode else None,
        },
        "exemptNamespaces": [
            {"name": e.name, "owner": e.owner, "reason": e.reason} for e in sorted(exempt, key=lambda e: e.name)
        ],
        "neverMatched": sorted(NEVER_MATCHED),
        "exceptions": _exceptions(model),
        "registries": {
            "allowed": sorted(model.allowed_registries),
            "signed": sorted(model.signed_registries),
            "requireDigest": model.require_digest,
        },
        "sigstore": {"rekorUrl": model.sigstore.rekor_url, "publicGood": model.sigstore.public_good},
    }


def _last(resource_id: object) -> str:
    return str(resource_id).rstrip("/").rsplit("/", 1)[-1]


def _covers(scope: str, resource_id: str) -> bool:
    scope, resource_id = scope.lower().rstrip("/"), resource_id.lower()
    return resource_id == scope or resource_id.startswith(scope + "/")


def keys_summary(plan: Plan, model: TrustModel, roles: list[dict[str, Any]]) -> dict[str, Any]:
    """Per configured key: its kind, where it lives, the transparency-log setting, the previous versions still
    trusted (until when) and who can sign with it (the planned assignments granting sign on it)."""
    key_ids = {str(r.inputs.get("keyName")): str(r.outputs.get("id", "")) for r in plan.of_type(VAULT_KEY)}
    out: dict[str, Any] = {}
    for key in plan.config.signing.keys:
        authorities = [k for k in model.keys if k.authority_name == key.name]
        current = next(k for k in authorities if k.authority is None)
        entry: dict[str, Any] = {
            "kind": key.kind,
            "location": _key_location(current),
            "transparencyLogRequired": current.transparency_log_required,
            "previousVersions": [],
        }
        if isinstance(key, AzureKeyVaultKey):
            uris = {k.name: k.kms_uri for k in authorities}
            entry["previousVersions"] = sorted(
                (
                    {
                        "version": v.version,
                        "until": v.until.isoformat(),
                        "location": uris[f"{key.name}-{v.version[:8]}"],
                    }
                    for v in key.previous_versions
                ),
                key=lambda e: (e["until"], e["version"]),
            )
            key_id = key_ids.get(key.name)
            entry["signers"] = sorted(
                {
                    r["principal"]
                    for r in roles
                    if r["grantsKeySign"] and key_id is not None and _covers(r["scope"], key_id)
                }
            )
        elif isinstance(key, GeneratedKey):
            entry["location"] = "pinned public key (generated by the stack)"
            entry["signers"] = ["whoever holds the generated private key (a secret stack output)"]
        else:
            entry["signers"] = ["whoever holds the private key (outside this stack)"]
        out[key.name] = entry
    return out


def _subnets(plan: Plan) -> dict[str, str]:
    return {str(r.inputs.get("addressPrefix")): str(r.inputs.get("subnetName", r.name)) for r in plan.of_type(SUBNET)}


def _endpoint_hosts(plan: Plan) -> list[str]:
    hosts = []
    suffixes = {"registry": "azurecr.io", "vault": "vault.azure.net"}
    for endpoint in plan.of_type(PRIVATE_ENDPOINT):
        for connection in endpoint.inputs.get("privateLinkServiceConnections", []):
            name = _last(connection.get("privateLinkServiceId", ""))
            for group in connection.get("groupIds", []):
                hosts.append(f"{name}.{suffixes.get(group, f'{group}.core.windows.net')}")
    return sorted(set(hosts))


def _label(prefix: str, subnets: Mapping[str, str], endpoint_hosts: Iterable[str]) -> str:
    subnet = subnets.get(prefix)
    if subnet is None:
        return prefix
    hosts = list(endpoint_hosts) if subnet == "endpoints" else []
    return f"{prefix} ({subnet} subnet{': private endpoints of ' + ', '.join(hosts) if hosts else ''})"


def _natural(text: str) -> list[Any]:
    """Sort key: digit runs by value (`sa2` before `sa10`), so long host lists read in order."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def _listed(rule: Mapping[str, Any], *fields: str) -> list[str]:
    return [str(v) for field in fields for v in (rule.get(field) or [])]


def _firewall(plan: Plan, subnets: Mapping[str, str]) -> list[dict[str, Any]]:
    out = []
    for group in plan.of_type(RULE_COLLECTION_GROUP):
        for collection in group.inputs.get("ruleCollections", []):
            for rule in collection.get("rules", []):
                ports = [f"{p.get('protocolType')}:{p.get('port')}" for p in rule.get("protocols") or []]
                ports += [
                    f"{proto}:{port}"
                    for proto in rule.get("ipProtocols") or []
                    for port in rule.get("destinationPorts") or []
                ]
                out.append(
                    {
                        "firewallPolicy": str(group.inputs.get("firewallPolicyName")),
                        "collection": str(collection.get("name")),
                        "action": str((collection.get("action") or {}).get("type", "")),
                        "rule": str(rule.get("name")),
                        "from": sorted(
                            _label(s, subnets, ()) for s in _listed(rule, "sourceAddresses", "sourceIpGroups")
                        ),
                        "to": sorted(_listed(rule, *DESTINATIONS), key=_natural),
                        "ports": sorted(ports),
                        "why": str(rule.get("description", "")),
                    }
                )
    return sorted(out, key=lambda e: (e["firewallPolicy"], e["collection"], e["rule"]))


def _nsg(plan: Plan, subnets: Mapping[str, str], endpoint_hosts: list[str]) -> list[dict[str, Any]]:
    attached = {
        _last((r.inputs.get("networkSecurityGroup") or {}).get("id", "")): str(r.inputs.get("subnetName"))
        for r in plan.of_type(SUBNET)
    }
    out = []
    for nsg in plan.of_type(SECURITY_GROUP):
        name = str(nsg.inputs.get("networkSecurityGroupName", nsg.name))
        for rule in nsg.inputs.get("securityRules", []):
            if rule.get("direction") != "Outbound":
                continue
            to = [rule["destinationAddressPrefix"]] if rule.get("destinationAddressPrefix") else []
            ports = [rule["destinationPortRange"]] if rule.get("destinationPortRange") else []
            out.append(
                {
                    "nsg": name,
                    "subnet": attached.get(name),
                    "priority": rule.get("priority"),
                    "rule": str(rule.get("name")),
                    "access": str(rule.get("access")),
                    "protocol": str(rule.get("protocol")),
                    "to": [
                        _label(p, subnets, endpoint_hosts) for p in to + _listed(rule, "destinationAddressPrefixes")
                    ],
                    "ports": ports + _listed(rule, "destinationPortRanges"),
                    "why": str(rule.get("description", "")),
                }
            )
    return sorted(out, key=lambda e: (e["nsg"], e["priority"] or 0, e["rule"]))


def _dns(plan: Plan) -> list[dict[str, Any]]:
    """The DNS security policy's rules in priority order, each with the names of its domain lists (a rule names
    its lists by resource id, whose last segment is the list's name)."""
    lists = {
        str(d.inputs.get("dnsResolverDomainListName")): d.inputs.get("domains") or []
        for d in plan.of_type(DNS_DOMAIN_LIST)
    }
    out = []
    for rule in plan.of_type(DNS_RULE):
        action = rule.inputs.get("action") or {}
        answer = str(action.get("actionType"))
        if code := action.get("blockResponseCode"):
            answer += f" ({code})"
        names = [
            name
            for ref in rule.inputs.get("dnsResolverDomainLists") or []
            for name in lists.get(str(ref.get("id", "")).rsplit("/", 1)[-1], [f"unknown list {ref.get('id')}"])
        ]
        out.append(
            {
                "policy": str(rule.inputs.get("dnsResolverPolicyName")),
                "priority": rule.inputs.get("priority"),
                "rule": str(rule.inputs.get("dnsSecurityRuleName")),
                "action": answer,
                "state": str(rule.inputs.get("dnsSecurityRuleState", "Enabled")),
                "names": sorted(names),
            }
        )
    return sorted(out, key=lambda e: (e["policy"], e["priority"] or 0, e["rule"]))


def egress_summary(plan: Plan) -> dict[str, Any]:
    """What the build network lets out: every firewall rule (sources, destinations, port/protocol), every
    outbound NSG rule (in priority order, denies included) with the subnet it guards, and the names the DNS
    security policy lets the agents resolve (`.` is every name)."""
    subnets = _subnets(plan)
    return {
        "firewall": _firewall(plan, subnets),
        "nsg": _nsg(plan, subnets, _endpoint_hosts(plan)),
        "dns": _dns(plan),
    }


def _azure(resources: Iterable[PlannedResource]) -> bool:
    return any(r.type.startswith("azure-native:") for r in resources)


def trust_summary(plan: Plan) -> dict[str, Any]:
    """The whole summary of a plan as JSON-ready data (trust.json); Azure parts only for a stack on Azure."""
    model = trust_model(plan.config)
    summary: dict[str, Any] = {"stack": plan.stack, "admission": admission_summary(plan, model)}
    roles = role_assignments(plan)
    summary["keys"] = keys_summary(plan, model, roles)
    if _azure(plan.resources):
        summary["egress"] = egress_summary(plan)
        summary["roleAssignments"] = roles
    return summary
