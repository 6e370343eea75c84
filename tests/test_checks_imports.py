"""The checks run where Pulumi is not installed (a CI job, an operator's laptop): importing any of
them, the CLI, the trust model or the config review must not load `pulumi` or `pulumi_azure_native`
(ARCHITECTURE.md: the checks import only the pure model). One interpreter, one import at a time, so the first
module that loads Pulumi is named."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

_PROBE = """
import importlib, json, pkgutil, sys
import scripts.checks
modules = ["components.model.trust", "policies.review", "scripts.verify"]
modules += [f"scripts.checks.{m.name}" for m in pkgutil.iter_modules(scripts.checks.__path__)]
loaded, first = [], None
for name in modules:
    importlib.import_module(name)
    loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("pulumi", "pulumi_azure_native"))
    if loaded:
        first = name
        break
print(json.dumps({"modules": modules, "loaded": loaded, "first": first}))
"""


def test_importing_the_checks_and_the_cli_loads_no_pulumi() -> None:
    probe = subprocess.run(
        [sys.executable, "-c", _PROBE], cwd=ROOT, capture_output=True, text=True, timeout=120, check=True
    )
    seen = json.loads(probe.stdout)
    assert "scripts.checks.runner" in seen["modules"], seen["modules"]
    assert seen["loaded"] == [], f"importing {seen['first']} loaded {seen['loaded'][:5]}"
