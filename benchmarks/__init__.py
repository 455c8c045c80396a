"""Confide's benchmarks. Each measures a baseline in the same run and reports a ratio."""
