"""``pqiot vectors``: list, verify, generate known-answer vectors; run accumulated vectors.

Verification runs against the reference implementation, or with ``--target``
against a device through the Test Agent Protocol (targets come with the HIL
harness, issue 6). Progress bars go to stderr, only on a terminal, only
without ``--json``, and only for work that takes longer than two seconds.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from pqiot.cli.errors import CliError

#: Exit status for usage problems (unknown set, no targets), as argparse uses.
USAGE = 2
#: Exit status when nothing failed but the device blocked (no trustworthy answer).
BLOCKED = 3
PROGRESS_DELAY_S = 2.0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("vectors", help="known-answer vectors: list, verify, generate")
    commands = parser.add_subparsers(dest="vectors_command", metavar="ACTION")
    parser.set_defaults(handler=lambda _args: _usage(parser))

    listing = commands.add_parser("list", help="one line per vector set: name, count, source")
    _data_dir_option(listing)
    listing.set_defaults(handler=run_list)

    verify = commands.add_parser(
        "verify", help="check vector sets against the reference or a device"
    )
    verify.add_argument(
        "--set",
        dest="sets",
        action="append",
        metavar="NAME",
        help="run only this set (repeatable); a named slow set runs",
    )
    verify.add_argument(
        "--target", metavar="TARGET", help="device under test (HIL target, issue 6)"
    )
    verify.add_argument("--json", action="store_true", help='print {"sets": [...]} only')
    verify.add_argument("--slow", action="store_true", help="also run the sets marked slow")
    _data_dir_option(verify)
    verify.set_defaults(handler=run_verify)

    generate = commands.add_parser(
        "generate", help="write the generated vector files (byte-reproducible)"
    )
    generate.add_argument("--out", required=True, type=Path, metavar="DIR", help="output directory")
    generate.add_argument(
        "--only",
        action="append",
        metavar="FILE",
        help="write only this file (repeatable), e.g. handshakes/suite-102.json",
    )
    generate.set_defaults(handler=run_generate)

    accumulated = commands.add_parser(
        "accumulated", help="run the accumulated procedure of spec §13.7"
    )
    accumulated.add_argument(
        "--scheme", required=True, help="ML-KEM-512/768/1024 or ML-DSA-44/65/87"
    )
    accumulated.add_argument("--iterations", required=True, type=int, metavar="N")
    accumulated.add_argument(
        "--target", metavar="TARGET", help="device under test (HIL target, issue 6)"
    )
    accumulated.set_defaults(handler=run_accumulated)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return USAGE


def _data_dir_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        type=Path,
        metavar="DIR",
        help="read generated vector files from DIR instead of the installed package data",
    )


def _data_dir(args: argparse.Namespace) -> Path:
    from pqiot.vectors.catalog import DATA_DIR

    chosen: Path | None = getattr(args, "data_dir", None)
    if chosen is not None and not chosen.is_dir():
        raise CliError(f"--data-dir {chosen} is not a directory", USAGE)
    return chosen if chosen is not None else DATA_DIR


@contextmanager
def _agent(target: str | None) -> Iterator[Any]:
    """The reference, or the HIL target's agent; target problems become one clear error."""
    from pqiot.vectors.agent import ReferenceAgent
    from pqiot.vectors.targets import NoTargets, open_target

    if target is None:
        yield ReferenceAgent()
        return
    with ExitStack() as stack:
        try:
            agent = stack.enter_context(open_target(target))
        except NoTargets as exc:
            raise CliError(str(exc), USAGE) from None
        except Exception as exc:  # bring-up failed: say which target and why, no traceback
            raise CliError(f"target {target!r} could not be brought up: {exc}") from None
        yield agent


def _show_progress(json_output: bool) -> bool:
    return not json_output and sys.stderr.isatty()


@contextmanager
def _bar(enabled: bool, total: int, description: str, unit: str) -> Iterator[Callable[[int], None]]:
    """A tqdm bar on stderr that appears only after PROGRESS_DELAY_S; a no-op when disabled."""
    if not enabled:
        yield lambda _n: None
        return
    from tqdm import tqdm

    with tqdm(
        total=total,
        desc=description,
        unit=unit,
        file=sys.stderr,
        delay=PROGRESS_DELAY_S,
        leave=False,
    ) as bar:
        yield bar.update


# -- list ----------------------------------------------------------------------------------


def run_list(args: argparse.Namespace) -> int:
    from pqiot.vectors.catalog import all_sets

    sets = all_sets(_data_dir(args))
    rows = []
    for vector_set in sets:
        try:
            count = str(vector_set.count())
        except Exception as exc:
            count = f"? ({exc})"
        flags = " [slow]" if vector_set.slow else ""
        flags = " [slow on device]" if vector_set.slow_on_device else flags
        rows.append((vector_set.name + flags, count, vector_set.source))
    widths = [max(len(row[i]) for row in rows) for i in range(2)]
    for name, count, source in rows:
        print(f"{name.ljust(widths[0])}  {count.rjust(widths[1])}  {source}")
    return 0


# -- verify -------------------------------------------------------------------------------


