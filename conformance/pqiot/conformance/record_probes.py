"""An independent record codec for black-box record tests (spec chapter 7, §6.6).

The tester knows the session secrets (it ran the handshake with the
reference), so it can compute what a conforming device must put on the wire,
byte for byte, and can seal records the reference would never produce
(reserved content types, oversized bodies, other binding contexts). This
module is written from spec §6.6 and §7.1 on top of ``cryptography`` and
``hashlib`` rather than the reference record layer, so that the reference
(target ``host-ref``) is not checked against itself.

The binding context is ``h''`` throughout: with TAP transport the records of
the existing suite already travel with the TCP context (REQ-TCP-004), and a
device that used another one would fail every record test at once.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESCCM, AESGCM, ChaCha20Poly1305

from pqiot.conformance.conversation import HandshakeRun, expect_status
from pqiot.conformance.device import Device
from pqiot.reference import cbor
from pqiot.reference.tap.codes import Status

__all__ = [
    "APPLICATION_DATA",
    "CLOSE",
    "KEY_UPDATE",
    "KEY_UPDATE_ACK",
    "RECORD_LIMIT",
    "AeadSpec",
    "Direction",
    "EpochKeys",
    "Exporter",
    "ParsedRecord",
    "aead_for_suite",
    "assert_record",
    "close_alert",
    "describe_mismatch",
    "epoch_keys",
    "option_value",
    "parse_record",
    "record_aad",
    "session_is_over",
    "session_keys",
    "single_close",
    "wire_out",
]

APPLICATION_DATA = 1
KEY_UPDATE = 2
KEY_UPDATE_ACK = 3
CLOSE = 4

#: ``EDHOC_Exporter(label, context, length)`` of one epoch (the tester's reference secrets).
Exporter = Callable[[int, bytes, int], bytes]

#: §7.5 / §7.9: the largest plaintext + tag of one record, per application AEAD id.
RECORD_LIMIT = {3: 16384, 24: 16384, 30: 16384, 10: 4096}

#: §3.3: the application AEAD of every suite.
_SUITE_AEAD = {
    -101: 10, -102: 3, -103: 3, -104: 3, -105: 24,
    -106: 3, -107: 3, -108: 10, -109: 3, -110: 3,
}  # fmt: skip
#: §6.6: OSCORE HKDF is SHA-384 for these suites, SHA-256 for every other one.
_SHA384_SUITES = frozenset({-103, -104, -110})
_OSCORE_SALT_LENGTH = 8


@dataclass(frozen=True)
class AeadSpec:
    """One application AEAD (§3.2): COSE id, key/nonce/tag sizes."""

    alg: int
    key_len: int
    nonce_len: int
    tag_len: int

    def _cipher(self, key: bytes) -> AESGCM | AESCCM | ChaCha20Poly1305:
        if self.alg == 3:
            return AESGCM(key)
        if self.alg == 24:
            return ChaCha20Poly1305(key)
        return AESCCM(key, tag_length=self.tag_len)

    def seal(self, key: bytes, nonce: bytes, plaintext: bytes, aad: bytes) -> bytes:
        return self._cipher(key).encrypt(nonce, plaintext, aad)

    def open(self, key: bytes, nonce: bytes, ciphertext: bytes, aad: bytes) -> bytes | None:
        try:
            return self._cipher(key).decrypt(nonce, ciphertext, aad)
        except InvalidTag:
            return None


_AEADS = {
    3: AeadSpec(3, 32, 12, 16),
    10: AeadSpec(10, 16, 13, 8),
    24: AeadSpec(24, 32, 12, 16),
    30: AeadSpec(30, 16, 13, 16),
}


def aead_for_suite(suite: int) -> AeadSpec:
    return _AEADS[_SUITE_AEAD[suite]]


def _hkdf(hash_name: str, salt: bytes, ikm: bytes, info: bytes, length: int) -> bytes:
    """RFC 5869 HKDF (extract then expand)."""
    prk = hmac.new(salt, ikm, hash_name).digest()
    out, block, counter = b"", b"", 1
    while len(out) < length:
        block = hmac.new(prk, block + info + bytes([counter]), hash_name).digest()
        out += block
        counter += 1
    return out[:length]


def option_value(ssn: int, epoch: int, kid: bytes) -> bytes:
    """§7.1 option value: flags, minimal PIV, ``01 epoch`` iff epoch > 0, kid."""
    piv = ssn.to_bytes(max(1, (ssn.bit_length() + 7) // 8), "big")
    flags = 0x08 | len(piv) | (0x10 if epoch else 0)
    context = bytes([1, epoch]) if epoch else b""
    return bytes([flags]) + piv + context + kid


def _piv(ssn: int) -> bytes:
    return ssn.to_bytes(max(1, (ssn.bit_length() + 7) // 8), "big")


def record_aad(alg: int, kid: bytes, piv: bytes, binding_context: bytes = b"") -> bytes:
    """REQ-REC-004: ``["Encrypt0", h'', bstr .cbor [1, [alg], kid, piv, h'', context]]``."""
    external = cbor.encode([1, [alg], kid, piv, b"", binding_context])
    return cbor.encode(["Encrypt0", b"", external])


@dataclass(frozen=True)
class Direction:
    """The keys of one sender in one epoch: what it seals, what its peer opens."""

    aead: AeadSpec
    sender_id: bytes
    key: bytes
    common_iv: bytes
    epoch: int

    def nonce(self, piv: bytes) -> bytes:
        """REQ-REC-003: ``len(ID) || ID padded to nonce_len - 6 || PIV padded to 5`` XOR IV."""
        id_field = self.aead.nonce_len - 6
        block = bytes([len(self.sender_id)]) + self.sender_id.rjust(id_field, b"\0")
        block += piv.rjust(5, b"\0")
        return bytes(a ^ b for a, b in zip(block, self.common_iv, strict=True))

    def seal(
        self,
        ssn: int,
        plaintext: bytes,
        *,
        binding_context: bytes = b"",
        aad_alg: int | None = None,
    ) -> bytes:
        """The complete §7.1 record for ``plaintext`` (content_type || body) at ``ssn``."""
        piv = _piv(ssn)
        option = option_value(ssn, self.epoch, self.sender_id)
        aad = record_aad(
            self.aead.alg if aad_alg is None else aad_alg, self.sender_id, piv, binding_context
        )
        ciphertext = self.aead.seal(self.key, self.nonce(piv), plaintext, aad)
        return bytes([len(option)]) + option + ciphertext

    def open(self, record: bytes) -> tuple[ParsedRecord, bytes | None]:
        """Parse ``record`` (sent by this direction's sender) and decrypt it; None: bad tag."""
        parsed = parse_record(record)
        aad = record_aad(self.aead.alg, parsed.kid, parsed.piv)
        return parsed, self.aead.open(self.key, self.nonce(parsed.piv), parsed.ciphertext, aad)


@dataclass(frozen=True)
class EpochKeys:
    """Both directions of one session epoch, from the tester's point of view."""

    device: Direction  # records the device sends
    tester: Direction  # records the tester sends


def _direction(
    aead: AeadSpec, hash_name: str, secret: bytes, salt: bytes, sender_id: bytes, epoch: int
) -> Direction:
    def derive(identifier: bytes, kind: str, length: int) -> bytes:
        info = cbor.encode([identifier, None, aead.alg, kind, length])  # §6.6, ID Context null
        return _hkdf(hash_name, salt, secret, info, length)

    return Direction(
        aead,
        sender_id,
        derive(sender_id, "Key", aead.key_len),
        derive(b"", "IV", aead.nonce_len),
        epoch,
    )


def epoch_keys(
    suite: int, exporter: Exporter, device_sender_id: bytes, tester_sender_id: bytes, epoch: int
) -> EpochKeys:
    """§6.6: Master Secret/Salt from the exporter of the epoch, keys by HKDF (no epoch input)."""
    aead = aead_for_suite(suite)
    hash_name = "sha384" if suite in _SHA384_SUITES else "sha256"
    secret = exporter(0, b"", aead.key_len)
    salt = exporter(1, b"", _OSCORE_SALT_LENGTH)
    return EpochKeys(
        device=_direction(aead, hash_name, secret, salt, device_sender_id, epoch),
        tester=_direction(aead, hash_name, secret, salt, tester_sender_id, epoch),
    )


@dataclass(frozen=True)
class ParsedRecord:
    """A record header split as §7.1 lays it out (no validation beyond the lengths)."""

    flags: int
    piv: bytes
    epoch: int | None  # None: no kid context
    kid: bytes
    ciphertext: bytes

    @property
    def ssn(self) -> int:
        return int.from_bytes(self.piv, "big")


def parse_record(record: bytes) -> ParsedRecord:
    """Split a record; raise AssertionError when even the lengths do not fit §7.1."""
    assert record, "empty record"
    option_len = record[0]
    assert len(record) > 1 + option_len, f"option_len {option_len} leaves no ciphertext"
    option = record[1 : 1 + option_len]
    assert option, "empty option value"
    flags = option[0]
    n = flags & 0x07
    assert 1 <= n <= 5, f"PIV length n = {n} (flags {flags:#04x})"
    piv = option[1 : 1 + n]
    rest = option[1 + n :]
    epoch = None
    if flags & 0x10:
        assert len(rest) >= 2, "kid context flag set but no s/kid_context bytes"
        assert rest[0] == 1, f"s = {rest[0]}, must be 1"
        epoch, rest = rest[1], rest[2:]
    return ParsedRecord(flags, piv, epoch, rest, record[1 + option_len :])


def close_alert(body: bytes) -> str | None:
    """The alert name of a close body (§7.3): None for an orderly close (CBOR null)."""
    value = cbor.decode(body)
    if value is None:
        return None
    assert isinstance(value, str), f"close body {body.hex()} is neither null nor a tstr"
    assert len(value.encode("utf-8")) <= 128, "close text longer than 128 bytes"
    return value.split(":", 1)[0]


def session_keys(run: HandshakeRun, nonces: Sequence[bytes] = ()) -> EpochKeys:
    """The keys of ``run`` after key updates with ``nonces`` (epoch = their number).

    The tester's reference secrets give the exporter; which connection identifier
    is whose Sender ID follows §6.6 (Initiator sends with C_R, Responder with C_I).
    """
    completed = run.peer.session.handshake_result
    assert completed is not None, "the reference side of the run did not reach DONE"
    secrets = completed.secrets
    for nonce in nonces:
        secrets = secrets.key_update(nonce)
    if run.device_role == "initiator":
        device_id, tester_id = completed.c_r, completed.c_i
    else:
        device_id, tester_id = completed.c_i, completed.c_r
    return epoch_keys(run.suite, secrets.exporter, device_id, tester_id, len(nonces))


def describe_mismatch(direction: Direction, actual: bytes, expected: bytes) -> str:
    """Say which §7.1 field of a device record differs from the expected encoding."""
    try:
        got = parse_record(actual)
    except AssertionError as exc:
        return f"record {actual.hex()} does not even split as §7.1: {exc}"
    want = parse_record(expected)
    problems = []
    for name in ("flags", "piv", "epoch", "kid"):
        if getattr(got, name) != getattr(want, name):
            problems.append(f"{name} {getattr(got, name)!r} != expected {getattr(want, name)!r}")
    if actual[0] != expected[0]:
        problems.append(f"option_len {actual[0]} != {expected[0]}")
    if not problems and got.ciphertext != want.ciphertext:
        opened = direction.aead.open(
            direction.key,
            direction.nonce(got.piv),
            got.ciphertext,
            record_aad(direction.aead.alg, got.kid, got.piv),
        )
        problems.append(
            "header as expected, ciphertext differs: "
            + (
                f"it decrypts under the §7.2 nonce and AAD to {opened.hex()} (wrong plaintext)"
                if opened is not None
                else "it does not verify under the REQ-REC-003 nonce / REQ-REC-004 AAD"
            )
        )
    return "; ".join(problems) or "identical"


def assert_record(
    direction: Direction, actual: bytes, ssn: int, plaintext: bytes, what: str
) -> None:
    """``actual`` must be exactly the §7.1 record of ``plaintext`` at ``ssn`` (REC-001/3/4)."""
    expected = direction.seal(ssn, plaintext)
    assert actual == expected, (
        f"{what}: the device's record differs from the §7.1 encoding "
        f"(epoch {direction.epoch}, SSN {ssn}): {describe_mismatch(direction, actual, expected)}; "
        f"got {actual.hex()}, expected {expected.hex()}"
    )


def single_close(direction: Direction, out: object, ssn: int, what: str) -> str | None:
    """``out`` must be one close record at ``ssn`` (REQ-REC-008); returns its alert name."""
    assert isinstance(out, list) and len(out) == 1, (
        f"{what}: expected exactly one close record on the wire, got {out!r}"
    )
    record = bytes(out[0])
    _, plaintext = direction.open(record)
    assert plaintext is not None, (
        f"{what}: the device's record does not verify under its epoch-{direction.epoch} keys"
    )
    assert plaintext[:1] == bytes([CLOSE]), (
        f"{what}: content type {plaintext[:1].hex()} where a close record (04) was required"
    )
    assert_record(direction, record, ssn, plaintext, what)
    return close_alert(plaintext[1:])


def session_is_over(device: Device, session: int, late_record: bytes, what: str) -> None:
    """After a close the contexts are gone: nothing is sent or accepted any more (REQ-KEYS-014)."""
    sent = expect_status(
        lambda: device.client.app_send(session, b"after the close"),
        {Status.INVALID_STATE, Status.PROTOCOL_ALERT},
        f"{what}: APP_SEND after the session was closed",
    )
    assert not sent.get("out"), f"{what}: the device sent {sent.get('out')!r} after the close"
    received = expect_status(
        lambda: device.client.app_receive(session, late_record),
        {Status.INVALID_STATE, Status.PROTOCOL_ALERT},
        f"{what}: a valid record of the closed session",
    )
    assert not received.get("out"), f"{what}: the device answered {received.get('out')!r}"


def wire_out(result: Mapping[str, object]) -> list[bytes]:
    """The ``out`` list of a TAP result or refusal (empty when absent)."""
    raw = result.get("out")
    return [bytes(item) for item in raw if isinstance(item, bytes)] if isinstance(raw, list) else []
