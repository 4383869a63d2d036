"""Applicability of requirements from a conformance statement (spec §14.3)."""

from __future__ import annotations

from pqiot.conformance.applicability import Statement, not_applicable_reason
from pqiot.conformance.requirements import Requirement, load_catalogue

HOST = Statement(
    suites=frozenset({-101, -102, -103}),
    methods=frozenset({0}),
    roles=frozenset({"initiator", "responder"}),
    bindings=frozenset({"tcp"}),
    features=frozenset({"msg4", "key-update"}),
)


def req(req_id: str) -> Requirement:
    return load_catalogue().get(req_id)


def applies(req_id: str, statement: Statement = HOST) -> bool:
    return not_applicable_reason(req(req_id), statement) is None


def test_always_areas_apply_to_every_statement() -> None:
    for req_id in ("REQ-GEN-001", "REQ-ENC-002", "REQ-HS-004", "REQ-ERR-004", "REQ-CONF-001"):
        assert applies(req_id, Statement())


def test_psk_needs_method_4_and_resumption_needs_the_feature() -> None:
    assert not applies("REQ-PSK-001")
    with_psk = Statement(methods=frozenset({0, 4}))
    assert applies("REQ-PSK-001", with_psk)
    assert not applies("REQ-PSK-008", with_psk)
    assert applies(
        "REQ-PSK-008", Statement(methods=frozenset({4}), features=frozenset({"psk-resumption"}))
    )


def test_records_need_a_record_binding_and_persistence_rules_the_feature() -> None:
    assert applies("REQ-REC-001") and applies("REQ-REPLAY-002") and applies("REQ-KU-001")
    assert not applies("REQ-REC-001", Statement(bindings=frozenset({"coap"})))
    assert not applies("REQ-REPLAY-006") and not applies("REQ-KU-013")
    persistent = Statement(
        bindings=frozenset({"serial"}), features=frozenset({"persistent-contexts"})
    )
    assert applies("REQ-REPLAY-006", persistent) and applies("REQ-KU-013", persistent)


def test_pubsub_splits_publisher_and_subscriber_and_encryption() -> None:
    publisher = Statement(roles=frozenset({"publisher"}))
    assert applies("REQ-PUBSUB-001", publisher)
    assert not applies("REQ-PUBSUB-007", publisher)
    assert not applies("REQ-PUBSUB-004", publisher), "004 needs pubsub-encrypt"
    subscriber = Statement(roles=frozenset({"subscriber"}), features=frozenset({"pubsub-encrypt"}))
    assert applies("REQ-PUBSUB-013", subscriber) and not applies("REQ-PUBSUB-002", subscriber)


def test_bindings_and_their_features() -> None:
    assert applies("REQ-TCP-001") and not applies("REQ-MQTT-001") and not applies("REQ-SER-001")
    coap = Statement(bindings=frozenset({"coap"}))
    assert applies("REQ-COAP-001", coap) and not applies("REQ-COAP-006", coap)
    assert applies(
        "REQ-COAP-006",
        Statement(bindings=frozenset({"coap"}), features=frozenset({"coap-combined"})),
    )


def test_tap_applies_only_to_a_test_build() -> None:
    assert applies("REQ-TAP-001")
    assert not applies("REQ-TAP-001", Statement(build="library"))


def test_suite_feature_and_role_rows() -> None:
    assert not applies("REQ-SUITE-008"), "hybrid rule needs -107"
    assert applies("REQ-SUITE-008", Statement(suites=frozenset({-107})))
    assert not applies("REQ-SUITE-010") and applies(
        "REQ-SUITE-010", Statement(suites=frozenset({-108}))
    )
    assert not applies("REQ-SUITE-012") and not applies("REQ-KEYS-013")
    assert not applies("REQ-SUITE-004"), "check-only suites not declared"
    assert applies("REQ-HS-016"), "msg4 declared"
    assert not applies("REQ-HS-016", Statement())
    assert not applies("REQ-KS-005") and not applies("REQ-AUDIT-006")
    assert applies("REQ-KS-005", Statement(features=frozenset({"tofu"})))
    responder_only = Statement(roles=frozenset({"responder"}))
    assert not applies("REQ-HS-029", responder_only) and applies("REQ-HS-036", responder_only)
    assert not applies("REQ-HS-036", Statement(roles=frozenset({"initiator"})))


