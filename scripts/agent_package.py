"""Build the control plane's deployment package: `build/agent-pool.zip`, ready for the Flex Consumption app.

    python -m scripts.agent_package [--out build/agent-pool.zip]

The zip holds the standalone `scripts/agent_pool` package as `agent_pool/`, a root `function_app.py` that
exposes its app (the Functions host indexes that file), `host.json`, and a `requirements.txt` pinned to the
versions of this project's lock, for the platform's remote build. Entries are sorted and dated 1980-01-01,
so the same sources give the same bytes.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "scripts" / "agent_pool"
LOCK = ROOT / "requirements.txt"
DEV_LOCK = ROOT / "requirements-dev.txt"
RUNTIME = (
    "azure-functions",
    "azure-data-tables",
    "azure-storage-blob",
    "azure-identity",
    "azure-keyvault-secrets",
    "requests",
    "pydantic",
    "cryptography",
)
"""What the control plane imports (the host installs these; their own dependencies follow from them)."""

SHIM = (
    '"""The Functions host indexes this file: the control plane\'s app."""\n\n'
    "from agent_pool.function_app import app\n\n"
    '__all__ = ["app"]\n'
)
HOST = {
    "version": "2.0",
    "logging": {"logLevel": {"default": "Information"}},
    "extensionBundle": {"id": "Microsoft.Azure.Functions.ExtensionBundle", "version": "[4.*, 5.0.0)"},
}
FIXED_DATE = (1980, 1, 1, 0, 0, 0)


def pinned_requirements(locks: tuple[Path, ...] = (LOCK, DEV_LOCK)) -> str:
    """`name==version` for each runtime dependency, as the project's lock files pin it."""
    versions: dict[str, str] = {}
    for lock in locks:
        for match in re.finditer(r"^([A-Za-z0-9_.-]+)==([^\s\\;]+)", lock.read_text(), re.MULTILINE):
            versions.setdefault(match[1].lower().replace("_", "-"), match[2])
    missing = [name for name in RUNTIME if name not in versions]
    if missing:
        raise SystemExit(f"agent package: {', '.join(missing)} not pinned in {', '.join(str(p.name) for p in locks)}")
    return "".join(f"{name}=={versions[name]}\n" for name in RUNTIME)


def package_entries() -> dict[str, bytes]:
    """Every file of the package by its path in the zip."""
    entries = {
        "function_app.py": SHIM.encode(),
        "host.json": (json.dumps(HOST, indent=2, sort_keys=True) + "\n").encode(),
        "requirements.txt": pinned_requirements().encode(),
    }
    for source in sorted(PACKAGE.rglob("*.py")):
        entries[f"agent_pool/{source.relative_to(PACKAGE).as_posix()}"] = source.read_bytes()
    return entries


def write_package(out: Path) -> Path:
    """Write the zip to `out` (same sources, same bytes)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in sorted(package_entries().items()):
            info = zipfile.ZipInfo(name, date_time=FIXED_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    return out


def main(argv: list[str] | None = None) -> int:
    """CLI entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "agent-pool.zip", help="where to write the zip")
    args = parser.parse_args(argv)
    if args.out.is_dir():
        parser.error(f"--out {args.out} is a directory: name the zip file")
    path = write_package(args.out)
    print(f"agent pool package: {path} ({path.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
