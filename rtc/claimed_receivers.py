"""Receivers whose per-packet work is done in C (rtc/rtp_receive.c): "claimed" receivers.

Once a call's receiver is in the state `handle_rtp_in_one_step` gives it (aiortc's steps in
one handler, no bandwidth estimator, no watchers) with the MCU's jitter buffer (video: a
MarkerJitterBuffer that knows its codecs, every codec H.264 or its RTX, or another codec
whose packets C hands back; audio: an AudioJitterBuffer), its last packet one C takes and its
jitter buffer empty, rtc/receive_path.py *claims* it: a `ReceiverClaim` takes over its
statistics, NACK state and jitter buffer (the buffer's origin and newest number carried
over), and from then on every RTP packet routed to it goes to the C receiver:

- read in a batch (rtc/receive_path.handle_media), a packet of a claimed SSRC is handed to
  C as it came off the socket, before any Python parse, unless the receiver has watchers
  (`watch_rtp`), whose calls need the parsed packet;
- read any other way (a loss filter in place, aiortc's own path, a watcher), the parsed
  packet is handed to C by the receiver's one-step handler (`add_packet`).

`ReceiverClaim.finish` then does what the Python handler did with the packets' results, once
a batch: the NACKs and PLIs to send (in order, through the receiver's own senders), the
frames to its decoder queue (their timestamps through its timestamp mapper; an audio frame
with its RFC 6464 level, as rtc/audio_jitter_buffer.LevelledFrame), the payload bytes
counted, the active SSRCs noted, a decoder error answered with a PLI to the SSRC of the last
video packet buffered (once a batch, beside any the jitter buffer asked for: where Python
merged the two for one packet, C may send both), and the stream statistics written into aiortc's StreamStatistics
objects, which its RTCP receiver reports and getStats read. The Python state the claim
replaced is left as it was at the claim (except the statistics and the skip counts, kept
current) until a packet C hands back (another codec's, or a ninth SSRC's) ends the claim:
`give_back` puts the NACK state and the buffered packets back, and the receiver stays in
Python from then on.

A DTLS transport keeps its claims by SSRC in a weak-valued table: a claim lives as long as
its receiver (which holds it), never longer.
"""

from __future__ import annotations

import datetime
import weakref
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiortc import RTCRtpReceiver
from aiortc.jitterbuffer import JitterFrame
from aiortc.rtcrtpreceiver import StreamStatistics
from aiortc.rtp import RtpPacket

from rtc.rtp_counts import RtpCounts
from rtc.rtp_receive import FRAME, NACK, RtpReceive

if TYPE_CHECKING:  # they import rtc/aiortc_hooks.py, which imports this
    from aiortc.jitterbuffer import JitterBuffer

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
CLAIM = "_mcu_sim_receiver_claim"
CLAIMS = "_mcu_sim_receiver_claims"
UNCLAIMABLE = "_mcu_sim_receiver_unclaimable"
_MAX_STREAMS = 8  # rtc/rtp_receive.c's
# rtc/rtp_receive.c's apt of a payload type it takes as media, of an RTX with no original,
# of a codec whose packets it hands back
_MEDIA, _NO_ORIGINAL, _FOREIGN = -1, -2, -3
_UTC = datetime.UTC

Pending = list[Coroutine[Any, Any, None]]
Claims = weakref.WeakValueDictionary[int, "ReceiverClaim"]


