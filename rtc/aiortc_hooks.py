"""Every reach into aiortc's and aioice's private state, in one place.

aiortc offers no public way to do what the simulator changes in it, so the few changes reach
into its internals. They all live here, behind named functions, so that no other module
spells a private name, and tests/test_aiortc_hooks.py checks each of them against the
installed aiortc and aioice (pinned in pyproject.toml): a release that renames one fails
there, naming the hook, instead of silently turning it into a no-op. The seams of the MCU's
direct send path (an RTCRtpSender's RTP loop, retransmissions, counts, the SRTP socket
path) are their companion module, rtc/aiortc_send_hooks.py, checked by the same tests.

Process-wide, installed by `install()` once at process start (the `mcu-sim` console script,
benchmarks/media_load.py, tests/conftest.py):

- `aioice.ice.get_host_addresses` -> `rtc.ice.host_addresses`: every ICE agent offers the
  media address (127.0.0.1 by default) as its only host candidate.
- `aiortc.rtp.compute_audio_level_dbov` -> `rtc.audio_level.compute_audio_level_dbov`: the
  RFC 6464 level of each audio frame a sender encodes, with numpy (a packed stereo frame at
  its channels' level, not 3 dB above as aiortc's). aiortc's RTCRtpSender looks the
  function up as `rtp.compute_audio_level_dbov` at every frame.
- `RTCDtlsTransport._register_rtp_receiver` -> `register_rtp_receiver_with_rtx`: aiortc's,
  plus the receiver's retransmission (RTX) SSRCs in the bundle's RTP router. aiortc
  registers only the media SSRCs and routes a packet of an unknown SSRC by its payload type
  when exactly one receiver has it; with two video m-lines of the same codecs (the main
  video and the content stream) every RTX packet was dropped, so a lost packet was never
  recovered and the picture froze until the jitter buffer overflowed.
- `aioice.ice.Connection.get_component_candidates` -> `get_component_candidates_with_buffers`:
  aioice's gathering, then every UDP socket the connection holds gets a 4 MiB receive
  buffer (rtc/socket_buffers.py: SO_RCVBUFFORCE when permitted, else SO_RCVBUF capped by
  rmem_max) instead of aioice's 256 KiB, so a late event loop does not lose datagrams,
  and is read in batches (rtc/datagram_drain.py: up to 64 datagrams per readiness event
  instead of asyncio's one), so a busy loop does not let the queue, and the latency of the
  STUN behind it, grow without bound.
- `aioice.ice.Connection.query_consent` -> `query_consent`: RFC 7675 consent freshness that
  a late peer does not fail. aioice sends one request every ~5 s with no retransmission and
  a 0.5 s wait, and closes after 6 unanswered in a row; here each check is retransmitted on
  STUN's schedule for up to 15.5 s beside the next checks, and consent expires only when no
  check has been answered for `CONSENT_EXPIRY_SECONDS` (RFC 7675's 30 s), counted in time.
- rtc/receive_path.py's process-wide parts (`receive_path.install()`): aioice's
  `StunProtocol.datagram_received` parses only what may be STUN (RFC 7983), and the DTLS
  transport's `_recv_next` handles every datagram already queued in one call. That module
  names the receive side's private state itself (tests/test_receive_path.py checks it).
- `aiortc.codecs.CODECS["video"]` gains H.264 High profile (`add_h264_high`:
  profile-level-id 64001f, packetization-mode 1, with its RTX), after aiortc's own Baseline
  and Constrained Baseline: aiortc negotiates H.264 by profile (RFC 6184 via libwebrtc's
  rule) and lists only those two, so a site booked H.264 HP could not be offered High.
  aiortc's H.264 packetizer and its decoder (FFmpeg's h264) are profile-agnostic; the
  MCU's own libx264 encoder writes the High stream (mcu/media/video_encoders.py).

Per receiver or sender, on one that has not started (the name-mangled attributes are
created in aiortc's constructors and read from the moment the receiver starts):

- `replace_jitter_buffer`: the receiver's jitter buffer (rtc/jitter_buffer.py).
- `replace_decoder_queue`: the queue the receiver puts each reassembled frame on, with its
  codec, for its decoder thread (terminals/frame_counter.py, mcu/media/inline_audio.py,
  mcu/media/video_decoder.py).
- `decoder_error_flag`: the event a decoder sets when a frame fails to decode, after which
  the receiver asks its sender for a keyframe (mcu/media/video_decoder.py).
- `disable_remote_bitrate_estimator`: no REMB from the receiver (rtc/bandwidth_estimation.py).
- `on_keyframe_request`: what a sender does when its peer asks for a keyframe (PLI/FIR).

And, on a receiving receiver:

- `remote_media_ssrcs`: the SSRCs it receives media on, retransmission streams left out.
- `request_keyframe`: send its sender a PLI for each of them.
- `depayloaded`: the codec payload the receiver extracted from an RTP packet before adding
  it to its jitter buffer.

Counts aiortc keeps (read, never changed; the metrics of mcu/media/media_totals.py):

- `sender_rtp_counts`: the RTP packets a sender sent and their payload bytes (the packet
  and octet counts of its RTCP sender reports).
- `receiver_rtp_packets`: the RTP packets a receiver received, over its remote streams.

Counts aiortc does not keep, counted per receiver and sender (rtc/rtp_counts.py):

- `count_rtp_and_feedback`: on one transceiver before it starts, the receiver's
  `_handle_rtp_packet` (the one point every RTP packet the transport routes to it passes:
  the payload bytes of each it accepts), its `_send_rtcp_nack` and `_send_rtcp_pli` (the
  NACK and PLI it sends, its own and `request_keyframe`'s) and the sender's
  `_handle_rtcp_packet` (the NACK and PLI its peer sends it), each wrapped on the instance
  so only the calls given counts are counted. The MCU's receivers then get
  `receive_path.handle_rtp_in_one_step`, which replaces the RTP wrapper (and aiortc's
  handler) by one handler counting the same bytes.

For loss injection (benchmarks/soak.py, never the MCU), process-wide until removed:

- `filter_datagrams`: every datagram an ICE connection of this process receives
  (`aioice.ice.StunProtocol.datagram_received`) or sends (`StunProtocol.send_data`, the
  path of DTLS, SRTP and SRTCP; STUN goes through `send_stun`; and the MCU's direct send
  path, rtc/aiortc_send_hooks.py, reads it from `sent_datagram_filter`) passes a predicate
  first; one it refuses never reaches the connection or the socket.

rtc/jitter_buffer.py's MarkerJitterBuffer extends aiortc's JitterBuffer the way a subclass
does: it overrides `_remove_frame` (which `add` calls) and reads the buffer's own `_packets`,
`_origin` and `_capacity`; tests/test_aiortc_hooks.py checks those too.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

import aioice.ice
import aioice.stun
import aiortc.codecs
import aiortc.rtcrtpreceiver
import aiortc.rtp
from aiortc import RTCDtlsTransport, RTCRtpCodecParameters, RTCRtpReceiver, RTCRtpSender
from aiortc.jitterbuffer import JitterBuffer
from aiortc.rtcrtpparameters import RTCRtcpFeedback, RTCRtpReceiveParameters
from aiortc.rtp import (
    RTCP_PSFB_PLI,
    RTCP_RTPFB_NACK,
    AnyRtcpPacket,
    RtcpPsfbPacket,
    RtcpRtpfbPacket,
    RtpPacket,
)

from rtc import audio_level, datagram_drain, ice, receive_path, socket_buffers
from rtc.rtp_counts import RtpCounts

# aiortc's and aioice's own functions, as imported before install() replaces them.
AIOICE_GET_HOST_ADDRESSES = aioice.ice.get_host_addresses
AIORTC_COMPUTE_AUDIO_LEVEL_DBOV = aiortc.rtp.compute_audio_level_dbov
AIORTC_REGISTER_RTP_RECEIVER = RTCDtlsTransport._register_rtp_receiver
AIOICE_GET_COMPONENT_CANDIDATES = aioice.ice.Connection.get_component_candidates
AIOICE_QUERY_CONSENT = aioice.ice.Connection.query_consent

# The receiver's name-mangled attributes.
_CODECS = "_RTCRtpReceiver__codecs"
_DECODER_QUEUE = "_RTCRtpReceiver__decoder_queue"
_DECODER_ERROR = "_RTCRtpReceiver__decoder_error"
_JITTER_BUFFER = "_RTCRtpReceiver__jitter_buffer"
_REMOTE_BITRATE_ESTIMATOR = "_RTCRtpReceiver__remote_bitrate_estimator"
_REMOTE_STREAMS = "_RTCRtpReceiver__remote_streams"
# The sender's.
_SENDER_PACKET_COUNT = "_RTCRtpSender__packet_count"
_SENDER_OCTET_COUNT = "_RTCRtpSender__octet_count"
_RTX_SSRC = "_RTCRtpReceiver__rtx_ssrc"
_RTCP_SSRC = "_RTCRtpReceiver__rtcp_ssrc"  # None until set: aiortc sends no feedback before
_REGISTER_RTP_RECEIVER = "_register_rtp_receiver"  # RTCDtlsTransport's


def register_rtp_receiver_with_rtx(transport: RTCDtlsTransport, receiver: Any,
                                   parameters: RTCRtpReceiveParameters) -> None:
    """aiortc's registration of a receiver in the transport's RTP router, and its RTX
    SSRCs with it, so retransmissions reach it whatever other receiver shares the payload
    types."""
    AIORTC_REGISTER_RTP_RECEIVER(transport, receiver, parameters)
    router = transport._rtp_router
    for encoding in parameters.encodings:
        if encoding.rtx is not None:
            router.ssrc_table[encoding.rtx.ssrc] = receiver


async def get_component_candidates_with_buffers(
        connection: aioice.ice.Connection, component: int, addresses: list[str],
        timeout: int = 5) -> list[aioice.Candidate]:
    """aioice's gathering of a component's candidates, then a large receive buffer on every
    UDP socket the connection holds (rtc/socket_buffers.py), each read in batches
    (rtc/datagram_drain.py)."""
    candidates: list[aioice.Candidate] = await AIOICE_GET_COMPONENT_CANDIDATES(
        connection, component, addresses, timeout)
    for protocol in connection._protocols:
        sock = protocol.transport.get_extra_info("socket")
        if sock is not None:
            socket_buffers.enlarge_receive_buffer(sock)
        datagram_drain.drain_when_readable(protocol.transport)
    return candidates


_log = logging.getLogger(__name__)

CONSENT_INTERVAL_SECONDS = 5.0  # RFC 7675: a check every 4-6 s (0.8-1.2 times this)
CONSENT_EXPIRY_SECONDS = 30.0  # RFC 7675: no answer to the checks of the last 30 s, no consent
# One check's STUN transaction: requests at 0, 0.5, 1.5, 3.5 and 7.5 s (RFC 5389's RTO
# doubling), given up at 15.5 s; checks overlap, and an answer to any of them counts.
CONSENT_RETRANSMISSIONS = 4


async def query_consent(connection: aioice.ice.Connection) -> None:
    """RFC 7675 consent freshness on the connection's nominated pairs, tolerant of a late
    peer: a check starts every ~`CONSENT_INTERVAL_SECONDS`, each a STUN transaction with
    `CONSENT_RETRANSMISSIONS` retransmissions running beside the next checks (aioice: one
    request, 0.5 s, in turn), and the connection closes only when none of the checks has
    been answered for `CONSENT_EXPIRY_SECONDS`, measured in time rather than counted in
    failures."""
    assert connection.remote_password is not None  # as aioice: set before connect() ends
    key = connection.remote_password.encode("utf8")
    answered = [time.monotonic()]  # when a check was last answered

    async def check(pair: Any) -> None:
        request = connection.build_request(pair, nominate=False)
        try:
            await pair.protocol.request(request, pair.remote_addr, integrity_key=key,
                                        retransmissions=CONSENT_RETRANSMISSIONS)
            answered[0] = time.monotonic()
        except aioice.stun.TransactionError:
            pass  # unanswered: only the expiry below decides

    checks: set[asyncio.Task[None]] = set()
    try:
        while True:
            await asyncio.sleep(CONSENT_INTERVAL_SECONDS * (0.8 + 0.4 * random.random()))
            if time.monotonic() - answered[0] >= CONSENT_EXPIRY_SECONDS:
                _log.info("ICE consent expired: no answer for %.0f s; %s",
                          time.monotonic() - answered[0], consent_diagnosis(connection))
                connection._query_consent_task = None
                await connection.close()
                return
            for pair in list(connection._nominated.values()):
                task = asyncio.get_running_loop().create_task(check(pair))
                checks.add(task)
                task.add_done_callback(checks.discard)
    finally:
        for task in list(checks):
            task.cancel()


def consent_diagnosis(connection: aioice.ice.Connection) -> str:
    """Per nominated pair: its addresses and how long ago its socket last read a datagram
    (rtc/datagram_drain.py), telling a silent peer (nothing for as long as the consent)
    from one whose answers alone are missing or late."""
    parts = []
    for pair in connection._nominated.values():
        age = datagram_drain.last_read_age(pair.protocol.transport)
        read = "never read" if age is None else f"last datagram read {age:.1f} s ago"
        parts.append(f"{pair.local_candidate.host}:{pair.local_candidate.port} <- "
                     f"{pair.remote_addr[0]}:{pair.remote_addr[1]} {read}")
    return "; ".join(parts) or "no nominated pair"


H264_HIGH_PROFILE_LEVEL_ID = "64001f"  # High, level 3.1: what browsers offer for High


def _is_h264_high(codec: RTCRtpCodecParameters) -> bool:
    return (codec.mimeType.lower() == "video/h264"
            and str(codec.parameters.get("profile-level-id", "")).lower().startswith("6400"))


def add_h264_high() -> None:
    """aiortc's video codecs with H.264 High (and its RTX) after its own, once."""
    video: list[RTCRtpCodecParameters] = aiortc.codecs.CODECS["video"]
    if any(_is_h264_high(codec) for codec in video):
        return
    payload_type = max(codec.payloadType or 0 for codec in video) + 1
    feedback = [RTCRtcpFeedback(type="nack"), RTCRtcpFeedback(type="nack", parameter="pli"),
                RTCRtcpFeedback(type="goog-remb")]
    video += [
        RTCRtpCodecParameters(mimeType="video/H264", clockRate=90000, payloadType=payload_type,
                              rtcpFeedback=feedback,
                              parameters={"level-asymmetry-allowed": "1",
                                          "packetization-mode": "1",
                                          "profile-level-id": H264_HIGH_PROFILE_LEVEL_ID}),
        RTCRtpCodecParameters(mimeType="video/rtx", clockRate=90000,
                              payloadType=payload_type + 1, parameters={"apt": payload_type}),
    ]


