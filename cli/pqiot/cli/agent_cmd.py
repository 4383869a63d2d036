"""``pqiot agent --listen tcp://HOST:PORT``: the reference implementation as a device under test.

The Test Agent Protocol (spec chapter 13) on a dedicated TCP port with the
4-byte length prefix (REQ-TCP-006). This is target ``host-ref``: the harness
runs every conformance and vector check against it exactly as against a board.
"""

from __future__ import annotations

import argparse
import re
import signal
import sys
import threading
from typing import Any

from pqiot.cli.errors import CliError

#: The line a harness waits for (with PORT 0 it learns the chosen port from it).
READY_PREFIX = "pqiot agent: TAP listening on "
_URL = re.compile(r"^tcp://(?P<host>\[[^\]]+\]|[^:/]+):(?P<port>\d{1,5})$")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "agent", help="serve the reference implementation as a Test Agent (TAP over TCP)"
    )
    parser.add_argument(
        "--listen",
        required=True,
        metavar="URL",
        help="tcp://HOST:PORT to listen on (PORT 0 picks a free port and prints it)",
    )
    parser.add_argument(
        "--firmware-id", default="reference", help="the 'firmware' value IDENTIFY reports"
    )
    parser.set_defaults(handler=run)


def parse_listen_url(url: str) -> tuple[str, int]:
    match = _URL.match(url)
    if match is None:
        raise CliError(f"--listen {url!r}: expected tcp://HOST:PORT, e.g. tcp://127.0.0.1:7000", 2)
    port = int(match["port"])
    if port > 65535:
        raise CliError(f"--listen {url!r}: port {port} is above 65535", 2)
    return match["host"].strip("[]"), port


def run(args: argparse.Namespace) -> int:
    from pqiot.hil.agent_server import AgentServer
    from pqiot.reference.tap.agent import ReferenceTestAgent

    host, port = parse_listen_url(args.listen)
    agent = ReferenceTestAgent(firmware=args.firmware_id)
    try:
        server = AgentServer(agent, host, port, max_request=agent.limits.max_tap_request)
    except OSError as exc:
        raise CliError(f"cannot listen on {args.listen}: {exc}; pick another port") from None
    stop = threading.Event()

    def _stop(_signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    print(f"{READY_PREFIX}{server.url}", flush=True)
    server.start()
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    print("pqiot agent: stopped", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m pqiot.cli.agent_cmd --listen URL``: the same command without the other
    subcommands, so a harness launching the agent depends on this module only."""
    parser = argparse.ArgumentParser(prog="pqiot agent")
    subparsers = parser.add_subparsers(dest="command")
    register(subparsers)
    args = parser.parse_args(["agent", *(sys.argv[1:] if argv is None else argv)])
    try:
        return int(args.handler(args))
    except CliError as exc:
        print(f"pqiot: error: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    raise SystemExit(main())
