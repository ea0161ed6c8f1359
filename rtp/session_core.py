"""The state of one RTP session (rtp/session.py) and its sending side: RTP packets (SRTP
protected, kept for NACK retransmission) of encoded frames and RFC 4733 telephone events, to
the peer's RTP and RTCP addresses (symmetric RTP, rtcp-mux)."""

from __future__ import annotations

import asyncio
import logging
import queue
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import replace

import av
import pylibsrtp
from aiortc.rtp import RtpPacket

from rtp.assembler import FrameAssembler
from rtp.codecs import AudioDecoder, VideoDecoder, depacketizer, packetizer
from rtp.dtmf import DigitReceiver, DtmfError, TelephoneEvent, event_of
from rtp.media_sockets import MediaSockets
from rtp.negotiation import MediaPlan
from rtp.session_stats import SessionStats

# the logger of rtp/session.py, whose part this is: log records keep their name
log = logging.getLogger("rtp.session")

HISTORY = 1024  # sent packets kept for NACK retransmission
DECODE_BACKLOG = 30  # video frames waiting for the decoder thread; beyond, a keyframe is asked


class SessionCore:
    """An RtpSession's state and its sending side (RTCP: rtp/session_rtcp.py; life and
    receiving: rtp/session.py)."""

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

    def _count_srtp_failure(self, exc: pylibsrtp.Error) -> None:
        if "replay" in str(exc):
            self.stats.srtp_replays += 1
        else:
            self.stats.srtp_auth_failures += 1
            log.debug("SRTP packet dropped: %s", exc)
