"""Hypothesis strategies for every message and frame type of the spec.

Each strategy draws a *structure* that is valid by construction (the fields a
message's CDDL or layout allows); tests encode it with the reference encoder
and check the decoder gives it back. Sizes follow the spec where it fixes them
(G_X / G_Y of the suite, PIV 1..5 bytes, epoch 1..255, MTU 128..1024) and are
kept small elsewhere so that examples stay fast.
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import strategies as st

from pqiot.reference import cbor
from pqiot.reference.cbor import CborValue
from pqiot.reference.credentials import (
    AKP_PUB,
    AKP_PUBLIC_KEY_SIZES,
    CLAIM_CNF,
    CLAIM_SUBJECT,
    CNF_COSE_KEY,
    EC2_CRV,
    EC2_X,
    EC2_Y,
    KEY_ALG,
    KEY_KID,
    KEY_KTY,
    KTY_AKP,
    KTY_EC2,
    KTY_OKP,
    OKP_CRV,
    OKP_X,
)
from pqiot.reference.edhoc.key_exchange import g_x_length, g_y_length
from pqiot.reference.edhoc.messages import Message1
from pqiot.reference.edhoc.wire import EadItem, IdCred
from pqiot.reference.errors import Alert
from pqiot.reference.oscore.coap import CoapMessage, MessageType
from pqiot.reference.oscore.option import OscoreOption
from pqiot.reference.records.record import Record
from pqiot.reference.suites import DEFAULT_SUITE
from pqiot.reference.suites import get as get_suite

__all__ = [
    "PubSubSpec",
    "SerialMessage",
    "cbor_values",
    "ccs_maps",
    "close_bodies",
    "coap_messages",
    "connection_ids",
    "ead_items",
    "error_messages",
    "id_creds",
    "message_1s",
    "message_2s",
    "oscore_options",
    "payload_chunks",
    "plaintext_2s",
    "plaintext_3as",
    "plaintext_3s",
    "pubsub_specs",
    "records",
    "serial_messages",
    "suite_lists",
    "tcp_payloads",
]

UINT64 = (1 << 64) - 1
SMALL_BYTES = st.binary(max_size=24)

# -- CBOR (spec chapter 2) ---------------------------------------------------------

_ints = st.one_of(
    st.integers(min_value=-24, max_value=23),
    st.integers(min_value=-(1 << 64), max_value=UINT64),
    st.sampled_from([24, 255, 256, 65535, 65536, 2**32 - 1, 2**32, UINT64, -25, -(1 << 64)]),
)
_scalars = st.one_of(_ints, st.binary(max_size=40), st.text(max_size=20), st.booleans(), st.none())


def cbor_values(max_leaves: int = 20) -> st.SearchStrategy[CborValue]:
    """Every item of the PQC-IIoT CBOR profile: ints, bstr, tstr, arrays, maps, true/false/null.

    Map keys are ints or text strings (REQ-ENC-005); nesting stays far below
    the 16-level limit (REQ-ENC-008) because ``recursive`` grows slowly.
    """
    keys = st.one_of(st.integers(min_value=-(1 << 64), max_value=UINT64), st.text(max_size=8))
    return st.recursive(
        _scalars,
        lambda children: st.one_of(
            st.lists(children, max_size=5),
            st.dictionaries(keys, children, max_size=5),
        ),
        max_leaves=max_leaves,
    )


# -- EDHOC pieces (RFC 9528 §3.3, §3.5.3.2, §3.8) ------------------------------------


def connection_ids() -> st.SearchStrategy[bytes]:
    """C_I / C_R: any bstr, including the one-byte values that travel as CBOR ints."""
    one_byte_ints = st.sampled_from([bytes([b]) for b in [*range(0x18), *range(0x20, 0x38)]])
    return st.one_of(one_byte_ints, st.binary(max_size=8))


def ead_items() -> st.SearchStrategy[tuple[EadItem, ...]]:
    item = st.builds(
        EadItem,
        st.integers(min_value=-(1 << 16), max_value=1 << 16),
        st.one_of(st.none(), st.binary(max_size=16)),
    )
    return st.lists(item, max_size=3).map(tuple)


def suite_lists() -> st.SearchStrategy[tuple[int, ...]]:
    """SUITES_I / SUITES_R: one int or an array of at least two."""
    suite = st.one_of(
        st.sampled_from([0, 2, -101, -102, -103, -104, -105, -106, -107, -108, -109, -110]),
        st.integers(min_value=-(1 << 32), max_value=1 << 32),
    )
    return st.one_of(suite.map(lambda s: (s,)), st.lists(suite, min_size=2, max_size=6).map(tuple))


def message_1s(suite_id: int = DEFAULT_SUITE) -> st.SearchStrategy[Message1]:
    """message_1 with a G_X of the right length for ``suite_id`` (REQ-ENC-010)."""
    length = g_x_length(get_suite(suite_id))
    return st.builds(
        Message1,
        method=st.sampled_from([0, 3, 4]),
        suites_i=suite_lists(),
        g_x=st.binary(min_size=length, max_size=length),
        c_i=connection_ids(),
        ead_1=ead_items(),
    )


def message_2s(suite_id: int = DEFAULT_SUITE) -> st.SearchStrategy[tuple[bytes, bytes]]:
    """(G_Y, CIPHERTEXT_2) with G_Y of the suite's length and a non-empty ciphertext."""
    length = g_y_length(get_suite(suite_id))
    return st.tuples(
        st.binary(min_size=length, max_size=length), st.binary(min_size=1, max_size=200)
    )


