"""The vectors portion's ``PrimitiveAgent`` on top of :class:`~pqiot.hil.client.AgentClient`.

Status 6 becomes ``InputRejected`` and status 3 ``Unsupported``, exactly as the
vector verifiers expect; a :class:`~pqiot.hil.verdict.Blocked` propagates
unchanged, so a run that lost its DUT is reported as blocked, not as failed
or passed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from pqiot.hil.client import AgentClient, StatusError
from pqiot.reference.tap.codes import Status
from pqiot.vectors.agent import InputRejected, Progress, Unsupported

__all__ = ["TapPrimitiveAgent"]

T = TypeVar("T")


@contextmanager
def _mapped() -> Iterator[None]:
    try:
        yield
    except StatusError as exc:
        if exc.status == Status.INVALID_INPUT:
            raise InputRejected(str(exc)) from None
        if exc.status in (Status.UNSUPPORTED, Status.UNKNOWN_COMMAND):
            raise Unsupported(str(exc)) from None
        raise


class TapPrimitiveAgent:
    """PrimitiveAgent speaking TAP to one target."""

    def __init__(self, client: AgentClient, name: str) -> None:
        self.client = client
        self._name = name

    @property
    def name(self) -> str:
        return self._name

    def _run(self, operation: Callable[[], T]) -> T:
        with _mapped():
            return operation()

    def mlkem_keygen(self, parameter_set: int, d: bytes, z: bytes) -> tuple[bytes, bytes]:
        return self._run(lambda: self.client.mlkem_keygen(parameter_set, d, z))

    def mlkem_encaps(self, parameter_set: int, ek: bytes, m: bytes) -> tuple[bytes, bytes]:
        c, k = self._run(lambda: self.client.mlkem_encaps(parameter_set, ek, m))
        return c, k

    def mlkem_decaps(self, parameter_set: int, dk: bytes, c: bytes) -> bytes:
        return self._run(lambda: self.client.mlkem_decaps(parameter_set, dk, c))

    def sig_keygen(self, alg: int, seed: bytes) -> tuple[bytes, bytes]:
        return self._run(lambda: self.client.sig_keygen(alg, seed))

    def sig_sign(self, alg: int, sk: bytes, msg: bytes, ctx: bytes, rnd: bytes) -> bytes:
        return self._run(lambda: self.client.sig_sign(alg, sk, msg, ctx, rnd))

    def sig_verify(self, alg: int, pk: bytes, msg: bytes, sig: bytes, ctx: bytes) -> bool:
        return self._run(lambda: self.client.sig_verify(alg, pk, msg, sig, ctx))

    def aead_seal(self, alg: int, key: bytes, nonce: bytes, aad: bytes, pt: bytes) -> bytes:
        return self._run(lambda: self.client.aead_seal(alg, key, nonce, aad, pt))

    def aead_open(self, alg: int, key: bytes, nonce: bytes, aad: bytes, ct: bytes) -> bytes | None:
        return self._run(lambda: self.client.aead_open(alg, key, nonce, aad, ct))

    def hkdf(
        self,
        hash_alg: int,
        mode: str,
        *,
        salt: bytes = b"",
        ikm: bytes = b"",
        prk: bytes = b"",
        info: bytes = b"",
        length: int = 0,
    ) -> bytes:
        return self._run(
            lambda: self.client.hkdf(
                hash_alg, mode, salt=salt, ikm=ikm, prk=prk, info=info, length=length
            )
        )

    def hash(self, alg: str, data: bytes, length: int | None = None) -> bytes:
        return self._run(lambda: self.client.hash(alg, data, length))

    def accumulated(self, prim: str, n: int, progress: Progress | None = None) -> bytes:
        digest = self._run(lambda: self.client.accumulated(prim, n))
        if progress is not None:
            progress(n, n)
        return digest
