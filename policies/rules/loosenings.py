"""Choices the config allows with a review (advisory), read from what is deployed: signatures without a log
entry, a registry read over HTTP, images admitted by tag, an agent image that moves, a runner group open wider."""

from __future__ import annotations

from pulumi_policy import ReportViolation, ResourceValidationArgs

from policies.rules.base import ADVISORY, MANDATORY, dig, resource_policy

IMAGE_POLICY = "kubernetes:policies.kyverno.io/v1:ImageValidatingPolicy"
SCALE_SET = "azure-native:compute:VirtualMachineScaleSet"
RUNNER_GROUP = "github:index/actionsRunnerGroup:ActionsRunnerGroup"


def _logged(args: ResourceValidationArgs, report: ReportViolation) -> None:
    for attestor in dig(args.props, "spec", "attestors") or []:
        if dig(attestor, "cosign", "ctlog", "insecureIgnoreTlog") is True:
            report(f"attestor {attestor.get('name')} accepts signatures without a transparency-log entry", None)


def _over_https(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if dig(args.props, "spec", "credentials", "allowInsecureRegistry") is True:
        report("the registry is read over plain HTTP: images and signatures can be swapped in transit", None)


def _by_digest(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if dig(args.props, "spec", "validationConfigurations", "mutateDigest") is True:
        report("images may be referenced by tag (Kyverno pins the verified digest onto the pod)", None)


def _image_pinned(args: ResourceValidationArgs, report: ReportViolation) -> None:
    image = dig(args.props, "virtualMachineProfile", "storageProfile", "imageReference") or {}
    if image.get("version") == "latest" or str(image.get("id") or "").lower().endswith("/versions/latest"):
        report("the agents' image is `latest`: an image change reaches every job without review", None)


def _group_selected(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.props.get("visibility") != "selected":
        report(f"runner group visibility {args.props.get('visibility')}: every repository may use the agents", None)
    if args.props.get("allowsPublicRepositories") is True:
        report("public repositories may use the agents: anyone's pull request runs on them", None)


def _group_workflows(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.props.get("restrictedToWorkflows") is not True:
        report("any workflow of the listed repositories may run on the agents", None)


POLICIES = [
    resource_policy(
        "admission-transparency-log-required",
        resource_type=IMAGE_POLICY,
        description="Signatures are accepted only with a transparency-log entry (a public, monitored record).",
        level=ADVISORY,
        remediation="Set signing.keys[].transparencyLogRequired (refused off in prod).",
        check=_logged,
    ),
    resource_policy(
        "admission-registry-over-https",
        resource_type=IMAGE_POLICY,
        description="The engines read the registry over HTTPS.",
        level=ADVISORY,
        remediation="Turn registry.plainHttpEnabled off (local stacks only).",
        check=_over_https,
    ),
    resource_policy(
        "admission-images-by-digest",
        resource_type=IMAGE_POLICY,
        description="Pods name images by digest; no tag is resolved at admission.",
        level=ADVISORY,
        remediation="Set admission.requireDigest (prod's default).",
        check=_by_digest,
    ),
    resource_policy(
        "agents-image-pinned",
        resource_type=SCALE_SET,
        description="The agents' image is a pinned version, so an image change goes through review.",
        level=ADVISORY,
        remediation="Pin buildAgents.image.version or a gallery image version (refused unpinned in prod).",
        check=_image_pinned,
    ),
    resource_policy(
        "runner-group-selected-repositories",
        resource_type=RUNNER_GROUP,
        description="The agents' runner group admits the listed repositories only, never public ones.",
        level=MANDATORY,
        remediation="Keep visibility selected with buildAgents.runner.repositories; public repositories off.",
        check=_group_selected,
    ),
    resource_policy(
        "runner-group-workflows-listed",
        resource_type=RUNNER_GROUP,
        description="The agents' runner group runs only the listed workflows.",
        level=ADVISORY,
        remediation="List the release workflows in buildAgents.runner.workflows.",
        check=_group_workflows,
    ),
]
