r"""The EDHOC Responder (RFC 9528 §5.2.3, §5.3.2, §5.4.3, §5.5.2; PSK: draft-ietf-lake-edhoc-psk).

Transitions (everything else is ``unexpected_message``)::

    START          --message_1--> WAIT_MESSAGE_3   send message_2
                               \-> FAILED          send ERR_CODE 2 + SUITES_R (suite not acceptable)
    WAIT_MESSAGE_3 --message_3--> COMPLETED        send message_4 when configured (always in PSK)
    WAIT_MESSAGE_3 --error------> FAILED
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
from pqiot.reference.edhoc.events import HandshakeCompleted, HandshakeFailed
from pqiot.reference.edhoc.key_exchange import ephemeral_static_dh, g_x_length, responder_key_share
from pqiot.reference.edhoc.key_schedule import KeySchedule, SessionSecrets
from pqiot.reference.edhoc.machine import Handshake, Input, State, draw_connection_id, xor
from pqiot.reference.edhoc.messages import (
    ERR_CODE_WRONG_SELECTED_CIPHER_SUITE,
    decode_message_1,
    decode_plaintext_3,
    decode_plaintext_3a,
    decode_plaintext_4,
    decode_single_bstr,
    encode_error_message,
    encode_message_2,
    encode_plaintext_2,
    encode_plaintext_2a,
    require_length,
    suites_r_info,
)
from pqiot.reference.edhoc.psk import PskEntry
from pqiot.reference.edhoc.wire import EadItem, encode_ead
from pqiot.reference.errors import Alert, DecodeError, InvalidTag, ProtocolError
from pqiot.reference.oscore.context import max_id_length
from pqiot.reference.security_provider import KeyRef
from pqiot.reference.suites import METHOD_PSK, METHOD_SIGNATURE, METHOD_STATIC_DH, CipherSuite

__all__ = ["Responder"]


@dataclass
class _Session:
    suite: CipherSuite
    schedule: KeySchedule
    c_i: bytes
    c_r: bytes
    th_3: bytes = b""
    prk_3e2m: bytes = field(repr=False, default=b"")
    dh_secret: bytes | None = field(repr=False, default=None)
    ead: tuple[EadItem, ...] = ()


class Responder(Handshake):
    def __init__(self, config: HandshakeConfig) -> None:
        if config.role != "responder":
            raise ValueError("Responder needs a HandshakeConfig with role='responder'")
        super().__init__(config)
        self._session: _Session | None = None

    def _classify(self, data: bytes) -> Input:
        # Before message_1 anything but an error message (two items, the first an
        # int: RFC 9528 §6) is a possibly malformed message_1, answered with an
        # error; an error message is never answered (REQ-HS-022).
        if self._state is State.START:
            try:
                kind = super()._classify(data)
            except DecodeError:
                return Input.MESSAGE_1  # decode_message_1 says precisely what is wrong
            return Input.ERROR if kind is Input.ERROR else Input.MESSAGE_1
        return super()._classify(data)

    # -- message_1 -> message_2 --------------------------------------------------------

    def _on_message_1(self, data: bytes) -> None:
        config = self.config
        if config.admit is not None and not config.admit():
            # REQ-HS-036: nothing of this message_1 is kept, not even parsed.
            raise ProtocolError(Alert.UNSPECIFIED_ERROR, "busy", "REQ-HS-036")
        message_1 = decode_message_1(data)
        supported = {s.id: s for s in config.cipher_suites}
        selected = message_1.selected_suite
        preferred_but_unselected = [s for s in message_1.suites_i[:-1] if s in supported]
        if selected not in supported or preferred_but_unselected:
            # RFC 9528 §6.3.1: reject with our suites; a hidden preference is the downgrade signal.
            self._send(
                encode_error_message(
                    ERR_CODE_WRONG_SELECTED_CIPHER_SUITE, suites_r_info(list(supported))
                )
            )
            detail = (
                f"selected suite {selected} is not supported"
                if selected not in supported
                else f"suite(s) {preferred_but_unselected} preferred by the initiator are supported"
            )
            self._emit(
                HandshakeFailed(Alert.WRONG_SELECTED_CIPHER_SUITE, detail, "RFC 9528 §6.3.1")
            )
            self._goto(State.FAILED)
            return
        suite = supported[selected]
        if message_1.method != config.method or message_1.method not in suite.allowed_methods:
            raise ProtocolError(
                Alert.UNSUPPORTED_METHOD,
                f"method {message_1.method} with suite {suite.id}; "
                f"this responder runs method {config.method}",
                "D3",
            )
        require_length(message_1.g_x, g_x_length(suite), "G_X")
        longest = max_id_length(suite.application_aead())
        if len(message_1.c_i) > longest:
            raise DecodeError(
                f"C_I is {len(message_1.c_i)} bytes, suite {suite.id} allows at most {longest}",
                "REQ-HS-003",
            )
        ks = KeySchedule(suite.hash())
        # C_R must differ from C_I: they become the two OSCORE Sender IDs (RFC 9528 §3.3.3).
        c_r = config.connection_id
        if c_r is None or c_r == message_1.c_i:
            c_r = draw_connection_id(config.rng, message_1.c_i)
        # REQ-HS-004 step 6 before step 7: G_X's validity (the ML-KEM modulus check inside
        # the key share) is checked before EAD_1 is looked at.
        share = responder_key_share(suite, message_1.g_x, config.rng)
        ead_1 = self._check_ead(message_1.ead_1, "EAD_1")
        s = _Session(suite, ks, message_1.c_i, c_r, ead=ead_1)
        self._session = s
        s.dh_secret = share.dh_secret
        th_2 = ks.th_2(share.g_y, data)
        prk_2e = ks.prk_2e(th_2, share.g_xy)
        self._record_many(
            message_1=data,
            H_message_1=ks.hash(data),
            G_Y=share.g_y,
            G_XY=share.g_xy,
            TH_2=th_2,
            PRK_2e=prk_2e,
        )
        ead_2 = encode_ead(config.ead_2)
        if config.method == METHOD_PSK:
            prk_3e2m = prk_2e
            plaintext_2 = encode_plaintext_2a(c_r, ead_2)
            self._record("PLAINTEXT_2A", plaintext_2)
            cred_r = b""
        else:
            prk_3e2m, plaintext_2, cred_r = self._authenticate_2(
                s, message_1.g_x, th_2, prk_2e, ead_2
            )
        keystream_2 = ks.keystream_2(prk_2e, th_2, len(plaintext_2))
        ciphertext_2 = xor(plaintext_2, keystream_2)
        message_2 = encode_message_2(share.g_y, ciphertext_2)
        s.prk_3e2m = prk_3e2m
        s.th_3 = ks.th_3(th_2, plaintext_2, cred_r)
        self._record_many(
            PRK_3e2m=prk_3e2m,
            PLAINTEXT_2=plaintext_2,
            KEYSTREAM_2=keystream_2,
            CIPHERTEXT_2=ciphertext_2,
            message_2=message_2,
            TH_3=s.th_3,
        )
        self._send(message_2)
        self._goto(State.WAIT_MESSAGE_3)

    def _authenticate_2(
        self, s: _Session, g_x: bytes, th_2: bytes, prk_2e: bytes, ead_2: bytes
    ) -> tuple[bytes, bytes, bytes]:
        """PRK_3e2m, PLAINTEXT_2 and CRED_R for the signature and static-DH methods."""
        config, suite, ks = self.config, s.suite, s.schedule
        own, provider, key = config.credential, config.provider, config.key
        if own is None or provider is None or key is None:  # guarded by HandshakeConfig validation
            raise ProtocolError(
                Alert.INTERNAL_ERROR, "own credential, key and provider are required"
            )
        if config.method == METHOD_STATIC_DH:
            salt_3e2m = ks.salt_3e2m(prk_2e, th_2)
            g_rx = provider.dh(key, g_x)
            prk_3e2m = ks.prk_3e2m(salt_3e2m, g_rx)
            self._record_many(SALT_3e2m=salt_3e2m, G_RX=g_rx)
        else:
            prk_3e2m = prk_2e
        id_cred_r = self._own_id_cred()
        context_2 = mac_context(id_cred_r, th_2, own.cred, ead_2, c_r=s.c_r)
        mac_2 = ks.mac_2(prk_3e2m, context_2, mac_length(config.method, suite, ks.hash_length))
        if config.method == METHOD_SIGNATURE:
            # REQ-SP-003: the key is asked for the suite's algorithm; one bound to another
            # is refused by the provider, and the handshake ends in internal_error.
            signature_or_mac_2 = provider.sign(
                KeyRef(key.label, suite.signature_alg),
                signature_payload(id_cred_r, th_2, own.cred, ead_2, mac_2),
            )
        else:
            signature_or_mac_2 = mac_2
        self._record_many(context_2=context_2, MAC_2=mac_2, Signature_or_MAC_2=signature_or_mac_2)
        return prk_3e2m, encode_plaintext_2(s.c_r, id_cred_r, signature_or_mac_2, ead_2), own.cred

    # -- message_3 -> (message_4) --------------------------------------------------------

    def _on_message_3(self, data: bytes) -> None:
        s = self._require_session()
        if self.config.method == METHOD_PSK:
            self._on_psk_message_3(s, data)
            return
        config, suite, ks = self.config, s.suite, s.schedule
        ciphertext_3 = decode_single_bstr(data, "CIPHERTEXT_3")
        aead = suite.aead()
        k_3, iv_3 = (
            ks.k_3(s.prk_3e2m, s.th_3, aead.key_size),
            ks.iv_3(s.prk_3e2m, s.th_3, aead.nonce_size),
        )
        a_3 = enc_structure0(b"", s.th_3)
        self._record_many(message_3=data, CIPHERTEXT_3=ciphertext_3, K_3=k_3, IV_3=iv_3, A_3=a_3)
        try:
            plaintext_3 = aead.open(k_3, iv_3, ciphertext_3, a_3)
        except InvalidTag:
            raise ProtocolError(Alert.DECRYPT_FAILED, "message_3 does not decrypt") from None
        self._record("PLAINTEXT_3", plaintext_3)
        p3 = decode_plaintext_3(plaintext_3)
        ead_3 = self._check_ead(p3.ead_3, "EAD_3")
        peer, by_value = self._peer_credential(p3.id_cred_i)
        check_credential_fits(config.method, suite, peer)
        if config.method == METHOD_STATIC_DH:
            if s.dh_secret is None:
                raise ProtocolError(Alert.INTERNAL_ERROR, "static DH needs the ephemeral DH secret")
            salt_4e3m = ks.salt_4e3m(s.prk_3e2m, s.th_3)
            g_iy = ephemeral_static_dh(suite, s.dh_secret, peer.public_key)
            prk_4e3m = ks.prk_4e3m(salt_4e3m, g_iy)
            self._record_many(SALT_4e3m=salt_4e3m, G_IY=g_iy)
        else:
            prk_4e3m = s.prk_3e2m
        ead_3_bytes = encode_ead(p3.ead_3)
        context_3 = mac_context(p3.id_cred_i, s.th_3, peer.cred, ead_3_bytes)
        mac_3 = ks.mac_3(prk_4e3m, context_3, mac_length(config.method, suite, ks.hash_length))
        payload = signature_payload(p3.id_cred_i, s.th_3, peer.cred, ead_3_bytes, mac_3)
        self._record_many(
            PRK_4e3m=prk_4e3m,
            context_3=context_3,
            MAC_3=mac_3,
            Signature_or_MAC_3=p3.signature_or_mac_3,
        )
        verify_signature_or_mac(
            config.method, suite, peer, p3.signature_or_mac_3, mac_3, payload, "message_3"
        )
        self._accept_peer(peer, by_value)
        s.ead = s.ead + ead_3
        th_4 = ks.th_4(s.th_3, plaintext_3, peer.cred)
        self._finish(
            s,
            th_4,
            prk_4e3m,
            peer,
            cred_i=peer.cred,
            cred_r=self.config.credential.cred if self.config.credential else b"",
        )

    def _on_psk_message_3(self, s: _Session, data: bytes) -> None:
        suite, ks = s.suite, s.schedule
        ciphertext_3a = decode_single_bstr(data, "CIPHERTEXT_3A")
        keystream_3a = ks.keystream_3a(s.prk_3e2m, s.th_3, len(ciphertext_3a))
        plaintext_3a = xor(ciphertext_3a, keystream_3a)
        self._record_many(
            message_3=data,
            CIPHERTEXT_3A=ciphertext_3a,
            KEYSTREAM_3A=keystream_3a,
            PLAINTEXT_3A=plaintext_3a,
        )
        p3a = decode_plaintext_3a(plaintext_3a)
        store = self.config.psk_store
        if store is None:  # guarded by HandshakeConfig validation
            raise ProtocolError(Alert.INTERNAL_ERROR, "no PSK store configured")
        entry = store.lookup(p3a.id_cred_psk)
        self._check_psk_suite(entry, suite)
        salt_4e3m = ks.salt_4e3m(s.prk_3e2m, s.th_3)
        prk_4e3m = ks.prk_4e3m(salt_4e3m, entry.psk)
        aead = suite.aead()
        k_3, iv_3 = (
            ks.k_3(prk_4e3m, s.th_3, aead.key_size),
            ks.iv_3(prk_4e3m, s.th_3, aead.nonce_size),
        )
        id_cred_psk = cbor.encode(p3a.id_cred_psk)
        a_3 = enc_structure0(b"", id_cred_psk + cbor.encode(s.th_3) + entry.cred_i + entry.cred_r)
        self._record_many(
            SALT_4e3m=salt_4e3m,
            PRK_4e3m=prk_4e3m,
            K_3=k_3,
            IV_3=iv_3,
            A_3=a_3,
            CIPHERTEXT_3B=p3a.ciphertext_3b,
        )
        try:
            plaintext_3b = aead.open(k_3, iv_3, p3a.ciphertext_3b, a_3)
        except InvalidTag:
            raise ProtocolError(
                Alert.AUTHENTICATION_FAILED, "message_3 does not decrypt under the PSK"
            ) from None
        self._record("PLAINTEXT_3B", plaintext_3b)
        s.ead = s.ead + self._check_ead(decode_plaintext_4(plaintext_3b, "EAD_3"), "EAD_3")
        th_4 = ks.th_4_psk(s.th_3, id_cred_psk, plaintext_3b, entry.cred_i, entry.cred_r)
        self._finish(s, th_4, prk_4e3m, None, cred_i=entry.cred_i, cred_r=entry.cred_r)

    @staticmethod
    def _check_psk_suite(entry: PskEntry, suite: CipherSuite) -> None:
        """A resumption PSK only works with its own suite (draft-ietf-lake-edhoc-psk §6.1)."""
        if entry.suite is not None and entry.suite != suite.id:
            raise ProtocolError(
                Alert.AUTHENTICATION_FAILED,
                f"resumption PSK from suite {entry.suite} offered with suite {suite.id}",
                "draft-ietf-lake-edhoc-psk §6.1",
            )

    def _finish(
        self,
        s: _Session,
        th_4: bytes,
        prk_4e3m: bytes,
        peer: Credential | None,
        *,
        cred_i: bytes,
        cred_r: bytes,
    ) -> None:
        suite, ks = s.suite, s.schedule
        self._record("TH_4", th_4)
        if self.config.expects_message_4:
            aead = suite.aead()
            k_4, iv_4 = (
                ks.k_4(prk_4e3m, th_4, aead.key_size),
                ks.iv_4(prk_4e3m, th_4, aead.nonce_size),
            )
            a_4 = enc_structure0(b"", th_4)
            plaintext_4 = encode_ead(self.config.ead_4)
            ciphertext_4 = aead.seal(k_4, iv_4, plaintext_4, a_4)
            message_4 = cbor.encode(ciphertext_4)
            self._record_many(
                PLAINTEXT_4=plaintext_4,
                A_4=a_4,
                K_4=k_4,
                IV_4=iv_4,
                CIPHERTEXT_4=ciphertext_4,
                message_4=message_4,
            )
            self._send(message_4)
        secrets = SessionSecrets(ks, ks.prk_out(prk_4e3m, th_4))
        event = HandshakeCompleted(
            suite_id=suite.id,
            method=self.config.method,
            c_i=s.c_i,
            c_r=s.c_r,
            peer_credential=peer,
            secrets=secrets,
            cred_i=cred_i,
            cred_r=cred_r,
            app_key_length=suite.application_aead().key_size,
            edhoc_key_length=suite.aead().key_size,
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

    def _drop_keys(self) -> None:
        self._session = None

    def _on_error(self, data: bytes) -> None:
        error = self._decode_peer_error(data)
        if error is not None:
            self._on_error_message(error)

    def _require_session(self) -> _Session:
        if self._session is None:
            raise ProtocolError(Alert.INTERNAL_ERROR, "no handshake in progress")
        return self._session


Responder.TRANSITIONS = {
    (State.START, Input.MESSAGE_1): Responder._on_message_1,  # type: ignore[dict-item]
    # REQ-HS-022: an error instead of message_1 ends the session without a reply.
    (State.START, Input.ERROR): Responder._on_error,  # type: ignore[dict-item]
    (State.WAIT_MESSAGE_3, Input.MESSAGE): Responder._on_message_3,  # type: ignore[dict-item]
    (State.WAIT_MESSAGE_3, Input.ERROR): Responder._on_error,  # type: ignore[dict-item]
}
