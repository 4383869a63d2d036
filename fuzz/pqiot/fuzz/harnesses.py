"""The harness registry: one named fuzz target per parser of the reference.

A :class:`Harness` bundles what every fuzzing front end needs: the
one-input function (Atheris/libFuzzer call it with each input, the
Hypothesis tests with drawn bytes, the regression test with saved crashes),
a seed-corpus generator built from the reference's own valid output, a
dictionary of the spec's constants, and whether the structure-aware CBOR
mutator helps.

Each one-input function enforces the parser's contract (spec REQ-ENC-011):
the parser returns a value or raises its one typed error; any other
exception escapes and is a crash. Where a codec is canonical, a decoded value
must re-encode to the input byte for byte (so non-deterministic encodings the
decoder lets through are crashes too); elsewhere the decoded value must
survive an encode/decode round trip unchanged.

Live-device fuzzing (``pqiot fuzz target``, :mod:`pqiot.fuzz.live`) is not a
one-input function (it needs a device, a link and recovery), so it has its
own engine; it reuses these seeds, dictionaries and the CBOR mutator.
"""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from pqiot.fuzz import material
from pqiot.fuzz.contract import ContractViolation
from pqiot.fuzz.dictionaries import dictionary
from pqiot.fuzz.more_harnesses import (
    mqtt_envelope_one_input,
    mqtt_envelope_seeds,
    tap_request_one_input,
    tap_request_seeds,
    target_file_one_input,
    target_file_seeds,
)
from pqiot.fuzz.seeds import join_payloads, split_payloads
from pqiot.reference import cbor
from pqiot.reference.audit import AuditLog, MemorySink
from pqiot.reference.credentials import parse_ccs
from pqiot.reference.crypto.rng import ShakeRng
from pqiot.reference.edhoc import HandshakeFailed
from pqiot.reference.edhoc import messages as hs
from pqiot.reference.edhoc.key_exchange import g_y_length
from pqiot.reference.edhoc.wire import encode_ead
from pqiot.reference.errors import Alert, DecodeError, ProtocolError
from pqiot.reference.framing import cobs, serial_frames
from pqiot.reference.framing.length_prefix import HEADER_SIZE, MAX_FRAME, FrameDecoder
from pqiot.reference.identity import IdentityError, load_credential, load_private_key
from pqiot.reference.keystore import KeyStore, KeyStoreError
from pqiot.reference.oscore import coap
from pqiot.reference.oscore.option import decode_option, encode_option
from pqiot.reference.pubsub import GroupKey, MessageVerifier, sign_message
from pqiot.reference.records.record import (
    ContentType,
    decode_close_body,
    decode_record,
    encode_close_body,
    encode_record,
)
from pqiot.reference.session import KIND_HANDSHAKE, KIND_RECORD, Session, SessionState
from pqiot.reference.software_provider import SoftwareSecurityProvider
from pqiot.reference.suites import DEFAULT_SUITE, METHOD_PSK
from pqiot.reference.suites import get as get_suite

__all__ = ["HARNESSES", "Harness", "get", "names"]

OneInput = Callable[[bytes], None]


@dataclass(frozen=True)
class Harness:
    """A named fuzz target.

    ``structure`` is ``"cbor"`` when inputs are CBOR items or sequences (the
    custom mutator of :mod:`pqiot.fuzz.mutator` then edits them item by item)
    and ``"bytes"`` otherwise. ``vector_keys`` names the fields of vector JSON
    files whose hex values are inputs for this parser.
    """

    name: str
    description: str
    one_input: OneInput
    seeds: Callable[[], Iterable[bytes]]
    dictionary_groups: tuple[str, ...]
    structure: str = "bytes"
    vector_keys: frozenset[str] = field(default_factory=frozenset)
    max_len: int = 20000

    @property
    def dictionary(self) -> tuple[bytes, ...]:
        return dictionary(self.dictionary_groups)


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ContractViolation(message)


