"""The sans-I/O record layer (D4, spec chapter 7): bytes in, bytes out, events on the side.

One :class:`RecordLayer` protects the records of one session on one binding.
It never touches a socket or a clock: the binding adapter feeds received
records to :meth:`RecordLayer.unprotect`, sends what :meth:`RecordLayer.protect`,
:meth:`RecordLayer.start_key_update` and :meth:`RecordLayer.close` return,
then sends :meth:`RecordLayer.records_to_send` (acks and close records the
layer produced by itself), and pops :meth:`RecordLayer.next_event` for audit
and for key-update triggers. Time enters only through ``now`` arguments.

Per record: nonce = RFC 8613 §5.2 (Sender ID, PIV, Common IV); AAD =
``["Encrypt0", h'', bstr .cbor [1, [alg], kid, piv, h'', binding_context]]``.

Failure handling follows spec §7.4 and chapter 10: anything that fails before
or during authentication is dropped with no output (the raised
:class:`ProtocolError` names the alert); a failure in an *authenticated*
record closes the session with a close record left in ``records_to_send``.
"""

from __future__ import annotations

import hashlib
import hmac
from collections import deque
from dataclasses import dataclass

from pqiot.reference import cbor
from pqiot.reference.cose import enc_structure0
from pqiot.reference.crypto.interfaces import Aead, HashAlgorithm, Rng
from pqiot.reference.errors import Alert, DecodeError, InvalidTag, ProtocolError
from pqiot.reference.oscore.context import SecurityContext, derive_context
from pqiot.reference.oscore.nonce import aead_nonce, piv_from_int, piv_to_int
from pqiot.reference.records.key_update import (
    MAX_EPOCH,
    NONCE_LENGTH,
    DeriveNextEpoch,
    KeyUpdateState,
)
from pqiot.reference.records.limits import UsageLimits, limits_for
from pqiot.reference.records.persistence import (
    DEFAULT_K,
    RecipientBound,
    SenderSequence,
    SequenceStore,
)
from pqiot.reference.records.record import (
    DEFAULT_MAX_RECORD_SIZE,
    ContentType,
    decode_close_body,
    decode_record,
    encode_close_body,
    encode_record,
)
from pqiot.reference.records.replay import DEFAULT_WINDOW_SIZE, ReplayWindow

__all__ = [
    "DEFAULT_KEY_UPDATE_TIMEOUT",
    "DecryptFailed",
    "Event",
    "KeyUpdateCompleted",
    "KeyUpdateNeeded",
    "KeyUpdateStarted",
    "RecordLayer",
    "ReplayDropped",
    "SessionClosed",
    "UsageLimitReached",
    "record_aad",
]

OSCORE_VERSION = 1
#: REQ-KU-006: default key-update timeout in seconds (configurable 1..300).
DEFAULT_KEY_UPDATE_TIMEOUT = 10.0


@dataclass(frozen=True)
class KeyUpdateNeeded:
    """count_q reached the key-update threshold: call ``start_key_update`` (REQ-KU-010)."""

    epoch: int
    sent: int


@dataclass(frozen=True)
class KeyUpdateStarted:
    """We sent key_update; our sending keys are now ``epoch``."""

    epoch: int
    nonce: bytes


@dataclass(frozen=True)
class KeyUpdateCompleted:
    """Our part of the update to ``epoch`` (from ``nonce``) is done: commit PRK_out, audit rekey."""

    epoch: int
    nonce: bytes


@dataclass(frozen=True)
class ReplayDropped:
    epoch: int
    sequence_number: int


@dataclass(frozen=True)
class DecryptFailed:
    """A record dropped for ``decrypt_failed``; ``failures`` = count_v (0: no context)."""

    epoch: int
    failures: int
    detail: str


@dataclass(frozen=True)
class UsageLimitReached:
    """``direction`` is "send" (q) or "receive" (v); audit ``limit_exceeded``."""

    epoch: int
    direction: str


