"""Primitive known-answer sets loaded at run time from published vector files.

Answers come from the ``cryptography_vectors`` package (NIST ACVP-derived
ML-KEM / ML-DSA KATs, NIST CAVP AES-GCM, OpenSSL and BoringSSL
ChaCha20-Poly1305, RFC 5869 HKDF) and from the round-3 Falcon KAT shipped in
``falcon-digital-signature``. Nothing is copied into this repository: each
checker opens the installed file, so a missing package is a clear failure
("install cryptography-vectors"), never a silent pass.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import cache
from importlib import metadata
from itertools import islice
from typing import Any

from pqiot.vectors.agent import InputRejected, PrimitiveAgent, Unsupported
from pqiot.vectors.model import CaseResult, VectorSet, fail, is_blocked, ok, skip
from pqiot.vectors.sources.cryptography_vectors import rsp_records
from pqiot.vectors.sources.nist_rsp import VectorFormatError

__all__ = ["mlkem_kat_set", "primitive_sets"]

MLKEM_FILES = {n: f"asymmetric/MLKEM/kat_MLKEM_{n}.rsp" for n in (512, 768, 1024)}
MLDSA_FILES = {
    -48: "asymmetric/MLDSA/kat_MLDSA_44_det_pure.rsp",
    -49: "asymmetric/MLDSA/kat_MLDSA_65_det_pure.rsp",
    -50: "asymmetric/MLDSA/kat_MLDSA_87_det_pure.rsp",
}
MLDSA_SIGNATURE_SIZES = {-48: 2420, -49: 3309, -50: 4627}
GCM_FILES = ("ciphers/AES/GCM/gcmEncryptExtIV256.rsp", "ciphers/AES/GCM/gcmDecrypt256.rsp")
CHACHA_FILES = ("ciphers/ChaCha20Poly1305/openssl.txt", "ciphers/ChaCha20Poly1305/boringssl.txt")
HKDF_FILE = "KDF/rfc-5869-HKDF-SHA256.txt"
FALCON_MESSAGE = b"data1"  # the message the round-3 C KAT signs (test_falcon.c)

#: Records per file in the sample ML-KEM / ML-DSA sets, the ones a device on a slow link
#: (an emulated UART) runs. The full files take a few seconds against the reference, where
#: PyCryptodome's C code computes the derandomised entry points (kyber-py / dilithium-py
#: needed minutes), so ``pqiot vectors verify`` runs them by default too.
MLKEM_SAMPLE = 10
MLDSA_SAMPLE = 3

A256GCM, CHACHA20_POLY1305 = 3, 24


def _package(name: str) -> str:
    try:
        return f"{name} {metadata.version(name)}"
    except metadata.PackageNotFoundError:
        return f"{name} (not installed)"


class _Records:
    """Located records of one package file, with hex fields decoded on access."""

    def __init__(self, path: str, records: list[dict[str, str]]) -> None:
        self.path = path
        self.records = records


@cache
def _load(path: str) -> _Records:
    return _Records(path, list(rsp_records(path)))


def _field(record: dict[str, str], key: str, where: str) -> bytes:
    if key not in record:
        raise VectorFormatError(f"{where}: missing field {key!r}")
    value = record[key]
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1].encode("utf-8")  # BoringSSL's quoted-text fields
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise VectorFormatError(f"{where}: field {key!r} is not hex") from None


def _guard(case: str, body: Callable[[], CaseResult]) -> CaseResult:
    """Run one vector; a malformed record or an agent refusal becomes a result, not a crash."""
    try:
        return body()
    except VectorFormatError as exc:
        return fail(case, f"bad vector: {exc}")
    except Unsupported as exc:
        return skip(case, f"agent does not support it: {exc}")
    except InputRejected as exc:
        return fail(case, f"agent rejected a valid input: {exc}")
    except Exception as exc:  # e.g. a record the reference cannot even decode
        if is_blocked(exc):
            raise  # the DUT is gone: the runner reports BLOCKED, never a failure
        return fail(case, f"unexpected error: {type(exc).__name__}: {exc}")


def _files(paths: tuple[str, ...] | list[str]) -> Iterator[tuple[str, int, dict[str, str]]]:
    for path in paths:
        try:
            loaded = _load(path)
        except (VectorFormatError, FileNotFoundError, RuntimeError) as exc:
            yield path, -1, {"__error__": str(exc)}
            continue
        for index, record in enumerate(loaded.records):
            yield path, index, record


# -- ML-KEM -------------------------------------------------------------------------


def _mlkem_case(
    agent: PrimitiveAgent, n: int, path: str, index: int, rec: dict[str, str]
) -> CaseResult:
    case = f"ML-KEM-{n} {path}#{index}"

    def body() -> CaseResult:
        where = f"cryptography_vectors/{path}: record {index}"
        d, z, m = (_field(rec, k, where) for k in ("d", "z", "msg"))
        ek, dk = agent.mlkem_keygen(n, d, z)
        if ek != _field(rec, "pk", where) or dk != _field(rec, "sk", where):
            return fail(case, "KeyGen_internal(d, z) differs from (pk, sk)")
        c, k = agent.mlkem_encaps(n, ek, m)
        if c != _field(rec, "ct", where) or k != _field(rec, "ss", where):
            return fail(case, "Encaps_internal(ek, m) differs from (ct, ss)")
        if agent.mlkem_decaps(n, dk, c) != k:
            return fail(case, "Decaps(dk, ct) differs from ss")
        if agent.mlkem_decaps(n, dk, _field(rec, "ct_n", where)) != _field(rec, "ss_n", where):
            return fail(case, "implicit rejection: Decaps(dk, ct_n) differs from ss_n")
        return ok(case)

    return _guard(case, body)


def _mlkem_checker(limit: int | None) -> Callable[[PrimitiveAgent], Iterator[CaseResult]]:
    def check(agent: PrimitiveAgent) -> Iterator[CaseResult]:
        for n, path in MLKEM_FILES.items():
            for file, index, rec in islice(_files([path]), limit):
                if "__error__" in rec:
                    yield fail(f"ML-KEM-{n} {file}", rec["__error__"])
                    break
                yield _mlkem_case(agent, n, file, index, rec)

    return check


# -- ML-DSA -------------------------------------------------------------------------


def _mldsa_case(
    agent: PrimitiveAgent, alg: int, path: str, index: int, rec: dict[str, str]
) -> CaseResult:
    case = f"alg {alg} {path}#{index}"

    def body() -> CaseResult:
        where = f"cryptography_vectors/{path}: record {index}"
        xi, msg, ctx, signed = (_field(rec, k, where) for k in ("xi", "msg", "ctx", "sm"))
        size = MLDSA_SIGNATURE_SIZES[alg]
        if len(signed) != size + len(msg) or signed[size:] != msg:
            raise VectorFormatError(f"{where}: sm is not signature || msg")
        signature = signed[:size]
        pk, sk = agent.sig_keygen(alg, xi)
        if pk != _field(rec, "pk", where) or sk != _field(rec, "sk", where):
            return fail(case, "KeyGen_internal(xi) differs from (pk, sk)")
        if agent.sig_sign(alg, sk, msg, ctx, bytes(32)) != signature:
            return fail(case, "deterministic Sign(sk, msg, ctx) differs from the KAT signature")
        if not agent.sig_verify(alg, pk, msg, signature, ctx):
            return fail(case, "Verify rejects the KAT signature")
        return ok(case)

    return _guard(case, body)


def _mldsa_checker(limit: int | None) -> Callable[[PrimitiveAgent], Iterator[CaseResult]]:
    def check(agent: PrimitiveAgent) -> Iterator[CaseResult]:
        for alg, path in MLDSA_FILES.items():
            for file, index, rec in islice(_files([path]), limit):
                if "__error__" in rec:
                    yield fail(f"alg {alg} {file}", rec["__error__"])
                    break
                yield _mldsa_case(agent, alg, file, index, rec)

    return check


# -- AEADs ----------------------------------------------------------------------------


def _aead_case(
    agent: PrimitiveAgent,
    alg: int,
    path: str,
    index: int,
    rec: dict[str, str],
    names: dict[str, str],
) -> CaseResult:
    case = f"{path}#{index}"

    def body() -> CaseResult:
        where = f"cryptography_vectors/{path}: record {index}"
        key, nonce, aad, ct, tag = (
            _field(rec, names[k], where) for k in ("key", "iv", "aad", "ct", "tag")
        )
        failing = "fail" in rec or "result" in rec
        opened = agent.aead_open(alg, key, nonce, aad, ct + tag)
        if failing:
            return ok(case) if opened is None else fail(case, "a forged tag was accepted")
        pt = _field(rec, names["pt"], where)
        if opened != pt:
            return fail(case, "open(key, iv, aad, ct || tag) rejected or differs from pt")
        if agent.aead_seal(alg, key, nonce, aad, pt) != ct + tag:
            return fail(case, "seal(key, iv, aad, pt) differs from ct || tag")
        return ok(case)

    return _guard(case, body)


_GCM_NAMES = {"key": "key", "iv": "iv", "aad": "aad", "ct": "ct", "tag": "tag", "pt": "pt"}
_OPENSSL_NAMES = {
    "key": "key",
    "iv": "iv",
    "aad": "aad",
    "ct": "ciphertext",
    "tag": "tag",
    "pt": "plaintext",
}
_BORINGSSL_NAMES = {"key": "key", "iv": "nonce", "aad": "ad", "ct": "ct", "tag": "tag", "pt": "in"}


def _gcm_records() -> Iterator[tuple[str, int, dict[str, str]]]:
    """AES-256-GCM records with the COSE A256GCM shape: 96-bit IV, 128-bit tag."""
    for path, index, rec in _files(list(GCM_FILES)):
        if "__error__" in rec or (rec.get("ivlen") == "96" and rec.get("taglen") == "128"):
            yield path, index, rec


def _check_gcm(agent: PrimitiveAgent) -> Iterator[CaseResult]:
    for path, index, rec in _gcm_records():
        if "__error__" in rec:
            yield fail(path, rec["__error__"])
            continue
        yield _aead_case(agent, A256GCM, path, index, rec, _GCM_NAMES)


def _check_chacha(agent: PrimitiveAgent) -> Iterator[CaseResult]:
    for path, index, rec in _files(list(CHACHA_FILES)):
        if "__error__" in rec:
            yield fail(path, rec["__error__"])
            continue
        names = _OPENSSL_NAMES if path.endswith("openssl.txt") else _BORINGSSL_NAMES
        yield _aead_case(agent, CHACHA20_POLY1305, path, index, rec, names)


# -- HKDF -----------------------------------------------------------------------------


def _check_hkdf(agent: PrimitiveAgent) -> Iterator[CaseResult]:
    for path, index, rec in _files([HKDF_FILE]):
        case = f"{path}#{index}"
        if "__error__" in rec:
            yield fail(case, rec["__error__"])
            continue

        def body(rec: dict[str, str] = rec, case: str = case, index: int = index) -> CaseResult:
            where = f"cryptography_vectors/{HKDF_FILE}: record {index}"
            ikm, salt, info, prk, okm = (
                _field(rec, k, where) for k in ("ikm", "salt", "info", "prk", "okm")
            )
            try:
                length = int(rec["l"])
            except (KeyError, ValueError):
                raise VectorFormatError(f"{where}: field 'l' is missing or not a number") from None
            if agent.hkdf(-16, "extract", salt=salt, ikm=ikm, prk=b"", info=b"", length=0) != prk:
                return fail(case, "HKDF-Extract differs from PRK")
            if (
                agent.hkdf(-16, "expand", salt=b"", ikm=b"", prk=prk, info=info, length=length)
                != okm
            ):
                return fail(case, "HKDF-Expand differs from OKM")
            if (
                agent.hkdf(-16, "full", salt=salt, ikm=ikm, prk=b"", info=info, length=length)
                != okm
            ):
                return fail(case, "HKDF differs from OKM")
            return ok(case)

        yield _guard(case, body)


# -- Falcon -----------------------------------------------------------------------------


@cache
def _falcon_kat() -> dict[int, list[dict[str, Any]]]:
    from falcon.scripts.sign_KAT import sign_KAT

    return {n: list(sign_KAT[n]) for n in (512, 1024)}


def _check_falcon(agent: PrimitiveAgent) -> Iterator[CaseResult]:
    from pqiot.reference.crypto.falcon import FALCON512, FALCON1024

    try:
        kat = _falcon_kat()
    except ImportError as exc:
        yield fail("falcon.scripts.sign_KAT", f"cannot load the Falcon KAT: {exc}")
        return
    for n, scheme, alg in ((512, FALCON512, -65601), (1024, FALCON1024, -65602)):
        for index, rec in enumerate(kat[n]):
            case = f"Falcon-{n} sign_KAT#{index}"

            def body(
                rec: dict[str, Any] = rec,
                case: str = case,
                scheme: Any = scheme,
                alg: int = alg,
                n: int = n,
            ) -> CaseResult:
                try:
                    private_key = scheme.encode_private_key(rec["f"], rec["g"], rec["F"])
                    public_key = scheme.public_key_from_private(private_key)
                    signature = bytes.fromhex(rec["sig"])
                except (KeyError, ValueError, TypeError) as exc:
                    raise VectorFormatError(f"falcon sign_KAT[{n}] record: {exc}") from None
                if not agent.sig_verify(alg, public_key, FALCON_MESSAGE, signature, b""):
                    return fail(case, "Verify rejects the round-3 C signature")
                if agent.sig_verify(alg, public_key, FALCON_MESSAGE + b"!", signature, b""):
                    return fail(case, "Verify accepts the signature for another message")
                return ok(case)

            yield _guard(case, body)


# -- the sets ----------------------------------------------------------------------------


def _count_files(paths: tuple[str, ...] | list[str], limit: int | None = None) -> Callable[[], int]:
    def count() -> int:
        total = 0
        for path in paths:
            try:
                found = len(_load(path).records)
            except (VectorFormatError, FileNotFoundError, RuntimeError):
                continue
            total += found if limit is None else min(found, limit)
        return total

    return count


def _mlkem_source() -> str:
    return f"{_package('cryptography_vectors')}: asymmetric/MLKEM/kat_MLKEM_{{512,768,1024}}.rsp"


def mlkem_kat_set(records_per_file: int, name: str = "mlkem-kat") -> VectorSet:
    """The first ``records_per_file`` FIPS 203 KAT records of each parameter set.

    Slow links (an emulated UART) use a smaller sample than ``mlkem-kat``.
    """
    return VectorSet(
        name,
        f"{_mlkem_source()} (first {records_per_file} records each)",
        "ML-KEM KeyGen_internal(d,z), Encaps_internal(ek,m), Decaps incl. implicit rejection",
        _count_files(list(MLKEM_FILES.values()), records_per_file),
        _mlkem_checker(records_per_file),
    )


def primitive_sets() -> list[VectorSet]:
    cv = _package("cryptography_vectors")
    mlkem_src = _mlkem_source()
    mldsa_src = f"{cv}: asymmetric/MLDSA/kat_MLDSA_{{44,65,87}}_det_pure.rsp"
    return [
        mlkem_kat_set(MLKEM_SAMPLE),
        VectorSet(
            "mlkem-kat-full",
            mlkem_src,
            "all 3 x 1000 ML-KEM KAT records",
            _count_files(list(MLKEM_FILES.values())),
            _mlkem_checker(None),
            slow_on_device=True,
        ),
        VectorSet(
            "mldsa-kat",
            f"{mldsa_src} (first {MLDSA_SAMPLE} records each)",
            "ML-DSA KeyGen_internal(xi), deterministic pure Sign with context, Verify",
            _count_files(list(MLDSA_FILES.values()), MLDSA_SAMPLE),
            _mldsa_checker(MLDSA_SAMPLE),
        ),
        VectorSet(
            "mldsa-kat-full",
            mldsa_src,
            "all 3 x 100 ML-DSA deterministic KAT records",
            _count_files(list(MLDSA_FILES.values())),
            _mldsa_checker(None),
            slow_on_device=True,
        ),
        VectorSet(
            "aes256gcm-cavp",
            f"{cv}: ciphers/AES/GCM/gcm{{EncryptExtIV,Decrypt}}256.rsp "
            "(NIST CAVP; IV 96, tag 128 bits)",
            "AES-256-GCM seal/open, including CAVP FAIL records (forged tags)",
            lambda: sum(1 for _ in _gcm_records()),
            _check_gcm,
        ),
        VectorSet(
            "chacha20poly1305",
            f"{cv}: ciphers/ChaCha20Poly1305/{{openssl,boringssl}}.txt "
            "(OpenSSL and BoringSSL test files, incl. the RFC 7539 AEAD example)",
            "ChaCha20-Poly1305 seal/open, including OpenSSL's failing-tag records",
            _count_files(list(CHACHA_FILES)),
            _check_chacha,
        ),
        VectorSet(
            "hkdf-sha256",
            f"{cv}: KDF/rfc-5869-HKDF-SHA256.txt (RFC 5869 App. A.1-A.3)",
            "HKDF-SHA-256 extract, expand and full",
            _count_files([HKDF_FILE]),
            _check_hkdf,
        ),
        VectorSet(
            "falcon-kat",
            f"{_package('falcon-digital-signature')}: falcon.scripts.sign_KAT "
            "(round-3 C reference signatures of b'data1', padded)",
            "Falcon-512/1024 verification of the round-3 reference implementation's signatures",
            lambda: sum(len(v) for v in _falcon_kat().values()),
            _check_falcon,
        ),
    ]
