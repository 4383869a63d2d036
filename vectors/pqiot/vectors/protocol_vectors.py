"""Protocol vectors: complete handshakes with records and a key update, per suite.

Generation runs the reference with SHAKE128-seeded randomness and records
every draw; verification rebuilds both parties from the recorded keys,
injects the recorded draws and compares every value of
:func:`~pqiot.vectors.protocol_run.run_protocol`: wire payloads, TCP frames,
all handshake intermediates (TH_2..TH_4, PRKs, keys, IVs, keystreams, MACs,
signatures), PRK_out, exporter outputs and the OSCORE keys of each epoch.
It also feeds each recorded message's serial frames to a serial receiver, as
a device would, which must reassemble exactly that payload on channel 0.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pqiot.reference import suites as suite_registry
from pqiot.reference.crypto.rng import ShakeRng
from pqiot.reference.framing.serial_frames import CHANNEL_PROTOCOL, DEFAULT_MTU, SerialReceiver
from pqiot.reference.suites import METHOD_PSK, METHOD_SIGNATURE, METHOD_STATIC_DH
from pqiot.vectors.identities import ccs_for, dh_keypair, signature_keypair
from pqiot.vectors.jsonfile import RecordView, VectorFileError, load_vector_file, vector_document
from pqiot.vectors.model import CaseResult, VectorSet, fail, ok
from pqiot.vectors.protocol_run import Party, ProtocolFailure, RunSpec, psk_entry, run_protocol
from pqiot.vectors.randomness import RandomnessMismatch, RecordingRng, ReplayRng

__all__ = [
    "HANDSHAKE_DIR",
    "SET_NAME",
    "generate_handshake_file",
    "handshake_cases",
    "handshake_file_name",
    "handshake_set",
]

SET_NAME = "protocol-handshakes"
HANDSHAKE_DIR = "handshakes"
BINDING_CONTEXT = b"\x00"  # serial channel 0 (D4: the binding context is bound in the record AAD)
SERIAL_MTU = DEFAULT_MTU  # REQ-SER-002 default; the frames in the files use it


def handshake_cases(suite_id: int) -> list[tuple[int, str]]:
    """(method, credential mode) pairs generated for one suite."""
    suite = suite_registry.get(suite_id)
    cases = [(METHOD_SIGNATURE, "kid"), (METHOD_SIGNATURE, "value")]
    if suite.is_kem:
        cases.append((METHOD_PSK, "psk"))
    else:
        cases += [(METHOD_STATIC_DH, "kid"), (METHOD_STATIC_DH, "value")]
    return cases


def handshake_file_name(suite_id: int) -> str:
    return f"{HANDSHAKE_DIR}/suite{suite_id}.json"


def _party(suite: suite_registry.CipherSuite, method: int, role: str) -> Party:
    if method == METHOD_PSK:
        return Party(None, None, None)
    if method == METHOD_STATIC_DH:
        public, private = dh_keypair(suite.key_exchange, role)
        return Party(ccs_for(role, suite.key_exchange, public, dh=True), private, "dh")
    public, private = signature_keypair(suite.signature_alg, role)
    return Party(ccs_for(role, suite.signature_alg, public), private, "signature")


def _deterministic_signer(alg: int) -> bool:
    """Classical signatures are deterministic (RFC 8032, RFC 6979); PQ ones use recorded rnd."""
    return alg in (-8, -7)


def _record(suite_id: int, method: int, mode: str) -> dict[str, Any]:
    suite = suite_registry.get(suite_id)
    label = f"suite {suite_id} method {method} {mode}"
    rngs = {
        side: RecordingRng(ShakeRng(f"pqiot vectors {label} {side}".encode()))
        for side in ("initiator", "responder")
    }
    sign_rngs: dict[str, RecordingRng | None] = {
        side: None
        if method != METHOD_SIGNATURE or _deterministic_signer(suite.signature_alg)
        else RecordingRng(ShakeRng(f"pqiot vectors {label} {side} signing".encode()))
        for side in ("initiator", "responder")
    }
    psk_key = ShakeRng(f"pqiot vectors {label} psk".encode())(32) if method == METHOD_PSK else None
    spec = RunSpec(
        suite_id,
        method,
        mode,
        BINDING_CONTEXT,
        _party(suite, method, "initiator"),
        _party(suite, method, "responder"),
        psk_entry(b"\x10", psk_key) if psk_key is not None else None,
        SERIAL_MTU,
    )
    result = run_protocol(spec, dict(rngs), dict(sign_rngs))
    parties: dict[str, Any] = {}
    for side in ("initiator", "responder"):
        party: Party = getattr(spec, side)
        signer = sign_rngs[side]
        parties[side] = {
            "credential": None if party.credential is None else party.credential.hex(),
            "private_key": None if party.private_key is None else party.private_key.hex(),
            "key_kind": party.key_kind,
            "rng_draws": [d.hex() for d in rngs[side].draws],
            "sign_rng_draws": None if signer is None else [d.hex() for d in signer.draws],
        }
    inputs: dict[str, Any] = {
        "suite": suite_id,
        "method": method,
        "credential_mode": mode,
        "binding_context": BINDING_CONTEXT.hex(),
        "serial_mtu": SERIAL_MTU,
        "initiator": parties["initiator"],
        "responder": parties["responder"],
        "psk": None if psk_key is None else {"kid": "10", "psk": psk_key.hex()},
    }
    return {
        "id": f"suite{suite_id}/method{method}/{mode}",
        "req": ["REQ-TAP-014", "REQ-SER-001", "REQ-TCP-001"],
        "inputs": inputs,
        **result,
    }


def generate_handshake_file(suite_id: int) -> dict[str, Any]:
    suite = suite_registry.get(suite_id)
    records = [_record(suite_id, method, mode) for method, mode in handshake_cases(suite_id)]
    return vector_document(
        SET_NAME,
        f"Handshakes of suite {suite_id} ({suite.name}) with records, a key update and records "
        "after it; randomness recorded per draw.",
        records,
    )


# -- verification ---------------------------------------------------------------------


def _optional_hex(view: RecordView, key: str) -> bytes | None:
    return None if view.raw.get(key) is None else view.hex(key)


def _replay_inputs(view: RecordView) -> tuple[RunSpec, dict[str, Any], dict[str, Any]]:
    inputs = view.sub("inputs")
    parties: dict[str, Party] = {}
    rngs: dict[str, Any] = {}
    sign_rngs: dict[str, Any] = {}
    for side in ("initiator", "responder"):
        party = inputs.sub(side)
        kind = party.raw.get("key_kind")
        if kind not in (None, "signature", "dh"):
            raise party.error(f"key_kind must be null, 'signature' or 'dh', found {kind!r}")
        parties[side] = Party(
            _optional_hex(party, "credential"), _optional_hex(party, "private_key"), kind
        )
        rngs[side] = ReplayRng(party.hex_list("rng_draws"), f"{side} rng")
        sign_rngs[side] = (
            None
            if party.raw.get("sign_rng_draws") is None
            else ReplayRng(party.hex_list("sign_rng_draws"), f"{side} signing rng")
        )
    psk = None
    if inputs.raw.get("psk") is not None:
        psk_view = inputs.sub("psk")
        psk = psk_entry(psk_view.hex("kid"), psk_view.hex("psk"))
    spec = RunSpec(
        inputs.integer("suite"),
        inputs.integer("method"),
        inputs.text("credential_mode"),
        inputs.hex("binding_context"),
        parties["initiator"],
        parties["responder"],
        psk,
        inputs.integer("serial_mtu"),
    )
    return spec, rngs, sign_rngs


def _differences(expected: Any, got: Any, path: str) -> list[str]:
    if isinstance(expected, dict) and isinstance(got, dict):
        out = []
        for key in sorted(set(expected) | set(got)):
            if key not in got:
                out.append(f"{path}.{key} not produced")
            elif key not in expected:
                out.append(f"{path}.{key} produced but not recorded")
            else:
                out += _differences(expected[key], got[key], f"{path}.{key}")
        return out
    if isinstance(expected, list) and isinstance(got, list):
        if len(expected) != len(got):
            return [f"{path}: {len(got)} items, {len(expected)} recorded"]
        out = []
        for i, (e, g) in enumerate(zip(expected, got, strict=True)):
            out += _differences(e, g, f"{path}[{i}]")
        return out
    return [] if expected == got else [f"{path} differs"]


def _serial_reassembly_problems(view: RecordView, mtu: int) -> list[str]:
    """Each wire entry's recorded frames must reassemble into its payload (REQ-SER-001)."""
    problems = []
    for index, entry_view in enumerate(view.sub("expected").items("wire")):
        receiver = SerialReceiver(mtu)
        stream = b"".join(entry_view.hex_list("serial_frames"))
        got = receiver.feed(stream, 0.0)
        want = [(CHANNEL_PROTOCOL, entry_view.hex("payload"))]
        if got != want or receiver.counters.bad_frames:
            problems.append(
                f"wire[{index}]: serial frames do not reassemble into the payload on channel 0"
            )
    return problems


