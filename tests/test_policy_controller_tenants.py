"""Policy Controller's tenant policies: an enforce namespace with its own signers and repositories gets
`tenant-<ns>`, which binds those repositories (by tag or digest, one path segment per `*`) to those
signers; nothing else does. The documents are read as Policy Controller reads them: an image glob over
the whole reference, and the policy names the deploy lists."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.test_policy_controller import docs_of, glob_matches
from tests.upstream import crd_errors

REG = "crcontosoprod.azurecr.io"
DIGEST = "@sha256:" + "a" * 64


def _covered(doc: dict[str, Any], image: str) -> bool:
    return any(glob_matches(g["glob"], image) for g in doc["spec"]["images"])


def test_an_audit_namespace_gets_no_tenant_policy_even_with_signers_and_repositories() -> None:
    def audited_tenant(raw: dict[str, Any]) -> None:
        raw["admission"]["namespaces"]["analytics"].update(signers=["storefront-release"], repositories=["analytics/*"])

    assert sorted(docs_of("prod", audited_tenant)) == [
        "attest-provenance-payments",
        "attest-sbom-payments",
        "attest-sbom-storefront",
        "tenant-payments",
        "tenant-storefront",
        "verify-image-signatures",
    ], "Policy Controller would enforce the audit namespace's signers wherever its images run"


def test_a_namespace_without_signers_or_without_repositories_gets_no_tenant_policy() -> None:
    def payments_any_repository(raw: dict[str, Any]) -> None:
        del raw["admission"]["namespaces"]["payments"]["repositories"]

    def storefront_any_signer(raw: dict[str, Any]) -> None:
        del raw["admission"]["namespaces"]["storefront"]["signers"]

    assert sorted(docs_of("prod", payments_any_repository)) == [
        "attest-sbom-storefront",
        "tenant-storefront",
        "verify-image-signatures",
    ], "without repositories Policy Controller cannot scope payments' signers or attestations"
    assert sorted(docs_of("prod", storefront_any_signer)) == [
        "attest-provenance-payments",
        "attest-sbom-payments",
        "attest-sbom-storefront",
        "tenant-payments",
        "verify-image-signatures",
    ], "storefront's SBOM is still required of its repositories, signed by any trusted signer"


def test_an_exact_repository_is_bound_by_tag_and_by_digest(shared_dir: Path) -> None:
    def exact(raw: dict[str, Any]) -> None:
        raw["admission"]["namespaces"]["payments"]["repositories"] = ["payments/api"]

    tenant = docs_of("prod", exact)["tenant-payments"]
    assert crd_errors(tenant) == []
    assert tenant["spec"]["mode"] == "enforce", "warn would only log a foreign signer"
    assert _covered(tenant, f"{REG}/payments/api{DIGEST}")
    assert _covered(tenant, f"{REG}/payments/api:1.2.3")
    assert not _covered(tenant, f"{REG}/payments/worker{DIGEST}")


@pytest.mark.parametrize(
    ("image", "covered"),
    [
        (f"{REG}/payments/api{DIGEST}", True),
        (f"{REG}/payments/worker:2.0.0", True),
        (f"{REG}/payments/team/api{DIGEST}", False),  # `*` stays within one path segment, as in the config
        (f"{REG}/storefront/web{DIGEST}", False),
    ],
)
def test_a_repository_glob_binds_one_path_segment(image: str, covered: bool) -> None:
    tenant = docs_of("prod")["tenant-payments"]
    assert tenant["spec"]["mode"] == "enforce"
    assert _covered(tenant, image) is covered
