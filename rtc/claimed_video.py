"""An H.264 video receiver whose per-packet work is done in C (rtc/video_receive.c).

Once a call's video receiver is in the state `handle_rtp_in_one_step` gives it (aiortc's
steps in one handler, no bandwidth estimator, a MarkerJitterBuffer that knows its codecs,
every codec H.264 or its RTX) and its jitter buffer holds no packet, rtc/receive_path.py
*claims* it: a `VideoClaim` takes over its statistics, NACK state and jitter buffer (the
buffer's origin and newest number carried over), and from then on every RTP packet routed
to it goes to the C receiver:

- read in a batch (rtc/receive_path.handle_media), a packet of a claimed SSRC is handed to
  C as it came off the socket, before any Python parse, unless the receiver has watchers
  (`watch_rtp`), whose calls need the parsed packet;
- read any other way (a loss filter in place, aiortc's own path, a watcher), the parsed
  packet is handed to C by the receiver's one-step handler (`add_packet`).

`finish` then does what the Python handler did with the packets' results, once a batch:
the NACKs and PLIs to send (in order, through the receiver's own senders), the frames to
its decoder queue (their timestamps through its timestamp mapper), the payload bytes
counted, the active SSRCs noted, a decoder error answered with a PLI, and the stream
statistics written into aiortc's StreamStatistics objects, which its RTCP receiver reports
and getStats read. A claim is never given back: the Python state it replaced is left as it
was at the claim (except the statistics and the keyframe-skip counts, kept current).
"""

from __future__ import annotations

import datetime
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiortc import RTCRtpReceiver
from aiortc.jitterbuffer import JitterFrame
from aiortc.rtcrtpreceiver import StreamStatistics

from rtc.rtp_counts import RtpCounts
from rtc.video_receive import FRAME, NACK, VideoReceive

if TYPE_CHECKING:  # rtc/jitter_buffer.py imports rtc/aiortc_hooks.py, which imports this
    from rtc.jitter_buffer import MarkerJitterBuffer

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
_IDS = "_HeaderExtensionsMap__ids"  # the transport's map: the negotiated id of each

# Where a receiver keeps its claim, and a DTLS transport its claims by SSRC; set on a
# receiver that is never to be claimed (given back, or claiming it failed).
CLAIM = "_mcu_sim_video_claim"
UNCLAIMABLE = "_mcu_sim_video_unclaimable"
CLAIMS = "_mcu_sim_video_claims"
_MAX_STREAMS = 8  # rtc/video_receive.c's
# rtc/video_receive.c's apt of an H.264 payload type, of an RTX with no original, of a codec
# whose packets it hands back
_MEDIA, _NO_ORIGINAL, _FOREIGN = -1, -2, -3
_UTC = datetime.UTC

Pending = list[Coroutine[Any, Any, None]]


@dataclass(eq=False)
class VideoClaim:
    receiver: RTCRtpReceiver
    receive: VideoReceive
    counts: RtpCounts
    buffer: MarkerJitterBuffer
    extension_ids: tuple[int | None, ...]
    ssrcs: set[int] = field(default_factory=set)  # routed to the receiver, in the claims
    touched: bool = False  # packets were added since the last finish
    keyframe_skips: int = 0  # the C receiver's, as last added to the Python counts
    packets_skipped: int = 0

    def add_packet(self, packet: Any) -> bool:
        """The parsed `packet` added; True, nothing done, for a packet of another codec."""
        self.touched = True
        return self.receive.add_packet(packet.ssrc, packet.payload_type,
                                       packet.sequence_number, packet.timestamp,
                                       packet.marker, packet.payload)

    def finish(self, pending: Pending) -> None:
        """What the packets added since the last call left, done as the Python handler does
        it; the NACKs and PLIs to send appended to `pending`."""
        self.touched = False
        receiver = self.receiver
        events, payload_bytes, active = self.receive.take()
        self.counts.payload_bytes_received += payload_bytes
        if active:
            now = datetime.datetime.now(_UTC)
            active_ssrc: dict[int, datetime.datetime] = getattr(receiver, _ACTIVE_SSRC)
            streams: dict[int, StreamStatistics] = getattr(receiver, _REMOTE_STREAMS)
            for ssrc in active:
                active_ssrc[ssrc] = now
                _write_stats(streams, ssrc, self.receive.stats(ssrc))
        if events:
            codecs: dict[int, Any] = getattr(receiver, _CODECS)
            decoding = bool(getattr(receiver, _DECODER_THREAD))
            mapper = getattr(receiver, _TIMESTAMP_MAPPER)
            decoder_queue = getattr(receiver, _DECODER_QUEUE)
            for event in events:
                if event[0] == FRAME:
                    if decoding:
                        _, payload_type, timestamp, data = event  # type: ignore[misc]
                        frame = JitterFrame(data=data, timestamp=mapper.map(timestamp))
                        decoder_queue.put((codecs[payload_type], frame))
                elif event[0] == NACK:
                    _, ssrc, lost = event  # type: ignore[misc]
                    pending.append(receiver._send_rtcp_nack(ssrc, lost))
                else:
                    pending.append(receiver._send_rtcp_pli(event[1]))
        decoder_error = getattr(receiver, _DECODER_ERROR)
        if decoder_error.is_set():
            decoder_error.clear()  # the lost picture, to the sender (RFC 4585 6.3.1.1)
            media = [ssrc for ssrc in self.ssrcs if ssrc not in getattr(receiver, _RTX_SSRC)]
            if media:
                pending.append(receiver._send_rtcp_pli(min(media)))
        skips = self.receive.keyframe_skips
        if skips != self.keyframe_skips:
            skipped = self.receive.packets_skipped
            self.buffer.keyframe_skips += skips - self.keyframe_skips
            self.buffer.packets_skipped += skipped - self.packets_skipped
            type(self.buffer).keyframe_skips_total += skips - self.keyframe_skips
            self.keyframe_skips, self.packets_skipped = skips, skipped


