"""The contract's derivations agree with their inverses, for any name the config admits."""

from __future__ import annotations

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
