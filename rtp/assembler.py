"""The receive jitter buffer: RTP packets (any order, duplicates, gaps) -> whole frames in
sequence order. A video frame is the packets from the one after a marker up to the next
marker; an audio frame is one packet. A gap is waited for `wait` seconds (the time NACK has to
bring the packet back); then the buffer skips to the next whole frame and reports the loss, so
the session can ask for a keyframe."""

from __future__ import annotations

from dataclasses import dataclass, field

from aiortc.rtp import RtpPacket

MAX_PACKETS = 2048  # beyond this many buffered packets the oldest gap is given up at once


@dataclass
class Released:
    frames: list[list[RtpPacket]] = field(default_factory=list)
    lost: int = 0  # packets given up since the previous call


class FrameAssembler:
    def __init__(self, video: bool, wait: float) -> None:
        self.video = video
        self.wait = wait
        self._packets: dict[int, RtpPacket] = {}
        self._next: int | None = None  # extended sequence number of the next frame's start
        self._highest: int | None = None
        self._gap_since: float | None = None
        self.duplicates = 0
        self.late = 0

    def extend(self, seq: int) -> int:
        """A 16-bit sequence number as an extended one, next to the highest seen (the first
        packet is put in cycle 1, so a packet reordered before it still has room below;
        RFC 3550's extended highest sequence number is this less 1 << 16)."""
        if self._highest is None:
            return seq + (1 << 16)  # room below the first packet for reordering
        base = self._highest & ~0xFFFF
        candidates = (base - 0x10000 + seq, base + seq, base + 0x10000 + seq)
        return min(candidates, key=lambda c: abs(c - self._highest))  # type: ignore[operator]

    def missing(self) -> list[int]:
        """16-bit sequence numbers of the holes below the highest packet received."""
        if self._next is None or self._highest is None:
            return []
        return [s & 0xFFFF for s in range(self._next, self._highest) if s not in self._packets]

    def add(self, packet: RtpPacket, now: float) -> tuple[int, bool]:
        """Store a packet; (its extended seq, whether it opened a new gap)."""
        ext = self.extend(packet.sequence_number)
        if self._next is not None and ext < self._next:
            self.late += 1
            return ext, False
        if ext in self._packets:
            self.duplicates += 1
            return ext, False
        new_gap = self._highest is not None and ext > self._highest + 1
        self._packets[ext] = packet
        if self._next is None:
            self._next = ext
        if self._highest is None or ext > self._highest:
            self._highest = ext
        return ext, new_gap

    def release(self, now: float) -> Released:
        out = Released()
        while self._next is not None:
            frame = self._whole_frame_at(self._next)
            if frame is not None:
                out.frames.append(frame)
                for _ in frame:
                    del self._packets[self._next]
                    self._next += 1
                self._gap_since = None
                continue
            if self._next not in self._packets or self._frame_has_hole(self._next):
                if not self._packets:
                    break
                if self._gap_since is None:
                    self._gap_since = now
                if now - self._gap_since < self.wait and len(self._packets) < MAX_PACKETS:
                    break
                out.lost += self._skip()
                self._gap_since = None
                continue
            break  # the frame at _next is still arriving
        return out

    def _whole_frame_at(self, start: int) -> list[RtpPacket] | None:
        frame: list[RtpPacket] = []
        seq = start
        while seq in self._packets:
            packet = self._packets[seq]
            if frame and packet.timestamp != frame[0].timestamp:
                return None  # a frame without its marker: broken, skipped by _skip()
            frame.append(packet)
            if not self.video or packet.marker:
                return frame
            seq += 1
        return None

    def _frame_has_hole(self, start: int) -> bool:
        """Packets with another timestamp or a missing one lie before this frame's marker."""
        seq, first = start, self._packets[start]
        while seq in self._packets:
            if self._packets[seq].timestamp != first.timestamp:
                return True
            if self._packets[seq].marker:
                return False
            seq += 1
        assert self._highest is not None
        return seq <= self._highest  # a hole with packets beyond it

    def _skip(self) -> int:
        """Drop up to the start of the next frame we can see begin; the packets lost."""
        assert self._next is not None and self._highest is not None
        lost = 0
        seq = self._next
        previous: RtpPacket | None = None
        while seq <= self._highest:
            packet = self._packets.get(seq)
            if packet is not None and seq > self._next:
                if not self.video or (previous is not None and previous.marker):
                    break
                if previous is not None and previous.timestamp != packet.timestamp:
                    break
            if packet is None:
                lost += 1
            else:
                del self._packets[seq]
            previous = packet
            seq += 1
        self._next = seq
        return lost
