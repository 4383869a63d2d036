"""The EDHOC key schedule (RFC 9528 §4), parameterised by the suite's hash.

Every derived key is ``EDHOC_KDF(PRK, label, context, length)`` with
``info = (label, context, length)`` as a CBOR sequence (RFC 9528 §4.1.2); the
functions below only name the labels and inputs, so the whole schedule can be
read next to RFC 9528 Figure 6. PSK-method keys (draft-ietf-lake-edhoc-psk §4)
are at the end. Nothing here knows about messages or roles.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from pqiot.reference import cbor
from pqiot.reference.crypto.interfaces import HashAlgorithm

__all__ = ["KeySchedule", "SessionSecrets"]

# EDHOC_KDF labels (RFC 9528 Figure 6 and §4.2; 12 = KEYSTREAM_3A, draft-ietf-lake-edhoc-psk).
LABEL_KEYSTREAM_2 = 0
LABEL_SALT_3E2M = 1
LABEL_MAC_2 = 2
LABEL_K_3 = 3
LABEL_IV_3 = 4
LABEL_SALT_4E3M = 5
LABEL_MAC_3 = 6
LABEL_PRK_OUT = 7
LABEL_K_4 = 8
LABEL_IV_4 = 9
LABEL_PRK_EXPORTER = 10
LABEL_KEY_UPDATE = 11
LABEL_KEYSTREAM_3A = 12


@dataclass(frozen=True)
class KeySchedule:
    """EDHOC_Extract / EDHOC_KDF and the named derivations for one hash algorithm."""

    hash_algorithm: HashAlgorithm

    @property
    def hash_length(self) -> int:
        return self.hash_algorithm.digest_size

    def hash(self, data: bytes) -> bytes:
        return self.hash_algorithm.hash(data)

    def extract(self, salt: bytes, ikm: bytes) -> bytes:
        return self.hash_algorithm.extract(salt, ikm)

    def kdf(self, prk: bytes, label: int, context: bytes, length: int) -> bytes:
        """EDHOC_KDF(PRK, info_label, context, length) = EDHOC_Expand(PRK, info, length)."""
        info = cbor.encode_sequence(label, context, length)
        return self.hash_algorithm.expand(prk, info, length)

    # Transcript hashes (RFC 9528 §5.3.2, §5.4.2; items are CBOR-encoded).
    def th_2(self, g_y: bytes, message_1: bytes) -> bytes:
        """TH_2 = H(G_Y, H(message_1))."""
        return self.hash(cbor.encode_sequence(g_y, self.hash(message_1)))

    def th_3(self, th_2: bytes, plaintext_2: bytes, cred_r: bytes) -> bytes:
        """TH_3 = H(TH_2, PLAINTEXT_2, CRED_R); PSK: H(TH_2, PLAINTEXT_2A) (cred_r=b'')."""
        return self.hash(cbor.encode(th_2) + plaintext_2 + cred_r)

    def th_4(self, th_3: bytes, plaintext_3: bytes, cred_i: bytes) -> bytes:
        """TH_4 = H(TH_3, PLAINTEXT_3, CRED_I)."""
        return self.hash(cbor.encode(th_3) + plaintext_3 + cred_i)

    def th_4_psk(
        self, th_3: bytes, id_cred_psk: bytes, plaintext_3b: bytes, cred_i: bytes, cred_r: bytes
    ) -> bytes:
        """PSK method: TH_4 = H(TH_3, ID_CRED_PSK, PLAINTEXT_3B, CRED_I, CRED_R)."""
        return self.hash(cbor.encode(th_3) + id_cred_psk + plaintext_3b + cred_i + cred_r)

    # PRKs (RFC 9528 §4.1.1).
    def prk_2e(self, th_2: bytes, g_xy: bytes) -> bytes:
        return self.extract(th_2, g_xy)

    def salt_3e2m(self, prk_2e: bytes, th_2: bytes) -> bytes:
        return self.kdf(prk_2e, LABEL_SALT_3E2M, th_2, self.hash_length)

    def prk_3e2m(self, salt_3e2m: bytes, g_rx: bytes) -> bytes:
        return self.extract(salt_3e2m, g_rx)

    def salt_4e3m(self, prk_3e2m: bytes, th_3: bytes) -> bytes:
        return self.kdf(prk_3e2m, LABEL_SALT_4E3M, th_3, self.hash_length)

    def prk_4e3m(self, salt_4e3m: bytes, g_iy_or_psk: bytes) -> bytes:
        return self.extract(salt_4e3m, g_iy_or_psk)

    # Message keys (RFC 9528 §4.1.2).
    def keystream_2(self, prk_2e: bytes, th_2: bytes, length: int) -> bytes:
        return self.kdf(prk_2e, LABEL_KEYSTREAM_2, th_2, length)

    def mac_2(self, prk_3e2m: bytes, context_2: bytes, length: int) -> bytes:
        return self.kdf(prk_3e2m, LABEL_MAC_2, context_2, length)

    def mac_3(self, prk_4e3m: bytes, context_3: bytes, length: int) -> bytes:
        return self.kdf(prk_4e3m, LABEL_MAC_3, context_3, length)

    def k_3(self, prk: bytes, th_3: bytes, key_length: int) -> bytes:
        """K_3 from PRK_3e2m (RFC 9528) or PRK_4e3m (PSK method)."""
        return self.kdf(prk, LABEL_K_3, th_3, key_length)

    def iv_3(self, prk: bytes, th_3: bytes, iv_length: int) -> bytes:
        return self.kdf(prk, LABEL_IV_3, th_3, iv_length)

    def k_4(self, prk_4e3m: bytes, th_4: bytes, key_length: int) -> bytes:
        return self.kdf(prk_4e3m, LABEL_K_4, th_4, key_length)

    def iv_4(self, prk_4e3m: bytes, th_4: bytes, iv_length: int) -> bytes:
        return self.kdf(prk_4e3m, LABEL_IV_4, th_4, iv_length)

    def keystream_3a(self, prk_3e2m: bytes, th_3: bytes, length: int) -> bytes:
        """PSK method: KEYSTREAM_3A = EDHOC_KDF(PRK_3e2m, 12, TH_3, plaintext_length_3a)."""
        return self.kdf(prk_3e2m, LABEL_KEYSTREAM_3A, th_3, length)

    # Session output (RFC 9528 §4.1.3, §4.2).
    def prk_out(self, prk_4e3m: bytes, th_4: bytes) -> bytes:
        return self.kdf(prk_4e3m, LABEL_PRK_OUT, th_4, self.hash_length)

    def prk_exporter(self, prk_out: bytes) -> bytes:
        return self.kdf(prk_out, LABEL_PRK_EXPORTER, b"", self.hash_length)

    def key_update(self, prk_out: bytes, context: bytes) -> bytes:
        """EDHOC_KeyUpdate (RFC 9528 App. H): EDHOC_KDF(PRK_out, 11, context, hash_length)."""
        return self.kdf(prk_out, LABEL_KEY_UPDATE, context, self.hash_length)


# Exporter labels (RFC 9528 App. A.1; resumption labels: draft-ietf-lake-edhoc-psk §6 / IANA
# "suggested values TBD2 = 2, TBD3 = 3" — provisional like every draft code point here).
EXPORTER_OSCORE_MASTER_SECRET = 0
EXPORTER_OSCORE_MASTER_SALT = 1
EXPORTER_RESUMPTION_PSK = 2
EXPORTER_RESUMPTION_KID = 3


@dataclass(frozen=True)
class SessionSecrets:
    """PRK_out of a completed session and what is derived from it (exporter, key update).

    Immutable on purpose: a key update returns a new object, so a Session can
    keep the previous epoch until the peer has switched.
    """

    schedule: KeySchedule
    prk_out: bytes = field(repr=False)

    @functools.cached_property
    def prk_exporter(self) -> bytes:
        """PRK_exporter, derived once: every exporter call (OSCORE secret, salt, rPSK) needs it."""
        return self.schedule.prk_exporter(self.prk_out)

    def exporter(self, label: int, context: bytes, length: int) -> bytes:
        """EDHOC_Exporter(label, context, length) = EDHOC_KDF(PRK_exporter, label, ...)."""
        return self.schedule.kdf(self.prk_exporter, label, context, length)

    def key_update(self, context: bytes) -> SessionSecrets:
        """EDHOC_KeyUpdate(context): the secrets of the next epoch."""
        return SessionSecrets(self.schedule, self.schedule.key_update(self.prk_out, context))