class _DaemonDecoderThreading:
    """The `threading` module as aiortc.rtcrtpreceiver sees it: the same in every name, but a
    Thread it makes (the receiver's decoder thread) is a daemon thread.

    aiortc starts each receiver's decoder thread as a non-daemon thread and ends it only in
    the receiver's stop(). A receiver never stopped (a peer connection whose close never ran:
    its loop ended first, a task was cancelled on the way) leaves its thread waiting on the
    queue for good, and Python waits for every non-daemon thread at exit: a process that has
    finished its work, `mcu-sim serve` after its loop or a test session after its last
    test, never ends. A clean-clone CI run was held that way by two "video-decoder" threads
    until its time limit (tests/exit_watchdog.py named them). A daemon decoder thread holds
    nothing a process must finish: its receiver's frames are only pictures."""

    def __getattr__(self, name: str) -> Any:
        return getattr(threading, name)

    @staticmethod
    def Thread(*args: Any, **kwargs: Any) -> threading.Thread:  # noqa: N802 - threading's name
        kwargs.setdefault("daemon", True)
        return threading.Thread(*args, **kwargs)


_DAEMON_DECODER_THREADING = _DaemonDecoderThreading()


def install() -> None:
    """Put the process-wide replacements in place; calling it again changes nothing."""
    add_h264_high()
    aiortc.rtcrtpreceiver.threading = _DAEMON_DECODER_THREADING  # type: ignore[assignment]
    aioice.ice.get_host_addresses = ice.host_addresses
    aiortc.rtp.compute_audio_level_dbov = audio_level.compute_audio_level_dbov
    setattr(RTCDtlsTransport, _REGISTER_RTP_RECEIVER, register_rtp_receiver_with_rtx)
    connection_class: Any = aioice.ice.Connection  # methods replaced by plain functions
    connection_class.get_component_candidates = get_component_candidates_with_buffers
    connection_class.query_consent = query_consent
    if not receive_path.installed():
        receive_path.install()


