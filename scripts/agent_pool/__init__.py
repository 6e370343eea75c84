"""The build agents' control plane: turns each queued GitHub job into one single-use runner registration and
one VM, within a strict bound, and reaps the VMs that never registered or outlived the job deadline.

A standalone package (zipped into the pool's Azure Function app on its own): it imports only the standard
library, the Azure SDKs, `requests`, `pydantic` and `cryptography`, and its own modules by relative import —
never `components`, `pulumi*` or another `scripts` package (an import-linter contract and a test hold this).

Modules: `settings` (the settings document), `webhook` (pure request handling), `dispatch` and `reaper` (the
decisions), `store` (Azure Tables + Blob), `github`, `arm` and `vault` (the outside services), `pool` (wiring),
`server` (a local HTTP server) and `function_app` (the Azure Functions adapter).
"""
