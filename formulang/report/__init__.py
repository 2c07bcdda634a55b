"""Results: ArviZ data, summaries, diagnostics."""
