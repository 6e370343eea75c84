"""The pure model: stack config, trust model and the contract. No Pulumi, no other project layer."""