@dataclass(eq=False)
class ReceiverClaim:
    receiver: RTCRtpReceiver
    receive: RtpReceive
    counts: RtpCounts
    buffer: JitterBuffer  # the receiver's Python one, set aside
    audio: bool
    extension_ids: tuple[int | None, ...]
    ssrcs: set[int] = field(default_factory=set)  # routed to the receiver, in the claims
    skips: tuple[int, int, int] = (0, 0, 0)  # C's skip counts, as added to the buffer's

    def add_packet(self, packet: RtpPacket) -> bool:
        """The parsed `packet` added; True, nothing done, for a packet C hands back."""
        level = packet.extensions.audio_level
        return self.receive.add_packet(packet.ssrc, packet.payload_type,
                                       packet.sequence_number, packet.timestamp,
                                       packet.marker, packet.payload,
                                       None if level is None else level[1])

    def finish(self, pending: Pending) -> None:
        """What the packets added since the last call left, done as the Python handler does
        it; the NACKs and PLIs to send appended to `pending`."""
        from rtc.audio_jitter_buffer import LevelledFrame  # see the TYPE_CHECKING import

        receiver = self.receiver
        events, payload_bytes, active, buffered_ssrc = self.receive.take()
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
                        _, payload_type, timestamp, data, level = event  # type: ignore[misc]
                        frame = (LevelledFrame(data, mapper.map(timestamp), level) if self.audio
                                 else JitterFrame(data=data, timestamp=mapper.map(timestamp)))
                        decoder_queue.put((codecs[payload_type], frame))
                elif event[0] == NACK:
                    _, ssrc, lost = event  # type: ignore[misc]
                    pending.append(receiver._send_rtcp_nack(ssrc, lost))
                else:
                    pending.append(receiver._send_rtcp_pli(event[1]))
        if buffered_ssrc is not None:
            decoder_error = getattr(receiver, _DECODER_ERROR)
            if decoder_error.is_set():
                decoder_error.clear()
                if not self.audio:  # the lost picture, to the sender (RFC 4585 6.3.1.1)
                    pending.append(receiver._send_rtcp_pli(buffered_ssrc))
        receive = self.receive
        skips = (receive.keyframe_skips, receive.packets_skipped, receive.gaps_skipped)
        if skips != self.skips:
            _add_skips(self.buffer, skips, self.skips)
            self.skips = skips


def _add_skips(buffer: Any, now: tuple[int, int, int], before: tuple[int, int, int]) -> None:
    """C's skip counts since `before` added to the Python buffer's (and the process's)."""
    keyframes, packets, gaps = (a - b for a, b in zip(now, before, strict=True))
    if hasattr(buffer, "keyframe_skips"):
        buffer.keyframe_skips += keyframes
        buffer.packets_skipped += packets
        type(buffer).keyframe_skips_total += keyframes
    if hasattr(buffer, "gaps_skipped"):
        buffer.gaps_skipped += gaps


def give_back(claim: ReceiverClaim, dtls: Any, pending: Pending) -> None:
    """The claim ended, for a packet C hands back (another codec's, as from a sender that
    switched to VP8, or a ninth SSRC's): what the packets left finished, the NACK state and
    the jitter buffer's packets put back in the receiver's Python objects (the statistics
    are kept there already), the receiver never claimed again. Nothing for a claim already
    ended."""
    if claim_of(claim.receiver) is not claim:
        return
    claim.finish(pending)
    receiver = claim.receiver
    generator = getattr(receiver, _NACK_GENERATOR)
    if generator is not None and not claim.audio:
        generator.max_seq, generator.missing = claim.receive.nack_state()
    origin, newest, packets = claim.receive.buffered_packets()
    buffer: Any = claim.buffer
    buffer._packets = [None] * buffer.capacity
    buffer._origin = origin
    if not claim.audio:
        buffer._newest, buffer._newest_packet, buffer._settled = newest, None, False
    for sequence_number, timestamp, marker, payload_type, data, level in packets:
        packet = RtpPacket(payload_type=payload_type, marker=marker,
                           sequence_number=sequence_number, timestamp=timestamp)
        packet._data = data  # type: ignore[attr-defined]
        if level is not None:
            packet.extensions.audio_level = (False, level)
        buffer._packets[sequence_number % buffer.capacity] = packet
        if sequence_number == newest and not claim.audio:
            buffer._newest_packet = packet
    setattr(receiver, _JITTER_BUFFER, buffer)
    delattr(receiver, CLAIM)
    setattr(receiver, UNCLAIMABLE, True)
    claims = claims_of(dtls)
    for ssrc in claim.ssrcs:
        if claims.get(ssrc) is claim:
            del claims[ssrc]
    claim.ssrcs.clear()


