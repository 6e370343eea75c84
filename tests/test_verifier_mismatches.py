"""The independent verifier refuses what is not the trust root's: a signature or attestation replayed
from another image, provenance from another source or builder, and every identity, issuer and key
that is not the one trusted."""

from __future__ import annotations

import datetime
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.x509.oid import NameOID
from hypothesis import given
from hypothesis import strategies as st

from components.model.contract import SLSA_PROVENANCE_V02, SLSA_PROVENANCE_V1
from components.model.trust import (
    KeyAuthority,
    KeylessAuthority,
    NamespacePolicy,
    Provenance,
    SigstoreInstance,
    TrustModel,
)
from scripts.checks.cosign import COSIGN_SIGN_PREDICATE
from scripts.checks.cosign_writer import (
    _write_bundle,
    attest_legacy,
    dsse_envelope,
    key_bundle,
    push_canary,
    sign_legacy,
    statement,
)
from scripts.checks.errors import UsageError, VerificationFailedError
from scripts.checks.images import ImageReport, Proof, check_image, encode_proof, requirement_problems
from scripts.checks.oci import Registry, tag_for
from scripts.checks.provenance import github_provenance_v1
from scripts.checks.verification import (
    IdentityPolicy,
    load_public_key,
    same_public_key,
    trusted_root,
    verify_legacy_key,
)
from tests.test_image_checks import SPDX, _model, _pem


@pytest.fixture(scope="module")
def root() -> Any:
    return trusted_root()


ISSUER = "https://token.actions.githubusercontent.com"
WORKFLOW = "https://github.com/contoso/workflows/.github/workflows/build.yml@refs/heads/main"

# --- a signature or attestation replayed from another image -------------------------------------


def _two_images(registry: Registry, nonce: str) -> tuple[Any, Any]:
    repository = f"apps/{uuid.uuid4().hex[:8]}"
    return (
        push_canary(registry, repository, "a", nonce=f"{nonce}-a"),
        push_canary(registry, repository, "b", nonce=f"{nonce}-b"),
    )


def test_a_legacy_signature_copied_from_another_image_does_not_sign_this_one(
    registry: Registry, key: ec.EllipticCurvePrivateKey, root: Any
) -> None:
    signed, target = _two_images(registry, "replay-sig")
    sign_legacy(registry, signed, key)
    model = _model(registry, key)
    assert check_image(registry, signed, model, root).signed
    copied = registry.get_manifest(signed.repository, tag_for(signed.digest, "sig"))
    assert copied is not None
    registry.put_manifest(target.repository, tag_for(target.digest, "sig"), copied.json())
    report = check_image(registry, target, model, root)
    assert not report.signed
    (proof,) = report.proofs
    assert proof.reason == "signs another image's digest"


def test_a_bundle_attached_to_another_image_does_not_sign_this_one(
    registry: Registry, key: ec.EllipticCurvePrivateKey, root: Any
) -> None:
    signed, target = _two_images(registry, "replay-bundle")
    bundle = key_bundle(key, dsse_envelope(key, statement(signed, COSIGN_SIGN_PREDICATE, {})))
    _write_bundle(registry, target, bundle, COSIGN_SIGN_PREDICATE)
    report = check_image(registry, target, _model(registry, key), root)
    assert not report.signed
    assert [p.reason for p in report.proofs] == ["signs another image's digest"]
    assert [(p.layout, p.kind, p.predicate_type) for p in report.proofs] == [
        ("bundle", "signature", "https://sigstore.dev/cosign/sign/v1")
    ]
    assert report.stray_referrers() == list(report.proofs), "on a legacy stack, it switches Kyverno to bundles"


def test_an_sbom_copied_from_another_image_is_not_this_images_sbom(
    registry: Registry, key: ec.EllipticCurvePrivateKey, root: Any
) -> None:
    attested, target = _two_images(registry, "replay-att")
    sign_legacy(registry, target, key)
    attest_legacy(registry, attested, key, SPDX, {"packages": [{"name": "openssl"}]})
    copied = registry.get_manifest(attested.repository, tag_for(attested.digest, "att"))
    assert copied is not None
    registry.put_manifest(target.repository, tag_for(target.digest, "att"), copied.json())
    model = _model(registry, key)
    report = check_image(registry, target, model, root)
    problems = requirement_problems(report, NamespacePolicy("apps", "enforce", "spdx"), model)
    assert problems == ["no spdx SBOM attestation by a trusted signer"]