def check_handshake_record(view: RecordView) -> CaseResult:
    case = (
        str(view.raw.get("id", f"record {view.index}"))
        if isinstance(view.raw, dict)
        else f"record {view.index}"
    )
    try:
        spec, rngs, sign_rngs = _replay_inputs(view)
        expected = {
            "expected": view.sub("expected").raw,
            "intermediates": view.sub("intermediates").raw,
        }
        got = run_protocol(spec, rngs, sign_rngs)
        framing = _serial_reassembly_problems(view, spec.serial_mtu)
    except VectorFileError as exc:
        return fail(case, f"bad vector: {exc}")
    except (ProtocolFailure, RandomnessMismatch) as exc:
        return fail(case, str(exc))
    except Exception as exc:  # a broken key or credential in the file must not end the run
        return fail(case, f"{view.file}: record {view.index}: {type(exc).__name__}: {exc}")
    unused = [f"{side} rng has {r.unused} unused draws" for side, r in rngs.items() if r.unused]
    diffs = _differences(expected, got, case) + framing + unused
    if diffs:
        return fail(
            case, "; ".join(diffs[:5]) + (f" (+{len(diffs) - 5} more)" if len(diffs) > 5 else "")
        )
    return ok(case)


def _files(data_dir: Path) -> list[Path]:
    return sorted((data_dir / HANDSHAKE_DIR).glob("suite*.json"))


def handshake_set(data_dir: Path) -> VectorSet:
    def count() -> int:
        total = 0
        for path in _files(data_dir):
            try:
                total += len(load_vector_file(path, SET_NAME).records)
            except VectorFileError:
                total += 1
        return total

    def check(_agent: Any) -> Iterator[CaseResult]:
        files = _files(data_dir)
        if not files:
            yield fail(
                SET_NAME, f"no files in {data_dir / HANDSHAKE_DIR}; run `pqiot vectors generate`"
            )
        for path in files:
            try:
                vector_file = load_vector_file(path, SET_NAME)
            except VectorFileError as exc:
                yield fail(path.name, str(exc))
                continue
            for view in vector_file.views():
                yield check_handshake_record(view)

    return VectorSet(
        SET_NAME,
        f"data/{HANDSHAKE_DIR}/suite*.json: generated by the pqiot reference "
        "(ShakeRng seeds, draws recorded)",
        "every suite x method x credential mode: handshake intermediates, records, key update, "
        "TCP frames, serial frames",
        count,
        check,
        reference_only=True,
    )
