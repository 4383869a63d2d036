"""Parsers for published test-vector file formats (pure functions, no I/O policy).

Each parser takes the lines of a file plus a ``source`` name used in errors and
yields one ``dict`` per test record.
"""