# --- provenance: builder and source, both predicate versions --------------------------------------

SOURCE = "https://github.com/contoso/app"
MODEL = TrustModel(
    keyless=(),
    keys=(KeyAuthority("canary-key", public_key_pem="(pinned)"),),
    sigstore=SigstoreInstance(),
    signed_registries=("r.example",),
    allowed_registries=("r.example", "mirror.example"),
    namespaces=(),
    require_digest=True,
)
CANARY_KEY = MODEL.keys[0].describe()  # as the verifier names the key a proof verified with


def _report(*statements: tuple[str, dict[str, Any]], verified_by: str | None = CANARY_KEY) -> ImageReport:
    proofs = [Proof("bundle", "signature", COSIGN_SIGN_PREDICATE, CANARY_KEY)]
    proofs += [
        Proof("bundle", "attestation", t, verified_by, statement={"predicateType": t, "predicate": p})
        for t, p in statements
    ]
    return ImageReport("r.example/app@sha256:" + "1" * 64, tuple(proofs))


def _v1(source: str, builder: str = WORKFLOW) -> tuple[str, dict[str, Any]]:
    # v1 names the build's own source as the workflow's repository and ref; a `git+` URI maps onto them
    repository, _, ref = source.removeprefix("git+").partition("@")
    return SLSA_PROVENANCE_V1, github_provenance_v1(builder, repository if source.startswith("git+") else source, ref)


def _v02(source: str, builder: str = WORKFLOW, commit: object = "a" * 40) -> tuple[str, dict[str, Any]]:
    config = {"uri": source, "digest": {"sha1": commit}}
    return SLSA_PROVENANCE_V02, {"builder": {"id": builder}, "invocation": {"configSource": config}}


PINNED = NamespacePolicy("apps", "enforce", provenance=Provenance(WORKFLOW, SOURCE, "refs/heads/main"))
ANY_REF = NamespacePolicy("apps", "enforce", provenance=Provenance(WORKFLOW, SOURCE))


@pytest.mark.parametrize("version", [_v1, _v02])
@pytest.mark.parametrize(
    ("ns", "source", "admissible"),
    [
        (PINNED, "git+https://github.com/contoso/app@refs/heads/main", True),
        (PINNED, "git+https://github.com/contoso/app@refs/heads/feature", False),
        (PINNED, "git+https://github.com/contoso/app@refs/heads/main-evil", False),
        (PINNED, "git+https://github.com/mallory/app@refs/heads/main", False),
        (ANY_REF, "git+https://github.com/contoso/app@refs/tags/v1", True),
        (ANY_REF, "git+https://github.com/contoso/app-evil@refs/heads/main", False),
        (ANY_REF, "https://github.com/contoso/app@refs/heads/main", False),
    ],
)
def test_provenance_must_come_from_the_trusted_source(
    ns: NamespacePolicy, source: str, admissible: bool, version: Any
) -> None:
    problems = requirement_problems(_report(version(source)), ns, MODEL)
    assert (problems == []) is admissible, problems


@pytest.mark.parametrize("version", [_v1, _v02])
def test_provenance_from_another_builder_or_unverified_is_refused(version: Any) -> None:
    good = "git+https://github.com/contoso/app@refs/heads/main"
    expected = [
        f"no SLSA provenance by a trusted signer naming builder {WORKFLOW} "
        "and source git+https://github.com/contoso/app@refs/heads/main"
    ]
    assert requirement_problems(_report(version(good, builder=WORKFLOW + "x")), PINNED, MODEL) == expected
    assert requirement_problems(_report(version(good), verified_by=None), PINNED, MODEL) == expected
    assert requirement_problems(_report(), PINNED, MODEL) == expected


def test_v1_provenance_counts_the_builds_own_source_not_a_dependency_that_names_it() -> None:
    # mallory's workflow checks out contoso/app as a dependency: the trusted source appears, but it was not built
    _, predicate = _v1("git+https://github.com/mallory/app@refs/heads/main")
    predicate["buildDefinition"]["resolvedDependencies"].append(
        {"uri": "git+https://github.com/contoso/app@refs/heads/main"}
    )
    assert requirement_problems(_report((SLSA_PROVENANCE_V1, predicate)), PINNED, MODEL) != []
    _, other_type = _v1("git+https://github.com/contoso/app@refs/heads/main")
    other_type["buildDefinition"]["buildType"] = "https://example.com/some-other-build-type"
    assert requirement_problems(_report((SLSA_PROVENANCE_V1, other_type)), PINNED, MODEL) != []


