"""Conformance statements (spec §14.1-14.2): the declared items and their consistency rules.

A statement is what a target *claims*; REQ-CONF-003 says the suite must reject an
inconsistent one before testing, so this module only judges the claim and never
talks to a device.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "BINDINGS",
    "FEATURES",
    "ROLES",
    "ConformanceStatement",
    "statement_problems",
]

ROLES = ("initiator", "responder", "publisher", "subscriber")
BINDINGS = ("serial", "tcp", "mqtt", "coap")
FEATURES = (
    "msg4",
    "suite-retry",
    "tofu",
    "psk-resumption",
    "key-update",
    "pubsub-encrypt",
    "persistent-contexts",
    "coap-combined",
    "no-clock",
)
METHODS = (0, 3, 4)
#: Check-only classical suites (D2): the only ones method 3 may use.
CHECK_ONLY_SUITES = (0, 2)
MANDATORY_SUITE = -102


@dataclass(frozen=True)
class ConformanceStatement:
    """The declarable items of §14.2 (plus the TAP commands and primitives of §13.4)."""

    suites: tuple[int, ...] = ()
    methods: tuple[int, ...] = ()
    roles: tuple[str, ...] = ()
    bindings: tuple[str, ...] = ()
    features: tuple[str, ...] = ()
    commands: tuple[int, ...] = ()
    primitives: tuple[str, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @property
    def claims_protocol(self) -> bool:
        """False for a primitives-only test build (no suite, method or role declared)."""
        return bool(self.suites or self.methods or self.roles)

    @classmethod
    def from_identity(cls, identity: Mapping[str, Any]) -> ConformanceStatement:
        """From an IDENTIFY result (§13.4); missing keys are empty."""

        def items(key: str) -> tuple[Any, ...]:
            value = identity.get(key, ())
            return tuple(value) if isinstance(value, list | tuple) else ()

        return cls(
            suites=items("suites"),
            methods=items("methods"),
            roles=items("roles"),
            bindings=items("bindings"),
            features=items("features"),
            commands=items("commands"),
            primitives=items("primitives"),
            extra={k: v for k, v in identity.items() if k not in _ITEM_KEYS},
        )

    def to_json(self) -> dict[str, Any]:
        return {key: list(getattr(self, key)) for key in _ITEM_KEYS}

    def missing_from(self, other: ConformanceStatement) -> dict[str, list[Any]]:
        """Items this statement declares that ``other`` does not (e.g. description vs IDENTIFY)."""
        gaps: dict[str, list[Any]] = {}
        for key in _ITEM_KEYS:
            missing = [v for v in getattr(self, key) if v not in getattr(other, key)]
            if missing:
                gaps[key] = missing
        return gaps


_ITEM_KEYS = ("suites", "methods", "roles", "bindings", "features", "commands", "primitives")


def statement_problems(statement: ConformanceStatement) -> list[str]:
    """Every violation of REQ-CONF-002/003 and §14.2, as sentences; empty when consistent.

    A primitives-only statement (no protocol claim) is consistent if its values are known.
    """
    problems: list[str] = []
    for key, allowed in (
        ("roles", ROLES),
        ("bindings", BINDINGS),
        ("features", FEATURES),
        ("methods", METHODS),
    ):
        unknown = [v for v in getattr(statement, key) if v not in allowed]
        if unknown:
            problems.append(
                f"{key} {unknown} are not declarable items of §14.2 (allowed: {list(allowed)})"
            )
    if not statement.claims_protocol:
        return problems
    if MANDATORY_SUITE not in statement.suites:
        problems.append("suite -102 is mandatory (REQ-SUITE-001, REQ-CONF-002)")
    if 0 not in statement.methods:
        problems.append("method 0 is mandatory (REQ-CONF-002)")
    if 3 in statement.methods and not set(statement.suites) & set(CHECK_ONLY_SUITES):
        problems.append("method 3 needs a check-only suite (0 or 2) (§14.2)")
    if not set(statement.roles) & {"initiator", "responder"}:
        problems.append("declare at least one EDHOC role, initiator or responder (§14.2)")
    if not statement.bindings:
        problems.append("declare at least one binding (§14.2)")
    features = set(statement.features)
    if "psk-resumption" in features and 4 not in statement.methods:
        problems.append("feature psk-resumption requires method 4 (§14.2)")
    if "pubsub-encrypt" in features and not set(statement.roles) & {"publisher", "subscriber"}:
        problems.append("feature pubsub-encrypt requires role publisher or subscriber (§14.2)")
    if "suite-retry" in features and "initiator" not in statement.roles:
        problems.append("feature suite-retry requires role initiator (§14.2)")
    if "coap-combined" in features and "coap" not in statement.bindings:
        problems.append("feature coap-combined requires binding coap (§14.2)")
    if set(statement.bindings) & {"serial", "tcp", "mqtt"} and "key-update" not in features:
        problems.append("feature key-update is required with binding serial, tcp or mqtt (§14.2)")
    return problems
