"""Role definitions this project assigns: the built-in ones by id, and the exact data actions of the
custom ones (nothing broader than the calls each actor makes)."""

from __future__ import annotations

# The registry's roles live in the model (components/model/registry_permissions.py, with their sources: Microsoft's
# built-in roles reference for Containers and a second, independent role table), because the config checks the
# push condition's length and the review reads the same GUIDs; they are named here with every role the program
# assigns. In ABAC mode only the Repository roles count; AcrPush / AcrPull are for the legacy mode.
from components.model.registry_permissions import ACR_PULL as ACR_PULL
from components.model.registry_permissions import ACR_PUSH as ACR_PUSH
from components.model.registry_permissions import REPOSITORY_READER as REPOSITORY_READER
from components.model.registry_permissions import REPOSITORY_WRITER as REPOSITORY_WRITER

KEY_VAULT_SECRETS_USER = "4633458b-17de-408a-b874-0445c86b69e6"  # the Premium firewall reads its TLS CA

KEY_READ = "Microsoft.KeyVault/vaults/keys/read"
KEY_SIGN = "Microsoft.KeyVault/vaults/keys/sign/action"
KEY_VERIFY = "Microsoft.KeyVault/vaults/keys/verify/action"

# Signers: `cosign sign --key azurekms://…` reads the key (get key, for its public half and algorithm) and
# asks the vault to sign the payload digest. Key Vault Crypto User would also allow update (disable the key,
# move its expiry), backup, encrypt, wrap: none of them is signing.
SIGNER_DATA_ACTIONS = [KEY_READ, KEY_SIGN]

# Verifiers, per engine path. Kyverno verifies `azurekms://` keys through sigstore's Azure KMS signer
# (sigstore/sigstore pkg/signature/kms/azure: `SignerVerifier.VerifySignature` → `azureVaultClient.verify`,
# Key Vault's verify operation, after `getKey`); Policy Controller fetches the public key at reconcile
# (`azureVaultClient.public` → get key) and verifies locally. The admission identity serves both.
VERIFIER_DATA_ACTIONS = [KEY_READ, KEY_VERIFY]