# -- CBOR (spec chapter 2) -----------------------------------------------------------


def cbor_one_input(data: bytes) -> None:
    """REQ-ENC-001..011: decode or DecodeError; a decoded item re-encodes to the input."""
    try:
        value = cbor.decode(data)
    except DecodeError:
        value = None
    else:
        _require(cbor.encode(value) == data, "decoded CBOR item does not re-encode to the input")
    try:
        items = cbor.decode_sequence(data)
    except DecodeError:
        return
    _require(
        cbor.encode_sequence(*items) == data,
        "decoded CBOR sequence does not re-encode to the input",
    )
    if value is not None:
        _require(items == [value], "sequence and single-item decoding disagree")


def _cbor_seeds() -> Iterable[bytes]:
    capture = material.capture()
    yield from capture.messages
    yield parties_credential()
    yield cbor.encode({1: 7, 2: b"\xa1", 3: -48, -1: b"\x00\xff"})
    yield cbor.encode([1, -1, b"", "", True, False, None, [], {}, {"a": [1, {2: 3}]}])
    yield cbor.encode([[[[[[[[[[[[[[[[0]]]]]]]]]]]]]]]])
    yield cbor.encode((1 << 64) - 1) + cbor.encode(-(1 << 64))


def parties_credential() -> bytes:
    return material.parties().initiator.credential.cred


# -- EDHOC messages (spec chapter 5, RFC 9528 §5) --------------------------------------


def message_1_one_input(data: bytes) -> None:
    try:
        message = hs.decode_message_1(data)
    except DecodeError:
        return
    _require(hs.encode_message_1(message) == data, "message_1 does not re-encode to the input")


_G_Y_LENGTH = functools.cache(lambda: g_y_length(get_suite(DEFAULT_SUITE)))


def message_2_one_input(data: bytes) -> None:
    try:
        g_y, ciphertext = hs.decode_message_2(data, _G_Y_LENGTH())
    except DecodeError:
        return
    _require(len(g_y) == _G_Y_LENGTH() and ciphertext != b"", "message_2 split is wrong")
    _require(hs.encode_message_2(g_y, ciphertext) == data, "message_2 does not re-encode")


def single_bstr_one_input(data: bytes) -> None:
    """message_3 / message_4: exactly one bstr (REQ-ENC-009)."""
    try:
        value = hs.decode_single_bstr(data, "CIPHERTEXT_3")
    except DecodeError:
        return
    _require(cbor.encode(value) == data, "message_3/4 does not re-encode to the input")


def error_one_input(data: bytes) -> None:
    """REQ-HS-019, REQ-HS-023: the error message parser is strict about ERR_INFO's type."""
    try:
        error = hs.decode_error_message(data)
    except DecodeError:
        return
    _require(
        hs.encode_error_message(error.err_code, error.err_info) == data,
        "error message does not re-encode to the input",
    )
    if error.err_code == hs.ERR_CODE_WRONG_SELECTED_CIPHER_SUITE:
        _require(len(error.suites_r) >= 1, "ERR_CODE 2 without SUITES_R")


def plaintext_2_one_input(data: bytes) -> None:
    try:
        p = hs.decode_plaintext_2(data)
    except DecodeError:
        return
    again = hs.decode_plaintext_2(
        hs.encode_plaintext_2(p.c_r, p.id_cred_r, p.signature_or_mac_2, encode_ead(p.ead_2))
    )
    _require(again == p, "PLAINTEXT_2 changes in an encode/decode round trip")


def plaintext_2a_one_input(data: bytes) -> None:
    try:
        c_r, ead = hs.decode_plaintext_2a(data)
    except DecodeError:
        return
    _require(
        hs.encode_plaintext_2a(c_r, encode_ead(ead)) == data,
        "PLAINTEXT_2A does not re-encode to the input",
    )


