"""Benchmarks: plain scripts that print tables (``python benchmarks/bench_*.py``), and one runner,
``python -m benchmarks`` (or ``vireid bench``), that calls them and prints a single summary table."""
