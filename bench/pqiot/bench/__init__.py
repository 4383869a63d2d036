"""Benchmarks of the reference and of targets: measurement, statistics, baselines, reports.

``pqiot bench`` (``pqiot.cli.bench_cmd``) drives this package; the JSON it writes is
documented in ``docs/bench-schema.md``.
"""
