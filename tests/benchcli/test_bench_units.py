"""Statistics, spread flags, schema validation, message set and the warm-up rule."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from pqiot.bench.messages import MESSAGE_STREAM_SEED, signing_key_seed, signing_messages
from pqiot.bench.primitives import measure_primitives
from pqiot.bench.report import metric, validate
from pqiot.bench.stats import summarize
from pqiot.hil.client import Measurement
from pqiot.reference.tap.codes import Command


def test_summary_of_known_samples() -> None:
    s = summarize([10, 12, 14, 100])
    assert (s.n, s.min, s.median, s.max) == (4, 10, 13, 100)
    assert s.mean == 34
    assert s.spread == pytest.approx(90 / 13)
    assert s.cv == pytest.approx(s.stdev / 34)


def test_no_samples_is_an_error_not_a_zero() -> None:
    with pytest.raises(ValueError):
        summarize([])


def test_wide_spread_is_flagged_not_hidden() -> None:
    noisy = metric("x", "primitive", "wall_clock_ns", [100, 100, 200], threshold=0.25)
    steady = metric("y", "primitive", "wall_clock_ns", [100, 101, 102], threshold=0.25)
    assert noisy["flags"] == ["wide-spread"] and noisy["samples"] == [100, 100, 200]
    assert steady["flags"] == []


def test_qemu_proxy_against_pqm4_is_labelled_not_comparable() -> None:
    m = metric(
        "ml-kem-768 keygen",
        "primitive",
        "instruction_proxy",
        [1_140_680],
        threshold=0.25,
        stack_bytes=10_308,
    )
    ref = m["reference"]
    assert ref["unit"] == "cycles" and ref["value"] == 989e3
    assert ref["comparable"] is False and "not comparable 1:1" in ref["note"]
    assert ref["ratio"] == round(1_140_680 / 989e3, 3)
    assert ref["stack_ratio"] == round(10_308 / 10_248, 3)


def test_signing_is_compared_on_the_mean_as_pqm4_reports_an_average() -> None:
    m = metric("ml-dsa-44 sign", "primitive", "cycles", [4e6, 6e6, 20e6], threshold=0.25)
    assert m["reference"]["ratio"] == round(10e6 / 7.93e6, 3)
    assert m["reference"]["comparable"] is True


def _valid() -> dict[str, Any]:
    return {
        "schema": "pqiot-bench/1",
        "target": "t",
        "kind": "host",
        "clock": {"hz": 1},
        "compiler": "c",
        "flags": "",
        "git_revision": "r",
        "firmware": "f",
        "metrics": [metric("a", "primitive", "bytes", [1, 2], threshold=1.0)],
    }


def test_schema_accepts_a_valid_report() -> None:
    assert validate(_valid()) == []


@pytest.mark.parametrize(
    ("mutate", "problem"),
    [
        (lambda r: r.pop("git_revision"), "git_revision"),
        (lambda r: r.update(schema="other"), "schema"),
        (lambda r: r["metrics"][0].update(unit="cycle"), "unit"),
        (lambda r: r["metrics"][0]["statistics"].update(min=5), "min <= median"),
        (lambda r: r["metrics"].append(dict(r["metrics"][0])), "duplicated"),
        (lambda r: r["metrics"][0]["statistics"].pop("cv"), "cv"),
        (lambda r: r.update(clock={}), "clock"),
    ],
)
def test_schema_rejects(mutate: Any, problem: str) -> None:
    report = _valid()
    mutate(report)
    assert any(problem in p for p in validate(report))


def test_message_set_is_the_documented_shake128_stream() -> None:
    stream = hashlib.shake_128(MESSAGE_STREAM_SEED).digest(32 * 5)
    assert signing_key_seed() == stream[:32]
    assert signing_messages(4) == [stream[32 * i : 32 * (i + 1)] for i in range(1, 5)]


class _FakeAgent:
    """Answers primitive calls and MEASURE with an increasing count (no device involved)."""

    def __init__(self) -> None:
        self.count = 0
        self.last = 0

    def mlkem_keygen(self, *_: object) -> tuple[bytes, bytes]:
        self.last = Command.MLKEM_KEYGEN
        return b"ek", b"dk"

    def mlkem_encaps(self, *_: object) -> tuple[bytes, bytes]:
        self.last = Command.MLKEM_ENCAPS
        return b"c", b"k"

    def mlkem_decaps(self, *_: object) -> bytes:
        self.last = Command.MLKEM_DECAPS
        return b"k"

    def measure(self) -> Measurement:
        self.count += 1
        return Measurement(self.last, self.count, "qemu-icount", False, 25_000_000, 100)


def test_warmup_runs_are_discarded_and_proxy_is_instructions() -> None:
    agent = _FakeAgent()
    (keygen, encaps, decaps) = measure_primitives(
        agent,
        ["ml-kem-512"],
        runs=2,
        warmup=1,
        sign_messages=1,  # type: ignore[arg-type]
    )
    # MEASURE counts 1..9 in order keygen, encaps, decaps per round; round 0 is the warm-up.
    assert keygen.values == [4 * 40, 7 * 40] and decaps.values == [6 * 40, 9 * 40]
    assert keygen.unit == "instruction_proxy" and encaps.stacks == [100, 100]
