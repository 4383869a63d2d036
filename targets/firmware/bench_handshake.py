"""Instruction-count proxy and peak stack of a full handshake per role on the qemu-m4 image.

Drives the firmware's EDHOC roles (suite -102 by default) against the Python reference through
TAP and reads MEASURE after every protocol step (SESSION_START, SESSION_DELIVER, then one
APP_SEND / APP_RECEIVE / KEY_UPDATE). Instructions are the QEMU proxy of bench_qemu.py
(SysTick counts x 40 under ``-icount shift=0``), stack is painted as on a board. Static RAM is
``.data + .bss`` of the ELF, so ``static + peak stack`` is the RAM a device needs.

Usage: .venv/bin/python targets/firmware/bench_handshake.py [--elf ELF] [--suite -102] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from pqiot.hil.agent_client import Command, TapClient, TapResponse, spawn_host, spawn_qemu
from pqiot.reference.cbor import CborValue
from pqiot.reference.crypto.rng import ShakeRng
from pqiot.reference.edhoc.config import HandshakeConfig
from pqiot.reference.edhoc.initiator import Initiator
from pqiot.reference.edhoc.responder import Responder
from pqiot.reference.identity import Identity, generate_identity
from pqiot.reference.keystore import KeyStore
from pqiot.reference.session import KIND_HANDSHAKE, KIND_RECORD, Session
from pqiot.reference.software_provider import SoftwareSecurityProvider

MIN_DEVICE_RAM = 64 * 1024
RECOMMENDED_DEVICE_RAM = 128 * 1024


def _byte_list(value: CborValue) -> list[bytes]:
    assert isinstance(value, list) and all(isinstance(v, bytes) for v in value), value
    return [v for v in value if isinstance(v, bytes)]


def _int(value: object) -> int:
    assert isinstance(value, int), value
    return value


def _measure(client: TapClient, what: str, rows: list[dict[str, object]]) -> None:
    m = client.call(Command.MEASURE).ok()
    clock, cycles = m["clock_hz"], m["cycles"]
    assert isinstance(clock, int) and isinstance(cycles, int)
    rows.append(
        {"step": what, "instructions": cycles * (10**9 // clock), "stack": m["stack_bytes"]}
    )


def _reference(role: str, own: Identity, peer: Identity, suite: int) -> Session:
    provider = SoftwareSecurityProvider(rng=None)
    store = KeyStore()
    store.add(peer.credential)
    config = HandshakeConfig(
        role=role,  # type: ignore[arg-type]
        method=0,
        suites=(suite,),
        credential=own.credential,
        key=own.install(provider),
        provider=provider,
        resolver=store,
        rng=ShakeRng(b"bench " + role.encode()),
    )
    return Session(Initiator(config) if role == "initiator" else Responder(config))


def run_role(client: TapClient, role: str, suite: int) -> list[dict[str, object]]:
    """One full handshake with the firmware in ``role``; the MEASURE row of every step."""
    device = generate_identity("ML-DSA-44", subject="device", kid=b"\x0d", rng=ShakeRng(b"d"))
    host = generate_identity("ML-DSA-44", subject="host", rng=ShakeRng(b"h"))
    client.call(Command.RESET, {"scope": "all"}).ok()
    client.cred_load("own", ccs=device.credential.cred, sk=device.private_key).ok()
    client.cred_load("peer", ccs=host.credential.cred).ok()
    peer = _reference("responder" if role == "initiator" else "initiator", host, device, suite)
    peer.start(0.0)
    rows: list[dict[str, object]] = []
    args: dict[str, CborValue] = {"method": 0, "suites": [suite], "cred": device.kid}
    args.update({"kem_seed": bytes(64)} if role == "initiator" else {"kem_m": bytes(32)})
    start = client.session_start(role, **args).ok()
    _measure(client, "SESSION_START", rows)
    session = _int(start["session"])
    inbound = _byte_list(start["out"])

    def to_peer(messages: list[bytes], kind: int) -> list[bytes]:
        for message in messages:
            peer.receive(bytes([kind]) + message, 1.0)
        return [p[1:] for p in peer.data_to_send()]

    pending = to_peer(inbound, KIND_HANDSHAKE) if inbound else [p[1:] for p in peer.data_to_send()]
    step = 1 if role == "responder" else 2
    while pending:
        response: TapResponse = client.session_deliver(session, pending[0])
        result = response.ok()
        _measure(client, f"SESSION_DELIVER message_{step}", rows)
        pending = to_peer(_byte_list(result["out"]), KIND_HANDSHAKE)
        step += 2
    record = client.call(Command.APP_SEND, {"session": session, "data": bytes(64)}).ok()["out"]
    _measure(client, "APP_SEND 64 B", rows)
    to_peer(_byte_list(record), KIND_RECORD)
    peer.send(bytes(64), 2.0)
    (incoming,) = [p[1:] for p in peer.data_to_send()]
    client.call(Command.APP_RECEIVE, {"session": session, "record": incoming}).ok()
    _measure(client, "APP_RECEIVE 64 B", rows)
    client.call(Command.KEY_UPDATE, {"session": session, "nonce": bytes(16)}).ok()
    _measure(client, "KEY_UPDATE", rows)
    return rows


def static_ram(elf: Path) -> int:
    """.data + .bss of the image (what arm-none-eabi-size reports as RAM)."""
    out = subprocess.run(
        ["arm-none-eabi-size", "-A", str(elf)], capture_output=True, text=True, check=True
    ).stdout
    total = 0
    for line in out.splitlines():
        parts = line.split()
        if parts and parts[0] in (".data", ".bss"):
            total += int(parts[1])
    return total


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--elf", type=Path, default=Path("build/firmware/qemu-m4/pqiot-fw.elf"))
    parser.add_argument("--suite", type=int, default=-102)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    is_elf = args.elf.suffix == ".elf"
    report: dict[str, object] = {"suite": args.suite}
    if is_elf:
        report["static_ram"] = static_ram(args.elf)
    for role in ("initiator", "responder"):
        with spawn_qemu(args.elf, timeout=120) if is_elf else spawn_host(args.elf) as client:
            rows = run_role(client, role, args.suite)
        report[role] = rows
        handshake = [r for r in rows if str(r["step"]).startswith("SESSION")]
        total = sum(_int(r["instructions"]) for r in handshake)
        peak = max((_int(r["stack"] or 0) for r in handshake), default=0)
        print(f"{role}: handshake {total / 1e6:.2f}M instructions, peak stack {peak:,} B")
        for r in rows:
            millions = _int(r["instructions"]) / 1e6
            print(f"  {r['step']!s:<28} {millions:8.3f}M  stack {r['stack']}")
        if is_elf:
            need = _int(report["static_ram"]) + peak
            report[f"{role}_ram_needed"] = need
            verdict = (
                "fits the 64 KB minimum device"
                if need <= MIN_DEVICE_RAM
                else f"fits the 128 KB recommended device with {RECOMMENDED_DEVICE_RAM - need:,} B "
                "to spare"
                if need <= RECOMMENDED_DEVICE_RAM
                else "exceeds the 128 KB recommended device"
            )
            total_ram = f"static RAM {report['static_ram']:,} + peak stack {peak:,} = {need:,} B"
            print(f"  {total_ram} ({verdict})")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
