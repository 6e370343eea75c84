"""Admission documents rendered from the trust model (pure functions)."""
