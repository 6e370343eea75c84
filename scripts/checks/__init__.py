"""Post-deploy checks: prove the sign-and-admit chain on the live registry and cluster.

Pure logic lives in these modules and takes its inputs (trusted root, bundles, outputs) as
arguments; network access is confined to `oci.py` (registry) and `cluster.py` (Kubernetes).
`python -m scripts.verify` is the CLI.
"""
