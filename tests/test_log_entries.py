"""The one log-entry checker: an entry that records another digest or payload, another signature or
another signer is refused, for every entry kind and on every verification path.

Three layers: every path through `verification` with entries a stand-in log really includes and
promises (managed-key bundles and legacy key layers, each kind, each field tampered); the real keyless
entries of the conformance fixtures, each field tampered; and the checker's own edge cases."""

from __future__ import annotations

import base64
import copy
import datetime
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from sigstore.models import TrustedRoot

from scripts.checks import sigstore_compat, verification
from scripts.checks.errors import VerificationFailedError
from scripts.checks.log_entries import Signing, check_log_entry, signer_der
from scripts.checks.signed import DssePayload, Subject
from scripts.checks.verification import IdentityPolicy, Verified, trusted_root, verify_legacy_key, verify_with_key
from tests.fake_rekor import (
    INTOTO,
    FakeRekor,
    b64,
    dsse_signature,
    dsse_v001,
    hashedrekord_v001,
    hashedrekord_v002,
    intoto_v002,
    key_bundle,
    public_pem,
    sign,
    spki,
    statement_about,
)
from tests.legacy_layers import legacy_keyless_layer

KEY = ec.generate_private_key(ec.SECP256R1())
OTHER_KEY = ec.generate_private_key(ec.SECP256R1())
ARTIFACT = b"the artifact\n"
DIGEST = hashlib.sha256(ARTIFACT).digest()
PAYLOAD = statement_about(DIGEST)
OTHER_PAYLOAD = statement_about(DIGEST, {"tampered": True})
SIGNATURE = sign(KEY, ARTIFACT)  # ECDSA signatures are randomized: sign once, use everywhere
OTHER_SIGNATURE = sign(KEY, b"another artifact")
DSSE_SIGNATURE = dsse_signature(KEY, PAYLOAD)
OTHER_DSSE_SIGNATURE = dsse_signature(KEY, OTHER_PAYLOAD)
TAMPERINGS = [None, "digest", "signature", "signer"]
REFUSAL = {  # what the checker says for each tampering
    "digest": "the log entry records sha256:",
    "signature": "the log entry records a different signature",
    "signer": "the log entry records the signature by",
}


@pytest.fixture(scope="module")
def rekor() -> FakeRekor:
    return FakeRekor()


@pytest.fixture(scope="module")
def root(rekor: FakeRekor, tmp_path_factory: pytest.TempPathFactory) -> TrustedRoot:
    return rekor.trusted_root(tmp_path_factory.mktemp("rekor"))


def _message_entry(kind: str, tampered: str | None) -> dict[str, Any]:
    """The entry a log holds for the message signature over ARTIFACT by KEY, or one field of it swapped."""
    digest = hashlib.sha256(b"another artifact").digest() if tampered == "digest" else DIGEST
    signature = OTHER_SIGNATURE if tampered == "signature" else SIGNATURE
    signer = OTHER_KEY if tampered == "signer" else KEY
    if kind == "hashedrekord 0.0.1":
        return hashedrekord_v001(digest, signature, public_pem(signer))
    return hashedrekord_v002(digest, signature, spki(signer))


def _dsse_entry(kind: str, tampered: str | None) -> dict[str, Any]:
    """The entry for the DSSE envelope around PAYLOAD signed by KEY, or one field of it swapped."""
    payload = OTHER_PAYLOAD if tampered == "digest" else PAYLOAD
    signature = OTHER_DSSE_SIGNATURE if tampered == "signature" else DSSE_SIGNATURE
    signer = OTHER_KEY if tampered == "signer" else KEY
    if kind == "intoto 0.0.2":
        return intoto_v002(payload, [signature], public_pem(signer))
    if kind == "dsse 0.0.1":
        return dsse_v001(payload, [signature], public_pem(signer))
    return hashedrekord_v002(hashlib.sha256(DssePayload(INTOTO, payload).pae()).digest(), signature, spki(signer))


def _expect(tampered: str | None, verify: Callable[[], verification.Verified]) -> None:
    if tampered is None:
        assert verify().log_index == 0
    else:
        with pytest.raises(VerificationFailedError, match=REFUSAL[tampered]):
            verify()


# --- every path, with entries the log really includes ---------------------------------------------