def id_creds() -> st.SearchStrategy[IdCred]:
    """ID_CRED_x: {4: kid} (compact on the wire) or a header map carrying a CCS by value."""
    by_kid = st.one_of(connection_ids().filter(bool), st.binary(min_size=2, max_size=8)).map(
        lambda kid: {4: kid}
    )
    by_value = ccs_maps().map(lambda ccs: {14: ccs})
    return st.one_of(by_kid, by_value)


def plaintext_2s() -> st.SearchStrategy[tuple[bytes, IdCred, bytes, tuple[EadItem, ...]]]:
    return st.tuples(connection_ids(), id_creds(), st.binary(max_size=120), ead_items())


def plaintext_3s() -> st.SearchStrategy[tuple[IdCred, bytes, tuple[EadItem, ...]]]:
    return st.tuples(id_creds(), st.binary(max_size=120), ead_items())


def plaintext_3as() -> st.SearchStrategy[tuple[IdCred, bytes]]:
    kid = st.one_of(connection_ids().filter(bool), st.binary(min_size=2, max_size=4))
    return st.tuples(kid.map(lambda k: {4: k}), st.binary(min_size=16, max_size=64))


@dataclass(frozen=True)
class ErrorSpec:
    err_code: int
    err_info: CborValue


def error_messages() -> st.SearchStrategy[ErrorSpec]:
    """RFC 9528 §6: ERR_CODE 1 + tstr, 2 + SUITES_R, 3 + true, other non-zero codes + any item."""
    suites = suite_lists().map(lambda s: s[0] if len(s) == 1 else list(s))
    # ERR_CODE 0 is malformed (REQ-HS-023); unknown codes are treated like 1.
    other_codes = st.integers(min_value=-(1 << 32), max_value=1 << 32).filter(
        lambda c: c not in (0, 1, 2, 3)
    )
    return st.one_of(
        st.builds(ErrorSpec, st.just(1), st.text(max_size=128)),
        st.builds(ErrorSpec, st.just(2), suites),
        st.builds(ErrorSpec, st.just(3), st.just(True)),
        st.builds(ErrorSpec, other_codes, cbor_values(max_leaves=4)),
    )


# -- credentials (spec chapter 4, RFC 8392) ------------------------------------------