@dataclass(frozen=True)
class SessionClosed:
    """The session ended: ``alert`` None means an orderly close; ``origin`` is "local" or "peer"."""

    alert: Alert | None
    origin: str


Event = (
    KeyUpdateNeeded
    | KeyUpdateStarted
    | KeyUpdateCompleted
    | ReplayDropped
    | DecryptFailed
    | UsageLimitReached
    | SessionClosed
)


def record_aad(alg: int, kid: bytes, piv: bytes, binding_context: bytes) -> bytes:
    """``Enc_structure`` over the D4 external_aad (RFC 8613 §5.4 plus the binding context)."""
    external = cbor.encode([OSCORE_VERSION, [alg], kid, piv, b"", binding_context])
    return enc_structure0(b"", external)


def _state_name(direction: str, key: bytes, common_iv: bytes) -> str:
    # A one-way label for persisted bounds: unique per key, reveals nothing about it.
    digest = hashlib.sha256(b"pqiot record state\x00" + key + common_iv).hexdigest()
    return f"{direction}/{digest[:32]}"


class _Sender:
    def __init__(
        self, ctx: SecurityContext, store: SequenceStore, k: int, limits: UsageLimits
    ) -> None:
        self.ctx = ctx
        self.sequence = SenderSequence(
            store, _state_name("send", ctx.sender_key, ctx.common_iv), k, limits.q
        )
        self.update_requested = False


class _Recipient:
    def __init__(
        self, ctx: SecurityContext, store: SequenceStore, k: int, window_size: int
    ) -> None:
        self.ctx = ctx
        self.window = ReplayWindow(window_size)
        self.bound = RecipientBound(store, _state_name("recv", ctx.recipient_key, ctx.common_iv), k)
        if self.bound.restored_bound is not None:  # REQ-REPLAY-009
            self.window.reject_up_to(self.bound.restored_bound)
        # count_v persisted K ahead like an SSN, never lower than the truth (REQ-KU-013)
        self.failures = SenderSequence(
            store,
            _state_name("fail", ctx.recipient_key, ctx.common_iv),
            k,
            store_initial_bound=False,
        )

    def forget(self) -> None:
        self.bound.forget()
        self.failures.forget()


