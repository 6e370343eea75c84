"""The trust summary written for a security reviewer (trust.md), for machines (trust.json) and, compact, for the
console. Lines are never hard-wrapped or shortened: an identity, URI or scope is always whole on its line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def _code(text: object) -> str:
    value = str(text)
    return f"`` {value} ``" if "`" in value else f"`{value}`"


def _codes(values: list[Any]) -> str:
    return ", ".join(_code(v) for v in values) if values else "none"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _identity(entry: dict[str, Any]) -> str:
    subject = (
        f"subject {_code(entry['subject'])}"
        if "subject" in entry
        else f"subject pattern {_code(entry['subjectPattern'])}"
    )
    callers = f", callers {_codes(entry['callers'])}" if entry.get("callers") else ""
    name = f"identity {_code(entry['name'])}: " if entry.get("name") else "identity: "
    return f"{name}issuer {_code(entry['issuer'])}, {subject}{callers}"


def _signer_lines(signers: dict[str, Any], indent: str) -> list[str]:
    lines = [f"{indent}- {_identity(i)}" for i in signers["identities"]]
    lines += [f"{indent}- key {_code(k['name'])}: {_code(k['location'])}" for k in signers["keys"]]
    return lines or [f"{indent}- nobody: no trusted identity or key"]


def _exception_line(e: dict[str, Any]) -> str:
    return (
        f"- {_code(e['name'])} in namespace {_code(e['namespace'])}: images {_codes(e['images'])}; "
        f"owner {e['owner']}; expires {e['expires']}; reason: {e['reason']}"
    )


def _namespace_lines(name: str, ns: dict[str, Any]) -> list[str]:
    mode = f"**{ns['mode']}**" + (
        f" until {ns['auditUntil']} (then the plan refuses audit)" if ns["auditUntil"] else ""
    )
    named = f" (signers {_codes(ns['signersNamed'])})" if ns["signersNamed"] else " (any trusted signer)"
    lines = [f"### Namespace `{name}`", "", f"- Mode: {mode}", f"- May sign images run here{named}:"]
    lines += _signer_lines(ns["signers"], "  ")
    lines.append(f"- Repositories: {_codes(ns['repositories']) if ns['repositories'] else 'any of the registries'}")
    attestations = ns["attestations"]
    sbom = attestations.get("sbom")
    lines.append(
        f"- Requires SBOM: {sbom['format']} ({_code(sbom['predicateType'])})" if sbom else "- Requires SBOM: no"
    )
    if (p := attestations.get("provenance")) is not None:
        signer = _identity(p["signer"]) if p["signer"] else "any of the namespace's signers"
        ref = _code(p["sourceRef"]) if p["sourceRef"] else "any ref"
        lines.append(
            f"- Requires provenance: builder id {_code(p['builderId'])}, source repository "
            f"{_code(p['sourceRepository'])} at {ref}, signed by {signer}"
        )
    else:
        lines.append("- Requires provenance: no")
    lines.append("- Exceptions:" + ("" if ns["exceptions"] else " none"))
    lines += ["  " + _exception_line(e) for e in ns["exceptions"]]
    lines += [f"- Exempt: {'yes' if ns['exempt'] else 'no'}", ""]
    return lines


def _admission_lines(admission: dict[str, Any]) -> list[str]:
    unlisted, registries = admission["unlisted"], admission["registries"]
    lines = [
        "## Admission",
        "",
        "### Namespaces not listed",
        "",
        f"- Mode: **{unlisted['mode']}**; checks: {unlisted['checks']}",
    ]
    if unlisted["signers"] is not None:
        lines.append("- May sign images run there (any trusted signer):")
        lines += _signer_lines(unlisted["signers"], "  ")
    lines.append("- Requires SBOM: no; requires provenance: no")
    lines.append(f"- Never matched (the engines' own and kube-system): {_codes(admission['neverMatched'])}")
    lines.append("- Exempt namespaces:" + ("" if admission["exemptNamespaces"] else " none"))
    lines += [
        f"  - {_code(e['name'])}: owner {e['owner']}; reason: {e['reason']}" for e in admission["exemptNamespaces"]
    ]
    lines += [
        f"- Registries admitted: {_codes(registries['allowed'])}; images from {_codes(registries['signed'])} must be "
        f"signed; by digest only: {'yes' if registries['requireDigest'] else 'no'}",
        f"- Sigstore: {_code(admission['sigstore']['rekorUrl'])}"
        + (" (public good)" if admission["sigstore"]["publicGood"] else " (private instance)"),
        "",
    ]
    for name, ns in sorted(admission["namespaces"].items()):
        lines += _namespace_lines(name, ns)
    lines += ["## Exceptions", ""]
    lines += [_exception_line(e) for e in admission["exceptions"]] or ["none"]
    return [*lines, ""]


def _key_lines(keys: dict[str, Any]) -> list[str]:
    lines = ["## Signing keys", ""]
    for name, key in sorted(keys.items()):
        tlog = "required" if key["transparencyLogRequired"] else "not required"
        lines += [f"### Key `{name}`", "", f"- Kind: {key['kind']}", f"- Lives in: {_code(key['location'])}"]
        lines.append(f"- Transparency log: {tlog}")
        lines.append("- Previous versions still trusted:" + ("" if key["previousVersions"] else " none"))
        lines += [
            f"  - {_code(v['version'])} until {v['until']}: {_code(v['location'])}" for v in key["previousVersions"]
        ]
        lines.append(f"- Can sign with it: {', '.join(key['signers']) if key['signers'] else 'nobody in this stack'}")
        lines.append("")
    return lines or ["## Signing keys", "", "none", ""]


def _egress_lines(egress: dict[str, Any]) -> list[str]:
    lines = [
        "## Build agents' egress",
        "",
        "### Firewall rules",
        "",
    ]
    if not egress["firewall"]:
        lines.append("No firewall (`network.egress.mode: nsg-only`): only the NSG rules below decide, by service tag.")
    else:
        lines += [
            "| policy | collection | action | rule | from | to | port/protocol | why |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
    lines += [
        f"| {r['firewallPolicy']} | {r['collection']} | {r['action']} | {r['rule']} | {_cell(', '.join(r['from']))} "
        f"| {_cell(', '.join(r['to']))} | {', '.join(r['ports'])} | {_cell(r['why'])} |"
        for r in egress["firewall"]
    ]
    lines += [
        "",
        "### NSG outbound rules (in priority order)",
        "",
        "| NSG | subnet | priority | access | rule | protocol | to | ports | why |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    lines += [
        f"| {r['nsg']} | {r['subnet']} | {r['priority']} | {r['access']} | {r['rule']} | {r['protocol']} "
        f"| {_cell(', '.join(r['to']))} | {', '.join(r['ports'])} | {_cell(r['why'])} |"
        for r in egress["nsg"]
    ]
    lines += [
        "",
        "### Names the agents can resolve (DNS security policy, in priority order; a name covers its subdomains)",
        "",
    ]
    if egress["dns"]:
        lines += ["| policy | priority | rule | answer | names |", "| --- | --- | --- | --- | --- |"]
        lines += [
            f"| {r['policy']} | {r['priority']} | {r['rule']}{'' if r['state'] == 'Enabled' else ' (disabled)'} "
            f"| {r['action']} | {_cell(', '.join('every name' if n == '.' else n for n in r['names']))} |"
            for r in egress["dns"]
        ]
    else:
        lines.append("No DNS security policy: the agents can resolve any name (`network.egress.dnsFilteringEnabled`).")
    return [*lines, ""]


def _role_lines(roles: list[dict[str, Any]]) -> list[str]:
    lines = ["## Role assignments"]
    principal = None
    for r in roles:
        if r["principal"] != principal:
            principal = r["principal"]
            lines += ["", f"### {_code(principal)} ({r['principalKind']})", ""]
        kind = r["roleKind"]
        if kind == "custom":
            kind += f": {_codes(r['actions'] + r['dataActions'])}"
        sign = " (can sign with vault keys)" if r["grantsKeySign"] else ""
        condition = f"; only where {_code(r['condition'])}" if r.get("condition") else ""
        lines.append(
            f"- **{r['role']}** ({kind}){sign} on {_code(r['scope'])}{condition}; assignment {_code(r['assignment'])}"
        )
    return [*lines, ""]


def trust_markdown(summary: dict[str, Any]) -> str:
    """trust.md: admission per namespace, exceptions, keys, then (Azure stacks) egress and role assignments."""
    lines = [
        f"# Trust summary of stack `{summary['stack']}`",
        "",
        "Who may sign what runs in each namespace, what it requires, which keys sign and who can sign with them"
        + (", what the build agents may reach and which roles the stack assigns." if "egress" in summary else ".")
        + " The same data is in trust.json.",
        "",
    ]
    if "egress" not in summary:
        lines += ["This stack creates no Azure resources: no build-agent egress, no role assignments.", ""]
    lines += _admission_lines(summary["admission"]) + _key_lines(summary["keys"])
    if "egress" in summary:
        lines += _egress_lines(summary["egress"]) + _role_lines(summary["roleAssignments"])
    return "\n".join(lines).rstrip("\n") + "\n"


def trust_compact(summary: dict[str, Any]) -> list[str]:
    """The console version: one line per namespace, key and count; every identity whole."""
    admission = summary["admission"]
    lines = [f"Trust summary of {summary['stack']!r} (trust.md):"]
    for name, ns in sorted(admission["namespaces"].items()):
        until = f" until {ns['auditUntil']}" if ns["auditUntil"] else ""
        signers = [i.get("subject") or i.get("subjectPattern") for i in ns["signers"]["identities"]]
        signers += [f"key {k['name']}" for k in ns["signers"]["keys"]]
        needs = [a for a in ("sbom", "provenance") if a in ns["attestations"]]
        lines.append(
            f"  {name}: {ns['mode']}{until}; signed by {', '.join(signers) or 'nobody'}; "
            f"requires {', '.join(needs) or 'signatures only'}; {len(ns['exceptions'])} exceptions"
        )
    lines.append(
        f"  unlisted namespaces: {admission['unlisted']['mode']}; exempt: "
        f"{', '.join(e['name'] for e in admission['exemptNamespaces']) or 'none'}; "
        f"registries: {', '.join(admission['registries']['allowed'])}"
    )
    for name, key in sorted(summary["keys"].items()):
        lines.append(f"  key {name}: {key['location']}; can sign: {', '.join(key['signers']) or 'nobody'}")
    if "egress" in summary:
        hosts = {h for r in summary["egress"]["firewall"] if r["action"] == "Allow" for h in r["to"]}
        resolvable = {n for r in summary["egress"]["dns"] if r["action"] == "Allow" for n in r["names"]}
        dns = f"{len(resolvable)} names resolvable" if summary["egress"]["dns"] else "any name resolvable"
        lines.append(
            f"  egress: {len(hosts)} firewall destinations, {len(summary['egress']['nsg'])} NSG outbound rules, "
            f"{dns}; {len(summary['roleAssignments'])} role assignments"
        )
    return lines


def write_trust(out: Path, summary: dict[str, Any]) -> None:
    """Write trust.json and trust.md into the plan directory."""
    (out / "trust.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    (out / "trust.md").write_text(trust_markdown(summary))
