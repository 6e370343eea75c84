"""GitHub components: what the stack keeps in the CI service, through the Pulumi GitHub provider."""
