"""Field types and checks shared by the config sections: networks, names, URLs, identity patterns,
public keys, and the base model every section derives from."""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import re
from datetime import UTC, date, datetime
from typing import Annotated, Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, ValidationInfo
from pydantic.alias_generators import to_camel

from components.model.config.text import shown


def _strict_network(value: Any) -> ipaddress.IPv4Network:
    if isinstance(value, ipaddress.IPv4Network):
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected an IPv4 CIDR string such as 10.40.0.0/16, got {shown(value)}")
    try:
        network = ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise ValueError(f"{shown(value)} is not an IPv4 CIDR — write it as a.b.c.d/nn, e.g. 10.40.0.0/16") from None
    if not isinstance(network, ipaddress.IPv4Network):
        raise ValueError(f"{shown(value)} is IPv6 — this project plans IPv4 address space only")
    if "/" not in value:
        raise ValueError(f"{shown(value)} has no prefix length — write {network}")
    if str(network) != value.strip():
        raise ValueError(f"{shown(value)} has host bits set — the network is {network}")
    return network


Cidr = Annotated[ipaddress.IPv4Network, BeforeValidator(_strict_network)]
"""An IPv4 network written exactly as a.b.c.d/nn, host bits clear (so the plan shows what was meant)."""


# Every pattern is ASCII-only and matched against the whole value (`fullmatch`): `$` would accept a
# trailing newline, and `\d` / `\w` any Unicode digit or letter.
_DNS_LABEL = re.compile(r"[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?")
_HOST_LABEL = re.compile(r"[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?", re.IGNORECASE)
_TLD = re.compile(r"[a-z]{2,63}|xn--[a-z0-9-]{1,59}")
_GUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_WORKSPACE_ID = re.compile(
    rf"/subscriptions/{_GUID}/resource[gG]roups/[-A-Za-z0-9_.()]{{1,90}}"
    r"/providers/Microsoft\.OperationalInsights/workspaces/[A-Za-z0-9][-A-Za-z0-9]{2,61}[A-Za-z0-9]",
    re.IGNORECASE,
)
_URL_PATH = re.compile(r"(?:/[-A-Za-z0-9._~%!$&'()*+,;=:@]*)*")


def host_problem(host: str) -> str | None:
    """Why `host` is not a DNS name, `localhost` or an IPv4 address (ASCII, labels of at most 63), if not."""
    if host == "localhost":
        return None
    if re.fullmatch(r"[0-9.]+", host):
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            return f"{shown(host)} is not an IPv4 address"
        return None
    labels = host.split(".")
    if len(host) > 253 or not all(_HOST_LABEL.fullmatch(label) for label in labels):
        return f"{shown(host)} is not a host name (ASCII letters, digits and '-', dot-separated labels of at most 63)"
    return None


def host_port_problem(value: str) -> str | None:
    """Why `value` is not `host[:port]` with a port of 1-65535 in ASCII digits, if it is not."""
    host, colon, port = value.partition(":")
    if colon and not (re.fullmatch(r"[0-9]{1,5}", port) and 1 <= int(port) <= 65535):
        return f"{shown(value)} has port {shown(port)} — a port is 1-65535, in ASCII digits"
    return host_problem(host)


def _namespace_name(value: str) -> str:
    if not _DNS_LABEL.fullmatch(value):
        raise ValueError(
            f"{shown(value)} is not a Kubernetes namespace name (lower-case letters, digits and '-', at most 63)"
        )
    return value


def _fqdn(value: str) -> str:
    if "*" in value:
        raise ValueError(
            f"{shown(value)} is a wildcard — egress rules name exact hosts so reviewers see what agents can reach"
        )
    labels = value.split(".")
    if (
        value != value.lower()
        or len(value) > 253
        or len(labels) < 2
        or not all(_DNS_LABEL.fullmatch(label) for label in labels)
        or not _TLD.fullmatch(labels[-1])
    ):
        raise ValueError(f"{shown(value)} is not a lower-case fully qualified domain name such as pypi.org")
    return value


def _https_url(value: str) -> str:
    scheme, sep, rest = value.partition("://")
    authority, slash, path = rest.partition("/")
    if scheme != "https" or not sep:
        raise ValueError(f"{shown(value)} must be an https:// URL")
    if "@" in authority or "?" in value or "#" in value:
        raise ValueError(f"{shown(value)} must be a plain https://host[:port]/path URL (no user, query or fragment)")
    if (problem := host_port_problem(authority)) is not None:
        raise ValueError(f"{shown(value)} has an invalid host: {problem}")
    if not _URL_PATH.fullmatch(slash + path):
        raise ValueError(f"{shown(value)} has characters a URL path cannot hold — percent-encode them")
    return value


