"""Negative conformance: every failure ends in FAILED with the right alert and, where RFC 9528 §6
says so, an EDHOC error message on the wire (ERR_CODE 1 "<alert>[: detail]", 2 + SUITES_R, 3 + true).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import pytest

from pqiot.reference import cbor
from pqiot.reference.credentials import akp_ccs
from pqiot.reference.crypto.rng import ShakeRng
from pqiot.reference.edhoc import (
    AllowListResolver,
    EadItem,
    ErrorReceived,
    HandshakeCompleted,
    HandshakeConfig,
    HandshakeFailed,
    Initiator,
    Responder,
    State,
    SuitesRejected,
)
from pqiot.reference.edhoc.key_exchange import initiator_key_share
from pqiot.reference.edhoc.messages import (
    MAX_MESSAGE_SIZE,
    Message1,
    decode_message_1,
    encode_error_message,
    encode_message_1,
)
from pqiot.reference.errors import Alert
from pqiot.reference.suites import get as get_suite

from .conftest import IdentityFactory, Transcript, drain, run
from .test_pq_handshakes import method_0_configs


def failure(events: Sequence[object]) -> HandshakeFailed:
    failed = [e for e in events if isinstance(e, HandshakeFailed)]
    assert len(failed) == 1, events
    return failed[0]


def error_sent(transcript: Transcript, direction: str) -> tuple[int, object]:
    """The EDHOC error message that crossed the wire in ``direction``."""
    errors = [
        d
        for who, d in transcript.wire
        if who == direction and cbor.Decoder(d).peek_major() in (0, 1)
    ]
    errors = [d for d in errors if len(cbor.decode_sequence(d)) == 2]
    assert len(errors) == 1, transcript.wire
    code, info = cbor.decode_sequence(errors[0])
    assert isinstance(code, int)
    return code, info


def responder_after(
    data: bytes, config: HandshakeConfig
) -> tuple[Responder, list[bytes], list[object]]:
    responder = Responder(config)
    responder.receive(data, now=0.0)
    return responder, responder.data_to_send(), drain(responder)  # type: ignore[return-value]


@pytest.fixture
def configs(identities: IdentityFactory) -> tuple[HandshakeConfig, HandshakeConfig]:
    return method_0_configs(identities, -102)


def _message_1(config: HandshakeConfig) -> bytes:
    initiator = Initiator(config)
    initiator.start(now=0.0)
    (message_1,) = initiator.data_to_send()
    return message_1


# -- decode_error / message_too_large --------------------------------------------------


@pytest.mark.parametrize(
    "mangle, alert",
    [
        (lambda m: m[: len(m) // 2], Alert.DECODE_ERROR),  # truncated inside G_X
        (lambda m: m[:-1], Alert.DECODE_ERROR),  # C_I missing
        (lambda m: b"\xc0" + m, Alert.DECODE_ERROR),  # a CBOR tag: outside the profile
        (lambda m: m + b"\xff", Alert.DECODE_ERROR),  # trailing garbage as an "EAD item"
        # garbage (fixed: random bytes may happen to form a two-item error message)
        (lambda m: bytes.fromhex("1c4d2a9b07") + b"\x7f", Alert.DECODE_ERROR),
        (lambda m: m + b"\x00" * (MAX_MESSAGE_SIZE + 1 - len(m)), Alert.MESSAGE_TOO_LARGE),
    ],
    ids=["truncated", "no-c_i", "tagged", "trailing", "garbage", "oversize"],
)
def test_malformed_message_1_is_answered_with_error_1(
    configs: tuple[HandshakeConfig, HandshakeConfig], mangle: Callable[[bytes], bytes], alert: Alert
) -> None:
    """REQ D1/D3: a malformed message_1 gets ERR_CODE 1 "<alert>: ..." and the responder stops."""
    config_i, config_r = configs
    responder, sent, events = responder_after(mangle(_message_1(config_i)), config_r)
    assert responder.state is State.FAILED
    assert failure(events).alert is alert
    (error,) = sent
    code, info = cbor.decode_sequence(error)
    assert code == 1 and isinstance(info, str) and info.startswith(alert.value)


@pytest.mark.parametrize("cut", [1, 40, -1])
def test_truncated_message_2_fails_the_initiator_with_decode_error(
    configs: tuple[HandshakeConfig, HandshakeConfig], cut: int
) -> None:
    def truncate(direction: str, data: bytes) -> bytes:
        return data[:cut] if direction == "R->I" and len(data) > 1000 else data

    transcript = run(Initiator(configs[0]), Responder(configs[1]), tamper=truncate)
    assert failure(transcript.initiator_events).alert is Alert.DECODE_ERROR
    assert error_sent(transcript, "I->R")[0] == 1
    assert isinstance(
        transcript.responder_events[-1], HandshakeFailed
    )  # the responder got the error


def test_invalid_g_x_is_a_decode_error(configs: tuple[HandshakeConfig, HandshakeConfig]) -> None:
    """FIPS 203 input check on the encapsulation key: coefficients >= q are rejected."""
    message_1 = decode_message_1(_message_1(configs[0]))
    bad = Message1(
        message_1.method, message_1.suites_i, b"\xff" * len(message_1.g_x), message_1.c_i
    )
    _, _, events = responder_after(encode_message_1(bad), configs[1])
    assert failure(events).alert is Alert.DECODE_ERROR


def test_g_x_of_the_wrong_length_is_a_decode_error(
    configs: tuple[HandshakeConfig, HandshakeConfig],
) -> None:
    message_1 = decode_message_1(_message_1(configs[0]))
    short = Message1(message_1.method, message_1.suites_i, message_1.g_x[:-1], message_1.c_i)
    _, _, events = responder_after(encode_message_1(short), configs[1])
    assert "G_X must be 1184 bytes" in failure(events).detail


# -- suite negotiation and downgrade protection ----------------------------------------------


def test_wrong_selected_suite_round_trip_and_retry(identities: IdentityFactory) -> None:
    """RFC 9528 §6.3: ERR_CODE 2 with SUITES_R, then a new message_1 whose SUITES_I keeps the history."""
    config_i, config_r = method_0_configs(
        identities, -102, initiator={"suites": [-104, -102]}, responder={"suites": [-102, -103]}
    )
    transcript = run(Initiator(config_i), lambda: Responder(config_r))
    wire = [d for _, d in transcript.wire]
    assert cbor.decode_sequence(wire[1]) == [2, [-102, -103]]  # error: ERR_CODE 2, SUITES_R
    assert decode_message_1(wire[0]).suites_i == (-104,)
    assert decode_message_1(wire[2]).suites_i == (-104, -102)  # most preferred first, selected last
    assert SuitesRejected((-102, -103)) in transcript.initiator_events
    assert transcript.responder_events[0] == HandshakeFailed(
        Alert.WRONG_SELECTED_CIPHER_SUITE, "selected suite -104 is not supported", "RFC 9528 §6.3.1"
    )
    done = [e for e in transcript.initiator_events if isinstance(e, HandshakeCompleted)]
    assert done and done[0].suite_id == -102


def test_no_common_suite_ends_with_wrong_selected_cipher_suite(identities: IdentityFactory) -> None:
    config_i, config_r = method_0_configs(
        identities, -102, initiator={"suites": [-104]}, responder={"suites": [-102]}
    )
    transcript = run(Initiator(config_i), lambda: Responder(config_r))
    assert failure(transcript.initiator_events).alert is Alert.WRONG_SELECTED_CIPHER_SUITE
    assert (
        len(transcript.wire) == 2
    )  # message_1 and the error; no retry towards an unsupported suite


def test_responder_rejects_a_hidden_preference_it_supports(identities: IdentityFactory) -> None:
    """RFC 9528 §5.2.3: if the responder supports a suite the initiator listed as preferred, it must not proceed."""
    config_i, config_r = method_0_configs(
        identities, -102, initiator={"suites": [-103, -102]}, responder={"suites": [-102, -103]}
    )
    message_1 = decode_message_1(_message_1(config_i))
    assert message_1.suites_i == (-103,)
    forged = encode_message_1(
        Message1(message_1.method, (-103, -102), message_1.g_x, message_1.c_i)
    )
    _, sent, events = responder_after(forged, config_r)
    assert cbor.decode_sequence(sent[0]) == [2, [-102, -103]]
    assert failure(events).alert is Alert.WRONG_SELECTED_CIPHER_SUITE


@pytest.mark.parametrize(
    "offered, rewrite",
    [([-103, -102], (-102,)), ([-104, -102], (-102,))],
    ids=["selected-suite-rewritten", "history-dropped-after-retry"],
)
def test_downgrade_by_rewriting_suites_i_is_detected(
    identities: IdentityFactory, offered: list[int], rewrite: tuple[int, ...]
) -> None:
    """D3: message_1 is in TH_2, so an attacker who edits SUITES_I makes the handshake fail.

    Case 1: the initiator offers -103 and the attacker turns it into -102 (same ML-KEM-768 G_X).
    Case 2: after an ERR_CODE 2 round the attacker strips [-104, -102] down to -102.
    """
    config_i, config_r = method_0_configs(
        identities, -102, initiator={"suites": offered}, responder={"suites": [-102]}
    )

    def rewrite_suites(direction: str, data: bytes) -> bytes:
        if direction != "I->R":
            return data
        try:
            message_1 = decode_message_1(data)
        except Exception:
            return data  # message_3 and errors pass untouched
        if message_1.suites_i[-1] == offered[0] and offered[0] != -104:
            return encode_message_1(
                Message1(message_1.method, rewrite, message_1.g_x, message_1.c_i)
            )
        if len(message_1.suites_i) > 1:
            return encode_message_1(
                Message1(message_1.method, rewrite, message_1.g_x, message_1.c_i)
            )
        return data

    transcript = run(Initiator(config_i), lambda: Responder(config_r), tamper=rewrite_suites)
    assert not [e for e in transcript.initiator_events if isinstance(e, HandshakeCompleted)]
    assert not [e for e in transcript.responder_events if isinstance(e, HandshakeCompleted)]
    assert failure(transcript.initiator_events).alert in {
        Alert.DECODE_ERROR,
        Alert.AUTHENTICATION_FAILED,
    }


# -- credentials and authentication ------------------------------------------------------------


def test_unknown_kid_gets_err_code_3(identities: IdentityFactory) -> None:
    """RFC 9528 §6.4 / D3: an ID_CRED_I the responder cannot resolve → ERR_CODE 3, ERR_INFO true."""
    # With message_4 the initiator is still waiting when the error arrives (without it, it has already completed).
    config_i, config_r = method_0_configs(
        identities, -102, message_4=True, responder={"resolver": AllowListResolver([])}
    )
    transcript = run(Initiator(config_i), Responder(config_r))
    assert failure(transcript.responder_events).alert is Alert.UNKNOWN_CREDENTIAL
    assert error_sent(transcript, "R->I") == (3, True)
    assert ErrorReceived(3, True) in transcript.initiator_events
    assert transcript.initiator_events[-1] == HandshakeFailed(
        Alert.UNSPECIFIED_ERROR, "peer sent EDHOC error 3: True"
    )


def test_unknown_responder_kid_is_reported_by_the_initiator(identities: IdentityFactory) -> None:
    config_i, config_r = method_0_configs(
        identities, -102, initiator={"resolver": AllowListResolver([])}
    )
    transcript = run(Initiator(config_i), Responder(config_r))
    assert failure(transcript.initiator_events).alert is Alert.UNKNOWN_CREDENTIAL
    assert error_sent(transcript, "I->R") == (3, True)


def test_credential_by_value_with_tofu_disabled(identities: IdentityFactory) -> None:
    """D6: TOFU is off by default; a credential sent by value that is not allow-listed is refused."""
    config_i, config_r = method_0_configs(identities, -102, by_value=True, tofu=False)
    transcript = run(Initiator(config_i), Responder(config_r))
    assert failure(transcript.initiator_events).alert is Alert.TOFU_DISABLED
    code, info = error_sent(transcript, "I->R")
    assert code == 1 and isinstance(info, str) and info.startswith("tofu_disabled")


def test_by_value_credential_that_is_allow_listed_needs_no_tofu(
    identities: IdentityFactory,
) -> None:
    config_i, config_r = method_0_configs(
        identities,
        -102,
        initiator={"send_credential_by_value": True},
        responder={"send_credential_by_value": True},
    )
    transcript = run(Initiator(config_i), Responder(config_r))
    assert [e for e in transcript.initiator_events if isinstance(e, HandshakeCompleted)]


def test_bad_signature_is_authentication_failed(identities: IdentityFactory) -> None:
    """The initiator signs with a key that does not match the credential it presents."""
    other = identities.make(-48, "mallory", b"\x03M")
    config_i, config_r = method_0_configs(
        identities, -102, initiator={"key": other.key, "provider": other.provider}
    )
    transcript = run(Initiator(config_i), Responder(config_r))
    assert failure(transcript.responder_events).alert is Alert.AUTHENTICATION_FAILED
    assert error_sent(transcript, "R->I")[0] == 1


def test_impostor_credential_with_a_known_kid_fails(identities: IdentityFactory) -> None:
    """Same kid, different key: the allow-listed key is used and the signature does not verify."""
    impostor = identities.make(-48, "impostor", b"\x02R")  # same kid as the real responder
    config_i, config_r = method_0_configs(
        identities,
        -102,
        responder={
            "credential": impostor.credential,
            "key": impostor.key,
            "provider": impostor.provider,
        },
    )
    transcript = run(Initiator(config_i), Responder(config_r))
    assert failure(transcript.initiator_events).alert is Alert.AUTHENTICATION_FAILED


def test_flipped_signature_bit_in_message_2_is_authentication_failed(
    configs: tuple[HandshakeConfig, HandshakeConfig],
) -> None:
    def flip_last(direction: str, data: bytes) -> bytes:
        # PLAINTEXT_2 ends with the signature; message_2 XOR-encrypts it, so a flipped ciphertext bit flips it.
        return (
            data[:-1] + bytes([data[-1] ^ 1]) if direction == "R->I" and len(data) > 1000 else data
        )

    transcript = run(Initiator(configs[0]), Responder(configs[1]), tamper=flip_last)
    assert failure(transcript.initiator_events).alert is Alert.AUTHENTICATION_FAILED


def test_bad_message_3_ciphertext_is_decrypt_failed(
    configs: tuple[HandshakeConfig, HandshakeConfig],
) -> None:
    def flip(direction: str, data: bytes) -> bytes:
        return (
            data[:-1] + bytes([data[-1] ^ 1]) if direction == "I->R" and data[0] == 0x59 else data
        )

    transcript = run(Initiator(configs[0]), Responder(configs[1]), tamper=flip)
    assert failure(transcript.responder_events).alert is Alert.DECRYPT_FAILED


# -- state machine -----------------------------------------------------------------------------


def test_message_out_of_order_is_unexpected_message(
    configs: tuple[HandshakeConfig, HandshakeConfig],
) -> None:
    """A different message_1 while the responder waits for message_3 is rejected, never
    half-processed (a byte-identical one is a retransmission: REQ-HS-038)."""
    config_i, config_r = configs
    message_1 = _message_1(config_i)
    other_message_1 = _message_1(dataclasses.replace(config_i, rng=ShakeRng(b"another initiator")))
    assert other_message_1 != message_1
    responder = Responder(config_r)
    responder.receive(message_1, now=0.0)
    responder.data_to_send()
    responder.receive(other_message_1, now=1.0)
    assert responder.state is State.FAILED
    assert failure(drain(responder)).alert is Alert.UNEXPECTED_MESSAGE
    assert cbor.decode_sequence(responder.data_to_send()[0])[0] == 1


def test_initiator_rejects_message_1_shaped_input(
    configs: tuple[HandshakeConfig, HandshakeConfig],
) -> None:
    initiator = Initiator(configs[0])
    initiator.start(now=0.0)
    (message_1,) = initiator.data_to_send()
    initiator.receive(message_1, now=0.0)  # a reflected message_1
    assert failure(drain(initiator)).alert is Alert.UNEXPECTED_MESSAGE


def test_responder_rejects_a_byte_string_before_message_1(
    configs: tuple[HandshakeConfig, HandshakeConfig],
) -> None:
    responder, _sent, events = responder_after(cbor.encode(b"\x00" * 40), configs[1])
    assert failure(events).alert is Alert.DECODE_ERROR and responder.state is State.FAILED


def test_input_after_the_end_is_ignored(configs: tuple[HandshakeConfig, HandshakeConfig]) -> None:
    """Terminal states stay terminal: a retransmitted message_3 is answered with the (empty)
    previous reply and never re-run; any other late input is ignored without an error."""
    initiator, responder = Initiator(configs[0]), Responder(configs[1])
    transcript = run(initiator, responder)
    message_3 = transcript.wire[2][1]
    responder.receive(message_3, now=5.0)
    assert responder.state is State.COMPLETED
    assert responder.data_to_send() == []
    assert responder.retransmissions_answered == 1
    responder.receive(message_3[:-1] + bytes([message_3[-1] ^ 1]), now=6.0)
    assert responder.state is State.COMPLETED
    assert responder.data_to_send() == []
    assert responder.ignored_inputs == 1


def test_start_twice_is_a_programming_error(
    configs: tuple[HandshakeConfig, HandshakeConfig],
) -> None:
    initiator = Initiator(configs[0])
    initiator.start(now=0.0)
    with pytest.raises(RuntimeError, match="start"):
        initiator.start(now=0.0)


# -- methods -----------------------------------------------------------------------------------


@pytest.mark.parametrize("method", [1, 2, 3, 4])
def test_methods_other_than_configured_are_unsupported_method(
    configs: tuple[HandshakeConfig, HandshakeConfig], method: int
) -> None:
    """D3: KEM suites forbid methods 1-3; a method-0 responder also refuses PSK."""
    g_x, _ = initiator_key_share(get_suite(-102), ShakeRng(b"x"))
    message_1 = encode_message_1(Message1(method, (-102,), g_x, b"\x05"))
    _, sent, events = responder_after(message_1, configs[1])
    assert failure(events).alert is Alert.UNSUPPORTED_METHOD
    info = cbor.decode_sequence(sent[0])[1]
    assert isinstance(info, str) and info.startswith("unsupported_method")


def test_config_refuses_static_dh_with_a_kem_suite() -> None:
    with pytest.raises(ValueError, match="not allowed with suite"):
        HandshakeConfig(role="initiator", method=3, suites=[-102])


# -- EAD -------------------------------------------------------------------------------------------


def test_unknown_non_critical_ead_is_ignored_and_known_ead_is_delivered(
    identities: IdentityFactory,
) -> None:
    config_i, config_r = method_0_configs(
        identities,
        -102,
        initiator={
            "ead_1": (EadItem(77, b"ignored"), EadItem(5, b"hello")),
            "ead_3": (EadItem(5, b"again"),),
        },
        responder={"supported_ead_labels": frozenset({5})},
    )
    transcript = run(Initiator(config_i), Responder(config_r))
    done = [e for e in transcript.responder_events if isinstance(e, HandshakeCompleted)]
    assert done and done[0].ead_received == (EadItem(5, b"hello"), EadItem(5, b"again"))


def test_unknown_critical_ead_aborts(identities: IdentityFactory) -> None:
    """RFC 9528 §3.8, REQ-HS-020: a critical EAD item the recipient does not process aborts
    the handshake with exactly ``unspecified_error: unsupported critical EAD <label>``."""
    config_i, config_r = method_0_configs(
        identities, -102, initiator={"ead_1": (EadItem(-77, b"must-understand"),)}
    )
    transcript = run(Initiator(config_i), Responder(config_r))
    assert failure(transcript.responder_events).detail == "unsupported critical EAD -77"
    assert error_sent(transcript, "R->I") == (1, "unspecified_error: unsupported critical EAD -77")


def test_akp_credential_for_another_algorithm_is_rejected(identities: IdentityFactory) -> None:
    """A credential whose key is for ML-DSA-65 cannot authenticate a suite that signs with ML-DSA-44."""
    wrong = identities.make(-49, "initiator65", b"\x01I")
    config_i, config_r = method_0_configs(
        identities, -102, responder={"resolver": AllowListResolver([wrong.credential])}
    )
    transcript = run(Initiator(config_i), Responder(config_r))
    assert failure(transcript.responder_events).alert is Alert.AUTHENTICATION_FAILED
    assert akp_ccs("x", b"k", -49, b"\x00").algorithm == -49


def test_security_provider_failure_ends_in_failed_with_internal_error(
    identities: IdentityFactory,
) -> None:
    """A private-key operation that fails (closed provider) still leaves a defined, terminal state."""
    config_i, config_r = method_0_configs(identities, -102)
    assert config_r.provider is not None
    config_r.provider.close()  # type: ignore[attr-defined]
    transcript = run(Initiator(config_i), Responder(config_r))
    assert failure(transcript.responder_events).alert is Alert.INTERNAL_ERROR
    assert transcript.responders[0].state is State.FAILED
    assert error_sent(transcript, "R->I")[0] == 1


def test_responder_never_reuses_c_i_as_c_r(identities: IdentityFactory) -> None:
    """RFC 9528 §3.3.3: C_I and C_R become the two OSCORE Sender IDs, so they must differ."""
    config_i, config_r = method_0_configs(
        identities, -102, initiator={"connection_id": b"\x07"}, responder={"connection_id": b"\x07"}
    )
    transcript = run(Initiator(config_i), Responder(config_r))
    done = [e for e in transcript.initiator_events if isinstance(e, HandshakeCompleted)]
    assert done and done[0].c_i == b"\x07" and done[0].c_r != b"\x07"


def test_retransmitted_message_gets_the_cached_reply_without_state_change() -> None:
    """REQ-HS-038: a byte-identical repeat is answered with the previous reply, nothing else."""
    from pqiot.reference.crypto.rng import ShakeRng
    from pqiot.reference.edhoc import Initiator, Responder
    from pqiot.reference.edhoc.config import HandshakeConfig
    from pqiot.reference.edhoc.resolver import AllowListResolver
    from pqiot.reference.identity import generate_identity
    from pqiot.reference.software_provider import SoftwareSecurityProvider

    parties = {
        role: generate_identity("ML-DSA-44", subject=role, rng=ShakeRng(role.encode()))
        for role in ("initiator", "responder")
    }
    configs = []
    for role, peer in (("initiator", "responder"), ("responder", "initiator")):
        provider = SoftwareSecurityProvider()
        me = parties[role]
        configs.append(
            HandshakeConfig(
                role=role,  # type: ignore[arg-type]
                method=0,
                suites=(-102,),
                credential=me.credential,
                key=me.install(provider),
                provider=provider,
                resolver=AllowListResolver([parties[peer].credential]),
                rng=ShakeRng(role.encode()),
            )
        )
    initiator, responder = Initiator(configs[0]), Responder(configs[1])
    initiator.start(0.0)
    (message_1,) = initiator.data_to_send()
    responder.receive(message_1, 0.0)
    (message_2,) = responder.data_to_send()
    state = responder.state
    responder.receive(message_1, 0.1)  # the initiator's binding resent message_1
    assert responder.data_to_send() == [message_2]
    assert responder.state is state
    assert responder.retransmissions_answered == 1
    initiator.receive(message_2, 0.2)
    (message_3,) = initiator.data_to_send()
    initiator.receive(message_2, 0.3)  # duplicate message_2 after completion
    assert initiator.data_to_send() == [message_3]
    responder.receive(message_3, 0.4)
    assert responder.state.value == "completed"


# -- REQ-CRED-007: reflection protection ----------------------------------------------------


def test_initiator_refuses_a_responder_with_its_own_subject(identities: IdentityFactory) -> None:
    """REQ-CRED-007: the Initiator aborts with authentication_failed when CRED_R has its ``sub``."""
    twin = identities.make(-48, "initiator", b"\x02R")  # subject "initiator.example", as ours
    config_i, config_r = method_0_configs(
        identities,
        -102,
        initiator={"resolver": AllowListResolver([twin.credential])},
        responder={"credential": twin.credential, "key": twin.key, "provider": twin.provider},
    )
    transcript = run(Initiator(config_i), Responder(config_r))
    failed = failure(transcript.initiator_events)
    assert (failed.alert, failed.requirement) == (Alert.AUTHENTICATION_FAILED, "REQ-CRED-007")
    assert error_sent(transcript, "I->R") == (1, failed_info(failed))
    assert not any(isinstance(e, HandshakeCompleted) for e in transcript.responder_events)


class _UncheckedInitiator(Initiator):
    """An Initiator that skips the reflection check, to show the Responder's own check."""

    def _check_not_reflected(self, peer: object) -> None:
        return None