class RecordLayer:
    """Protects and verifies the records of one session; see the module docstring."""

    def __init__(
        self,
        *,
        aead: Aead,
        hkdf: HashAlgorithm,
        master_secret: bytes,
        master_salt: bytes,
        sender_id: bytes,
        recipient_id: bytes,
        store: SequenceStore,
        binding_context: bytes = b"",
        epoch: int = 0,
        k: int = DEFAULT_K,
        window_size: int = DEFAULT_WINDOW_SIZE,
        limits: UsageLimits | None = None,
        derive_next_epoch: DeriveNextEpoch | None = None,
        max_record_size: int = DEFAULT_MAX_RECORD_SIZE,
        key_update_timeout: float = DEFAULT_KEY_UPDATE_TIMEOUT,
    ) -> None:
        if not 1 <= key_update_timeout <= 300:
            raise ValueError(
                f"key_update_timeout must be 1..300 s (REQ-KU-006), got {key_update_timeout}"
            )
        self._aead, self._hkdf = aead, hkdf
        self._sender_id, self._recipient_id = bytes(sender_id), bytes(recipient_id)
        self._store, self._k, self._window_size = store, k, window_size
        # One context for both directions fits TCP and serial; MQTT records of the
        # two directions travel on two topics (REQ-MQTT-008): set_binding_contexts.
        self._send_context = bytes(binding_context)
        self._receive_context = bytes(binding_context)
        self._limits = limits if limits is not None else limits_for(aead.cose_alg)
        self._derive_next_epoch = derive_next_epoch
        self._max_record_size = max_record_size
        self._key_update_timeout = key_update_timeout
        self._state = KeyUpdateState(epoch=epoch)
        self._events: deque[Event] = deque()
        self._outbox: list[bytes] = []
        self._recipients: dict[int, _Recipient] = {}
        self._pending_nonce: bytes | None = None  # our key_update nonce until our part completes
        self._ack_expected_epoch: int | None = None
        self._deadline: float | None = None
        self._closed: Alert | None = None  # set once the session is over
        self._sender = self._install(epoch, master_secret, master_salt)
        self.restored = self._sender.sequence.restored
        """True if persisted state was found: start a key update soon (REQ-REPLAY-010)."""

    # -- inspection -----------------------------------------------------------

    @property
    def epoch(self) -> int:
        """Current sending epoch."""
        return self._state.epoch

    @property
    def limits(self) -> UsageLimits:
        return self._limits

    @property
    def sent_count(self) -> int:
        """count_q of the current sender key: SSNs consumed, including ones skipped on restart."""
        return self._sender.sequence.next_value

    @property
    def closed(self) -> bool:
        return self._closed is not None

    @property
    def timer_deadline(self) -> float | None:
        """When :meth:`handle_timer` must next be called (key-update timeout), if at all."""
        return self._deadline

    def recipient_epochs(self) -> list[int]:
        """Epochs we can currently decrypt (current, plus the other one during a key update)."""
        return sorted(self._recipients)

    def set_binding_contexts(self, send: bytes, receive: bytes) -> None:
        """Bind records we seal to ``send`` and records we open to ``receive``.

        For bindings whose two directions have different contexts (MQTT: the
        topic each side publishes on); both go into the AAD (spec §7.1.3).
        """
        self._send_context, self._receive_context = bytes(send), bytes(receive)

    # -- sending ----------------------------------------------------------------

    def protect(self, content_type: ContentType, body: bytes) -> bytes:
        """Protect application_data, or a close record (body from ``encode_close_body``).

        Key update records are produced by :meth:`start_key_update` and the layer itself.
        """
        self._require_open()
        if content_type is ContentType.CLOSE:
            return self._close_with_body(decode_close_body(body), body)
        if content_type is not ContentType.APPLICATION_DATA:
            raise ValueError(
                f"protect() sends application_data or close, not {content_type.name}; "
                "use start_key_update() to update keys"
            )
        if 1 + len(body) + self._aead.tag_size > self._limits.max_message_bytes:
            raise ProtocolError(
                Alert.MESSAGE_TOO_LARGE,
                f"{len(body)}-byte body exceeds the {self._limits.max_message_bytes}-byte limit "
                "for plaintext + tag (REQ-REC-012); fragment it",
            )
        try:
            return self._seal(ContentType.APPLICATION_DATA, body)
        except ProtocolError as exc:
            if exc.alert is not Alert.USAGE_LIMIT_REACHED:
                raise
        # REQ-KU-011: the encryption that brings count_q to q must be a close record
        self._events.append(UsageLimitReached(self._state.epoch, "send"))
        self._outbox.append(self.close(Alert.USAGE_LIMIT_REACHED))
        raise ProtocolError(
            Alert.USAGE_LIMIT_REACHED,
            f"sender key reached q = {self._limits.q}; a close record is in records_to_send(); "
            "run a new handshake",
        )

    def close(self, alert: Alert | None = None, detail: str = "") -> bytes:
        """Return a close record (orderly if ``alert`` is None); discard contexts (REQ-REC-008)."""
        self._require_open()
        return self._close_with_body(alert, encode_close_body(alert, detail))

    def start_key_update(self, rng: Rng, *, now: float | None = None) -> bytes:
        """Send key_update in the current epoch, then send with the next epoch's keys (REQ-KU-001).

        With ``now`` the key-update timeout runs from that instant (see :meth:`handle_timer`).
        """
        self._require_open()
        derive = self._require_derive()
        if self._state.pending_nonce is not None:
            raise ProtocolError(
                Alert.KEY_UPDATE_FAILED, "a key update is already outstanding (REQ-KU-008)"
            )
        if self._state.epoch >= MAX_EPOCH:
            raise ProtocolError(
                Alert.KEY_UPDATE_FAILED, "epoch 255 reached; run a new handshake (REQ-KU-007)"
            )
        nonce = rng(NONCE_LENGTH)
        master_secret, master_salt = derive(nonce)
        record = self._seal(ContentType.KEY_UPDATE, nonce)
        old_sender = self._sender
        epoch = self._state.start(nonce)
        self._pending_nonce = nonce
        self._ack_expected_epoch = epoch
        self._sender = self._install(epoch, master_secret, master_salt)
        old_sender.sequence.forget()
        self._deadline = None if now is None else now + self._key_update_timeout
        self._events.append(KeyUpdateStarted(epoch, nonce))
        return record

    def handle_timer(self, now: float) -> None:
        """Close with ``key_update_failed`` once the key-update timeout has passed (REQ-KU-006)."""
        if self._deadline is not None and now >= self._deadline and not self.closed:
            self._outbox.append(self.close(Alert.KEY_UPDATE_FAILED, "timeout"))
            raise ProtocolError(
                Alert.KEY_UPDATE_FAILED, "no record of the new epoch before the timeout"
            )

    def records_to_send(self) -> list[bytes]:
        """Records the layer produced on its own (key_update_ack, close); send them in order."""
        out, self._outbox = self._outbox, []
        return out

    def next_event(self) -> Event | None:
        return self._events.popleft() if self._events else None

    # -- receiving ----------------------------------------------------------------

    def unprotect(self, record: bytes) -> tuple[ContentType, bytes]:
        """Verify and decrypt one record, in the order of spec §7.4 (REQ-REC-009).

        Raises :class:`ProtocolError`: ``decode_error`` (malformed header),
        ``message_too_large``, ``decrypt_failed`` (wrong kid, no context for
        the epoch, bad tag), ``replay_detected``, ``usage_limit_reached``;
        these produce no output. Errors in an authenticated record
        (``decode_error``, ``unexpected_message``, ``key_update_failed``)
        also close the session, leaving a close record in ``records_to_send``.
        """
        self._require_open()
        rec = decode_record(
            record, max_size=self._max_record_size, min_ciphertext=self._aead.tag_size + 1
        )
        if len(rec.ciphertext) > self._limits.max_message_bytes:
            raise ProtocolError(Alert.MESSAGE_TOO_LARGE, "record exceeds the l limit (REQ-REC-012)")
        recipient = self._recipients.get(rec.epoch) if rec.kid == self._recipient_id else None
        if recipient is None:
            self._events.append(DecryptFailed(rec.epoch, 0, "no context"))
            raise ProtocolError(Alert.DECRYPT_FAILED, "no context for this kid and epoch")
        if recipient.failures.next_value >= self._limits.v:  # restored past limit_v
            raise self._fail_authenticated(Alert.USAGE_LIMIT_REACHED, "limit_v already reached")
        sequence_number = piv_to_int(rec.piv)
        if not recipient.window.check(sequence_number):
            self._events.append(ReplayDropped(rec.epoch, sequence_number))
            raise ProtocolError(
                Alert.REPLAY_DETECTED, f"Partial IV {sequence_number} in epoch {rec.epoch}"
            )
        ctx = recipient.ctx
        nonce = aead_nonce(ctx.common_iv, ctx.recipient_id, rec.piv)
        aad = record_aad(self._aead.cose_alg, rec.kid, rec.piv, self._receive_context)
        try:
            plaintext = self._aead.open(ctx.recipient_key, nonce, rec.ciphertext, aad)
        except InvalidTag:
            self._on_decrypt_failure(rec.epoch, recipient)
            raise ProtocolError(
                Alert.DECRYPT_FAILED, f"record authentication failed in epoch {rec.epoch}"
            ) from None
        recipient.bound.before_accept(sequence_number)  # REQ-REPLAY-008, before the window moves
        recipient.window.accept(sequence_number)
        self._on_authenticated_epoch(rec.epoch)
        return self._dispatch(rec.epoch, plaintext)

    # -- internals ----------------------------------------------------------------

    def _require_open(self) -> None:
        if self._closed is not None:
            raise ProtocolError(self._closed, "the session is closed; run a new handshake")

    def _close_with_body(self, alert: Alert | None, body: bytes) -> bytes:
        record = self._seal(ContentType.CLOSE, body)
        self._discard(alert, "local")
        return record

    def _require_derive(self) -> DeriveNextEpoch:
        if self._derive_next_epoch is None:
            raise ProtocolError(
                Alert.KEY_UPDATE_FAILED, "this record layer was built without derive_next_epoch"
            )
        return self._derive_next_epoch

    def _install(self, epoch: int, master_secret: bytes, master_salt: bytes) -> _Sender:
        ctx = derive_context(
            master_secret=master_secret,
            master_salt=master_salt,
            sender_id=self._sender_id,
            recipient_id=self._recipient_id,
            aead=self._aead,
            hkdf=self._hkdf,
        )
        replaced = self._recipients.pop(epoch, None)
        if replaced is not None:
            replaced.forget()
        self._recipients[epoch] = _Recipient(
            ctx, self._store, self._k, self._window_size
        )  # REQ-REPLAY-005
        return _Sender(ctx, self._store, self._k, self._limits)

    def _seal(self, content_type: ContentType, body: bytes) -> bytes:
        sender = self._sender
        count_after = sender.sequence.next_value + 1
        if count_after > self._limits.q or (
            count_after == self._limits.q and content_type is not ContentType.CLOSE
        ):
            # only a close record may bring count_q to limit_q (REQ-KU-011)
            raise ProtocolError(
                Alert.USAGE_LIMIT_REACHED, f"sender key of epoch {self._state.epoch} is exhausted"
            )
        ssn = sender.sequence.take()  # persists the K-ahead bound first (REQ-REPLAY-006)
        piv = piv_from_int(ssn)
        ctx = sender.ctx
        nonce = aead_nonce(ctx.common_iv, ctx.sender_id, piv)
        aad = record_aad(self._aead.cose_alg, ctx.sender_id, piv, self._send_context)
        ciphertext = self._aead.seal(ctx.sender_key, nonce, bytes([content_type]) + body, aad)
        record = encode_record(piv, ctx.sender_id, self._state.epoch, ciphertext)
        sent = ssn + 1
        if (
            sent >= self._limits.key_update_threshold
            and not sender.update_requested
            and self._state.pending_nonce is None
        ):
            sender.update_requested = True
            self._events.append(KeyUpdateNeeded(self._state.epoch, sent))
        return record

    def abandon(self) -> None:
        """Discard every context and persisted bound, sending nothing.

        For a session that ended outside the record layer, e.g. an EDHOC error
        received after DONE (REQ-HS-022): no close record, no pending output.
        """
        if self._closed is None:
            self._discard(Alert.UNEXPECTED_MESSAGE, "peer")
        self._outbox.clear()
        self._events.clear()

    def _discard(self, alert: Alert | None, origin: str) -> None:
        limit_hit = alert is Alert.USAGE_LIMIT_REACHED and origin == "local"
        self._closed = Alert.USAGE_LIMIT_REACHED if limit_hit else Alert.UNEXPECTED_MESSAGE
        self._deadline = None
        for recipient in self._recipients.values():
            recipient.forget()
        self._recipients.clear()
        self._sender.sequence.forget()
        self._events.append(SessionClosed(alert, origin))

    def _fail_authenticated(self, alert: Alert, detail: str) -> ProtocolError:
        """An authenticated record broke a rule: close with ``alert`` (REQ-REC-006/008)."""
        try:
            self._outbox.append(self.close(alert, detail))
        except ProtocolError:  # sender exhausted: discard without a close record
            self._discard(alert, "local")
        return ProtocolError(alert, detail)

    def _on_decrypt_failure(self, epoch: int, recipient: _Recipient) -> None:
        recipient.failures.take()
        count_v = recipient.failures.next_value
        self._events.append(DecryptFailed(epoch, count_v, "authentication failed"))
        if count_v >= self._limits.v:  # REQ-KU-012
            self._events.append(UsageLimitReached(epoch, "receive"))
            self._fail_authenticated(Alert.USAGE_LIMIT_REACHED, f"limit_v reached in epoch {epoch}")

    def _on_authenticated_epoch(self, epoch: int) -> None:
        for old in [e for e in self._recipients if e < epoch]:  # REQ-KU-003
            self._recipients.pop(old).forget()
        if self._state.on_peer_record(epoch) and self._pending_nonce is not None:
            # First valid record of our new epoch: our part of the update is done (REQ-KU-004).
            self._events.append(KeyUpdateCompleted(epoch, self._pending_nonce))
            self._pending_nonce = None
            self._deadline = None

    def _dispatch(self, epoch: int, plaintext: bytes) -> tuple[ContentType, bytes]:
        if not plaintext:
            raise self._fail_authenticated(Alert.DECODE_ERROR, "empty record plaintext")
        try:
            content_type = ContentType(plaintext[0])
        except ValueError:
            raise self._fail_authenticated(
                Alert.UNEXPECTED_MESSAGE, f"reserved content type {plaintext[0]}"
            ) from None
        body = plaintext[1:]
        if content_type is ContentType.KEY_UPDATE:
            if len(body) != NONCE_LENGTH:
                raise self._fail_authenticated(
                    Alert.DECODE_ERROR, "key_update body is not a 16-byte nonce"
                )
            self._on_key_update(epoch, body)
        elif content_type is ContentType.KEY_UPDATE_ACK:
            if body:
                raise self._fail_authenticated(Alert.DECODE_ERROR, "key_update_ack has a body")
            if self._ack_expected_epoch != epoch:  # REQ-KU-007
                raise self._fail_authenticated(
                    Alert.UNEXPECTED_MESSAGE, "key_update_ack without key update"
                )
            self._ack_expected_epoch = None
        elif content_type is ContentType.CLOSE:
            try:
                alert = decode_close_body(body)
            except DecodeError:
                raise self._fail_authenticated(Alert.DECODE_ERROR, "malformed close body") from None
            self._discard(alert, "peer")  # REQ-REC-007: no reply
        return content_type, body

    def _on_key_update(self, record_epoch: int, nonce: bytes) -> None:
        try:
            derive = self._require_derive()
            adopt = self._state.on_key_update(record_epoch, nonce)
            if not adopt:
                return
            master_secret, master_salt = derive(nonce)
        except ProtocolError as exc:
            raise self._fail_authenticated(Alert.KEY_UPDATE_FAILED, exc.detail) from None
        pending = self._pending_nonce  # key material (REQ-AUDIT-004): constant time, GEN-004
        same_nonce = pending is not None and hmac.compare_digest(nonce, pending)
        if not same_nonce:  # equal nonces: both sides ack (REQ-KU-005)
            self._ack_expected_epoch = None
        self._pending_nonce = None  # a collision we lost: the peer's update replaces ours
        self._deadline = None
        if not same_nonce:
            old_sender = self._sender
            self._sender = self._install(self._state.epoch, master_secret, master_salt)
            old_sender.sequence.forget()
        # Equal nonces derive the epoch we installed in start_key_update: keep its
        # contexts as they are. Rebuilding them would resume the sender from its
        # persisted K-ahead bound instead of SSN 0 (REQ-REC-011) and reset the
        # replay window of a recipient that may already have accepted records.
        self._outbox.append(
            self._seal(ContentType.KEY_UPDATE_ACK, b"")
        )  # REQ-KU-002: first record of e+1
        self._events.append(KeyUpdateCompleted(self._state.epoch, nonce))
