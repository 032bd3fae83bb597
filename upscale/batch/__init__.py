"""Upscaling many files: inputs expanded, a plan of outputs computed before sharding, a run that writes atomically."""