@pytest.mark.parametrize("commit", [None, "", "main", "A" * 40, "a" * 39, "a" * 64, ["a" * 40]])
def test_v02_provenance_must_name_the_commit_it_built(commit: object) -> None:
    source = "git+https://github.com/contoso/app@refs/heads/main"
    assert requirement_problems(_report(_v02(source)), PINNED, MODEL) == []
    assert requirement_problems(_report(_v02(source, commit=commit)), PINNED, MODEL) != []


_JSON = st.recursive(
    st.none() | st.text(max_size=5) | st.integers(),
    lambda inner: st.lists(inner) | st.dictionaries(st.text(max_size=20), inner),
    max_leaves=20,
)


@given(_JSON)
def test_a_malformed_provenance_predicate_is_refused_not_a_crash(predicate: Any) -> None:
    for predicate_type in (SLSA_PROVENANCE_V1, SLSA_PROVENANCE_V02):
        assert requirement_problems(_report((predicate_type, predicate)), PINNED, MODEL) != []


def test_requirements_follow_the_registry_allow_list_and_the_tenant() -> None:
    signed = _report((SPDX, {"packages": [{"name": "x"}]}), verified_by="key canary-key (pinned public key)")
    apps = NamespacePolicy("apps", "enforce", "spdx")
    assert requirement_problems(signed, apps, MODEL) == []
    foreign = replace(signed, image="docker.io/library/busybox@sha256:" + "1" * 64)
    assert requirement_problems(foreign, apps, MODEL) == [
        "registry docker.io is not one of the allowed registries (r.example, mirror.example)"
    ]
    mirrored = replace(signed, image="mirror.example/tools/x@sha256:" + "1" * 64, proofs=())
    assert requirement_problems(mirrored, apps, MODEL) == [], "an extra allowed registry needs no signature"
    tenant = NamespacePolicy("payments", "enforce", "spdx", signers=("payments-release",), repositories=("payments/*",))
    assert requirement_problems(signed, tenant, MODEL) == [
        "repository app is not one of payments's (payments/*)",
        "no signature by payments's signers (payments-release)",
        "no spdx SBOM attestation by a trusted signer",
    ]


def test_a_tenants_keyless_signer_is_told_apart_from_another_identity_of_the_same_issuer() -> None:
    payments_ci = KeylessAuthority(
        ISSUER, subject_regexp=r"^https://github\.com/contoso/payments/.+$", name="payments-ci"
    )
    other_ci = KeylessAuthority(ISSUER, subject=WORKFLOW, name="other-ci")
    model = replace(MODEL, keyless=(payments_ci, other_ci))
    tenant = NamespacePolicy("payments", "enforce", signers=("payments-ci",))

    def signed_by(identity: str) -> ImageReport:
        signature = Proof("bundle", "signature", COSIGN_SIGN_PREDICATE, identity)
        return ImageReport("r.example/app@sha256:" + "1" * 64, (signature,))

    by_tenant = signed_by(
        r"^https://github\.com/contoso/payments/.+$ (issuer https://token.actions.githubusercontent.com)"
    )
    assert requirement_problems(by_tenant, tenant, model) == []
    by_other = signed_by(
        "https://github.com/contoso/workflows/.github/workflows/build.yml@refs/heads/main "
        "(issuer https://token.actions.githubusercontent.com)"
    )
    assert requirement_problems(by_other, tenant, model) == ["no signature by payments's signers (payments-ci)"]


def test_sbom_requirements_name_what_is_missing() -> None:
    spdx = NamespacePolicy("apps", "enforce", "spdx")
    assert requirement_problems(_report((SPDX, {"packages": [{"name": "x"}]})), spdx, MODEL) == []
    assert requirement_problems(_report((SPDX, {"packages": []})), spdx, MODEL) == [
        "the spdx SBOM lists no package with a name"
    ]
    assert requirement_problems(_report((SPDX, {"packages": [{}]})), spdx, MODEL) == [
        "the spdx SBOM lists no package with a name"
    ], "an entry must name what it is"
    unverified = _report((SPDX, {"packages": [{"name": "x"}]}), verified_by=None)
    assert requirement_problems(unverified, spdx, MODEL) == ["no spdx SBOM attestation by a trusted signer"]
    cyclonedx = _report(("https://cyclonedx.org/bom", {"components": [{"name": "x"}]}))
    assert requirement_problems(cyclonedx, spdx, MODEL) == ["no spdx SBOM attestation by a trusted signer"]
    unsigned = ImageReport("r.example/app@sha256:" + "1" * 64, ())
    assert requirement_problems(unsigned, NamespacePolicy("apps", "audit"), MODEL) == [
        "no signature by a trusted signer"
    ]


