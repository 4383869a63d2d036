"""Accumulated vectors: N deterministic operations folded into one SHAKE128 digest.

This is the C2SP/CCTV "accumulated" idea used by Go's ``crypto/mlkem``
``TestAccumulated``: a SHAKE128 stream over the empty string supplies every
input, every output is absorbed into a second SHAKE128, and only the first 32
bytes of that output are compared. A DUT on a slow UART can check 10,000
vectors by returning 32 bytes (Test Agent Protocol, accumulated-vector mode).

ML-KEM (exactly Go's procedure, final FIPS 203), per iteration:

1. seed = stream(64) (d || z); (ek, dk) = KeyGen_internal(d, z); absorb ek
2. m = stream(32); (K, c) = Encaps_internal(ek, m); absorb c, then K
3. Decaps(dk, c) must equal K (not absorbed)
4. c' = stream(ciphertext size); absorb Decaps(dk, c') (implicit rejection)

Published ML-KEM-768 digests (Go): 100 iterations
``1114b1b6699ed191734fa339376afa7e285c9e6acf6ff0177d346696ce564415``,
10,000 iterations ``8a518cc63da366322a8e7a818c7a0d63483cb3528d34a4cf42f35d5ad73f22fc``.
ML-KEM-512/1024 use the same procedure; their digests are computed here, not
published ones.

ML-DSA (a PQC-IIoT definition in the same spirit; no published digest exists,
so the tests cross-check independent implementations), per iteration:

1. xi = stream(32); pk = KeyGen(xi); absorb pk
2. msg = stream(32); sig = deterministic ML-DSA.Sign(xi, msg) (empty context,
   rnd = 0^32); absorb sig
3. Verify(pk, msg, sig) must hold (not absorbed)

Backends: ``"auto"`` takes public keys, decapsulation and verification from
``cryptography`` (OpenSSL) and deterministic ML-DSA signatures from
PyCryptodome's C implementation (``Crypto.Signature.mldsa``,
``deterministic=True``) when it is installed, which makes 100 ML-DSA
iterations take well under a second instead of 14-48 s in pure Python.
``"pure"`` runs kyber-py / dilithium-py end to end. Agreement of the two is
the evidence for the digests nobody publishes.
"""

from __future__ import annotations

import hashlib
import importlib
from collections.abc import Callable

from pqiot.reference.crypto.mldsa import MLDSA44, MLDSA65, MLDSA87, MlDsa
from pqiot.reference.crypto.mlkem import MLKEM512, MLKEM768, MLKEM1024, MlKem
from pqiot.reference.crypto.rng import ShakeRng

__all__ = [
    "PUBLISHED_DIGESTS",
    "SCHEMES",
    "AccumulatedMismatch",
    "accumulated_digest",
    "fast_deterministic_signer",
]

Progress = Callable[[int, int], None]

_KEMS: dict[str, MlKem] = {k.name: k for k in (MLKEM512, MLKEM768, MLKEM1024)}
_SIGNATURES: dict[str, MlDsa] = {s.name: s for s in (MLDSA44, MLDSA65, MLDSA87)}
SCHEMES: tuple[str, ...] = (*_KEMS, *_SIGNATURES)

#: (scheme, iterations) -> digest published by an independent implementation.
PUBLISHED_DIGESTS: dict[tuple[str, int], str] = {
    ("ML-KEM-768", 100): "1114b1b6699ed191734fa339376afa7e285c9e6acf6ff0177d346696ce564415",
    ("ML-KEM-768", 10_000): "8a518cc63da366322a8e7a818c7a0d63483cb3528d34a4cf42f35d5ad73f22fc",
}

_BACKENDS = ("auto", "pure")


#: PyCryptodome parameter-set attribute names (``Crypto.PublicKey.MLDSA``) per scheme.
_PYCRYPTODOME_PARAM_SETS = {
    "ML-DSA-44": "ML_DSA_44",
    "ML-DSA-65": "ML_DSA_65",
    "ML-DSA-87": "ML_DSA_87",
}

Signer = Callable[[bytes, bytes], bytes]


