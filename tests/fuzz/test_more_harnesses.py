"""The TAP request, target-file and MQTT envelope harnesses, and the live fuzzer's helpers.

The harness smoke under Atheris is in test_smoke.py (it runs every registered harness);
here the seeds are checked to start deep in each parser, and each contract to fail on
the defect it exists to catch.
"""

from __future__ import annotations

import random

import pytest

from pqiot.fuzz import more_harnesses as more
from pqiot.fuzz.byte_mutator import mutate_bytes
from pqiot.fuzz.contract import ContractViolation
from pqiot.fuzz.ddmin import ddmin
from pqiot.fuzz.harnesses import get, write_scratch
from pqiot.fuzz.seeds import split_payloads
from pqiot.hil.target_schema import load_description
from pqiot.reference.tap.messages import decode_request
from pqiot.transports.mqtt import MqttResponder
from pqiot.transports.mqtt_client import Incoming


def test_the_new_harnesses_are_registered() -> None:
    for name in ("tap_request", "target_file", "mqtt_envelope"):
        assert get(name).name == name and get(name).dictionary


def test_tap_seeds_are_valid_requests_of_every_command_group() -> None:
    """REQ-TAP-003: each seed parses, so mutations start past the request envelope."""
    commands = {decode_request(seed, 65536).command for seed in more.tap_request_seeds()}
    assert {0, 1, 2, 16, 33, 48, 56, 58, 80, 81, 82, 84, 91} <= commands


def test_tap_harness_rejects_a_parser_that_lets_a_request_change(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A request that does not re-encode to its bytes is a contract break (deterministic CBOR)."""
    from pqiot.reference.tap.messages import TapRequest

    monkeypatch.setattr(more, "decode_request", lambda data, limit: TapRequest(2, 7, {}))
    with pytest.raises(ContractViolation, match="does not re-encode"):
        more.tap_request_one_input(bytes.fromhex("830201a0"))


def test_target_seeds_are_the_shipped_descriptions_and_load() -> None:
    seeds = list(more.target_file_seeds())
    assert len(seeds) >= 6
    kinds = {load_description(write_scratch("fuzz-target.toml", s)).kind for s in seeds}
    assert kinds == {"host", "qemu", "board"}


def _accepted(seed: bytes) -> list[bool]:
    """Replays a seed as the harness does; True per PUBLISH that reached a session."""
    parts = split_payloads(seed)
    version = 5 if parts[0][0] & 1 else 4
    responder = MqttResponder(
        more._Connection(version),  # type: ignore[arg-type]
        more._topics(),
        "dev1",
        more._responder_session,
        clock=lambda: 0.0,
    )
    out = []
    for index in range(0, len(parts), 5):
        flags, topic, payload, response, correlation = parts[index : index + 5]
        message = Incoming(
            topic.decode(),
            payload,
            response.decode() if flags[0] & 2 else None,
            correlation if flags[0] & 4 else None,
        )
        out.append(responder._accept(message) is not None)
    return out


def test_mqtt_seeds_reach_a_session_in_both_mqtt_versions() -> None:
    """REQ-MQTT-005..007: message_1 then message_3 (by C_R) reach the same responder session."""
    seeds = list(more.mqtt_envelope_seeds())
    assert _accepted(seeds[0]) == [True]  # MQTT 5: true || message_1, Response Topic
    assert _accepted(seeds[1]) == [True]  # MQTT 3.1.1: initiator id || message_1
    assert _accepted(seeds[2]) == [True, True]
    assert _accepted(seeds[3]) == [True, True]
    for seed in seeds:
        more.mqtt_envelope_one_input(seed)


def test_mqtt_harness_catches_a_topic_check_that_lets_a_wildcard_through(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """REQ-MQTT-002: an accepted topic with '+' or '#' is a defect the harness must report."""
    from pqiot.fuzz.seeds import join_payloads

    monkeypatch.setattr(more, "check_topic_name", lambda raw: raw.decode())
    data = join_payloads([b"\x00", b"plant1/pqiot/v1/+/hs", b"\x00", b"", b""])
    with pytest.raises(ContractViolation, match="wildcard"):
        more.mqtt_envelope_one_input(data)


# -- live fuzzing helpers ------------------------------------------------------------------


def test_ddmin_finds_the_one_byte_that_matters() -> None:
    data = list(b"header-XYZ-trailer")
    calls: list[int] = []

    def fails(kept: list[int]) -> bool:
        calls.append(1)
        return ord("Y") in kept

    assert ddmin(data, fails) == [ord("Y")]
    assert len(calls) <= 64


def test_ddmin_keeps_two_bytes_that_fail_only_together_and_respects_its_budget() -> None:
    data = list(range(40))
    assert sorted(ddmin(data, lambda kept: 3 in kept and 31 in kept)) == [3, 31]
    calls: list[int] = []

    def fails(kept: list[int]) -> bool:
        calls.append(1)
        return 3 in kept and 31 in kept

    budgeted = ddmin(data, fails, max_tests=4)
    assert len(calls) == 4 and 3 in budgeted and 31 in budgeted and len(budgeted) == 30


def test_byte_mutator_changes_the_input_within_the_size_limit_and_is_seeded() -> None:
    seed = bytes(range(64))
    first = [mutate_bytes(seed, 70, random.Random(9), (b"TOKEN",)) for _ in range(1)]
    again = [mutate_bytes(seed, 70, random.Random(9), (b"TOKEN",)) for _ in range(1)]
    assert first == again
    rng = random.Random(1)
    outputs = [mutate_bytes(seed, 70, rng, (b"TOKEN",)) for _ in range(300)]
    assert all(len(out) <= 70 and out != seed for out in outputs)
    assert any(b"TOKEN" in out for out in outputs)
    assert any(len(out) < len(seed) for out in outputs) and any(len(out) > 64 for out in outputs)
