"""Post-deploy checks CLI.

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
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from scripts.checks.errors import CheckError, UsageError
from scripts.checks.verification import (
    IdentityPolicy,
    Subject,
    load_public_key,
    trusted_root,
    verify_with_identity,
    verify_with_key,
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m scripts.verify", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    bundle = commands.add_parser("verify-bundle", help="verify one Sigstore bundle (conformance protocol)")
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


def main(argv: Sequence[str] | None = None) -> int:
    # the library announces offline TUF use at WARNING; the protocol wants one line per outcome
    logging.getLogger("sigstore").setLevel(logging.ERROR)
    try:
        args = _parser().parse_args(argv)
        if args.command == "verify-bundle":
            print(verify_bundle(args))
        return 0
    except CheckError as exc:
        print(f"{exc.label}: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
