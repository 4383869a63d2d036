"""The host agent under valgrind over a KAT session and hostile requests reports no errors
(issue 4, item 6). Slow: valgrind runs PQClean some 50 times slower."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from pqiot.hil.agent_client import Command, PipeLink, SerialChannel, Status, TapClient
from pqiot.reference import cbor
from pqiot.reference.cbor import CborValue

from .conftest import build_image
from .peer import byte_list, device_identity, handshake, host_identity, load_credentials
from .test_mldsa import kat_records as mldsa_records
from .test_mlkem import kat_records as mlkem_records

pytestmark = pytest.mark.slow


def test_host_agent_has_no_valgrind_errors() -> None:
    if shutil.which("valgrind") is None:
        pytest.skip("valgrind not installed (Debian package valgrind)")
    binary = build_image("host")
    process = subprocess.Popen(
        ["valgrind", "-q", "--error-exitcode=99", str(binary)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    client = TapClient(SerialChannel(PipeLink(process)), timeout=300)
    client.identify()
    for size in (512, 768, 1024):
        r = mlkem_records(size)[0]
        assert client.call(Command.MLKEM_KEYGEN, {"set": size, "d": r["d"], "z": r["z"]}).ok()
        assert client.call(Command.MLKEM_ENCAPS, {"set": size, "ek": r["pk"], "m": r["msg"]}).ok()
        assert client.call(Command.MLKEM_DECAPS, {"set": size, "dk": r["sk"], "c": r["ct"]}).ok()
    for alg in (-48, -49):
        r = mldsa_records(alg)[0]
        assert client.call(Command.SIG_KEYGEN, {"alg": alg, "seed": r["xi"]}).ok()
        sign = {"alg": alg, "sk": r["sk"], "msg": r["msg"], "ctx": r["ctx"], "rnd": bytes(32)}
        sig = client.call(Command.SIG_SIGN, sign).ok()["sig"]
        verify = {"alg": alg, "pk": r["pk"], "msg": r["msg"], "sig": sig, "ctx": r["ctx"]}
        assert client.call(Command.SIG_VERIFY, verify).ok() == {"valid": True}
    for alg, key_len, nonce_len in ((3, 32, 12), (10, 16, 13), (24, 32, 12), (30, 16, 13)):
        aead: dict[str, CborValue] = {
            "alg": alg,
            "key": bytes(key_len),
            "nonce": bytes(nonce_len),
            "aad": b"a" * 20,
        }
        sealed = client.call(Command.AEAD_SEAL, {**aead, "pt": b"p" * 100}).ok()["ct"]
        opened = client.call(Command.AEAD_OPEN, {**aead, "ct": sealed}).ok()
        assert opened == {"valid": True, "pt": b"p" * 100}
    assert client.call(Command.HASH, {"alg": "shake256", "data": b"x", "len": 1024}).ok()
    assert client.call(Command.ACCUMULATED, {"prim": "ml-kem-768", "n": 2}).ok()
    # a full handshake in both roles, records both ways and a key update (issue 4, item 6)
    load_credentials(client, device_identity(), host_identity())
    for role in ("initiator", "responder"):
        link = handshake(client, role)
        link.to_peer([link.firmware_send(b"under valgrind")])
        assert link.firmware_receive(link.peer_send(b"back")).ok()["data"] == b"back"
        update = client.call(Command.KEY_UPDATE, {"session": link.session, "nonce": b"v" * 16})
        link.to_peer(byte_list(update.ok()["out"]))
        (ack,) = link.peer_payloads(1)
        assert link.firmware_receive(ack).ok()["content_type"] == 3
        assert link.export(0, 32) == link.peer_export(0, 32)
    for payload in (b"\xff", cbor.encode([2, 1, []]), b"\x83\x02\x07\xa1\x61x" + b"\x81" * 40):
        assert client.call_raw(payload).status == Status.MALFORMED
    assert client.call(Command.ECHO, {"data": b"bye"}).ok() == {"data": b"bye"}
    assert process.stdin is not None and process.stderr is not None
    process.stdin.close()  # EOF ends the agent; valgrind then exits with its verdict
    code = process.wait(timeout=120)
    report = process.stderr.read().decode(errors="replace")
    assert code == 0, f"valgrind reported errors (exit {code}):\n{report[-4000:]}"
