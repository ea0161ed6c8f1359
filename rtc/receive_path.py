"""The receive path of every WebRTC call, with fewer Python steps per packet.

Each media datagram a peer connection receives used to pass through these layers, all of
them Python, all of them per packet (aioice 0.13, aiortc 1.16):

1. aioice's `StunProtocol.datagram_received` parses it as a STUN message first: for a media
   datagram `stun.parse_message` raises ValueError, which is caught and the datagram queued
   on the connection's asyncio.Queue;
2. the DTLS transport's task awaits `_recv_next` -> `Connection.recv` (the ICE transport's
   `_recv`) -> `recvfrom` -> `Queue.get` (four coroutines a datagram), tells SRTP
   from DTLS, reads the clock through a datetime, unprotects, awaits `_handle_rtp_data`
   (RTP parse, routing) and the receiver's `_handle_rtp_packet`;
3. the counting hook (rtc/aiortc_hooks.py `count_rtp_and_feedback`) wraps that handler in
   one more coroutine, which looks the codec up once more to count the payload bytes.

Here:

- `demux_datagram_received` replaces (1) by RFC 7983's rule: a datagram whose first byte is
  0-3 may be STUN and goes to aioice's own method; any other (DTLS 20-63, RTP/RTCP
  128-191) is handed to the connection at once, with no parse and no exception. (aioice's
  parse also takes for STUN, and drops, an RTP packet whose sequence number happens to
  equal its length - 20 and whose first two bytes name a STUN method; the rule does not.)
- `recv_batch` replaces the DTLS transport's `_recv_next` once the handshake is done: it
  awaits the connection's queue directly and then takes every datagram already queued
  (the batch a readiness event read, rtc/datagram_drain.py) without awaiting again, each
  handled exactly as aiortc handles it (same order, counters, DTLS, SRTP and SRTCP, RTP
  parsing and routing); during the handshake aiortc's own `_recv_next` runs (its timeouts).
  The RTP packet is parsed by rtc/rtp_parse.parse_rtp (aiortc's packet, field for field, in
  fewer steps) and routed by the transport's router as aiortc's `_handle_rtp_data` does.
- `handle_rtp_in_one_step` gives a receiver one handler that does what aiortc's
  `_handle_rtp_packet` does, in the same order (stream statistics for RTCP RR, RTX
  unwrapping, the NACK generator, depayloading (rtc/rtp_parse.depayloader: aiortc's bytes,
  an H.264 fragment copied once), the jitter buffer, PLI on a decoder error
  or an overflow, the hand-off to the decoder queue) and counts the payload bytes the
  counting hook counted, without the wrapper; NACK and PLI go through the receiver's
  (counted) senders as before. A receiver that still estimates bandwidth (REMB) keeps
  aiortc's handler: the estimator needs the arrival time aiortc passes.

Like rtc/aiortc_hooks.py this names aiortc's and aioice's private state (the receiver's
name-mangled attributes, the transport's counters and SRTP sessions, the connection's
queue); tests/test_receive_path.py checks each of them against the installed versions.
"""

from __future__ import annotations

import asyncio
import datetime
import struct
import time
from collections.abc import Callable
from typing import Any

import aioice.ice
import pylibsrtp
from aiortc import RTCDtlsTransport, RTCRtpReceiver
from aiortc.rtcrtpreceiver import StreamStatistics
from aiortc.rtp import RtpPacket, unwrap_rtx
from OpenSSL import SSL

from rtc.rtp_counts import RtpCounts
from rtc.rtp_parse import depayloader, parse_rtp

AIOICE_DATAGRAM_RECEIVED = aioice.ice.StunProtocol.datagram_received
AIORTC_RECV_NEXT = RTCDtlsTransport._recv_next

# RFC 7983 section 7: the first byte of a STUN message is 0-3.
_STUN_FIRST_BYTE_MAX = 3

# The receiver's name-mangled attributes (aiortc 1.16).
_ACTIVE_SSRC = "_RTCRtpReceiver__active_ssrc"
_CODECS = "_RTCRtpReceiver__codecs"
_DECODER_ERROR = "_RTCRtpReceiver__decoder_error"
_DECODER_QUEUE = "_RTCRtpReceiver__decoder_queue"
_DECODER_THREAD = "_RTCRtpReceiver__decoder_thread"
_JITTER_BUFFER = "_RTCRtpReceiver__jitter_buffer"
_KIND = "_RTCRtpReceiver__kind"
_NACK_GENERATOR = "_RTCRtpReceiver__nack_generator"
_REMOTE_BITRATE_ESTIMATOR = "_RTCRtpReceiver__remote_bitrate_estimator"
_REMOTE_STREAMS = "_RTCRtpReceiver__remote_streams"
_RTX_SSRC = "_RTCRtpReceiver__rtx_ssrc"
_TIMESTAMP_MAPPER = "_RTCRtpReceiver__timestamp_mapper"
# The DTLS transport's.
_HANDSHAKE_DONE = "_RTCDtlsTransport__handshake_done"
_RX_BYTES = "_RTCDtlsTransport__rx_bytes"
_RX_PACKETS = "_RTCDtlsTransport__rx_packets"

