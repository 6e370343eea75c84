"""SLSA provenance as the admission policies read it: the judge (does a statement name the trusted
builder and the build's own source?) and the writer the canaries use, kept side by side so the
canary that should pass is exactly what the judge accepts."""

from __future__ import annotations

import re
from typing import Any

from components.model.contract import GITHUB_ACTIONS_BUILD_TYPE, SLSA_PROVENANCE_V1
from components.model.trust import Provenance

_COMMIT = re.compile("[0-9a-f]{40}")


def _field(document: object, *path: str) -> object:
    """The value at `path`, or None where any step is missing or not an object (never raises)."""
    for key in path:
        if not isinstance(document, dict):
            return None
        document = document.get(key)
    return document


def meets_provenance(p: Provenance, statement: dict[str, Any]) -> bool:
    """Whether an in-toto statement is SLSA provenance by builder `p.builder_id` of `p`'s source.

    v1 (GitHub Actions build type): the workflow's repository and ref in the external parameters, the
    build's own source, not a resolved dependency that merely names it. v0.2: the config source's URI
    and its commit digest."""
    predicate = _field(statement, "predicate")
    if statement.get("predicateType") == SLSA_PROVENANCE_V1:
        workflow = _field(predicate, "buildDefinition", "externalParameters", "workflow")
        return (
            _field(predicate, "runDetails", "builder", "id") == p.builder_id
            and _field(predicate, "buildDefinition", "buildType") == GITHUB_ACTIONS_BUILD_TYPE
            and _field(workflow, "repository") == p.source_repository
            and (p.source_ref is None or _field(workflow, "ref") == p.source_ref)
        )
    uri = _field(predicate, "invocation", "configSource", "uri")
    digest = _field(predicate, "invocation", "configSource", "digest", "sha1")
    source_ok = isinstance(uri, str) and (uri == p.source_uri if p.source_ref else uri.startswith(p.source_uri))
    return (
        _field(predicate, "builder", "id") == p.builder_id
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
