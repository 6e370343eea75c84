"""A provenance statement missing any field the Kyverno policy reads is refused with the policy's own
message, in either SLSA version, never an evaluation error: Kyverno ignores an engine error in audit and
reports it as an engine failure in enforce, and neither tells the builder what is missing. The CEL
harness evaluates `has()` as cel-go does (a missing field before the last one is an error)."""

from __future__ import annotations

from copy import deepcopy
from typing import Any

import pytest

from components.model.contract import SLSA_PROVENANCE_V02, SLSA_PROVENANCE_V1
from scripts.checks.provenance import github_provenance_v1
from tests.cel_harness import Registry, admit, pod
from tests.test_kyverno import DIGEST, WORKFLOW, policies_of

V1 = github_provenance_v1(WORKFLOW, "https://github.com/contoso/payments-api", "refs/heads/main")
V02 = {
    "builder": {"id": WORKFLOW},
    "invocation": {
        "configSource": {
            "uri": "git+https://github.com/contoso/payments-api@refs/heads/main",
            "digest": {"sha1": "0123456789abcdef0123456789abcdef01234567"},
        }
    },
}
IMAGE = {
    "prod": f"crcontosoprod.azurecr.io/payments/api{DIGEST}",
    "dev": f"crcontosodev.azurecr.io/payments/api{DIGEST}",
}
REFUSAL = (
    "the image's provenance does not name builder "
    "https://github.com/contoso/workflows/.github/workflows/build-sign-attest.yml@refs/heads/main "
    "and source https://github.com/contoso/payments-api at refs/heads/main"
)


def _without(predicate: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    trimmed = deepcopy(predicate)
    parent = trimmed
    for key in path[:-1]:
        parent = parent[key]
    del parent[path[-1]]
    return trimmed


def _decide(stack: str, predicate_type: str, predicate: dict[str, Any]) -> tuple[bool, str | None]:
    image = IMAGE[stack]
    registry = Registry().attest(image, predicate_type, predicate, "keyless")
    outcome = admit(policies_of(stack)["require-provenance-payments"], pod("payments", [image]), registry)
    return outcome.allowed, outcome.message


@pytest.mark.parametrize("stack", ["prod", "dev"])
@pytest.mark.parametrize(("predicate_type", "predicate"), [(SLSA_PROVENANCE_V1, V1), (SLSA_PROVENANCE_V02, V02)])
def test_the_whole_statement_is_admitted(stack: str, predicate_type: str, predicate: dict[str, Any]) -> None:
    assert _decide(stack, predicate_type, predicate) == (True, None)


@pytest.mark.parametrize("stack", ["prod", "dev"])  # enforce and audit
@pytest.mark.parametrize(
    "missing",
    [
        ("runDetails",),
        ("runDetails", "builder"),
        ("runDetails", "builder", "id"),
        ("buildDefinition",),
        ("buildDefinition", "buildType"),
        ("buildDefinition", "externalParameters"),
        ("buildDefinition", "externalParameters", "workflow"),
        ("buildDefinition", "externalParameters", "workflow", "repository"),
        ("buildDefinition", "externalParameters", "workflow", "ref"),
    ],
)
def test_a_v1_statement_missing_a_field_is_refused(stack: str, missing: tuple[str, ...]) -> None:
    assert _decide(stack, SLSA_PROVENANCE_V1, _without(V1, missing)) == (False, REFUSAL)


@pytest.mark.parametrize("stack", ["prod", "dev"])
@pytest.mark.parametrize(
    "missing",
    [
        ("builder",),
        ("builder", "id"),
        ("invocation",),
        ("invocation", "configSource"),
        ("invocation", "configSource", "uri"),
        ("invocation", "configSource", "digest"),
        ("invocation", "configSource", "digest", "sha1"),
    ],
)
def test_a_v02_statement_missing_a_field_is_refused(stack: str, missing: tuple[str, ...]) -> None:
    assert _decide(stack, SLSA_PROVENANCE_V02, _without(V02, missing)) == (False, REFUSAL)
