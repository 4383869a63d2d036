"""Which requirements a conformance statement makes applicable (spec §14.3).

A requirement is judged only when the device declares what it governs, like a
Matter PICS: a device without a CoAP binding is neither praised nor blamed for
the CoAP rules. :func:`not_applicable_reason` returns ``None`` for an
applicable requirement and otherwise the sentence the report shows.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from pqiot.conformance.requirements import Requirement

__all__ = ["Statement", "not_applicable_reason"]

_ALWAYS = frozenset(
    {"GEN", "ENC", "SUITE", "CRED", "KS", "HS", "KEYS", "ERR", "AUDIT", "SP", "CONF"}
)
_RECORD_BINDINGS = frozenset({"serial", "tcp", "mqtt"})
#: Bindings that deliver reliably, so the EDHOC layer must not retransmit (REQ-HS-039).
_RELIABLE_BINDINGS = frozenset({"tcp", "mqtt", "coap"})
_BINDING_AREAS = {"SER": "serial", "TCP": "tcp", "MQTT": "mqtt", "COAP": "coap"}
_CHECK_ONLY_SUITES = frozenset({0, 2})
_FALCON_SUITES = frozenset({-108, -109, -110})
_FALCON_PRIMITIVES = frozenset({"falcon-512", "falcon-1024"})
#: Features that make a device write KeyStore changes to durable storage (REQ-KS-008).
_DURABLE_FEATURES = frozenset({"persistent-contexts", "tofu", "psk-resumption"})
_AUDIT_READ = 97


@dataclass(frozen=True)
class Statement:
    """The declarable items of §14.2 plus the build kind (``"test"`` for a DUT, §13.4)."""

    suites: frozenset[int] = frozenset()
    methods: frozenset[int] = frozenset()
    roles: frozenset[str] = frozenset()
    bindings: frozenset[str] = frozenset()
    features: frozenset[str] = frozenset()
    build: str = "test"
    commands: frozenset[int] = frozenset()
    primitives: frozenset[str] = frozenset()

    @classmethod
    def from_mapping(cls, data: dict[str, object]) -> Statement:
        def items(key: str) -> Iterable[object]:
            value = data.get(key, ())
            return value if isinstance(value, list | tuple | set | frozenset) else ()

        return cls(
            suites=frozenset(int(v) for v in items("suites") if isinstance(v, int)),
            methods=frozenset(int(v) for v in items("methods") if isinstance(v, int)),
            roles=frozenset(str(v) for v in items("roles")),
            bindings=frozenset(str(v) for v in items("bindings")),
            features=frozenset(str(v) for v in items("features")),
            build=str(data.get("build", "test")),
            commands=frozenset(int(v) for v in items("commands") if isinstance(v, int)),
            primitives=frozenset(str(v) for v in items("primitives")),
        )


def _in(number: int, low: int, high: int) -> bool:
    return low <= number <= high


def not_applicable_reason(req: Requirement, st: Statement) -> str | None:
    """``None`` if ``req`` applies to a device declaring ``st``; else why it does not (§14.3)."""
    reason = _area_reason(req, st)
    return reason if reason is not None else _item_reason(req, st)


def _area_reason(req: Requirement, st: Statement) -> str | None:
    area, n = req.area, req.number
    if area in _ALWAYS:
        return None
    if area == "PSK":
        if 4 not in st.methods:
            return "method 4 (PSK) not declared"
        if _in(n, 8, 12) and "psk-resumption" not in st.features:
            return "feature psk-resumption not declared"
        return None
    if area in ("REC", "REPLAY", "KU"):
        pubsub_replay = area == "REPLAY" and bool(st.roles & {"publisher", "subscriber"})
        if not st.bindings & _RECORD_BINDINGS and not pubsub_replay:
            return "no serial, tcp or mqtt binding declared"
        persistent = (area == "REPLAY" and _in(n, 6, 10)) or (area == "KU" and n == 13)
        if persistent and "persistent-contexts" not in st.features:
            return "feature persistent-contexts not declared"
        return None
    if area == "PUBSUB":
        return _pubsub_reason(n, st)
    if area in _BINDING_AREAS:
        binding = _BINDING_AREAS[area]
        if binding not in st.bindings:
            return f"binding {binding} not declared"
        if area == "COAP" and n == 6 and "coap-combined" not in st.features:
            return "feature coap-combined not declared"
        if area == "COAP" and n == 8 and "persistent-contexts" not in st.features:
            return "feature persistent-contexts not declared"
        return None
    if area == "TAP":
        return None if st.build == "test" else f"build {st.build!r} is not a DUT test build"
    return f"area {area} has no applicability rule in §14.3"


def _pubsub_reason(n: int, st: Statement) -> str | None:
    if _in(n, 1, 6) and "publisher" not in st.roles:
        return "role publisher not declared"
    if _in(n, 7, 14) and "subscriber" not in st.roles:
        return "role subscriber not declared"
    if n in (4, 5, 13) and "pubsub-encrypt" not in st.features:
        return "feature pubsub-encrypt not declared"
    return None


def _falcon_publishers(st: Statement) -> bool:
    """A pub/sub party that can sign or verify Falcon, so REQ-SUITE-010 governs its messages."""
    return bool(st.roles & {"publisher", "subscriber"} and st.primitives & _FALCON_PRIMITIVES)


def _item_reason(req: Requirement, st: Statement) -> str | None:
    """The suite-, method-, feature- and role-specific rows of §14.3."""
    rid, n = req.id, req.number
    if rid in ("REQ-SUITE-004", "REQ-SUITE-014") and not st.suites & _CHECK_ONLY_SUITES:
        return "no check-only suite (0 or 2) declared"
    if rid == "REQ-SUITE-008" and -107 not in st.suites:
        return "suite -107 not declared"
    if rid == "REQ-SUITE-010" and not (st.suites & _FALCON_SUITES or _falcon_publishers(st)):
        return "no Falcon suite (-108, -109, -110) and no Falcon pub/sub primitive declared"
    if rid in ("REQ-SUITE-012", "REQ-KEYS-013") and -106 not in st.suites:
        return "suite -106 not declared"
    if req.area == "HS" and _in(n, 16, 18) and 4 not in st.methods and "msg4" not in st.features:
        return "neither method 4 nor feature msg4 declared"
    if rid in ("REQ-KS-005", "REQ-KS-006", "REQ-AUDIT-006") and "tofu" not in st.features:
        return "feature tofu not declared"
    if req.area == "HS" and _in(n, 29, 31) and "initiator" not in st.roles:
        return "role initiator not declared"
    if rid == "REQ-HS-030" and "suite-retry" not in st.features:
        return "feature suite-retry not declared: the Initiator never retries after ERR_CODE 2"
    if rid == "REQ-HS-036" and "responder" not in st.roles:
        return "role responder not declared"
    if rid == "REQ-HS-039" and not st.bindings & _RELIABLE_BINDINGS:
        return "no binding with reliable delivery (tcp, mqtt, coap) declared"
    if rid == "REQ-SER-012":
        return "governs host software that opens a serial port by URL, not the device under test"
    if rid == "REQ-KS-008" and not st.features & _DURABLE_FEATURES:
        return "nothing is kept across a restart: no persistent-contexts, tofu or psk-resumption"
    if rid == "REQ-KEYS-002" and 4 not in st.methods:
        return "method 4 (PSK) not declared"
    if rid == "REQ-CRED-008" and "no-clock" in st.features:
        return "feature no-clock declared: the device may skip the exp/nbf check"
    if rid == "REQ-TAP-021" and _AUDIT_READ not in st.commands:
        return "TAP command AUDIT_READ (97) not declared"
    return None
