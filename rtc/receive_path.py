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
import logging
import os
import struct
import time
import weakref
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import aioice.ice
import pylibsrtp
from aiortc import RTCDtlsTransport, RTCRtpReceiver
from aiortc.rtcdtlstransport import State as DtlsState
from aiortc.rtcrtpreceiver import StreamStatistics
from aiortc.rtp import RtpPacket, unwrap_rtx
from OpenSSL import SSL

from rtc import batch_receive, datagram_drain
from rtc.claimed_receivers import (  # and the receiver's name-mangled attributes
    _ACTIVE_SSRC,
    _CODECS,
    _DECODER_ERROR,
    _DECODER_QUEUE,
    _DECODER_THREAD,
    _JITTER_BUFFER,
    _KIND,
    _NACK_GENERATOR,
    _REMOTE_BITRATE_ESTIMATOR,
    _REMOTE_STREAMS,
    _RTX_SSRC,
    _TIMESTAMP_MAPPER,
    UNCLAIMABLE,
    ReceiverClaim,
    all_claims,
    claim_of,
    current_claims,
    forget_claim,
    give_back,
    register_ssrcs,
    try_claim,
)
from rtc.rtp_counts import RtpCounts
from rtc.rtp_parse import depayloader, parse_rtp
from rtc.srtp_addresses import SRTP_UNPROTECT, session_address

log = logging.getLogger(__name__)

# Whether handle_media claims receivers for rtc/rtp_receive.c (rtc/claimed_receivers.py).
# Off unless MCU_SIM_NATIVE_RECEIVE=1: with it on, tests/test_booked_formats.py's 60 fps
# site was starved in 3 of 7 runs alone (0 of 9 with it off), cause not found (stop 26,
# docs/load_sensitive_tests.md); the tests and benchmarks/receive_path.py turn it on.
CLAIMING = os.environ.get("MCU_SIM_NATIVE_RECEIVE") == "1"

AIOICE_DATAGRAM_RECEIVED = aioice.ice.StunProtocol.datagram_received
AIORTC_RECV_NEXT = RTCDtlsTransport._recv_next

# RFC 7983 section 7: the first byte of a STUN message is 0-3.
_STUN_FIRST_BYTE_MAX = 3

# The DTLS transport's.
_HANDSHAKE_DONE = "_RTCDtlsTransport__handshake_done"
_RX_BYTES = "_RTCDtlsTransport__rx_bytes"
_RX_PACKETS = "_RTCDtlsTransport__rx_packets"

# aiortc.clock.current_ms(): milliseconds since the NTP epoch (1900-01-01 UTC).
_NTP_EPOCH_OFFSET_S = 2_208_988_800
_UTC = datetime.UTC

# What a receiver's RTP packet leaves to send (a NACK, a PLI), awaited in order.
Pending = Sequence[Coroutine[Any, Any, None]]
_NOTHING: Pending = ()
PacketWatcher = Callable[[RtpPacket], None]


@dataclass(frozen=True, slots=True)
class _OneStep:
    """A receiver's handler of `handle_rtp_in_one_step`: the coroutine function put in
    place as its `_handle_rtp_packet`, the same work callable without awaiting (`now`),
    and the watchers both call first (`watch_rtp`)."""

    handler: Callable[[RtpPacket, int], Coroutine[Any, Any, None]]
    now: Callable[[RtpPacket, int], Pending]
    watchers: list[PacketWatcher]
    counts: RtpCounts


# Where a receiver keeps its _OneStep: on itself (its closures refer to the receiver, so a
# weak-keyed table holding it would keep every receiver alive).
_ONE_STEP = "_mcu_sim_one_step"


def _one_step_of(receiver: RTCRtpReceiver) -> _OneStep | None:
    one_step: _OneStep | None = getattr(receiver, _ONE_STEP, None)
    return one_step