# aiortc.clock.current_ms(): milliseconds since the NTP epoch (1900-01-01 UTC).
_NTP_EPOCH_OFFSET_S = 2_208_988_800
_UTC = datetime.UTC


def demux_datagram_received(protocol: aioice.ice.StunProtocol, data: bytes | str,
                            addr: tuple[Any, ...]) -> None:
    """aioice's `StunProtocol.datagram_received` for a datagram that may be STUN (RFC 7983:
    first byte 0-3); any other goes straight to the connection."""
    if isinstance(data, bytes) and data and data[0] > _STUN_FIRST_BYTE_MAX:
        protocol.receiver.data_received(data, protocol.local_candidate.component)
        return
    AIOICE_DATAGRAM_RECEIVED(protocol, data, addr)


async def recv_batch(transport: RTCDtlsTransport) -> None:
    """`RTCDtlsTransport._recv_next` that handles every datagram already queued on the ICE
    connection after the one it awaited (aiortc's own until the handshake is done)."""
    if not getattr(transport, _HANDSHAKE_DONE):
        await AIORTC_RECV_NEXT(transport)
        return
    connection = transport.transport._connection
    queue: asyncio.Queue[Any] = connection._queue
    if not connection._nominated:
        raise ConnectionError("Cannot receive data, not connected")  # as aioice's recvfrom
    item = await queue.get()
    while True:
        if item is None:
            raise ConnectionError("Connection lost while receiving data")
        await _handle_datagram(transport, item[0])
        if queue.empty():
            return
        if not connection._nominated:  # closed meanwhile: aioice's recvfrom would refuse
            raise ConnectionError("Cannot receive data, not connected")
        item = queue.get_nowait()


async def _handle_datagram(transport: Any, data: bytes) -> None:
    """aiortc's `_recv_next` after its `await self.transport._recv()`, handshake done."""
    setattr(transport, _RX_BYTES, getattr(transport, _RX_BYTES) + len(data))
    setattr(transport, _RX_PACKETS, getattr(transport, _RX_PACKETS) + 1)
    first_byte = data[0]
    if 19 < first_byte < 64:
        await _handle_dtls(transport, data)
    elif 127 < first_byte < 192 and transport._rx_srtp:
        arrival_time_ms = int((time.time() + _NTP_EPOCH_OFFSET_S) * 1000)
        try:
            if len(data) >= 2 and 192 <= data[1] <= 208:  # RTCP (aiortc's is_rtcp)
                await transport._handle_rtcp_data(transport._rx_srtp.unprotect_rtcp(data))
            else:
                await _handle_rtp_data(transport, transport._rx_srtp.unprotect(data),
                                       arrival_time_ms)
        except pylibsrtp.Error:
            pass  # aiortc logs it at debug level and drops the datagram


async def _handle_rtp_data(transport: Any, data: bytes, arrival_time_ms: int) -> None:
    """aiortc's `RTCDtlsTransport._handle_rtp_data`, the packet parsed by parse_rtp. A packet
    whose header extension cannot be converted (struct.error: an abs-send-time of one
    octet) is dropped like any other malformed one; aiortc lets that error end the DTLS
    transport's receive task, which closes the call."""
    try:
        packet = parse_rtp(data, transport._rtp_header_extensions_map)
    except (ValueError, struct.error):
        return  # aiortc logs it at debug level and drops the packet
    receiver = transport._rtp_router.route_rtp(packet)
    if receiver is not None:
        await receiver._handle_rtp_packet(packet, arrival_time_ms=arrival_time_ms)


async def _handle_dtls(transport: Any, data: bytes) -> None:
    """A DTLS record after the handshake (an alert, a data channel message, a close):
    aiortc's DTLS branch."""
    transport._ssl.bio_write(data)
    received: bytes | None
    try:
        received = transport._ssl.recv(1500)
    except SSL.ZeroReturnError:
        received = None
    except SSL.Error:
        received = b""
    await transport._write_ssl()
    if received is None:
        raise ConnectionError  # shut down by the remote party
    if received and transport._data_receiver:
        await transport._data_receiver._handle_data(received)


