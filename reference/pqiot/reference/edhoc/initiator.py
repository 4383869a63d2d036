r"""The EDHOC Initiator (RFC 9528 §5.2.1, §5.3.3, §5.4.2, §5.5.3; PSK: draft-ietf-lake-edhoc-psk).

Transitions (everything else is ``unexpected_message``)::

    START          --start()------------> WAIT_MESSAGE_2   send message_1
    WAIT_MESSAGE_2 --message_2----------> WAIT_MESSAGE_4   send message_3 (message_4 expected)
                                      \-> COMPLETED        send message_3
    WAIT_MESSAGE_2 --error ERR_CODE 2---> WAIT_MESSAGE_2   send message_1 with a new suite (§6.3.2),
                                                           once per attempt (REQ-HS-030)
    WAIT_MESSAGE_2 --error--------------> FAILED
    WAIT_MESSAGE_4 --message_4----------> COMPLETED
    WAIT_MESSAGE_4 --error--------------> FAILED
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pqiot.reference import cbor
from pqiot.reference.cose import enc_structure0
from pqiot.reference.credentials import Credential
from pqiot.reference.edhoc.authentication import (
    check_credential_fits,
    mac_context,
    mac_length,
    signature_payload,
    verify_signature_or_mac,
)
from pqiot.reference.edhoc.config import HandshakeConfig
from pqiot.reference.edhoc.events import HandshakeCompleted, SuitesRejected
from pqiot.reference.edhoc.key_exchange import (
    ephemeral_static_dh,
    g_y_length,
    initiator_key_share,
    initiator_shared_secret,
)
from pqiot.reference.edhoc.key_schedule import KeySchedule, SessionSecrets
from pqiot.reference.edhoc.machine import Handshake, Input, State, draw_connection_id, xor
from pqiot.reference.edhoc.messages import (
    ERR_CODE_WRONG_SELECTED_CIPHER_SUITE,
    Message1,
    decode_message_2,
    decode_plaintext_2,
    decode_plaintext_2a,
    decode_plaintext_4,
    decode_single_bstr,
    encode_message_1,
    encode_plaintext_3,
    encode_plaintext_3a,
)
from pqiot.reference.edhoc.wire import EadItem, encode_ead
from pqiot.reference.errors import Alert, DecodeError, InvalidTag, ProtocolError
from pqiot.reference.oscore.context import max_id_length
from pqiot.reference.security_provider import KeyRef
from pqiot.reference.suites import METHOD_PSK, METHOD_SIGNATURE, METHOD_STATIC_DH, CipherSuite

__all__ = ["Initiator"]


@dataclass
class _Session:
    """What the initiator remembers between messages (one attempt)."""

    suite: CipherSuite
    schedule: KeySchedule
    c_i: bytes
    message_1: bytes
    secret: bytes = field(repr=False)
    g_y: bytes = b""
    c_r: bytes = b""
    peer: Credential | None = None
    cred_i: bytes = b""
    cred_r: bytes = b""
    th_4: bytes = b""
    prk_4e3m: bytes = field(repr=False, default=b"")
    ead: tuple[EadItem, ...] = ()


class Initiator(Handshake):
    def __init__(self, config: HandshakeConfig) -> None:
        if config.role != "initiator":
            raise ValueError("Initiator needs a HandshakeConfig with role='initiator'")
        super().__init__(config)
        self._attempts = 0
        self._selected_index = 0
        self._session: _Session | None = None

    @property
    def peer_connection_id(self) -> bytes | None:
        """C_R as learnt from message_2 (None before it): bindings address message_3 with it."""
        if self._session is None or not self._session.c_r:
            return None
        return self._session.c_r

    def start(self, now: float) -> None:
        """Send message_1 with the most preferred suite."""
        if self._state is not State.START:
            raise RuntimeError(
                f"start() is only valid once, in state start (now {self._state.value})"
            )
        try:
            self._send_message_1()
        except ProtocolError as exc:
            self._fail(exc, send_error=False)

    # -- message_1 -----------------------------------------------------------------

    def _send_message_1(self) -> None:
        config = self.config
        preferences = config.cipher_suites
        suite = preferences[self._selected_index]
        # SUITES_I: every suite preferred over the selected one, then the selected one (§5.2.2).
        suites_i = tuple(s.id for s in preferences[: self._selected_index + 1])
        g_x, secret = initiator_key_share(suite, config.rng)
        if self._attempts > 0 and config.retry_connection_id is not None:
            c_i = config.retry_connection_id
        elif config.connection_id is not None:
            c_i = config.connection_id
        else:
            c_i = draw_connection_id(config.rng)
        longest = max_id_length(suite.application_aead())
        if len(c_i) > longest:  # REQ-HS-003: our C_I becomes the peer's OSCORE Sender ID
            raise ValueError(
                f"connection identifier {c_i.hex()} is {len(c_i)} bytes; suite {suite.id} "
                f"allows at most {longest} (REQ-HS-003): configure a shorter one"
            )
        message_1 = encode_message_1(Message1(config.method, suites_i, g_x, c_i, config.ead_1))
        self._session = _Session(suite, KeySchedule(suite.hash()), c_i, message_1, secret)
        self._attempts += 1
        self._record("G_X", g_x)
        self._record("message_1", message_1)
        self._send(message_1)
        self._goto(State.WAIT_MESSAGE_2)

    # -- errors --------------------------------------------------------------------

    def _drop_keys(self) -> None:
        self._session = None

    def _check_c_r(self, s: _Session, c_r: bytes) -> None:
        """C_R becomes our OSCORE Sender ID: distinct from C_I and short enough (§5.3)."""
        if c_r == s.c_i:
            raise DecodeError(f"C_R equals C_I ({c_r.hex()})", "REQ-HS-009")
        longest = max_id_length(s.suite.application_aead())
        if len(c_r) > longest:
            raise DecodeError(
                f"C_R is {len(c_r)} bytes, suite {s.suite.id} allows at most {longest}",
                "REQ-HS-003",
            )

    def _on_error(self, data: bytes) -> None:
        error = self._decode_peer_error(data)
        if error is None:
            return
        if (
            error.err_code != ERR_CODE_WRONG_SELECTED_CIPHER_SUITE
            or self._state is not State.WAIT_MESSAGE_2
        ):
            self._on_error_message(error)
            return
        suites_r = error.suites_r
        self._emit(SuitesRejected(suites_r))
        preferences = self.config.cipher_suites
        if self._attempts > 1:
            # REQ-HS-030: our retried message_1 was rejected too; one retry per attempt.
            self._fail(
                ProtocolError(
                    Alert.WRONG_SELECTED_CIPHER_SUITE,
                    f"suite {preferences[self._selected_index].id} of the retried message_1 "
                    f"was rejected as well (responder supports {list(suites_r)})",
                    "REQ-HS-030",
                ),
                send_error=False,
            )
            return
        candidates = [i for i, s in enumerate(preferences) if s.id in suites_r]
        # Retry only towards a less preferred suite than the one just rejected.
        nxt = next((i for i in candidates if i > self._selected_index), None)
        if nxt is None:
            self._fail(
                ProtocolError(
                    Alert.WRONG_SELECTED_CIPHER_SUITE,
                    f"no common suite: we offer {[s.id for s in preferences]}, "
                    f"responder supports {list(suites_r)}",
                    "RFC 9528 §6.3.2",
                ),
                send_error=False,
            )
            return
        self._selected_index = nxt
        self._send_message_1()

    # -- message_2 -> message_3 ----------------------------------------------------------

    def _on_message_2(self, data: bytes) -> None:
        s = self._require_session()
        suite, ks, config = s.suite, s.schedule, self.config
        g_y, ciphertext_2 = decode_message_2(data, g_y_length(suite))
        g_xy = initiator_shared_secret(suite, s.secret, g_y)
        s.g_y = g_y
        th_2 = ks.th_2(g_y, s.message_1)
        prk_2e = ks.prk_2e(th_2, g_xy)
        keystream_2 = ks.keystream_2(prk_2e, th_2, len(ciphertext_2))
        plaintext_2 = xor(ciphertext_2, keystream_2)
        self._record_many(
            H_message_1=ks.hash(s.message_1),
            TH_2=th_2,
            G_Y=g_y,
            G_XY=g_xy,
            PRK_2e=prk_2e,
            KEYSTREAM_2=keystream_2,
            CIPHERTEXT_2=ciphertext_2,
            PLAINTEXT_2=plaintext_2,
            message_2=data,
        )
        if config.method == METHOD_PSK:
            self._psk_message_3(s, th_2, prk_2e, plaintext_2)
            return
        p2 = decode_plaintext_2(plaintext_2)
        self._check_c_r(s, p2.c_r)
        s.c_r = p2.c_r
        ead_2 = self._check_ead(p2.ead_2, "EAD_2")
        peer, by_value = self._peer_credential(p2.id_cred_r)
        check_credential_fits(config.method, suite, peer)
        if config.method == METHOD_STATIC_DH:
            g_rx = ephemeral_static_dh(suite, s.secret, peer.public_key)
            salt_3e2m = ks.salt_3e2m(prk_2e, th_2)
            prk_3e2m = ks.prk_3e2m(salt_3e2m, g_rx)
            self._record_many(G_RX=g_rx, SALT_3e2m=salt_3e2m)
        else:
            prk_3e2m = prk_2e
        ead_2_bytes = encode_ead(p2.ead_2)
        context_2 = mac_context(p2.id_cred_r, th_2, peer.cred, ead_2_bytes, c_r=p2.c_r)
        mac_2 = ks.mac_2(prk_3e2m, context_2, mac_length(config.method, suite, ks.hash_length))
        payload = signature_payload(p2.id_cred_r, th_2, peer.cred, ead_2_bytes, mac_2)
        self._record_many(
            PRK_3e2m=prk_3e2m,
            context_2=context_2,
            MAC_2=mac_2,
            Signature_or_MAC_2=p2.signature_or_mac_2,
        )
        verify_signature_or_mac(
            config.method, suite, peer, p2.signature_or_mac_2, mac_2, payload, "message_2"
        )
        s.peer, s.ead = peer, ead_2
        self._accept_peer(peer, by_value)
        th_3 = ks.th_3(th_2, plaintext_2, peer.cred)
        self._send_message_3(s, th_3, prk_3e2m)

    def _send_message_3(self, s: _Session, th_3: bytes, prk_3e2m: bytes) -> None:
        suite, ks, config = s.suite, s.schedule, self.config
        own = config.credential
        provider, key = config.provider, config.key
        if own is None or provider is None or key is None:  # guarded by HandshakeConfig validation
            raise ProtocolError(
                Alert.INTERNAL_ERROR, "own credential, key and provider are required"
            )
        if config.method == METHOD_STATIC_DH:
            salt_4e3m = ks.salt_4e3m(prk_3e2m, th_3)
            g_iy = provider.dh(key, s.g_y)
            prk_4e3m = ks.prk_4e3m(salt_4e3m, g_iy)
            self._record_many(SALT_4e3m=salt_4e3m, G_IY=g_iy)
        else:
            prk_4e3m = prk_3e2m
        id_cred_i = self._own_id_cred()
        ead_3 = encode_ead(config.ead_3)
        context_3 = mac_context(id_cred_i, th_3, own.cred, ead_3)
        mac_3 = ks.mac_3(prk_4e3m, context_3, mac_length(config.method, suite, ks.hash_length))
        if config.method == METHOD_SIGNATURE:
            # REQ-SP-003: the key is asked for the suite's algorithm; one bound to another
            # is refused by the provider, and the handshake ends in internal_error.
            signature_or_mac_3 = provider.sign(
                KeyRef(key.label, suite.signature_alg),
                signature_payload(id_cred_i, th_3, own.cred, ead_3, mac_3),
            )
        else:
            signature_or_mac_3 = mac_3
        plaintext_3 = encode_plaintext_3(id_cred_i, signature_or_mac_3, ead_3)
        aead = suite.aead()
        k_3, iv_3 = ks.k_3(prk_3e2m, th_3, aead.key_size), ks.iv_3(prk_3e2m, th_3, aead.nonce_size)
        a_3 = enc_structure0(b"", th_3)
        ciphertext_3 = aead.seal(k_3, iv_3, plaintext_3, a_3)
        message_3 = cbor.encode(ciphertext_3)
        th_4 = ks.th_4(th_3, plaintext_3, own.cred)
        self._record_many(
            TH_3=th_3,
            PRK_4e3m=prk_4e3m,
            context_3=context_3,
            MAC_3=mac_3,
            Signature_or_MAC_3=signature_or_mac_3,
            PLAINTEXT_3=plaintext_3,
            A_3=a_3,
            K_3=k_3,
            IV_3=iv_3,
            CIPHERTEXT_3=ciphertext_3,
            message_3=message_3,
            TH_4=th_4,
        )
        s.cred_i, s.cred_r = own.cred, (s.peer.cred if s.peer else b"")
        self._after_message_3(s, message_3, th_4, prk_4e3m)

    def _psk_message_3(self, s: _Session, th_2: bytes, prk_2e: bytes, plaintext_2a: bytes) -> None:
        """draft-ietf-lake-edhoc-psk §5.2.3, §5.3.2: no MACs; ID_CRED_PSK + an AEAD layer."""
        suite, ks, config = s.suite, s.schedule, self.config
        entry = config.psk
        if entry is None:  # guarded by HandshakeConfig validation
            raise ProtocolError(Alert.INTERNAL_ERROR, "no PSK configured")
        c_r, ead_2 = decode_plaintext_2a(plaintext_2a)
        self._check_c_r(s, c_r)
        s.c_r, s.ead = c_r, self._check_ead(ead_2, "EAD_2")
        prk_3e2m = prk_2e
        th_3 = ks.th_3(th_2, plaintext_2a, b"")
        salt_4e3m = ks.salt_4e3m(prk_3e2m, th_3)
        prk_4e3m = ks.prk_4e3m(salt_4e3m, entry.psk)
        aead = suite.aead()
        k_3, iv_3 = ks.k_3(prk_4e3m, th_3, aead.key_size), ks.iv_3(prk_4e3m, th_3, aead.nonce_size)
        id_cred_psk = cbor.encode(entry.id_cred_psk)
        a_3 = enc_structure0(b"", id_cred_psk + cbor.encode(th_3) + entry.cred_i + entry.cred_r)
        plaintext_3b = encode_ead(config.ead_3)
        ciphertext_3b = aead.seal(k_3, iv_3, plaintext_3b, a_3)
        plaintext_3a = encode_plaintext_3a(dict(entry.id_cred_psk), ciphertext_3b)
        keystream_3a = ks.keystream_3a(prk_3e2m, th_3, len(plaintext_3a))
        ciphertext_3a = xor(plaintext_3a, keystream_3a)
        message_3 = cbor.encode(ciphertext_3a)
        th_4 = ks.th_4_psk(th_3, id_cred_psk, plaintext_3b, entry.cred_i, entry.cred_r)
        self._record_many(
            PLAINTEXT_2A=plaintext_2a,
            PRK_3e2m=prk_3e2m,
            TH_3=th_3,
            SALT_4e3m=salt_4e3m,
            PRK_4e3m=prk_4e3m,
            K_3=k_3,
            IV_3=iv_3,
            A_3=a_3,
            PLAINTEXT_3B=plaintext_3b,
            CIPHERTEXT_3B=ciphertext_3b,
            PLAINTEXT_3A=plaintext_3a,
            KEYSTREAM_3A=keystream_3a,
            CIPHERTEXT_3A=ciphertext_3a,
            message_3=message_3,
            TH_4=th_4,
        )
        s.cred_i, s.cred_r = entry.cred_i, entry.cred_r
        self._after_message_3(s, message_3, th_4, prk_4e3m)

    def _after_message_3(self, s: _Session, message_3: bytes, th_4: bytes, prk_4e3m: bytes) -> None:
        s.th_4, s.prk_4e3m = th_4, prk_4e3m
        self._send(message_3)
        if self.config.expects_message_4:
            self._goto(State.WAIT_MESSAGE_4)
        else:
            self._complete(s)

    # -- message_4 ---------------------------------------------------------------------

    def _on_message_4(self, data: bytes) -> None:
        s = self._require_session()
        suite, ks = s.suite, s.schedule
        ciphertext_4 = decode_single_bstr(data, "CIPHERTEXT_4")
        aead = suite.aead()
        k_4, iv_4 = (
            ks.k_4(s.prk_4e3m, s.th_4, aead.key_size),
            ks.iv_4(s.prk_4e3m, s.th_4, aead.nonce_size),
        )
        a_4 = enc_structure0(b"", s.th_4)
        self._record_many(K_4=k_4, IV_4=iv_4, A_4=a_4, CIPHERTEXT_4=ciphertext_4, message_4=data)
        try:
            plaintext_4 = aead.open(k_4, iv_4, ciphertext_4, a_4)
        except InvalidTag:
            # In the PSK method message_4 is what authenticates the responder.
            alert = (
                Alert.AUTHENTICATION_FAILED
                if self.config.method == METHOD_PSK
                else Alert.DECRYPT_FAILED
            )
            raise ProtocolError(alert, "message_4 does not decrypt") from None
        self._record("PLAINTEXT_4", plaintext_4)
        s.ead = s.ead + self._check_ead(decode_plaintext_4(plaintext_4), "EAD_4")
        self._complete(s)

    # -- completion ---------------------------------------------------------------------

    def _complete(self, s: _Session) -> None:
        secrets = SessionSecrets(s.schedule, s.schedule.prk_out(s.prk_4e3m, s.th_4))
        event = HandshakeCompleted(
            suite_id=s.suite.id,
            method=self.config.method,
            c_i=s.c_i,
            c_r=s.c_r,
            peer_credential=s.peer,
            secrets=secrets,
            cred_i=s.cred_i,
            cred_r=s.cred_r,
            app_key_length=s.suite.application_aead().key_size,
            edhoc_key_length=s.suite.aead().key_size,
            ead_received=s.ead,
        )
        if self.config.trace is not None:  # derived only for the trace (vectors, tests)
            self._record_many(
                PRK_out=secrets.prk_out,
                PRK_exporter=secrets.prk_exporter,
                OSCORE_master_secret=event.oscore_master_secret(),
                OSCORE_master_salt=event.oscore_master_salt(),
            )
        self._emit(event)
        self._goto(State.COMPLETED)
        self._session = None

    def _require_session(self) -> _Session:
        if self._session is None:
            raise ProtocolError(Alert.INTERNAL_ERROR, "no handshake in progress")
        return self._session


Initiator.TRANSITIONS = {
    (State.WAIT_MESSAGE_2, Input.MESSAGE): Initiator._on_message_2,  # type: ignore[dict-item]
    (State.WAIT_MESSAGE_2, Input.ERROR): Initiator._on_error,  # type: ignore[dict-item]
    (State.WAIT_MESSAGE_4, Input.MESSAGE): Initiator._on_message_4,  # type: ignore[dict-item]
    (State.WAIT_MESSAGE_4, Input.ERROR): Initiator._on_error,  # type: ignore[dict-item]
}
