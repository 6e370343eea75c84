"""Every use of `sigstore`'s private API, in one place, checked against one version of the library.

The library verifies keyless bundles with `hashedrekord` and `dsse` log entries through its public
`Verifier`. The checks need four more things it only has privately:

  1. `verifier`: a `Verifier` that also establishes a time for cosign's legacy `intoto` 0.0.2 entries
     (`Verifier._establish_time` accepts `dsse`/`hashedrekord` only), and
     `verify_signing_certificate`: its steps 0-6 (time, chain, SCT, identity, log entry) for them;
  2. `verify_log_entry`: inclusion proof, checkpoint and promise of a managed-key bundle's entry
     (`TransparencyLogEntry._verify`; the public `Verifier` wants a certificate);
  3. `verify_log_promise`: Rekor's signed promise over a legacy layer's entry (the Rekor keyring);
  4. `verify_certificate_at`: a Fulcio chain and its SCT at a given time, for legacy keyless layers.

Nothing else in the project touches a `_`-prefixed sigstore name (tests/test_sigstore_compat.py
checks that, and pins this module to `CHECKED_AGAINST`). Errors are the library's own
(`sigstore.errors.Error`, `sigstore.models.InvalidBundle`); callers turn them into theirs.
"""

from __future__ import annotations

from datetime import UTC, datetime

from cryptography.x509 import Certificate
from rfc3161_client import TimeStampResponse, VerifierBuilder
from rfc3161_client import VerificationError as Rfc3161VerificationError
from sigstore._internal.sct import verify_sct
from sigstore._internal.timestamp import TimestampSource, TimestampVerificationResult
from sigstore._internal.trust import KeyringPurpose
from sigstore._utils import KeyID
from sigstore.models import Bundle, TransparencyLogEntry, TrustedRoot
from sigstore.verify import Verifier
from sigstore.verify.policy import VerificationPolicy
from sigstore_models.rekor.v1 import TransparencyLogEntry as LogEntryMessage

CHECKED_AGAINST = "4.5.1"
"""The `sigstore` version this module was read against; re-check it before changing the pin."""

PRIVATE_API: dict[str, tuple[str, ...] | None] = {
    "sigstore._internal.sct.verify_sct": ("cert", "chain", "ct_keyring"),
    "sigstore._internal.timestamp.TimestampSource": None,
    "sigstore._internal.timestamp.TimestampVerificationResult": ("source", "time"),
    "sigstore._internal.trust.KeyringPurpose": None,
    "sigstore._utils.KeyID": None,
    "sigstore.models.TransparencyLogEntry": ("inner",),
    "sigstore.models.TransparencyLogEntry._verify": ("self", "keyring"),
    "sigstore.verify.Verifier._establish_time": ("self", "bundle"),
    "sigstore.verify.Verifier._verify_timestamp_authority": ("self", "bundle"),
    "sigstore.verify.Verifier._verify_common_signing_cert": ("self", "bundle", "policy"),
    "sigstore.verify.Verifier._verify_chain_at_time": ("self", "certificate", "timestamp_result"),
    "sigstore.verify.Verifier._verify_signed_timestamp": ("self", "timestamp_response", "message"),
}
"""Each private name used here, with its parameters where it is called (None: not a callable we call)."""

PRIVATE_ATTRIBUTES = (
    "log_entry._inner.kind_version",
    "log_entry._inner.integrated_time",
    "log_entry._inner.inclusion_promise",
)
"""Private attributes read on a `sigstore.models.Bundle` (checked on a real bundle by the pinning test)."""


