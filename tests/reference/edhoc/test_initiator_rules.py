"""Initiator rules of spec chapter 5: connection identifiers, the single suite retry,
critical EAD, ERR_INFO size and discarding keys on failure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import pytest

from pqiot.reference import cbor
from pqiot.reference.edhoc import (
    AllowListResolver,
    EadItem,
    HandshakeCompleted,
    HandshakeFailed,
    Initiator,
    Responder,
    State,
)
from pqiot.reference.edhoc.errors import MAX_ERR_INFO_BYTES
from pqiot.reference.edhoc.messages import decode_message_1, encode_message_1
from pqiot.reference.errors import Alert

from .conftest import IdentityFactory, Transcript, drain, run
from .test_pq_handshakes import method_0_configs


class _AlwaysUnequal(bytes):
    """A C_R that slips past the Responder's own C_R != C_I guard (REQ-HS-005).

    It compares unequal to everything but encodes as its bytes, so the
    Initiator meets a correctly signed message_2 with C_R = C_I.
    """

    def __eq__(self, other: object) -> bool:
        return False

    def __ne__(self, other: object) -> bool:
        return True

    __hash__ = bytes.__hash__


def _failure(events: Sequence[object]) -> HandshakeFailed:
    failed = [e for e in events if isinstance(e, HandshakeFailed)]
    assert len(failed) == 1, events
    return failed[0]


def _errors_from_initiator(transcript: Transcript) -> list[list[cbor.CborValue]]:
    return [
        cbor.decode_sequence(d)
        for who, d in transcript.wire
        if who == "I->R"
        and cbor.Decoder(d).peek_major() in (0, 1)
        and len(cbor.decode_sequence(d)) == 2
    ]


def _error(code: int, info: cbor.CborValue) -> bytes:
    return cbor.encode_sequence(code, info)


def test_message_2_with_c_r_equal_to_c_i_is_a_decode_error(identities: IdentityFactory) -> None:
    """REQ-HS-009: the Initiator rejects a message_2 whose C_R equals C_I with decode_error."""
    config_i, config_r = method_0_configs(
        identities,
        -102,
        initiator={"connection_id": b"\x27"},
        responder={"connection_id": _AlwaysUnequal(b"\x27")},
    )
    transcript = run(Initiator(config_i), Responder(config_r))
    failed = _failure(transcript.initiator_events)
    assert (failed.alert, failed.requirement) == (Alert.DECODE_ERROR, "REQ-HS-009")
    assert _errors_from_initiator(transcript) == [[1, "decode_error: C_R equals C_I (27)"]]
    assert not any(isinstance(e, HandshakeCompleted) for e in transcript.initiator_events)


@pytest.mark.parametrize(("length", "accepted"), [(6, True), (7, False)])
def test_c_r_longer_than_an_oscore_id_allows_is_a_decode_error(
    identities: IdentityFactory, length: int, accepted: bool
) -> None:
    """REQ-HS-003: suite -102 (A256GCM, 12-byte nonce) allows OSCORE IDs of 12 - 6 = 6 bytes."""
    c_r = bytes(range(0x40, 0x40 + length))
    config_i, config_r = method_0_configs(identities, -102, responder={"connection_id": c_r})
    transcript = run(Initiator(config_i), Responder(config_r))
    done = [e for e in transcript.initiator_events if isinstance(e, HandshakeCompleted)]
    if accepted:
        assert done and done[0].c_r == c_r
        return
    failed = _failure(transcript.initiator_events)
    assert (failed.alert, failed.requirement) == (Alert.DECODE_ERROR, "REQ-HS-003")
    assert _errors_from_initiator(transcript) == [
        [1, "decode_error: C_R is 7 bytes, suite -102 allows at most 6"]
    ]


@pytest.mark.parametrize(("suite_id", "longest"), [(-102, 6), (-101, 7)])
def test_own_c_i_longer_than_an_oscore_id_allows_is_refused_at_start(
    identities: IdentityFactory, suite_id: int, longest: int
) -> None:
    """REQ-HS-003: 6 bytes for A256GCM (12-byte nonce), 7 for AES-CCM (13-byte nonce)."""
    fits = method_0_configs(identities, suite_id, initiator={"connection_id": bytes(longest)})[0]
    initiator = Initiator(fits)
    initiator.start(now=0.0)
    assert decode_message_1(initiator.data_to_send()[0]).c_i == bytes(longest)
    too_long = method_0_configs(
        identities, suite_id, initiator={"connection_id": bytes(longest + 1)}
    )[0]
    with pytest.raises(ValueError, match="REQ-HS-003"):
        Initiator(too_long).start(now=0.0)


def test_second_err_code_2_ends_the_attempt(identities: IdentityFactory) -> None:
    """REQ-HS-030: one retry per attempt; ERR_CODE 2 for the retried message_1 aborts silently."""
    config_i, _ = method_0_configs(identities, -102, initiator={"suites": [-104, -103, -102]})
    initiator = Initiator(config_i)
    initiator.start(now=0.0)
    assert decode_message_1(initiator.data_to_send()[0]).suites_i == (-104,)
    initiator.receive(_error(2, [-103, -102]), now=0.0)
    (retry,) = initiator.data_to_send()
    assert decode_message_1(retry).suites_i == (-104, -103)
    initiator.receive(_error(2, -102), now=0.0)
    assert initiator.data_to_send() == []
    assert initiator.state is State.FAILED
    failed = _failure(drain(initiator))
    assert (failed.alert, failed.requirement) == (
        Alert.WRONG_SELECTED_CIPHER_SUITE,
        "REQ-HS-030",
    )


def test_unsupported_critical_ead_2_aborts_with_the_exact_error(
    identities: IdentityFactory,
) -> None:
    """REQ-HS-020: ERR_CODE 1 with ERR_INFO "unspecified_error: unsupported critical EAD -77"."""
    config_i, config_r = method_0_configs(
        identities, -102, responder={"ead_2": (EadItem(-77, None),)}
    )
    transcript = run(Initiator(config_i), Responder(config_r))
    assert _failure(transcript.initiator_events).alert is Alert.UNSPECIFIED_ERROR
    assert _errors_from_initiator(transcript) == [
        [1, "unspecified_error: unsupported critical EAD -77"]
    ]


def test_supported_critical_ead_2_is_kept(identities: IdentityFactory) -> None:
    """REQ-HS-020: only *unsupported* critical items abort; a supported one is delivered."""
    config_i, config_r = method_0_configs(
        identities,
        -102,
        initiator={"supported_ead_labels": frozenset({77})},
        responder={"ead_2": (EadItem(-77, b"x"), EadItem(3, b"pad"))},
    )
    transcript = run(Initiator(config_i), Responder(config_r))
    done = [e for e in transcript.initiator_events if isinstance(e, HandshakeCompleted)]
    assert done and done[0].ead_received == (EadItem(-77, b"x"),)


def test_err_info_of_a_long_detail_is_cut_to_128_bytes(identities: IdentityFactory) -> None:
    """REQ-HS-019: ERR_INFO "<alert_name>: <detail>" is at most 128 bytes, the alert name intact."""
    name = "a-very-long-subject-" * 8
    alice = identities.make(-48, name, b"\x01I")
    twin = identities.make(-48, name, b"\x02R")  # same subject: REQ-CRED-007 reflection
    config_i, config_r = method_0_configs(
        identities,
        -102,
        initiator={
            "credential": alice.credential,
            "key": alice.key,
            "provider": alice.provider,
            "resolver": AllowListResolver([twin.credential]),
        },
        responder={
            "credential": twin.credential,
            "key": twin.key,
            "provider": twin.provider,
            "resolver": AllowListResolver([alice.credential]),
        },
    )
    transcript = run(Initiator(config_i), Responder(config_r))
    ((code, info),) = _errors_from_initiator(transcript)
    assert code == 1 and isinstance(info, str)
    assert len(info.encode()) == MAX_ERR_INFO_BYTES
    assert info.startswith("authentication_failed: peer credential has our own subject")
    assert info.endswith("...")


def test_failed_initiator_keeps_no_key_material(identities: IdentityFactory) -> None:
    """REQ-HS-022: after an error message the attempt's ephemeral secret is gone."""
    config_i, _ = method_0_configs(identities, -102)
    initiator = Initiator(config_i)
    initiator.start(now=0.0)
    initiator.data_to_send()  # message_1
    assert initiator._session is not None and initiator._session.secret
    initiator.receive(_error(1, "authentication_failed"), now=0.0)
    assert initiator.data_to_send() == [] and initiator.state is State.FAILED
    assert initiator._session is None


@pytest.mark.parametrize(("suite_id", "longest"), [(-102, 6), (-101, 7)])
def test_responder_refuses_a_c_i_longer_than_an_oscore_id_allows(
    identities: IdentityFactory, suite_id: int, longest: int
) -> None:
    """REQ-HS-003 on the Responder: C_I becomes its OSCORE Recipient ID, so one byte more
    than nonce_length - 6 is a decode_error, and the longest allowed C_I is accepted."""
    config_i, config_r = method_0_configs(identities, suite_id)
    initiator = Initiator(config_i)
    initiator.start(now=0.0)
    genuine = decode_message_1(initiator.data_to_send()[0])
    for length, accepted in ((longest, True), (longest + 1, False)):
        message_1 = encode_message_1(replace(genuine, c_i=bytes(range(1, length + 1))))
        responder = Responder(config_r)
        responder.receive(message_1, now=0.0)
        (reply,) = responder.data_to_send()
        if accepted:
            assert responder.state is State.WAIT_MESSAGE_3
        else:
            assert responder.state is State.FAILED
            assert cbor.decode_sequence(reply) == [
                1,
                f"decode_error: C_I is {length} bytes, suite {suite_id} allows at most {longest}",
            ]