def plaintext_3_one_input(data: bytes) -> None:
    try:
        p = hs.decode_plaintext_3(data)
    except DecodeError:
        return
    again = hs.decode_plaintext_3(
        hs.encode_plaintext_3(p.id_cred_i, p.signature_or_mac_3, encode_ead(p.ead_3))
    )
    _require(again == p, "PLAINTEXT_3 changes in an encode/decode round trip")


def plaintext_3a_one_input(data: bytes) -> None:
    try:
        p = hs.decode_plaintext_3a(data)
    except DecodeError:
        return
    again = hs.decode_plaintext_3a(hs.encode_plaintext_3a(p.id_cred_psk, p.ciphertext_3b))
    _require(again == p, "PLAINTEXT_3A changes in an encode/decode round trip")


def plaintext_4_one_input(data: bytes) -> None:
    try:
        ead = hs.decode_plaintext_4(data)
    except DecodeError:
        return
    _require(encode_ead(ead) == data, "PLAINTEXT_4 does not re-encode to the input")


def _trace(name: str, method: int = 0) -> Callable[[], Iterable[bytes]]:
    """Seeds from the handshake trace: the value ``name`` of a kid and a by-value run."""

    def seeds() -> Iterable[bytes]:
        variants = ((0, False), (0, True)) if method == 0 else ((method, False),)
        for run_method, by_value in variants:
            value = material.capture(run_method, by_value).trace.get(name)
            if value is not None:
                yield value

    return seeds


def _message(index: int, *methods: int) -> Callable[[], Iterable[bytes]]:
    def seeds() -> Iterable[bytes]:
        for method in methods:
            messages = material.capture(method).messages
            if index < len(messages):
                yield messages[index]
        yield material.capture(0, True).messages[index]

    return seeds


def _error_seeds() -> Iterable[bytes]:
    yield hs.encode_error_message(1, "decode_error: G_X must be 1184 bytes")
    yield hs.encode_error_message(2, [-102, -101])
    yield hs.encode_error_message(2, -102)
    yield hs.encode_error_message(3, True)
    yield hs.encode_error_message(1, "unspecified_error: busy")
    yield hs.encode_error_message(7, None)


# -- credentials (spec chapter 4) ------------------------------------------------------


def ccs_one_input(data: bytes) -> None:
    try:
        credential = parse_ccs(data)
    except DecodeError:
        return
    _require(credential.cred == data, "a parsed credential must keep the exact CRED_x bytes")


def _ccs_seeds() -> Iterable[bytes]:
    parties = material.parties()
    yield parties.initiator.credential.cred
    yield parties.responder.credential.cred
    yield material.psk_entry().cred_i
    yield cbor.encode({2: "ed", 8: {1: {1: 1, 2: b"\x01", -1: 6, -2: bytes(32)}}})
    yield cbor.encode({2: "es", 8: {1: {1: 2, 2: 5, 3: -7, -1: 1, -2: bytes(32), -3: bytes(32)}}})
    yield cbor.encode({2: "dh", 8: {1: {1: 2, 2: b"\x02", -1: 1, -2: bytes(32)}}})


# -- records and OSCORE (spec chapter 7, RFC 8613 §6.1) --------------------------------

_TAG = 16


def record_one_input(data: bytes) -> None:
    try:
        record = decode_record(data, min_ciphertext=_TAG + 1)
    except DecodeError:
        return
    _require(
        encode_record(record.piv, record.kid, record.epoch, record.ciphertext) == data,
        "record header does not re-encode to the input (REQ-REC-001/002)",
    )


def close_body_one_input(data: bytes) -> None:
    try:
        alert = decode_close_body(data)
    except DecodeError:
        return
    _require(alert is None or isinstance(alert, Alert), "close body must give an Alert or None")


def _close_seeds() -> Iterable[bytes]:
    yield encode_close_body(None)
    for alert in Alert:
        yield encode_close_body(alert)
    yield encode_close_body(Alert.DECODE_ERROR, "x" * 200)
    yield cbor.encode("no_such_alert: detail")


