"""Post-deploy checks CLI.

    python -m scripts.verify [check] --stack prod | --outputs FILE [--context CTX]
        [--known-good IMAGE@DIGEST] [--signing-key PEM | --kms-key NAME] [--evidence DIR] [--deadline S] [--workers N]

proves the chain on the live cluster and registry: posture, dry-run Pods for every case in every
namespace under admission, independent verification of the known-good image, audit readiness.

    python -m scripts.verify keys --stack prod | --outputs FILE [--evidence DIR]

checks, without a cluster, that the stack's KMS keys (AWS KMS, Key Vault) can sign and are the ones it pins.

    python -m scripts.verify verify-bundle [--staging] --bundle FILE
        (--certificate-identity ID | --certificate-identity-regexp RE) --certificate-oidc-issuer URL
        [--trusted-root FILE] FILE_OR_DIGEST
    python -m scripts.verify verify-bundle --bundle FILE --key PATH [--trusted-root FILE] FILE_OR_DIGEST

`verify-bundle` speaks the Sigstore conformance suite's CLI protocol (exit 0: verified; non-zero:
rejected), offline: the trusted root is the given file or the public-good (`--staging`: staging)
root shipped with the `sigstore` library.

Exit codes: 0 every check holds, 1 a check failed, 2 usage or config error, 3 registry or cluster
unreachable. Failures are one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn

from components.model.contract import StackOutputs
from scripts import VERSION
from scripts.checks import evidence
from scripts.checks.cluster import Cluster
from scripts.checks.errors import CheckError, UsageError
from scripts.checks.kms_keys import canary_key, kms_key_checks
from scripts.checks.oci import Credentials, Registry
from scripts.checks.options import Options
from scripts.checks.outputs import load_outputs_file, load_plan_outputs, load_stack_outputs, read_trust_model
from scripts.checks.posture import public_access
from scripts.checks.results import CheckResult
from scripts.checks.runner import run_all, verify_known_good
from scripts.checks.signed import Subject
from scripts.checks.vault import azure_cli_token
from scripts.checks.verification import (
    IdentityPolicy,
    load_public_key,
    trusted_root,
    verify_with_identity,
    verify_with_key,
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message)


CHECK_EPILOG = """exit codes: 0 every check holds, 1 a check failed, 2 usage or config error, 3 registry or cluster
unreachable

examples:
  python -m scripts.verify --stack prod --known-good crcontosoprod.azurecr.io/payments/api@sha256:<digest>
  pulumi stack output --json --stack dev > build/outputs-dev.json
  python -m scripts.verify check --outputs build/outputs-dev.json --context aks-dev --evidence build/evidence"""

IMAGE_EPILOG = """exit codes: 0 the image meets every namespace it is meant for, 1 it does not, 2 usage or config error,
3 registry unreachable

examples:
  python -m scripts.verify image --outputs build/outputs-prod.json crcontosoprod.azurecr.io/payments/api@sha256:<hex>"""

KEYS_EPILOG = """exit codes: 0 every key holds (or is skipped: not readable from here), 1 a key does not, 2 usage error

example: python -m scripts.verify keys --outputs build/outputs-prod.json   # AWS credentials: the standard chain"""

BUNDLE_EPILOG = """exit codes: 0 verified, 1 rejected, 2 usage error (the conformance protocol: any non-zero rejects)

examples:
  python -m scripts.verify verify-bundle --bundle a.sigstore.json --certificate-identity \\
    https://github.com/contoso/payments-api/.github/workflows/release.yml@refs/heads/main \\
    --certificate-oidc-issuer https://token.actions.githubusercontent.com a.txt
  python -m scripts.verify verify-bundle --bundle b.sigstore.json --key cosign.pub sha256:<hex>"""


def _version() -> str:
    """This verifier's version and the libraries whose behaviour its verdicts rest on."""
    libraries = []
    for name in ("sigstore", "kubernetes", "cryptography"):
        try:
            libraries.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            libraries.append(f"{name} not installed")
    return f"supply-chain verify {VERSION} ({', '.join(libraries)}; Python {platform.python_version()})"


