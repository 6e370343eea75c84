"""Who ran a GitHub workflow: a certificate names the workflow file, and a reusable workflow signs for every
repository that calls it. The caller is in the certificate's claims; this checks it against the ones trusted."""

from __future__ import annotations

import re

from cryptography.x509 import Certificate, ExtensionNotFound, ObjectIdentifier
from sigstore.errors import Error as SigstoreError
from sigstore.verify import policy

from scripts.checks.errors import VerificationFailedError

_SOURCE_REPOSITORY_URI_OID = ObjectIdentifier("1.3.6.1.4.1.57264.1.12")
_GITHUB_WORKFLOW = re.compile(r"https://github\.com/([A-Za-z0-9-]+/[A-Za-z0-9_.-]+)/\.github/workflows/.+")


def verify_caller(cert: Certificate, sans: set[str], callers: tuple[str, ...]) -> None:
    """Raise unless one of `callers` (else the workflow's own repository, from `sans`) ran the workflow: the
    source-repository URI (1.12) when the certificate has one, else the GitHub workflow repository (1.5)."""
    allowed = callers or tuple(match.group(1) for san in sans if (match := _GITHUB_WORKFLOW.fullmatch(san)) is not None)
    checks: list[policy.VerificationPolicy]
    try:
        cert.extensions.get_extension_for_oid(_SOURCE_REPOSITORY_URI_OID)
        checks = [policy.OIDCSourceRepositoryURI(f"https://github.com/{repo}") for repo in allowed]
    except ExtensionNotFound:
        checks = [policy.GitHubWorkflowRepository(repo) for repo in allowed]
    for check in checks:
        try:
            check.verify(cert)
            return
        except SigstoreError:
            continue
    raise VerificationFailedError(
        f"the workflow was not run by {', '.join(allowed) or 'a repository the identity names'}"
    )
