"""Signed (optionally group-encrypted) pub/sub messages, design decision D5.

Wire format::

    message  = [protected: bstr .cbor {1: alg, 4: kid}, unprotected: {},
                payload: bstr, signature: bstr]              ; untagged COSE_Sign1
    payload  = bstr .cbor [seq: uint, timestamp_ms: uint, content: bstr]
    ext_aad  = bstr .cbor ["PQC-IIoT pubsub v1", topic: tstr]

With a group key, ``content`` is an untagged COSE_Encrypt0
``[bstr .cbor {1: 3}, {4: group_kid, 5: iv(12)}, ciphertext]`` whose AAD uses
the same ``ext_aad``; the signature covers the ciphertext (sign-over-ciphertext,
so a subscriber without the group key can still check origin and freshness).

The topic travels only in the AAD: a message replayed onto another topic fails
its signature. The receiver checks in the order of spec §8.3 (REQ-PUBSUB-007):
size, structure, topic, the sender kid against the KeyStore, the alg, the
signature, the per-(kid, topic) replay window, the timestamp skew (a stale
message is a replay too: ``replay_detected`` with detail ``"stale"``), then
records the seq in the window (step 9) and only then decrypts (step 10). The
window only advances for a message that passed steps 1-8, so reordered QoS-1
deliveries are accepted once each and duplicates are dropped. At most
``max_windows`` (kid, topic) windows exist (REQ-PUBSUB-011): a new pair beyond
that is dropped with ``usage_limit_reached``, never by evicting a window.
Failures are audited as §8.3 and §9.2 say; a ``decode_error`` or
``message_too_large`` of a dropped message is not (§10.2).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pqiot.reference import cbor
from pqiot.reference.audit import AuditEvent, AuditLog, SecretLeakError, check_detail, fingerprint
from pqiot.reference.cose import HEADER_ALG, HEADER_IV, HEADER_KID, enc_structure0, sig_structure1
from pqiot.reference.credentials import Credential, KeyId
from pqiot.reference.crypto import registry
from pqiot.reference.crypto.interfaces import Rng
from pqiot.reference.crypto.rng import system_rng
from pqiot.reference.errors import Alert, CryptoError, DecodeError, ProtocolError
from pqiot.reference.security_provider import KeyRef, SecurityProvider
from pqiot.reference.trust import CredentialResolver, kid_bytes

__all__ = [
    "CONTENT_AEAD",
    "MAX_MESSAGE_SIZE",
    "PUBSUB_CONTEXT",
    "GroupKey",
    "MessageVerifier",
    "ReplayWindow",
    "TopicError",
    "VerifiedMessage",
    "external_aad",
    "sign_message",
    "validate_topic",
]

PUBSUB_CONTEXT = "PQC-IIoT pubsub v1"
CONTENT_AEAD = 3  # A256GCM, fixed by D5
IV_SIZE = 12
MAX_TOPIC_BYTES = 65535
MAX_MESSAGE_SIZE = 65536  # MQTT payload limit of the binding (64 KiB)
DEFAULT_SKEW_S = 300  # REQ-PUBSUB-012
MAX_SKEW_S = 86400
DEFAULT_MAX_WINDOWS = 64  # REQ-PUBSUB-011
_UINT64 = 1 << 64


class TopicError(ValueError):
    """A topic name or filter breaks the MQTT rules (MQTT 5.0 §4.7)."""


def validate_topic(topic: str, *, publish: bool = True) -> bytes:
    """Check an MQTT topic name (``publish``) or topic filter; return its UTF-8 bytes.

    Rules (MQTT 5.0 §4.7, §1.5.4): non-empty, valid UTF-8 without U+0000,
    at most 65535 bytes; a topic *name* has no wildcards; in a filter ``#`` is
    last and alone in its level and ``+`` fills a whole level.
    """
    if not isinstance(topic, str):
        raise TopicError(f"topic must be a str, got {type(topic).__name__}")
    if not topic:
        raise TopicError("topic must not be empty")
    try:
        encoded = topic.encode("utf-8")
    except UnicodeEncodeError:
        raise TopicError("topic is not valid UTF-8 (lone surrogate)") from None
    if len(encoded) > MAX_TOPIC_BYTES:
        raise TopicError(f"topic is {len(encoded)} bytes, MQTT allows at most {MAX_TOPIC_BYTES}")
    if "\x00" in topic:
        raise TopicError("topic must not contain U+0000")
    if publish:
        if "+" in topic or "#" in topic:
            raise TopicError(f"wildcards '+'/'#' are not allowed when publishing (topic {topic!r})")
        return encoded
    levels = topic.split("/")
    for index, level in enumerate(levels):
        if "#" in level and (level != "#" or index != len(levels) - 1):
            raise TopicError("'#' must be the last level and stand alone in it")
        if "+" in level and level != "+":
            raise TopicError("'+' must occupy a whole topic level")
    return encoded


def external_aad(topic: str) -> bytes:
    """``bstr .cbor ["PQC-IIoT pubsub v1", topic]``: binds a message to its topic."""
    return cbor.encode([PUBSUB_CONTEXT, topic])


@dataclass(frozen=True)
class GroupKey:
    """A group content key (A256GCM). ``key`` never appears in repr."""

    kid: bytes
    key: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.kid, bytes) or not self.kid:
            raise ValueError("group key kid must be a non-empty byte string")
        if len(self.key) != 32:
            raise ValueError(f"group key must be 32 bytes (A256GCM), got {len(self.key)}")


def _check_uint(value: int, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < _UINT64:
        raise ValueError(f"{what} must be an unsigned 64-bit integer, got {value!r}")


def _encrypt_content(group_key: GroupKey, content: bytes, aad: bytes, rng: Rng) -> bytes:
    protected = cbor.encode({HEADER_ALG: CONTENT_AEAD})
    iv = rng(IV_SIZE)
    ciphertext = registry.aead(CONTENT_AEAD).seal(
        group_key.key, iv, content, enc_structure0(protected, aad)
    )
    return cbor.encode([protected, {HEADER_KID: group_key.kid, HEADER_IV: iv}, ciphertext])


def sign_message(
    provider: SecurityProvider,
    key_ref: KeyRef,
    kid: KeyId,
    topic: str,
    seq: int,
    timestamp_ms: int,
    content: bytes,
    group_key: GroupKey | None = None,
    rng: Rng = system_rng,
) -> bytes:
    """Build one signed pub/sub message for ``topic``.

    ``seq`` must increase per (sender, topic); ``rng`` draws the content IV
    when ``group_key`` is given (signing randomness is the provider's).
    """
    validate_topic(topic)
    _check_uint(seq, "seq")
    _check_uint(timestamp_ms, "timestamp_ms")
    aad = external_aad(topic)
    body = (
        bytes(content)
        if group_key is None
        else _encrypt_content(group_key, bytes(content), aad, rng)
    )
    protected = cbor.encode({HEADER_ALG: key_ref.algorithm, HEADER_KID: kid_bytes(kid)})
    payload = cbor.encode([seq, timestamp_ms, body])
    signature = provider.sign(key_ref, sig_structure1(protected, aad, payload))
    return cbor.encode([protected, {}, payload, signature])


@dataclass(frozen=True)
class VerifiedMessage:
    kid: bytes
    topic: str
    seq: int
    timestamp_ms: int
    content: bytes
    credential: Credential = field(repr=False)
    group_kid: bytes | None = None  # set when the content was decrypted


class ReplayWindow:
    """Sliding window over sequence numbers (RFC 8613 §7.4 style, any size >= 1).

    ``check`` has no side effects; ``accept`` records a sequence number. Numbers
    more than ``size - 1`` below the highest accepted one are too old.
    """

    def __init__(self, size: int = 64) -> None:
        if size < 1:
            raise ValueError("replay window size must be at least 1")
        self.size = size
        self.highest: int | None = None
        self._bits = 0  # bit i set = (highest - i) was accepted

    def check(self, seq: int) -> str | None:
        """None if ``seq`` is fresh, else the reason it is a replay."""
        if self.highest is None or seq > self.highest:
            return None
        offset = self.highest - seq
        if offset >= self.size:
            return (
                f"seq {seq} is older than the replay window "
                f"(highest {self.highest}, size {self.size})"
            )
        if self._bits >> offset & 1:
            return f"seq {seq} was already received"
        return None

    def accept(self, seq: int) -> None:
        if self.check(seq) is not None:
            raise ValueError(f"seq {seq} is a replay")
        if self.highest is None:
            self.highest, self._bits = seq, 1
        elif seq > self.highest:
            shift = seq - self.highest
            # A jump past the whole window forgets everything (and never builds a huge int).
            self._bits = (
                1 if shift >= self.size else ((self._bits << shift) | 1) & ((1 << self.size) - 1)
            )
            self.highest = seq
        else:
            self._bits |= 1 << (self.highest - seq)


@dataclass(frozen=True)
class _Parsed:
    protected: bytes
    alg: int
    kid: bytes
    payload: bytes
    signature: bytes
    seq: int
    timestamp_ms: int
    content: bytes


def _parse(message: bytes) -> _Parsed:
    item = cbor.decode(message)
    if not isinstance(item, list) or len(item) != 4:
        raise DecodeError("pub/sub message must be a 4-element COSE_Sign1 array")
    protected, unprotected, payload, signature = item
    if (
        not isinstance(protected, bytes)
        or not isinstance(payload, bytes)
        or not isinstance(signature, bytes)
    ):
        raise DecodeError("COSE_Sign1 protected, payload and signature must be byte strings")
    if unprotected != {}:
        raise DecodeError("pub/sub COSE_Sign1 unprotected header must be an empty map")
    headers = cbor.decode(protected)
    if not isinstance(headers, dict) or set(headers) != {HEADER_ALG, HEADER_KID}:
        raise DecodeError("pub/sub protected header must be exactly {1: alg, 4: kid}")
    alg, kid = headers[HEADER_ALG], headers[HEADER_KID]
    if isinstance(alg, bool) or not isinstance(alg, int) or not isinstance(kid, bytes):
        raise DecodeError("pub/sub protected header needs an integer alg and a byte-string kid")
    body = cbor.decode(payload)
    if not isinstance(body, list) or len(body) != 3:
        raise DecodeError("pub/sub payload must be [seq, timestamp_ms, content]")
    seq, timestamp_ms, content = body
    for value, what in ((seq, "seq"), (timestamp_ms, "timestamp_ms")):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise DecodeError(f"pub/sub {what} must be an unsigned integer")
    if not isinstance(content, bytes):
        raise DecodeError("pub/sub content must be a byte string")
    return _Parsed(protected, alg, kid, payload, signature, seq, timestamp_ms, content)  # type: ignore[arg-type]


class MessageVerifier:
    """Receiver side of D5; keeps one replay window per (sender kid, topic).

    ``group_keys`` (group kid -> 32-byte key) makes this a subscriber of an
    *encrypted* topic set: every message must then carry COSE_Encrypt0 content,
    because accepting plaintext there would let a sender silently downgrade.
    Without group keys the content is returned as sent.

    ``skew_s`` None disables the timestamp check: only for a device without a
    trustworthy clock, which must then declare ``no-clock`` (REQ-PUBSUB-012).
    """

    def __init__(
        self,
        keystore: CredentialResolver,
        skew_s: float | None = DEFAULT_SKEW_S,
        window: int = 64,
        *,
        group_keys: dict[bytes, bytes] | None = None,
        audit: AuditLog | None = None,
        max_message_size: int = MAX_MESSAGE_SIZE,
        max_windows: int = DEFAULT_MAX_WINDOWS,
    ) -> None:
        if skew_s is not None and not 1 <= skew_s <= MAX_SKEW_S:
            raise ValueError(
                f"skew_s must be 1..{MAX_SKEW_S} s (REQ-PUBSUB-012), or None without a clock"
            )
        if window < 64:
            raise ValueError("the replay window must hold at least 64 seqs (REQ-PUBSUB-009)")
        if max_windows < 1:
            raise ValueError("max_windows must be at least 1")
        self.keystore = keystore
        self.skew_ms = None if skew_s is None else int(skew_s * 1000)
        self.window_size = window
        self.max_windows = max_windows
        self.group_keys = {kid: GroupKey(kid, key) for kid, key in (group_keys or {}).items()}
        self.audit = audit
        self.max_message_size = max_message_size
        self._windows: dict[tuple[bytes, str], ReplayWindow] = {}

    def add_group_key(self, group_key: GroupKey) -> None:
        self.group_keys[group_key.kid] = group_key

    def verify(self, message: bytes, topic: str, now: float) -> VerifiedMessage:
        """Verify one message received on ``topic`` at ``now`` (seconds since the epoch)."""
        try:
            return self._verify(message, topic, now)
        except ProtocolError as exc:
            self._audit_failure(exc, topic, now, message)
            raise

    def _verify(self, message: bytes, topic: str, now: float) -> VerifiedMessage:
        if len(message) > self.max_message_size:  # §8.3 step 1
            raise ProtocolError(
                Alert.MESSAGE_TOO_LARGE, f"{len(message)} bytes > {self.max_message_size}"
            )
        parsed = _parse(message)  # step 2
        try:
            validate_topic(topic)  # step 3
        except TopicError as exc:
            raise DecodeError(f"invalid topic: {exc}") from exc
        credential = self.keystore.resolve(parsed.kid, by_value_credential=None)
        if credential.algorithm != parsed.alg:
            raise ProtocolError(
                Alert.AUTHENTICATION_FAILED,
                f"alg {parsed.alg} does not match the sender credential's alg "
                f"{credential.algorithm}",
            )
        aad = external_aad(topic)
        try:
            scheme = registry.signature(parsed.alg)
        except CryptoError as exc:
            raise ProtocolError(
                Alert.AUTHENTICATION_FAILED, f"unsupported signature alg {parsed.alg}"
            ) from exc
        if not scheme.verify(
            credential.public_key,
            sig_structure1(parsed.protected, aad, parsed.payload),
            parsed.signature,
        ):
            raise ProtocolError(
                Alert.AUTHENTICATION_FAILED, "bad signature (wrong key, topic or tampered message)"
            )
        window = self._windows.get((parsed.kid, topic))  # §8.3 step 7
        reason = None if window is None else window.check(parsed.seq)
        if reason is not None:
            raise ProtocolError(Alert.REPLAY_DETECTED, reason, "REQ-PUBSUB-009")
        now_ms = int(now * 1000)  # §8.3 step 8: a message outside the skew is a replay too
        if self.skew_ms is not None and abs(now_ms - parsed.timestamp_ms) > self.skew_ms:
            raise ProtocolError(Alert.REPLAY_DETECTED, "stale", "REQ-PUBSUB-012")
        if window is None:  # step 9
            if len(self._windows) >= self.max_windows:
                raise ProtocolError(
                    Alert.USAGE_LIMIT_REACHED,
                    f"no replay window left for a new (kid, topic): all {self.max_windows} in use",
                    "REQ-PUBSUB-011",
                )
            window = self._windows[(parsed.kid, topic)] = ReplayWindow(self.window_size)
        window.accept(parsed.seq)
        content, group_kid = self._open_content(parsed.content, aad)  # step 10
        return VerifiedMessage(
            parsed.kid, topic, parsed.seq, parsed.timestamp_ms, content, credential, group_kid
        )

    def _open_content(self, content: bytes, aad: bytes) -> tuple[bytes, bytes | None]:
        if not self.group_keys:
            return content, None
        item = cbor.decode(content)
        if not isinstance(item, list) or len(item) != 3:
            raise DecodeError("encrypted topic: content must be a 3-element COSE_Encrypt0")
        protected, unprotected, ciphertext = item
        if (
            not isinstance(protected, bytes)
            or not isinstance(ciphertext, bytes)
            or not isinstance(unprotected, dict)
        ):
            raise DecodeError(
                "COSE_Encrypt0 needs bstr protected, map unprotected, bstr ciphertext"
            )
        if cbor.decode(protected) != {HEADER_ALG: CONTENT_AEAD}:
            # Not a GroupEncrypt0 (§8.1 fixes the protected header): §8.3 step 10, decode_error.
            raise DecodeError(f"content protected header must be {{1: {CONTENT_AEAD}}}")
        if set(unprotected) != {HEADER_KID, HEADER_IV}:
            raise DecodeError(
                "COSE_Encrypt0 unprotected header must be exactly {4: group_kid, 5: iv}"
            )
        group_kid, iv = unprotected[HEADER_KID], unprotected[HEADER_IV]
        if not isinstance(group_kid, bytes) or not isinstance(iv, bytes) or len(iv) != IV_SIZE:
            raise DecodeError("COSE_Encrypt0 group kid must be a bstr and iv a 12-byte bstr")
        group_key = self.group_keys.get(group_kid)
        if group_key is None:  # §8.3 step 10: an unknown group kid is unknown_credential
            raise ProtocolError(
                Alert.UNKNOWN_CREDENTIAL,
                f"no group key with kid {group_kid.hex()}; provision it with add_group_key",
            )
        try:
            plaintext = registry.aead(CONTENT_AEAD).open(
                group_key.key, iv, ciphertext, enc_structure0(protected, aad)
            )
        except CryptoError as exc:
            raise ProtocolError(Alert.DECRYPT_FAILED, "content authentication failed") from exc
        return plaintext, group_kid

    def _audit_failure(self, exc: ProtocolError, topic: str, now: float, message: bytes) -> None:
        """The event §8.3 / §9.2 name for the failed step (none for a dropped malformed one)."""
        if self.audit is None or exc.alert in (Alert.DECODE_ERROR, Alert.MESSAGE_TOO_LARGE):
            return
        parsed = _parse(message)  # it parsed, or the alert would be decode_error
        detail: dict[str, object]
        if exc.alert is Alert.REPLAY_DETECTED:
            event = AuditEvent.REPLAY_DROPPED
            detail = {"context": "pubsub", "seq": parsed.seq, **_topic_detail(topic)}
            detail["reason"] = "stale" if exc.detail == "stale" else "window"
        elif exc.alert is Alert.DECRYPT_FAILED:
            event = AuditEvent.DECRYPT_FAILED
            detail = {"context": "pubsub", **_topic_detail(topic)}
        elif exc.alert is Alert.USAGE_LIMIT_REACHED:
            event = AuditEvent.LIMIT_EXCEEDED
            detail = {"limit": "pubsub_windows", "value": self.max_windows}
        else:  # unknown_credential, authentication_failed: steps 4-6 and the group kid
            event = AuditEvent.AUTH_FAILED
            detail = {"alert": exc.alert.value, "stage": "pubsub", **_topic_detail(topic)}
        self.audit.emit(event, now=now, peer=parsed.kid, detail=detail)


def _topic_detail(topic: str) -> dict[str, object]:
    """The topic verbatim when it is safe to log, else only its fingerprint.

    A topic comes from the network; one that the audit vetting would refuse
    (very long, control characters, looks like base64) must not turn a
    ``ProtocolError`` into a logging exception.
    """
    if _printable(topic):
        try:
            return check_detail({"topic": topic})
        except (SecretLeakError, TypeError):
            pass
    raw = topic.encode("utf-8", "surrogatepass") if isinstance(topic, str) else repr(topic).encode()
    return {"topic": None, "topic_fingerprint": fingerprint(raw)}


def _printable(topic: str) -> bool:
    """Only short, printable, encodable topics go into the audit log verbatim."""
    if not isinstance(topic, str) or len(topic) > 1024 or not topic.isprintable():
        return False
    try:
        topic.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
