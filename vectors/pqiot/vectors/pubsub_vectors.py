"""Signed (and signed-and-encrypted) pub/sub messages (spec chapter 8, D5).

One record per publisher signature algorithm and content mode. Verification
rebuilds the publisher from the recorded key, injects the recorded signing
randomness and content IV, requires the identical message bytes, and then
runs the subscriber side (:class:`~pqiot.reference.pubsub.MessageVerifier`)
on the recorded message, which must yield the recorded content.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

from pqiot.reference.credentials import parse_ccs
from pqiot.reference.crypto.rng import ShakeRng
from pqiot.reference.edhoc import AllowListResolver
from pqiot.reference.pubsub import GroupKey, MessageVerifier, external_aad, sign_message
from pqiot.reference.software_provider import SoftwareSecurityProvider
from pqiot.vectors.identities import ccs_for, signature_keypair
from pqiot.vectors.jsonfile import RecordView, VectorFileError, load_vector_file, vector_document
from pqiot.vectors.model import CaseResult, VectorSet, fail, ok
from pqiot.vectors.randomness import RandomnessMismatch, RecordingRng, ReplayRng

__all__ = ["PUBSUB_FILE", "SET_NAME", "generate_pubsub", "pubsub_set"]

SET_NAME = "protocol-pubsub"
PUBSUB_FILE = "pubsub.json"
PUBLISHER_ALGS = (-48, -49, -50, -65601, -65602)
TOPIC = "pqiot/v1/plant-7/line-2/temperature"
TIMESTAMP_MS = 1767225600000
GROUP_KID = b"\x47\x01"


def _sign(inputs: dict[str, Any], sign_rng: Any, iv_rng: Any) -> bytes:
    credential = parse_ccs(inputs["credential"])
    provider = SoftwareSecurityProvider(rng=sign_rng)
    key = provider.add_signature_key(
        "publisher", credential.algorithm, inputs["private_key"], credential.public_key
    )
    group = inputs["group_key"]
    return sign_message(
        provider,
        key,
        credential.kid,
        inputs["topic"],
        inputs["seq"],
        inputs["timestamp_ms"],
        inputs["content"],
        None if group is None else GroupKey(group[0], group[1]),
        rng=iv_rng,
    )


def _subscribe(inputs: dict[str, Any], message: bytes) -> bytes:
    credential = parse_ccs(inputs["credential"])
    group = inputs["group_key"]
    verifier = MessageVerifier(
        cast(Any, AllowListResolver([credential])),
        group_keys=None if group is None else {group[0]: group[1]},
    )
    return verifier.verify(message, inputs["topic"], inputs["timestamp_ms"] / 1000).content


def _record(alg: int, encrypted: bool) -> dict[str, Any]:
    public, private = signature_keypair(alg, "initiator")
    label = f"pqiot vectors pubsub {alg} {'encrypted' if encrypted else 'signed'}"
    group_key = ShakeRng(f"{label} group key".encode())(32) if encrypted else None
    inputs: dict[str, Any] = {
        "credential": ccs_for("initiator", alg, public),
        "private_key": private,
        "topic": TOPIC,
        "seq": 7,
        "timestamp_ms": TIMESTAMP_MS,
        "content": f"21.5 C from a publisher signing with alg {alg}".encode(),
        "group_key": None if group_key is None else (GROUP_KID, group_key),
    }
    sign_rng = RecordingRng(ShakeRng(f"{label} signing".encode()))
    iv_rng = RecordingRng(ShakeRng(f"{label} iv".encode()))
    message = _sign(inputs, sign_rng, iv_rng)
    if _subscribe(inputs, message) != inputs["content"]:
        raise AssertionError(f"subscriber does not recover the content for alg {alg}")
    return {
        "id": f"alg{alg}/{'encrypted' if encrypted else 'signed'}",
        "req": ["REQ-PUBSUB-001", "REQ-TAP-014"],
        "inputs": {
            "sig_alg": alg,
            "credential": inputs["credential"].hex(),
            "private_key": private.hex(),
            "topic": TOPIC,
            "seq": 7,
            "timestamp_ms": TIMESTAMP_MS,
            "content": inputs["content"].hex(),
            "group_key": None
            if group_key is None
            else {"kid": GROUP_KID.hex(), "key": group_key.hex()},
            "sign_rng_draws": [d.hex() for d in sign_rng.draws],
            "iv_rng_draws": [d.hex() for d in iv_rng.draws],
        },
        "expected": {"message": message.hex()},
        "intermediates": {"external_aad": external_aad(TOPIC).hex()},
    }


def generate_pubsub() -> dict[str, Any]:
    records = [_record(alg, encrypted) for alg in PUBLISHER_ALGS for encrypted in (False, True)]
    return vector_document(
        SET_NAME,
        "Signed and signed+encrypted pub/sub messages (COSE_Sign1 over GroupEncrypt0).",
        records,
    )


def _check(view: RecordView) -> CaseResult:
    case = (
        str(view.raw.get("id", f"record {view.index}"))
        if isinstance(view.raw, dict)
        else f"record {view.index}"
    )
    try:
        raw = view.sub("inputs")
        group = None
        if raw.raw.get("group_key") is not None:
            group_view = raw.sub("group_key")
            group = (group_view.hex("kid"), group_view.hex("key", 32))
        inputs: dict[str, Any] = {
            "credential": raw.hex("credential"),
            "private_key": raw.hex("private_key"),
            "topic": raw.text("topic"),
            "seq": raw.integer("seq"),
            "timestamp_ms": raw.integer("timestamp_ms"),
            "content": raw.hex("content"),
            "group_key": group,
        }
        expected = view.sub("expected").hex("message")
        sign_rng = ReplayRng(raw.hex_list("sign_rng_draws"), "signing rng")
        iv_rng = ReplayRng(raw.hex_list("iv_rng_draws"), "iv rng")
        produced = _sign(inputs, sign_rng, iv_rng)
        if view.sub("intermediates").hex("external_aad") != external_aad(inputs["topic"]):
            return fail(case, "external_aad differs")
        if produced != expected:
            return fail(case, "the publisher's message differs from the recorded one")
        if _subscribe(inputs, expected) != inputs["content"]:
            return fail(case, "the subscriber does not recover the recorded content")
    except VectorFileError as exc:
        return fail(case, f"bad vector: {exc}")
    except RandomnessMismatch as exc:
        return fail(case, str(exc))
    except Exception as exc:  # a broken key in the file or a rejected message
        return fail(case, f"{view.file}: record {view.index}: {type(exc).__name__}: {exc}")
    return ok(case)


def pubsub_set(data_dir: Path) -> VectorSet:
    path = data_dir / PUBSUB_FILE

    def count() -> int:
        try:
            return len(load_vector_file(path, SET_NAME).records)
        except VectorFileError:
            return 1

    def check(_agent: Any) -> Iterator[CaseResult]:
        try:
            vector_file = load_vector_file(path, SET_NAME)
        except VectorFileError as exc:
            yield fail(PUBSUB_FILE, str(exc))
            return
        for view in vector_file.views():
            yield _check(view)

    return VectorSet(
        SET_NAME,
        f"data/{PUBSUB_FILE}: generated by the pqiot reference",
        "signed / encrypted pub/sub messages per publisher algorithm, checked on both sides",
        count,
        check,
        reference_only=True,
    )
