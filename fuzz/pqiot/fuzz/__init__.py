"""Fuzzing of every PQC-IIoT parser: Hypothesis strategies, a harness registry, Atheris runs."""