def _add_stack_source(command: argparse.ArgumentParser) -> None:
    """Where the stack's outputs come from: a deployed stack through the CLI, a saved file, or an offline plan."""
    source = command.add_mutually_exclusive_group(required=True)
    source.add_argument("--stack", help="a deployed stack (reads `pulumi stack output --json`)")
    source.add_argument("--outputs", type=Path, help="the stack's outputs (`pulumi stack output --json > FILE`)")
    source.add_argument(
        "--from-plan",
        type=Path,
        metavar="DIR",
        help="an offline plan's outputs (`make plan`: DIR/plan.json), without the Pulumi CLI; only for a stack "
        "without Azure resources or a generated key, whose outputs the plan knows exactly",
    )


def _stack_outputs(args: argparse.Namespace, *, show_secrets: bool = False) -> StackOutputs:
    if args.outputs is not None:
        return load_outputs_file(args.outputs)
    if args.from_plan is not None:
        return load_plan_outputs(args.from_plan)
    return load_stack_outputs(args.stack, show_secrets=show_secrets)


def _stack_label(args: argparse.Namespace) -> str:
    """The stack's name in evidence: as given, else the outputs file's stem, else the plan directory's name."""
    if args.stack:
        return str(args.stack)
    if args.outputs is not None:
        return str(args.outputs.stem)
    return str(args.from_plan.resolve().name) if args.from_plan is not None else "stack"


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m scripts.verify",
        description=__doc__.split("\n\n")[0],
        epilog=CHECK_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=_version())
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser(
        "check",
        help="prove the chain on the live cluster and registry",
        description="Prove the chain on the live cluster and registry: posture, a dry-run Pod for every case in "
        "every namespace under admission, independent verification of the known-good image.",
        epilog=CHECK_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_stack_source(check)
    check.add_argument("--context", help="kubeconfig context (default: the current one)")
    check.add_argument("--known-good", help="an image the real pipeline signed and attested (IMAGE@sha256:...)")
    check.add_argument("--signing-key", type=Path, help="PEM private key of a trusted key, to sign canaries")
    check.add_argument(
        "--stack-signing-key",
        action="store_true",
        help="sign canaries with the local stack's generated key (reads the secret output)",
    )
    check.add_argument(
        "--kms-key",
        metavar="NAME",
        help="sign canaries inside KMS with the stack's key NAME (aws-kms or azure-key-vault; no private key on disk)",
    )
    check.add_argument("--evidence", type=Path, default=Path("build/evidence"), help="where evidence goes")
    check.add_argument("--json", action="store_true", help="print evidence.json's summary and checks on stdout")
    check.add_argument("--deadline", type=float, default=300.0, help="seconds for the whole run (default 300)")
    check.add_argument("--workers", type=int, default=8, help="concurrent dry-run requests (default 8)")
    check.add_argument("--trusted-root", type=Path, help="Sigstore trusted_root.json (default: public good)")
    check.add_argument(
        "--outside-network",
        action="store_true",
        help="only prove the registry is closed to where this runs (run it from outside the private network)",
    )
    image = commands.add_parser(
        "image",
        help="verify one pushed image against the stack's trust model (no cluster needed)",
        description="Verify one image by digest, offline, against the stack's trust model: its signatures and "
        "attestations read from the registry and verified here, then judged for each namespace it is meant for "
        "(its repositories), as the post-deploy checks judge the known-good image. A release workflow's last step.",
        epilog=IMAGE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_stack_source(image)
    image.add_argument("--trusted-root", type=Path, help="Sigstore trusted_root.json (default: public good, offline)")
    image.add_argument("--evidence", type=Path, default=Path("build/evidence"), help="where evidence goes")
    image.add_argument("image", metavar="IMAGE@sha256:DIGEST", help="the pushed image, by digest")
    keys = commands.add_parser(
        "keys",
        help="check the stack's KMS signing keys (no cluster needed)",
        description="Read each KMS signing key the stack trusts: an AWS KMS key must be an enabled SIGN_VERIFY key "
        "of a spec the engines verify, and every pinned public key (AWS KMS, Key Vault) the one the KMS holds.",
        epilog=KEYS_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_stack_source(keys)
    keys.add_argument("--evidence", type=Path, default=Path("build/evidence"), help="where evidence goes")
    bundle = commands.add_parser(
        "verify-bundle",
        help="verify one Sigstore bundle (conformance protocol)",
        description="Verify one Sigstore bundle offline against an exact identity and issuer (or an anchored "
        "identity pattern), or against a public key: the conformance suite's CLI protocol.",
        epilog=BUNDLE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    bundle.add_argument("--staging", action="store_true", help="use Sigstore's staging trusted root")
    bundle.add_argument("--bundle", required=True, type=Path, help="the bundle (.sigstore.json)")
    bundle.add_argument("--certificate-identity", help="exact signer identity")
    bundle.add_argument("--certificate-identity-regexp", help="anchored regular expression over the identity")
    bundle.add_argument("--certificate-oidc-issuer", help="exact OIDC issuer")
    bundle.add_argument("--key", type=Path, help="PEM public key (managed-key bundles)")
    bundle.add_argument("--trusted-root", type=Path, help="a Sigstore trusted_root.json")
    bundle.add_argument("subject", metavar="FILE_OR_DIGEST", help="the signed file, or sha256:<hex>")
    return parser


def verify_bundle(args: argparse.Namespace) -> str:
    """`verify-bundle`: one bundle against an identity or a key; the line to print when it verifies."""
    subject = Subject.parse(args.subject)
    root = trusted_root(args.trusted_root, staging=args.staging)
    try:
        bundle_json = args.bundle.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read --bundle {args.bundle}: {exc.strerror}") from exc
    if args.key is not None:
        if args.certificate_identity or args.certificate_identity_regexp:
            raise UsageError("--key and --certificate-identity are alternatives; give one")
        try:
            key = load_public_key(args.key.read_bytes())
        except OSError as exc:
            raise UsageError(f"cannot read --key {args.key}: {exc.strerror}") from exc
        verified = verify_with_key(bundle_json, subject, root, key)
    else:
        if not args.certificate_oidc_issuer or not (args.certificate_identity or args.certificate_identity_regexp):
            raise UsageError("give --certificate-identity (or -regexp) and --certificate-oidc-issuer, or --key")
        identity = IdentityPolicy(
            args.certificate_oidc_issuer,
            subject=args.certificate_identity,
            subject_regexp=args.certificate_identity_regexp,
        )
        verified = verify_with_identity(bundle_json, subject, root, identity)
    return f"verified: {verified.kind} signed by {verified.signer}, log index {verified.log_index}"


def _signing_key(args: argparse.Namespace, outputs: StackOutputs) -> ec.EllipticCurvePrivateKey | None:
    """The key to sign canaries with: --signing-key, the local stack's generated key, or none."""
    pem: bytes | None = None
    if args.signing_key is not None:
        try:
            pem = args.signing_key.read_bytes()
        except OSError as exc:
            raise UsageError(f"cannot read --signing-key {args.signing_key}: {exc.strerror}") from exc
    elif args.stack_signing_key:
        if not outputs.signing_private_keys_pem:
            raise UsageError(
                "--stack-signing-key: the outputs hold no signingPrivateKeysPem (local stack, --show-secrets)"
            )
        pem = next(iter(outputs.signing_private_keys_pem.values())).encode()
    if pem is None:
        return None
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise UsageError(f"the signing key is not an unencrypted PEM private key: {exc}") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise UsageError("canaries are signed with EC keys; the signing key is not one")
    return key


def verify_image(args: argparse.Namespace) -> int:
    """`image`: one image verified against the trust model, as the checks verify the known-good image."""
    outputs = _stack_outputs(args)
    model = read_trust_model(outputs)
    server = outputs.registry_login_server
    registry = Registry(server, credentials=Credentials.discover(server), plain_http=model.plain_http_registry)
    (result,) = verify_known_good(registry, model, trusted_root(args.trusted_root), Options(known_good=args.image))
    stack = _stack_label(args)
    evidence.write([result], args.evidence, {"stack": stack, "image": args.image})
    for proof in result.details.get("proofs", []):
        print(f"  {proof}")
    print(f"{'verified' if result.status == 'pass' else 'rejected'}: {args.image}: {result.observed}")
    return 0 if result.status == "pass" else 1


def check(args: argparse.Namespace) -> int:
    """`check`: the post-deploy run (or only the outside-network probe); writes evidence, returns the exit code.
    A run that cannot finish (bad outputs, unreachable cluster or registry) still writes evidence: one failed
    `run/<reason>` check saying why, so CI has a junit.xml to show."""
    try:
        return _check(args)
    except CheckError as stopped:
        reason = CheckResult(
            f"run/{stopped.label}",
            "The checks ran to the end",
            "fail",
            "the outputs read, the cluster and the registry answering",
            str(stopped),
            details={"exitCode": stopped.exit_code},
        )
        stack = _stack_label(args)
        evidence.write([reason], args.evidence, {"stack": stack, "exitCode": stopped.exit_code})
        raise


def _check(args: argparse.Namespace) -> int:
    # soft wrap: a CI log keeps each outcome on one line, whatever width rich guesses for a pipe
    console = Console(stderr=True, soft_wrap=True)
    outputs = _stack_outputs(args, show_secrets=args.stack_signing_key)
    model = read_trust_model(outputs)
    if args.outside_network:
        registry = Registry(outputs.registry_login_server, plain_http=model.plain_http_registry, timeout=5)
        results = [public_access(registry)]
        evidence.write(results, args.evidence, {"stack": _stack_label(args), "mode": "outside-network"})
        console.print(f"{results[0].status}: {escape(results[0].title)}: {escape(results[0].observed)}")
        return 0 if results[0].status == "pass" else 1
    key, problem = canary_key(args.kms_key, _signing_key(args, outputs), model)
    options = Options(
        known_good=args.known_good,
        signing_key=key,
        signing_key_problem=problem,
        deadline_seconds=args.deadline,
        workers=args.workers,
    )
    cluster = Cluster.from_kubeconfig(args.context)
    credentials = Credentials.discover(outputs.registry_login_server)
    registry = Registry(outputs.registry_login_server, credentials=credentials, plain_http=model.plain_http_registry)
    root = trusted_root(args.trusted_root)
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), console=console, transient=True) as bar:
        task = bar.add_task("starting")

        def progress(step: str) -> None:
            if console.is_terminal:
                bar.update(task, description=step)
            else:  # a log has no live display: one line per step, so a long run is seen moving
                console.print(f"… {escape(step)}", highlight=False)

        results = run_all(outputs, cluster, registry, root, options, progress)
    context = {"stack": _stack_label(args), "runId": options.run_id}
    files = evidence.write(results, args.evidence, context)
    counts = evidence.summary(results)
    for r in results:
        if r.status == "fail":
            console.print(f"[red]FAIL[/red] {escape(r.title)}: expected {escape(r.expected)}, {escape(r.observed)}")
    if os.environ.get("GITHUB_ACTIONS") == "true":  # failures shown on the run's summary page
        for line in evidence.github_annotations(results):  # the runner reads commands on stderr too
            print(line, file=sys.stderr)
    if args.json:  # stdout holds nothing else
        print(json.dumps({**evidence.as_json(results, context), "evidence": [str(f) for f in files]}, sort_keys=True))
    console.print(
        f"{counts['pass']} passed, {counts['fail']} failed, {counts['skip']} skipped; evidence: "
        + ", ".join(str(f) for f in files)
    )
    return 1 if counts["fail"] else 0


def check_keys(args: argparse.Namespace) -> int:
    """`keys`: each KMS signing key the stack trusts, read from its KMS; writes evidence, returns the exit code."""
    results = kms_key_checks(read_trust_model(_stack_outputs(args)), azure_cli_token)
    evidence.write(results, args.evidence, {"stack": _stack_label(args), "mode": "keys"})
    for r in results:
        print(f"{r.status}: {r.title}: {r.observed}")
    if not results:
        print("no KMS signing key in this stack: nothing to read")
    return 1 if any(r.status == "fail" for r in results) else 0


def main(argv: Sequence[str] | None = None) -> int:
    """The CLI: one line per outcome on stderr, never a traceback; the exit code of the docstring."""
    # the library announces offline TUF use at WARNING; the protocol wants one line per outcome
    logging.getLogger("sigstore").setLevel(logging.ERROR)
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments and arguments[0].startswith("--") and arguments[0] not in ("--help", "--version"):
        arguments.insert(0, "check")  # `python -m scripts.verify --stack prod` is the main job
    try:
        args = _parser().parse_args(arguments)
        if args.command == "verify-bundle":
            print(verify_bundle(args))
        elif args.command == "image":
            return verify_image(args)
        elif args.command == "keys":
            return check_keys(args)
        elif args.command == "check":
            return check(args)
        return 0
    except CheckError as exc:
        print(f"{exc.label}: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
