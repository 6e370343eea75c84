"""Post-deploy checks: prove the sign-and-admit chain on the live registry and cluster.

By job: `cases` plans the dry-run Pods (pure), `canaries` pushes and deletes the canary images,
`posture` checks cluster, registry and key setup, `runner` runs it all within a deadline, `results`
is the check object and its result, `evidence` writes them. Verification: `images` (an image against
the trust model), `verification` (bundles and cosign's legacy layers), `log_entries` (the one
log-entry consistency rule), `sigstore_compat` (the only use of `sigstore`'s private API).

Keys: `key_signatures` (how a trusted key's signatures verify), `signers` (what signs canaries), `kms_keys` (the
stack's KMS keys: the canary signer, the key checks).

Pure logic takes its inputs (trusted root, bundles, outputs) as arguments; network access is
confined to `oci.py` (registry), `cluster.py` (Kubernetes), `vault.py` (Key Vault) and `aws_kms.py` (AWS KMS).
`python -m scripts.verify` is the CLI. Importing any of this loads no Pulumi.
"""
