"""Stack files that cannot lie: each malformed, ambiguous or unsafe file is refused by the plan with exit 2,
naming the key to fix; a pasted secret never comes back in any output. Each case is a shipped stack and
one edit of its text."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from components.model.config import ConfigError, parse_stack_config
from components.model.config.stack_file import parse_stack_file
from scripts import plan as plan_cli
from tests.conftest import STACKS

Edit = Callable[[str], str]

_KEY = ec.generate_private_key(ec.SECP256R1())
PRIVATE_PEM = _KEY.private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
).decode()
PRIVATE_DER_B64 = base64.b64encode(
    _KEY.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
).decode()
PUBLIC_PEM = (
    _KEY.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
)
GITHUB_TOKEN = "ghp_" + "Z8r1xQ2vN4mB6kL0pT9sW3yU5aC7eG1iK3oM"
AWS_KEY_ID = "AKIA" + "Q7ZVRM2XK5LT3HNP"
JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJyZXBvOmNvbnRvc28vYXBwIn0.c2lnbmF0dXJlLW9mLXRoZS10b2tlbg"
ENTRA_SECRET = "Abc8Q~" + "x9Y8z7W6v5U4t3S2r1Q0p9O8n7M6l5K4j3I"


def _pem_block(pem: str, indent: int) -> str:
    """A PEM as a YAML block scalar at `indent` spaces."""
    pad = " " * indent
    return "|\n" + "".join(f"{pad}{line}\n" for line in pem.strip().splitlines())


def replace(old: str, new: str) -> Edit:
    """Replace the one occurrence of `old` (which must be there) with `new`."""

    def edit(text: str) -> str:
        assert text.count(old) == 1, f"the edit expects {old!r} once in the stack"
        return text.replace(old, new)

    return edit


def add(lines: str) -> Edit:
    """Append config lines (already indented under `config:`)."""
    return lambda text: text.rstrip("\n") + "\n" + lines.rstrip("\n") + "\n"


def both(first: Edit, second: Edit) -> Edit:
    """Two edits of one broken thing (a value and what it needs)."""
    return lambda text: second(first(text))


SIGNING = "  supply-chain:signing:\n"
PROD_SUBJECT = "subject: https://github.com/contoso/payments-api/.github/workflows/release.yml@refs/heads/main\n"
PROD_FIRST_ISSUER = "- name: payments-release\n        issuer: https://token.actions.githubusercontent.com"
DEV_FIRST_ISSUER = "- name: release\n        issuer: https://token.actions.githubusercontent.com"
WORKSPACE = (
    "/subscriptions/9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d/resourceGroups/rg/providers/"
    "Microsoft.OperationalInsights/workspaces/law-security"
)
AKS = (
    "/subscriptions/6f1c2a3b-0d4e-4f5a-9b8c-7d6e5f4a3b2c/resourceGroups/rg/providers/"
    "Microsoft.ContainerService/managedClusters/aks"
)


def sigstore(**fields: str) -> Edit:
    """Add a `signing.sigstore` section with these fields (values already YAML)."""
    body = "".join(f"      {name}: {value}" + ("" if value.startswith("|") else "\n") for name, value in fields.items())
    return replace(SIGNING, f"{SIGNING}    sigstore:\n{body}")


@dataclass(frozen=True)
class Case:
    """A base stack, one edit, the key the refusal must name, and any secret it must not repeat."""

    id: str
    stack: str
    edit: Edit
    key: str
    secret: str | None = None


CASES = [
    # --- the file itself ---------------------------------------------------------------------------
    Case("duplicate key", "local", add("  supply-chain:environment: prod"), "supply-chain:environment"),
    Case(
        "namespace listed twice",
        "local",
        replace("      sandbox: {mode: audit}", "      sandbox: {mode: audit}\n      demo: {mode: audit}"),
        "supply-chain:admission.namespaces.demo",
    ),
    Case(
        "anchor and alias",
        "local",
        replace("    engines: [kyverno]", "    engines: &e [kyverno]\n    allowedRegistries: *e"),
        "supply-chain:admission.allowedRegistries",
    ),
    Case(
        "merge key",
        "local",
        replace("      demo: {mode: enforce}", "      demo: {<<: {mode: enforce}}"),
        "supply-chain:admission.namespaces.demo",
    ),
    Case(
        "explicit tag",
        "local",
        replace("    requireDigest: true", "    requireDigest: !!python/bool true"),
        "supply-chain:admission.requireDigest",
    ),
    Case("second document", "local", add("---\nconfig: {}"), "<file>:"),
    Case(
        "nesting too deep",
        "local",
        add("  supply-chain:deep: " + "{a: " * 30 + "1" + "}" * 30),
        "supply-chain:deep",
    ),
    Case("not UTF-8", "local", add("  supply-chain:note: caf\udce9"), "<file>:"),
    Case("too large", "local", add("# " + "x" * (1024 * 1024)), "<file>"),
    Case(
        "impossible date",
        "prod",
        replace("auditUntil: 2027-09-30", "auditUntil: 2027-02-30"),
        "supply-chain:admission.namespaces.analytics.auditUntil",
    ),
    Case(
        "key YAML reads as a boolean",
        "local",
        replace("      sandbox: {mode: audit}", "      on: {mode: audit}"),
        "supply-chain:admission.namespaces",
    ),
    Case(
        "misspelt project prefix",
        "local",
        replace("supply-chain:admission:", "supply-chian:admission:"),
        "supply-chian:admission",
    ),
    Case("unused provider's key", "local", add("  kubernetes:context: kind-other"), "kubernetes:context"),
    Case("misspelt provider setting", "dev", add("  azure-native:locaton: westeurope"), "azure-native:locaton"),
    Case("key without a namespace", "local", add("  cluster2: x"), "cluster2"),
    Case("unknown top-level key", "local", lambda t: "configs: {}\n" + t, "<file>: configs"),
    Case("unknown project key", "local", add("  supply-chain:admision: {}"), "supply-chain:admision"),
    Case("secure value in a project key", "local", add("  supply-chain:note: {secure: v1:AAAA}"), "supply-chain:note"),
    Case(
        "secure value in a plain provider setting",
        "dev",
        add("  azure-native:location: {secure: v1:AAAA}"),
        "azure-native:location",
    ),
    # --- text that looks right and is not -------------------------------------------------------------
    Case(
        "namespace with a trailing newline",
        "local",
        replace("      sandbox: {mode: audit}", '      "kube-system\\n": {mode: audit}'),
        "supply-chain:admission.namespaces",
    ),
    Case(
        "issuer with a trailing newline",
        "prod",
        replace(
            PROD_FIRST_ISSUER,
            PROD_FIRST_ISSUER.replace(
                "issuer: https://token.actions.githubusercontent.com",
                'issuer: "https://token.actions.githubusercontent.com\\n"',
            ),
        ),
        "supply-chain:signing.keyless[0].issuer",
    ),
    Case(
        "port in full-width digits",
        "local",
        replace("loginServer: kind-registry:5000", "loginServer: kind-registry:５０００"),
        "supply-chain:registry.loginServer",
    ),
    Case(
        "port out of range",
        "local",
        replace("loginServer: kind-registry:5000", "loginServer: kind-registry:70000"),
        "supply-chain:registry.loginServer",
    ),
    Case(
        "look-alike letter in a registry name",
        "prod",
        replace("name: crcontosoprod", "name: crcоntosoprod"),
        "supply-chain:registry.name",
    ),
    Case(
        "bidirectional override in a reason",
        "prod",
        replace("reason: Unsigned vendor image;", "reason: Unsigned \u202evendor image;"),
        "supply-chain:admission.exceptions[0].reason",
    ),
    Case(
        "control character in a reason",
        "prod",
        replace(
            "reason: Unsigned vendor image; replacement tracked in SEC-1432.",
            'reason: "Unsigned \\a vendor image, SEC-1432"',
        ),
        "supply-chain:admission.exceptions[0].reason",
    ),
    Case(
        "leading space in a namespace",
        "local",
        replace("      sandbox: {mode: audit}", '      " sandbox": {mode: audit}'),
        "supply-chain:admission.namespaces",
    ),
    Case(
        "tab in an identity subject",
        "prod",
        replace(
            PROD_SUBJECT,
            'subject: "https://github.com/contoso/\\tpayments-api/.github/workflows/release.yml@refs/heads/main"\n',
        ),
        "supply-chain:signing.keyless[0].subject",
    ),
    # --- secrets pasted where they do not belong ---------------------------------------------------------
    Case(
        "private key as a pinned public key",
        "prod",
        replace(
            "        rotationDays: 180", "        rotationDays: 180\n        publicKey: " + _pem_block(PRIVATE_PEM, 10)
        ),
        "supply-chain:signing.keys[0].publicKey",
        PRIVATE_PEM,
    ),
    Case(
        "private key as a TUF root",
        "dev",
        sigstore(tufMirror="https://tuf.contoso.example", tufRoot=_pem_block(PRIVATE_PEM, 8)),
        "supply-chain:signing.sigstore.tufRoot",
        PRIVATE_PEM,
    ),
    Case(
        "base64 private key as a Rekor key",
        "dev",
        sigstore(rekorUrl="https://rekor.contoso.example", rekorPublicKey=PRIVATE_DER_B64),
        "supply-chain:signing.sigstore.rekorPublicKey",
        PRIVATE_DER_B64,
    ),
    Case(
        "token as a runner scope",
        "dev",
        replace("scope: contoso", f"scope: {GITHUB_TOKEN}"),
        "supply-chain:buildAgents.runner.scope",
        GITHUB_TOKEN,
    ),
    Case(
        "token in an exception reason",
        "prod",
        replace("reason: Unsigned vendor image;", f"reason: token {GITHUB_TOKEN} Unsigned vendor image;"),
        "supply-chain:admission.exceptions[0].reason",
        GITHUB_TOKEN,
    ),
    Case(
        "access key id as a tag",
        "dev",
        replace("costCenter: cc-4711", f"costCenter: {AWS_KEY_ID}"),
        "supply-chain:azure.tags.costCenter",
        AWS_KEY_ID,
    ),
    Case(
        "bearer token as an identity",
        "prod",
        replace(PROD_SUBJECT, f"subject: {JWT}\n"),
        "supply-chain:signing.keyless[0].subject",
        JWT,
    ),
    Case(
        "client secret as a tag",
        "prod",
        replace("costCenter: cc-4711", f"costCenter: {ENTRA_SECRET}"),
        "supply-chain:azure.tags.costCenter",
        ENTRA_SECRET,
    ),
    Case(
        "token as a namespace name",
        "local",
        replace("      sandbox: {mode: audit}", f"      {GITHUB_TOKEN}: {{mode: audit}}"),
        "supply-chain:admission.namespaces",
        GITHUB_TOKEN,
    ),
    Case(
        "SAS URL as an egress host",
        "dev",
        replace(
            "        - pypi.org", "        - store.blob.core.windows.net?sv=2022&sig=Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4"
        ),
        "supply-chain:network.egress.extraAllowedFqdns[0]",
        "sig=Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4",
    ),
    # --- values that must parse as what they are ------------------------------------------------------
    Case(
        "TUF root that is not base64",
        "dev",
        sigstore(tufMirror="https://tuf.contoso.example", tufRoot="not-base64!"),
        "supply-chain:signing.sigstore.tufRoot",
    ),
    Case(
        "TUF root that is another TUF role",
        "dev",
        sigstore(
            tufMirror="https://tuf.contoso.example",
            tufRoot=base64.b64encode(json.dumps({"signed": {"_type": "targets"}, "signatures": []}).encode()).decode(),
        ),
        "supply-chain:signing.sigstore.tufRoot",
    ),
    Case(
        "Rekor key that is not PEM",
        "dev",
        sigstore(rekorUrl="https://rekor.contoso.example", rekorPublicKey="abc"),
        "supply-chain:signing.sigstore.rekorPublicKey",
    ),
    Case(
        "Fulcio roots that are not a certificate",
        "dev",
        sigstore(
            fulcioUrl="https://fulcio.contoso.example",
            fulcioRoots=_pem_block("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----", 8),
        ),
        "supply-chain:signing.sigstore.fulcioRoots",
    ),
    Case(
        "TSA chain holding a public key",
        "dev",
        sigstore(tsaUrl="https://tsa.contoso.example", tsaCertChain=_pem_block(PUBLIC_PEM, 8)),
        "supply-chain:signing.sigstore.tsaCertChain",
    ),
    Case(
        "empty image publisher",
        "prod",
        replace("publisher: Canonical", 'publisher: ""'),
        "supply-chain:buildAgents.image.publisher",
    ),
    Case(
        "image version that is not one",
        "prod",
        replace("version: 24.04.202510010", "version: newest"),
        "supply-chain:buildAgents.image.version",
    ),
    Case(
        "Ed25519 public key",
        "local",
        replace(
            "      - kind: generated\n        name: local-signing",
            "      - kind: public-key\n        name: ed\n        pem: "
            + _pem_block(
                ed25519.Ed25519PrivateKey.generate()
                .public_key()
                .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
                .decode(),
                10,
            ),
        ),
        "supply-chain:signing.keys[0].pem",
    ),
    Case(
        "RSA key of 1024 bits",
        "local",
        replace(
            "      - kind: generated\n        name: local-signing",
            "      - kind: public-key\n        name: weak\n        pem: "
            + _pem_block(
                rsa.generate_private_key(public_exponent=65537, key_size=1024)
                .public_key()
                .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
                .decode(),
                10,
            ),
        ),
        "supply-chain:signing.keys[0].pem",
    ),
]
CASES += [
    # --- combinations and cross-field rules -------------------------------------------------------------
    Case(
        "allowlists that together cover the Internet",
        "dev",
        replace(
            "    retentionDays: 7",
            "    retentionDays: 7\n    publicNetworkAccessEnabled: true\n    allowedIpRanges: [0.0.0.0/1, 128.0.0.0/1]",
        ),
        "supply-chain:registry.allowedIpRanges",
    ),
    Case(
        "allowlist larger than a /8",
        "dev",
        replace(
            "    retentionDays: 7",
            "    retentionDays: 7\n    publicNetworkAccessEnabled: true\n    allowedIpRanges: [4.0.0.0/6]",
        ),
        "supply-chain:registry.allowedIpRanges",
    ),
    Case(
        "agent subnet too small for maxInstances",
        "dev",
        replace("maxInstances: 4", "maxInstances: 300"),
        "supply-chain:buildAgents.maxInstances",
    ),
    Case(
        "VM size without a local disk",
        "dev",
        replace("vmSize: Standard_D2ads_v5", "vmSize: Standard_D2as_v5"),
        "supply-chain:buildAgents.vmSize",
    ),
    Case(
        "unknown VM size",
        "dev",
        replace("vmSize: Standard_D2ads_v5", "vmSize: Standard_Foo9"),
        "supply-chain:buildAgents.vmSize",
    ),
    Case(
        "prod registry public, and its ranges missing too",
        "prod",
        replace("    name: crcontosoprod", "    name: crcontosoprod\n    publicNetworkAccessEnabled: true"),
        "supply-chain:registry.publicNetworkAccessEnabled",
    ),
    Case(
        "prod registry deletes untagged manifests",
        "prod",
        replace("    name: crcontosoprod", "    name: crcontosoprod\n    retentionDays: 30"),
        "supply-chain:registry.retentionDays",
    ),
    Case(
        "prod agents reaching a public package registry",
        "prod",
        replace(
            "        - contoso.pkgs.visualstudio.com", "        - contoso.pkgs.visualstudio.com\n        - pypi.org"
        ),
        "supply-chain:network.egress.extraAllowedFqdns[1]",
    ),
    Case(
        "prod without admission",
        "prod",
        lambda t: t.replace("supply-chain:admission:", "supply-chain:admission-off:", 1),
        "supply-chain:admission",
    ),
    Case(
        "prod that only audits unlisted namespaces",
        "prod",
        replace("defaultMode: enforce", "defaultMode: audit"),
        "supply-chain:admission.defaultMode",
    ),
    Case(
        "prod that leaves unlisted namespaces unchecked",
        "prod",
        replace("defaultMode: enforce", "defaultMode: off"),
        "supply-chain:admission.defaultMode",
    ),
    Case(
        "exempt namespace that is also listed",
        "prod",
        replace("      - name: gatekeeper-system", "      - name: payments"),
        "supply-chain:admission.exemptNamespaces[0].name",
    ),
    Case(
        "exempt namespace without a reason worth the name",
        "prod",
        replace(
            "reason: AKS-managed Azure Policy add-on; its images are Microsoft's and updated by AKS, not by us.",
            "reason: addon",
        ),
        "supply-chain:admission.exemptNamespaces[0].reason",
    ),
    Case(
        "unlisted namespaces without Kyverno",
        "prod",
        replace("engines: [kyverno, policy-controller]", "engines: [policy-controller]"),
        "supply-chain:admission.defaultMode",
    ),
    Case(
        "more warm agents than the maximum",
        "dev",
        replace("maxInstances: 4", "maxInstances: 4\n    jobTimeoutMinutes: 2"),
        "supply-chain:buildAgents.jobTimeoutMinutes",
    ),
    Case(
        "overlapping subnets",
        "dev",
        replace("endpoints: 10.40.1.0/24", "endpoints: 10.40.0.128/25"),
        "supply-chain:network.subnets.endpoints",
    ),
    Case(
        "subnet outside the address space",
        "dev",
        replace("endpoints: 10.40.1.0/24", "endpoints: 10.41.1.0/24"),
        "supply-chain:network.subnets.endpoints",
    ),
    Case(
        "firewall subnet too small",
        "dev",
        replace("firewall: 10.40.2.0/26", "firewall: 10.40.2.0/27"),
        "supply-chain:network.subnets.firewall",
    ),
    Case(
        "host bits set",
        "dev",
        replace("agents: 10.40.0.0/24", "agents: 10.40.0.1/24"),
        "supply-chain:network.subnets.agents",
    ),
    Case(
        "public endpoint client range",
        "prod",
        replace("endpointClientRanges: [10.60.0.0/16]", "endpointClientRanges: [20.60.0.0/16]"),
        "supply-chain:network.endpointClientRanges[0]",
    ),
    Case(
        "firewall logs without a firewall",
        "prod",
        replace("mode: firewall", "mode: nsg-only"),
        "supply-chain:network.logAnalyticsWorkspaceId",
    ),
    Case(
        "workspace id of another resource type",
        "dev",
        replace(
            "    retentionDays: 7\n",
            "    retentionDays: 7\n    logAnalyticsWorkspaceId: /subscriptions/9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
            "/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/logs\n",
        ),
        "supply-chain:registry.logAnalyticsWorkspaceId",
    ),
    Case(
        "wildcard egress host",
        "dev",
        replace("        - pypi.org", "        - '*.pypi.org'"),
        "supply-chain:network.egress.extraAllowedFqdns[0]",
    ),
    Case(
        "upper-case egress host",
        "dev",
        replace("        - pypi.org", "        - PyPI.org"),
        "supply-chain:network.egress.extraAllowedFqdns[0]",
    ),
    Case(
        "allowed registry listed twice",
        "dev",
        replace(
            "    requireDigest: true",
            "    requireDigest: true\n    allowedRegistries: [mcr.microsoft.com, mcr.microsoft.com]",
        ),
        "supply-chain:admission.allowedRegistries[1]",
    ),
    Case(
        "wildcard allowed registry",
        "dev",
        replace("    requireDigest: true", "    requireDigest: true\n    allowedRegistries: ['*.azurecr.io']"),
        "supply-chain:admission.allowedRegistries[0]",
    ),
    Case(
        "allowed registry path in capitals",
        "dev",
        replace(
            "    requireDigest: true", "    requireDigest: true\n    allowedRegistries: [mcr.microsoft.com/Dotnet]"
        ),
        "supply-chain:admission.allowedRegistries[0]",
    ),
    Case(
        "exception for every image",
        "prod",
        replace("images: [crcontosoprod.azurecr.io/analytics/report-renderer@sha256:*]", "images: ['*']"),
        "supply-chain:admission.exceptions[0].images[0]",
    ),
    Case(
        "exception for a whole registry host pattern",
        "prod",
        replace("images: [crcontosoprod.azurecr.io/analytics/report-renderer@sha256:*]", "images: ['*.azurecr.io/x']"),
        "supply-chain:admission.exceptions[0].images[0]",
    ),
    Case(
        "exception glob across repositories",
        "prod",
        replace(
            "images: [crcontosoprod.azurecr.io/analytics/report-renderer@sha256:*]",
            "images: ['crcontosoprod.azurecr.io/*/report-renderer@sha256:*']",
        ),
        "supply-chain:admission.exceptions[0].images[0]",
    ),
    Case(
        "exception for an image of a registry not allowed",
        "prod",
        replace(
            "images: [crcontosoprod.azurecr.io/analytics/report-renderer@sha256:*]",
            "images: ['docker.io/vendor/report-renderer@sha256:*']",
        ),
        "supply-chain:admission.exceptions[0].images[0]",
    ),
    Case(
        "expired exception",
        "prod",
        replace("expires: 2027-06-30", "expires: 2020-06-30"),
        "supply-chain:admission.exceptions[0].expires",
    ),
    Case(
        "exception in an unlisted namespace",
        "prod",
        replace("namespace: analytics", "namespace: billing"),
        "supply-chain:admission.exceptions[0].namespace",
    ),
    Case(
        "exception owner that is no e-mail",
        "prod",
        replace("owner: analytics-lead@contoso.example", "owner: analytics lead"),
        "supply-chain:admission.exceptions[0].owner",
    ),
    Case(
        "exception reason too short",
        "prod",
        replace("reason: Unsigned vendor image; replacement tracked in SEC-1432.", "reason: legacy"),
        "supply-chain:admission.exceptions[0].reason",
    ),
    Case(
        "identity matching everyone",
        "dev",
        replace(
            r"subjectRegExp: ^https://github\.com/contoso/[A-Za-z0-9_.-]+/\.github/workflows/release\.yml@refs/heads/main$",
            "subjectRegExp: '.*'",
        ),
        "supply-chain:signing.keyless[0].subjectRegExp",
    ),
    Case(
        "identity pattern with a second alternative for anyone",
        "dev",
        replace(r"@refs/heads/main$", r"@refs/heads/main$|^https://.*$"),
        "supply-chain:signing.keyless[0].subjectRegExp",
    ),
    Case(
        "e-mail identity pattern with GitHub's issuer",
        "dev",
        replace(
            r"subjectRegExp: ^https://github\.com/contoso/[A-Za-z0-9_.-]+/\.github/workflows/release\.yml@refs/heads/main$",
            r"subjectRegExp: ^.*@contoso\.com$",
        ),
        "supply-chain:signing.keyless[0].subjectRegExp",
    ),
    Case(
        "identity pattern RE2 cannot compile",
        "dev",
        replace(r"/\.github/workflows/release", r"/(?!evil)\.github/workflows/release"),
        "supply-chain:signing.keyless[0].subjectRegExp",
    ),
    Case(
        "identity pattern not anchored",
        "dev",
        replace(r"@refs/heads/main$", "@refs/heads/main"),
        "supply-chain:signing.keyless[0].subjectRegExp",
    ),
    Case(
        "issuer over plain HTTP",
        "dev",
        replace(
            DEV_FIRST_ISSUER,
            DEV_FIRST_ISSUER.replace(
                "https://token.actions.githubusercontent.com", "http://token.actions.githubusercontent.com"
            ),
        ),
        "supply-chain:signing.keyless[0].issuer",
    ),
    Case(
        "issuer with a query",
        "dev",
        replace(
            DEV_FIRST_ISSUER,
            DEV_FIRST_ISSUER.replace(
                "https://token.actions.githubusercontent.com", "https://token.actions.githubusercontent.com?x=1"
            ),
        ),
        "supply-chain:signing.keyless[0].issuer",
    ),
    Case(
        "issuer with user info",
        "dev",
        replace(
            DEV_FIRST_ISSUER,
            DEV_FIRST_ISSUER.replace(
                "https://token.actions.githubusercontent.com", "https://evil@token.actions.githubusercontent.com"
            ),
        ),
        "supply-chain:signing.keyless[0].issuer",
    ),
    Case(
        "two keys, one name",
        "dev",
        replace(
            "        name: image-signing",
            "        name: image-signing\n      - kind: azure-key-vault\n        name: image-signing",
        ),
        "supply-chain:signing.keys[1].name",
    ),
    Case(
        "previous key version not hex",
        "dev",
        replace("        name: image-signing", "        name: image-signing\n        previousVersions: [zz]"),
        "supply-chain:signing.keys[0].previousVersions",
    ),
    Case(
        "rotation too often",
        "dev",
        replace("        name: image-signing", "        name: image-signing\n        rotationDays: 10"),
        "supply-chain:signing.keys[0].rotationDays",
    ),
    Case(
        "engine listed twice",
        "local",
        replace("engines: [kyverno]", "engines: [kyverno, kyverno]"),
        "supply-chain:admission.engines",
    ),
    Case(
        "unknown engine",
        "local",
        replace("engines: [kyverno]", "engines: [gatekeeper]"),
        "supply-chain:admission.engines[0]",
    ),
    Case(
        "attestations for an unlisted namespace",
        "local",
        replace("    attestations:\n      demo:", "    attestations:\n      other:"),
        "supply-chain:admission.attestations.other",
    ),
    Case(
        "wildcard builder",
        "dev",
        replace("builderId: https://github.com/contoso/workflows/", "builderId: https://github.com/contoso/*/"),
        "supply-chain:admission.attestations.payments.provenance.builderId",
    ),
    Case(
        "short source ref",
        "dev",
        replace("sourceRef: refs/heads/main", "sourceRef: main"),
        "supply-chain:admission.attestations.payments.provenance.sourceRef",
    ),
    Case(
        "source over plain HTTP",
        "dev",
        replace(
            "sourceRepository: https://github.com/contoso/payments-api",
            "sourceRepository: http://github.com/contoso/payments-api",
        ),
        "supply-chain:admission.attestations.payments.provenance.sourceRepository",
    ),
    Case(
        "system namespace under admission",
        "local",
        replace("      sandbox: {mode: audit}", "      kube-system: {mode: audit}"),
        "supply-chain:admission.namespaces.kube-system",
    ),
    Case(
        "audit deadline passed",
        "prod",
        replace("auditUntil: 2027-09-30", "auditUntil: 2021-09-30"),
        "supply-chain:admission.namespaces.analytics.auditUntil",
    ),
    Case(
        "audit deadline on an enforce namespace",
        "prod",
        replace("payments: {mode: enforce,", "payments: {mode: enforce, auditUntil: 2027-09-30,"),
        "supply-chain:admission.namespaces.payments.auditUntil",
    ),
    Case(
        "prod audit without a deadline",
        "prod",
        replace("analytics: {mode: audit, auditUntil: 2027-09-30}", "analytics: {mode: audit}"),
        "supply-chain:admission.namespaces.analytics.auditUntil",
    ),
    Case(
        "two cluster targets",
        "local",
        replace(
            "kubeconfigContext: kind-supply-chain", f"kubeconfigContext: kind-supply-chain\n    aksClusterId: {AKS}"
        ),
        "supply-chain:cluster",
    ),
    Case(
        "AKS id of another resource",
        "dev",
        replace(
            "Microsoft.ContainerService/managedClusters/aks-contoso-dev",
            "Microsoft.Compute/virtualMachines/aks-contoso-dev",
        ),
        "supply-chain:cluster.aksClusterId",
    ),
    Case(
        "registry name with a dash",
        "dev",
        replace("name: crcontosodev", "name: cr-contoso-dev"),
        "supply-chain:registry.name",
    ),
    Case(
        "retention beyond a year",
        "dev",
        replace("retentionDays: 7", "retentionDays: 400"),
        "supply-chain:registry.retentionDays",
    ),
    Case(
        "puller that is no object id",
        "dev",
        replace("    retentionDays: 7", "    retentionDays: 7\n    pullerPrincipalIds: {dr: not-a-guid}"),
        "supply-chain:registry.pullerPrincipalIds.dr",
    ),
    Case(
        "puller named like a built-in",
        "dev",
        replace(
            "    retentionDays: 7",
            "    retentionDays: 7\n    pullerPrincipalIds: {kubelet: 0b6f3c1e-2d4a-4f5b-8c7d-9e0f1a2b3c4d}",
        ),
        "supply-chain:registry.pullerPrincipalIds.kubelet",
    ),
    Case(
        "runner scope of no organisation",
        "dev",
        replace("scope: contoso", "scope: contoso/x/y"),
        "supply-chain:buildAgents.runner.scope",
    ),
    Case(
        "runner label with a space",
        "dev",
        replace("labels: [supply-chain, dev]", "labels: [supply-chain, 'dev box']"),
        "supply-chain:buildAgents.runner.labels[1]",
    ),
    Case(
        "spot price of zero",
        "dev",
        replace("spotMaxPrice: -1", "spotMaxPrice: 0"),
        "supply-chain:buildAgents.spotMaxPrice",
    ),
    Case(
        "region in capitals",
        "dev",
        replace("location: westeurope", "location: WestEurope"),
        "supply-chain:azure.location",
    ),
    Case(
        "resource group with a space",
        "dev",
        replace("resourceGroupName: rg-supplychain-dev", "resourceGroupName: rg supplychain"),
        "supply-chain:azure.resourceGroupName",
    ),
    Case(
        "tag name with a slash",
        "dev",
        replace("costCenter: cc-4711", "cost/center: cc-4711"),
        "supply-chain:azure.tags",
    ),
    Case(
        "transparency log off in prod",
        "prod",
        replace("        rotationDays: 180", "        rotationDays: 180\n        transparencyLogRequired: false"),
        "supply-chain:signing.keys[0].transparencyLogRequired",
    ),
    Case(
        "software key in prod",
        "prod",
        replace("        rotationDays: 180", "        rotationDays: 180\n        hsmEnabled: false"),
        "supply-chain:signing.keys[0].hsmEnabled",
    ),
    Case(
        "plain HTTP registry outside local",
        "dev",
        replace("    retentionDays: 7", "    retentionDays: 7\n    plainHttpEnabled: true"),
        "supply-chain:registry.plainHttpEnabled",
    ),
    Case(
        "bundle signatures with keys under Policy Controller",
        "prod",
        replace("signatureFormat: legacy", "signatureFormat: bundle"),
        "supply-chain:signing.signatureFormat",
    ),
    Case(
        "unknown environment",
        "dev",
        replace("supply-chain:environment: dev", "supply-chain:environment: production"),
        "supply-chain:environment",
    ),
    Case(
        "vault logs without a vault",
        "dev",
        both(
            replace(SIGNING, f"{SIGNING}    logAnalyticsWorkspaceId: {WORKSPACE}\n"),
            replace(
                "      - kind: azure-key-vault\n        name: image-signing",
                "      - kind: public-key\n        name: ext\n        pem: " + _pem_block(PUBLIC_PEM, 10),
            ),
        ),
        "supply-chain:signing.logAnalyticsWorkspaceId",
    ),
    Case(
        "generated key in an Azure stack",
        "dev",
        replace(
            "      - kind: azure-key-vault\n        name: image-signing",
            "      - kind: generated\n        name: image-signing",
        ),
        "supply-chain:signing.keys[0].kind",
    ),
    Case(
        "no one may sign",
        "local",
        replace("    keys:\n      - kind: generated\n        name: local-signing", "    keys: []"),
        "supply-chain:signing",
    ),
    Case(
        "Azure section in the local stack",
        "local",
        add("  supply-chain:azure: {location: westeurope, resourceGroupName: rg}"),
        "supply-chain:azure",
    ),
]


@pytest.fixture(scope="module")
def stack_texts() -> dict[str, str]:
    return {name: (STACKS / f"Pulumi.{name}.yaml").read_text() for name in ("local", "dev", "prod")}


def _secret_lines(secret: str) -> list[str]:
    return [line.strip() for line in secret.strip().splitlines() if len(line.strip()) >= 8 and "-----" not in line]


def test_there_are_at_least_80_distinct_refusals() -> None:
    assert len({c.id for c in CASES}) == len(CASES) >= 80


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_a_broken_stack_file_is_refused_naming_its_key(
    case: Case, stack_texts: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "Pulumi.case.yaml"
    path.write_bytes(case.edit(stack_texts[case.stack]).encode("utf-8", "surrogateescape"))
    out = tmp_path / "plan"
    assert plan_cli.main(["--config", str(path), "--out", str(out), "--quiet"]) == 2
    printed = capsys.readouterr()
    key = case.key.replace("<file>", str(path))
    assert any(line.startswith(f"  - {key}") for line in printed.err.splitlines()), printed.err
    assert not out.exists(), "a refused stack writes no plan"
    if case.secret is not None:
        for line in _secret_lines(case.secret) or [case.secret]:
            assert line not in printed.out + printed.err, "the secret came back in the output"
    assert all(len(line) <= 400 for line in printed.err.splitlines()), "a problem line quotes too much"


# --- what must still be accepted ---------------------------------------------------------------------


def test_edge_cases_that_are_valid_still_plan(
    stack_texts: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    longest_namespace = "n" * 63
    text = stack_texts["prod"]
    for edit in (
        replace("costCenter: cc-4711", "costCenter: Kostenstelle 4711 — Prüfung ✓"),  # Unicode in a tag value
        replace(
            "reason: Unsigned vendor image; replacement tracked in SEC-1432.",
            "reason: Unsigniertes Fremd-Image; Ersatz läuft unter SEC-1432 (Überprüfung bis Juni).",
        ),
        replace(
            "      analytics: {mode: audit,",
            f"      {longest_namespace}: {{mode: enforce}}\n      analytics: {{mode: audit,",
        ),
        lambda t: t.replace("crcontosoprod", "crcontosoprod" + "x" * 37),  # ACR names go to 50
        replace("maxInstances: 20", "maxInstances: 507"),  # a /23 holds 512 addresses, 5 reserved
        replace("    labels: [supply-chain, prod]", "    labels: [supply-chain, prod, " + "l" * 64 + "]"),
    ):
        text = edit(text)
    path = tmp_path / "Pulumi.edge.yaml"
    path.write_text(text)
    assert plan_cli.main(["--config", str(path), "--out", str(tmp_path / "plan"), "--quiet"]) == 0, (
        capsys.readouterr().err
    )
    plan = json.loads((tmp_path / "plan" / "plan.json").read_text())
    assert plan["outputs"]["namespaces"][longest_namespace] == "enforce"


# --- any input at all ----------------------------------------------------------------------------------


@settings(max_examples=300)
@given(st.binary(max_size=2048) | st.text(max_size=2048).map(str.encode))
def test_any_bytes_are_read_or_refused_never_crash(data: bytes) -> None:
    try:
        stack_file = parse_stack_file(data, "fuzz", "Pulumi.fuzz.yaml")
        parse_stack_config(stack_file.raw)
    except ConfigError as error:
        refused: ConfigError | None = error
    else:
        refused = None
    assert refused is None or refused.problems, "a refusal names at least one problem"


_LINE_EDITS = st.sampled_from(
    [
        ": ",
        "\n",
        "- ",
        "&a ",
        "*a",
        "!!str ",
        "{",
        "}",
        "[",
        "]",
        '"',
        "'",
        "\t",
        "\\",
        "#",
        "<<: ",
        "~",
        "0x",
        "\u202e",
    ]
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_mangled_stack_file_plans_or_is_refused_with_exit_2(
    data: st.DataObject, tmp_path_factory: pytest.TempPathFactory
) -> None:
    text = (STACKS / "Pulumi.local.yaml").read_text()
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(text)))
        cut = data.draw(st.integers(0, 8))
        text = text[:position] + data.draw(_LINE_EDITS | st.text(max_size=6)) + text[position + cut :]
    folder = tmp_path_factory.mktemp("fuzz")
    path = folder / "Pulumi.fuzz.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogateescape")
    started = time.monotonic()
    assert plan_cli.main(["--config", str(path), "--out", str(folder / "plan"), "--quiet"]) in (0, 2)
    assert time.monotonic() - started < 10, "one input took too long"