def unprotect_one_input(data: bytes) -> None:
    """REQ-REC-002/009: a record layer fed any bytes raises ProtocolError or returns plaintext."""
    _, receiver = material.record_layers()
    try:
        content_type, _body = receiver.unprotect(data)
    except ProtocolError:
        return
    _require(isinstance(content_type, ContentType), "unprotect returned no content type")


def option_one_input(data: bytes) -> None:
    try:
        option = decode_option(data)
    except DecodeError:
        return
    _require(encode_option(option) == data, "OSCORE option does not re-encode to the input")


def _option_seeds() -> Iterable[bytes]:
    for record in material.valid_records():
        yield record[1 : 1 + record[0]]
    yield b""
    yield bytes.fromhex("19050101 01".replace(" ", ""))
    yield bytes.fromhex("0914")
    yield bytes.fromhex("1d0102030404 a1b2c3d4 42".replace(" ", ""))


def coap_one_input(data: bytes) -> None:
    try:
        message = coap.decode_message(data)
    except DecodeError:
        return
    _require(coap.encode_message(message) == data, "CoAP message does not re-encode to the input")


def _coap_seeds() -> Iterable[bytes]:
    message_1 = material.capture().messages[0]
    yield coap.encode_message(
        coap.CoapMessage(
            coap.MessageType.CON,
            0x02,
            0x1234,
            b"\x01\x02",
            ((11, b".well-known"), (11, b"edhoc"), (12, b"\x41")),
            b"\xf5" + message_1[:1000],
        )
    )
    yield coap.encode_message(
        coap.CoapMessage(coap.MessageType.ACK, 0x44, 0x1234, b"\x01\x02", (), b"\x40")
    )
    yield coap.encode_message(
        coap.CoapMessage(
            coap.MessageType.CON, 0x02, 1, b"", ((9, bytes.fromhex("0914")), (27, b"\x0e")), b"x"
        )
    )
    yield coap.encode_message(coap.CoapMessage(coap.MessageType.RST, 0, 7))
    yield coap.encode_message(
        coap.CoapMessage(coap.MessageType.NON, 0x45, 2, b"", ((300, bytes(300)), (2048, b"")))
    )


# -- signed pub/sub (spec chapter 8, D5) -----------------------------------------------

_GROUP_KID = b"\x67\x01"
_GROUP_KEY = bytes(range(32))


@functools.cache
def _publisher() -> tuple[SoftwareSecurityProvider, object]:
    provider = SoftwareSecurityProvider()
    return provider, material.parties().initiator.install(provider)


def _verifier(encrypted: bool) -> MessageVerifier:
    store = KeyStore()
    store.add(material.parties().initiator.credential)
    return MessageVerifier(
        store,
        group_keys={_GROUP_KID: _GROUP_KEY} if encrypted else None,
        audit=AuditLog(MemorySink(), clock=None),
    )


def _pubsub_one_input(encrypted: bool) -> OneInput:
    def one_input(data: bytes) -> None:
        verifier = _verifier(encrypted)
        try:
            verified = verifier.verify(data, material.PUBSUB_TOPIC, material.PUBSUB_NOW)
        except ProtocolError:
            return
        _require(verified.topic == material.PUBSUB_TOPIC, "verified message on another topic")

    return one_input


def _pubsub_seeds(encrypted: bool) -> Callable[[], Iterable[bytes]]:
    def seeds() -> Iterable[bytes]:
        provider, key_ref = _publisher()
        kid = material.parties().initiator.kid
        now_ms = int(material.PUBSUB_NOW * 1000)
        group = GroupKey(_GROUP_KID, _GROUP_KEY) if encrypted else None
        for seq, content in ((0, b""), (1, b"21.5"), (2**40, bytes(256))):
            yield sign_message(
                provider,
                key_ref,  # type: ignore[arg-type]
                kid,
                material.PUBSUB_TOPIC,
                seq,
                now_ms,
                content,
                group,
                rng=ShakeRng(b"fuzz-iv-%d" % seq),
            )

    return seeds


