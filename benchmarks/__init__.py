"""Benchmarks: each scenario side by side with a raw-psycopg floor doing the same work. `python -m benchmarks`."""