def installed() -> bool:
    return (aioice.ice.get_host_addresses is ice.host_addresses
            and aiortc.rtp.compute_audio_level_dbov is audio_level.compute_audio_level_dbov
            and getattr(RTCDtlsTransport, _REGISTER_RTP_RECEIVER)
            is register_rtp_receiver_with_rtx
            and aioice.ice.Connection.get_component_candidates
            is get_component_candidates_with_buffers
            and aioice.ice.Connection.query_consent is query_consent
            and receive_path.installed()
            and aiortc.rtcrtpreceiver.threading is _DAEMON_DECODER_THREADING
            and any(_is_h264_high(codec) for codec in aiortc.codecs.CODECS["video"]))


def replace_jitter_buffer(receiver: RTCRtpReceiver, buffer: JitterBuffer) -> None:
    """The receiver adds every RTP packet it accepts to `buffer` and decodes the frames it
    returns."""
    setattr(receiver, _JITTER_BUFFER, buffer)


def receiver_codec_name(receiver: RTCRtpReceiver, payload_type: int) -> str | None:
    """The name ("H264", "VP8", ...) of the codec the receiver maps `payload_type` to, or
    None for a payload type it does not know (yet)."""
    codecs: dict[int, Any] = getattr(receiver, _CODECS)
    codec = codecs.get(payload_type)
    return None if codec is None else str(codec.name)