@pytest.mark.parametrize("tampered", TAMPERINGS)
@pytest.mark.parametrize("kind", ["hashedrekord 0.0.1", "hashedrekord 0.0.2"])
def test_key_bundle_message_signature(rekor: FakeRekor, root: TrustedRoot, kind: str, tampered: str | None) -> None:
    bundle = key_bundle(rekor, KEY, _message_entry(kind, tampered), digest=DIGEST, signature=SIGNATURE)
    _expect(tampered, lambda: verify_with_key(bundle, Subject(DIGEST), root, KEY.public_key()))


@pytest.mark.parametrize("tampered", TAMPERINGS)
@pytest.mark.parametrize("kind", ["dsse 0.0.1", "hashedrekord 0.0.2"])
def test_key_bundle_dsse_envelope(rekor: FakeRekor, root: TrustedRoot, kind: str, tampered: str | None) -> None:
    signatures = [DSSE_SIGNATURE]
    bundle = key_bundle(rekor, KEY, _dsse_entry(kind, tampered), payload=PAYLOAD, envelope_signatures=signatures)
    _expect(tampered, lambda: verify_with_key(bundle, Subject(DIGEST), root, KEY.public_key()))


@pytest.mark.parametrize("tampered", TAMPERINGS)
def test_legacy_key_signature_layer(rekor: FakeRekor, root: TrustedRoot, tampered: str | None) -> None:
    promise = rekor.promise(_message_entry("hashedrekord 0.0.1", tampered))
    signature = SIGNATURE
    _expect(
        tampered, lambda: verify_legacy_key(ARTIFACT, signature, KEY.public_key(), root, promise, log_required=True)
    )


@pytest.mark.parametrize("tampered", TAMPERINGS)
@pytest.mark.parametrize("kind", ["intoto 0.0.2", "dsse 0.0.1"])
def test_legacy_key_attestation_layer(rekor: FakeRekor, root: TrustedRoot, kind: str, tampered: str | None) -> None:
    promise = rekor.promise(_dsse_entry(kind, tampered))
    signature = DSSE_SIGNATURE
    payload = DssePayload(INTOTO, PAYLOAD)
    _expect(tampered, lambda: verify_legacy_key(payload, signature, KEY.public_key(), root, promise, log_required=True))


def test_an_entry_of_the_wrong_kind_is_refused(rekor: FakeRekor, root: TrustedRoot) -> None:
    signature = SIGNATURE
    dsse_entry = dsse_v001(PAYLOAD, [DSSE_SIGNATURE], public_pem(KEY))
    bundle = key_bundle(rekor, KEY, dsse_entry, digest=DIGEST, signature=signature)
    with pytest.raises(VerificationFailedError, match=r"a dsse 0\.0\.1 log entry cannot record a message signature"):
        verify_with_key(bundle, Subject(DIGEST), root, KEY.public_key())
    promise = rekor.promise(hashedrekord_v001(DIGEST, signature, public_pem(KEY)))
    with pytest.raises(VerificationFailedError, match="cannot record a DSSE envelope"):
        verify_legacy_key(
            DssePayload(INTOTO, PAYLOAD),
            DSSE_SIGNATURE,
            KEY.public_key(),
            root,
            promise,
            log_required=True,
        )


def test_an_envelope_with_a_signature_the_log_does_not_hold_is_refused(rekor: FakeRekor, root: TrustedRoot) -> None:
    ours, extra = DSSE_SIGNATURE, dsse_signature(OTHER_KEY, PAYLOAD)
    entry = dsse_v001(PAYLOAD, [ours], public_pem(KEY))
    bundle = key_bundle(rekor, KEY, entry, payload=PAYLOAD, envelope_signatures=[ours, extra])
    with pytest.raises(VerificationFailedError, match="other than the envelope's 2"):
        verify_with_key(bundle, Subject(DIGEST), root, KEY.public_key())


# --- the real keyless entries of the conformance fixtures -------------------------------------------

BEACON = (
    "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/"
    ".github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main"
)
OTHER_PEM = public_pem(OTHER_KEY)


def _flip(text: str) -> str:
    raw = bytearray(base64.b64decode(text))
    raw[-1] ^= 0x01
    return b64(bytes(raw))