@pytest.mark.parametrize(
    "statement",
    [
        {"predicateType": SPDX, "predicate": {"packages": [{"name": ""}]}},  # a name that names nothing
        {"predicateType": SPDX, "predicate": {"packages": [{"name": 7}]}},
        {"predicateType": SPDX},  # no predicate at all
        {"predicateType": SPDX, "predicate": ["packages"]},
        {"predicateType": SPDX, "predicate": {"packages": {"name": "x"}}},
    ],
)
def test_an_sbom_without_a_named_entry_is_refused_not_a_crash(statement: dict[str, Any]) -> None:
    proofs = (
        Proof("bundle", "signature", COSIGN_SIGN_PREDICATE, CANARY_KEY),
        Proof("bundle", "attestation", SPDX, CANARY_KEY, statement=statement),
    )
    report = ImageReport("r.example/app@sha256:" + "1" * 64, proofs)
    assert requirement_problems(report, NamespacePolicy("apps", "enforce", "spdx"), MODEL) == [
        "the spdx SBOM lists no package with a name"
    ]


def test_a_proof_reads_in_reports_as_what_it_is_and_who_made_it() -> None:
    signature = Proof("legacy", "signature", None, "key canary-key (pinned public key)")
    assert encode_proof(signature) == "legacy signature: verified by key canary-key (pinned public key)"
    refused = Proof("bundle", "attestation", SPDX, None, "signs another image's digest")
    assert encode_proof(refused) == "bundle https://spdx.dev/Document: not trusted: signs another image's digest"


# --- identities, issuers and keys ------------------------------------------------------------------


def _certificate(
    *sans: x509.GeneralName, issuer: str = ISSUER, extensions: dict[str, bytes] | None = None
) -> x509.Certificate:
    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "sigstore.dev")])
    now = datetime.datetime.now(datetime.UTC)
    builder = x509.CertificateBuilder()
    for oid, value in (extensions or {}).items():
        builder = builder.add_extension(x509.UnrecognizedExtension(x509.ObjectIdentifier(oid), value), critical=False)
    return (
        builder.subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(minutes=10))
        .add_extension(x509.SubjectAlternativeName(list(sans)), critical=True)
        .add_extension(
            x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.1"), issuer.encode()), critical=False
        )
        .sign(private, hashes.SHA256())
    )


CERT = _certificate(x509.UniformResourceIdentifier(WORKFLOW))
PATTERN = r"^https://github\.com/contoso/workflows/\.github/workflows/[a-z-]+\.yml@refs/heads/main$"


@pytest.mark.parametrize(
    "identity",
    [
        IdentityPolicy(ISSUER, subject=WORKFLOW),
        IdentityPolicy(ISSUER, subject_regexp=PATTERN),
    ],
)
def test_the_trusted_identity_is_accepted(identity: IdentityPolicy) -> None:
    identity.verify(CERT)


@pytest.mark.parametrize(
    ("identity", "cert", "why"),
    [
        (IdentityPolicy("https://accounts.google.com", subject=WORKFLOW), CERT, "issuer is not"),
        (IdentityPolicy(ISSUER + "/", subject=WORKFLOW), CERT, "issuer is not"),
        (IdentityPolicy(ISSUER, subject=WORKFLOW.replace("main", "dev")), CERT, "is not"),
        (IdentityPolicy(ISSUER, subject=WORKFLOW[:-1]), CERT, "is not"),
        (IdentityPolicy(ISSUER, subject_regexp=PATTERN.replace("contoso", "fabrikam")), CERT, "does not match"),
        (IdentityPolicy(ISSUER, subject_regexp=PATTERN[:-1] + "x$"), CERT, "does not match"),
        (
            IdentityPolicy(ISSUER, subject_regexp=r"https://github\.com/contoso/"),
            CERT,
            "does not match",
        ),  # a pattern matches the whole identity, never a part of it
        (
            IdentityPolicy(ISSUER, subject_regexp=PATTERN),
            _certificate(x509.UniformResourceIdentifier(WORKFLOW + "\n")),
            "does not match",
        ),
        (
            IdentityPolicy(ISSUER, subject=WORKFLOW),
            _certificate(x509.UniformResourceIdentifier(WORKFLOW), issuer="https://evil.example"),
            "issuer is not",
        ),
    ],
)
def test_every_other_identity_or_issuer_is_refused(identity: IdentityPolicy, cert: x509.Certificate, why: str) -> None:
    with pytest.raises(VerificationFailedError, match=why):
        identity.verify(cert)