# -- bindings (spec chapter 12) ----------------------------------------------------------


def tcp_one_input(data: bytes) -> None:
    """REQ-TCP-001/002: frames come out whole, or ProtocolError; memory stays bounded."""
    decoder = FrameDecoder()
    frames: list[bytes] = []
    try:
        half = len(data) // 2
        frames += decoder.feed(data[:half])
        frames += decoder.feed(data[half:])
        decoder.check_eof()
    except ProtocolError:
        pass
    _require(all(1 <= len(f) <= MAX_FRAME for f in frames), "frame outside 1..max_frame")
    _require(sum(HEADER_SIZE + len(f) for f in frames) <= len(data), "frames larger than the input")


def _tcp_seeds() -> Iterable[bytes]:
    for message in material.capture().messages:
        payload = bytes([KIND_HANDSHAKE]) + message
        yield len(payload).to_bytes(4, "big") + payload
    records = b""
    for record in material.valid_records():
        payload = bytes([KIND_RECORD]) + record
        records += len(payload).to_bytes(4, "big") + payload
    yield records


def cobs_one_input(data: bytes) -> None:
    try:
        decoded = cobs.decode(data)
    except DecodeError:
        return
    _require(cobs.decode(cobs.encode(decoded)) == decoded, "COBS round trip changed the frame")
    _require(0 not in cobs.encode(decoded), "COBS output contains the delimiter")


def _cobs_seeds() -> Iterable[bytes]:
    yield cobs.encode(b"")
    yield cobs.encode(b"\x00")
    yield cobs.encode(bytes(range(1, 255)))
    yield cobs.encode(bytes(range(256)) * 2)
    yield cobs.encode(material.valid_records()[0])


def serial_one_input(data: bytes) -> None:
    """REQ-SER-003..005: the receiver never raises, and memory stays within its limits."""
    receiver = serial_frames.SerialReceiver()
    half = len(data) // 2
    out = receiver.feed(data[:half], 0.0) + receiver.feed(data[half:], 0.5)
    for channel, message in out:
        limit = receiver.limits.get(channel)
        _require(limit is not None, f"message on reserved channel {channel}")
        _require(len(message) <= (limit or 0), "reassembled message above the channel limit")
    counters = receiver.counters
    _require(
        min(
            counters.bad_frames,
            counters.overruns,
            counters.broken_messages,
            counters.message_too_large,
        )
        >= 0,
        "negative link counter",
    )


def _serial_seeds() -> Iterable[bytes]:
    for index, message in enumerate(material.capture().messages):
        yield serial_frames.encode_message(0, index, bytes([KIND_HANDSHAKE]) + message)
    yield serial_frames.encode_message(0, 7, b"\x01" + material.valid_records()[0])
    yield serial_frames.encode_message(1, 0, b"tap request")


# -- files: KeyStore (D6) and identities ------------------------------------------------


@functools.cache
def _scratch() -> Path:
    """A private directory per process for the file-loader harnesses.

    libFuzzer leaves with ``_exit`` (no atexit handlers), so each new process also
    removes the directories of processes that no longer exist.
    """
    parent = Path(tempfile.gettempdir()) / f"pqiot-fuzz-{os.getuid()}"
    parent.mkdir(mode=0o700, exist_ok=True)
    for stale in parent.iterdir():
        if stale.name.isdigit() and not _alive(int(stale.name)):
            shutil.rmtree(stale, ignore_errors=True)
    path = parent / str(os.getpid())
    path.mkdir(exist_ok=True)
    atexit.register(shutil.rmtree, path, True)
    return path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def write_scratch(name: str, data: bytes) -> Path:
    """Write ``data`` to ``name`` in this process's scratch directory (file-loader harnesses)."""
    return _write(name, data)