def fast_deterministic_signer(scheme: str) -> Signer | None:
    """``sign(xi, msg)`` = deterministic ML-DSA (empty context) in C, or None.

    PyCryptodome >= 4.4 ships FIPS 204 with a ``deterministic`` option; older
    versions (or none) return None and the caller keeps dilithium-py.
    """
    try:
        keys = importlib.import_module("Crypto.PublicKey.MLDSA")
        signatures = importlib.import_module("Crypto.Signature.mldsa")
    except ImportError:
        return None
    param_set = getattr(keys, _PYCRYPTODOME_PARAM_SETS[scheme], None)
    if param_set is None:
        return None

    def sign(xi: bytes, message: bytes) -> bytes:
        key = keys.construct(param_set=param_set, seed=bytes(xi))
        return bytes(signatures.new(key, deterministic=True).sign(bytes(message)))

    return sign


class AccumulatedMismatch(AssertionError):
    """An internal consistency check (decaps(encaps) or verify(sign)) failed mid-run."""


def _mlkem_digest(kem: MlKem, iterations: int, backend: str, progress: Progress | None) -> str:
    stream, sink = ShakeRng(b""), hashlib.shake_128()
    for i in range(iterations):
        seed = stream(64)
        if backend == "pure":
            ek, expanded = kem.keygen_internal(seed[:32], seed[32:])
            dk = expanded
        else:
            ek, dk = kem.encapsulation_key_from_seed(seed), seed
        sink.update(ek)
        shared, ciphertext = kem.encaps_internal(ek, stream(32))
        sink.update(ciphertext)
        sink.update(shared)
        if kem.decapsulate(dk, ciphertext) != shared:
            raise AccumulatedMismatch(f"{kem.name} iteration {i}: Decaps(dk, c) != K")
        sink.update(kem.decapsulate(dk, stream(kem.ciphertext_size)))
        if progress is not None:
            progress(i + 1, iterations)
    return sink.hexdigest(32)


def _mldsa_digest(scheme: MlDsa, iterations: int, backend: str, progress: Progress | None) -> str:
    stream, sink = ShakeRng(b""), hashlib.shake_128()
    fast_sign = fast_deterministic_signer(scheme.name) if backend == "auto" else None
    for i in range(iterations):
        xi = stream(32)
        if backend == "pure":
            public_key, secret_key = scheme.keygen_internal(xi)
        else:
            public_key, secret_key = scheme.public_key_from_seed(xi), xi
        sink.update(public_key)
        message = stream(32)
        signature = fast_sign(xi, message) if fast_sign else scheme.sign(secret_key, message)
        sink.update(signature)
        if backend == "pure":
            valid = scheme.verify_internal(public_key, b"\x00\x00" + message, signature)
        else:
            valid = scheme.verify(public_key, message, signature)
        if not valid:
            raise AccumulatedMismatch(f"{scheme.name} iteration {i}: signature does not verify")
        if progress is not None:
            progress(i + 1, iterations)
    return sink.hexdigest(32)


def accumulated_digest(
    scheme: str, iterations: int, progress: Progress | None = None, *, backend: str = "auto"
) -> str:
    """Hex digest (32 bytes) of ``iterations`` accumulated operations of ``scheme``.

    ``backend="auto"`` uses the fastest available path (``cryptography`` for
    keygen-from-seed, decapsulation and verification where it has the
    algorithm, PyCryptodome for deterministic ML-DSA signing); ``"pure"``
    forces kyber-py / dilithium-py end to end, which the tests use to
    cross-check the two.
    """
    if iterations < 0:
        raise ValueError(f"iterations must be non-negative, got {iterations}")
    if backend not in _BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(_BACKENDS)}; got {backend!r}")
    # "pure" takes copies bound to kyber-py / dilithium-py alone, so the
    # cross-check never runs PyCryptodome's C code on either side.
    if scheme in _KEMS:
        kem = _KEMS[scheme].pure_python() if backend == "pure" else _KEMS[scheme]
        return _mlkem_digest(kem, iterations, backend, progress)
    if scheme in _SIGNATURES:
        signature = _SIGNATURES[scheme]
        signature = signature.pure_python() if backend == "pure" else signature
        return _mldsa_digest(signature, iterations, backend, progress)
    raise ValueError(
        f"no accumulated procedure for {scheme!r}; choose one of: {', '.join(SCHEMES)}"
    )