class DecoderQueue(Protocol):
    """What a receiver's decoder queue must do: aiortc's receiver only puts, and its decoder
    thread only gets (a queue.Queue, or a class with the two)."""

    def put(self, item: Any) -> None: ...

    def get(self, block: bool = True, timeout: float | None = None) -> Any: ...


def replace_decoder_queue(receiver: RTCRtpReceiver, decoder_queue: DecoderQueue) -> None:
    """The receiver puts `(codec, encoded_frame)` for every reassembled frame on
    `decoder_queue`, and None when it stops; its decoder thread takes them from there."""
    setattr(receiver, _DECODER_QUEUE, decoder_queue)


def decoder_error_flag(receiver: RTCRtpReceiver) -> threading.Event:
    """The flag aiortc's decoder thread sets when a frame fails to decode: the receiver then
    sends its sender a PLI with the next packet (RFC 4585 6.3.1.1) and clears it."""
    flag: threading.Event = getattr(receiver, _DECODER_ERROR)
    return flag


def disable_remote_bitrate_estimator(receiver: RTCRtpReceiver) -> None:
    """The receiver estimates no bandwidth and sends no REMB (aiortc skips the estimation
    when the estimator is None, as it is for audio)."""
    setattr(receiver, _REMOTE_BITRATE_ESTIMATOR, None)


