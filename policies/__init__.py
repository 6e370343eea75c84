"""Review rules: what a security reviewer must see about a stack before it ships."""
