"""What the two handshake roles share: states, input classification, the event queue,
error handling and the trace.

Sans-I/O: bytes go in through ``receive(data, now)``, whole messages come out
of ``data_to_send()``, state changes come out of ``next_event()``. Every
failure ends in the terminal ``FAILED`` state with a :class:`HandshakeFailed`
event and, unless we are answering an error message, an EDHOC error message
in the outbox (RFC 9528 §6).
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Callable, Mapping

from pqiot.reference import cbor
from pqiot.reference.cose import HEADER_KCCS
from pqiot.reference.credentials import Credential, parse_ccs
from pqiot.reference.edhoc.config import HandshakeConfig
from pqiot.reference.edhoc.ead import check_ead
from pqiot.reference.edhoc.errors import shorten
from pqiot.reference.edhoc.events import (
    ErrorReceived,
    Event,
    HandshakeFailed,
    PeerCredentialAccepted,
)
from pqiot.reference.edhoc.messages import (
    ERR_CODE_UNKNOWN_CREDENTIAL,
    ERR_CODE_UNSPECIFIED,
    ErrorMessage,
    check_size,
    decode_error_message,
    encode_error_message,
)
from pqiot.reference.edhoc.wire import EadItem, IdCred
from pqiot.reference.errors import Alert, CryptoError, DecodeError, ProtocolError

__all__ = ["Handshake", "Input", "State"]


class State(enum.Enum):
    START = "start"
    WAIT_MESSAGE_2 = "wait_message_2"
    WAIT_MESSAGE_3 = "wait_message_3"
    WAIT_MESSAGE_4 = "wait_message_4"
    COMPLETED = "completed"
    FAILED = "failed"


TERMINAL_STATES = frozenset({State.COMPLETED, State.FAILED})


class Input(enum.Enum):
    """What a received byte string is, judged by shape (RFC 9528 §6: errors start with an int)."""

    MESSAGE_1 = "message_1"  # starts with an int, more than two items
    MESSAGE = "message"  # a single byte string: message_2, _3 or _4 depending on the state
    ERROR = "error"  # exactly two items, the first an int


def classify(data: bytes) -> Input:
    check_size(data)
    decoder = cbor.Decoder(data)
    major = decoder.peek_major()
    if major == 2:
        return Input.MESSAGE
    if major in (0, 1):
        decoder.read()
        decoder.read()
        return Input.ERROR if decoder.at_end() else Input.MESSAGE_1
    raise DecodeError("an EDHOC message starts with an int (message_1, error) or a byte string")


Handler = Callable[["Handshake", bytes], None]


class Handshake:
    """Base of :class:`~.initiator.Initiator` and :class:`~.responder.Responder`."""

    #: (state, input) -> handler. Anything not listed is ``unexpected_message``.
    TRANSITIONS: Mapping[tuple[State, Input], Handler] = {}

    def __init__(self, config: HandshakeConfig) -> None:
        self.config = config
        self._state = State.START
        self._outbox: list[bytes] = []
        self._events: deque[Event] = deque()
        self.ignored_inputs = 0
        self.retransmissions_answered = 0
        self._last_accepted: bytes | None = None
        self._last_reply: tuple[bytes, ...] = ()

    # -- public sans-I/O surface -------------------------------------------------

    @property
    def state(self) -> State:
        return self._state

    def data_to_send(self) -> list[bytes]:
        """Whole messages to transmit, oldest first (framing is the binding's job)."""
        out, self._outbox = self._outbox, []
        return out

    def next_event(self) -> Event | None:
        return self._events.popleft() if self._events else None

    def receive(self, data: bytes, now: float) -> None:
        """Feed one whole received message. Never raises for peer misbehaviour."""
        data = bytes(data)
        if (
            self._last_accepted is not None
            and data == self._last_accepted
            and self._state is not State.FAILED  # §5.11: FAILED drops everything
        ):
            # REQ-HS-038: a retransmission gets our previous reply again, byte for
            # byte, with no state change and no randomness consumed.
            self.retransmissions_answered += 1
            self._outbox.extend(self._last_reply)
            return
        if self._state in TERMINAL_STATES:
            self.ignored_inputs += 1  # late input after the end: nothing to do
            return
        kind: Input | None = None
        try:
            kind = self._classify(data)
            handler = self.TRANSITIONS.get((self._state, kind))
            if handler is None:
                raise ProtocolError(
                    Alert.UNEXPECTED_MESSAGE,
                    f"{kind.value} is not expected in state {self._state.value}",
                )
            replies_before = len(self._outbox)
            handler(self, data)
            if self._state is not State.FAILED:
                self._last_accepted = data
                self._last_reply = tuple(self._outbox[replies_before:])
        # REQ-HS-022: whatever went wrong, an error message is never answered with one.
        except ProtocolError as exc:
            self._fail(exc, send_error=kind is not Input.ERROR)
        except CryptoError as exc:  # a local key/backend problem that no handler mapped
            internal = ProtocolError(Alert.INTERNAL_ERROR, str(exc))
            self._fail(internal, send_error=kind is not Input.ERROR)
        except (
            Exception
        ) as exc:  # e.g. a SecurityProvider fault: still end in FAILED, never half-way
            internal = ProtocolError(Alert.INTERNAL_ERROR, f"{type(exc).__name__}: {exc}")
            self._fail(internal, send_error=kind is not Input.ERROR)

    def _classify(self, data: bytes) -> Input:
        return classify(data)

    # -- helpers for the roles ---------------------------------------------------

    def _send(self, message: bytes) -> None:
        self._outbox.append(message)

    def _emit(self, event: Event) -> None:
        self._events.append(event)

    def _goto(self, state: State) -> None:
        self._state = state

    def _record(self, name: str, value: bytes) -> None:
        if self.config.trace is not None:
            self.config.trace[name] = bytes(value)

    def _record_many(self, **values: bytes) -> None:
        """Store intermediate values in ``config.trace`` (names as in RFC 9529)."""
        trace = self.config.trace
        if trace is None:  # the usual case: no trace, nothing to copy
            return
        for name, value in values.items():
            trace[name] = bytes(value)

    def _drop_keys(self) -> None:
        """Forget the attempt's ephemeral secrets and derived keys (REQ-HS-034/035)."""

    def _fail(self, error: ProtocolError, *, send_error: bool = True) -> None:
        """Abort; ERR_INFO fits 128 bytes (REQ-HS-019) and the attempt's keys are dropped."""
        error = shorten(error)
        if send_error:
            if error.alert is Alert.UNKNOWN_CREDENTIAL:
                message = encode_error_message(ERR_CODE_UNKNOWN_CREDENTIAL, True)
            else:
                info = (
                    error.alert.value
                    if not error.detail
                    else f"{error.alert.value}: {error.detail}"
                )
                message = encode_error_message(ERR_CODE_UNSPECIFIED, info)
            self._send(message)
        self._emit(HandshakeFailed(error.alert, error.detail, error.requirement))
        self._goto(State.FAILED)
        self._drop_keys()

    def _decode_peer_error(self, data: bytes) -> ErrorMessage | None:
        """Parse a received error message; a malformed one aborts without a reply.

        REQ-HS-022/023: an error message is never answered with one, not even
        when it is malformed (wrong ERR_INFO type, ERR_CODE 0).
        """
        try:
            return decode_error_message(data)
        except DecodeError as exc:
            self._fail(exc, send_error=False)
            return None

    def _on_error_message(self, error: ErrorMessage) -> None:
        """An ERR_CODE 1/3 error from the peer ends the handshake; never answer it with one."""
        self._emit(ErrorReceived(error.err_code, error.err_info))
        self._emit(
            HandshakeFailed(
                Alert.UNSPECIFIED_ERROR,
                f"peer sent EDHOC error {error.err_code}: {error.err_info!r}",
            )
        )
        self._goto(State.FAILED)
        self._drop_keys()  # REQ-HS-022: abort and discard every key of the attempt

    def _check_ead(self, items: tuple[EadItem, ...], what: str) -> tuple[EadItem, ...]:
        """Keep supported items, ignore unknown non-critical ones, abort on unknown critical
        ones with the one ERR_INFO text REQ-HS-020 prescribes (RFC 9528 §3.8)."""
        return check_ead(items, self.config.supported_ead_labels)

    def _peer_credential(self, id_cred: IdCred) -> tuple[Credential, bool]:
        """Resolve ID_CRED_x; a by-value CCS is parsed first and handed to the resolver."""
        by_value: Credential | None = None
        if HEADER_KCCS in id_cred:
            value = id_cred[HEADER_KCCS]
            if not isinstance(value, dict):
                raise DecodeError("kccs (14) must hold a CCS map")
            by_value = parse_ccs(cbor.encode(value))
        resolver = self.config.resolver
        if resolver is None:  # guarded by HandshakeConfig validation
            raise ProtocolError(Alert.INTERNAL_ERROR, "no credential resolver configured")
        credential = resolver.resolve(id_cred, by_value_credential=by_value)
        self._check_not_reflected(credential)
        return credential, by_value is not None

    def _check_not_reflected(self, peer: Credential) -> None:
        """REQ-CRED-007: a peer whose ``sub`` is our own is our message reflected back.

        RFC 9528 App. D.2: without this check an attacker can bounce a party's
        own messages at it. X.509 credentials (check-only RFC 9529 traces) carry
        no parsed ``sub`` and are left to their certificate subject checks.
        """
        own = self.config.credential
        if own is None or own.x5t or peer.x5t:
            return
        if peer.subject == own.subject:
            raise ProtocolError(
                Alert.AUTHENTICATION_FAILED,
                f"peer credential has our own subject {own.subject!r} (reflection?)",
                "REQ-CRED-007",
            )

    def _accept_peer(self, credential: Credential, by_value: bool) -> None:
        self._emit(PeerCredentialAccepted(credential, by_value))

    def _own_id_cred(self) -> IdCred:
        credential = self.config.credential
        if credential is None:
            raise ProtocolError(Alert.INTERNAL_ERROR, "no own credential configured")
        if self.config.send_credential_by_value:
            return dict(credential.id_cred_by_value())  # type: ignore[arg-type]
        return dict(credential.id_cred_by_reference())  # type: ignore[arg-type]


def xor(data: bytes, keystream: bytes) -> bytes:
    """XOR two equal-length byte strings (one big-int operation: PQ plaintexts are kilobytes)."""
    if len(data) != len(keystream):
        raise ValueError(f"xor of {len(data)} and {len(keystream)} bytes")
    mixed = int.from_bytes(data, "big") ^ int.from_bytes(keystream, "big")
    return mixed.to_bytes(len(data), "big")


def draw_connection_id(rng: Callable[[int], bytes], avoid: bytes | None = None) -> bytes:
    """A random one-byte connection identifier that encodes as a CBOR int (-24..23)."""
    while True:
        value = rng(1)[0] % 48
        cid = bytes([value if value < 24 else 0x20 + value - 24])
        if cid != avoid:
            return cid
