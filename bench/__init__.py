"""Benchmark of kapacitor-operator against a minimal script doing the same writes.

`python bench/run.py` (or `python -m bench.run`); see bench/README.md.
"""