def on_keyframe_request(sender: RTCRtpSender, callback: Callable[[], None]) -> None:
    """Call `callback` instead of forcing aiortc's encoder to a keyframe when the peer sends
    a PLI or FIR (for a sender whose frames aiortc does not encode)."""
    sender._send_keyframe = callback  # type: ignore[method-assign]


def remote_media_ssrcs(receiver: RTCRtpReceiver) -> list[int]:
    """The SSRCs the receiver has received media packets on, without its RTX streams."""
    streams: dict[int, Any] = getattr(receiver, _REMOTE_STREAMS)
    retransmissions: dict[int, int] = getattr(receiver, _RTX_SSRC)
    return [ssrc for ssrc in streams if ssrc not in retransmissions]


def sender_rtp_counts(sender: RTCRtpSender) -> tuple[int, int]:
    """(RTP packets sent, their payload bytes): the counts aiortc keeps for its RTCP sender
    reports (retransmissions not included)."""
    return int(getattr(sender, _SENDER_PACKET_COUNT)), int(getattr(sender, _SENDER_OCTET_COUNT))


def receiver_rtp_packets(receiver: RTCRtpReceiver) -> int:
    """The RTP packets the receiver received, summed over its remote streams (RTX included),
    as aiortc counts them for its RTCP receiver reports."""
    streams: dict[int, Any] = getattr(receiver, _REMOTE_STREAMS)
    return sum(int(stream.packets_received) for stream in streams.values())


