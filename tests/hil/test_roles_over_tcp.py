"""Protocol roles through the typed client over a real TAP socket (host-ref as the DUT).

The DUT (``pqiot agent`` launched by the runner) is the responder; the harness plays
the initiator with an in-memory reference agent and carries the messages between them,
as a conformance test drives a device.
"""

from __future__ import annotations

from pqiot.hil.client import AgentClient
from pqiot.hil.loopback import loopback_client
from pqiot.reference.crypto.rng import ShakeRng
from pqiot.reference.identity import generate_identity
from pqiot.reference.tap.agent import ReferenceTestAgent

from .conftest import require_target


def test_handshake_records_key_update_and_exporter_with_the_dut() -> None:
    alice = generate_identity("ML-DSA-44", subject="alice", rng=ShakeRng(b"alice"))
    bob = generate_identity("ML-DSA-44", subject="bob", rng=ShakeRng(b"bob"))
    harness = AgentClient(lambda: loopback_client(ReferenceTestAgent()))
    with require_target("host-ref") as runner:
        dut = runner.client()
        kid_dut = dut.cred_load("own", ccs=bob.credential.cred, sk=bob.private_key)
        dut.cred_load("peer", ccs=alice.credential.cred)
        kid_us = harness.cred_load("own", ccs=alice.credential.cred, sk=alice.private_key)
        harness.cred_load("peer", ccs=bob.credential.cred)

        ours, message_1 = harness.session_start("initiator", 0, [-102], cred=kid_us)
        theirs, none = dut.session_start("responder", 0, [-102], cred=kid_dut)
        assert none == [] and len(message_1) == 1
        message_2, state = dut.session_deliver(theirs, message_1[0])
        assert state == "WAIT_M3"
        message_3, state = harness.session_deliver(ours, message_2[0])
        assert state == "DONE"
        out, state = dut.session_deliver(theirs, message_3[0])
        assert (out, state) == ([], "DONE")
        info = dut.session_info(theirs)
        assert info["peer_kid"] == kid_us and info["suite"] == -102

        record = harness.app_send(ours, b"reading: 21.5 C")
        content_type, data, _ = dut.app_receive(theirs, record[0])
        assert (content_type, data) == (1, b"reading: 21.5 C")

        update = dut.key_update(theirs, nonce=bytes(16))
        content_type, _, ack = harness.app_receive(ours, update[0])
        assert content_type == 2 and len(ack) == 1
        assert dut.app_receive(theirs, ack[0])[0] == 3
        assert dut.export(theirs, 40001, b"ctx", 32) == harness.export(ours, 40001, b"ctx", 32)
        assert dut.session_close(theirs)
        dut.close()
