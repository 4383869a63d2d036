"""libFuzzer dictionaries: the spec's constants as the byte strings a parser compares against.

A mutation that has to guess ``38 65`` (suite -102) or ``"Signature1"`` byte by
byte rarely gets there; a dictionary entry makes it one step. Entries are grouped
by topic and each harness names the groups it wants.
"""

from __future__ import annotations

from collections.abc import Iterable

from pqiot.reference import cbor
from pqiot.reference.errors import Alert

__all__ = ["GROUPS", "dictionary", "render"]


def _ints(*values: int) -> tuple[bytes, ...]:
    return tuple(cbor.encode(v) for v in values)


_SUITES = (0, 2, -101, -102, -103, -104, -105, -106, -107, -108, -109, -110)
_ALGS = (3, 10, 24, 30, -7, -8, -16, -43, -45, -48, -49, -50, -65601, -65602)
_KEX = (1, 4, -65701, -65702, -65703, -65704)

_TAP_WORDS = """
data scope set alg sk pk msg sig ctx rnd key nonce aad pt ct hash mode salt ikm prk info len
prim n slot ccs trust persist role method suites cred session record kem_seed kem_m sig_rnd
c_id topic now_ms sessions all factory responder initiator full expand extract own peer psk
group tofu transport link
"""
_TOML_WORDS = (
    'schema = 1\n|name = "|kind = "host"|kind = "qemu"|kind = "board"|[firmware]|[transport]|'
    "[launch]|[probe]|[clock]|[[memory]]|[conformance]|[timeouts]|[labgrid]|url = |command = [|"
    "ready = |probe_args|image = |build = |hz = |cycle_counter|start = 0x|size = |suites = [|"
    "commands = [|primitives = [|boot = |place = |tcp://|serial+tcp://|serial+stdio://|serial://|"
    "rfc2217://|{port}|{image}|{gdb_port}|{python}|{labgrid_host}|{nope}|"
    "verified_on_hardware = true|\"\"\"|'''|\\u0000|1_000|inf|nan"
)