# The DTLS transports whose media `read_media` reads.
_batched: weakref.WeakSet[RTCDtlsTransport] = weakref.WeakSet()
# The sends left by packets read in batches, until they are done (the loop keeps only weak
# references to tasks).
_sending: set[asyncio.Task[None]] = set()


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
    if transport not in _batched:
        _batched.add(transport)
        read_media_in_batches(transport)
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

    def handle_now(packet: RtpPacket, arrival_time_ms: int) -> Pending:
        """The packet handled; what is left to send for it (a NACK, then a PLI), or the
        whole of aiortc's handler for a receiver that estimates bandwidth."""
        for watch in watchers:
            watch(packet)
        if not receiver._enabled:
            return _NOTHING
        claim = claim_of(receiver)
        pending: list[Coroutine[Any, Any, None]] = []
        if claim is not None:  # its per-packet work done in C (rtc/claimed_receivers.py)
            try:
                if not claim.add_packet(packet):
                    claim.finish(pending)
                    return pending
                give_back(claim, receiver.transport, pending)  # handed back: Python's again
            except Exception:
                log.exception("a claimed receiver failed: it goes back to Python")
                _drop_claim(claim, receiver.transport, pending)
                return pending
        if getattr(receiver, _REMOTE_BITRATE_ESTIMATOR) is not None:
            if packet.payload_type in codecs:
                counts.payload_bytes_received += len(packet.payload)
            return [aiortc_handler(packet, arrival_time_ms)]
        active_ssrc[packet.ssrc] = now(_UTC)
        codec = codecs.get(packet.payload_type)
        if codec is None:
            return _NOTHING
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
                return _NOTHING
            apt = codec.parameters.get("apt")
            if len(packet.payload) < 2 or not isinstance(apt, int) or apt not in codecs:
                return _NOTHING
            packet = unwrap_rtx(packet, payload_type=apt, ssrc=original_ssrc)
            codec = codecs[apt]
        nack_generator = getattr(receiver, _NACK_GENERATOR)
        if nack_generator is not None and nack_generator.add(packet):
            pending.append(receiver._send_rtcp_nack(packet.ssrc, sorted(nack_generator.missing)))
        if packet.payload:
            depayload = depayloaders.get(codec.mimeType)
            if depayload is None:
                depayload = depayloaders[codec.mimeType] = depayloader(codec)
            try:
                packet._data = depayload(packet.payload)  # type: ignore[attr-defined]
            except ValueError:
                return pending
        else:
            packet._data = b""  # type: ignore[attr-defined]
        pli_flag, encoded_frame = getattr(receiver, _JITTER_BUFFER).add(packet)
        if decoder_error.is_set():
            decoder_error.clear()
            if is_video:
                pli_flag = True  # the lost picture, to the sender (RFC 4585 6.3.1.1)
        if pli_flag:
            pending.append(receiver._send_rtcp_pli(packet.ssrc))
        if encoded_frame is not None and getattr(receiver, _DECODER_THREAD):
            encoded_frame.timestamp = timestamp_mapper.map(encoded_frame.timestamp)
            getattr(receiver, _DECODER_QUEUE).put((codec, encoded_frame))
        return pending

    async def handle_rtp_packet(packet: RtpPacket, arrival_time_ms: int) -> None:
        for send in handle_now(packet, arrival_time_ms):
            await send

    watchers: list[PacketWatcher] = []
    setattr(receiver, _ONE_STEP, _OneStep(handle_rtp_packet, handle_now, watchers, counts))
    receiver._handle_rtp_packet = handle_rtp_packet  # type: ignore[method-assign]


def watch_rtp(receiver: RTCRtpReceiver, watcher: PacketWatcher) -> None:
    """Call `watcher` with every RTP packet routed to `receiver`, before the receiver
    handles it, whichever way it was read: one of the watchers of the handler of
    `handle_rtp_in_one_step`, or a wrapper of any other handler (aiortc's)."""
    one_step = _one_step_of(receiver)
    if one_step is not None and receiver._handle_rtp_packet is one_step.handler:
        one_step.watchers.append(watcher)
        return
    handle = receiver._handle_rtp_packet

    async def handle_rtp_packet(packet: RtpPacket, arrival_time_ms: int) -> None:
        watcher(packet)
        await handle(packet, arrival_time_ms)

    receiver._handle_rtp_packet = handle_rtp_packet  # type: ignore[method-assign]


