"""Byte-stream framings used by the bindings (sans-I/O codecs)."""
