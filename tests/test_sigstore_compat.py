"""`scripts/checks/sigstore_compat.py` is the only place that touches `sigstore`'s private API, and it
was read against exactly one version of the library: the one `requirements.txt` pins. Upgrading the
library fails here first, with what to do about it."""

from __future__ import annotations

import ast
import base64
import importlib
import inspect
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import rfc8785
import sigstore
from cryptography import x509
from sigstore.models import Bundle, TrustedRoot
from sigstore_models.bundle.v1 import Bundle as BundleMessage

from scripts.checks import sigstore_compat
from scripts.checks.verification import IdentityPolicy, trusted_root

ROOT = Path(__file__).resolve().parent.parent
BEACON = (
    "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/"
    ".github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main"
)
GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
_RECHECK = "re-check scripts/checks/sigstore_compat.py against sigstore {version}"


def _pinned() -> str:
    match = re.search(r"^sigstore==(\S+)", (ROOT / "requirements.txt").read_text(), re.MULTILINE)
    assert match, "requirements.txt pins no sigstore==X.Y.Z"
    return match.group(1)


def test_the_compat_module_was_checked_against_the_pinned_and_installed_sigstore() -> None:
    pinned, installed = _pinned(), sigstore.__version__
    assert installed == pinned, (
        f"sigstore {installed} is installed but requirements.txt pins {pinned}: install the pin, or "
        + _RECHECK.format(version=installed)
    )
    assert pinned == sigstore_compat.CHECKED_AGAINST, (
        _RECHECK.format(version=pinned) + f" (it was read against {sigstore_compat.CHECKED_AGAINST}), "
        "then set its CHECKED_AGAINST"
    )


