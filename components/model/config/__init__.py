"""The stack configuration: one pydantic model of the whole stack, and every rule it must obey.

This package is the only place config is validated. Everything downstream (trust model, renderers,
components, review) receives a `StackConfig` and trusts it. Bad config raises one `ConfigError`
listing every problem, each naming the full Pulumi config key (`supply-chain:signing.keyless[0].
subjectRegExp`) and what to do about it.

Modules: `fields` (shared field types), the sections (`network`, `registry`, `agents`, `signing`,
`admission`, `stack`), `rules` (cross-section rules), `parse` (errors a user can act on), `stack_file`.
"""

from components.model.config.admission import (
    AdmissionConfig,
    AttestationRequirements,
    NamespaceConfig,
    PolicyExceptionConfig,
    ProvenanceRequirement,
    VulnerabilityRequirement,
)
from components.model.config.agents import BuildAgentsConfig, ImageConfig, RunnerConfig
from components.model.config.aws_kms import AwsKmsKey
from components.model.config.errors import ConfigError, Problem, config_key
from components.model.config.fields import public_key_problems
from components.model.config.identity import identity_pattern_problems
from components.model.config.network import (
    AzureConfig,
    EgressConfig,
    NetworkConfig,
    SubnetsConfig,
    TlsInspectionConfig,
)
from components.model.config.parse import parse_stack_config
from components.model.config.registry import RegistryConfig
from components.model.config.signing import (
    AzureKeyVaultKey,
    GeneratedKey,
    KeylessIdentity,
    PublicKeyAuthority,
    SigningConfig,
    SigningKey,
    SigstoreConfig,
)
from components.model.config.stack import ClusterConfig, Environment, StackConfig

__all__ = [
    "AdmissionConfig",
    "AttestationRequirements",
    "AwsKmsKey",
    "AzureConfig",
    "AzureKeyVaultKey",
    "BuildAgentsConfig",
    "ClusterConfig",
    "ConfigError",
    "EgressConfig",
    "Environment",
    "GeneratedKey",
    "ImageConfig",
    "KeylessIdentity",
    "NamespaceConfig",
    "NetworkConfig",
    "PolicyExceptionConfig",
    "Problem",
    "ProvenanceRequirement",
    "PublicKeyAuthority",
    "RegistryConfig",
    "RunnerConfig",
    "SigningConfig",
    "SigningKey",
    "SigstoreConfig",
    "StackConfig",
    "SubnetsConfig",
    "TlsInspectionConfig",
    "VulnerabilityRequirement",
    "config_key",
    "identity_pattern_problems",
    "parse_stack_config",
    "public_key_problems",
]
