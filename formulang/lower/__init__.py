"""Lowering: the IR and bound data to a NumPyro model (families, priors, parameterisation)."""
