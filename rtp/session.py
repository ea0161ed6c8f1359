"""One RTP session (one m-line) over UDP, RFC 3550: RTP and RTCP (SR, RR, SDES CNAME, BYE)
on the negotiated ports (RTCP on its own port, port+1 or a=rtcp, unless a=rtcp-mux), SRTP and
SRTCP through pylibsrtp when SDES keys were negotiated, symmetric RTP (we send from the port we
receive on, and follow the address the peer's authenticated packets come from).

Receive: SRTP check (a packet failing authentication is dropped and counted), the jitter
buffer (assembler.py), NACK for the holes (when "nack" was negotiated), PLI (or FIR) when a
hole is given up or a frame does not decode, the depacketizer and decoder of the codec (video
on the session's decoder thread, as aiortc's receivers do; audio on the loop), and the
decoded frames handed to `on_frame` on the loop; telephone events handed up as digits to `on_digit`.
Send: `send_frame` packetizes an encoded frame; the packets are kept for NACK retransmission;
a PLI or FIR from the peer calls `on_keyframe_request`; `send_digits` sends RFC 4733 events.
Bit rate limits (RFC 5104, rtp/tmmbr.py) when `ccm tmmbr` was negotiated: `send_tmmbr` asks
the peer's video sender for a limit (sent at once, again with every report until the peer's
TMMBN states it); a TMMBR from the peer goes to `on_tmmbr`, and is notified back (TMMBN) when
it answers that it follows it.
A session that replaces another on the same sockets (a re-offer changed the codec, keys or
peer) is told the previous one's remote SSRC (`replaced_source`): the peer's old stream may
still arrive until it has applied the answer, and it is taken as the source only until
another SSRC appears, which then takes over (its jitter buffer and report counters start
afresh; a peer that keeps its SSRC across the re-offer goes on as one source)."""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from typing import Any

import av
import pylibsrtp
from aiortc.rtp import (
    RtcpByePacket,
    RtpPacket,
    is_rtcp,
)

from rtp.assembler import FrameAssembler
from rtp.media_sockets import MediaSockets, drop_datagram
from rtp.payloads import PayloadError
from rtp.session_core import DECODE_BACKLOG, HISTORY, SessionCore
from rtp.session_rtcp import NTP_EPOCH_OFFSET, TMMBR, RtcpSession, ntp_now
from rtp.session_stats import SessionStats

# the parts' names, re-exported: importers use this module's names (a new module imports from
# the part that defines one)
__all__ = [
    "DECODE_BACKLOG",
    "HISTORY",
    "NTP_EPOCH_OFFSET",
    "TMMBR",
    "MediaSockets",
    "RtcpSession",
    "RtpSession",
    "SessionCore",
    "SessionStats",
    "ntp_now",
]

log = logging.getLogger(__name__)


