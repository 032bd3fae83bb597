"""Measuring as the papers measured: the protocol's degradation, the benchmark sets, metrics, published numbers."""
