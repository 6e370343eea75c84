"""SLSA provenance as the admission policies read it: the judge (does a statement name the trusted
builder and the build's own source?) and the writer the canaries use, kept side by side so the
canary that should pass is exactly what the judge accepts."""

from __future__ import annotations

import re
from typing import Any

from components.model.contract import GITHUB_ACTIONS_BUILD_TYPE, SLSA_PROVENANCE_V1
from components.model.trust import Provenance
from scripts.checks.documents import field

_COMMIT = re.compile("[0-9a-f]{40}")


def meets_provenance(p: Provenance, statement: dict[str, Any]) -> bool:
    """Whether an in-toto statement is SLSA provenance by builder `p.builder_id` of `p`'s source.

    v1 (GitHub Actions build type): the workflow's repository and ref in the external parameters, the
    build's own source, not a resolved dependency that merely names it. v0.2: the config source's URI
    and its commit digest."""
    predicate = field(statement, "predicate")
    if statement.get("predicateType") == SLSA_PROVENANCE_V1:
        workflow = field(predicate, "buildDefinition", "externalParameters", "workflow")
        return (
            field(predicate, "runDetails", "builder", "id") == p.builder_id
            and field(predicate, "buildDefinition", "buildType") == GITHUB_ACTIONS_BUILD_TYPE
            and field(workflow, "repository") == p.source_repository
            and (p.source_ref is None or field(workflow, "ref") == p.source_ref)
        )
    uri = field(predicate, "invocation", "configSource", "uri")
    digest = field(predicate, "invocation", "configSource", "digest", "sha1")
    source_ok = isinstance(uri, str) and (uri == p.source_uri if p.source_ref else uri.startswith(p.source_uri))
    return (
        field(predicate, "builder", "id") == p.builder_id
        and source_ok
        and isinstance(digest, str)
        and _COMMIT.fullmatch(digest) is not None
    )


def github_provenance_v1(builder_id: str, repository: str, ref: str, commit: str = "0" * 40) -> dict[str, Any]:
    """A SLSA v1 predicate as GitHub Actions' build type records a workflow run (the fields the judge reads)."""
    return {
        "buildDefinition": {
            "buildType": GITHUB_ACTIONS_BUILD_TYPE,
            "externalParameters": {
                "workflow": {"repository": repository, "ref": ref, "path": ".github/workflows/build.yml"}
            },
            "resolvedDependencies": [{"uri": f"git+{repository}@{ref}", "digest": {"gitCommit": commit}}],
        },
        "runDetails": {"builder": {"id": builder_id}},
    }
