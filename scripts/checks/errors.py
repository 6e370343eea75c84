"""One error family for the checks; each message says what was expected, what was found, and
what to do next. The CLI turns them into one line and an exit code, never a traceback."""

from __future__ import annotations


class CheckError(Exception):
    """Base of every error the checks raise on purpose."""

    exit_code = 1
    label = "error"


class VerificationFailedError(CheckError):
    """A signature, attestation or identity did not verify (got vs expected in the message)."""

    label = "rejected"


class UsageError(CheckError):
    """Bad arguments or an unusable stack output file."""

    exit_code = 2
    label = "usage"


class UnreachableError(CheckError):
    """The registry or the cluster could not be reached within the deadline."""

    exit_code = 3
    label = "unreachable"