def _write(name: str, data: bytes) -> Path:
    path = _scratch() / name
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    return path


def keystore_one_input(data: bytes) -> None:
    """REQ-KS-010: an unusable store file raises KeyStoreError naming the problem, nothing else."""
    path = _write("keystore.json", data)
    try:
        store = KeyStore(path)
    except KeyStoreError:
        return
    entries = sorted((e.credential.cred, e.source) for e in store)
    store.save()
    again = sorted((e.credential.cred, e.source) for e in KeyStore(path))
    _require(entries == again, "KeyStore content changed across save and reload")


def _keystore_seeds() -> Iterable[bytes]:
    directory = Path(tempfile.mkdtemp(prefix="pqiot-fuzz-seed-"))
    try:
        path = directory / "store.json"
        store = KeyStore(path)
        store.save()
        yield path.read_bytes()
        parties = material.parties()
        store.add(parties.initiator.credential)
        yield path.read_bytes()
        tofu = KeyStore(path, tofu=True)
        tofu.confirm(parties.responder.credential)
        yield path.read_bytes()
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def credential_file_one_input(data: bytes) -> None:
    path = _write("device.cred", data)
    try:
        credential = load_credential(path)
    except IdentityError:
        return
    _require(credential.cred == data, "loaded credential differs from the file")


def key_file_one_input(data: bytes) -> None:
    path = _write("device.key", data)
    try:
        load_private_key(path, check=True)
    except IdentityError:
        return


def _key_file_seeds() -> Iterable[bytes]:
    identity = material.parties().initiator
    yield cbor.encode(
        {
            "alg": identity.algorithm.cose_alg,
            "kid": identity.kid,
            "private": identity.private_key,
            "public": identity.public_key,
        }
    )
    yield cbor.encode({"alg": -8, "kid": 1, "private": bytes(32), "public": bytes(32)})


# -- Session fed arbitrary payloads (spec §12: kind || body) -----------------------------


def _check_session(session: Session) -> None:
    _require(isinstance(session.state, SessionState), "session state undefined")
    while (event := session.next_event()) is not None:
        if isinstance(event, HandshakeFailed):
            # machine.receive maps unexpected exceptions to internal_error: from peer
            # input that is a parser or handler defect, not a local fault.
            _require(
                event.alert is not Alert.INTERNAL_ERROR,
                f"peer input caused internal_error: {event.detail}",
            )


def _session_one_input(role: str, method: int) -> OneInput:
    def one_input(data: bytes) -> None:
        initiator, responder = material.handshake_pair(method)
        session = Session(initiator if role == "initiator" else responder)
        session.start(0.0)
        session.data_to_send()
        for index, payload in enumerate(split_payloads(data)):
            session.receive(payload, float(index))
            session.data_to_send()
        _check_session(session)

    return one_input


def _session_seeds(role: str, method: int) -> Callable[[], Iterable[bytes]]:
    def seeds() -> Iterable[bytes]:
        messages = [bytes([KIND_HANDSHAKE]) + m for m in material.capture(method).messages]
        mine = messages[1::2] if role == "initiator" else messages[0::2]
        yield join_payloads(mine)
        yield join_payloads(mine[:1])
        yield join_payloads([*mine, bytes([KIND_RECORD]) + material.valid_records()[0]])
        yield join_payloads([bytes([KIND_HANDSHAKE]) + hs.encode_error_message(2, [-102, -101])])
        yield join_payloads([bytes([KIND_HANDSHAKE]) + hs.encode_error_message(3, True)])

    return seeds


# -- the registry ------------------------------------------------------------------------


