"""Benchmarks: ``python -m bench`` runs every ``bench/bench_*.py`` and appends to results.json."""
