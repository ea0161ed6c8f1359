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
packets never make a frame. A packet that cannot complete a frame (the next one in order of
the frame being received, not its last, while no complete frame waits) is stored without the
search from the origin aiortc's add runs for every packet (a frame of n packets cost n
searches of up to n packets each). Everything else (capacity, misorder handling, PLI on overflow,
the depayloaded `_data` of each packet) is aiortc's.

Except one thing aiortc lacks: a gap that will never be filled (the packet and its
retransmissions lost, or older than the sender's retransmission history) no longer holds
every frame behind it until the buffer overflows. aiortc's buffer waits for the gap until
512 packets have piled up behind it, several seconds of video (~9 s in the soak);
meanwhile the keyframe the receiver asked for (PLI) arrives complete and waits behind the
gap too, so the picture stays frozen for seconds after a loss burst (docs/benchmarks.md,
"Soak: the two targets"). So when a complete keyframe lies behind the gap, the buffer
drops what is before it and releases the keyframe, as libwebrtc's frame buffer jumps to a
decodable keyframe: the older frames could not be decoded without the missing packet
anyway. The keyframe must be certainly whole: its first packet follows a packet of another
frame (or, for H.264, starts with an SPS, which begins an access unit), its packets run
without a gap to its marker packet, and the codec's bitstream says keyframe
(rtc/encoded_frames.py). A buffer given no codec lookup keeps aiortc's behaviour.

The receiver creates its jitter buffer in its constructor, as private state;
`release_frames_at_marker` replaces it before the receiver starts, through
rtc/aiortc_hooks.py. Audio has its own (rtc/audio_jitter_buffer.py) at the MCU, aiortc's
(its prefetch of 4 frames smooths the 20 ms packets) at the terminals.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from aiortc import RTCRtpReceiver
from aiortc.jitterbuffer import JitterBuffer, JitterFrame
from aiortc.rtp import RtpPacket
from aiortc.utils import uint16_add, uint16_gt

from rtc.aiortc_hooks import depayloaded, receiver_codec_name, replace_jitter_buffer
from rtc.encoded_frames import is_keyframe

VIDEO_CAPACITY = 512  # aiortc's, for video
_H264_START_CODE = b"\x00\x00\x01"
_H264_SPS = 7

CodecLookup = Callable[[int], str | None]  # payload type -> codec name


def _starts_with_sps(data: bytes) -> bool:
    position = data.find(_H264_START_CODE)
    return 0 <= position <= 1 and len(data) > position + 3 and (
        data[position + 3] & 0x1F) == _H264_SPS


class MarkerJitterBuffer(JitterBuffer):
    # every buffer of the process: keyframes released past a gap (the soak reports it)
    keyframe_skips_total: ClassVar[int] = 0

    def __init__(self, capacity: int = VIDEO_CAPACITY,
                 codec_name: CodecLookup | None = None) -> None:
        super().__init__(capacity=capacity, is_video=True)
        self._codec_name = codec_name
        self.keyframe_skips = 0  # times a keyframe was released past a gap
        self.packets_skipped = 0  # buffered packets dropped by those skips
        self._newest: int | None = None  # the highest sequence number added
        self._newest_packet: RtpPacket | None = None  # the packet of that number
        # the last search from the origin found no complete frame, and nothing was
        # released since: a packet that cannot complete one needs no search (add)
        self._settled = False
        self._searched = False  # _remove_frame ran during this add

    def add(self, packet: RtpPacket) -> tuple[bool, JitterFrame | None]:
        sequence_number = packet.sequence_number
        last = self._newest_packet
        if (self._settled and last is not None and not packet.marker
                and sequence_number == (last.sequence_number + 1) & 0xFFFF
                and packet.timestamp == last.timestamp and self._origin is not None
                and uint16_add(sequence_number, -self._origin) < self._capacity
                and self._packets[last.sequence_number % self._capacity] is last):
            # The next packet of the frame being received, in order, not its last: the
            # search from the origin would stop where it stopped at the previous packet
            # (a gap, or this frame's end not in yet), so it is not run (aiortc's add
            # would store the packet and search; a frame of n packets cost n searches).
            self._packets[sequence_number % self._capacity] = packet
            self._newest, self._newest_packet = sequence_number, packet
            return False, None
        newest = self._newest is None or uint16_gt(sequence_number, self._newest)
        if newest:
            self._newest, self._newest_packet = sequence_number, packet
        self._searched = False
        pli_flag, frame = super().add(packet)
        # A frame can only become complete with its marker packet or a packet that fills a
        # hole (not the newest): the search runs on those, not on every packet.
        if frame is None and self._codec_name is not None and (packet.marker or not newest):
            frame = self._keyframe_past_gap(packet)
        if frame is not None:
            self._settled = False  # another complete frame may wait behind it
        elif self._searched:
            self._settled = True  # searched, nothing complete: until the next packet's
        return pli_flag, frame

    def _at(self, offset: int) -> RtpPacket | None:
        assert self._origin is not None
        return self._packets[(self._origin + offset) % self._capacity]

    def _keyframe_past_gap(self, packet: RtpPacket) -> JitterFrame | None:
        """The complete keyframe `packet` belongs to, released with everything before it
        dropped, when the frame at the buffer's origin cannot be completed yet; else None."""
        origin = self._origin
        if origin is None or self._at(0) is not None and self._frame_end(0) is not None:
            return None  # no gap before the first frame: the ordinary path releases it
        offset = uint16_add(packet.sequence_number, -origin)
        if offset >= self._capacity or self._at(offset) is not packet:
            return None  # not stored (too old, or a duplicate)
        start = offset
        while start > 0:
            before = self._at(start - 1)
            if before is None:
                if not _starts_with_sps(depayloaded(self._at(start))):  # type: ignore[arg-type]
                    return None  # where this frame begins is not known
                break
            if before.timestamp != packet.timestamp or before.marker:
                break  # the previous frame ends just before
            start -= 1
        if start == 0:
            return None  # the frame at the origin: the ordinary path decides
        end = self._frame_end(start)
        if end is None:
            return None
        packets = [self._at(i) for i in range(start, end + 1)]
        data = b"".join(depayloaded(p) for p in packets if p is not None)
        codec = self._codec_name(packet.payload_type)  # type: ignore[misc]
        if codec is None or not is_keyframe(codec, data):
            return None
        if all(self._at(i) is not None for i in range(start)):
            return None  # no gap before it: the frames before it will be released in turn
        self.keyframe_skips += 1
        MarkerJitterBuffer.keyframe_skips_total += 1
        self.packets_skipped += sum(self._at(i) is not None for i in range(start))
        self.remove(start)
        return self._take(packets, packet.timestamp, end + 1 - start)  # type: ignore[arg-type]

    def _frame_end(self, start: int) -> int | None:
        """The offset of the marker packet ending the frame that begins at `start`, its
        packets all in; None if one is missing or no marker ends it (yet)."""
        first = self._at(start)
        if first is None:
            return None
        for offset in range(start, self._capacity):
            packet = self._at(offset)
            if packet is None or packet.timestamp != first.timestamp:
                return None
            if packet.marker:
                return offset
        return None

    def _remove_frame(self, sequence_number: int) -> JitterFrame | None:
        self._searched = True
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
    """Give a video receiver that has not started receiving a MarkerJitterBuffer (which
    reads the receiver's payload types to tell a keyframe past a gap)."""
    replace_jitter_buffer(receiver, MarkerJitterBuffer(
        codec_name=lambda payload_type: receiver_codec_name(receiver, payload_type)))
