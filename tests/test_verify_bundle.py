"""`python -m scripts.verify verify-bundle` against the Sigstore conformance fixtures (real
public-good and custom-root bundles, a managed key, `_fail` cases), offline, plus tampered copies."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest

from scripts.verify import main

BEACON = (
    "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/"
    ".github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main"
)
GITHUB_ISSUER = "https://token.actions.githubusercontent.com"


@pytest.fixture(scope="module")
def cases(shared_dir: Path) -> Path:
    return shared_dir / "fixtures" / "sigstore-conformance" / "bundle-verify"


def _case_names() -> list[str]:
    from tests.conftest import SHARED

    folder = SHARED / "fixtures" / "sigstore-conformance" / "bundle-verify"
    return sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else ["(fixtures absent)"]


def _argv(case: Path, bundle: Path | None = None, artifact: Path | str | None = None) -> list[str]:
    argv = ["verify-bundle", "--bundle", str(bundle or case / "bundle.sigstore.json")]
    if (case / "key.pub").exists():
        argv += ["--key", str(case / "key.pub")]
    else:
        identity = (case / "identity").read_text().strip() if (case / "identity").exists() else BEACON
        issuer = (case / "issuer").read_text().strip() if (case / "issuer").exists() else GITHUB_ISSUER
        argv += ["--certificate-identity", identity, "--certificate-oidc-issuer", issuer]
    if (case / "trusted_root.json").exists():
        argv += ["--trusted-root", str(case / "trusted_root.json")]
    default = case / "artifact" if (case / "artifact").exists() else case.parent.parent / "a.txt"
    return [*argv, str(artifact or default)]


@pytest.mark.parametrize("name", _case_names())
def test_conformance_case_passes_or_fails_as_named(cases: Path, name: str, capsys: pytest.CaptureFixture[str]) -> None:
    case = cases / name
    code = main(_argv(case))
    out = capsys.readouterr()
    if name.endswith("_fail"):
        assert code != 0, f"{name} must be rejected; got: {out.out}"
        assert out.err.count("\n") == 1, "one line, no traceback"
    else:
        assert code == 0, f"{name} must verify; got: {out.err}"
        assert out.out.startswith("verified:")


def test_digest_instead_of_file(cases: Path) -> None:
    case = cases / "happy-path-v0.3"
    digest = "sha256:" + hashlib.sha256((cases.parent / "a.txt").read_bytes()).hexdigest()
    assert main(_argv(case, artifact=digest)) == 0
    assert main(_argv(case, artifact="sha256:" + "0" * 64)) == 1


def _tampered(case: Path, tmp_path: Path, edit: Any) -> Path:
    bundle = json.loads((case / "bundle.sigstore.json").read_text())
    edit(bundle)
    out = tmp_path / "bundle.sigstore.json"
    out.write_text(json.dumps(bundle))
    return out


def _flip(b64: str) -> str:
    raw = bytearray(base64.b64decode(b64))
    raw[-1] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


@pytest.mark.parametrize("name", ["happy-path-v0.3", "managed-key-happy-path"])
def test_tampered_signature_is_rejected(cases: Path, tmp_path: Path, name: str) -> None:
    def edit(b: dict[str, Any]) -> None:
        b["messageSignature"]["signature"] = _flip(b["messageSignature"]["signature"])

    assert main(_argv(cases / name, bundle=_tampered(cases / name, tmp_path, edit))) == 1


@pytest.mark.parametrize("name", ["happy-path-v0.3", "managed-key-happy-path", "intoto-with-custom-trust-root"])
def test_tampered_inclusion_proof_is_rejected(cases: Path, tmp_path: Path, name: str) -> None:
    def edit(b: dict[str, Any]) -> None:
        proof = b["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]
        proof["rootHash"] = _flip(proof["rootHash"])

    assert main(_argv(cases / name, bundle=_tampered(cases / name, tmp_path, edit))) == 1


def test_tampered_dsse_payload_is_rejected(cases: Path, tmp_path: Path) -> None:
    name = "intoto-with-custom-trust-root"

    def edit(b: dict[str, Any]) -> None:
        statement = json.loads(base64.b64decode(b["dsseEnvelope"]["payload"]))
        statement["predicate"] = {"tampered": True}
        b["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()

    assert main(_argv(cases / name, bundle=_tampered(cases / name, tmp_path, edit))) == 1


def test_other_artifact_is_rejected_for_a_dsse_bundle(cases: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.txt"
    other.write_text("not the attested subject\n")
    assert main(_argv(cases / "intoto-with-custom-trust-root", artifact=other)) == 1


def test_identity_must_match_exactly_or_by_anchored_regexp(cases: Path, capsys: pytest.CaptureFixture[str]) -> None:
    case = cases / "happy-path-v0.3"
    artifact = str(cases.parent / "a.txt")
    bundle = str(case / "bundle.sigstore.json")

    def run(*identity: str, issuer: str = GITHUB_ISSUER) -> int:
        return main(["verify-bundle", "--bundle", bundle, *identity, "--certificate-oidc-issuer", issuer, artifact])

    assert run("--certificate-identity-regexp", r"^https://github\.com/sigstore-conformance/.+@refs/heads/main$") == 0
    assert f"signed by {BEACON} (issuer {GITHUB_ISSUER})" in capsys.readouterr().out, "the identity, not the pattern"
    assert run("--certificate-identity-regexp", r"^https://github\.com/contoso/.+$") == 1
    assert run("--certificate-identity", BEACON.replace("main", "release")) == 1
    assert run("--certificate-identity", BEACON, issuer="https://accounts.google.com") == 1


def test_wrong_key_is_rejected(cases: Path, tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = tmp_path / "key.pub"
    key.write_bytes(
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    case = cases / "managed-key-happy-path"
    argv = [
        "verify-bundle",
        "--bundle",
        str(case / "bundle.sigstore.json"),
        "--key",
        str(key),
        str(cases.parent / "a.txt"),
    ]
    assert main(argv) == 1


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["verify-bundle", "--bundle", str(tmp_path / "missing.json"), "--key", "k", "sha256:zz"]) == 2
    assert main(["verify-bundle"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert all(line.startswith("usage: ") for line in err.strip().splitlines())


@pytest.mark.parametrize(
    ("name", "line"),
    [
        (
            "happy-path-v0.3",
            f"verified: message signed by {BEACON} (issuer {GITHUB_ISSUER}), log index 79571823",
        ),
        ("managed-key-happy-path", "verified: message signed by key 4cb32c4837c6dda8, log index 771488337"),
        (
            "intoto-with-custom-trust-root",
            f"verified: dsse signed by {BEACON} (issuer {GITHUB_ISSUER}), log index 4288993",
        ),
    ],
)
def test_a_verified_bundle_names_what_was_signed_by_whom_and_where_it_is_logged(
    cases: Path, name: str, line: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The key is named by the first 16 hex digits of its SubjectPublicKeyInfo's sha256 (as
    `openssl pkey -pubin -outform DER | sha256sum` prints it); the log index is the bundle's."""
    assert main(_argv(cases / name)) == 0
    assert capsys.readouterr().out == line + "\n"


