"""The probes that forge single faults must reproduce the genuine messages when given no fault.

If re-encrypting the traced PLAINTEXT_2 or re-sealing the traced PLAINTEXT_3
did not give back the reference's own message, a device refusing a forged
message could be refusing the forgery's mistake instead of the fault under test.
"""

from __future__ import annotations

import pytest

from pqiot.conformance.handshake_probes import (
    TracedPeer,
    UnequalId,
    alert_in_err_info,
    check_err_info_format,
    reencrypt_message_2,
    reseal_message_3,
    signing_with_its_own_algorithm,
    skip_item,
)
from pqiot.conformance.peer import suite_parties
from pqiot.reference import cbor


def _pair(suite: int) -> tuple[TracedPeer, TracedPeer]:
    parties = suite_parties(suite)
    initiator = TracedPeer(
        "initiator", [suite], parties["initiator"], [parties["responder"].credential]
    )
    responder = TracedPeer(
        "responder", [suite], parties["responder"], [parties["initiator"].credential]
    )
    return initiator, responder


@pytest.mark.parametrize("suite", [-102, -101])
def test_forging_without_a_fault_gives_back_the_genuine_messages(suite: int) -> None:
    initiator, responder = _pair(suite)
    message_2 = responder.deliver(initiator.handshake_out()[0])[0]
    assert reencrypt_message_2(responder.trace, suite, responder.trace["PLAINTEXT_2"]) == message_2
    message_3 = initiator.deliver(message_2)[0]
    assert reseal_message_3(initiator.trace, suite, initiator.trace["PLAINTEXT_3"]) == message_3
    responder.deliver(message_3)
    assert initiator.established and responder.established


def test_unequal_id_puts_c_r_equal_to_c_i_on_the_wire() -> None:
    parties = suite_parties(-102)
    initiator = TracedPeer(
        "initiator",
        [-102],
        parties["initiator"],
        [parties["responder"].credential],
        connection_id=b"\x27",
    )
    responder = TracedPeer(
        "responder",
        [-102],
        parties["responder"],
        [parties["initiator"].credential],
        connection_id=UnequalId(b"\x27"),
    )
    responder.deliver(initiator.handshake_out()[0])
    plaintext_2 = responder.trace["PLAINTEXT_2"]
    assert plaintext_2[: skip_item(plaintext_2)] == b"\x27"


def test_err_info_format_checks() -> None:
    assert alert_in_err_info("decode_error: G_X") == "decode_error"
    check_err_info_format("decode_error")
    check_err_info_format("decode_error: short detail")
    with pytest.raises(AssertionError):
        check_err_info_format("decode_error: " + "x" * 120)
    with pytest.raises(AssertionError):
        check_err_info_format("decode_error:")
    with pytest.raises(AssertionError):
        check_err_info_format(5)


def test_a_peer_signing_with_its_own_algorithm_is_refused_by_the_reference() -> None:
    """The ML-DSA-65 tester key signs a -102 message_2 (REQ-SP-003 would refuse it), and a
    conforming Initiator that allow-lists that key still rejects it (REQ-CRED-002)."""
    parties = suite_parties(-102)
    other = suite_parties(-103)["responder"]
    initiator = TracedPeer("initiator", [-102], parties["initiator"], [other.credential])
    plain = TracedPeer("responder", [-102], other, [parties["initiator"].credential])
    refused = plain.deliver(initiator.handshake_out()[0])
    assert refused and refused[0][0] == 1, "without the probe the provider refuses to sign"
    initiator = TracedPeer("initiator", [-102], parties["initiator"], [other.credential])
    liar = signing_with_its_own_algorithm(
        TracedPeer("responder", [-102], other, [parties["initiator"].credential])
    )
    message_2 = liar.deliver(initiator.handshake_out()[0])[0]
    assert len(liar.trace["Signature_or_MAC_2"]) == 3309, "an ML-DSA-65 signature"
    error = initiator.deliver(message_2)
    assert alert_in_err_info(cbor.decode_sequence(error[0])[1]) == "authentication_failed"
