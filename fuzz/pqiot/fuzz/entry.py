"""Run one registry harness under Atheris/libFuzzer: ``python -m pqiot.fuzz.entry NAME [ARGS]``.

ARGS are libFuzzer's own (corpus directories, ``-max_total_time=S``,
``-runs=N``, ``-dict=FILE``, ``-artifact_prefix=DIR/``, ...). This is what
``pqiot fuzz run`` starts in a subprocess, and what the OSS-Fuzz entry points
in ``fuzz/harnesses/`` do for a fixed name. The reference and the harness are
imported under Atheris's coverage instrumentation, so libFuzzer's ``cov:``
counts edges of the parsers, not of the interpreter.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

__all__ = ["fuzz", "main"]

INSTRUMENTED = ("pqiot",)


def fuzz(name: str, argv: Sequence[str]) -> None:
    """Set up Atheris for harness ``name`` and hand control to libFuzzer (never returns)."""
    import atheris

    with atheris.instrument_imports(include=list(INSTRUMENTED)):
        from pqiot.fuzz.harnesses import get
        from pqiot.fuzz.mutator import custom_mutator

    harness = get(name)
    # Look atheris.Mutate up at call time: Setup() rebinds it to the libFuzzer-backed one.
    mutator = custom_mutator(harness.structure, lambda data, size: atheris.Mutate(data, size))
    extra = {"custom_mutator": mutator} if mutator is not None else {}
    atheris.Setup([*argv], harness.one_input, **extra)
    atheris.Fuzz()


def main(argv: Sequence[str] | None = None) -> None:
    args = list(sys.argv if argv is None else argv)
    if len(args) < 2 or args[1].startswith("-"):
        print("usage: python -m pqiot.fuzz.entry NAME [libFuzzer arguments]", file=sys.stderr)
        raise SystemExit(2)
    name = args.pop(1)
    fuzz(name, args)


if __name__ == "__main__":
    main()
