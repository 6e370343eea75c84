"""The project's shape holds: layers are enforced by import contracts that bite, modules stay small,
every public function and class says what it is for, and the checks run without the Azure SDK."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

SOURCE_FOLDERS = ("components", "scripts", "policies")
MAX_MODULE_LINES = 400


def _modules() -> list[Path]:
    return sorted(p for folder in SOURCE_FOLDERS for p in (ROOT / folder).rglob("*.py"))


def _lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if binary is None:
        pytest.skip("import-linter is not installed (make test installs it)")
    return subprocess.run([binary, "--no-cache"], cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


def test_the_layer_contracts_hold() -> None:
    result = _lint_imports(ROOT)
    assert result.returncode == 0, result.stdout[-3000:]


@pytest.mark.parametrize(
    ("module", "wrong_import", "broken"),
    [
        ("components/model/trust.py", "import pulumi_azure_native", "The model is pure"),
        ("components/render/cel.py", "import components.cluster.provider", "Renderers are pure"),
        ("components/azure/roles.py", "import scripts.planning", "Components never import the scripts"),
        ("scripts/checks/errors.py", "import components.azure.registry", "The post-deploy checks import only"),
    ],
)
def test_a_wrong_import_is_refused(tmp_path: Path, module: str, wrong_import: str, broken: str) -> None:
    copy = tmp_path / "project"
    shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns("venv", "build", "mutants", ".*", "__pycache__", "tests"))
    target = copy / module
    target.write_text(target.read_text() + f"\n{wrong_import}  # a deliberately wrong import\n")
    result = _lint_imports(copy)
    assert result.returncode != 0, f"{wrong_import} in {module} was not refused"
    assert "Broken contracts" in result.stdout
    assert broken in result.stdout.split("Broken contracts", 1)[1], "the contract that names this layer broke"


def test_no_module_is_too_long() -> None:
    long = {
        str(p.relative_to(ROOT)): n for p in _modules() if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}, f"split these modules by job (at most {MAX_MODULE_LINES} lines)"


def test_every_public_function_and_class_says_what_it_is_for() -> None:
    missing = []
    for path in _modules():
        tree = ast.parse(path.read_text())
        if ast.get_docstring(tree) is None:
            missing.append(f"{path.relative_to(ROOT)} (module)")
        # module-level functions and classes, and the methods of classes: what other modules can call
        public = [n for n in tree.body if isinstance(n, _DEFINITIONS)]
        public += [
            m
            for c in tree.body
            if isinstance(c, ast.ClassDef) and not c.name.startswith("_")
            for m in c.body
            if isinstance(m, _DEFINITIONS)
        ]
        missing += [
            f"{path.relative_to(ROOT)}:{node.lineno} {node.name}"
            for node in public
            if not node.name.startswith("_") and ast.get_docstring(node) is None
        ]
    assert missing == [], "add a one-line docstring saying what each is for"


_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