def count_rtp_and_feedback(receiver: RTCRtpReceiver, sender: RTCRtpSender,
                           counts: RtpCounts) -> None:
    """From now on, count into `counts` the payload bytes of every RTP packet `receiver`
    accepts (enabled, of a payload type it knows: the packets `receiver_rtp_packets`
    counts), the NACK and PLI packets it sends, and the NACK and PLI packets `sender`
    receives. aiortc's own handling is unchanged: each wrapper calls it."""
    handle_rtp = receiver._handle_rtp_packet
    send_nack = receiver._send_rtcp_nack
    send_pli = receiver._send_rtcp_pli
    handle_rtcp = sender._handle_rtcp_packet

    async def handle_rtp_packet(packet: RtpPacket, arrival_time_ms: int) -> None:
        if receiver._enabled and receiver_codec_name(receiver, packet.payload_type) is not None:
            counts.payload_bytes_received += len(packet.payload)
        await handle_rtp(packet, arrival_time_ms)

    async def send_rtcp_nack(media_ssrc: int, lost: list[int]) -> None:
        if getattr(receiver, _RTCP_SSRC) is not None:
            counts.nack_sent += 1
        await send_nack(media_ssrc, lost)

    async def send_rtcp_pli(media_ssrc: int) -> None:
        if getattr(receiver, _RTCP_SSRC) is not None:
            counts.pli_sent += 1
        await send_pli(media_ssrc)

    async def handle_rtcp_packet(packet: AnyRtcpPacket) -> None:
        if isinstance(packet, RtcpRtpfbPacket) and packet.fmt == RTCP_RTPFB_NACK:
            counts.nack_received += 1
        elif isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_PLI:
            counts.pli_received += 1
        await handle_rtcp(packet)

    receiver._handle_rtp_packet = handle_rtp_packet  # type: ignore[method-assign]
    receiver._send_rtcp_nack = send_rtcp_nack  # type: ignore[method-assign]
    receiver._send_rtcp_pli = send_rtcp_pli  # type: ignore[method-assign]
    sender._handle_rtcp_packet = handle_rtcp_packet  # type: ignore[method-assign]


async def request_keyframe(receiver: RTCRtpReceiver) -> int:
    """Send an RTCP PLI for each of `remote_media_ssrcs(receiver)`; how many were asked.

    aiortc sends PLI only on its own decoding errors and jitter buffer overflows; this uses
    its private PLI sender (a no-op until the receiver has its RTCP SSRC)."""
    ssrcs = remote_media_ssrcs(receiver)
    for ssrc in ssrcs:
        await receiver._send_rtcp_pli(ssrc)
    return len(ssrcs)


DatagramFilter = Callable[[bytes], bool]  # True: let the datagram through

_sent_filter: DatagramFilter | None = None  # the one filter_datagrams put in place


def sent_datagram_filter() -> DatagramFilter | None:
    """The `sent` filter of `filter_datagrams` while it is in place: the direct send path
    (rtc/aiortc_send_hooks.SrtpSendPath) applies it too."""
    return _sent_filter


def filter_datagrams(received: DatagramFilter | None,
                     sent: DatagramFilter) -> Callable[[], None]:
    """Pass every datagram the ICE connections of this process receive through `received`
    (None: none filtered, and the media still read in batches, rtc/receive_path.py
    `read_media`) and every one they send through `sent` (both called with the datagram,
    on the event loop); a datagram a filter refuses is dropped as the network would drop
    it. Returns the function that restores the methods in place before (aioice's, or
    rtc/receive_path.py's demultiplexer once install() ran)."""
    protocol_class: Any = aioice.ice.StunProtocol
    received_before = protocol_class.datagram_received
    send_before = protocol_class.send_data

    def datagram_received(self: aioice.ice.StunProtocol, data: bytes | str,
                          addr: tuple[Any, ...]) -> None:
        if isinstance(data, str) or received is None or received(data):
            received_before(self, data, addr)

    async def send_data(self: aioice.ice.StunProtocol, data: bytes,
                        addr: tuple[str, int]) -> None:
        if sent(data):
            await send_before(self, data, addr)

    global _sent_filter
    sent_filter_before = _sent_filter
    if received is not None:
        protocol_class.datagram_received = datagram_received
    protocol_class.send_data = send_data
    _sent_filter = sent

    def restore() -> None:
        global _sent_filter
        protocol_class.datagram_received = received_before
        protocol_class.send_data = send_before
        _sent_filter = sent_filter_before

    return restore


def depayloaded(packet: RtpPacket) -> bytes:
    """The codec data of a packet the receiver added to its jitter buffer (b"" for padding
    only), as aiortc's receiver depayloaded it."""
    data: bytes = packet._data  # type: ignore[attr-defined]
    return data
