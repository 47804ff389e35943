"""Benchmarks: `python -m bench NAME [--quick] [--json] [--save]` (bench/__main__.py, bench/harness.py)."""
