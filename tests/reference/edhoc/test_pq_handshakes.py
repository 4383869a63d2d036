"""Full in-memory handshakes for every D2 suite: method 0 (kid and by-value credentials) and PSK.

Both sides must derive the same PRK_out, exporter output and OSCORE secrets,
and authenticate the peer's credential. Falcon suites reuse one cached key
pair per algorithm (see conftest); Falcon-512 runs in the default suite once,
the other Falcon suites are marked slow.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from pqiot.reference import suites
from pqiot.reference.crypto.rng import ShakeRng
from pqiot.reference.edhoc import (
    AllowListResolver,
    HandshakeCompleted,
    HandshakeConfig,
    Initiator,
    PeerCredentialAccepted,
    PskEntry,
    Responder,
    State,
    StaticPskStore,
)

from .conftest import IdentityFactory, Transcript, run

FAST_METHOD_0 = [-101, -102, -103, -104, -105, -106, -107]
FALCON_DEFAULT = [-109]
FALCON_SLOW = [-108, -110]
KEM_SUITES = [s.id for s in suites.all_suites() if s.is_kem]


def method_0_configs(
    identities: IdentityFactory,
    suite_id: int,
    *,
    by_value: bool = False,
    tofu: bool = False,
    message_4: bool = False,
    **overrides: Any,
) -> tuple[HandshakeConfig, HandshakeConfig]:
    alg = suites.get(suite_id).signature_alg
    alice = identities.make(alg, "initiator", b"\x01I")
    bob = identities.make(alg, "responder", b"\x02R")
    # With by-value credentials the peers know nothing in advance (TOFU); otherwise they allow-list each other.
    known_to_responder = [] if by_value else [alice.credential]
    known_to_initiator = [] if by_value else [bob.credential]
    common = {
        "method": 0,
        "suites": [suite_id],
        "send_credential_by_value": by_value,
        "message_4": message_4,
    }
    initiator = dict(
        role="initiator",
        credential=alice.credential,
        key=alice.key,
        provider=alice.provider,
        resolver=AllowListResolver(known_to_initiator, tofu=tofu),
        rng=ShakeRng(b"initiator"),
        **common,
    )
    responder = dict(
        role="responder",
        credential=bob.credential,
        key=bob.key,
        provider=bob.provider,
        resolver=AllowListResolver(known_to_responder, tofu=tofu),
        rng=ShakeRng(b"responder"),
        **common,
    )
    initiator.update(overrides.get("initiator", {}))
    responder.update(overrides.get("responder", {}))
    return HandshakeConfig(**initiator), HandshakeConfig(**responder)  # type: ignore[arg-type]


def completed(transcript: Transcript) -> tuple[HandshakeCompleted, HandshakeCompleted]:
    done_i = [e for e in transcript.initiator_events if isinstance(e, HandshakeCompleted)]
    done_r = [e for e in transcript.responder_events if isinstance(e, HandshakeCompleted)]
    assert len(done_i) == 1 and len(done_r) == 1, (
        transcript.initiator_events,
        transcript.responder_events,
    )
    return done_i[0], done_r[0]


def assert_same_session(
    done_i: HandshakeCompleted, done_r: HandshakeCompleted, suite_id: int, method: int
) -> None:
    assert (done_i.suite_id, done_r.suite_id, done_i.method, done_r.method) == (
        suite_id,
        suite_id,
        method,
        method,
    )
    assert done_i.prk_out == done_r.prk_out
    assert done_i.prk_exporter == done_r.prk_exporter
    assert done_i.oscore_master_secret() == done_r.oscore_master_secret()
    assert len(done_i.oscore_master_secret()) == suites.get(suite_id).application_aead().key_size
    assert done_i.oscore_master_salt() == done_r.oscore_master_salt()
    assert (done_i.c_i, done_i.c_r) == (done_r.c_i, done_r.c_r) and done_i.c_i != done_i.c_r
    assert done_i.key_update(b"n" * 16).prk_out == done_r.key_update(b"n" * 16).prk_out


def _method_0_handshake(
    identities: IdentityFactory, suite_id: int, message_4: bool = False
) -> Transcript:
    config_i, config_r = method_0_configs(identities, suite_id, message_4=message_4)
    transcript = run(Initiator(config_i), Responder(config_r))
    done_i, done_r = completed(transcript)
    assert_same_session(done_i, done_r, suite_id, 0)
    assert (
        done_i.peer_credential == config_r.credential
        and done_r.peer_credential == config_i.credential
    )
    assert config_r.credential is not None
    accepted = PeerCredentialAccepted(config_r.credential, by_value=False)
    assert accepted in transcript.initiator_events
    return transcript


@pytest.mark.parametrize("suite_id", FAST_METHOD_0)
def test_method_0_with_kid_credentials(identities: IdentityFactory, suite_id: int) -> None:
    """REQ D2/D3: every standard/experimental suite completes a signature handshake, same keys both sides."""
    transcript = _method_0_handshake(identities, suite_id)
    assert len(transcript.wire) == 3  # message_1..3, no message_4 unless asked for


@pytest.mark.parametrize("suite_id", FALCON_DEFAULT)
def test_method_0_with_falcon_512(identities: IdentityFactory, suite_id: int) -> None:
    """Falcon-512 (padded 666-byte signatures) in G_X/G_Y suite -109; timing is reported with -s."""
    start = time.perf_counter()
    transcript = _method_0_handshake(identities, suite_id, message_4=True)
    print(
        f"suite {suite_id}: handshake {time.perf_counter() - start:.1f} s, keygen {identities.keygen_seconds}"
    )
    assert [len(d) for _, d in transcript.wire][2] > 666  # message_3 carries the padded signature


@pytest.mark.slow
@pytest.mark.parametrize("suite_id", FALCON_SLOW)
def test_method_0_with_slow_falcon_suites(identities: IdentityFactory, suite_id: int) -> None:
    _method_0_handshake(identities, suite_id)


def test_message_4_is_sent_when_configured(identities: IdentityFactory) -> None:
    """D3: message_4 is optional in method 0; with the policy flag both sides complete only after it."""
    transcript = _method_0_handshake(identities, -102, message_4=True)
    assert [direction for direction, _ in transcript.wire] == ["I->R", "R->I", "I->R", "R->I"]


@pytest.mark.parametrize("suite_id", [-102, -107])
def test_credentials_by_value_are_accepted_with_tofu(
    identities: IdentityFactory, suite_id: int
) -> None:
    """D3/D6: ID_CRED_x = {14: CCS}; a TOFU resolver accepts it and the event says by_value=True."""
    config_i, config_r = method_0_configs(identities, suite_id, by_value=True, tofu=True)
    transcript = run(Initiator(config_i), Responder(config_r))
    done_i, done_r = completed(transcript)
    assert_same_session(done_i, done_r, suite_id, 0)
    assert config_i.credential is not None and config_r.credential is not None
    assert PeerCredentialAccepted(config_r.credential, by_value=True) in transcript.initiator_events
    assert PeerCredentialAccepted(config_i.credential, by_value=True) in transcript.responder_events


def test_handshake_sizes_are_in_the_expected_range(identities: IdentityFactory) -> None:
    """protocol-brief §4: ML-KEM-512 + ML-DSA-44 with kid credentials is about 6.4 kB on the wire."""
    config_i, config_r = method_0_configs(identities, -101)
    transcript = run(Initiator(config_i), Responder(config_r))
    total = sum(len(d) for _, d in transcript.wire)
    assert 6000 < total < 6800, total


# -- PSK method (draft-ietf-lake-edhoc-psk) ------------------------------------------------

CRED_I_PSK = bytes.fromhex(
    "a2026b696e69746961746f722e6578"
)  # {2: "initiator.ex"}, a CCS-like identity
CRED_R_PSK = bytes.fromhex("a2026b726573706f6e6465722e6578")  # {2: "responder.ex"}


def psk_configs(
    suite_id: int, entry: PskEntry, store_entries: list[PskEntry] | None = None
) -> tuple[HandshakeConfig, HandshakeConfig]:
    initiator = HandshakeConfig(
        role="initiator", method=4, suites=[suite_id], psk=entry, rng=ShakeRng(b"i-psk")
    )
    store = StaticPskStore(store_entries if store_entries is not None else [entry])
    responder = HandshakeConfig(
        role="responder", method=4, suites=[suite_id], psk_store=store, rng=ShakeRng(b"r-psk")
    )
    return initiator, responder


EXTERNAL_PSK = PskEntry({4: b"\x0f\x10"}, bytes(range(32)), CRED_I_PSK, CRED_R_PSK)


@pytest.mark.parametrize("suite_id", KEM_SUITES)
def test_psk_method_for_every_kem_suite(suite_id: int) -> None:
    """D3: method 4 works with every PQ suite; message_4 is always sent; no signatures at all."""
    config_i, config_r = psk_configs(suite_id, EXTERNAL_PSK)
    transcript = run(Initiator(config_i), Responder(config_r))
    done_i, done_r = completed(transcript)
    assert_same_session(done_i, done_r, suite_id, 4)
    assert len(transcript.wire) == 4 and done_i.peer_credential is None


def test_psk_with_the_wrong_key_fails_authentication() -> None:
    wrong = PskEntry(EXTERNAL_PSK.id_cred_psk, bytes(32), CRED_I_PSK, CRED_R_PSK)
    config_i, config_r = psk_configs(-102, wrong, [EXTERNAL_PSK])
    transcript = run(Initiator(config_i), Responder(config_r))
    assert [type(e).__name__ for e in transcript.responder_events] == ["HandshakeFailed"]
    assert transcript.responder_events[0].alert.value == "authentication_failed"  # type: ignore[union-attr]


def test_psk_resumption_chain() -> None:
    """draft-ietf-lake-edhoc-psk §6: rPSK/rKID from the exporter; each resumption yields fresh keys."""
    config_i, config_r = psk_configs(-102, EXTERNAL_PSK)
    previous = completed(run(Initiator(config_i), Responder(config_r)))
    seen = {previous[0].prk_out}
    for _ in range(2):
        resumption_i, resumption_r = previous[0].resumption_psk(), previous[1].resumption_psk()
        assert (
            resumption_i == resumption_r
            and len(resumption_i.psk) == 32
            and resumption_i.suite == -102
        )
        config_i, config_r = psk_configs(-102, resumption_i, [resumption_r])
        previous = completed(run(Initiator(config_i), Responder(config_r)))
        assert_same_session(*previous, -102, 4)
        assert previous[0].prk_out not in seen
        seen.add(previous[0].prk_out)


def test_resumption_psk_is_refused_with_another_suite() -> None:
    """draft-ietf-lake-edhoc-psk §6.1: an rPSK is bound to the suite of the session it came from."""
    config_i, config_r = psk_configs(-102, EXTERNAL_PSK)
    first_i, _ = completed(run(Initiator(config_i), Responder(config_r)))
    config_i, config_r = psk_configs(-105, first_i.resumption_psk())
    transcript = run(Initiator(config_i), Responder(config_r))
    assert transcript.responders[0].state is State.FAILED
    assert transcript.responder_events[-1].alert.value == "authentication_failed"  # type: ignore[union-attr]
    assert not [e for e in transcript.initiator_events if isinstance(e, HandshakeCompleted)]


def test_resumption_after_a_signature_session(identities: IdentityFactory) -> None:
    """A method-0 session also seeds resumption; the rPSK carries that session's CRED_I / CRED_R."""
    config_i, config_r = method_0_configs(identities, -102)
    done_i, done_r = completed(run(Initiator(config_i), Responder(config_r)))
    rpsk_i, rpsk_r = done_i.resumption_psk(), done_r.resumption_psk()
    assert rpsk_i == rpsk_r
    assert config_i.credential is not None and config_r.credential is not None
    assert (rpsk_i.cred_i, rpsk_i.cred_r) == (config_i.credential.cred, config_r.credential.cred)
    psk_i, psk_r = psk_configs(-102, rpsk_i, [rpsk_r])
    assert_same_session(*completed(run(Initiator(psk_i), Responder(psk_r))), -102, 4)
