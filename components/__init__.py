"""The supply-chain Pulumi program: config model, pure renderers, and the components that wire them."""
