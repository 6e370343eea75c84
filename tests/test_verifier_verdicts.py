"""What the verifier says it saw: the kind of content and the signer of each legacy-layer verification, who
the log entry says signed when it is not the signer in hand, and the identity text a certificate's other-name
SAN holds."""

from __future__ import annotations

import datetime
import hashlib
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sigstore.models import TrustedRoot

from scripts.checks.errors import VerificationFailedError
from scripts.checks.log_entries import Signing, check_log_entry, signer_der
from scripts.checks.signed import DssePayload, Subject
from scripts.checks.verification import IdentityPolicy, Verified, verify_legacy_key, verify_legacy_keyless
from tests.fake_rekor import (
    INTOTO,
    FakeRekor,
    dsse_signature,
    hashedrekord_v001,
    intoto_v002,
    public_pem,
    sign,
    spki,
    statement_about,
)
from tests.keyless_signer import GITHUB, TestFulcio, stand_in_fulcio

KEY = ec.generate_private_key(ec.SECP256R1())
ARTIFACT = b'{"critical":{"image":{"docker-manifest-digest":"sha256:..."}}}'
STATEMENT = statement_about(hashlib.sha256(ARTIFACT).digest())
KEY_NAME = f"key {hashlib.sha256(spki(KEY)).hexdigest()[:16]}"  # a key is named by its SPKI's sha256
WORKFLOW = "https://github.com/contoso/app/.github/workflows/release.yml@refs/heads/main"


@pytest.fixture(scope="module")
def rekor() -> FakeRekor:
    return FakeRekor()


@pytest.fixture(scope="module")
def root(rekor: FakeRekor, tmp_path_factory: pytest.TempPathFactory) -> TrustedRoot:
    return rekor.trusted_root(tmp_path_factory.mktemp("rekor"))


# --- a legacy layer's verdict: what it signs, by whom, at which log index ----------------------------


def test_a_legacy_key_signature_says_it_signs_a_message_by_which_key(rekor: FakeRekor, root: TrustedRoot) -> None:
    signature = sign(KEY, ARTIFACT)
    offline = verify_legacy_key(ARTIFACT, signature, KEY.public_key(), root, None, log_required=False)
    assert offline == Verified("message", KEY_NAME, -1)
    promise = rekor.promise(hashedrekord_v001(hashlib.sha256(ARTIFACT).digest(), signature, public_pem(KEY)))
    logged = verify_legacy_key(ARTIFACT, signature, KEY.public_key(), root, promise, log_required=True)
    assert logged == Verified("message", KEY_NAME, 0)


def test_a_legacy_key_attestation_says_it_signs_a_dsse_payload_by_which_key(
    rekor: FakeRekor, root: TrustedRoot
) -> None:
    signature = dsse_signature(KEY, STATEMENT)
    payload = DssePayload(INTOTO, STATEMENT)
    offline = verify_legacy_key(payload, signature, KEY.public_key(), root, None, log_required=False)
    assert offline == Verified("dsse", KEY_NAME, -1)
    promise = rekor.promise(intoto_v002(STATEMENT, [signature], public_pem(KEY)))
    logged = verify_legacy_key(payload, signature, KEY.public_key(), root, promise, log_required=True)
    assert logged == Verified("dsse", KEY_NAME, 0)


def test_a_legacy_keyless_layer_says_what_it_signs_and_whose_identity(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fulcio = TestFulcio()
    stand_in_fulcio(monkeypatch, fulcio)
    root = fulcio.rekor.trusted_root(tmp_path)
    signer = fulcio.issue(WORKFLOW)
    identity = IdentityPolicy(GITHUB, subject=WORKFLOW)
    described = f"{WORKFLOW} (issuer {GITHUB})"

    signature = sign(signer.key, ARTIFACT)
    promise = fulcio.rekor.promise(hashedrekord_v001(hashlib.sha256(ARTIFACT).digest(), signature, signer.pem))
    verdict = verify_legacy_keyless(ARTIFACT, signature, signer.pem, promise, root, identity)
    assert verdict == Verified("message", described, 0)

    signature = dsse_signature(signer.key, STATEMENT)
    promise = fulcio.rekor.promise(intoto_v002(STATEMENT, [signature], signer.pem))
    verdict = verify_legacy_keyless(DssePayload(INTOTO, STATEMENT), signature, signer.pem, promise, root, identity)
    assert verdict == Verified("dsse", described, 0)


# --- a log entry by someone else names both signers --------------------------------------------------


def test_an_entry_recording_another_signer_names_both_by_fingerprint() -> None:
    other = ec.generate_private_key(ec.SECP256R1())
    signature = sign(KEY, ARTIFACT)
    body = hashedrekord_v001(hashlib.sha256(ARTIFACT).digest(), signature, public_pem(other))
    logged, in_hand = (hashlib.sha256(spki(k)).hexdigest()[:16] for k in (other, KEY))
    with pytest.raises(VerificationFailedError) as refused:
        check_log_entry(body, Signing(Subject.of_bytes(ARTIFACT), signer_der(KEY.public_key()), (signature,)))
    assert f"records the signature by sha256:{logged}, not by sha256:{in_hand}" in str(refused.value)


# --- the identity an other-name SAN holds -------------------------------------------------------------

SIGSTORE_OTHER_NAME = x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.7")


def _certificate(*sans: x509.GeneralName) -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "sigstore.dev")])
    now = datetime.datetime.now(datetime.UTC)
    issuer = x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.1"), GITHUB.encode())
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(minutes=10))
        .add_extension(x509.SubjectAlternativeName(list(sans)), critical=True)
        .add_extension(issuer, critical=False)
        .sign(key, hashes.SHA256())
    )


@pytest.mark.parametrize("username", ["élodie", "Ærø", "日本"])  # first byte of the text >= 0x80
def test_an_other_name_identity_that_starts_with_a_non_ascii_letter_is_read_whole(username: str) -> None:
    text = username.encode()
    cert = _certificate(x509.OtherName(SIGSTORE_OTHER_NAME, bytes([0x0C, len(text)]) + text))
    IdentityPolicy(GITHUB, subject=username).verify(cert)
    with pytest.raises(VerificationFailedError, match="is not"):
        IdentityPolicy(GITHUB, subject=username[1:]).verify(cert)


@pytest.mark.parametrize(
    "der",
    [
        b"\x16\x07octocat",  # an IA5String, not a UTF8String
        b"\x0c\x02\xff\xfe",  # a UTF8String whose bytes are not UTF-8
    ],
)
def test_a_certificate_whose_only_name_is_unreadable_matches_no_pattern(der: bytes) -> None:
    """Not even a pattern that takes any identity: the certificate names nobody."""
    cert = _certificate(x509.OtherName(SIGSTORE_OTHER_NAME, der))
    with pytest.raises(VerificationFailedError, match=r"certificate identity \[\] does not match"):
        IdentityPolicy(GITHUB, subject_regexp="^.+$").verify(cert)
