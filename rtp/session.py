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
import secrets
import struct
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, cast

import av
import pylibsrtp
from aiortc.rtp import (
    RTCP_PSFB_FIR,
    RTCP_PSFB_PLI,
    RTCP_RTPFB_NACK,
    RtcpByePacket,
    RtcpPacket,
    RtcpPsfbPacket,
    RtcpReceiverInfo,
    RtcpRrPacket,
    RtcpRtpfbPacket,
    RtcpSdesPacket,
    RtcpSenderInfo,
    RtcpSourceInfo,
    RtcpSrPacket,
    RtpPacket,
    is_rtcp,
)

from rtc.datagram_drain import drain_when_readable
from rtc.socket_buffers import enlarge_receive_buffer
from rtp.assembler import FrameAssembler
from rtp.codecs import AudioDecoder, VideoDecoder, depacketizer, packetizer
from rtp.dtmf import DigitReceiver, DtmfError, TelephoneEvent, event_of
from rtp.negotiation import MediaPlan
from rtp.payloads import PayloadError
from rtp.tmmbr import FMT_TMMBN, FMT_TMMBR, BitrateEntry, bitrate_feedback, tmmbn, tmmbr

log = logging.getLogger(__name__)

TMMBR = "ccm tmmbr"  # the rtcp-fb value of RFC 5104's bit rate limits
HISTORY = 1024  # sent packets kept for NACK retransmission
DECODE_BACKLOG = 30  # video frames waiting for the decoder thread; beyond, a keyframe is asked
NTP_EPOCH_OFFSET = 2208988800


def ntp_now() -> int:
    now = time.time() + NTP_EPOCH_OFFSET
    return (int(now) << 32) | int((now % 1) * (1 << 32))


@dataclass
class SessionStats:
    packets_sent: int = 0
    octets_sent: int = 0
    packets_received: int = 0
    octets_received: int = 0
    packets_lost: int = 0  # holes the jitter buffer gave up
    srtp_auth_failures: int = 0  # SRTP/SRTCP packets dropped: authentication failed
    srtp_replays: int = 0  # SRTP/SRTCP packets dropped: an index already received (or too old)
    malformed: int = 0  # packets that did not parse or depacketize
    frames_received: int = 0
    frames_decoded: int = 0
    decode_errors: int = 0
    nacks_sent: int = 0
    nacks_received: int = 0
    retransmitted: int = 0
    plis_sent: int = 0
    firs_sent: int = 0
    keyframe_requests_received: int = 0
    sender_reports_received: int = 0
    receiver_reports_received: int = 0
    digits_received: list[str] = field(default_factory=list)
    jitter: float = 0.0  # RFC 3550 interarrival jitter, in RTP clock units
    remote_fraction_lost: int = 0  # from the peer's last report block about us
    remote_packets_lost: int = 0
    remote_highest_sequence: int = 0  # extended, as the peer reports it
    round_trip: float | None = None  # seconds, from the report's LSR/DLSR (RFC 3550 6.4.1)
    tmmbr_sent: int = 0  # TMMBR packets sent (a limit, and its repeats until notified)
    tmmbr_received: int = 0
    tmmbn_sent: int = 0
    tmmbn_received: int = 0
    tmmbr_limit: int | None = None  # the last limit the peer asked of our stream (bit/s)
    tmmbn_limit: int | None = None  # the last limit the peer's TMMBN says it follows


class _Endpoint(asyncio.DatagramProtocol):
    def __init__(self, on_datagram: Callable[[bytes, Any, bool], None], rtcp: bool) -> None:
        self.on_datagram = on_datagram
        self.rtcp = rtcp
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)
        sock = transport.get_extra_info("socket")
        if sock is not None:  # a keyframe's burst must not overflow the kernel's queue
            enlarge_receive_buffer(sock)
        drain_when_readable(transport)

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.on_datagram(data, addr, self.rtcp)

    def error_received(self, exc: Exception) -> None:  # ICMP port unreachable and the like
        log.debug("rtp socket error: %s", exc)


def _ignore(data: bytes, addr: Any, rtcp: bool) -> None:
    """Datagrams before a session takes the sockets (or after it closed) are dropped."""


