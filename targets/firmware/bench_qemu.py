"""Instruction-count proxy and peak stack per primitive of the qemu-m4 image (or any target).

Under ``qemu-system-arm -M mps2-an386 -icount shift=0`` every guest instruction advances
virtual time by 1 ns and SysTick counts at the 25 MHz board clock, so one SysTick count is
40 executed instructions. The firmware reports SysTick counts as ``cycles`` with
``cycle_source = "qemu-icount"`` (REQ-TAP-018); this script multiplies by 40 and calls the
result *instructions (proxy)*: a stable regression measure, not Cortex-M4 cycles (no
pipeline, flash wait states or multi-cycle instructions are modelled).

Falcon-512 keys and signatures come from the firmware's own seeding (SIG_KEYGEN seed, SIG_SIGN
rnd; see src/prims.h); signing time varies a little with the message, so it is reported like
ML-DSA's (median, and min / median / mean / max).

Usage: .venv/bin/python targets/firmware/bench_qemu.py [--elf ELF] [--sign-runs N] [--json OUT]
       [--only falcon]   (only the Falcon-512 rows: key generation alone takes ~1.5G instructions)
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

from pqiot.hil.agent_client import Command, TapClient, spawn_qemu
from pqiot.reference.cbor import CborValue

NS_PER_INSTRUCTION = 1  # -icount shift=0


def measured(client: TapClient, command: int, args: dict[str, CborValue]) -> tuple[int, int]:
    """Run one command; return (instructions proxy, peak stack bytes) from MEASURE."""
    client.call(command, args, timeout=300).ok()
    m = client.call(Command.MEASURE).ok()
    clock = m["clock_hz"]
    cycles = m["cycles"]
    stack = m["stack_bytes"]
    assert isinstance(clock, int) and isinstance(cycles, int) and isinstance(stack, int)
    return cycles * (10**9 // clock) // NS_PER_INSTRUCTION, stack


def sign_row(
    name: str, keygen: tuple[int, int], signs: list[tuple[int, int]], verify: tuple[int, int]
) -> dict[str, object]:
    """A signature scheme's row: keygen, median signing (max stack over all runs), verify."""
    counts = [s[0] for s in signs]
    return {
        "scheme": name,
        "ops": [keygen, (int(statistics.median(counts)), max(s[1] for s in signs)), verify],
        "sign_min_median_mean_max": [
            min(counts),
            int(statistics.median(counts)),
            int(statistics.mean(counts)),
            max(counts),
        ],
    }


def bench_falcon(client: TapClient, sign_runs: int) -> list[dict[str, object]]:
    """Falcon-512 (PQClean falcon-padded-512 clean): keygen, signing over sign_runs messages."""
    alg = -65601
    kg = measured(client, Command.SIG_KEYGEN, {"alg": alg, "seed": bytes(32)})
    keys = client.call(Command.SIG_KEYGEN, {"alg": alg, "seed": bytes(32)}, timeout=300).ok()
    signs = [
        measured(
            client,
            Command.SIG_SIGN,
            {"alg": alg, "sk": keys["sk"], "msg": i.to_bytes(4, "big") * 8, "rnd": bytes(32)},
        )
        for i in range(sign_runs)
    ]
    sig = client.call(
        Command.SIG_SIGN, {"alg": alg, "sk": keys["sk"], "msg": b"m" * 32, "rnd": bytes(32)}
    ).ok()["sig"]
    ve = measured(
        client, Command.SIG_VERIFY, {"alg": alg, "pk": keys["pk"], "msg": b"m" * 32, "sig": sig}
    )
    return [sign_row("Falcon-512", kg, signs, ve)]


def bench(client: TapClient, sign_runs: int) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for size in (512, 768, 1024):
        keys = client.call(Command.MLKEM_KEYGEN, {"set": size, "d": bytes(32), "z": bytes(32)}).ok()
        kg = measured(client, Command.MLKEM_KEYGEN, {"set": size, "d": bytes(32), "z": bytes(32)})
        enc_args: dict[str, CborValue] = {"set": size, "ek": keys["ek"], "m": bytes(32)}
        enc = client.call(Command.MLKEM_ENCAPS, enc_args).ok()
        en = measured(client, Command.MLKEM_ENCAPS, enc_args)
        de = measured(client, Command.MLKEM_DECAPS, {"set": size, "dk": keys["dk"], "c": enc["c"]})
        rows.append({"scheme": f"ML-KEM-{size}", "ops": [kg, en, de]})
    for alg, name in ((-48, "ML-DSA-44"), (-49, "ML-DSA-65")):
        keys = client.call(Command.SIG_KEYGEN, {"alg": alg, "seed": bytes(32)}).ok()
        kg = measured(client, Command.SIG_KEYGEN, {"alg": alg, "seed": bytes(32)})
        signs = []
        for i in range(sign_runs):
            msg = i.to_bytes(4, "big") * 8
            signs.append(
                measured(
                    client,
                    Command.SIG_SIGN,
                    {"alg": alg, "sk": keys["sk"], "msg": msg, "rnd": bytes(32)},
                )
            )
        sig = client.call(
            Command.SIG_SIGN, {"alg": alg, "sk": keys["sk"], "msg": b"m" * 32, "rnd": bytes(32)}
        ).ok()["sig"]
        ve = measured(
            client, Command.SIG_VERIFY, {"alg": alg, "pk": keys["pk"], "msg": b"m" * 32, "sig": sig}
        )
        rows.append(sign_row(name, kg, signs, ve))
    rows += bench_falcon(client, sign_runs)
    for hash_name in ("sha256", "sha3-256", "shake128"):
        hash_args: dict[str, CborValue] = {"alg": hash_name, "data": bytes(4096), "len": 32}
        hashed = measured(client, Command.HASH, hash_args)
        rows.append({"scheme": f"{hash_name} 4096 B", "ops": [hashed]})
    for alg, aead_name, key_len, nonce_len in (
        (3, "A256GCM", 32, 12),
        (10, "AES-CCM-16-64-128", 16, 13),
        (24, "ChaCha20/Poly1305", 32, 12),
    ):
        seal_args: dict[str, CborValue] = {
            "alg": alg,
            "key": bytes(key_len),
            "nonce": bytes(nonce_len),
            "aad": bytes(16),
            "pt": bytes(1024),
        }
        rows.append(
            {
                "scheme": f"{aead_name} 1 KiB",
                "ops": [measured(client, Command.AEAD_SEAL, seal_args)],
            }
        )
    return rows


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--elf", type=Path, default=Path("build/firmware/qemu-m4/pqiot-fw.elf"))
    parser.add_argument("--sign-runs", type=int, default=20)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--only", choices=["falcon"], help="run only these rows")
    args = parser.parse_args(argv)
    with spawn_qemu(args.elf, timeout=300) as client:
        if args.only == "falcon":
            rows = bench_falcon(client, args.sign_runs)
        else:
            rows = bench(client, args.sign_runs)
    for row in rows:
        ops = row["ops"]
        assert isinstance(ops, list)
        text = " / ".join(f"{i / 1e6:.2f}M" for i, _ in ops)
        stack = " / ".join(f"{s:,}" for _, s in ops)
        extra = row.get("sign_min_median_mean_max", "")
        print(f"{row['scheme']:<16} instr {text:<28} stack {stack:<24} {extra}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