def _fixture(cases: Path, name: str) -> tuple[dict[str, Any], Signing]:
    """A fixture's logged body and the signing its bundle shows."""
    bundle = json.loads((cases / name / "bundle.sigstore.json").read_text())
    material = bundle["verificationMaterial"]
    raw = material["certificate"] if "certificate" in material else material["x509CertificateChain"]["certificates"][0]
    certificate = x509.load_der_x509_certificate(base64.b64decode(raw["rawBytes"]))
    body = json.loads(base64.b64decode(material["tlogEntries"][0]["canonicalizedBody"]))
    if "messageSignature" in bundle:
        artifact = (cases.parent / "a.txt").read_bytes()
        signature = base64.b64decode(bundle["messageSignature"]["signature"])
        return body, Signing(Subject.of_bytes(artifact), signer_der(certificate), (signature,))
    envelope = bundle["dsseEnvelope"]
    payload = DssePayload(envelope["payloadType"], base64.b64decode(envelope["payload"]))
    signatures = tuple(base64.b64decode(s["sig"]) for s in envelope["signatures"])
    return body, Signing(payload, signer_der(certificate), signatures, signatures)


def _tamper_hashedrekord(spec: dict[str, Any], field: str) -> None:
    if field == "digest":
        spec["data"]["hash"]["value"] = "0" * 64
    elif field == "signature":
        spec["signature"]["content"] = _flip(spec["signature"]["content"])
    else:
        spec["signature"]["publicKey"]["content"] = b64(OTHER_PEM)


def _tamper_intoto(spec: dict[str, Any], field: str) -> None:
    content = spec["content"]
    logged = content["envelope"]["signatures"][0]
    if field == "digest":
        content["payloadHash"]["value"] = "0" * 64
    elif field == "signature":
        logged["sig"] = b64(_flip(base64.b64decode(logged["sig"]).decode()).encode())
    else:
        logged["publicKey"] = b64(OTHER_PEM)


def _tamper_dsse(spec: dict[str, Any], field: str) -> None:
    logged = spec["signatures"][0]
    if field == "digest":
        spec["payloadHash"]["value"] = "0" * 64
    elif field == "signature":
        logged["signature"] = _flip(logged["signature"])
    else:
        logged["verifier"] = b64(OTHER_PEM)


KEYLESS = {
    "happy-path-v0.3": _tamper_hashedrekord,
    "intoto-with-custom-trust-root": _tamper_intoto,
    "happy-path-intoto-in-dsse-v3": _tamper_dsse,
}


@pytest.fixture(scope="module")
def cases(shared_dir: Path) -> Path:
    return shared_dir / "fixtures" / "sigstore-conformance" / "bundle-verify"


@pytest.mark.parametrize("tampered", TAMPERINGS)
@pytest.mark.parametrize("name", sorted(KEYLESS))
def test_real_keyless_entries(cases: Path, name: str, tampered: str | None) -> None:
    body, signing = _fixture(cases, name)
    if tampered is None:
        check_log_entry(body, signing)
        return
    tampered_body = copy.deepcopy(body)
    KEYLESS[name](tampered_body["spec"], tampered)
    with pytest.raises(VerificationFailedError, match=REFUSAL[tampered]):
        check_log_entry(tampered_body, signing)