def ccs_maps() -> st.SearchStrategy[dict[CborValue, CborValue]]:
    """CCS claims sets with each supported COSE_Key type (AKP, OKP, EC2 ES256, EC2 DH)."""
    # REQ-CRED-004: a kid is a byte string of 1..16 bytes; REQ-CRED-003: pub has the
    # size of its alg. Valid credentials only, so the round trip can be checked.
    kid = st.binary(min_size=1, max_size=16)
    akp = st.builds(
        lambda k, alg, fill: {
            KEY_KTY: KTY_AKP,
            KEY_KID: k,
            KEY_ALG: alg,
            AKP_PUB: (fill * AKP_PUBLIC_KEY_SIZES[alg])[: AKP_PUBLIC_KEY_SIZES[alg]],
        },
        kid,
        st.sampled_from(sorted(AKP_PUBLIC_KEY_SIZES)),
        st.binary(min_size=1, max_size=64),
    )
    okp = st.builds(
        lambda k, crv, x: {KEY_KTY: KTY_OKP, KEY_KID: k, OKP_CRV: crv, OKP_X: x},
        kid,
        st.sampled_from([4, 6]),
        st.binary(min_size=32, max_size=32),
    )
    es256 = st.builds(
        lambda k, x, y: {KEY_KTY: KTY_EC2, KEY_KID: k, KEY_ALG: -7, EC2_CRV: 1, EC2_X: x, EC2_Y: y},
        kid,
        st.binary(min_size=32, max_size=32),
        st.binary(min_size=32, max_size=32),
    )
    ec2_dh = st.builds(
        lambda k, x: {KEY_KTY: KTY_EC2, KEY_KID: k, EC2_CRV: 1, EC2_X: x},
        kid,
        st.binary(min_size=32, max_size=32),
    )
    return st.builds(
        lambda subject, key: {CLAIM_SUBJECT: subject, CLAIM_CNF: {CNF_COSE_KEY: key}},
        st.text(max_size=20),
        st.one_of(akp, okp, es256, ec2_dh),
    )


# -- OSCORE option, records, close bodies (spec chapter 7, RFC 8613 §6.1) -------------


