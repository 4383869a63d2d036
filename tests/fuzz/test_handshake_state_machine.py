"""Stateful fuzzing of the EDHOC Initiator and Responder (spec §5.11).

Hypothesis delivers, in random interleavings, the valid messages of a run
(in order, out of order, replayed to the wrong side), truncations and
bit flips of them, peer error messages and random bytes. A model of the
spec's state tables predicts each side's state: a side completes if and only
if it received exactly its valid messages in order; any other input in a
waiting state fails it (REQ-HS-033); terminal states ignore everything.
A byte-identical retransmission of the last accepted message must be answered
with the previous reply and change nothing (REQ-HS-038), except in FAILED,
which drops everything.
"""

from __future__ import annotations

from hypothesis import event as hypothesis_event
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from pqiot.fuzz import material
from pqiot.fuzz.profiles import stateful_settings
from pqiot.reference import cbor
from pqiot.reference.edhoc import HandshakeFailed, Initiator, Responder, State
from pqiot.reference.edhoc.events import ErrorReceived
from pqiot.reference.edhoc.messages import decode_error_message, encode_error_message
from pqiot.reference.errors import Alert, DecodeError
from pqiot.reference.suites import METHOD_PSK, METHOD_SIGNATURE

INITIATOR, RESPONDER = "initiator", "responder"