def _host_port(value: str) -> str:
    if (problem := host_port_problem(value)) is not None:
        raise ValueError(problem)
    return value


NamespaceName = Annotated[str, AfterValidator(_namespace_name)]
Fqdn = Annotated[str, AfterValidator(_fqdn)]
HttpsUrl = Annotated[str, AfterValidator(_https_url)]
HostPort = Annotated[str, AfterValidator(_host_port)]


def _workspace_id(value: str) -> str:
    if not _WORKSPACE_ID.fullmatch(value):
        raise ValueError(
            "must be a resource id /subscriptions/<guid>/resourceGroups/<rg>/providers/"
            "Microsoft.OperationalInsights/workspaces/<name>"
        )
    return value


WorkspaceId = Annotated[str, AfterValidator(_workspace_id)]


class ConfigModel(BaseModel):
    """Base of every config section: camelCase keys as written in stack YAML, unknown keys refused
    (a typo silently ignored is a security setting silently dropped), immutable once validated."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        alias_generator=to_camel,
        populate_by_name=False,
        validate_default=True,
    )


def public_key_problems(pem: str) -> list[str]:
    """Why `pem` is not an acceptable verification key (EC P-256/P-384 or RSA >= 2048), if it is not."""
    try:
        key = load_pem_public_key(pem.encode())
    except (ValueError, TypeError):
        return ["is not a PEM public key (-----BEGIN PUBLIC KEY-----) — paste the public key, e.g. `cosign public-key`"]
    if isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name not in ("secp256r1", "secp384r1"):
            return [f"EC curve {key.curve.name} is not supported by the engines — use P-256 or P-384"]
        return []
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < 2048:
            return [f"RSA key of {key.key_size} bits is too weak — use at least 2048"]
        return []
    return [f"{type(key).__name__} keys are not supported — use EC P-256/P-384 or RSA >= 2048"]


def _public_key_pem(pem: str) -> str:
    if problems := public_key_problems(pem):
        raise ValueError(problems[0])
    return pem


PublicKeyPem = Annotated[str, AfterValidator(_public_key_pem)]
"""A verification key the engines accept (EC P-256/P-384 or RSA >= 2048), as PEM."""

KEY_NAME = r"^[0-9a-zA-Z-]{1,127}$"


_PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----\n[A-Za-z0-9+/=\n]+-----END \1-----\n?")


def certificate_chain_problems(pem: str) -> list[str]:
    """Why `pem` is not a chain of PEM certificates (and nothing else), if it is not."""
    text = pem.strip() + "\n"
    blocks = list(_PEM_BLOCK.finditer(text))
    if not blocks or "".join(b.group(0).rstrip("\n") + "\n" for b in blocks) != text:
        return ["is not PEM text (-----BEGIN CERTIFICATE----- blocks, one after another) — paste the chain as issued"]
    kinds = {b.group(1) for b in blocks} - {"CERTIFICATE"}
    if kinds:
        return [f"holds {', '.join(sorted(kinds))} blocks besides certificates — keep only the chain's certificates"]
    try:
        x509.load_pem_x509_certificates(text.encode())
    except ValueError:
        return ["holds a certificate that does not parse — paste the chain as issued"]
    return []


def tuf_root_problems(value: str) -> list[str]:
    """Why `value` is not the base64 of a TUF root.json (a signed `root` role with keys), if it is not."""
    try:
        document = json.loads(base64.b64decode(value, validate=True))
    except (binascii.Error, ValueError):
        return ["is not base64 of a JSON document — write base64 of the instance's TUF root.json"]
    signed = document.get("signed") if isinstance(document, dict) else None
    if not isinstance(signed, dict) or signed.get("_type") != "root":
        return ["is base64 JSON, but not a TUF root (no signed._type: root) — use the instance's root.json"]
    roles = signed.get("roles")
    if not isinstance(signed.get("keys"), dict) or not isinstance(roles, dict) or "root" not in roles:
        return ["is a TUF root without keys or a root role — use the instance's published root.json"]
    if not isinstance(document.get("signatures"), list) or not document["signatures"]:
        return ["is an unsigned TUF root — use the instance's published (signed) root.json"]
    return []


def today_of(info: ValidationInfo) -> date:
    """The date rules compare deadlines with: the parse context's `today`, else the real date."""
    context = info.context or {}
    today = context.get("today")
    return today if isinstance(today, date) else datetime.now(UTC).date()
