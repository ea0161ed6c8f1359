"""A video jitter buffer that hands a frame over as soon as its last packet is in.

aiortc's JitterBuffer knows a video frame is complete only when a packet of the NEXT frame
(another RTP timestamp) arrives, so every frame waits one frame interval (33 ms at 30 fps)
in every receiver: once at the MCU, once again at the terminal, on every picture. Senders
mark the last packet of each frame (RTP marker bit, RFC 6184 5.1 for H.264, RFC 7741 for
VP8; aiortc's packetizers set it), and libwebrtc's receivers release a frame on it. This
subclass does the same: a frame whose packets run without a gap from the buffer's origin to
a packet with the marker bit is released at once; a frame whose marker packet was lost is
still released the way aiortc does, when the next frame begins. Everything else (capacity,
misorder handling, PLI on overflow, the depayloaded `_data` of each packet) is aiortc's.

The receiver creates its jitter buffer in its constructor, as name-mangled private state;
`release_frames_at_marker` replaces it before the receiver starts, and is the one place that
does. Audio keeps aiortc's buffer (its prefetch of 4 frames smooths the 20 ms packets).
"""

from __future__ import annotations

from aiortc import RTCRtpReceiver
from aiortc.jitterbuffer import JitterBuffer, JitterFrame
from aiortc.rtp import RtpPacket

VIDEO_CAPACITY = 512  # aiortc's, for video


class MarkerJitterBuffer(JitterBuffer):
    def __init__(self, capacity: int = VIDEO_CAPACITY) -> None:
        super().__init__(capacity=capacity, is_video=True)

    def _remove_frame(self, sequence_number: int) -> JitterFrame | None:
        packets: list[RtpPacket] = []
        timestamp: int | None = None
        for count in range(self.capacity):
            packet = self._packets[(self._origin + count) % self._capacity]
            if packet is None:
                return None  # a gap: the frame is not complete yet
            if timestamp is None:
                timestamp = packet.timestamp
            elif packet.timestamp != timestamp:
                # The next frame began and this one had no marker (its last packet was
                # lost, or a sender that does not mark): complete, as aiortc decides.
                return self._take(packets, timestamp, count)
            packets.append(packet)
            if packet.marker:
                return self._take(packets, timestamp, count + 1)
        return None

    def _take(self, packets: list[RtpPacket], timestamp: int, count: int) -> JitterFrame:
        frame = JitterFrame(data=b"".join(p._data for p in packets),  # type: ignore[attr-defined]
                            timestamp=timestamp)
        self.remove(count)
        return frame


def release_frames_at_marker(receiver: RTCRtpReceiver) -> None:
    """Give a video receiver that has not started receiving a MarkerJitterBuffer."""
    receiver._RTCRtpReceiver__jitter_buffer = MarkerJitterBuffer()  # type: ignore[attr-defined]