def test_falcon_encoding_rule_applies_to_falcon_suites_and_falcon_pubsub() -> None:
    """REQ-SUITE-010 governs Falcon signatures in handshakes and in pub/sub messages."""
    assert not applies("REQ-SUITE-010", Statement(roles=frozenset({"subscriber"})))
    assert applies(
        "REQ-SUITE-010",
        Statement.from_mapping({"roles": ["subscriber"], "primitives": ["falcon-512"]}),
    )
    assert not applies(
        "REQ-SUITE-010",
        Statement(roles=frozenset({"initiator"}), primitives=frozenset({"falcon-512"})),
    )


def test_no_retransmission_rule_needs_a_reliable_binding() -> None:
    """REQ-HS-039 forbids EDHOC retransmission on reliable bindings; serial must retransmit."""
    assert applies("REQ-HS-039"), "tcp declared"
    assert not applies("REQ-HS-039", Statement(bindings=frozenset({"serial"})))
    assert applies("REQ-HS-039", Statement(bindings=frozenset({"serial", "coap"})))


def test_durable_write_rule_needs_something_kept_across_restarts() -> None:
    """REQ-KS-008 is about durable writes; a device that persists nothing has none."""
    assert not applies("REQ-KS-008")
    for feature in ("persistent-contexts", "tofu", "psk-resumption"):
        assert applies("REQ-KS-008", Statement(features=frozenset({feature})))


def test_second_err_code_2_rule_needs_a_retrying_initiator() -> None:
    """REQ-HS-030 is about the answer to a retried message_1 (REQ-HS-029's MAY)."""
    assert not applies("REQ-HS-030")
    assert applies(
        "REQ-HS-030", Statement.from_mapping({"roles": ["initiator"], "features": ["suite-retry"]})
    )
    assert applies("REQ-HS-029") and applies("REQ-HS-031")


def test_serial_url_rule_is_for_host_software_not_a_device() -> None:
    assert not applies("REQ-SER-012", Statement(bindings=frozenset({"serial"})))
    assert applies("REQ-SER-011", Statement(bindings=frozenset({"serial"})))


def test_psk_vector_rule_needs_method_4() -> None:
    assert not applies("REQ-KEYS-002")
    assert applies("REQ-KEYS-002", Statement(methods=frozenset({0, 4})))


def test_credential_validity_check_is_waived_by_no_clock() -> None:
    """REQ-CRED-008 lets a device without a trustworthy clock skip exp/nbf."""
    assert applies("REQ-CRED-008")
    assert not applies("REQ-CRED-008", Statement(features=frozenset({"no-clock"})))


def test_audit_read_rule_applies_only_when_command_97_is_declared() -> None:
    """REQ-TAP-021 governs AUDIT_READ; a DUT without the command is not judged on it."""
    assert not applies("REQ-TAP-021", Statement(commands=frozenset({0, 1, 2})))
    assert applies("REQ-TAP-021", Statement.from_mapping({"commands": [0, 97]}))
    assert applies("REQ-AUDIT-001", Statement()), "the audit rules themselves always apply"


def test_every_requirement_has_a_rule() -> None:
    """No area falls through to 'no applicability rule' for a maximal statement."""
    everything = Statement(
        suites=frozenset({0, 2, -101, -102, -103, -104, -105, -106, -107, -108, -109, -110}),
        methods=frozenset({0, 3, 4}),
        roles=frozenset({"initiator", "responder", "publisher", "subscriber"}),
        bindings=frozenset({"serial", "tcp", "mqtt", "coap"}),
        features=frozenset(
            {"msg4", "suite-retry", "tofu", "psk-resumption", "key-update", "pubsub-encrypt",
             "persistent-contexts", "coap-combined"}
        ),
        commands=frozenset({97}),
    )  # fmt: skip
    not_applicable = [
        r.id for r in load_catalogue().requirements if not_applicable_reason(r, everything)
    ]
    assert not_applicable == ["REQ-SER-012"], "only the host-software rule never applies to a DUT"