class HandshakeMachine(RuleBasedStateMachine):
    """Both roles of one handshake, with a model of what each must do next."""

    method = METHOD_SIGNATURE
    message_4 = True

    def __init__(self) -> None:
        super().__init__()
        initiator, responder = material.handshake_pair(self.method, message_4=self.message_4)
        self.sides: dict[str, Initiator | Responder] = {
            INITIATOR: initiator,
            RESPONDER: responder,
        }
        self.length = len(material.capture(self.method, message_4=self.message_4).messages)
        # Signatures are randomized, so the valid messages of *this* run are the ones the
        # sides produce: message i goes to the responder for even i, the initiator for odd i.
        initiator.start(0.0)
        self.produced: list[bytes] = initiator.data_to_send()
        assert len(self.produced) == 1
        if self.method == METHOD_PSK:
            # No signatures: the run is fully deterministic, every message is known upfront.
            self.produced = list(material.capture(self.method).messages)
        # Another session's messages (other ephemeral keys): well-formed, but foreign.
        self.foreign = material.capture(
            self.method, message_4=self.message_4, seed=b"foreign"
        ).messages
        self.received: dict[str, int] = {INITIATOR: 0, RESPONDER: 0}
        self.model_failed = {INITIATOR: False, RESPONDER: False}
        # A Responder cannot tell a forged but well-formed message_1 from the real one, nor a
        # PSK Initiator a forged message_2 (unauthenticated until message_4; ML-KEM decapsulation
        # never fails): once a side accepted one, its session is someone else's and cannot complete.
        self.diverged = {INITIATOR: False, RESPONDER: False}
        self.last_accepted: dict[str, bytes | None] = {INITIATOR: None, RESPONDER: None}
        self.last_reply: dict[str, list[bytes]] = {INITIATOR: [], RESPONDER: []}
        self.pool: list[bytes] = []  # error messages the sides sent: delivered to the peer later

    def expected(self, side: str) -> list[int]:
        """Indexes of the messages ``side`` must receive, in order."""
        first = 0 if side == RESPONDER else 1
        return list(range(first, self.length, 2))

    def next_valid(self, side: str) -> bytes | None:
        indexes = self.expected(side)
        position = self.received[side]
        if self.diverged[side]:
            return None
        if position >= len(indexes) or indexes[position] >= len(self.produced):
            return None
        return self.produced[indexes[position]]

    # -- the model ------------------------------------------------------------------

    def model_completed(self, side: str) -> bool:
        if self.diverged[side]:
            return False
        return not self.model_failed[side] and self.received[side] == len(self.expected(side))

    def terminal(self, side: str) -> bool:
        return self.model_failed[side] or self.model_completed(side)

    def retransmit(self, side: str, data: bytes) -> None:
        """REQ-HS-038: the previous reply again, byte for byte, and no state change;
        §5.11: a FAILED session drops everything, retransmissions included."""
        endpoint = self.sides[side]
        state = endpoint.state
        endpoint.receive(data, 1.0)
        sent = endpoint.data_to_send()
        assert _drain(endpoint) == []
        assert endpoint.state is state
        if self.model_failed[side]:
            assert sent == [], "a FAILED session answered a retransmission (§5.11: drop)"
        else:
            assert sent == self.last_reply[side], "REQ-HS-038: resend the previous reply"

    def may_diverge(self, side: str) -> bool:
        """Is ``side`` waiting for the one message it cannot authenticate on arrival?"""
        if self.received[side] != 0 or self.diverged[side]:
            return False
        return side == RESPONDER or self.method == METHOD_PSK

    def deliver(self, side: str, data: bytes) -> None:
        endpoint = self.sides[side]
        if data == self.last_accepted[side]:
            self.retransmit(side, data)
            return
        error_shaped = _error_shaped(data)
        if error_shaped and side == RESPONDER and endpoint.state is State.START:
            return  # START + error: see test_responder_in_start_does_not_answer_an_error
        was_terminal = self.terminal(side)
        is_next_valid = not was_terminal and data == self.next_valid(side)
        endpoint.receive(data, 1.0)
        sent = endpoint.data_to_send()
        events = _drain(endpoint)
        for event in events:
            if isinstance(event, HandshakeFailed):
                assert event.alert is not Alert.INTERNAL_ERROR, event.detail
        if was_terminal:
            assert sent == [] and events == [], "a terminal state must drop everything"
            return
        if is_next_valid:
            reply = self.expected(side)[self.received[side]] + 1
            self.received[side] += 1
            self.last_accepted[side] = data
            self.last_reply[side] = list(sent)
            assert not any(isinstance(e, HandshakeFailed) for e in events)
            if reply >= self.length:
                assert sent == [], f"{side} sent a message after the last one"
                return
            assert len(sent) == 1 and not _error_shaped(sent[0]), f"{side} must reply"
            if reply < len(self.produced):
                assert sent[0] == self.produced[reply], "a deterministic run changed its reply"
            else:
                self.produced += sent
            return
        if self.may_diverge(side) and not error_shaped and endpoint.state in _WAITING:
            assert len(sent) == 1 and not _error_shaped(sent[0])
            self.diverged[side] = True
            self.received[side] = 1
            self.foreign = (*self.foreign, *sent)
            return
        self.model_failed[side] = True
        failures = [e for e in events if isinstance(e, HandshakeFailed)]
        assert failures, "every abort is reported as HandshakeFailed"
        if not error_shaped:
            assert len(sent) == 1 and _well_formed_error(sent[0]), (
                "REQ-HS-021: a failure on a received message sends an error message"
            )
            self.pool.append(sent[0])
            return
        assert sent == [], "REQ-HS-022/023: an error message is never answered with one"
        if _well_formed_error(data):
            assert any(isinstance(e, ErrorReceived) for e in events) or any(
                f.alert is Alert.WRONG_SELECTED_CIPHER_SUITE for f in failures
            ), "a peer error ends the handshake (ERR_CODE 2 here: no other common suite)"
        else:
            assert failures[-1].alert is Alert.DECODE_ERROR, "REQ-HS-023: malformed error"

    # -- rules ----------------------------------------------------------------------

    sides_st = st.sampled_from([INITIATOR, RESPONDER])

    @rule(side=sides_st)
    def deliver_next_valid_message(self, side: str) -> None:
        """The happy path: the message the peer would send now."""
        message = self.next_valid(side)
        if message is not None:
            self.deliver(side, message)

    def any_message(self, index: int) -> bytes:
        """A message of this run (possibly not yet due) or of another run (foreign)."""
        pool = [*self.produced, *self.foreign]
        return pool[index % len(pool)]

    @rule()
    def deliver_all_remaining_valid_messages(self) -> None:
        """Run the rest of the happy path (so that runs reach completion, then get disturbed)."""
        for _ in range(self.length):
            for side in (RESPONDER, INITIATOR):
                message = self.next_valid(side)
                if message is not None:
                    self.deliver(side, message)

    @rule(side=sides_st)
    def retransmit_the_last_accepted_message(self, side: str) -> None:
        last = self.last_accepted[side]
        if last is not None:
            self.deliver(side, last)

    @rule(side=sides_st, index=st.integers(0, 7))
    def deliver_any_valid_message(self, side: str, index: int) -> None:
        """Out of order, early, replayed, sent to the wrong side, or from another session."""
        self.deliver(side, self.any_message(index))

    @rule(side=sides_st, index=st.integers(0, 7), cut=st.integers(0, 4000))
    def deliver_truncated_message(self, side: str, index: int, cut: int) -> None:
        message = self.any_message(index)
        self.deliver(side, message[: cut % len(message)])

    @rule(
        side=sides_st, index=st.integers(0, 7), position=st.integers(0, 5000), bit=st.integers(0, 7)
    )
    def deliver_flipped_message(self, side: str, index: int, position: int, bit: int) -> None:
        message = bytearray(self.any_message(index))
        message[position % len(message)] ^= 1 << bit
        self.deliver(side, bytes(message))

    @rule(
        side=sides_st,
        error=st.sampled_from(
            [
                *[(1, "unspecified_error"), (1, "decrypt_failed: x"), (3, True), (2, -101)],
                (9, None),
                *[(1, 5), (0, "x"), (3, False), (2, "x")],  # malformed (REQ-HS-023)
            ]
        ),
    )
    def deliver_peer_error(self, side: str, error: tuple[int, cbor.CborValue]) -> None:
        """REQ-HS-022/023: an error ends the handshake without a reply, well-formed or not."""
        self.deliver(side, encode_error_message(*error))

    @precondition(lambda self: bool(self.pool))
    @rule(side=sides_st, index=st.integers(0, 10))
    def deliver_an_error_a_side_sent(self, side: str, index: int) -> None:
        self.deliver(side, self.pool[index % len(self.pool)])

    @rule(side=sides_st, data=st.binary(max_size=64))
    def deliver_random_bytes(self, side: str, data: bytes) -> None:
        self.deliver(side, data)

    def teardown(self) -> None:
        outcome = {
            side: "completed"
            if self.model_completed(side)
            else "failed"
            if self.model_failed[side]
            else "waiting"
            for side in self.sides
        }
        hypothesis_event(f"initiator {outcome[INITIATOR]}, responder {outcome[RESPONDER]}")

    # -- invariants -----------------------------------------------------------------

    @invariant()
    def states_match_the_model(self) -> None:
        for side, endpoint in self.sides.items():
            assert isinstance(endpoint.state, State)
            if self.model_failed[side]:
                assert endpoint.state is State.FAILED
            elif self.model_completed(side):
                assert endpoint.state is State.COMPLETED, "valid sequence delivered: must complete"
            else:
                assert endpoint.state not in (State.COMPLETED, State.FAILED)