def test_every_keyless_path_asks_the_checker(cases: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The library's keyless paths and ours (intoto, legacy keyless layers) all end in `check_log_entry`."""
    asked: list[str] = []

    def spy(body: dict[str, Any], signing: Signing) -> None:
        asked.append(f"{body['kind']} {body['apiVersion']}")
        check_log_entry(body, signing)

    monkeypatch.setattr(verification, "check_log_entry", spy)
    identity = IdentityPolicy("https://token.actions.githubusercontent.com", subject=BEACON)
    for name in sorted(KEYLESS):
        case = cases / name
        root = trusted_root(case / "trusted_root.json" if (case / "trusted_root.json").exists() else None)
        artifact = case / "artifact" if (case / "artifact").exists() else cases.parent / "a.txt"
        bundle = (case / "bundle.sigstore.json").read_bytes()
        verification.verify_with_identity(bundle, Subject.parse(str(artifact)), root, identity)
    # cosign's legacy `.sig` layer, rebuilt from a real bundle: payload, signature, certificate, promise
    layer = legacy_keyless_layer(cases)
    verification.verify_legacy_keyless(
        layer.payload, layer.signature, layer.certificate_pem, layer.promise_json, trusted_root(), identity
    )
    assert sorted(asked) == ["dsse 0.0.1", "hashedrekord 0.0.1", "hashedrekord 0.0.1", "intoto 0.0.2"]


# --- the checker's own edge cases -------------------------------------------------------------------


def _signing() -> Signing:
    return Signing(Subject(DIGEST), signer_der(KEY.public_key()), (SIGNATURE,))


def test_a_v002_entry_naming_the_signer_by_certificate_is_compared_by_certificate() -> None:
    body = hashedrekord_v002(DIGEST, SIGNATURE, spki(KEY))
    verifier = body["spec"]["hashedRekordV002"]["signature"]["verifier"]
    verifier["x509Certificate"] = verifier.pop("publicKey")  # a key's DER is not a certificate's
    check_log_entry(body, _signing())  # the same DER either way
    verifier["x509Certificate"]["rawBytes"] = b64(b"not the signer")
    with pytest.raises(VerificationFailedError, match=REFUSAL["signer"]):
        check_log_entry(body, _signing())


@pytest.mark.parametrize(
    ("edit", "refusal"),
    [
        (lambda b: b.update(kind="rekord"), "unsupported log entry rekord 0.0.1"),
        (lambda b: b.update(apiVersion="0.0.2"), "malformed hashedrekord 0.0.2 log entry"),
        (lambda b: b["spec"].pop("signature"), "malformed hashedrekord 0.0.1 log entry"),
        (lambda b: b["spec"]["signature"].update(content="!!"), "malformed"),
        (lambda b: b["spec"]["data"]["hash"].update(algorithm="sha512"), "records a sha512 digest"),
    ],
)
def test_unknown_malformed_or_other_hash_entries_are_refused(
    edit: Callable[[dict[str, Any]], None], refusal: str
) -> None:
    body = hashedrekord_v001(DIGEST, SIGNATURE, public_pem(KEY))
    edit(body)
    with pytest.raises(VerificationFailedError, match=refusal):
        check_log_entry(body, _signing())


def test_a_body_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(VerificationFailedError, match="malformed log entry: a JSON list"):
        check_log_entry([], _signing())  # type: ignore[arg-type]


def test_an_empty_claim_is_refused_on_purpose() -> None:
    body = hashedrekord_v001(DIGEST, SIGNATURE, public_pem(KEY))
    with pytest.raises(VerificationFailedError, match="no verified signature"):
        check_log_entry(body, Signing(Subject(DIGEST), signer_der(KEY.public_key()), ()))


def test_an_unreadable_logged_signer_is_not_the_signer() -> None:
    body = hashedrekord_v001(DIGEST, SIGNATURE, b"-----BEGIN PUBLIC KEY-----\nno\n-----END PUBLIC KEY-----\n")
    with pytest.raises(VerificationFailedError, match="an unreadable key or certificate"):
        check_log_entry(body, _signing())


def test_signer_der_names_keys_and_certificates_as_the_log_does(cases: Path) -> None:
    key_der = signer_der(KEY.public_key())
    assert key_der == spki(KEY)
    assert serialization.load_der_public_key(key_der) == KEY.public_key()
    bundle = json.loads((cases / "happy-path-v0.3" / "bundle.sigstore.json").read_text())
    raw = base64.b64decode(bundle["verificationMaterial"]["certificate"]["rawBytes"])
    assert signer_der(x509.load_der_x509_certificate(raw)) == raw


def test_a_v002_entry_of_another_hash_algorithm_is_refused() -> None:
    body = hashedrekord_v002(DIGEST, SIGNATURE, spki(KEY))
    body["spec"]["hashedRekordV002"]["data"]["algorithm"] = "SHA2_512"  # the same 32 bytes, labelled otherwise
    with pytest.raises(VerificationFailedError, match="the log entry records a SHA2_512 digest; expected sha256"):
        check_log_entry(body, _signing())


# --- what a key bundle claims besides its log entry ---------------------------------------------------

KEY_NAME = f"key {hashlib.sha256(spki(KEY)).hexdigest()[:16]}"  # how a key is named: its SPKI's sha256


def test_a_key_bundle_says_what_it_signs_and_by_which_key(rekor: FakeRekor, root: TrustedRoot) -> None:
    message = key_bundle(rekor, KEY, _message_entry("hashedrekord 0.0.1", None), digest=DIGEST, signature=SIGNATURE)
    assert verify_with_key(message, Subject(DIGEST), root, KEY.public_key()) == Verified("message", KEY_NAME, 0)
    envelope = key_bundle(
        rekor, KEY, _dsse_entry("dsse 0.0.1", None), payload=PAYLOAD, envelope_signatures=[DSSE_SIGNATURE]
    )
    assert verify_with_key(envelope, Subject(DIGEST), root, KEY.public_key()) == Verified("dsse", KEY_NAME, 0)


def test_a_bundle_whose_declared_digest_is_another_artifacts_is_refused(rekor: FakeRekor, root: TrustedRoot) -> None:
    """The signature and the log entry are this artifact's; the digest the bundle declares is not."""
    other = hashlib.sha256(b"another artifact").digest()
    entry = _message_entry("hashedrekord 0.0.1", None)
    bundle = key_bundle(rekor, KEY, entry, digest=other, signature=SIGNATURE)
    with pytest.raises(VerificationFailedError, match=f"the bundle signs sha256:{other.hex()}, not sha256:"):
        verify_with_key(bundle, Subject(DIGEST), root, KEY.public_key())


@pytest.mark.parametrize(
    "statement",
    [
        b"not json",
        b"[]",
        b'{"subject": "artifact"}',
        b'{"subject": ["artifact"]}',
        b'{"subject": [{"name": "artifact"}]}',
        b'{"subject": [{"name": "artifact", "digest": "sha256"}]}',
        b"{}",
    ],
)
def test_a_signed_statement_that_names_no_subject_is_refused_not_a_crash(
    rekor: FakeRekor, root: TrustedRoot, statement: bytes
) -> None:
    signature = dsse_signature(KEY, statement)
    entry = dsse_v001(statement, [signature], public_pem(KEY))
    bundle = key_bundle(rekor, KEY, entry, payload=statement, envelope_signatures=[signature])
    with pytest.raises(VerificationFailedError, match="do not include sha256:"):
        verify_with_key(bundle, Subject(DIGEST), root, KEY.public_key())


# --- a legacy keyless layer: the certificate as of the logged time ------------------------------------

LOGGED_AT = datetime.datetime.fromtimestamp(1_700_000_000, datetime.UTC)
GITHUB = "https://token.actions.githubusercontent.com"
WORKFLOW = "https://github.com/contoso/app/.github/workflows/release.yml@refs/heads/main"


def _leaf(key: ec.EllipticCurvePrivateKey, not_after: datetime.datetime, usage: x509.ObjectIdentifier) -> bytes:
    """A Fulcio-shaped leaf (its chain and SCT are the library's to check, and stubbed here)."""
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "sigstore.dev")])
    issuer_oid = x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.1")
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(not_after - datetime.timedelta(minutes=10))
        .not_valid_after(not_after)
        .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(WORKFLOW)]), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(x509.UnrecognizedExtension(issuer_oid, GITHUB.encode()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def _legacy_keyless(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, not_after: datetime.datetime, usage: x509.ObjectIdentifier
) -> verification.Verified:
    monkeypatch.setattr(sigstore_compat, "verify_certificate_at", lambda *_: None)
    rekor = FakeRekor(integrated_time=1_700_000_000)
    pem = _leaf(KEY, not_after, usage)
    promise = rekor.promise(hashedrekord_v001(DIGEST, SIGNATURE, pem))
    identity = IdentityPolicy(GITHUB, subject=WORKFLOW)
    return verification.verify_legacy_keyless(ARTIFACT, SIGNATURE, pem, promise, rekor.trusted_root(tmp_path), identity)


def test_a_certificate_counts_up_to_the_last_second_of_its_validity(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A closed interval, as the engines read X.509 validity: logged at notAfter itself is in time."""
    code_signing = ExtendedKeyUsageOID.CODE_SIGNING
    assert _legacy_keyless(tmp_path, monkeypatch, LOGGED_AT, code_signing).log_index == 0
    expired = LOGGED_AT - datetime.timedelta(seconds=1)
    with pytest.raises(VerificationFailedError, match="the certificate was not valid when the entry was logged"):
        _legacy_keyless(tmp_path, monkeypatch, expired, code_signing)


def test_a_certificate_not_for_code_signing_signs_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(VerificationFailedError, match="the certificate is not for code signing"):
        _legacy_keyless(tmp_path, monkeypatch, LOGGED_AT, ExtendedKeyUsageOID.SERVER_AUTH)