class MediaSockets:
    """The UDP sockets of one m-line, bound before the SDP is written (their ports go in it):
    RTP on an even port and RTCP on the next one."""

    def __init__(self, host: str, rtp: _Endpoint, rtcp: _Endpoint) -> None:
        self.host = host
        self.rtp = rtp
        self.rtcp = rtcp
        self.target: Callable[[bytes, Any, bool], None] = _ignore
        rtp.on_datagram = rtcp.on_datagram = self._dispatch

    def _dispatch(self, data: bytes, addr: Any, rtcp: bool) -> None:
        self.target(data, addr, rtcp)

    @property
    def port(self) -> int:
        assert self.rtp.transport is not None
        return int(self.rtp.transport.get_extra_info("sockname")[1])

    @classmethod
    async def bind(cls, host: str = "127.0.0.1", attempts: int = 50) -> MediaSockets:
        loop = asyncio.get_running_loop()
        for _ in range(attempts):
            rtp = _Endpoint(_ignore, False)
            await loop.create_datagram_endpoint(lambda: rtp, local_addr=(host, 0))  # noqa: B023
            assert rtp.transport is not None
            port = rtp.transport.get_extra_info("sockname")[1]
            if port % 2 == 0 and port < 65535:
                rtcp = _Endpoint(_ignore, True)
                try:
                    await loop.create_datagram_endpoint(lambda: rtcp,  # noqa: B023
                                                        local_addr=(host, port + 1))
                except OSError:
                    rtp.transport.close()
                    continue
                return cls(host, rtp, rtcp)
            rtp.transport.close()
        raise OSError(f"no free even/odd UDP port pair on {host}")

    def close(self) -> None:
        for endpoint in (self.rtp, self.rtcp):
            if endpoint.transport is not None:
                endpoint.transport.close()