def run_verify(args: argparse.Namespace) -> int:
    from pqiot.vectors.catalog import all_sets
    from pqiot.vectors.runner import run_set

    available = {s.name: s for s in all_sets(_data_dir(args))}
    if args.sets:
        unknown = [name for name in args.sets if name not in available]
        if unknown:
            raise CliError(
                f"unknown vector set(s): {', '.join(unknown)}; `pqiot vectors list` shows them",
                USAGE,
            )
        selected = [available[name] for name in dict.fromkeys(args.sets)]
    else:
        selected = list(available.values())
    include_slow = bool(args.slow or args.sets)
    progress = _show_progress(args.json)
    results = []
    with _agent(args.target) as agent:
        for vector_set in selected:
            result = run_set(
                vector_set,
                agent,
                include_slow=include_slow,
                reference=args.target is None,
                progress=_set_progress(progress),
            )
            results.append(result)
            if not args.json:
                _print_result(result)
    if args.json:
        print(json.dumps({"sets": [r.to_json() for r in results]}, indent=2))
    else:
        failed = sum(r.failed for r in results)
        blocked = sum(r.blocked for r in results)
        print(
            f"{sum(r.passed for r in results)} passed, {failed} failed, "
            f"{sum(r.skipped for r in results)} skipped"
            + (f", {blocked} BLOCKED" if blocked else "")
            + f" in {sum(r.seconds for r in results):.1f} s"
        )
    if any(r.failed for r in results):
        return 1
    return BLOCKED if any(r.blocked for r in results) else 0


def _set_progress(
    enabled: bool,
) -> Callable[[Any, int], tuple[Callable[[], None], Callable[[], None]]]:
    """Runner progress hook: one tqdm bar per set, shown after PROGRESS_DELAY_S."""

    def factory(vector_set: Any, total: int) -> tuple[Callable[[], None], Callable[[], None]]:
        if not enabled:
            return (lambda: None), (lambda: None)
        from tqdm import tqdm

        bar = tqdm(
            total=total,
            desc=vector_set.name,
            unit="vec",
            file=sys.stderr,
            delay=PROGRESS_DELAY_S,
            leave=False,
        )
        return (lambda: bar.update(1)), bar.close

    return factory


def _print_result(result: Any) -> None:
    blocked = f", {result.blocked} blocked" if result.blocked else ""
    print(
        f"{result.verdict} {result.name}: {result.passed} passed, {result.failed} failed, "
        f"{result.skipped} skipped{blocked} ({result.seconds:.1f} s) — {result.source}"
    )
    for reason in result.blocked_reasons:
        print(f"    blocked: {reason}")
    for failure in result.failures[:10]:
        print(f"    failed {failure.case}: {failure.detail}")
    if len(result.failures) > 10:
        print(f"    ... and {len(result.failures) - 10} more failures")
    for reason in result.skip_reasons:
        print(f"    skipped: {reason}")


# -- generate ---------------------------------------------------------------------------------


def run_generate(args: argparse.Namespace) -> int:
    from pqiot.vectors.generate import write_files

    try:
        written = write_files(
            args.out, args.only, lambda name: print(f"wrote {args.out / name}", file=sys.stderr)
        )
    except KeyError as exc:
        raise CliError(str(exc.args[0]), USAGE) from None
    except OSError as exc:
        raise CliError(f"cannot write to {args.out}: {exc.strerror}") from None
    print(f"{len(written)} files written to {args.out}")
    return 0


# -- accumulated -----------------------------------------------------------------------------


def run_accumulated(args: argparse.Namespace) -> int:
    from pqiot.vectors.accumulated import PUBLISHED_DIGESTS
    from pqiot.vectors.agent import ACCUMULATED_PRIMITIVES, InputRejected, Unsupported
    from pqiot.vectors.model import is_blocked

    prim = args.scheme.lower()
    if prim not in ACCUMULATED_PRIMITIVES:
        raise CliError(
            f"unknown scheme {args.scheme!r}; choose one of: "
            f"{', '.join(ACCUMULATED_PRIMITIVES.values())}",
            USAGE,
        )
    if not 0 <= args.iterations <= 1_000_000:
        raise CliError("--iterations must be between 0 and 1000000 (REQ-TAP-007)", USAGE)
    scheme = ACCUMULATED_PRIMITIVES[prim]
    published = PUBLISHED_DIGESTS.get((scheme, args.iterations))
    with (
        _agent(args.target) as agent,
        _bar(_show_progress(False), args.iterations, scheme, "it") as update,
    ):
        done = [0]

        def progress(current: int, _total: int) -> None:
            update(current - done[0])
            done[0] = current

        try:
            digest = agent.accumulated(prim, args.iterations, progress).hex()
        except (InputRejected, Unsupported) as exc:
            raise CliError(f"{agent.name} refused the run: {exc}") from None
        except Exception as exc:
            if not is_blocked(exc):
                raise
            raise CliError(f"{agent.name}: no digest (BLOCKED): {exc}", BLOCKED) from None
    print(f"{scheme} x {args.iterations} on {agent.name}")
    if published is not None:
        print(
            f"published (Go crypto/mlkem TestAccumulated): {published} — "
            f"{'match' if digest == published else 'MISMATCH'}"
        )
    print(digest)
    return 1 if published is not None and digest != published else 0
