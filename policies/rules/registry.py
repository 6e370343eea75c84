"""The container registry: nobody pulls without an identity, nothing leaves it, and its endpoint is private."""

from __future__ import annotations

from pulumi_policy import ReportViolation, ResourceValidationArgs

from policies.rules.base import ADVISORY, MANDATORY, dig, resource_policy
from policies.rules.network import too_wide

REGISTRY = "azure-native:containerregistry:Registry"


def _no_shared_access(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.props.get("adminUserEnabled") is not False:
        report("the admin user is on: one shared password pushes and pulls every image", None)
    if args.props.get("anonymousPullEnabled") is True:
        report("anonymous pull is on: anyone who reaches the registry reads every image", None)


def _export_off(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if dig(args.props, "policies", "exportPolicy", "status") != "disabled":
        report("export is allowed: images can be copied out of the registry's network rules", None)


def _public_endpoint_allowlisted(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.props.get("publicNetworkAccess") == "Disabled":
        return
    rules = args.props.get("networkRuleSet") or {}
    if rules.get("defaultAction") != "Deny" or not rules.get("ipRules"):
        report("the public endpoint is open without an IP allowlist (default action Deny with listed ranges)", None)
    for rule in rules.get("ipRules") or []:
        if too_wide(str(rule.get("iPAddressOrRange") or "")):
            report(f"the allowlist holds {rule.get('iPAddressOrRange')}: the Internet, not a list", None)


def _endpoint_private(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.props.get("publicNetworkAccess") != "Disabled":
        ranges = [rule.get("iPAddressOrRange") for rule in dig(args.props, "networkRuleSet", "ipRules") or []]
        report(f"the public endpoint is on (allowed: {', '.join(map(str, ranges)) or 'nobody listed'})", None)


def _bypass_off(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.props.get("networkRuleBypassOptions") != "None":
        report("trusted Azure services bypass the network rules", None)


def _retention_keeps_running_images(args: ResourceValidationArgs, report: ReportViolation) -> None:
    retention = dig(args.props, "policies", "retentionPolicy") or {}
    if retention.get("status") == "enabled":
        report(
            f"untagged manifests are deleted after {retention.get('days')} days, including images still running "
            "by digest after their tag moved",
            None,
        )


POLICIES = [
    resource_policy(
        "registry-no-shared-access",
        resource_type=REGISTRY,
        description="The registry has no admin user and no anonymous pull: every push and pull is an identity's.",
        level=MANDATORY,
        remediation="Set adminUserEnabled and anonymousPullEnabled to false; grant AcrPull/AcrPush to identities.",
        check=_no_shared_access,
    ),
    resource_policy(
        "registry-export-off",
        resource_type=REGISTRY,
        description="The registry's export policy is disabled, so images cannot be exported past its network rules.",
        level=MANDATORY,
        remediation="Set policies.exportPolicy.status to disabled (needs public network access off).",
        check=_export_off,
    ),
    resource_policy(
        "registry-public-endpoint-allowlisted",
        resource_type=REGISTRY,
        description="If the registry's public endpoint is on at all, it denies by default and admits listed ranges.",
        level=MANDATORY,
        remediation="Set registry.allowedIpRanges, or turn registry.publicNetworkAccessEnabled off.",
        check=_public_endpoint_allowlisted,
    ),
    resource_policy(
        "registry-endpoint-private",
        resource_type=REGISTRY,
        description="The registry is reached through its private endpoint only.",
        level=ADVISORY,
        remediation="Turn registry.publicNetworkAccessEnabled off and reach the registry over its private endpoint.",
        check=_endpoint_private,
    ),
    resource_policy(
        "registry-bypass-off",
        resource_type=REGISTRY,
        description="No trusted-services bypass of the registry's network rules.",
        level=ADVISORY,
        remediation="Turn registry.azureServicesBypassEnabled off.",
        check=_bypass_off,
    ),
    resource_policy(
        "registry-retention-keeps-running-images",
        resource_type=REGISTRY,
        description="Untagged manifests are kept: admission pins images by digest, and a running digest must stay.",
        level=ADVISORY,
        remediation="Remove registry.retentionDays where images run by digest (prod keeps untagged manifests).",
        check=_retention_keeps_running_images,
    ),
]