def test_an_email_identity_is_read_from_the_certificate() -> None:
    cert = _certificate(x509.RFC822Name("signer@contoso.example"))
    IdentityPolicy(ISSUER, subject="signer@contoso.example").verify(cert)
    with pytest.raises(VerificationFailedError):
        IdentityPolicy(ISSUER, subject="other@contoso.example").verify(cert)


def test_an_identity_needs_exactly_one_of_subject_and_pattern() -> None:
    with pytest.raises(UsageError):
        IdentityPolicy(ISSUER)
    with pytest.raises(UsageError):
        IdentityPolicy(ISSUER, subject=WORKFLOW, subject_regexp=PATTERN)


def test_a_signature_verifies_only_with_its_own_key() -> None:
    signer, other = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    payload = b'{"critical":{}}'
    signature = signer.sign(payload, ec.ECDSA(hashes.SHA256()))
    unread: Any = None  # no log entry to check, so no trusted root is read
    assert verify_legacy_key(payload, signature, signer.public_key(), unread, None, log_required=False).log_index == -1
    with pytest.raises(VerificationFailedError, match="does not verify with the trusted key"):
        verify_legacy_key(payload, signature, other.public_key(), unread, None, log_required=False)
    with pytest.raises(VerificationFailedError, match="does not verify"):
        verify_legacy_key(payload + b" ", signature, signer.public_key(), unread, None, log_required=False)
    with pytest.raises(VerificationFailedError, match="requires one"):
        verify_legacy_key(payload, signature, signer.public_key(), unread, None, log_required=True)


def test_public_keys_compare_by_value() -> None:
    key_a, key_b = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    pem_a = key_a.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert same_public_key(key_a.public_key(), pem_a)
    assert same_public_key(pem_a.decode(), key_a.public_key())
    assert not same_public_key(key_b.public_key(), pem_a)
    assert not same_public_key("not a key", "not a key")
    assert _pem(key_a) == pem_a.decode()


# --- who ran the workflow ---------------------------------------------------------------------------

PAYMENTS = "https://github.com/contoso/payments-api/.github/workflows/release.yml@refs/heads/main"
WORKFLOW_REPOSITORY = "1.3.6.1.4.1.57264.1.5"  # raw text (deprecated form)
SOURCE_REPOSITORY_URI = "1.3.6.1.4.1.57264.1.12"  # DER UTF8String


def _utf8(text: str) -> bytes:
    return bytes([0x0C, len(text)]) + text.encode()


@pytest.mark.parametrize(
    ("extensions", "accepted"),
    [
        ({SOURCE_REPOSITORY_URI: _utf8("https://github.com/contoso/payments-api")}, True),
        ({WORKFLOW_REPOSITORY: b"contoso/payments-api"}, True),
        ({SOURCE_REPOSITORY_URI: _utf8("https://github.com/mallory/payments-api")}, False),
        ({WORKFLOW_REPOSITORY: b"contoso/storefront-web"}, False),
        (  # the newer claim decides when both are present
            {
                SOURCE_REPOSITORY_URI: _utf8("https://github.com/mallory/payments-api"),
                WORKFLOW_REPOSITORY: b"contoso/payments-api",
            },
            False,
        ),
        ({}, False),  # no claim: not provably run by its repository
    ],
)
def test_a_github_workflow_counts_only_as_run_by_its_own_repository(
    extensions: dict[str, bytes], accepted: bool
) -> None:
    cert = _certificate(x509.UniformResourceIdentifier(PAYMENTS), extensions=extensions)
    identity = IdentityPolicy(ISSUER, subject=PAYMENTS, bind_caller=True)
    if accepted:
        identity.verify(cert)
    else:
        with pytest.raises(VerificationFailedError, match="the workflow was not run by contoso/payments-api"):
            identity.verify(cert)


def test_a_reusable_workflow_counts_only_as_run_by_its_declared_callers() -> None:
    cert = _certificate(
        x509.UniformResourceIdentifier(WORKFLOW),
        extensions={SOURCE_REPOSITORY_URI: _utf8("https://github.com/contoso/payments-api")},
    )
    IdentityPolicy(ISSUER, subject=WORKFLOW, bind_caller=True, callers=("contoso/payments-api",)).verify(cert)
    with pytest.raises(VerificationFailedError, match="not run by contoso/workflows"):
        IdentityPolicy(ISSUER, subject=WORKFLOW, bind_caller=True).verify(cert)