_WAITING = (State.WAIT_MESSAGE_3, State.WAIT_MESSAGE_4)


def _error_shaped(data: bytes) -> bool:
    """Two CBOR items, the first an int: how the roles recognise an error message (§5.11)."""
    try:
        items = cbor.decode_sequence(data)
    except DecodeError:
        return False
    return len(items) == 2 and isinstance(items[0], int) and not isinstance(items[0], bool)


def _well_formed_error(data: bytes) -> bool:
    try:
        decode_error_message(data)
    except DecodeError:
        return False
    return True


def _drain(endpoint: Initiator | Responder) -> list[object]:
    out: list[object] = []
    while (event := endpoint.next_event()) is not None:
        out.append(event)
    return out


class PskHandshakeMachine(HandshakeMachine):
    method = METHOD_PSK


class NoMessage4HandshakeMachine(HandshakeMachine):
    message_4 = False


TestSignatureHandshake = HandshakeMachine.TestCase
TestSignatureHandshake.settings = stateful_settings()
TestPskHandshake = PskHandshakeMachine.TestCase
TestPskHandshake.settings = stateful_settings()
TestNoMessage4Handshake = NoMessage4HandshakeMachine.TestCase
TestNoMessage4Handshake.settings = stateful_settings()


# -- findings of earlier fuzzing, fixed in the reference and kept as regressions --------------


def test_responder_in_start_does_not_answer_an_error() -> None:
    """REQ-HS-022: a party MUST NOT answer an error message with an error message."""
    _, responder = material.handshake_pair()
    responder.receive(encode_error_message(1, "unspecified_error"), 0.0)
    assert responder.data_to_send() == []
    assert responder.state is State.FAILED


def test_responder_answers_a_retransmitted_message_1_with_the_same_message_2() -> None:
    """REQ-HS-038: a byte-identical repeat is answered with the previous reply, no state change."""
    initiator, responder = material.handshake_pair()
    initiator.start(0.0)
    (message_1,) = initiator.data_to_send()
    responder.receive(message_1, 0.0)
    (message_2,) = responder.data_to_send()
    responder.receive(message_1, 1.0)
    assert responder.data_to_send() == [message_2]
    assert responder.state is State.WAIT_MESSAGE_3
