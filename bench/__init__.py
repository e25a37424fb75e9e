"""Benchmark of kapacitor-operator against a minimal script doing the same writes (the
floor) and a minimal Go controller doing them through a watch (the peer, bench/peer/).

`python bench/run.py` (or `python -m bench.run`); see bench/README.md.
"""