def read_media_in_batches(transport: RTCDtlsTransport) -> bool:
    """Once the handshake is done, the socket of the nominated ICE pair is read by
    rtc/batch_receive.c (`read_media`): its SRTP media in one system call a wakeup,
    unprotected in C and handled here without the ICE connection's queue and the DTLS
    transport's task. True when it now is (an asyncio selector transport, still open)."""
    pair = transport.transport._connection._nominated.get(1)
    if pair is None or pair.protocol.transport is None:
        return False
    return datagram_drain.read_in_batches_with(
        pair.protocol.transport, partial(read_media, weakref.ref(transport)))


def read_media(dtls_ref: weakref.ref[RTCDtlsTransport], udp: Any) -> int | None:
    """The batch reader of a DTLS transport's socket (rtc/datagram_drain.py calls it when the
    socket is readable): None when the transport is gone or no longer connected (closed by
    either side: its task no longer reads either), has no SRTP session, or datagrams must
    pass a filter (`aiortc_hooks.filter_datagrams`: loss injection), and the datagrams are
    read as before; else how many datagrams it read. Every datagram that
    is not SRTP media goes to the socket's protocol as before (STUN to aioice, DTLS and
    SRTCP to the DTLS transport's task); the media is counted as aiortc's `_recv_next`
    counts it, parsed, routed and handled by its receiver at once (`handle_media`)."""
    dtls = dtls_ref()
    if (dtls is None or dtls._state != DtlsState.CONNECTED or dtls._rx_srtp is None
            or not installed()):
        return None
    read = batch_receive.drain(udp._sock_fd, datagram_drain.DATAGRAMS_PER_WAKEUP,
                               SRTP_UNPROTECT, session_address(dtls._rx_srtp))
    if read is None:  # its buffers in use by a call this one interrupted
        return None
    others, media, media_bytes, refused = read
    protocol = udp._protocol
    for data, addr in others:
        protocol.datagram_received(data, addr)
    if media or refused:
        setattr(dtls, _RX_BYTES, getattr(dtls, _RX_BYTES) + media_bytes)
        setattr(dtls, _RX_PACKETS, getattr(dtls, _RX_PACKETS) + len(media) + refused)
        if media:
            handle_media(dtls, media)
    return len(others) + len(media) + refused


