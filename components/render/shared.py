"""What both admission engines render the same way from the trust model."""

from __future__ import annotations

from components.model.contract import managed_labels
from components.model.trust import KeyAuthority, TrustModel


def keyless_identities(model: TrustModel) -> list[dict[str, str]]:
    """The keyless identities as both engines spell them (`issuer` + `subject` or `subjectRegExp`)."""
    return [
        {"issuer": k.issuer, **({"subject": k.subject} if k.subject else {"subjectRegExp": k.subject_regexp or ""})}
        for k in model.keyless
    ]


def key_reference(key: KeyAuthority) -> dict[str, str]:
    """How an engine finds a key: the pinned public key (verified offline), else the KMS URI (the
    engine reads the public key, and for AWS KMS the signing algorithm, from the KMS)."""
    if key.verified_offline:
        return {"data": key.public_key_pem or ""}
    return {"kms": key.kms_uri or ""}


def has_authority(model: TrustModel) -> bool:
    """Whether anyone may sign; without an authority no signature policy can be rendered."""
    return bool(model.keyless or model.keys)


def labels() -> dict[str, str]:
    """Labels of every rendered document."""
    return managed_labels()
