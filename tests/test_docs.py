"""The README stays true: its config reference is the model's, and its commands exist."""

from __future__ import annotations

import re

from scripts.config_reference import main as config_reference
from tests.conftest import ROOT


def test_config_reference_matches_the_model() -> None:
    assert config_reference(["--check", str(ROOT / "README.md")]) == 0, "run `make docs`"


def test_readme_commands_are_make_targets() -> None:
    readme = (ROOT / "README.md").read_text()
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z0-9-]+):", makefile, flags=re.M))
    used = set(re.findall(r"^make ([a-z0-9-]+)", readme, flags=re.M))
    assert {"plan", "test"} <= used
    assert used <= targets


def test_every_model_key_is_documented() -> None:
    readme = (ROOT / "README.md").read_text()
    for key in ("signing.keyless[].subjectRegExp", "admission.namespaces.<name>.auditUntil", "registry.retentionDays"):
        assert f"`{key}`" in readme
