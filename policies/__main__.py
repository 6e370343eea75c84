"""Entry point of the policy pack (`pulumi preview --policy-pack policies`); the rules are in policies/rules/."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the project root: the rules import the model

from policies.pack import serve

serve()