def _minimal_piv() -> st.SearchStrategy[bytes]:
    """A Partial IV in the fewest bytes (REQ-REC-001): SSN 0 is the single byte 00."""
    return st.integers(min_value=0, max_value=(1 << 40) - 1).map(
        lambda n: n.to_bytes(max(1, (n.bit_length() + 7) // 8), "big")
    )


def oscore_options() -> st.SearchStrategy[OscoreOption]:
    """Any option value RFC 8613 §6.1 allows: each field present or absent."""
    piv = st.one_of(st.none(), st.binary(min_size=1, max_size=5))
    return st.builds(
        OscoreOption,
        piv=piv,
        kid_context=st.one_of(st.none(), st.binary(max_size=16)),
        kid=st.one_of(st.none(), st.binary(max_size=8)),
    )


def records(min_ciphertext: int = 17) -> st.SearchStrategy[Record]:
    """Record headers as D4 fixes them: minimal PIV, kid, epoch 0..255, AEAD output."""
    return st.builds(
        Record,
        piv=_minimal_piv(),
        kid=st.binary(max_size=8),
        epoch=st.integers(min_value=0, max_value=255),
        ciphertext=st.binary(min_size=min_ciphertext, max_size=min_ciphertext + 64),
    )


def close_bodies() -> st.SearchStrategy[tuple[Alert | None, str]]:
    return st.one_of(
        st.just((None, "")),
        st.tuples(st.sampled_from(list(Alert)), st.text(max_size=200)),
    )


# -- CoAP (RFC 7252 §3) --------------------------------------------------------------


def coap_messages() -> st.SearchStrategy[CoapMessage]:
    """Valid CoAP messages: token 0..8 bytes, options in any order (the encoder sorts)."""
    option = st.tuples(
        st.one_of(
            st.sampled_from([1, 3, 4, 7, 9, 11, 12, 14, 15, 21, 23, 27, 28, 60, 252, 2048]),
            st.integers(min_value=0, max_value=0xFFFF),
        ),
        st.one_of(st.binary(max_size=20), st.binary(min_size=260, max_size=300)),
    )
    request_or_response = st.builds(
        CoapMessage,
        mtype=st.sampled_from(list(MessageType)),
        code=st.integers(min_value=1, max_value=255),
        message_id=st.integers(min_value=0, max_value=0xFFFF),
        token=st.binary(max_size=8),
        options=st.lists(option, max_size=6).map(
            lambda opts: tuple(sorted(opts, key=lambda o: o[0]))
        ),
        payload=st.binary(max_size=64),
    )
    empty = st.builds(
        CoapMessage,
        mtype=st.sampled_from(list(MessageType)),
        code=st.just(0),
        message_id=st.integers(min_value=0, max_value=0xFFFF),
    )
    return st.one_of(request_or_response, empty)


# -- bindings (spec chapter 12) ------------------------------------------------------


def tcp_payloads(max_frame: int = 17408) -> st.SearchStrategy[list[bytes]]:
    """Messages for the TCP length-prefixed framing (1..max_frame bytes each)."""
    small = st.binary(min_size=1, max_size=64)
    # Frames at the limit: a repeated pattern (drawing 17 kB byte by byte is slow).
    large = st.tuples(
        st.binary(min_size=1, max_size=8), st.sampled_from([max_frame - 1, max_frame])
    )
    payload = st.one_of(small, large.map(lambda p: (p[0] * p[1])[: p[1]]))
    return st.lists(payload, min_size=1, max_size=4)


def payload_chunks(data: bytes) -> st.SearchStrategy[list[bytes]]:
    """``data`` cut into chunks at arbitrary points (how a socket or UART delivers it)."""
    cuts = st.lists(st.integers(min_value=0, max_value=len(data)), max_size=8)
    return cuts.map(
        lambda points: [
            data[a:b]
            for a, b in zip([0, *sorted(points)], [*sorted(points), len(data)], strict=True)
        ]
    )


@dataclass(frozen=True)
class SerialMessage:
    channel: int
    msg_id: int
    message: bytes
    mtu: int


def serial_messages() -> st.SearchStrategy[SerialMessage]:
    """One message for the serial framing: channel 0/1, MTU 128..1024, 0..3 fragments' worth."""
    return st.builds(
        SerialMessage,
        channel=st.sampled_from([0, 1]),
        msg_id=st.integers(min_value=0, max_value=255),
        message=st.one_of(
            st.binary(max_size=300),
            st.tuples(st.binary(min_size=1, max_size=8), st.integers(1000, 2100)).map(
                lambda p: (p[0] * p[1])[: p[1]]
            ),
        ),
        mtu=st.one_of(
            st.sampled_from([128, 256, 1024]), st.integers(min_value=128, max_value=1024)
        ),
    )


# -- signed pub/sub (spec chapter 8, D5) ---------------------------------------------


@dataclass(frozen=True)
class PubSubSpec:
    seq: int
    timestamp_ms: int
    content: bytes
    encrypted: bool


def pubsub_specs(now_ms: int) -> st.SearchStrategy[PubSubSpec]:
    """Message parameters within the verifier's default 300 s skew of ``now_ms``."""
    return st.builds(
        PubSubSpec,
        seq=st.integers(min_value=0, max_value=UINT64),
        timestamp_ms=st.integers(min_value=now_ms - 300_000, max_value=now_ms + 300_000),
        content=st.binary(max_size=200),
        encrypted=st.booleans(),
    )


def cbor_sequences() -> st.SearchStrategy[list[CborValue]]:
    return st.lists(cbor_values(max_leaves=6), min_size=1, max_size=6)


def encoded(value: CborValue) -> bytes:
    """Shorthand used by tests: the deterministic encoding of ``value``."""
    return cbor.encode(value)