class RtpSession(RtcpSession):
    """One m-line's RTP session: its life and its receiving side, over SessionCore's state
    and sending (rtp/session_core.py) and its RTCP (rtp/session_rtcp.py)."""

    # ---- life
    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.sockets.target = self._on_datagram
        if self.video:
            self._decode_thread = threading.Thread(target=self._decode_worker, daemon=True,
                                                   name=f"rtp-decode-{self.codec.name}")
            self._decode_thread.start()
        self._tasks.append(asyncio.create_task(self._rtcp_loop(), name="rtcp"))
        self._tasks.append(asyncio.create_task(self._release_loop(), name="jitter"))

    async def close(self, keep_sockets: bool = False) -> None:
        """RTCP BYE, the session's tasks and decoder ended; its sockets closed, or with
        `keep_sockets` left bound for the next session of the m-line (a re-INVITE that
        changed its codec or keys keeps the ports the SDP states)."""
        if self.closed:
            return
        self.closed = True
        try:
            self._send_rtcp([*self._report_packets(), RtcpByePacket(sources=[self.ssrc])])
        except Exception:  # noqa: BLE001 - closing: a BYE that cannot go is not an error
            log.debug("rtcp bye not sent", exc_info=True)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if keep_sockets:
            if self.sockets.target == self._on_datagram:
                self.sockets.target = drop_datagram
        else:
            self.sockets.close()
        if self._decode_thread is not None:
            while True:  # the worker's end marker, past whatever is still queued
                try:
                    self._decode_queue.put_nowait(None)
                    break
                except queue.Full:
                    self._decode_queue.get_nowait()
            await asyncio.to_thread(self._decode_thread.join)
        self.on_closed()

    # ---- receiving
    def _on_datagram(self, data: bytes, addr: Any, via_rtcp_port: bool) -> None:
        if self.closed:
            return
        try:
            if is_rtcp(data):
                self._on_rtcp(data, addr)
            elif not via_rtcp_port:
                self._on_rtp(data, addr)
        except (ValueError, PayloadError) as exc:
            self.stats.malformed += 1
            log.debug("malformed packet from %s: %s", addr, exc)

    def _on_rtp(self, data: bytes, addr: Any) -> None:
        if self._rx is not None:
            try:
                data = self._rx.unprotect(data)
            except pylibsrtp.Error as exc:
                self._count_srtp_failure(exc)
                return
        packet = RtpPacket.parse(data)
        if self.remote_ssrc is None:
            self.remote_ssrc = packet.ssrc
        elif packet.ssrc != self.remote_ssrc:
            if self.replaced_source is None or self.remote_ssrc != self.replaced_source:
                self.stats.malformed += 1  # a second source on a one-source session
                return
            self._take_over(packet.ssrc)
        self._remote_rtp = (addr[0], addr[1])  # symmetric RTP: answer where it comes from
        if self.plan.rtcp_mux:
            self._remote_rtcp = self._remote_rtp
        if packet.payload_type == self.plan.dtmf_payload_type:
            digit = self._digits.receive(packet.timestamp, packet.payload)
            if digit is not None:
                self.stats.digits_received.append(digit)
                self.on_digit(digit)
            return
        if (packet.payload_type != self.codec.payload_type
                and packet.payload_type not in self.plan.same_codec_types):
            self.stats.malformed += 1
            return
        self.stats.packets_received += 1
        self.stats.octets_received += len(packet.payload)
        self._update_jitter(packet)
        now = time.monotonic()
        ext, new_gap = self._assembler.add(packet, now)
        if self._first_ext is None:
            self._first_ext = ext
        if self._highest_ext is None or ext > self._highest_ext:
            self._highest_ext = ext
        if new_gap:
            self._send_nack(self._assembler.missing())
        self._release(now)


    def _take_over(self, ssrc: int) -> None:
        """A new source after the replaced session's (its stream drained late): it is the
        session's source from now on, its sequence numbers and timing counted afresh."""
        self.remote_ssrc, self.replaced_source = ssrc, None
        self._assembler = FrameAssembler(self.video, self._jitter_wait)
        self._transit = None
        self._first_ext = self._highest_ext = None
        self._expected_prior = self._received_prior = 0
        self._received_base = self.stats.packets_received  # the old source's are not its
        self._last_sr = None
    def _update_jitter(self, packet: RtpPacket) -> None:
        arrival = int((time.monotonic() - self._started) * self.clock_rate)
        transit = arrival - packet.timestamp
        if self._transit is not None:
            d = abs(transit - self._transit)
            self.stats.jitter += (d - self.stats.jitter) / 16
        self._transit = transit

    async def _release_loop(self) -> None:
        while True:
            await asyncio.sleep(0.02)
            self._release(time.monotonic())

    def _release(self, now: float) -> None:
        released = self._assembler.release(now)
        if released.lost:
            self.stats.packets_lost += released.lost
            if self.video:
                self.request_keyframe()
        for frame in released.frames:
            self.stats.frames_received += 1
            if not self.video:
                self._deliver(*self._decode(frame))
                continue
            if self.on_encoded_frame is not None and not self._hand_encoded(frame):
                continue
            try:
                self._decode_queue.put_nowait(frame)
            except queue.Full:  # the decoder is behind: start over from a keyframe
                while not self._decode_queue.empty():
                    self._decode_queue.get_nowait()
                self.stats.decode_errors += 1
                self.request_keyframe()

    def _hand_encoded(self, packets: list[RtpPacket]) -> bool:
        """The frame to on_encoded_frame; whether it is to be decoded too."""
        assert self.on_encoded_frame is not None
        try:
            data = self._depacketizer.depacketize([p.payload for p in packets])
        except PayloadError as exc:
            log.debug("%s frame not depacketized: %s", self.codec.name, exc)
            self.stats.decode_errors += 1
            self.request_keyframe()
            return False
        return self.on_encoded_frame(data, packets[0].timestamp)

    def _decode_worker(self) -> None:
        while True:
            packets = self._decode_queue.get()
            if packets is None:
                return
            try:
                result = self._decode(packets)
            except Exception:  # noqa: BLE001 - the thread must outlive any one frame
                log.exception("%s decoder failed on a frame", self.codec.name)
                result = ([], False)
            assert self._loop is not None
            try:
                self._loop.call_soon_threadsafe(self._deliver, *result)
            except RuntimeError:  # the loop is closed
                return

    def _decode(self, packets: list[RtpPacket]) -> tuple[list[Any], bool]:
        """(decoded frames, whether the frame decoded); runs on the decoder thread (video)."""
        try:
            data = self._depacketizer.depacketize([p.payload for p in packets])
            frames: list[Any] = list(self._decoder.decode(data))
        except (PayloadError, av.FFmpegError, ValueError) as exc:
            log.debug("%s frame not decoded: %s", self.codec.name, exc)
            return [], False
        for frame in frames:
            frame.pts = packets[0].timestamp
        return frames, True

    def _deliver(self, frames: list[Any], decoded: bool) -> None:
        if self.closed:
            return
        if not decoded:
            self.stats.decode_errors += 1
            if self.video:
                self.request_keyframe()
        for frame in frames:
            self.stats.frames_decoded += 1
            self.on_frame(frame)
