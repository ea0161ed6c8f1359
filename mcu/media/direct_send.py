"""The MCU's WebRTC senders: each encoded frame packetized once, sent to every receiver in
the call chain that delivers it (docs/benchmarks.md, "The send path").

aiortc's RTCRtpSender reads its track in a task of its own (one wake-up per frame and
receiver), packetizes the frame for itself, and writes every packet through RtpPacket
objects and five awaits down to the socket. For the tracks the MCU feeds with encoded
packets (SiteVideoTrack: an encoder group's or the content forwarder's H.264/VP8 frames;
SiteAudioTrack: the mix's Opus packets), `send_directly` replaces that loop
(rtc/aiortc_send_hooks.take_over_rtp) by a `DirectOutput` attached to the track: the
group's `deliver` (or the mixer's tick) pushes a packet to the track, which hands it to its
output at once; the output takes the frame's payloads from the codec's shared packetizer
(rtc/shared_packetizer.py: the first receiver of a frame packetizes it, the others reuse
it), writes this receiver's RTP packets (rtc/rtp_output.py: its SSRC, sequence numbers,
timestamp origin, mid and abs-send-time) and protects and sends them as one batch
(rtc/aiortc_send_hooks.SrtpSendPath). What stays aiortc's: the RTCP loop (sender reports,
from the counts the output records), RTCP feedback (NACKs go to the output's history,
PLI/FIR to the group), DTLS, ICE.

A codec aiortc must encode itself (G.722, G.711: the mix as frames) keeps aiortc's loop,
as does any track not fed with encoded packets.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

import av
from aiortc import RTCRtpSender
from aiortc.rtcrtpparameters import RTCRtpCodecParameters, RTCRtpSendParameters

from rtc.aiortc_send_hooks import (
    SrtpSendPath,
    record_rtp_sent,
    sender_enabled,
    stream_ids,
    take_over_retransmit,
    take_over_rtp,
)
from rtc.audio_level import MIN_AUDIO_LEVEL
from rtc.rtp_output import RtpOutput
from rtc.shared_packetizer import SHARED_MIME_TYPES, Vp8PictureIds, packetizer_for

log = logging.getLogger(__name__)


class PacketOutput(Protocol):
    """What a track hands its packets to once a direct sender took it (DirectOutput)."""

    def send(self, packet: av.Packet, audio_level: int = MIN_AUDIO_LEVEL) -> None: ...

    def end(self) -> None: ...


class DirectTrack(Protocol):
    """A track the MCU feeds with encoded packets (SiteVideoTrack, SiteAudioTrack)."""

    def attach_output(self, output: PacketOutput) -> None: ...

    def detach_output(self, output: PacketOutput) -> None: ...


class DirectOutput:
    """One sender's stream, fed by its track's pushes: packetized (shared), written and sent
    at once; `ended` completes when it can send no more (transport closed, track stopped)."""

    def __init__(self, sender: RTCRtpSender, codec: RTCRtpCodecParameters,
                 parameters: RTCRtpSendParameters) -> None:
        self.sender = sender
        self.packetizer = packetizer_for(codec)
        rewrite = Vp8PictureIds() if codec.mimeType.lower() == "video/vp8" else None
        # audio packets state their mix's level (RFC 6464) when the call negotiated it, as
        # aiortc's sender does for each frame it encodes
        self.rtp = RtpOutput(stream_ids(sender, codec, parameters),
                             SrtpSendPath(sender.transport), rewrite,
                             audio_levels=codec.mimeType.lower().startswith("audio/"))
        self.ended: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        take_over_retransmit(sender, self.rtp.retransmit)

    def send(self, packet: av.Packet, audio_level: int = MIN_AUDIO_LEVEL) -> None:
        """One encoded frame (or audio packet, `audio_level` its level in dBov), now;
        dropped when the sender is disabled (its transceiver does not send) or the output
        ended."""
        if self.ended.done() or not sender_enabled(self.sender):
            return
        rtp = self.rtp
        packets, octets = rtp.packet_count, rtp.octet_count
        try:
            payloads, timestamp = self.packetizer.payloads_of(packet)
            rtp.send_frame(payloads, timestamp, audio_level)
        except ConnectionError:
            self.end()  # the call's transport closed: the sender's loop ends, as aiortc's
            return
        except Exception:
            log.exception("direct RTP sender: a frame could not be sent")
            self.end()
            return
        record_rtp_sent(self.sender, rtp.packet_count - packets, rtp.octet_count - octets,
                        rtp.last_ntp_time, rtp.last_timestamp)

    def end(self) -> None:
        if not self.ended.done():
            self.ended.set_result(None)


def send_directly(sender: RTCRtpSender, track: DirectTrack) -> None:
    """Before `sender` starts: when it starts with a codec the MCU sends pre-encoded
    (H.264, VP8, Opus), its RTP loop is a DirectOutput attached to `track` until either
    ends; any other codec keeps aiortc's loop."""

    def loop(codec: RTCRtpCodecParameters, parameters: RTCRtpSendParameters) -> asyncio.Future[None] | None:
        if codec.mimeType.lower() not in SHARED_MIME_TYPES:
            return None
        output = DirectOutput(sender, codec, parameters)
        track.attach_output(output)
        output.ended.add_done_callback(lambda _: track.detach_output(output))
        return output.ended

    take_over_rtp(sender, loop)
