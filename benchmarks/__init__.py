"""Benchmark scripts: each prints its figures and saves them as JSON under `benchmarks/results/`."""