def give_back(claim: VideoClaim, dtls: Any, pending: Pending) -> None:
    """The claim ended, for a packet of another codec (a sender that switched to VP8): what
    the packets left finished, the NACK state and the jitter buffer's packets put back in
    the receiver's Python objects (the statistics are kept there already), the receiver
    never claimed again."""
    from aiortc.rtp import RtpPacket

    claim.finish(pending)
    receiver = claim.receiver
    generator = getattr(receiver, _NACK_GENERATOR)
    if generator is not None:
        generator.max_seq, generator.missing = claim.receive.nack_state()
    origin, newest, packets = claim.receive.buffered_packets()
    buffer = claim.buffer
    buffer._packets = [None] * buffer.capacity
    buffer._origin, buffer._newest, buffer._newest_packet = origin, newest, None
    for sequence_number, timestamp, marker, payload_type, data in packets:
        packet = RtpPacket(payload_type=payload_type, marker=marker,
                           sequence_number=sequence_number, timestamp=timestamp)
        packet._data = data  # type: ignore[attr-defined]
        buffer._packets[sequence_number % buffer.capacity] = packet
        if sequence_number == newest:
            buffer._newest_packet = packet
    buffer._settled = False
    delattr(receiver, CLAIM)
    setattr(receiver, UNCLAIMABLE, True)
    claims = claims_of(dtls)
    for ssrc in claim.ssrcs:
        if claims.get(ssrc) is claim:
            del claims[ssrc]
    claim.ssrcs.clear()


def _write_stats(streams: dict[int, StreamStatistics], ssrc: int,
                 stats: tuple[Any, ...] | None) -> None:
    if stats is None:
        return
    clock_rate, base_seq, max_seq, cycles, received, jitter_q4, arrival, timestamp = stats
    stream = streams.get(ssrc)
    if stream is None:
        stream = streams[ssrc] = StreamStatistics(clock_rate)
    stream.base_seq, stream.max_seq, stream.cycles = base_seq, max_seq, cycles
    stream.packets_received = received
    stream._jitter_q4, stream._last_arrival, stream._last_timestamp = (
        jitter_q4, arrival, timestamp)


def claim_of(receiver: RTCRtpReceiver) -> VideoClaim | None:
    claim: VideoClaim | None = getattr(receiver, CLAIM, None)
    return claim


def extension_ids(dtls: Any) -> tuple[int | None, ...]:
    ids = getattr(dtls._rtp_header_extensions_map, _IDS)
    return (ids.mid, ids.repaired_rtp_stream_id, ids.rtp_stream_id, ids.abs_send_time,
            ids.transmission_offset, ids.audio_level, ids.transport_sequence_number)


def _payload_types(receiver: RTCRtpReceiver, dtls: Any) -> dict[int, tuple[int, int]] | None:
    """The C receiver's payload types, or None when the receiver cannot be claimed (a codec
    other than H.264 and its RTX, or a payload type routed to it that it has no codec for)."""
    codecs: dict[int, Any] = getattr(receiver, _CODECS)
    routed = {payload_type for payload_type, receivers
              in dtls._rtp_router.payload_type_table.items() if receiver in receivers}
    if not codecs or not routed <= codecs.keys():
        return None
    taken: dict[int, tuple[int, int]] = {}
    for payload_type, codec in codecs.items():
        if not 0 <= payload_type <= 127:
            return None
        name = codec.name.lower()
        if name == "h264":
            taken[payload_type] = (codec.clockRate, _MEDIA)
        elif name == "rtx":
            apt = codec.parameters.get("apt")
            if not (isinstance(apt, int) and apt in codecs):
                taken[payload_type] = (codec.clockRate, _NO_ORIGINAL)
            elif codecs[apt].name.lower() == "h264":
                taken[payload_type] = (codec.clockRate, apt)
            else:
                taken[payload_type] = (codec.clockRate, _FOREIGN)
        else:
            taken[payload_type] = (codec.clockRate, _FOREIGN)  # handed back: give_back
    if not any(apt == _MEDIA for _, apt in taken.values()):
        return None
    return {payload_type: taken[payload_type] for payload_type in routed}


