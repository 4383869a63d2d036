"""Serial fragmentation and reassembly under line faults (spec §12.1, REQ-SER-001..005).

Hypothesis sends messages on channels 0 and 1 — interleaved, cut into
arbitrary read chunks — and injects the faults a UART produces: a lost,
repeated, swapped or corrupted fragment, noise with or without a
delimiter, and pauses longer than the reassembly timeout. A model predicts
what the receiver must deliver for each message: exactly once, not at all,
or (an unfragmented message received twice) twice; it never delivers a
message nobody sent.
"""

from __future__ import annotations

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule

from pqiot.fuzz.profiles import stateful_settings
from pqiot.reference.framing import serial_frames

TIMEOUT = 2.0


class SerialLinkMachine(RuleBasedStateMachine):
    @initialize(mtu=st.sampled_from([128, 200, 256]))
    def open_link(self, mtu: int) -> None:
        self.mtu = mtu
        self.receiver = serial_frames.SerialReceiver(mtu, timeout=TIMEOUT)
        self.now = 0.0
        self.msg_ids = {0: 0, 1: 0}
        self.dirty = False  # noise without a delimiter is on the line
        self.swallowed = False

    # -- helpers ------------------------------------------------------------------------

    def frames(self, channel: int, message: bytes) -> list[bytes]:
        msg_id = self.msg_ids[channel]
        self.msg_ids[channel] = (msg_id + 1) % 256
        wire = serial_frames.encode_message(channel, msg_id, message, self.mtu)
        return [frame + b"\x00" for frame in wire.split(b"\x00")[:-1]]

    def feed(self, data: bytes, cuts: list[int]) -> list[tuple[int, bytes]]:
        out: list[tuple[int, bytes]] = []
        points = sorted({c % (len(data) + 1) for c in cuts})
        for start, end in zip([0, *points], [*points, len(data)], strict=True):
            out += self.receiver.feed(data[start:end], self.now)
        # Noise pending on the line swallows the first frame that ends in this feed.
        self.swallowed = self.dirty and b"\x00" in data
        if data:
            self.dirty = (self.dirty and b"\x00" not in data) or not data.endswith(b"\x00")
        return out

    def expect(self, out: list[tuple[int, bytes]], wanted: list[tuple[int, bytes]]) -> None:
        if self.swallowed:
            assert all(o in wanted for o in out) and len(out) <= len(wanted)
            return
        assert out == wanted

    messages = st.tuples(st.sampled_from([0, 1]), st.binary(min_size=0, max_size=600))
    cuts = st.lists(st.integers(0, 5000), max_size=5)

    # -- rules --------------------------------------------------------------------------

    @rule(message=messages, cuts=cuts)
    def send_message(self, message: tuple[int, bytes], cuts: list[int]) -> None:
        """REQ-SER-001/004: an undisturbed message arrives once, however the reads cut it."""
        channel, body = message
        out = self.feed(b"".join(self.frames(channel, body)), cuts)
        self.expect(out, [(channel, body)])

    @rule(first=messages, second=messages, cuts=cuts)
    def interleave_two_channels(
        self, first: tuple[int, bytes], second: tuple[int, bytes], cuts: list[int]
    ) -> None:
        """Reassembly is per channel: fragments of channel 0 and 1 may alternate."""
        a = self.frames(0, first[1])
        b = self.frames(1, second[1])
        wire = b"".join(x for pair in zip(a, b, strict=False) for x in pair)
        wire += b"".join(a[len(b) :]) + b"".join(b[len(a) :])
        out = self.feed(wire, cuts)
        if self.swallowed:  # channel 0's first frame went down with the noise
            assert out == [(1, second[1])]
        else:
            assert sorted(out) == sorted([(0, first[1]), (1, second[1])])

    @rule(
        message=messages,
        fault=st.sampled_from(["drop", "repeat", "swap", "corrupt"]),
        which=st.integers(0, 10),
        position=st.integers(0, 2000),
    )
    def send_with_a_line_fault(
        self, message: tuple[int, bytes], fault: str, which: int, position: int
    ) -> None:
        channel, body = message
        frames = self.frames(channel, body)
        index = which % len(frames)
        count = len(frames)
        if fault == "drop":
            del frames[index]
            wanted: list[tuple[int, bytes]] = []
        elif fault == "repeat":
            frames.insert(index, frames[index])
            if count == 1:
                wanted = [(channel, body)] * 2  # an unfragmented message is simply received twice
            elif index in (0, count - 1):
                wanted = [(channel, body)]  # a new index 0 restarts; a late last frame is stray
            else:
                wanted = []
        elif fault == "swap":
            if count < 2:
                return
            index = min(index, count - 2)
            frames[index], frames[index + 1] = frames[index + 1], frames[index]
            wanted = []
        else:
            frame = bytearray(frames[index])
            spot = position % (len(frame) - 1)  # never the delimiter itself
            frame[spot] ^= 0x5A
            frames[index] = bytes(frame)
            wanted = []
        out = self.feed(b"".join(frames), [])
        self.expect(out, wanted)

    @rule(noise=st.binary(min_size=1, max_size=1500), delimited=st.booleans())
    def line_noise(self, noise: bytes, delimited: bool) -> None:
        """REQ-SER-003: noise is dropped; the receiver resynchronises at the next 00."""
        data = noise + (b"\x00" if delimited else b"")
        assert self.feed(data, []) == [], "noise became a message"

    @rule(message=messages, pause=st.sampled_from([0.5, 1.9, 2.1, 10.0]))
    def pause_between_fragments(self, message: tuple[int, bytes], pause: float) -> None:
        """REQ-SER-005: a message whose fragments pause longer than the timeout is discarded."""
        channel, body = message
        frames = self.frames(channel, body)
        if len(frames) < 2:
            return
        out = self.feed(frames[0], [])
        self.now += pause
        out += self.feed(b"".join(frames[1:]), [])
        self.now += 0.01
        self.expect(out, [(channel, body)] if pause <= TIMEOUT else [])


TestSerialLink = SerialLinkMachine.TestCase
TestSerialLink.settings = stateful_settings(scale=2)
