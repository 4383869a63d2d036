"""Negative primitive vectors: inputs a conforming implementation must refuse.

Generated once by the reference (``data/negative-primitives.json``), verified
through the :class:`~pqiot.vectors.agent.PrimitiveAgent`, so a device can be
checked with the same records. Every record names the requirement it
exercises and the expected outcome:

* ``rejected`` — the agent must refuse the input (TAP status 6);
* ``implicit_rejection`` — ML-KEM decapsulation must succeed and return the
  recorded pseudorandom key ``k`` (FIPS 203 Algorithm 18);
* ``invalid`` — a signature or AEAD check must report failure (REQ-TAP-011);
* ``valid`` — the unmodified sanity record every negative one is derived from.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pqiot.reference.crypto import mlkem as mlkem_module
from pqiot.reference.crypto import registry
from pqiot.reference.crypto.falcon import (
    SALT_SIZE,
    compress_signature_polynomial,
    decompress_signature_polynomial,
)
from pqiot.reference.crypto.rng import ShakeRng
from pqiot.vectors.agent import InputRejected, PrimitiveAgent, Unsupported
from pqiot.vectors.identities import signature_keypair
from pqiot.vectors.jsonfile import RecordView, VectorFileError, load_vector_file, vector_document
from pqiot.vectors.model import CaseResult, VectorSet, fail, ok, skip

__all__ = [
    "NEGATIVE_PRIMITIVES_FILE",
    "SET_NAME",
    "generate_negative_primitives",
    "negative_primitives_set",
]

SET_NAME = "negative-primitives"
NEGATIVE_PRIMITIVES_FILE = "negative-primitives.json"
Q = 3329
_KEMS = {512: mlkem_module.MLKEM512, 768: mlkem_module.MLKEM768, 1024: mlkem_module.MLKEM1024}
SIG_ALGS = (-48, -49, -50, -65601, -65602)
AEAD_ALGS = (3, 10, 24, 30)


def _set_coefficient(ek: bytes, poly: int, index: int, value: int) -> bytes:
    """Overwrite 12-bit coefficient ``index`` of polynomial ``poly`` in ByteEncode_12 output."""
    out = bytearray(ek)
    offset = 384 * poly + 3 * (index // 2)
    if index % 2 == 0:
        out[offset] = value & 0xFF
        out[offset + 1] = (out[offset + 1] & 0xF0) | (value >> 8)
    else:
        out[offset + 1] = (out[offset + 1] & 0x0F) | ((value & 0x0F) << 4)
        out[offset + 2] = value >> 4
    return bytes(out)


def _flip(data: bytes, index: int, bit: int = 0) -> bytes:
    out = bytearray(data)
    out[index] ^= 1 << bit
    return bytes(out)


def _rec(
    rid: str,
    req: list[str],
    operation: str,
    inputs: dict[str, Any],
    outcome: str,
    description: str,
    **expected: str,
) -> dict[str, Any]:
    return {
        "id": rid,
        "req": req,
        "operation": operation,
        "description": description,
        "inputs": inputs,
        "expected": {"outcome": outcome, **expected},
    }


def _mlkem_records(n: int) -> list[dict[str, Any]]:
    kem = _KEMS[n]
    rng = ShakeRng(f"pqiot vectors negative ml-kem-{n}".encode())
    d, z, m = rng(32), rng(32), rng(32)
    ek, dk = kem.keygen_internal(d, z)
    k_valid, c = kem.encaps_internal(ek, m)
    k = kem.params.k
    out = [
        _rec(
            f"ml-kem-{n}/valid",
            ["REQ-TAP-009"],
            "mlkem_encaps",
            {"set": n, "ek": ek.hex(), "m": m.hex()},
            "valid",
            "sanity: the unmodified key encapsulates",
            c=c.hex(),
            k=k_valid.hex(),
        )
    ]
    polys = sorted({0, k // 2, k - 1})
    for poly in polys:
        for index in (0, 128, 255):
            for value in (Q, 4095):
                bad = _set_coefficient(ek, poly, index, value)
                out.append(
                    _rec(
                        f"ml-kem-{n}/ek-coefficient-p{poly}-i{index}-{value}",
                        ["REQ-SUITE-007", "REQ-TAP-010"],
                        "mlkem_encaps",
                        {"set": n, "ek": bad.hex(), "m": m.hex()},
                        "rejected",
                        f"ek polynomial {poly} coefficient {index} = {value} (>= q): "
                        "FIPS 203 §7.2 modulus check",
                    )
                )
    sizes = {
        "ek": kem.encapsulation_key_size,
        "dk": kem.decapsulation_key_size,
        "c": kem.ciphertext_size,
    }
    for what, delta in (
        ("ek", -1),
        ("ek", 1),
        ("dk", -1),
        ("dk", 1),
        ("c", -1),
        ("c", 1),
        ("c", None),
    ):
        base = {"ek": ek, "dk": dk, "c": c}[what]
        bad = b"" if delta is None else (base[:-1] if delta < 0 else base + b"\x00")
        label = "empty" if delta is None else f"{sizes[what] + delta}-bytes"
        if what == "ek":
            inputs = {"set": n, "ek": bad.hex(), "m": m.hex()}
            operation = "mlkem_encaps"
        else:
            inputs = {
                "set": n,
                "dk": (bad if what == "dk" else dk).hex(),
                "c": (bad if what == "c" else c).hex(),
            }
            operation = "mlkem_decaps"
        out.append(
            _rec(
                f"ml-kem-{n}/{what}-{label}",
                ["REQ-TAP-010", "REQ-SUITE-007"] if what == "ek" else ["REQ-TAP-010"],
                operation,
                inputs,
                "rejected",
                f"{what} of {len(bad)} bytes instead of {sizes[what]}",
            )
        )
    h_offset = 768 * k + 32
    for rid, bad_dk, why in (
        ("dk-hash-mismatch", _flip(dk, h_offset), "H(ek) field of dk has a flipped bit"),
        (
            "dk-ek-mismatch",
            _flip(dk, 384 * k),
            "ek embedded in dk has a flipped bit, H(ek) no longer matches",
        ),
    ):
        out.append(
            _rec(
                f"ml-kem-{n}/{rid}",
                ["REQ-TAP-010"],
                "mlkem_decaps",
                {"set": n, "dk": bad_dk.hex(), "c": c.hex()},
                "rejected",
                f"FIPS 203 §7.3 hash check: {why}",
            )
        )
    for where, index in (("first", 0), ("last", len(c) - 1)):
        bad_c = _flip(c, index)
        out.append(
            _rec(
                f"ml-kem-{n}/c-flipped-{where}-byte",
                ["REQ-TAP-010", "REQ-SP-005"],
                "mlkem_decaps",
                {"set": n, "dk": dk.hex(), "c": bad_c.hex()},
                "implicit_rejection",
                f"well-formed ciphertext with a flipped bit in its {where} byte: "
                "Decaps returns J(z || c)",
                k=kem.decaps(dk, bad_c).hex(),
            )
        )
    return out


def _falcon_norm_violation(sig: bytes, n: int, size: int) -> bytes | None:
    """Change one s2 coefficient by one and re-encode it canonically.

    The signature still decodes, but s1 = c - s2*h is then essentially random
    mod q, far above the norm bound: only the norm check can reject it.
    """
    s2 = decompress_signature_polynomial(sig[1 + SALT_SIZE :], n)
    if s2 is None:
        return None
    for index in range(n):
        changed = list(s2)
        changed[index] += 1 if changed[index] >= 0 else -1
        packed = compress_signature_polynomial(changed, size - 1 - SALT_SIZE)
        if packed is not None:
            return sig[: 1 + SALT_SIZE] + packed
    return None


def _signature_records(alg: int) -> list[dict[str, Any]]:
    scheme = registry.signature(alg)
    public, private = signature_keypair(alg, "initiator")
    msg = f"pqiot negative signature vectors for alg {alg}".encode()
    sig = scheme.sign(private, msg, ShakeRng(f"pqiot vectors negative sign {alg}".encode()))
    name = scheme.name.lower()
    req = ["REQ-SUITE-010"] if alg in (-65601, -65602) else ["REQ-SUITE-009"]
    req = [*req, "REQ-TAP-011"]

    def rec(rid: str, bad: bytes, why: str, outcome: str = "invalid") -> dict[str, Any]:
        return _rec(
            f"{name}/{rid}",
            req,
            "sig_verify",
            {"alg": alg, "pk": public.hex(), "msg": msg.hex(), "sig": bad.hex(), "ctx": ""},
            outcome,
            why,
        )

    out = [rec("valid", sig, "sanity: the unmodified signature verifies", "valid")]
    out += [
        rec("short", sig[:-1], f"signature of {len(sig) - 1} bytes instead of {len(sig)}"),
        rec("long", sig + b"\x00", f"signature of {len(sig) + 1} bytes instead of {len(sig)}"),
        rec("empty", b"", "empty signature"),
        rec("flipped-first-byte", _flip(sig, 0), "bit 0 of the first byte flipped"),
        rec("flipped-middle-byte", _flip(sig, len(sig) // 2), "bit 0 of the middle byte flipped"),
        rec("flipped-last-byte", _flip(sig, len(sig) - 1, 7), "bit 7 of the last byte flipped"),
        _rec(
            f"{name}/wrong-message",
            req,
            "sig_verify",
            {
                "alg": alg,
                "pk": public.hex(),
                "msg": _flip(msg, 0).hex(),
                "sig": sig.hex(),
                "ctx": "",
            },
            "invalid",
            "valid signature, message with one flipped bit",
        ),
    ]
    if alg in (-65601, -65602):
        logn = 9 if alg == -65601 else 10
        out.append(
            rec(
                "bad-header-unpadded",
                bytes([0x30 + logn - 0x10]) + sig[1:],
                "header byte 0x2N (compressed, unpadded format) instead of 0x3N",
            )
        )
        out.append(
            rec(
                "bad-header-other-degree",
                bytes([0x30 + (19 - logn)]) + sig[1:],
                "header byte of the other Falcon degree",
            )
        )
        if sig[-1] == 0:
            out.append(rec("nonzero-padding", sig[:-1] + b"\x01", "a padding bit after s2 is set"))
        norm = _falcon_norm_violation(sig, 1 << logn, len(sig))
        if norm is not None:
            out.append(
                rec(
                    "norm-violation",
                    norm,
                    "one s2 coefficient changed by one, canonically re-encoded: "
                    "fails the norm bound",
                )
            )
    else:
        k = {-48: 4, -49: 6, -50: 8}[alg]
        out.append(
            rec(
                "hint-count-out-of-range",
                sig[:-k] + b"\xff" * k,
                "hint counts above omega (malformed hint encoding)",
            )
        )
    return out


def _aead_records(alg: int) -> list[dict[str, Any]]:
    aead = registry.aead(alg)
    rng = ShakeRng(f"pqiot vectors negative aead {alg}".encode())
    key, nonce, aad, pt = rng(aead.key_size), rng(aead.nonce_size), rng(20), rng(37)
    ct = aead.seal(key, nonce, pt, aad)
    name = aead.name.lower()

    def rec(
        rid: str,
        why: str,
        *,
        c: bytes = ct,
        a: bytes = aad,
        iv: bytes = nonce,
        outcome: str = "invalid",
    ) -> dict[str, Any]:
        extra = {"pt": pt.hex()} if outcome == "valid" else {}
        return _rec(
            f"{name}/{rid}",
            ["REQ-TAP-011"],
            "aead_open",
            {"alg": alg, "key": key.hex(), "nonce": iv.hex(), "aad": a.hex(), "ct": c.hex()},
            outcome,
            why,
            **extra,
        )

    tag = len(ct) - aead.tag_size
    return [
        rec("valid", "sanity: the unmodified ciphertext opens", outcome="valid"),
        rec("tag-first-bit", "first bit of the tag flipped", c=_flip(ct, tag)),
        rec("tag-last-bit", "last bit of the tag flipped", c=_flip(ct, len(ct) - 1, 7)),
        rec("ciphertext-bit", "a ciphertext bit flipped", c=_flip(ct, 0)),
        rec("aad-bit", "an AAD bit flipped", a=_flip(aad, 0)),
        rec("nonce-bit", "a nonce bit flipped", iv=_flip(nonce, 0)),
        rec("truncated", "last byte of the tag removed", c=ct[:-1]),
    ]


def generate_negative_primitives() -> dict[str, Any]:
    """All records, each confirmed against the reference before it is written."""
    from pqiot.vectors.agent import ReferenceAgent

    records: list[dict[str, Any]] = []
    for n in (512, 768, 1024):
        records += _mlkem_records(n)
    for alg in SIG_ALGS:
        records += _signature_records(alg)
    for alg in AEAD_ALGS:
        records += _aead_records(alg)
    agent = ReferenceAgent()
    for index, record in enumerate(records):
        result = _check(agent, RecordView(record, "<generated>", index))
        if result.status != "passed":
            raise AssertionError(f"the reference disagrees with {result.case}: {result.detail}")
    return vector_document(
        SET_NAME,
        "Inputs that must be refused: FIPS 203 checks, bad signatures, forged AEAD input.",
        records,
    )


# -- verification ----------------------------------------------------------------------


def _run(agent: PrimitiveAgent, operation: str, i: RecordView) -> tuple[str, dict[str, bytes]]:
    """Outcome class and outputs of one operation on the agent."""
    try:
        if operation == "mlkem_encaps":
            c, k = agent.mlkem_encaps(i.integer("set"), i.hex("ek"), i.hex("m"))
            return "valid", {"c": c, "k": k}
        if operation == "mlkem_decaps":
            return "implicit_rejection", {
                "k": agent.mlkem_decaps(i.integer("set"), i.hex("dk"), i.hex("c"))
            }
        if operation == "sig_verify":
            valid = agent.sig_verify(
                i.integer("alg"), i.hex("pk"), i.hex("msg"), i.hex("sig"), i.hex("ctx")
            )
            return ("valid" if valid else "invalid"), {}
        if operation == "aead_open":
            pt = agent.aead_open(
                i.integer("alg"), i.hex("key"), i.hex("nonce"), i.hex("aad"), i.hex("ct")
            )
            return ("invalid", {}) if pt is None else ("valid", {"pt": pt})
    except InputRejected:
        return "rejected", {}
    raise i.error(f"unknown operation {operation!r}")


def _check(agent: PrimitiveAgent, view: RecordView) -> CaseResult:
    case = (
        str(view.raw.get("id", f"record {view.index}"))
        if isinstance(view.raw, dict)
        else f"record {view.index}"
    )
    try:
        expected = view.sub("expected")
        outcome = expected.text("outcome")
        if outcome not in ("valid", "invalid", "rejected", "implicit_rejection"):
            raise expected.error(f"unknown outcome {outcome!r}")
        wanted = {key: expected.hex(key) for key in expected.field_names() if key != "outcome"}
        if not isinstance(view.raw.get("req"), list) or not view.raw["req"]:
            raise view.error("field 'req' must list the requirement IDs exercised")
        got, outputs = _run(agent, view.text("operation"), view.sub("inputs"))
    except VectorFileError as exc:
        return fail(case, f"bad vector: {exc}")
    except Unsupported as exc:
        return skip(case, f"agent does not support it: {exc}")
    if got != outcome:
        return fail(case, f"expected outcome {outcome}, got {got}")
    for key, value in wanted.items():
        if outputs.get(key) != value:
            return fail(case, f"output {key} differs from the recorded value")
    return ok(case)


def negative_primitives_set(data_dir: Path) -> VectorSet:
    path = data_dir / NEGATIVE_PRIMITIVES_FILE

    def count() -> int:
        try:
            return len(load_vector_file(path, SET_NAME).records)
        except VectorFileError:
            return 1

    def check(agent: PrimitiveAgent) -> Iterator[CaseResult]:
        try:
            vector_file = load_vector_file(path, SET_NAME)
        except VectorFileError as exc:
            yield fail(NEGATIVE_PRIMITIVES_FILE, str(exc))
            return
        for view in vector_file.views():
            yield _check(agent, view)

    return VectorSet(
        SET_NAME,
        f"data/{NEGATIVE_PRIMITIVES_FILE}: generated by the pqiot reference",
        "ML-KEM ek/dk/ct checks and implicit rejection, bad ML-DSA/Falcon signatures, "
        "forged AEAD inputs",
        count,
        check,
    )
