"""Role definitions this project assigns: the built-in ones by id, and the exact data actions of the
custom ones (nothing broader than the calls each actor makes)."""

from __future__ import annotations

ACR_PUSH = "8311e382-0749-4cb8-b61a-304f252e45ec"
ACR_PULL = "7f951dda-4ed3-4680-a7ca-43fe172d538d"
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
