"""The contract's derivations agree with their inverses, for any name the config admits."""

from __future__ import annotations

import json
import re
from datetime import date
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from components.model.contract import (
    SBOM_FORMATS,
    StackOutputs,
    acr_login_server,
    acr_name,
    kms_uri,
    parse_kms_uri,
    vault_name_for,
)
from components.model.trust import (
    Exemption,
    KeyAuthority,
    KeylessAuthority,
    NamespacePolicy,
    Provenance,
    SigstoreInstance,
    TrustModel,
)
from scripts.checks.errors import UsageError
from scripts.checks.outputs import read_trust_model

ACR_NAMES = st.from_regex(r"[A-Za-z0-9]{5,50}", fullmatch=True)
KEY_NAMES = st.from_regex(r"[0-9a-zA-Z-]{1,127}", fullmatch=True)
VERSIONS = st.none() | st.from_regex(r"[0-9a-f]{32}", fullmatch=True)


@given(ACR_NAMES)
def test_the_login_server_names_its_registry(name: str) -> None:
    assert acr_name(acr_login_server(name)) == name.lower()


@given(ACR_NAMES, KEY_NAMES, VERSIONS)
def test_a_kms_uri_reads_back_as_the_vault_key_and_version_it_names(name: str, key: str, version: str | None) -> None:
    vault = vault_name_for(name)
    assert 3 <= len(vault) <= 24
    assert vault[0].isalpha()
    assert not vault.endswith("-")
    parsed = parse_kms_uri(kms_uri(vault, key, version))
    assert parsed is not None
    assert (parsed.vault_url, parsed.key_name, parsed.version) == (f"https://{vault}.vault.azure.net", key, version)


@given(st.text(max_size=80))
def test_anything_else_is_not_a_kms_uri(text: str) -> None:
    parsed = parse_kms_uri(text)
    assert parsed is None or text == kms_uri(
        parsed.vault_url.removeprefix("https://").split(".")[0], parsed.key_name, parsed.version
    )


def test_a_registry_elsewhere_is_not_an_acr() -> None:
    assert acr_name("kind-registry:5000") is None
    assert acr_name("crcontoso.azurecr.io.evil.example") is None


def test_each_sbom_format_names_its_list() -> None:
    assert {k: f.list_field for k, f in SBOM_FORMATS.items()} == {"spdx": "packages", "cyclonedx": "components"}
    assert all(f.kind == k for k, f in SBOM_FORMATS.items())


def test_outputs_are_exported_under_the_keys_the_checks_read() -> None:
    exported = StackOutputs.exported(environment="dev", registry_login_server="cr.azurecr.io", trust_model={})
    assert exported == {"environment": "dev", "registryLoginServer": "cr.azurecr.io", "trustModel": {}}
    assert StackOutputs.model_validate(exported).registry_login_server == "cr.azurecr.io"


def test_an_undeclared_output_is_a_programming_error() -> None:
    with pytest.raises(TypeError, match="registry_loginserver"):
        StackOutputs.exported(registry_loginserver="typo")


# --- the trust model as the checks read it back from the stack outputs ----------------------------

GITHUB = "https://token.actions.githubusercontent.com"
BUILD_WORKFLOW = "https://github.com/contoso/builder/.github/workflows/build.yml@refs/heads/main"
BUILDER = KeylessAuthority(GITHUB, subject=BUILD_WORKFLOW, name="builder", provenance_only=True)
EVERY_FIELD_SET = TrustModel(
    keyless=(
        KeylessAuthority(
            GITHUB, subject_regexp=r"^https://github\.com/contoso/.+$", name="ci", callers=("contoso/ops",)
        ),
        KeylessAuthority("https://accounts.google.com", subject="release@contoso.example"),
    ),
    keys=(
        KeyAuthority(
            "release",
            public_key_pem="-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
            kms_uri="azurekms://kv-crcontoso.vault.azure.net/release/" + "a" * 32,
            transparency_log_required=False,
        ),
        KeyAuthority(
            "release-bbbbbbbb",
            kms_uri="azurekms://kv-crcontoso.vault.azure.net/release/" + "b" * 32,
            authority="release",
        ),
    ),
    sigstore=SigstoreInstance(
        rekor_url="https://rekor.contoso.example",
        rekor_public_key="rekor key",
        ct_log_url="https://ctlog.contoso.example",
        ct_log_public_key="ct log key",
        fulcio_url="https://fulcio.contoso.example",
        fulcio_roots="fulcio roots",
        tsa_url="https://tsa.contoso.example",
        tsa_cert_chain="tsa chain",
        tuf_mirror="https://tuf.contoso.example",
        tuf_root="tuf root",
    ),
    signed_registries=("crcontoso.azurecr.io",),
    allowed_registries=("crcontoso.azurecr.io", "mcr.microsoft.com"),
    namespaces=(
        NamespacePolicy(
            "payments",
            "enforce",
            "cyclonedx",
            Provenance(BUILD_WORKFLOW, "https://github.com/contoso/payments", "refs/heads/main", BUILDER),
            signers=("ci",),
            repositories=("payments/*",),
        ),
        NamespacePolicy("sandbox", "audit", "spdx", Provenance("https://builder.example/x", "https://git.example/a/b")),
    ),
    require_digest=True,
    exemptions=(
        Exemption(
            "legacy-batch",
            "payments",
            ("crcontoso.azurecr.io/batch:1.0", "crcontoso.azurecr.io/batch:1.1"),
            "platform-team",
            "vendor image until the migration",
            date(2026, 12, 31),
        ),
    ),
    plain_http_registry=True,
    registry_pull_secret="registry-pull",
    signature_format="legacy",
    default_mode="audit",
    exempt_namespaces=("monitoring",),
)


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def test_the_checks_read_back_every_field_of_the_deployed_trust_model() -> None:
    output = json.loads(json.dumps(EVERY_FIELD_SET.to_json()))
    assert output["exemptions"][0]["expires"] == "2026-12-31"
    assert TrustModel.from_json(output) == EVERY_FIELD_SET


