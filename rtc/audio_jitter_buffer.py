"""An audio jitter buffer that hands each packet over as it comes, for a receiver that has
a playout buffer of its own (the MCU's mixer fifo, mcu/media/audio_mixer.SampleFifo).

aiortc's audio JitterBuffer (capacity 16, prefetch 4) releases a frame only once four more
are behind it: every packet waits 80 ms, on top of the mixer's own prebuffer, so a site's
voice reached the mix about 80 ms after its picture reached the compositor, and the
recording's audio lagged its video by as much (terminals/av_sync.py measured it: the sync
pattern's clicks 110-200 ms after its flashes). Here every audio RTP packet is a whole frame
(Opus, G.722, G.711 at 20 ms each), so a packet at the buffer's origin is released at once.

A gap (a lost packet): aiortc waits for it until the buffer overflows (16 packets, 320 ms)
and then releases one frame per packet added, so the 300 ms it piled up stay as latency for
good. Here a gap is given up once a packet GAP_PATIENCE packets past it has arrived (60 ms
at 20 ms a packet): the packets between are dropped (they would only come late) and the
newest is released, so the latency after a loss is back to one packet's. Packets older than
the origin (late, or duplicates) are dropped, as aiortc does; but a packet MAX_MISORDER or
more behind it (or 32768 or more ahead, which 16-bit arithmetic cannot tell apart) is a
sender that started its numbers again: the buffer starts again from it, as aiortc's does
past MAX_MISORDER (until stop 26 such a stream was dropped until its numbers caught up with
the old origin, up to 32767 packets, about 11 minutes).

Each frame released keeps its packet's RFC 6464 audio level (`LevelledFrame.level_dbov`,
None when the packet carries none), so the MCU can leave a voice it would not hear
undecoded (mcu/media/inline_audio.py).
"""

from __future__ import annotations

from aiortc import RTCRtpReceiver
from aiortc.jitterbuffer import MAX_MISORDER, JitterBuffer, JitterFrame
from aiortc.rtp import RtpPacket
from aiortc.utils import uint16_add

from rtc.aiortc_hooks import depayloaded, replace_jitter_buffer

AUDIO_CAPACITY = 16  # aiortc's, for audio
GAP_PATIENCE = 3


class LevelledFrame(JitterFrame):
    """aiortc's JitterFrame and the level its packet stated, in dBov (-127..0; None: no
    level in the packet, or the extension not negotiated)."""

    def __init__(self, data: bytes, timestamp: int, level_dbov: int | None) -> None:
        super().__init__(data, timestamp)
        self.level_dbov = level_dbov


class AudioJitterBuffer(JitterBuffer):
    def __init__(self, capacity: int = AUDIO_CAPACITY) -> None:
        super().__init__(capacity=capacity, prefetch=0)
        self.gaps_skipped = 0

    def add(self, packet: RtpPacket) -> tuple[bool, JitterFrame | None]:
        origin, sequence = self._origin, packet.sequence_number
        if origin is None:
            self._origin = sequence
        elif 0 < uint16_add(origin, -sequence) < 0x8000:  # before the origin
            if uint16_add(origin, -sequence) < MAX_MISORDER:
                return False, None  # late, or a duplicate
            self.remove(self.capacity)  # far before: the sender started again from it
            self._origin = sequence
        elif uint16_add(sequence, -origin) >= self.capacity:
            self.remove(self.capacity)  # far ahead (a jump): start again from it
            self._origin = sequence
        self._packets[packet.sequence_number % self.capacity] = packet
        return False, self._release(packet.sequence_number)

    def _release(self, newest: int) -> JitterFrame | None:
        assert self._origin is not None
        first = self._packets[self._origin % self.capacity]
        if first is None:
            if uint16_add(newest, -self._origin) < GAP_PATIENCE:
                return None
            self.gaps_skipped += 1
            self.remove(uint16_add(newest, -self._origin))  # drop the gap and what followed
            first = self._packets[self._origin % self.capacity]
            assert first is not None
        self.remove(1)
        level = first.extensions.audio_level
        return LevelledFrame(depayloaded(first), first.timestamp,
                             None if level is None else -level[1])


def release_audio_at_once(receiver: RTCRtpReceiver) -> None:
    """Give an audio receiver that has not started receiving an AudioJitterBuffer."""
    replace_jitter_buffer(receiver, AudioJitterBuffer())
