"""Every input that once broke a harness contract still passes it (tests/fuzz/regressions/)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pqiot.fuzz.harnesses import get, names
from pqiot.reference import cbor
from pqiot.reference.errors import DecodeError

REGRESSIONS = Path(__file__).parent / "regressions"
CASES = sorted(p for p in REGRESSIONS.glob("*/*") if p.is_file())


def test_every_regression_folder_names_a_harness() -> None:
    folders = {p.name for p in REGRESSIONS.iterdir() if p.is_dir()}
    assert folders <= set(names())


#: Inputs of reported defects in code the fuzz owners do not maintain; strict, so the
#: test fails once the fix lands and the entry must move to the fixed table of the README.
OPEN: dict[str, str] = {}


def _case(path: Path) -> object:
    key = f"{path.parent.name}/{path.name}"
    if key in OPEN:
        return pytest.param(path, marks=pytest.mark.xfail(strict=True, reason=OPEN[key]))
    return path


@pytest.mark.parametrize(
    "path", [_case(p) for p in CASES], ids=lambda p: f"{p.parent.name}/{p.name}"
)
def test_regression_input_passes_its_harness(path: Path) -> None:
    get(path.parent.name).one_input(path.read_bytes())


def test_a_target_file_that_is_not_utf8_is_a_target_error() -> None:
    """Found by the target_file harness: the loader let UnicodeDecodeError escape."""
    from pqiot.hil.target_schema import TargetError, load_description

    path = REGRESSIONS / "target_file" / "non-utf8-byte.toml"
    with pytest.raises(TargetError, match="not UTF-8"):
        load_description(path)


@pytest.mark.parametrize(
    "name",
    [
        "map-with-bool-key-colliding-with-int-1.bin",
        "map-with-true-key.bin",
        "map-with-bstr-key.bin",
    ],
)
def test_cbor_map_keys_other_than_int_or_tstr_are_decode_errors(name: str) -> None:
    """REQ-ENC-005: map keys are integers or text strings; anything else is decode_error."""
    data = (REGRESSIONS / "cbor" / name).read_bytes()
    with pytest.raises(DecodeError, match="REQ-ENC-005"):
        cbor.decode_sequence(data)


# -- found by the handshake state machine (tests/fuzz/test_handshake_state_machine.py) -------


@pytest.mark.parametrize("error", [(1, 5), (2, "x"), (3, False), (0, "x")])
def test_initiator_aborts_on_a_malformed_error_without_answering(error: tuple[int, object]) -> None:
    """REQ-HS-022/023: a malformed error message aborts with decode_error; nothing is sent."""
    from pqiot.fuzz import material
    from pqiot.reference.edhoc import HandshakeFailed, State
    from pqiot.reference.edhoc.messages import encode_error_message
    from pqiot.reference.errors import Alert

    initiator, _ = material.handshake_pair()
    initiator.start(0.0)
    initiator.data_to_send()
    initiator.receive(encode_error_message(*error), 0.0)  # type: ignore[arg-type]
    assert initiator.state is State.FAILED
    assert initiator.data_to_send() == []
    assert initiator.next_event() == HandshakeFailed(
        Alert.DECODE_ERROR, initiator_detail(error), None
    )


def initiator_detail(error: tuple[int, object]) -> str:
    return {
        1: "ERR_INFO of ERR_CODE 1 must be a text string",
        2: "SUITES_R must be an int or an array of at least two ints",
        3: "ERR_INFO of ERR_CODE 3 must be true",
        0: "ERR_CODE 0 is not an error code (REQ-HS-023)",
    }[error[0]]


def test_responder_aborts_on_a_malformed_error_without_answering() -> None:
    """REQ-HS-023 in WAIT_M3: the Responder drops the session and stays silent."""
    from pqiot.fuzz import material
    from pqiot.reference.edhoc import State
    from pqiot.reference.edhoc.messages import encode_error_message

    initiator, responder = material.handshake_pair()
    initiator.start(0.0)
    responder.receive(initiator.data_to_send()[0], 0.0)
    responder.data_to_send()
    responder.receive(encode_error_message(1, b"not text"), 0.0)
    assert responder.state is State.FAILED
    assert responder.data_to_send() == []


def test_a_failed_session_does_not_answer_a_retransmission() -> None:
    """§5.11 (FAILED: any -> drop), REQ-HS-034: once failed, even the retransmission of the
    last accepted message gets no reply (REQ-HS-038 applies to live sessions only)."""
    from pqiot.fuzz import material
    from pqiot.reference.edhoc import State

    initiator, responder = material.handshake_pair()
    initiator.start(0.0)
    (message_1,) = initiator.data_to_send()
    responder.receive(message_1, 0.0)
    responder.data_to_send()
    responder.receive(b"\x41\x00", 0.0)  # a bogus message_3 fails the session
    assert responder.state is State.FAILED
    responder.data_to_send()
    responder.receive(message_1, 1.0)
    assert responder.data_to_send() == []
