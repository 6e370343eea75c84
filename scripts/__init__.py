"""Command-line jobs: the offline plan, the post-deploy checks, the config reference."""

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
"""The project's checkout: `stacks/`, `__main__.py` and `build/` are found from here."""

VERSION = "0.1.0"
"""The project's version: what `--version` prints (raise it with each release of the stacks' contract)."""
