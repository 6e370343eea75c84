"""Renderers: the trust model and config turned into documents (policies, Helm values, network rules).
Pure functions of the model; they import nothing but the model."""