def forget_claim(claim: ReceiverClaim, dtls: Any) -> None:
    """The claim ended without its state (give_back failed): the receiver's Python jitter
    buffer and NACK generator start afresh, as for a new stream (the state of the claim's
    start would be far behind the stream), the receiver never claimed again."""
    receiver = claim.receiver
    buffer: Any = claim.buffer
    buffer._packets = [None] * buffer.capacity
    buffer._origin = None
    if not claim.audio:
        buffer._newest, buffer._newest_packet, buffer._settled = None, None, False
    generator = getattr(receiver, _NACK_GENERATOR)
    if generator is not None:
        generator.max_seq, generator.missing = None, set()
    if claim_of(receiver) is claim:
        delattr(receiver, CLAIM)
    setattr(receiver, UNCLAIMABLE, True)
    claims = claims_of(dtls)
    for ssrc in list(claim.ssrcs):
        if claims.get(ssrc) is claim:
            del claims[ssrc]
    claim.ssrcs.clear()


def all_claims(dtls: Any) -> list[ReceiverClaim]:
    """Every claim the transport holds, once each."""
    claims: Claims | None = getattr(dtls, CLAIMS, None)
    return list(dict.fromkeys(claims.values())) if claims else []


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


def claim_of(receiver: RTCRtpReceiver) -> ReceiverClaim | None:
    claim: ReceiverClaim | None = getattr(receiver, CLAIM, None)
    return claim


def extension_ids(dtls: Any) -> tuple[int | None, ...]:
    ids = getattr(dtls._rtp_header_extensions_map, _IDS)
    return (ids.mid, ids.repaired_rtp_stream_id, ids.rtp_stream_id, ids.abs_send_time,
            ids.transmission_offset, ids.audio_level, ids.transport_sequence_number)


def _payload_types(receiver: RTCRtpReceiver, dtls: Any, audio: bool
                   ) -> dict[int, tuple[int, int]] | None:
    """The C receiver's payload types, or None when the receiver cannot be claimed (no
    codec C takes, or a payload type routed to it that it has no codec for). Audio: every
    codec (aiortc depayloads none); video: H.264, another codec's packets handed back."""
    codecs: dict[int, Any] = getattr(receiver, _CODECS)
    routed = {payload_type for payload_type, receivers
              in dtls._rtp_router.payload_type_table.items() if receiver in receivers}
    if not codecs or not routed <= codecs.keys():
        return None
    taken: dict[int, tuple[int, int]] = {}
    for payload_type, codec in codecs.items():
        if not 0 <= payload_type <= 127 or codec.clockRate <= 0:
            return None
        name = codec.name.lower()
        if name == "rtx":
            apt = codec.parameters.get("apt")
            if not (isinstance(apt, int) and apt in codecs):
                taken[payload_type] = (codec.clockRate, _NO_ORIGINAL)
            elif audio or codecs[apt].name.lower() == "h264":
                taken[payload_type] = (codec.clockRate, apt)
            else:
                taken[payload_type] = (codec.clockRate, _FOREIGN)
        elif audio or name == "h264":
            taken[payload_type] = (codec.clockRate, _MEDIA)
        else:
            taken[payload_type] = (codec.clockRate, _FOREIGN)  # handed back: give_back
    if not any(apt == _MEDIA for _, apt in taken.values()):
        return None
    return {payload_type: taken[payload_type] for payload_type in routed}


