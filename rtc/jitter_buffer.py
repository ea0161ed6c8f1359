"""A video jitter buffer that hands a frame over as soon as its last packet is in.

aiortc's JitterBuffer knows a video frame is complete only when a packet of the NEXT frame
(another RTP timestamp) arrives, so every frame waits one frame interval (33 ms at 30 fps)
in every receiver: once at the MCU, once again at the terminal, on every picture. Senders
mark the last packet of each frame (RTP marker bit, RFC 6184 5.1 for H.264, RFC 7741 for
VP8; aiortc's packetizers set it), and libwebrtc's receivers release a frame on it. This
subclass does the same: a frame whose packets run without a gap from the buffer's origin to
a packet with the marker bit is released at once; a sender that marks no frame end still
has its frames released the way aiortc does, when the next frame begins; a gap (a lost
packet, the marker's included) holds the frame until it is filled or the buffer overflows,
as in aiortc. Like aiortc's, it hands over at most one frame per packet added, so after a
retransmission fills a gap the frames behind it follow one per packet. Padding-only
packets never make a frame. Everything else (capacity, misorder handling, PLI on overflow,
the depayloaded `_data` of each packet) is aiortc's.

The receiver creates its jitter buffer in its constructor, as private state;
`release_frames_at_marker` replaces it before the receiver starts, through
rtc/aiortc_hooks.py. Audio keeps aiortc's buffer (its prefetch of 4 frames smooths the 20 ms
packets).
"""

from __future__ import annotations

from aiortc import RTCRtpReceiver
from aiortc.jitterbuffer import JitterBuffer, JitterFrame
from aiortc.rtp import RtpPacket

from rtc.aiortc_hooks import depayloaded, replace_jitter_buffer

VIDEO_CAPACITY = 512  # aiortc's, for video


class MarkerJitterBuffer(JitterBuffer):
    def __init__(self, capacity: int = VIDEO_CAPACITY) -> None:
        super().__init__(capacity=capacity, is_video=True)

    def _remove_frame(self, sequence_number: int) -> JitterFrame | None:
        packets: list[RtpPacket] = []
        timestamp: int | None = None
        origin = self._origin
        if origin is None:
            return None  # nothing added yet (add() sets the origin before calling this)
        for count in range(self.capacity):
            packet = self._packets[(origin + count) % self._capacity]
            if packet is None:
                return None  # a gap: the frame is not complete yet
            if timestamp is None:
                timestamp = packet.timestamp
            elif packet.timestamp != timestamp:
                # The next frame began and this one had no marker (a sender that does not
                # mark, or padding after a marked frame): complete, as aiortc decides.
                return self._take(packets, timestamp, count) or self._remove_frame(
                    sequence_number)
            packets.append(packet)
            if packet.marker:
                return self._take(packets, timestamp, count + 1) or self._remove_frame(
                    sequence_number)
        return None

    def _take(self, packets: list[RtpPacket], timestamp: int, count: int
              ) -> JitterFrame | None:
        self.remove(count)
        data = b"".join(depayloaded(p) for p in packets)
        if not data:
            # Padding only (a sender probing bandwidth after a frame it already marked): an
            # empty frame would reach the decoder as end of stream and stop it for good.
            return None
        return JitterFrame(data=data, timestamp=timestamp)


def release_frames_at_marker(receiver: RTCRtpReceiver) -> None:
    """Give a video receiver that has not started receiving a MarkerJitterBuffer."""
    replace_jitter_buffer(receiver, MarkerJitterBuffer())