def _resolve(dotted: str) -> Any:
    parts = dotted.split(".")
    for split in range(len(parts), 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        for attribute in parts[split:]:
            obj = getattr(obj, attribute)
        return obj
    raise ImportError(dotted)


@pytest.mark.parametrize("name", sorted(sigstore_compat.PRIVATE_API))
def test_each_private_name_exists_and_takes_the_parameters_used(name: str) -> None:
    recheck = _RECHECK.format(version=sigstore.__version__)
    try:
        obj = _resolve(name)
    except (ImportError, AttributeError) as exc:
        pytest.fail(f"{name} is gone ({exc}): {recheck}")
    expected = sigstore_compat.PRIVATE_API[name]
    if expected is not None:
        assert tuple(inspect.signature(obj).parameters) == expected, f"{name} changed its parameters: {recheck}"


@pytest.fixture(scope="module")
def cases(shared_dir: Path) -> Path:
    return shared_dir / "fixtures" / "sigstore-conformance" / "bundle-verify"


def test_private_attributes_are_there_on_a_real_bundle(cases: Path) -> None:
    bundle = Bundle.from_json((cases / "happy-path-v0.3" / "bundle.sigstore.json").read_bytes())
    for path in sigstore_compat.PRIVATE_ATTRIBUTES:
        obj: Any = bundle
        for attribute in path.split("."):
            assert hasattr(obj, attribute), f"Bundle.{path} is gone: " + _RECHECK.format(version=sigstore.__version__)
            obj = getattr(obj, attribute)


def test_every_compat_function_works_on_real_material(cases: Path) -> None:
    """Each function of the surface, on conformance material that must verify."""
    identity = IdentityPolicy(GITHUB_ISSUER, subject=BEACON)
    public_good = trusted_root()

    happy = (cases / "happy-path-v0.3" / "bundle.sigstore.json").read_bytes()
    artifact = (cases.parent / "a.txt").read_bytes()
    sigstore_compat.verifier(public_good).verify_artifact(artifact, Bundle.from_json(happy), identity)

    intoto = cases / "intoto-with-custom-trust-root"
    custom = trusted_root(intoto / "trusted_root.json")
    bundle = Bundle.from_json((intoto / "bundle.sigstore.json").read_bytes())
    sigstore_compat.verify_signing_certificate(sigstore_compat.verifier(custom), bundle, identity)

    managed = BundleMessage.from_json((cases / "managed-key-happy-path" / "bundle.sigstore.json").read_bytes())
    sigstore_compat.verify_log_entry(managed.verification_material.tlog_entries[0], public_good)

    message = BundleMessage.from_json(happy)
    entry = message.verification_material.tlog_entries[0]
    assert entry.inclusion_promise is not None
    canonical = rfc8785.dumps(
        {
            "body": base64.b64encode(entry.canonicalized_body).decode(),
            "integratedTime": entry.integrated_time,
            "logID": entry.log_id.key_id.hex(),
            "logIndex": entry.log_index,
        }
    )
    signature = entry.inclusion_promise.signed_entry_timestamp
    sigstore_compat.verify_log_promise(public_good, entry.log_id.key_id, signature, canonical)

    assert message.verification_material.certificate is not None
    certificate = x509.load_der_x509_certificate(message.verification_material.certificate.raw_bytes)
    assert entry.integrated_time is not None
    when = datetime.fromtimestamp(entry.integrated_time, tz=UTC)
    sigstore_compat.verify_certificate_at(public_good, certificate, when)


# Private attributes the library's objects carry; reaching one outside the compat module is a leak.
_PRIVATE_SIGSTORE_ATTRIBUTES = {
    name.rsplit(".", 1)[-1] for name in sigstore_compat.PRIVATE_API if name.rsplit(".", 1)[-1].startswith("_")
} | {"_inner", "_dsse_envelope", "_verify_set", "_to_parts", "_as_prehashed", "_from_json", "_keyring"}


def _leaks(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.startswith("sigstore") and "._" in a.name]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sigstore"):
            module = node.module or ""
            if "._" in module or module.startswith("sigstore._"):
                found.append(f"from {module} import ...")
            found += [f"from {module} import {a.name}" for a in node.names if a.name.startswith("_")]
        elif isinstance(node, ast.Attribute) and node.attr in _PRIVATE_SIGSTORE_ATTRIBUTES:
            found.append(f".{node.attr} (line {node.lineno})")
    return found


def test_nothing_else_touches_sigstores_private_api() -> None:
    allowed = {ROOT / "scripts" / "checks" / "sigstore_compat.py", Path(__file__).resolve()}
    leaks = {}
    # The project's own code only: walking venv/ and build/ would cost seconds and judge nothing of ours.
    sources = [
        ROOT / "__main__.py",
        *(p for d in ("components", "scripts", "policies", "tests") for p in (ROOT / d).rglob("*.py")),
    ]
    for path in sorted(sources):
        if path in allowed:
            continue
        if found := _leaks(ast.parse(path.read_text(), str(path))):
            leaks[str(path.relative_to(ROOT))] = found
    assert leaks == {}, f"sigstore's private API outside scripts/checks/sigstore_compat.py: {json.dumps(leaks)}"


@pytest.mark.parametrize(
    ("end", "counted"),
    [
        (timedelta(0), True),  # exactly at the end: the period is closed
        (timedelta(seconds=1), True),
        (timedelta(seconds=-1), False),
    ],
)
def test_a_timestamp_at_the_end_of_its_authoritys_validity_counts(
    cases: Path, tmp_path: Path, end: timedelta, counted: bool
) -> None:
    """Sigstore conformance `trust-root-tsa-validity-end-inclusive`, on the real timestamp of a conformance
    bundle: the authority's validity period ends at the timestamp, and the timestamp still counts."""
    case = cases / "intoto-with-custom-trust-root"
    bundle = Bundle.from_json((case / "bundle.sigstore.json").read_text())
    timestamps = bundle.verification_material.timestamp_verification_data
    assert timestamps is not None
    (response,) = timestamps.rfc3161_timestamps
    signed_at = response.tst_info.gen_time
    root_json = json.loads((case / "trusted_root.json").read_text())
    (authority,) = root_json["timestampAuthorities"]
    authority["validFor"]["end"] = (signed_at + end).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    root_file = tmp_path / "trusted_root.json"
    root_file.write_text(json.dumps(root_json))
    root = TrustedRoot.from_file(str(root_file))
    assert (sigstore_compat.verified_timestamp_times(root, bundle) == [signed_at]) is counted