def try_claim(receiver: RTCRtpReceiver, dtls: Any, counts: RtpCounts, watched: bool,
              payload_type: int) -> ReceiverClaim | None:
    """Claim `receiver`, whose last packet had `payload_type`, for the C path when it can be
    (this module's docstring): not while that is another codec's; None when not (yet)."""
    from rtc.audio_jitter_buffer import AudioJitterBuffer  # see the TYPE_CHECKING import
    from rtc.jitter_buffer import MarkerJitterBuffer

    if watched or getattr(receiver, UNCLAIMABLE, False):
        return None
    buffer = getattr(receiver, _JITTER_BUFFER)
    kind = getattr(receiver, _KIND)
    audio = kind == "audio"
    rtx_ssrc: dict[int, int] = getattr(receiver, _RTX_SSRC)
    streams: dict[int, StreamStatistics] = getattr(receiver, _REMOTE_STREAMS)
    payload_types = None
    if ((type(buffer) is AudioJitterBuffer if audio else (
            kind == "video" and type(buffer) is MarkerJitterBuffer
            and buffer._codec_name is not None))
            and getattr(receiver, _REMOTE_BITRATE_ESTIMATOR) is None
            and len(rtx_ssrc) <= _MAX_STREAMS and len(streams) <= _MAX_STREAMS // 2):
        payload_types = _payload_types(receiver, dtls, audio)
    if payload_types is None:  # none of it changes once the receiver has started
        setattr(receiver, UNCLAIMABLE, True)
        return None
    if (payload_types.get(payload_type, (0, _FOREIGN))[1] == _FOREIGN
            or any(packet is not None for packet in buffer._packets)):
        return None  # at a later batch
    generator = getattr(receiver, _NACK_GENERATOR)
    receive = RtpReceive(buffer.capacity, generator is not None, buffer._origin,
                         None if audio else buffer._newest, audio)
    ids = extension_ids(dtls)
    receive.configure(payload_types, dict(rtx_ssrc), ids)
    for ssrc, stream in streams.items():
        receive.set_stats(ssrc, stream._clockrate, stream.base_seq, stream.max_seq,
                          stream.cycles, stream.packets_received, stream._jitter_q4,
                          stream._last_arrival, stream._last_timestamp)
    if generator is not None and not audio:
        receive.set_nack_state(generator.max_seq, generator.missing)
    claim = ReceiverClaim(receiver, receive, counts, buffer, audio, ids)
    setattr(receiver, CLAIM, claim)
    register_ssrcs(claim, dtls)
    return claim


def register_ssrcs(claim: ReceiverClaim, dtls: Any) -> None:
    """Every SSRC the transport's router routes to the claimed receiver, in its claims."""
    claims = claims_of(dtls)
    for ssrc, receiver in dtls._rtp_router.ssrc_table.items():
        if receiver is claim.receiver and ssrc not in claim.ssrcs:
            claim.ssrcs.add(ssrc)
            claims[ssrc] = claim


def claims_of(dtls: Any) -> Claims:
    claims: Claims | None = getattr(dtls, CLAIMS, None)
    if claims is None:
        claims = weakref.WeakValueDictionary()
        setattr(dtls, CLAIMS, claims)
    return claims


def current_claims(dtls: Any) -> list[tuple[int, ReceiverClaim]]:
    """The transport's claims, those no longer routed to their receiver (its packets take
    the Python path, which gives them to the claim if they still reach it) or ended dropped,
    and each claim's header extension ids brought up to date."""
    claims: Claims | None = getattr(dtls, CLAIMS, None)
    if not claims:
        return []
    ssrc_table = dtls._rtp_router.ssrc_table
    current = []
    for ssrc, claim in list(claims.items()):
        if ssrc_table.get(ssrc) is not claim.receiver or claim_of(claim.receiver) is not claim:
            del claims[ssrc]  # routed elsewhere now, or the claim ended
            claim.ssrcs.discard(ssrc)
        else:
            current.append((ssrc, claim))
    if current:
        ids = extension_ids(dtls)
        for _, claim in current:
            if claim.extension_ids != ids:
                claim.extension_ids = ids
                payload_types = _payload_types(claim.receiver, dtls, claim.audio)
                if payload_types is not None:
                    claim.receive.configure(
                        payload_types, dict(getattr(claim.receiver, _RTX_SSRC)), ids)
    return current