class RtpSession:
    def __init__(self, sockets: MediaSockets, plan: MediaPlan, *, cname: str = "mcu-sim",
                 rtcp_interval: float = 1.0, jitter_wait: float | None = None) -> None:
        self.sockets = sockets
        self.plan = plan
        self.codec = plan.codec
        self.kind = plan.kind
        self.video = plan.kind == "video"
        self.clock_rate = plan.codec.spec.clock_rate
        self.cname = cname.encode()
        self.rtcp_interval = rtcp_interval
        self.stats = SessionStats()
        self.ssrc = secrets.randbits(32)
        self.remote_ssrc: int | None = None
        self.replaced_source: int | None = None  # the remote SSRC of the session this replaced
        self._seq = secrets.randbits(16)
        self._timestamp_base = secrets.randbits(32)
        self._started = time.monotonic()
        self._last_rtp_timestamp = self._timestamp_base
        self._remote_rtp = (plan.remote_address, plan.remote_port)
        self._remote_rtcp = (plan.remote_address, plan.remote_rtcp_port)
        self._tx: pylibsrtp.Session | None = None
        self._rx: pylibsrtp.Session | None = None
        if plan.local_crypto is not None and plan.remote_crypto is not None:
            self._tx = pylibsrtp.Session(plan.local_crypto.policy(pylibsrtp.Policy.SSRC_ANY_OUTBOUND))
            self._rx = pylibsrtp.Session(plan.remote_crypto.policy(pylibsrtp.Policy.SSRC_ANY_INBOUND))
        self._packetizer = packetizer(plan.codec)
        self._depacketizer = depacketizer(plan.codec)
        self._decoder: VideoDecoder | AudioDecoder = (
            VideoDecoder(plan.codec) if self.video else AudioDecoder(plan.codec))
        self._jitter_wait = jitter_wait if jitter_wait is not None else (
            0.25 if self.video else 0.06)
        self._assembler = FrameAssembler(self.video, self._jitter_wait)
        self._history: OrderedDict[int, bytes] = OrderedDict()  # seq -> the datagram sent
        self._digits = DigitReceiver()
        self._dtmf_sending = False
        self._fir_seq = 0
        self._last_sr: tuple[int, float] | None = None  # (middle 32 bits of its NTP, arrival)
        self._transit: int | None = None
        self._received_since_report = 0
        self._received_base = 0  # packets_received before the source (a take-over) started
        self._expected_prior = 0
        self._received_prior = 0
        self._first_ext: int | None = None
        self._highest_ext: int | None = None
        self._keyframe_wait = False
        self.on_frame: Callable[[av.VideoFrame | av.AudioFrame], None] = lambda frame: None
        self.on_digit: Callable[[str], None] = lambda digit: None
        self.on_keyframe_request: Callable[[], None] = lambda: None
        # a TMMBR for our stream: its limit in bit/s; True when it is followed (TMMBN sent)
        self.on_tmmbr: Callable[[int], bool] = lambda bitrate: False
        self._tmmbr_wanted: int | None = None  # our limit until the peer's TMMBN states it
        self.on_closed: Callable[[], None] = lambda: None
        # a content stream's (mcu/media/sip_content.py): each reassembled video frame is
        # depacketized on the loop and handed here with its RTP timestamp first; it answers
        # whether the frame is to be decoded as well (None: every frame is decoded)
        self.on_encoded_frame: Callable[[bytes, int], bool] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        # video is decoded on its own thread (as aiortc's receivers do), audio on the loop
        self._decode_queue: queue.Queue[list[RtpPacket] | None] = queue.Queue(DECODE_BACKLOG)
        self._decode_thread: threading.Thread | None = None
        self.closed = False

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
                self.sockets.target = _ignore
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

    def set_direction(self, direction: str) -> None:
        """A re-offer changed only the direction (hold, resume: rtp/reoffer.py): from now
        on nothing is sent in recvonly or inactive."""
        self.plan = replace(self.plan, direction=direction)

    # ---- sending
    @property
    def rtp_timestamp_now(self) -> int:
        return (self._timestamp_base + int((time.monotonic() - self._started) * self.clock_rate)) & 0xFFFFFFFF

    def send_frame(self, data: bytes, keyframe: bool, timestamp: int | None = None,
                   side_data: bytes = b"") -> int:
        """Packetize and send one encoded frame; the number of packets sent."""
        if self.closed or self.plan.direction in ("recvonly", "inactive"):
            return 0
        if self._dtmf_sending and not self.video:
            return 0  # RFC 4733 2.5.1.1: no audio while an event plays
        stamp = self.rtp_timestamp_now if timestamp is None else timestamp & 0xFFFFFFFF
        payloads = self._packetizer.packetize(data, keyframe, side_data)
        for n, payload in enumerate(payloads):
            marker = int(n == len(payloads) - 1) if self.video else 0
            self._send_rtp(self.codec.payload_type, marker, stamp, payload)
        self._last_rtp_timestamp = stamp
        return len(payloads)

    def _send_rtp(self, payload_type: int, marker: int, timestamp: int, payload: bytes) -> None:
        packet = RtpPacket(payload_type=payload_type, marker=marker, sequence_number=self._seq,
                           timestamp=timestamp, ssrc=self.ssrc, payload=payload)
        data = packet.serialize()
        if self._tx is not None:
            data = self._tx.protect(data)
        self._history[self._seq] = data
        if len(self._history) > HISTORY:
            self._history.popitem(last=False)
        self._seq = (self._seq + 1) & 0xFFFF
        self.stats.packets_sent += 1
        self.stats.octets_sent += len(payload)
        self._sendto(data, rtcp=False)

    def _sendto(self, data: bytes, rtcp: bool) -> None:
        mux = self.plan.rtcp_mux
        endpoint = self.sockets.rtcp if rtcp and not mux else self.sockets.rtp
        if endpoint.transport is None or endpoint.transport.is_closing():
            return
        endpoint.transport.sendto(data, self._remote_rtcp if rtcp and not mux else self._remote_rtp)

    async def send_digits(self, digits: str, duration: float = 0.1, gap: float = 0.05) -> None:
        """RFC 4733 events for `digits` (0-9 * # A-D), one after another."""
        if self.plan.dtmf_payload_type is None:
            raise DtmfError("telephone-event was not negotiated")
        events = [event_of(d) for d in digits]
        step = self.clock_rate * 20 // 1000
        for event in events:
            self._dtmf_sending = True
            try:
                stamp = self.rtp_timestamp_now
                length = max(1, round(duration * 1000 / 20))
                for n in range(1, length + 1):
                    body = bytes(TelephoneEvent(event, False, 10, n * step))
                    self._send_rtp(self.plan.dtmf_payload_type, int(n == 1), stamp, body)
                    await asyncio.sleep(0.02)
                end = bytes(TelephoneEvent(event, True, 10, length * step))
                for _ in range(3):
                    self._send_rtp(self.plan.dtmf_payload_type, 0, stamp, end)
            finally:
                self._dtmf_sending = False
            await asyncio.sleep(gap)

    # ---- RTCP out
    def _report_block(self) -> list[RtcpReceiverInfo]:
        if self.remote_ssrc is None or self._highest_ext is None or self._first_ext is None:
            return []
        expected = self._highest_ext - self._first_ext + 1
        received = self.stats.packets_received - self._received_base
        lost = max(0, expected - received)
        expected_interval = expected - self._expected_prior
        received_interval = received - self._received_prior
        self._expected_prior, self._received_prior = expected, received
        lost_interval = expected_interval - received_interval
        fraction = (lost_interval << 8) // expected_interval if expected_interval > 0 and lost_interval > 0 else 0
        lsr, dlsr = 0, 0
        if self._last_sr is not None:
            lsr = self._last_sr[0]
            dlsr = int((time.monotonic() - self._last_sr[1]) * 65536)
        return [RtcpReceiverInfo(ssrc=self.remote_ssrc, fraction_lost=min(fraction, 255),
                                 packets_lost=lost, highest_sequence=(self._highest_ext - (1 << 16)) & 0xFFFFFFFF,
                                 jitter=int(self.stats.jitter), lsr=lsr, dlsr=dlsr)]

    def _report_packets(self) -> list[Any]:
        reports = self._report_block()
        first: Any
        if self.stats.packets_sent:
            first = RtcpSrPacket(ssrc=self.ssrc, sender_info=RtcpSenderInfo(
                ntp_timestamp=ntp_now(), rtp_timestamp=self.rtp_timestamp_now,
                packet_count=self.stats.packets_sent & 0xFFFFFFFF,
                octet_count=self.stats.octets_sent & 0xFFFFFFFF), reports=reports)
        else:
            first = RtcpRrPacket(ssrc=self.ssrc, reports=reports)
        sdes = RtcpSdesPacket(chunks=[RtcpSourceInfo(ssrc=self.ssrc, items=[(1, self.cname)])])
        return [first, sdes]

    def _send_rtcp(self, packets: list[Any]) -> None:
        """Packets (aiortc's RTCP packets or bytes of our own) in one compound packet."""
        data = b"".join(bytes(p) for p in packets)
        if self._tx is not None:
            data = self._tx.protect_rtcp(data)
        self._sendto(data, rtcp=True)

    async def _rtcp_loop(self) -> None:
        while True:
            await asyncio.sleep(self.rtcp_interval)
            self._send_rtcp([*self._report_packets(), *self._tmmbr_packets()])

    @property
    def tmmbr_negotiated(self) -> bool:
        return self.video and TMMBR in self.codec.feedback

    def send_tmmbr(self, bitrate: int) -> bool:
        """Ask the peer's video sender for at most `bitrate` bit/s (RFC 5104 TMMBR): sent
        now when its SSRC is known, else with the first report after it is, and repeated
        with every report until the peer's TMMBN states it. False when TMMBR was not
        negotiated (nothing is sent)."""
        if not self.tmmbr_negotiated or self.closed:
            return False
        self._tmmbr_wanted = bitrate
        packets = self._tmmbr_packets()
        if packets:
            self._send_rtcp([*self._report_packets(), *packets])
        return True

    def _tmmbr_packets(self) -> list[bytes]:
        if self._tmmbr_wanted is None or self.remote_ssrc is None:
            return []
        self.stats.tmmbr_sent += 1
        return [tmmbr(self.ssrc, self.remote_ssrc, self._tmmbr_wanted)]

    def request_keyframe(self) -> None:
        """PLI when negotiated, else FIR when negotiated, else nothing (RFC 4585/5104)."""
        if self.remote_ssrc is None:
            return
        feedback = self.codec.feedback
        if "nack pli" in feedback:
            self.stats.plis_sent += 1
            packet: Any = RtcpPsfbPacket(fmt=RTCP_PSFB_PLI, ssrc=self.ssrc, media_ssrc=self.remote_ssrc)
        elif "ccm fir" in feedback:
            self.stats.firs_sent += 1
            self._fir_seq = (self._fir_seq + 1) & 0xFF
            packet = RtcpPsfbPacket(fmt=RTCP_PSFB_FIR, ssrc=self.ssrc, media_ssrc=0,
                                    fci=struct.pack("!LB3x", self.remote_ssrc, self._fir_seq))
        else:
            return
        self._send_rtcp([*self._report_packets(), packet])

    def _send_nack(self, lost: list[int]) -> None:
        if "nack" not in self.codec.feedback or not lost or self.remote_ssrc is None:
            return
        self.stats.nacks_sent += 1
        nack = RtcpRtpfbPacket(fmt=RTCP_RTPFB_NACK, ssrc=self.ssrc, media_ssrc=self.remote_ssrc,
                               lost=lost[:256])
        self._send_rtcp([*self._report_packets(), nack])

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

    def _count_srtp_failure(self, exc: pylibsrtp.Error) -> None:
        if "replay" in str(exc):
            self.stats.srtp_replays += 1
        else:
            self.stats.srtp_auth_failures += 1
            log.debug("SRTP packet dropped: %s", exc)

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

    def _on_rtcp(self, data: bytes, addr: Any) -> None:
        if self._rx is not None:
            try:
                data = self._rx.unprotect_rtcp(data)
            except pylibsrtp.Error as exc:
                self._count_srtp_failure(exc)
                return
        if self.tmmbr_negotiated:
            self._take_bitrate_feedback(data)
        for packet in RtcpPacket.parse(data):
            if isinstance(packet, RtcpSrPacket):
                self.stats.sender_reports_received += 1
                self._last_sr = ((packet.sender_info.ntp_timestamp >> 16) & 0xFFFFFFFF, time.monotonic())
                self._take_reports(packet.reports)
            elif isinstance(packet, RtcpRrPacket):
                self.stats.receiver_reports_received += 1
                self._take_reports(packet.reports)
            elif isinstance(packet, RtcpRtpfbPacket) and packet.fmt == RTCP_RTPFB_NACK:
                if packet.media_ssrc == self.ssrc and "nack" in self.codec.feedback:
                    self.stats.nacks_received += 1
                    for seq in packet.lost:
                        resend = self._history.get(seq)
                        if resend is not None:
                            self.stats.retransmitted += 1
                            self._sendto(resend, rtcp=False)
            elif isinstance(packet, RtcpPsfbPacket):
                self._on_psfb(packet)

    def _take_bitrate_feedback(self, data: bytes) -> None:
        """TMMBR for our stream (to on_tmmbr; TMMBN back when followed) and TMMBN for our
        request (it is then no longer repeated)."""
        for feedback in bitrate_feedback(data):
            for entry in feedback.entries:
                if feedback.fmt == FMT_TMMBR and entry.ssrc == self.ssrc:
                    self.stats.tmmbr_received += 1
                    self.stats.tmmbr_limit = entry.bitrate
                    if self.on_tmmbr(entry.bitrate):
                        self.stats.tmmbn_sent += 1
                        self._send_rtcp([*self._report_packets(), tmmbn(
                            self.ssrc, [BitrateEntry(feedback.sender_ssrc, entry.bitrate,
                                                     entry.overhead)])])
                elif feedback.fmt == FMT_TMMBN and entry.ssrc == self.ssrc:
                    self.stats.tmmbn_received += 1
                    self.stats.tmmbn_limit = entry.bitrate
                    if self._tmmbr_wanted is not None and entry.bitrate <= self._tmmbr_wanted:
                        self._tmmbr_wanted = None  # notified: no more repeats

    def _take_reports(self, reports: list[RtcpReceiverInfo]) -> None:
        for report in reports:
            if report.ssrc != self.ssrc:
                continue
            self.stats.remote_fraction_lost = report.fraction_lost
            self.stats.remote_packets_lost = report.packets_lost
            self.stats.remote_highest_sequence = report.highest_sequence
            if report.lsr:
                now = (ntp_now() >> 16) & 0xFFFFFFFF
                self.stats.round_trip = ((now - report.lsr - report.dlsr) & 0xFFFFFFFF) / 65536

    def _on_psfb(self, packet: RtcpPsfbPacket) -> None:
        feedback = self.codec.feedback
        if packet.fmt == RTCP_PSFB_PLI and packet.media_ssrc == self.ssrc and "nack pli" in feedback:
            self.stats.keyframe_requests_received += 1
            self.on_keyframe_request()
        elif packet.fmt == RTCP_PSFB_FIR and "ccm fir" in feedback:
            for at in range(0, len(packet.fci) - 7, 8):
                if struct.unpack_from("!L", packet.fci, at)[0] == self.ssrc:
                    self.stats.keyframe_requests_received += 1
                    self.on_keyframe_request()