def test_responder_refuses_an_initiator_with_its_own_subject(identities: IdentityFactory) -> None:
    """REQ-CRED-007: the Responder aborts with authentication_failed when CRED_I has its ``sub``."""
    mirror = identities.make(-48, "responder", b"\x01I")  # subject "responder.example", as R's
    config_i, config_r = method_0_configs(
        identities,
        -102,
        initiator={"credential": mirror.credential, "key": mirror.key, "provider": mirror.provider},
        responder={"resolver": AllowListResolver([mirror.credential])},
    )
    transcript = run(_UncheckedInitiator(config_i), Responder(config_r))
    failed = failure(transcript.responder_events)
    assert (failed.alert, failed.requirement) == (Alert.AUTHENTICATION_FAILED, "REQ-CRED-007")
    assert error_sent(transcript, "R->I") == (1, failed_info(failed))
    assert not any(isinstance(e, HandshakeCompleted) for e in transcript.responder_events)


def failed_info(failed: HandshakeFailed) -> str:
    """ERR_INFO of the error message a failure sends: "<alert>: <detail>" (D3)."""
    return f"{failed.alert.value}: {failed.detail}"


# -- REQ-HS-022: an error message is never answered with one --------------------------------


@pytest.mark.parametrize(
    ("err_code", "err_info"),
    [(1, "unspecified_error"), (2, -102), (3, True)],
    ids=["err1", "err2", "err3"],
)
def test_responder_in_start_aborts_silently_on_an_error(
    configs: tuple[HandshakeConfig, HandshakeConfig], err_code: int, err_info: cbor.CborValue
) -> None:
    """REQ-HS-022: an error instead of message_1 ends the session, reported, with no reply."""
    responder, sent, events = responder_after(encode_error_message(err_code, err_info), configs[1])
    assert sent == []
    assert responder.state is State.FAILED
    assert ErrorReceived(err_code, err_info) in events
    assert failure(events).alert is Alert.UNSPECIFIED_ERROR


def test_responder_in_start_aborts_silently_on_a_malformed_error(
    configs: tuple[HandshakeConfig, HandshakeConfig],
) -> None:
    """REQ-HS-022/023: ERR_CODE 1 with a non-text ERR_INFO is a decode_error, still no reply."""
    _, sent, events = responder_after(encode_error_message(1, 7), configs[1])
    assert sent == []
    assert failure(events).alert is Alert.DECODE_ERROR


def test_initiator_not_yet_started_does_not_answer_an_error(
    configs: tuple[HandshakeConfig, HandshakeConfig],
) -> None:
    """REQ-HS-022: an error where no transition exists fails the session without a reply."""
    initiator = Initiator(configs[0])
    initiator.receive(encode_error_message(1, "unspecified_error"), now=0.0)
    assert initiator.data_to_send() == []
    assert initiator.state is State.FAILED
    assert failure(drain(initiator)).alert is Alert.UNEXPECTED_MESSAGE