# --- how identities, keys and roots are read --------------------------------------------------------


def test_an_identity_describes_itself_as_the_trust_model_names_its_signers() -> None:
    """Tenant signer matching compares these words with the trust model's: they must read the same."""
    exact = IdentityPolicy(ISSUER, subject=WORKFLOW)
    pattern = IdentityPolicy(ISSUER, subject_regexp=PATTERN)
    assert exact.describe() == (
        "https://github.com/contoso/workflows/.github/workflows/build.yml@refs/heads/main"
        " (issuer https://token.actions.githubusercontent.com)"
    )
    assert pattern.describe() == (
        r"^https://github\.com/contoso/workflows/\.github/workflows/[a-z-]+\.yml@refs/heads/main$"
        " (issuer https://token.actions.githubusercontent.com)"
    )


SIGSTORE_OTHER_NAME = "1.3.6.1.4.1.57264.1.7"


@pytest.mark.parametrize("username", ["octocat", "a" * 127, "a" * 200])  # short and long DER length forms
def test_a_sigstore_other_name_identity_is_read_as_its_text(username: str) -> None:
    """Fulcio writes a username identity as an "other name" SAN holding a UTF8String; the engines
    compare its text, so the verifier must too (not the DER tag and length around it)."""
    length = bytes([len(username)]) if len(username) < 0x80 else bytes([0x81, len(username)])
    der = b"\x0c" + length + username.encode()
    cert = _certificate(x509.OtherName(x509.ObjectIdentifier(SIGSTORE_OTHER_NAME), der))
    IdentityPolicy(ISSUER, subject=username).verify(cert)
    IdentityPolicy(ISSUER, subject_regexp="^octocat$|^a+$").verify(cert)
    with pytest.raises(VerificationFailedError, match="is not"):
        IdentityPolicy(ISSUER, subject="mallory").verify(cert)


def test_an_other_name_of_another_type_is_no_identity() -> None:
    cert = _certificate(x509.OtherName(x509.ObjectIdentifier("1.3.6.1.4.1.99999.1"), b"\x0c\x07octocat"))
    with pytest.raises(VerificationFailedError, match="is not octocat"):
        IdentityPolicy(ISSUER, subject="octocat").verify(cert)


def test_an_other_name_that_is_not_a_utf8_string_is_no_identity() -> None:
    oid = x509.ObjectIdentifier(SIGSTORE_OTHER_NAME)
    for der in (b"\x16\x07octocat", b"\x0c\x02\xff\xfe"):  # an IA5String; bytes that are not UTF-8
        cert = _certificate(x509.OtherName(oid, der))
        with pytest.raises(VerificationFailedError, match="is not octocat"):
            IdentityPolicy(ISSUER, subject="octocat").verify(cert)
        with pytest.raises(VerificationFailedError, match="does not match"):  # not even an empty identity
            IdentityPolicy(ISSUER, subject_regexp="^(octocat)?$").verify(cert)


def test_an_rsa_key_verifies_its_own_signatures_only() -> None:
    signer = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    payload = b'{"critical":{}}'
    signature = signer.sign(payload, padding.PKCS1v15(), hashes.SHA256())
    unread: Any = None  # no log entry to check, so no trusted root is read
    assert verify_legacy_key(payload, signature, signer.public_key(), unread, None, log_required=False).log_index == -1
    with pytest.raises(VerificationFailedError, match="does not verify with the trusted key"):
        verify_legacy_key(payload + b" ", signature, signer.public_key(), unread, None, log_required=False)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(VerificationFailedError, match="does not verify with the trusted key"):
        verify_legacy_key(payload, signature, other.public_key(), unread, None, log_required=False)


def test_an_unusable_key_file_says_what_is_wrong() -> None:
    with pytest.raises(UsageError, match="not a PEM public key"):
        load_public_key(b"-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----\n")
    ed25519_pem = (
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(UsageError, match="Ed25519PublicKey keys are not supported"):
        load_public_key(ed25519_pem)


def test_an_unreadable_trusted_root_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "trusted_root.json"
    path.write_text("{}")
    with pytest.raises(UsageError, match=r"trusted_root\.json is not a Sigstore trusted root"):
        trusted_root(path)
