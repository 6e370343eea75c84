"""The trust model as the config makes it, read through what the engines are given: keys in a rotation's
overlap (each version trusted, checked against the log as its key is, and named by its key in signer
lists), keys known by their public half, provenance sources however they are spelt, and stacks whose
unlisted namespaces are unchecked or that configure no admission at all."""

from __future__ import annotations

from datetime import date
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from components.model.config import parse_stack_config
from components.model.trust import TrustModel, trust_model
from components.render.kyverno_policies import kyverno_policies
from components.render.policy_controller_policies import policy_controller_policies
from scripts.checks.cases import unlisted_namespaces
from tests.conftest import stack_raw

TODAY = date(2026, 11, 24)
PREVIOUS = "0123456789abcdef0123456789abcdef"


def _model(raw: dict[str, Any]) -> TrustModel:
    return trust_model(parse_stack_config(raw, today=TODAY))


def _in_overlap(raw: dict[str, Any]) -> dict[str, Any]:
    raw["signing"]["keys"][0]["previousVersions"] = [{"version": PREVIOUS, "until": "2027-01-31"}]
    return raw


def _public_pem() -> str:
    public = ec.generate_private_key(ec.SECP256R1()).public_key()
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def _kyverno_key_attestors(model: TrustModel) -> dict[str, dict[str, Any]]:
    policy = next(d for d in kyverno_policies(model) if d["metadata"]["name"].startswith("verify-image-signatures"))
    return {a["name"]: a["cosign"] for a in policy["spec"]["attestors"] if a["name"].startswith("key_")}


# --- keys ----------------------------------------------------------------------------------------


def test_in_a_rotations_overlap_the_previous_version_is_checked_against_the_log_too() -> None:
    docs = {d["metadata"]["name"]: d for d in policy_controller_policies(_model(_in_overlap(stack_raw("prod"))))}
    keys = {a["name"]: a for a in docs["verify-image-signatures"]["spec"]["authorities"] if "key" in a}
    assert sorted(keys) == ["key-image-signing", "key-image-signing-01234567"]
    previous = keys["key-image-signing-01234567"]
    assert previous["key"]["kms"] == f"azurekms://kv-crcontosoprod.vault.azure.net/image-signing/{PREVIOUS}"
    assert previous["ctlog"] == {"url": "https://rekor.sigstore.dev"}, "without ctlog the log is skipped"


def test_in_a_rotations_overlap_an_offline_keys_previous_version_stays_offline() -> None:
    raw = _in_overlap(stack_raw("dev"))
    raw["signing"]["keys"][0]["transparencyLogRequired"] = False
    attestors = _kyverno_key_attestors(_model(raw))
    assert sorted(attestors) == ["key_image_signing", "key_image_signing_01234567"]
    for cosign in attestors.values():
        assert cosign["ctlog"].get("insecureIgnoreTlog") is True, "a log entry nobody wrote would be required"


def test_a_namespace_that_names_a_key_as_signer_trusts_every_version_in_the_overlap() -> None:
    raw = _in_overlap(stack_raw("prod"))
    raw["admission"]["namespaces"]["payments"]["signers"] = ["payments-release", "image-signing"]
    docs = {d["metadata"]["name"]: d for d in policy_controller_policies(_model(raw))}
    names = [a["name"] for a in docs["tenant-payments"]["spec"]["authorities"]]
    assert names == ["keyless", "key-image-signing", "key-image-signing-01234567"]


def test_a_public_key_is_trusted_by_its_pem_checked_against_the_log_unless_the_config_says_otherwise() -> None:
    pem, offline_pem = _public_pem(), _public_pem()
    raw = stack_raw("dev")
    raw["signing"]["keys"] += [
        {"kind": "public-key", "name": "vendor", "pem": pem},
        {"kind": "public-key", "name": "vendor-offline", "pem": offline_pem, "transparencyLogRequired": False},
    ]
    attestors = _kyverno_key_attestors(_model(raw))
    assert attestors["key_vendor"]["key"] == {"data": pem}
    assert "insecureIgnoreTlog" not in attestors["key_vendor"]["ctlog"]
    assert attestors["key_vendor_offline"]["key"] == {"data": offline_pem}
    assert attestors["key_vendor_offline"]["ctlog"].get("insecureIgnoreTlog") is True


# --- namespaces and provenance --------------------------------------------------------------------


def test_a_provenance_source_written_with_git_plus_requires_the_same_source() -> None:
    plain, prefixed = stack_raw("prod"), stack_raw("prod")
    provenance = prefixed["admission"]["attestations"]["payments"]["provenance"]
    provenance["sourceRepository"] = "git+https://github.com/contoso/payments-api"
    assert kyverno_policies(_model(prefixed)) == kyverno_policies(_model(plain))


def test_with_unlisted_namespaces_off_the_checks_probe_no_unlisted_namespace() -> None:
    raw = stack_raw("dev")
    raw["admission"]["defaultMode"] = "off"
    assert unlisted_namespaces(_model(raw)) == ()


def test_a_stack_without_admission_trusts_its_signers_and_checks_no_namespace() -> None:
    raw = stack_raw("dev")
    del raw["admission"]
    model = _model(raw)
    assert (model.namespaces, model.exemptions, model.exempt_namespaces) == ((), (), ())
    assert model.allowed_registries == ("crcontosodev.azurecr.io",)
    assert unlisted_namespaces(model) == ()
    assert model.require_digest is True, "digests stay required without an admission section to say so"


def test_a_generated_keys_public_half_known_at_deploy_is_what_the_engines_trust() -> None:
    generated, vendor = _public_pem(), _public_pem()
    raw = stack_raw("local")
    raw["signing"]["keys"].append({"kind": "public-key", "name": "vendor", "pem": vendor})
    model = _model(raw).with_public_keys({"local-signing": generated})
    attestors = _kyverno_key_attestors(model)
    assert attestors["key_local_signing"]["key"] == {"data": generated}
    assert attestors["key_vendor"]["key"] == {"data": vendor}, "a key the deploy did not generate keeps its own"
