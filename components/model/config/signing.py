"""Config section of the trust roots: keyless identities, signing keys and the Sigstore instance."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Annotated, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from components.model.config.aws_kms import AwsKmsKey
from components.model.config.errors import raise_violations
from components.model.config.fields import (
    KEY_NAME,
    ConfigModel,
    HttpsUrl,
    PublicKeyPem,
    WorkspaceId,
    certificate_chain_problems,
    today_of,
    tuf_root_problems,
)
from components.model.config.identity import identity_pattern_problems
from components.model.config.text import shown
from components.model.contract import GITHUB_ACTIONS_ISSUER


class KeylessIdentity(ConfigModel):
    """A Fulcio certificate identity: exact OIDC issuer plus exact subject or anchored subject regex."""

    name: str | None = Field(
        default=None,
        pattern=KEY_NAME,
        description="Name of this identity, for namespaces' `signers` to refer to (unique among identities and keys).",
    )
    issuer: HttpsUrl = Field(description="OIDC issuer, exact (e.g. `https://token.actions.githubusercontent.com`).")
    subject: str | None = Field(default=None, description="Exact certificate identity (SAN).")
    provenance_only: bool = Field(
        default=False,
        description=(
            "A builder that signs provenance and nothing else (a shared build workflow is not bound to the "
            "repository calling it): never trusted for image signatures; name it in a provenance `signer`."
        ),
    )
    subject_reg_exp: str | None = Field(
        default=None, description="Anchored regex over the identity, pinned to one owner (never `.*`)."
    )
    callers: list[str] = Field(
        default_factory=list,
        description=(
            "GitHub only: the repositories (`owner/repo`) that may run this workflow when it is a reusable one "
            "(the certificate's workflow-repository claim). Empty: only the workflow's own repository. Checked by "
            "Policy Controller on legacy signatures and by the post-deploy checks."
        ),
    )

    @model_validator(mode="after")
    def _one_subject(self) -> KeylessIdentity:
        problems: list[tuple[str, str]] = []
        if self.subject is None and self.subject_reg_exp is None:
            problems.append(("subject", "set `subject` (exact identity) or `subjectRegExp` (anchored pattern)"))
        if self.subject is not None and self.subject_reg_exp is not None:
            problems.append(("subjectRegExp", "set only one of `subject` and `subjectRegExp`"))
        if self.subject is not None and not self.subject.strip():
            problems.append(
                ("subject", "is empty — an empty identity would trust nothing or, in some engines, anything")
            )
        if self.subject_reg_exp is not None:
            problems += [("subjectRegExp", p) for p in identity_pattern_problems(self.subject_reg_exp, self.issuer)]
        if self.callers and self.issuer != GITHUB_ACTIONS_ISSUER:
            problems.append(
                ("callers", f"only GitHub certificates name the calling repository ({GITHUB_ACTIONS_ISSUER})")
            )
        for caller in self.callers:
            if not re.fullmatch(r"[A-Za-z0-9-]+/[A-Za-z0-9_.-]+", caller):
                problems.append(("callers", f"{shown(caller)} is not a GitHub repository as owner/repo"))
        if len(set(self.callers)) != len(self.callers):
            problems.append(("callers", "a repository is listed twice"))
        raise_violations(problems)
        return self


class PreviousKeyVersion(ConfigModel):
    """A key version still trusted after a rotation, until a stated day."""

    version: str = Field(description="The Key Vault key version (32 lowercase hex characters).")
    until: date = Field(
        description=(
            "Last day images signed with this version are admitted (the overlap). After it the plan refuses the "
            "entry until it is removed, and the next deploy stops trusting the version."
        )
    )

    @field_validator("version")
    @classmethod
    def _version(cls, version: str) -> str:
        if not re.fullmatch(r"[0-9a-f]{32}", version):
            raise ValueError(f"{shown(version)} is not a Key Vault key version (32 lowercase hex characters)")
        return version

    @field_validator("until")
    @classmethod
    def _until(cls, until: date, info: ValidationInfo) -> date:
        if until < today_of(info):
            raise ValueError(
                f"the overlap ended on {until.isoformat()}: remove this version (images signed with it are no "
                "longer admitted once the stack is deployed without it)"
            )
        return until


class AzureKeyVaultKey(ConfigModel):
    """An EC P-256 signing key the stack creates in its Key Vault, referenced by KMS URI."""

    kind: Literal["azure-key-vault"]
    name: str = Field(pattern=KEY_NAME, description="Key name in the vault.")
    hsm_enabled: bool | None = Field(default=None, description="HSM-backed key (default: true in prod).")
    rotation_days: int = Field(
        default=180,
        ge=30,
        le=730,
        description=(
            "Days between rotations: the vault notifies when one is due (the README's runbook rotates, with an "
            "overlap); a version expires after two periods."
        ),
    )
    previous_versions: list[PreviousKeyVersion] = Field(
        default_factory=list,
        description=(
            "Versions still trusted after a rotation, each until a day, while images signed with them are "
            "rebuilt; the current version is always trusted, by its explicit version (never the versionless URI)."
        ),
    )
    public_key: PublicKeyPem | None = Field(
        default=None,
        description=(
            "Pinned public key PEM of the current version. The engines then verify with it offline (no call "
            "to the vault); the post-deploy checks compare it with the vault's key."
        ),
    )
    transparency_log_required: bool = Field(
        default=True, description="Require a Rekor entry for signatures by this key. `false` is refused in prod."
    )

    @field_validator("previous_versions")
    @classmethod
    def _distinct_versions(cls, versions: list[PreviousKeyVersion], info: ValidationInfo) -> list[PreviousKeyVersion]:
        seen = [v.version for v in versions]
        if len(set(seen)) != len(seen):
            raise ValueError("a version is listed twice: keep one entry per version")
        # an overlap longer than a rotation period keeps a retired key trusted past the next rotation
        rotation = info.data.get("rotation_days", 180)
        latest = today_of(info) + timedelta(days=rotation)
        for v in versions:
            if v.until > latest:
                raise ValueError(
                    f"version {v.version[:8]}… is trusted until {v.until.isoformat()}, past one rotation period "
                    f"({rotation} days, {latest.isoformat()}): shorten the overlap"
                )
        return versions


class PublicKeyAuthority(ConfigModel):
    """A signing key held elsewhere; only its public half is trusted."""

    kind: Literal["public-key"]
    name: str = Field(pattern=KEY_NAME, description="Name of this authority in policies.")
    pem: PublicKeyPem = Field(description="PEM public key: EC P-256/P-384 or RSA >= 2048.")
    transparency_log_required: bool = Field(
        default=True, description="Require a Rekor entry for signatures by this key. `false` is refused in prod."
    )


class GeneratedKey(ConfigModel):
    """A key the `local` stack generates; its private half is a secret stack output."""

    kind: Literal["generated"]
    name: str = Field(pattern=KEY_NAME, description="Name of the generated key.")
    transparency_log_required: bool = Field(
        default=True,
        description="Require a Rekor entry; set `false` to sign offline (`cosign sign --tlog-upload=false`).",
    )


class SigstoreConfig(ConfigModel):
    """The Sigstore instance signatures are checked against. Empty means the public-good instance
    (Fulcio and Rekor at sigstore.dev, trust material from its TUF repository)."""

    rekor_url: HttpsUrl | None = Field(default=None, description="Rekor of a private instance.")
    rekor_public_key: PublicKeyPem | None = Field(default=None, description="PEM public key of that Rekor.")
    ct_log_url: HttpsUrl | None = Field(default=None, description="Its certificate transparency log.")
    ct_log_public_key: PublicKeyPem | None = Field(
        default=None, description="PEM public key of its certificate transparency log."
    )
    fulcio_url: HttpsUrl | None = Field(default=None, description="Its Fulcio (certificate authority).")
    fulcio_roots: str | None = Field(default=None, description="PEM certificate chain of its Fulcio.")
    tsa_url: HttpsUrl | None = Field(default=None, description="Its timestamp authority.")
    tsa_cert_chain: str | None = Field(default=None, description="PEM certificate chain of its timestamp authority.")
    tuf_mirror: HttpsUrl | None = Field(default=None, description="TUF mirror serving its trust material.")
    tuf_root: str | None = Field(default=None, description="Base64 of the TUF root.json for `tufMirror`.")

    @field_validator("fulcio_roots", "tsa_cert_chain")
    @classmethod
    def _certs(cls, pem: str | None) -> str | None:
        if pem is not None and (problems := certificate_chain_problems(pem)):
            raise ValueError(problems[0])
        return pem

    @field_validator("tuf_root")
    @classmethod
    def _tuf_root(cls, value: str | None) -> str | None:
        if value is not None and (problems := tuf_root_problems(value)):
            raise ValueError(problems[0])
        return value

    @model_validator(mode="after")
    def _complete(self) -> SigstoreConfig:
        problems: list[tuple[str, str]] = []
        for url, material, url_key in (
            (self.fulcio_url, self.fulcio_roots, "fulcioUrl"),
            (self.ct_log_url, self.ct_log_public_key, "ctLogUrl"),
            (self.tsa_url, self.tsa_cert_chain, "tsaUrl"),
        ):
            if (url is None) != (material is None):
                problems.append((url_key, "set the URL together with its key or certificate chain (both, or neither)"))
        if (self.tuf_mirror is None) != (self.tuf_root is None):
            problems.append(("tufRoot", "set tufMirror and tufRoot together (the root is how the mirror is trusted)"))
        if self.rekor_url is not None and self.rekor_public_key is None and self.tuf_mirror is None:
            problems.append(
                ("rekorPublicKey", "a private Rekor needs its public key (or a tufMirror + tufRoot that serve it)")
            )
        raise_violations(problems)
        return self


SigningKey = Annotated[AzureKeyVaultKey | AwsKmsKey | PublicKeyAuthority | GeneratedKey, Field(discriminator="kind")]


class SigningConfig(ConfigModel):
    """Who may sign: keyless identities and keys. An image needs a signature from any one of them."""

    keyless: list[KeylessIdentity] = Field(
        default_factory=list, description="Keyless (Fulcio certificate) identities allowed to sign."
    )
    keys: list[SigningKey] = Field(
        default_factory=list,
        description="Signing keys, each by `kind`: azure-key-vault, aws-kms, public-key or generated.",
    )
    sigstore: SigstoreConfig = Field(
        default_factory=SigstoreConfig, description="Sigstore instance (default: public good)."
    )
    signature_format: Literal["bundle", "legacy"] = Field(
        default="bundle",
        description=(
            "How signers store signatures: `bundle` (Sigstore bundles as OCI referrers, cosign v3's default) or "
            "`legacy` (`.sig`/`.att` tags, `--new-bundle-format=false`). Kyverno reads either; Policy Controller "
            "is told which."
        ),
    )
    log_analytics_workspace_id: WorkspaceId | None = Field(
        default=None,
        description=(
            "Resource id of a Log Analytics workspace for the signing Key Vault's audit logs (every key read and "
            "signature). Needs an azure-key-vault key."
        ),
    )

    @model_validator(mode="after")
    def _roots_and_unique_names(self) -> SigningConfig:
        raise_violations(self._missing_fulcio_roots() + self._duplicate_key_names() + self._workspace_without_vault())
        return self

    def _missing_fulcio_roots(self) -> list[tuple[str, str]]:
        sig = self.sigstore
        if self.keyless and sig.rekor_url is not None and sig.tuf_mirror is None and sig.fulcio_roots is None:
            return [
                (
                    "sigstore.fulcioRoots",
                    "keyless identities of a private Sigstore need its Fulcio roots (or a tufMirror + tufRoot)",
                )
            ]
        return []

    def _workspace_without_vault(self) -> list[tuple[str, str]]:
        if self.log_analytics_workspace_id is None or any(isinstance(k, AzureKeyVaultKey) for k in self.keys):
            return []
        return [
            (
                "logAnalyticsWorkspaceId",
                "collects the signing Key Vault's logs, and no signing key is azure-key-vault (no vault is created) — "
                "remove it",
            )
        ]

    def _duplicate_key_names(self) -> list[tuple[str, str]]:
        seen: dict[str, str] = {}
        problems: list[tuple[str, str]] = []
        named = [(f"keyless[{i}]", k.name) for i, k in enumerate(self.keyless) if k.name is not None]
        named += [(f"keys[{i}]", k.name) for i, k in enumerate(self.keys)]
        for where, name in named:
            # case-blind: engines lowercase names (a Policy Controller authority is `key-<name>`)
            folded = name.lower()
            if folded in seen:
                problems.append(
                    (f"{where}.name", f"{shown(name)} is already used by {seen[folded]} (names ignore case)")
                )
            seen.setdefault(folded, where)
        return problems

    @property
    def authority_names(self) -> set[str]:
        """The names namespaces' `signers` may refer to (named identities and every key, with its versions)."""
        return {k.name for k in self.keyless if k.name is not None} | {k.name for k in self.keys}

    @property
    def has_authority(self) -> bool:
        """Whether anyone at all may sign (a keyless identity or a key)."""
        return bool(self.keyless or self.keys)