def test_a_trust_model_output_without_its_null_entries_reads_the_same() -> None:
    sparse = TrustModel(
        keyless=(
            KeylessAuthority(GITHUB, subject="https://github.com/contoso/app/.github/workflows/r.yml@refs/heads/main"),
        ),
        keys=(KeyAuthority("local"),),
        sigstore=SigstoreInstance(),
        signed_registries=("127.0.0.1:5000",),
        allowed_registries=("127.0.0.1:5000",),
        namespaces=(
            NamespacePolicy("apps", "enforce"),
            NamespacePolicy(
                "builds", "audit", provenance=Provenance("https://ci.example/b", "https://git.example/a/b")
            ),
        ),
        require_digest=False,
    )
    output = _without_nulls(json.loads(json.dumps(sparse.to_json())))
    assert "registry_pull_secret" not in output
    assert TrustModel.from_json(output) == sparse


def test_an_output_written_before_signers_repositories_callers_and_exempt_namespaces_reads_with_none() -> None:
    output = json.loads(json.dumps(EVERY_FIELD_SET.to_json()))
    del output["exempt_namespaces"]
    for authority in [*output["keyless"], *(ns["provenance"]["signer"] or {} for ns in output["namespaces"])]:
        authority.pop("callers", None)
    for ns in output["namespaces"]:
        del ns["signers"], ns["repositories"]
    outputs = StackOutputs(environment="prod", registry_login_server="crcontoso.azurecr.io", trust_model=output)
    model = read_trust_model(outputs)
    assert model.exempt_namespaces == ()
    assert [k.callers for k in model.keyless] == [(), ()]
    payments = model.namespace("payments")
    assert (payments.signers, payments.repositories) == ((), ())
    assert payments.provenance is not None
    assert payments.provenance.signer is not None
    assert payments.provenance.signer.callers == ()


@pytest.mark.parametrize("key", ["exemptions", "plain_http_registry", "signature_format", "require_digest"])
def test_a_trust_model_output_missing_a_field_every_output_holds_is_refused(key: str) -> None:
    trust_model = json.loads(json.dumps(EVERY_FIELD_SET.to_json()))
    del trust_model[key]
    outputs = StackOutputs(environment="dev", registry_login_server="crcontoso.azurecr.io", trust_model=trust_model)
    with pytest.raises(UsageError, match=f"trustModel output is not one this version understands: '{key}'"):
        read_trust_model(outputs)


def test_registries_that_differ_only_in_punctuation_get_policies_of_their_own() -> None:
    from components.model.contract import allowed_registry_policy_name

    names = {
        allowed_registry_policy_name(r) for r in ("a.b.io", "a-b.io", "registry:5000", "registry-5000", "Registry:5000")
    }
    assert len(names) == 5
    assert allowed_registry_policy_name("mcr.microsoft.com") == "allow-registry-mcr.microsoft.com"
    # The name is part of the contract (the checks find the policy by it): eight hex digits of the host's sha256.
    assert allowed_registry_policy_name("Registry.Example:5000") == "allow-registry-registry.example-5000-aca5caf9"


@pytest.mark.parametrize(
    ("registry", "readable"),
    [
        ("registry:5000", "allow-registry-registry-5000-"),
        ("ghcr.io/contoso/base-images", "allow-registry-ghcr.io-contoso-base-images-"),
        ("localhost:5000/team", "allow-registry-localhost-5000-team-"),
        ("_mirror.example.", "allow-registry-mirror.example-"),  # no dash or dot left at the host's ends
    ],
)
def test_a_registry_a_kubernetes_name_cannot_hold_keeps_its_host_readable_in_a_valid_name(
    registry: str, readable: str
) -> None:
    from components.model.contract import allowed_registry_policy_name

    name = allowed_registry_policy_name(registry)
    assert name.startswith(readable)
    dns_subdomain = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
    assert re.fullmatch(dns_subdomain, name), "the API server refuses any other name"
    assert len(name) <= 253


def test_only_enforce_namespaces_opt_in_to_policy_controller_and_every_one_shows_its_mode() -> None:
    from components.model.contract import namespace_labels

    managed = {"app.kubernetes.io/managed-by": "pulumi-supply-chain"}
    assert namespace_labels("enforce", policy_controller=True) == {
        "supply-chain/admission-mode": "enforce",
        **managed,
        "policy.sigstore.dev/include": "true",
    }
    assert namespace_labels("audit", policy_controller=True) == {"supply-chain/admission-mode": "audit", **managed}
    assert namespace_labels("enforce") == {"supply-chain/admission-mode": "enforce", **managed}


def test_an_exception_must_name_every_kyverno_policy_that_can_match_its_namespace() -> None:
    from components.model.contract import kyverno_policies_for

    assert kyverno_policies_for("payments", "enforce") == {
        "verify-image-signatures-enforce",
        "restrict-image-registries-enforce",
        "require-sbom-payments",
        "require-provenance-payments",
        "require-vulnerability-scan-payments",
        "require-signers-payments",
        "restrict-repositories-payments",
    }
    assert {"verify-image-signatures-audit", "restrict-image-registries-audit"} <= kyverno_policies_for(
        "analytics", "audit"
    )