def handle_media(dtls: Any, media: Sequence[bytes]) -> None:
    """Unprotected RTP packets of `dtls`, in the order received: each parsed, routed and
    handled as `_handle_rtp_data` does; the NACKs and PLIs they leave are sent in order by
    one task. A receiver whose handler is not `handle_rtp_in_one_step`'s (aiortc's, or a
    wrapper put in place after it) gets that handler in the task. A packet whose handling
    fails is logged and dropped; the others go on (aiortc's task would end the call).

    The call's SRTCP and DTLS go on through aioice's queue to the DTLS transport's task, so
    they are handled after media read with or after them; the jitter buffers do not care,
    and RTCP only updates statistics and feedback state."""
    arrival_time_ms = int((time.time() + _NTP_EPOCH_OFFSET_S) * 1000)
    extensions_map = dtls._rtp_header_extensions_map
    route = dtls._rtp_router.route_rtp
    pending: list[Coroutine[Any, Any, None]] = []
    direct = _direct_claims(dtls)
    touched: dict[ReceiverClaim, None] = {}  # in the order first added to
    candidates: dict[RTCRtpReceiver, tuple[_OneStep, int]] = {}
    for data in media:
        if direct:
            claim = direct.get(int.from_bytes(data[8:12], "big"))
            if claim is not None and claim_of(claim.receiver) is not claim:
                direct = _direct_claims(dtls)  # given back by the Python path meanwhile
                claim = direct.get(int.from_bytes(data[8:12], "big"))
            if claim is not None:  # its receiver's per-packet work in C
                touched[claim] = None
                try:
                    if not claim.receive.add(data):
                        continue
                    give_back(claim, dtls, pending)  # handed back: the Python path from here
                except Exception:
                    log.exception("a claimed receiver failed: it goes back to Python")
                    _drop_claim(claim, dtls, pending)
                    direct = _direct_claims(dtls)
                    continue  # the packet is lost, as in handle_now
                direct = _direct_claims(dtls)
        try:
            packet = parse_rtp(data, extensions_map)
        except (ValueError, struct.error):
            continue  # aiortc logs it at debug level and drops the packet
        try:
            receiver = route(packet)
            if receiver is None:
                continue
            handler = receiver._handle_rtp_packet
            one_step = _one_step_of(receiver)
            if one_step is None or handler is not one_step.handler:
                pending.append(handler(packet, arrival_time_ms=arrival_time_ms))
            else:
                pending.extend(one_step.now(packet, arrival_time_ms))
                claim = claim_of(receiver)
                if claim is None:
                    if CLAIMING and not getattr(receiver, UNCLAIMABLE, False):
                        candidates[receiver] = one_step, packet.payload_type
                elif packet.ssrc not in claim.ssrcs:
                    register_ssrcs(claim, dtls)  # a new SSRC routed to it (its RTX)
        except Exception:
            log.exception("an RTP packet (SSRC %d) could not be handled", packet.ssrc)
    for claim in touched:
        if claim_of(claim.receiver) is not claim:
            continue  # given back: finished then, or dropped
        try:
            claim.finish(pending)
        except Exception:
            log.exception("the packets of a receiver handled in C could not be finished: "
                          "it goes back to Python")
            _drop_claim(claim, dtls, pending)
    for receiver, (one_step, payload_type) in candidates.items():
        try:
            try_claim(receiver, dtls, one_step.counts, bool(one_step.watchers), payload_type)
        except Exception:
            log.exception("a receiver could not be claimed for the C path")
            setattr(receiver, UNCLAIMABLE, True)
    if pending:
        task = asyncio.get_running_loop().create_task(_send_in_order(pending))
        _sending.add(task)
        task.add_done_callback(_sending.discard)


def _direct_claims(dtls: Any) -> dict[int, ReceiverClaim]:
    """The claims (rtc/claimed_receivers.py) whose packets go to C as read: those of enabled
    receivers whose handler is still their one-step handler, with no watchers."""
    try:
        claims = current_claims(dtls)
    except Exception:
        log.exception("the claimed receivers could not be brought up to date")
        for claim in all_claims(dtls):
            left: list[Coroutine[Any, Any, None]] = []
            _drop_claim(claim, dtls, left)
            for send in left:
                send.close()
        return {}
    direct = {}
    for ssrc, claim in claims:
        receiver = claim.receiver
        one_step = _one_step_of(receiver)
        if (receiver._enabled and one_step is not None and not one_step.watchers
                and receiver._handle_rtp_packet is one_step.handler):
            direct[ssrc] = claim
    return direct


def _drop_claim(claim: ReceiverClaim, dtls: Any,
                pending: list[Coroutine[Any, Any, None]]) -> None:
    """A claim whose C or Python side failed: given back if it can be (what it left to send
    appended to `pending`), else let go of with the receiver's Python jitter buffer and NACK
    generator started afresh (as for a new stream); never claimed again."""
    if claim_of(claim.receiver) is not claim:
        return
    try:
        give_back(claim, dtls, pending)
    except Exception:
        log.exception("a claimed receiver could not be given back")
        forget_claim(claim, dtls)


async def _send_in_order(pending: Pending) -> None:
    for index, send in enumerate(pending):
        try:
            await send
        except ConnectionError:
            pass  # closed meanwhile: the DTLS transport's task ends the call
        except asyncio.CancelledError:
            for left in pending[index + 1:]:
                left.close()
            raise
        except Exception:
            log.exception("sending what an RTP packet left to send failed")


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
