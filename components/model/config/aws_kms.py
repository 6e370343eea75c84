"""Config of a signing key held in AWS KMS (`kind: aws-kms`): its ARN (a key or an alias of one), region and
optional pinned public key, refused when cosign's `awskms://` or the engines could not use it."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from components.model.config.errors import raise_violations
from components.model.config.fields import KEY_NAME, ConfigModel, PublicKeyPem
from components.model.config.text import shown
from components.model.contract import AWS_KMS_PARTITIONS, AWS_REGION, parse_aws_kms_arn


def aws_kms_arn_problem(arn: str) -> str | None:
    """Why `arn` is not the ARN of an AWS KMS signing key or of an alias of one, if it is not."""
    if parse_aws_kms_arn(arn) is not None:
        return None
    if not arn.startswith("arn:"):
        return (
            f"{shown(arn)} is not an ARN — write the key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID) or alias ARN "
            "(arn:aws:kms:REGION:ACCOUNT:alias/NAME): a bare key id or alias name leaves the account and region to "
            "whatever credentials the engine happens to have"
        )
    partition = arn.split(":")[1]
    if partition not in AWS_KMS_PARTITIONS:
        return (
            f"partition {shown(partition)} is not one cosign's awskms:// accepts — use a key in "
            f"{' or '.join(AWS_KMS_PARTITIONS)}"
        )
    if ":alias/aws/" in arn:
        return (
            "alias/aws/... names an AWS-managed key, which is symmetric and cannot sign — use your own "
            "asymmetric SIGN_VERIFY key"
        )
    return (
        f"{shown(arn)} is not a KMS key ARN (…:kms:REGION:ACCOUNT:key/<key id or mrk-id>) or alias ARN "
        "(…:kms:REGION:ACCOUNT:alias/NAME, letters, digits, '/', '_' and '-') — copy it from the key's page"
    )


class AwsKmsKey(ConfigModel):
    """An asymmetric signing key held in AWS KMS (cosign `--key awskms:///<ARN>`), referenced by ARN."""

    kind: Literal["aws-kms"]
    name: str = Field(pattern=KEY_NAME, description="Name of this authority in policies.")
    arn: str = Field(
        description=(
            "Key ARN (`arn:aws:kms:REGION:ACCOUNT:key/ID`) or alias ARN (`...:alias/NAME`) of a SIGN_VERIFY key: "
            "ECC_NIST_P256, ECC_NIST_P384 or RSA (2048 bits or more). An alias follows whichever key it is pointed "
            "at: pin `publicKey` to keep trust on one key."
        )
    )
    region: str = Field(description="The key's region (e.g. `eu-west-1`); must be the ARN's.")
    public_key: PublicKeyPem | None = Field(
        default=None,
        description=(
            "Pinned public key PEM (`aws kms get-public-key`, or `cosign public-key --key awskms:///<ARN>`). EC keys "
            "are then verified offline (no AWS call, no AWS credentials in the cluster); RSA keys are still "
            "verified through KMS (cosign signs with the key's first KMS algorithm, which a PEM cannot carry). The "
            "post-deploy checks compare it with the key's."
        ),
    )
    transparency_log_required: bool = Field(
        default=True, description="Require a Rekor entry for signatures by this key. `false` is refused in prod."
    )

    @field_validator("arn")
    @classmethod
    def _arn(cls, arn: str) -> str:
        if (problem := aws_kms_arn_problem(arn)) is not None:
            raise ValueError(problem)
        return arn

    @field_validator("region")
    @classmethod
    def _region(cls, region: str) -> str:
        if not re.fullmatch(AWS_REGION, region):
            raise ValueError(f"{shown(region)} is not an AWS region name such as eu-west-1 or us-gov-west-1")
        return region

    @model_validator(mode="after")
    def _region_is_the_arns(self) -> AwsKmsKey:
        parsed = parse_aws_kms_arn(self.arn)
        if parsed is not None and parsed.region != self.region:
            raise_violations(
                [("region", f"is {self.region}, but the ARN's region is {parsed.region} — make them the same")]
            )
        return self