class _IntotoAwareVerifier(Verifier):
    """The library's verifier; for `intoto` 0.0.2 entries it takes the time from a timestamp
    authority and from the entry's integrated time when an inclusion promise binds it (checked
    with the rest of the entry). Every other entry kind goes through the library unchanged."""

    def _establish_time(self, bundle: Bundle) -> list[TimestampVerificationResult]:
        entry = bundle.log_entry._inner
        kind = entry.kind_version
        if not (kind.kind == "intoto" and kind.version == "0.0.2"):
            return super()._establish_time(bundle)
        results = []
        if bundle.verification_material.timestamp_verification_data:
            results += self._verify_timestamp_authority(bundle)
        if entry.integrated_time and entry.inclusion_promise:
            results.append(
                TimestampVerificationResult(
                    source=TimestampSource.TRANSPARENCY_SERVICE,
                    time=datetime.fromtimestamp(entry.integrated_time, tz=UTC),
                )
            )
        return results

    def _verify_signed_timestamp(
        self, timestamp_response: TimeStampResponse, message: bytes
    ) -> TimestampVerificationResult | None:
        """A signed timestamp by one of the root's authorities, within that authority's validity period, both
        ends included (the library excludes the end; Sigstore conformance's
        `trust-root-tsa-validity-end-inclusive` requires it)."""
        when = timestamp_response.tst_info.gen_time
        for authority in self._trusted_root.get_timestamp_authorities():
            start, end = authority.validity_period_start, authority.validity_period_end
            if when < start or (end is not None and when > end):
                continue
            chain = authority.certificates(allow_expired=True)
            if len(chain) < 2:  # a signing certificate and a root at least
                continue
            builder = VerifierBuilder().tsa_certificate(chain[0]).add_root_certificate(chain[-1])
            for intermediate in chain[1:-1]:
                builder = builder.add_intermediate_certificate(intermediate)
            try:
                builder.build().verify_message(timestamp_response, message)
            except Rfc3161VerificationError:
                continue
            return TimestampVerificationResult(source=TimestampSource.TIMESTAMP_AUTHORITY, time=when)
        return None


def verifier(root: TrustedRoot) -> Verifier:
    """A `Verifier` for `root` whose public methods behave as the library's, and which
    `verify_signing_certificate` can also use for `intoto` 0.0.2 entries."""
    return _IntotoAwareVerifier(trusted_root=root)


def verified_timestamp_times(root: TrustedRoot, bundle: Bundle) -> list[datetime]:
    """The times of the bundle's signed timestamps that one of `root`'s authorities vouches for."""
    return [result.time for result in verifier(root)._verify_timestamp_authority(bundle)]


def verify_signing_certificate(verifier_: Verifier, bundle: Bundle, policy: VerificationPolicy) -> None:
    """The library's steps 0-6 for a keyless bundle: verified time, Fulcio chain at that time, SCT,
    key usage, `policy`, the log entry's inclusion proof and promise, and the certificate's validity
    at the logged time. The caller verifies the signature and the entry's consistency."""
    verifier_._verify_common_signing_cert(bundle, policy)


def verify_log_entry(entry: LogEntryMessage, root: TrustedRoot) -> None:
    """A bundle's log entry: Merkle inclusion proof, signed checkpoint and (if present) inclusion
    promise, by the Rekor keys of `root`. Says nothing about what the entry records."""
    TransparencyLogEntry(entry)._verify(root.rekor_keyring(KeyringPurpose.VERIFY))


def verify_log_promise(root: TrustedRoot, log_id: bytes, signature: bytes, data: bytes) -> None:
    """Rekor's signed entry timestamp (`signature` over canonical `data`) by the log `log_id` of `root`."""
    root.rekor_keyring(KeyringPurpose.VERIFY).verify(key_id=KeyID(log_id), signature=signature, data=data)


def verify_certificate_at(root: TrustedRoot, certificate: Certificate, when: datetime) -> None:
    """A Fulcio certificate chains to `root` at `when` (a verified time), and carries a valid SCT."""
    at = TimestampVerificationResult(source=TimestampSource.TRANSPARENCY_SERVICE, time=when)
    chain = verifier(root)._verify_chain_at_time(certificate, at)
    verify_sct(certificate, chain, root.ct_keyring(KeyringPurpose.VERIFY))