def test_staging_trusts_the_staging_instance_not_public_good(cases: Path) -> None:
    argv = _argv(cases / "happy-path-v0.3")
    assert main(argv) == 0
    assert main(["verify-bundle", "--staging", *argv[1:]]) == 1


def test_a_keyless_bundle_checked_with_a_key_says_to_verify_it_by_identity(
    cases: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    case = cases / "happy-path-v0.3"
    key = cases / "managed-key-happy-path" / "key.pub"  # any key: the bundle names a certificate
    argv = [
        "verify-bundle",
        "--bundle",
        str(case / "bundle.sigstore.json"),
        "--key",
        str(key),
        str(cases.parent / "a.txt"),
    ]
    assert main(argv) == 1
    assert "the bundle carries a certificate, not a key hint; verify it by identity" in capsys.readouterr().err


def test_help_lists_the_exit_codes_and_an_example(capsys: pytest.CaptureFixture[str]) -> None:
    for command in ([], ["check"], ["image"], ["verify-bundle"]):
        with pytest.raises(SystemExit) as exited:
            main([*command, "--help"])
        assert exited.value.code == 0
        printed = capsys.readouterr().out
        assert "exit codes: 0 " in printed
        assert "examples:\n  python -m scripts.verify " in printed


def test_version_names_the_verifier_and_the_libraries_its_verdicts_rest_on(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    printed = capsys.readouterr().out
    assert re.fullmatch(
        r"supply-chain verify \d+\.\d+\.\d+ \(sigstore [\w.]+, kubernetes [\w.]+, cryptography [\w.]+; "
        r"Python 3\.\d+\.\d+\)\n",
        printed,
    ), printed


def test_a_bundle_that_is_not_json_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bundle = tmp_path / "bundle.sigstore.json"
    bundle.write_text("not json\n")
    issuer = "https://token.actions.githubusercontent.com"
    arguments = ["--bundle", str(bundle), "--certificate-identity", "x", "--certificate-oidc-issuer", issuer]
    code = main(["verify-bundle", *arguments, "sha256:" + "0" * 64])
    assert code == 1
    printed = capsys.readouterr().err
    assert printed.startswith("rejected: not a valid Sigstore bundle: ")
    assert printed.count("\n") == 1, printed
    assert "errors.pydantic.dev" not in printed