def _h(
    name: str,
    description: str,
    one_input: OneInput,
    seeds: Callable[[], Iterable[bytes]],
    groups: tuple[str, ...],
    structure: str = "cbor",
    keys: Iterable[str] = (),
) -> Harness:
    return Harness(name, description, one_input, seeds, groups, structure, frozenset(keys))


_EDHOC = ("cbor", "edhoc", "cose")

HARNESSES: tuple[Harness, ...] = (
    _h(
        "cbor",
        "strict deterministic CBOR decoder (cbor.py)",
        cbor_one_input,
        _cbor_seeds,
        ("cbor", "cose", "edhoc"),
    ),
    _h(
        "edhoc_message_1",
        "EDHOC message_1 (messages.decode_message_1)",
        message_1_one_input,
        _message(0, 0, METHOD_PSK),
        _EDHOC,
        keys=("message_1", "message_1.message"),
    ),
    _h(
        "edhoc_message_2",
        "EDHOC message_2, suite -102 G_Y length",
        message_2_one_input,
        _message(1, 0, METHOD_PSK),
        _EDHOC,
        keys=("message_2", "message_2.message"),
    ),
    _h(
        "edhoc_message_3",
        "EDHOC message_3 / message_4 (one bstr)",
        single_bstr_one_input,
        lambda: [*_message(2, 0, METHOD_PSK)(), *_message(3, 0, METHOD_PSK)()],
        _EDHOC,
        keys=("message_3", "message_4", "message_3.message", "message_4.message"),
    ),
    _h(
        "edhoc_error",
        "EDHOC error message (ERR_CODE, ERR_INFO)",
        error_one_input,
        _error_seeds,
        (*_EDHOC, "alerts"),
        keys=("error", "error.message"),
    ),
    _h(
        "edhoc_plaintext_2",
        "PLAINTEXT_2 (C_R, ID_CRED_R, Signature_or_MAC_2, EAD_2)",
        plaintext_2_one_input,
        _trace("PLAINTEXT_2"),
        _EDHOC,
        keys=("plaintext_2",),
    ),
    _h(
        "edhoc_plaintext_2a",
        "PSK PLAINTEXT_2A (C_R, EAD_2)",
        plaintext_2a_one_input,
        _trace("PLAINTEXT_2A", METHOD_PSK),
        _EDHOC,
        keys=("plaintext_2a",),
    ),
    _h(
        "edhoc_plaintext_3",
        "PLAINTEXT_3 (ID_CRED_I, Signature_or_MAC_3, EAD_3)",
        plaintext_3_one_input,
        _trace("PLAINTEXT_3"),
        _EDHOC,
        keys=("plaintext_3",),
    ),
    _h(
        "edhoc_plaintext_3a",
        "PSK PLAINTEXT_3A (ID_CRED_PSK, CIPHERTEXT_3B)",
        plaintext_3a_one_input,
        _trace("PLAINTEXT_3A", METHOD_PSK),
        _EDHOC,
        keys=("plaintext_3a",),
    ),
    _h(
        "edhoc_plaintext_4",
        "PLAINTEXT_4 / PLAINTEXT_3B (EAD items)",
        plaintext_4_one_input,
        lambda: [b"", cbor.encode_sequence(0, b"pad", -5, 7)],
        _EDHOC,
        keys=("plaintext_4", "plaintext_3b"),
    ),
    _h(
        "credential_ccs",
        "CCS credentials (credentials.parse_ccs)",
        ccs_one_input,
        _ccs_seeds,
        ("cbor", "cose"),
        keys=("cred_i", "cred_r", "credential"),
    ),
    _h(
        "record",
        "record header (records.record.decode_record)",
        record_one_input,
        lambda: material.valid_records(),
        ("oscore", "framing"),
        "bytes",
        ("record",),
    ),
    _h(
        "record_close_body",
        "close record body (records.record.decode_close_body)",
        close_body_one_input,
        _close_seeds,
        ("cbor", "alerts"),
    ),
    _h(
        "record_unprotect",
        "record layer unprotect, suite -102 (records.layer)",
        unprotect_one_input,
        lambda: material.valid_records(),
        ("oscore",),
        "bytes",
        ("record",),
    ),
    _h(
        "oscore_option",
        "OSCORE option value (oscore.option)",
        option_one_input,
        _option_seeds,
        ("oscore",),
        "bytes",
    ),
    _h(
        "coap_message",
        "CoAP message codec (oscore.coap)",
        coap_one_input,
        _coap_seeds,
        ("coap",),
        "bytes",
    ),
    _h(
        "pubsub_verify",
        "signed pub/sub message verifier (pubsub.MessageVerifier)",
        _pubsub_one_input(False),
        _pubsub_seeds(False),
        ("cbor", "cose"),
    ),
    _h(
        "pubsub_verify_encrypted",
        "signed + group-encrypted pub/sub message verifier",
        _pubsub_one_input(True),
        _pubsub_seeds(True),
        ("cbor", "cose"),
    ),
    _h(
        "tcp_frames",
        "TCP length-prefixed framing (framing.length_prefix)",
        tcp_one_input,
        _tcp_seeds,
        ("framing",),
        "bytes",
    ),
    _h(
        "keystore_file",
        "KeyStore JSON file loader (keystore.KeyStore)",
        keystore_one_input,
        _keystore_seeds,
        ("keystore",),
        "bytes",
    ),
    _h(
        "identity_credential_file",
        ".cred file loader (identity.load_credential)",
        credential_file_one_input,
        _ccs_seeds,
        ("cbor", "cose"),
        keys=("cred_i", "cred_r"),
    ),
    _h(
        "identity_key_file",
        ".key file loader (identity.load_private_key)",
        key_file_one_input,
        _key_file_seeds,
        ("cbor", "identity", "cose"),
    ),
    _h(
        "session_responder",
        "responder Session fed payload sequences (kind || body)",
        _session_one_input("responder", 0),
        _session_seeds("responder", 0),
        ("framing", *_EDHOC),
        "bytes",
    ),
    _h(
        "session_initiator",
        "initiator Session fed payload sequences (kind || body)",
        _session_one_input("initiator", 0),
        _session_seeds("initiator", 0),
        ("framing", *_EDHOC),
        "bytes",
    ),
    _h(
        "session_responder_psk",
        "PSK-method responder Session fed payload sequences",
        _session_one_input("responder", METHOD_PSK),
        _session_seeds("responder", METHOD_PSK),
        ("framing", *_EDHOC),
        "bytes",
    ),
    _h("cobs", "COBS decoder (framing.cobs)", cobs_one_input, _cobs_seeds, ("framing",), "bytes"),
    _h(
        "serial_receiver",
        "serial frames: COBS, CRC, reassembly (framing.serial_frames)",
        serial_one_input,
        _serial_seeds,
        ("framing",),
        "bytes",
    ),
    _h(
        "tap_request",
        "Test Agent Protocol request parser (tap.messages.decode_request)",
        tap_request_one_input,
        tap_request_seeds,
        ("cbor", "tap"),
    ),
    _h(
        "target_file",
        "target description loader (hil.target_schema.load_description)",
        target_file_one_input,
        target_file_seeds,
        ("toml",),
        "bytes",
    ),
    _h(
        "mqtt_envelope",
        "MQTT binding envelope: topic checks and 12.3.2 payload prefixes (transports.mqtt)",
        mqtt_envelope_one_input,
        mqtt_envelope_seeds,
        ("mqtt", "cbor", "edhoc"),
        "bytes",
    ),
)

_BY_NAME = {h.name: h for h in HARNESSES}


def names() -> list[str]:
    return [h.name for h in HARNESSES]


def get(name: str) -> Harness:
    """The harness called ``name``; the error lists the valid names."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(
            f"no fuzz harness named {name!r}; choose one of: {', '.join(names())}"
        ) from None