GROUPS: dict[str, tuple[bytes, ...]] = {
    # Heads RFC 8949 §3 (REQ-ENC-002..004): every additional-information form, floats, tags.
    "cbor": (
        b"\x18\x18",
        b"\x19\x01\x00",
        b"\x1a\x00\x01\x00\x00",
        b"\x1b\x00\x00\x00\x01\x00\x00\x00\x00",
        b"\x1f",
        b"\x5f",
        b"\x9f",
        b"\xbf",
        b"\xff",
        b"\xc0",
        b"\xd8\x18",
        b"\xf4",
        b"\xf5",
        b"\xf6",
        b"\xf7",
        b"\xf9\x00\x00",
        b"\xfb\x00\x00\x00\x00\x00\x00\x00\x00",
        b"\x3b\xff\xff\xff\xff\xff\xff\xff\xff",
        b"\x1b\xff\xff\xff\xff\xff\xff\xff\xff",
        b"\x59\x40\x00",
        b"\x5a\xff\xff\xff\xff",
        b"\x9a\xff\xff\xff\xff",
        b"\xba\xff\xff\xff\xff",
        b"\x62\xc3\x28",
        b"\x63\xed\xa0\x80",
    ),
    # RFC 9528 §3.2, §3.6, §6 and D2/D3: methods, suites, ERR_CODEs.
    "edhoc": (
        *_ints(0, 1, 2, 3, 4, *_SUITES),
        b"\x82\x38\x64\x38\x65",
        b"\x59\x04\xa0",  # bstr(1184): ML-KEM-768 encapsulation key (G_X of -102)
        b"\x59\x04\x40",  # bstr(1088): ML-KEM-768 ciphertext (G_Y of -102)
        b"\x59\x03\x20",  # bstr(800): ML-KEM-512 encapsulation key
        b"\x59\x06\x20",  # bstr(1568): ML-KEM-1024 encapsulation key
        b"\x58\x20",
        b"\x40",
        b"\x20",
        b"\x37",
        b"\x17",
        b"\x21\x41\x2b",
    ),
    # RFC 9052 / RFC 8392 / D3: COSE header and COSE_Key labels, CCS claims, alg ids.
    "cose": (
        *_ints(*_ALGS, *_KEX),
        b"\xa1\x04",
        b"\xa1\x0e",
        b"\xa2\x02",
        b"\x08\xa1\x01",
        b"\x01\x07",
        b"\x01\x01",
        b"\x01\x02",
        b"\x01\x04",
        b"\x20\x06",
        b"\x20\x04",
        b"\x20\x01",
        b"\x21\x58\x20",
        b"\x22\x58\x20",
        b"\x20\x59\x05\x20",  # pub: bstr(1312) ML-DSA-44 public key
        cbor.encode("Signature1"),
        cbor.encode("Encrypt0"),
        cbor.encode("PQC-IIoT pubsub v1"),
    ),
    # D7 / spec chapter 10: alert names (close bodies, ERR_INFO).
    "alerts": tuple(cbor.encode(a.value) for a in Alert) + tuple(a.value.encode() for a in Alert),
    # RFC 8613 §6.1 / spec §7.1: flag bytes and the epoch kid context.
    "oscore": (
        b"\x09",
        b"\x0a",
        b"\x0d",
        b"\x19",
        b"\x1d",
        b"\x01\x01",
        b"\x03\x09",
        b"\x05\x19",
        b"\x08",
        b"\x10",
        b"\x20",
        b"\x00",
    ),
    # RFC 7252 §3: header versions/types, option nibbles, payload marker.
    "coap": (
        b"\x40",
        b"\x50",
        b"\x60",
        b"\x70",
        b"\x48",
        b"\x02",
        b"\x44",
        b"\x84",
        b"\xa0",
        b"\xff",
        b"\xd0",
        b"\xe0",
        b"\xdd",
        b"\xee",
        b"\x0f",
        b"\xf0",
        b"\xb1",
        b"\xbb.well-known",
        b"\x05edhoc",
        b"\xd5\x08",
        b"\x92",
    ),
    # Spec §12.1-12.2: COBS delimiter, frame kinds, TCP/serial limits.
    "framing": (
        b"\x00",
        b"\x01",
        b"\xff",
        b"\x00\x00\x00\x00",
        b"\x00\x00\x00\x01",
        b"\x00\x00\x44\x00",
        b"\x00\x00\x44\x01",
        b"\x00\x01\x00\x00",
        b"\xff\xff\xff\xff",
        b"\x00\x00\x01\x00",
        b"\x00\x01",
    ),
    # D6: KeyStore JSON field names and values.
    "keystore": (
        b'"format"',
        b'"pqiot-keystore"',
        b'"version"',
        b'"credentials"',
        b'"kid"',
        b'"cred"',
        b'"source"',
        b'"allow_list"',
        b'"tofu"',
        b'"subject"',
        b'"alg"',
        b"-48",
        b"[]",
        b"{}",
        b"null",
        b"\\u0000",
        b"\\ud800",
        b"1e999",
    ),
    # identity .key files: the CBOR map field names.
    "identity": (
        cbor.encode("alg"),
        cbor.encode("kid"),
        cbor.encode("private"),
        cbor.encode("public"),
        b"\xa4",
        b"\x38\x2f",
    ),
    # Spec §13.2-13.5: TAP command codes, argument keys and enum values.
    "tap": (
        *_ints(0, 1, 2, 16, 17, 18, 32, 33, 34, 48, 49, 56, 57, 58, 64),
        *_ints(80, 81, 82, 83, 84, 85, 86, 87, 88, 89, 90, 91, 96),
        *(cbor.encode(key) for key in _TAP_WORDS.split()),
        b"\x83",
        b"\xa0",
        b"\x59\x30\x00",
        b"\x59\x30\x01",
    ),
    # targets/README.md: the tables, keys, schemes and placeholders of a target file.
    "toml": (*(entry.encode() for entry in _TOML_WORDS.split("|")), b"\xff", b"\xc3\x28"),
    # Spec §12.3: topic tree, wildcards and the payload prefixes of each MQTT version.
    "mqtt": (
        *(
            entry.encode()
            for entry in [
                "/pqiot/v1/",
                "/hs",
                "/hsr",
                "/rec",
                "/ps/",
                "plant1",
                "dev1",
                "$SYS",
                "#",
                "+",
                "//",
            ]
        ),
        b"\x00",
        b"\xf5",
        b"\x42\x01\x00",
        b"\x67sensor7",
    ),
}


def dictionary(groups: Iterable[str]) -> tuple[bytes, ...]:
    """The entries of ``groups``, without duplicates, in a stable order."""
    seen: dict[bytes, None] = {}
    for group in groups:
        for entry in GROUPS[group]:
            seen.setdefault(entry, None)
    return tuple(seen)


def render(entries: Iterable[bytes]) -> str:
    """The libFuzzer/AFL dictionary file format: one ``"..."`` line per entry, hex-escaped."""
    lines = []
    for index, entry in enumerate(entries):
        escaped = "".join(
            chr(b) if 0x20 <= b < 0x7F and b not in (0x22, 0x5C) else f"\\x{b:02x}" for b in entry
        )
        lines.append(f'kw{index}="{escaped}"')
    return "\n".join(lines) + "\n"
