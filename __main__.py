"""Pulumi entry point: load and validate the stack config, build the chain, export the contract."""

import pulumi

from components.model.config import ConfigError
from components.pulumi_config import load_from_pulumi
from components.supply_chain import SupplyChain

try:
    config = load_from_pulumi()
except ConfigError as exc:
    # RunError ends the program with the message alone: the problems list is the useful part.
    raise pulumi.RunError(str(exc)) from None

chain = SupplyChain("supply-chain", config)
for key, value in chain.outputs.items():
    pulumi.export(key, value)