def handle_rtp_in_one_step(receiver: RTCRtpReceiver, counts: RtpCounts) -> None:
    """Give `receiver` (before it starts) one handler for its RTP packets: aiortc's steps
    and the payload byte count of `counts` (what count_rtp_and_feedback counted)."""
    aiortc_handler = RTCRtpReceiver._handle_rtp_packet.__get__(receiver)
    active_ssrc: dict[int, datetime.datetime] = getattr(receiver, _ACTIVE_SSRC)
    codecs: dict[int, Any] = getattr(receiver, _CODECS)
    remote_streams: dict[int, StreamStatistics] = getattr(receiver, _REMOTE_STREAMS)
    rtx_ssrc: dict[int, int] = getattr(receiver, _RTX_SSRC)
    decoder_error = getattr(receiver, _DECODER_ERROR)
    timestamp_mapper = getattr(receiver, _TIMESTAMP_MAPPER)
    is_video = getattr(receiver, _KIND) == "video"
    now = datetime.datetime.now
    rtx_types: dict[int, bool] = {}  # payload type -> an RTX one (codec.name splits a string)
    depayloaders: dict[str, Callable[[bytes], bytes]] = {}  # codec MIME type -> depayload

    async def handle_rtp_packet(packet: RtpPacket, arrival_time_ms: int) -> None:
        if not receiver._enabled:
            return
        if getattr(receiver, _REMOTE_BITRATE_ESTIMATOR) is not None:
            if packet.payload_type in codecs:
                counts.payload_bytes_received += len(packet.payload)
            await aiortc_handler(packet, arrival_time_ms)
            return
        active_ssrc[packet.ssrc] = now(_UTC)
        codec = codecs.get(packet.payload_type)
        if codec is None:
            return
        counts.payload_bytes_received += len(packet.payload)
        stream = remote_streams.get(packet.ssrc)
        if stream is None:
            stream = remote_streams[packet.ssrc] = StreamStatistics(codec.clockRate)
        stream.add(packet)
        rtx = rtx_types.get(packet.payload_type)
        if rtx is None:
            rtx = rtx_types[packet.payload_type] = codec.name.lower() == "rtx"
        if rtx:
            original_ssrc = rtx_ssrc.get(packet.ssrc)
            if original_ssrc is None:
                return
            apt = codec.parameters.get("apt")
            if len(packet.payload) < 2 or not isinstance(apt, int) or apt not in codecs:
                return
            packet = unwrap_rtx(packet, payload_type=apt, ssrc=original_ssrc)
            codec = codecs[apt]
        nack_generator = getattr(receiver, _NACK_GENERATOR)
        if nack_generator is not None and nack_generator.add(packet):
            await receiver._send_rtcp_nack(packet.ssrc, sorted(nack_generator.missing))
        if packet.payload:
            depayload = depayloaders.get(codec.mimeType)
            if depayload is None:
                depayload = depayloaders[codec.mimeType] = depayloader(codec)
            try:
                packet._data = depayload(packet.payload)  # type: ignore[attr-defined]
            except ValueError:
                return
        else:
            packet._data = b""  # type: ignore[attr-defined]
        pli_flag, encoded_frame = getattr(receiver, _JITTER_BUFFER).add(packet)
        if decoder_error.is_set():
            decoder_error.clear()
            if is_video:
                pli_flag = True  # the lost picture, to the sender (RFC 4585 6.3.1.1)
        if pli_flag:
            await receiver._send_rtcp_pli(packet.ssrc)
        if encoded_frame is not None and getattr(receiver, _DECODER_THREAD):
            encoded_frame.timestamp = timestamp_mapper.map(encoded_frame.timestamp)
            getattr(receiver, _DECODER_QUEUE).put((codec, encoded_frame))

    receiver._handle_rtp_packet = handle_rtp_packet  # type: ignore[method-assign]


def install() -> Callable[[], None]:
    """The process-wide parts (the datagram demultiplexer, the batched DTLS receive); returns
    the function that puts aioice's and aiortc's own back."""
    protocol_class: Any = aioice.ice.StunProtocol
    transport_class: Any = RTCDtlsTransport
    before = (protocol_class.datagram_received, transport_class._recv_next)
    protocol_class.datagram_received = demux_datagram_received
    transport_class._recv_next = recv_batch

    def restore() -> None:
        protocol_class.datagram_received, transport_class._recv_next = before

    return restore


def installed() -> bool:
    return (aioice.ice.StunProtocol.datagram_received is demux_datagram_received
            and RTCDtlsTransport._recv_next is recv_batch)