def try_claim(receiver: RTCRtpReceiver, dtls: Any, counts: RtpCounts, watched: bool,
              payload_type: int) -> VideoClaim | None:
    """Claim `receiver`, whose last packet had `payload_type`, for the C path when it can be
    (this module's docstring): not while that is another codec's; None when not (yet)."""
    from rtc.jitter_buffer import MarkerJitterBuffer  # see the TYPE_CHECKING import

    if watched or getattr(receiver, UNCLAIMABLE, False):
        return None
    buffer = getattr(receiver, _JITTER_BUFFER)
    rtx_ssrc: dict[int, int] = getattr(receiver, _RTX_SSRC)
    streams: dict[int, StreamStatistics] = getattr(receiver, _REMOTE_STREAMS)
    payload_types = None
    if (getattr(receiver, _KIND) == "video"
            and getattr(receiver, _REMOTE_BITRATE_ESTIMATOR) is None
            and type(buffer) is MarkerJitterBuffer and buffer._codec_name is not None
            and len(rtx_ssrc) <= _MAX_STREAMS and len(streams) <= _MAX_STREAMS // 2):
        payload_types = _payload_types(receiver, dtls)
    if payload_types is None:  # none of it changes once the receiver has started
        setattr(receiver, UNCLAIMABLE, True)
        return None
    if (payload_types.get(payload_type, (0, _FOREIGN))[1] == _FOREIGN
            or any(packet is not None for packet in buffer._packets)):
        return None  # at a later batch
    generator = getattr(receiver, _NACK_GENERATOR)
    receive = VideoReceive(buffer.capacity, generator is not None, buffer._origin,
                           buffer._newest)
    ids = extension_ids(dtls)
    receive.configure(payload_types, dict(rtx_ssrc), ids)
    for ssrc, stream in streams.items():
        receive.set_stats(ssrc, stream._clockrate, stream.base_seq, stream.max_seq,
                          stream.cycles, stream.packets_received, stream._jitter_q4,
                          stream._last_arrival, stream._last_timestamp)
    if generator is not None:
        receive.set_nack_state(generator.max_seq, generator.missing)
    claim = VideoClaim(receiver, receive, counts, buffer, ids)
    setattr(receiver, CLAIM, claim)
    register_ssrcs(claim, dtls)
    return claim


def register_ssrcs(claim: VideoClaim, dtls: Any) -> None:
    """Every SSRC the transport's router routes to the claimed receiver, in its claims."""
    claims = claims_of(dtls)
    for ssrc, receiver in dtls._rtp_router.ssrc_table.items():
        if receiver is claim.receiver and ssrc not in claim.ssrcs:
            claim.ssrcs.add(ssrc)
            claims[ssrc] = claim


def claims_of(dtls: Any) -> dict[int, VideoClaim]:
    claims: dict[int, VideoClaim] | None = getattr(dtls, CLAIMS, None)
    if claims is None:
        claims = {}
        setattr(dtls, CLAIMS, claims)
    return claims


def current_claims(dtls: Any) -> dict[int, VideoClaim]:
    """The transport's claims, those no longer routed to their receiver dropped (its
    packets take the Python path, which gives them to the claim if they still reach it),
    and each claim's header extension ids brought up to date."""
    claims: dict[int, VideoClaim] | None = getattr(dtls, CLAIMS, None)
    if not claims:
        return {}
    ssrc_table = dtls._rtp_router.ssrc_table
    for ssrc, claim in list(claims.items()):
        if ssrc_table.get(ssrc) is not claim.receiver:
            del claims[ssrc]
            claim.ssrcs.discard(ssrc)
    if claims:
        ids = extension_ids(dtls)
        for claim in set(claims.values()):
            if claim.extension_ids != ids:
                claim.extension_ids = ids
                codecs_and_rtx = _payload_types(claim.receiver, dtls)
                if codecs_and_rtx is not None:
                    claim.receive.configure(codecs_and_rtx,
                                            dict(getattr(claim.receiver, _RTX_SSRC)), ids)
    return claims
