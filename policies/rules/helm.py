"""Helm releases of the admission engines: an exact chart version from the engine's own repository."""

from __future__ import annotations

import re
from typing import Any

from pulumi_policy import ReportViolation, ResourceValidationArgs

from policies.rules.base import MANDATORY, config_value, resource_policy

RELEASE = "kubernetes:helm.sh/v3:Release"

REPOSITORY_SCHEMA: dict[str, dict[str, Any]] = {
    "chartRepositories": {
        "type": "object",
        "additionalProperties": {"type": "string"},
        "default": {
            "kyverno": "https://kyverno.github.io/kyverno/",
            "policy-controller": "https://sigstore.github.io/helm-charts",
        },
        "description": "The repository each chart must come from (a mirror's URL where the estate mirrors them).",
    }
}

_EXACT_VERSION = re.compile(r"^v?[0-9]+\.[0-9]+\.[0-9]+(?:-[0-9A-Za-z.-]+)?$")


def _pinned(args: ResourceValidationArgs, report: ReportViolation) -> None:
    chart = str(args.props.get("chart") or "")
    version = str(args.props.get("version") or "")
    if not _EXACT_VERSION.match(version):
        report(f"chart {chart} is not pinned to an exact version ({version or 'none'})", None)
    expected = config_value(args, REPOSITORY_SCHEMA, "chartRepositories").get(chart)
    repository = str((args.props.get("repositoryOpts") or {}).get("repo") or "")
    if expected is None:
        report(f"chart {chart} is not one of the admission engines' charts", None)
    elif repository.rstrip("/") != expected.rstrip("/"):
        report(f"chart {chart} comes from {repository or 'no repository'}, not {expected}", None)


POLICIES = [
    resource_policy(
        "helm-charts-pinned",
        resource_type=RELEASE,
        description="Each Helm release is an exact chart version from the repository the pack's config names.",
        level=MANDATORY,
        remediation="Pin the chart version (the chain pins the engines' charts) and install from its repository.",
        check=_pinned,
        config=REPOSITORY_SCHEMA,
    ),
]
