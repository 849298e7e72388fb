"""Benchmarks, run as modules (`python -m benchmarks.NAME`); figures in benchmarks/README.md."""
