"""A terminal's pre-encoded video (and Opus voice) sent through the project's direct send
path.

aiortc's RTCRtpSender, for every payload of every frame, builds an `RtpPacket`, serializes
it through its header extension map and awaits five coroutines down to the socket
(rtc/rtp_output.py tells the whole story); for a simulated terminal, whose video is a
pre-encoded loop (terminals/media_sources.py EncodedVideoTrack, terminals/camera_track.py
CameraVideoTrack), that per-packet Python is most of what sending costs.

`send_video_directly(sender, track)`, on a sender before it starts, makes its RTP loop
(rtc/aiortc_send_hooks.take_over_rtp) one that awaits the track's next frame exactly as
aiortc's loop does (the track paces itself: one frame per due time), drops it when the
transceiver does not send (aiortc's `_enabled`), packetizes it with aiortc's own `pack`
(rtc/shared_packetizer.SharedPacketizer, one per sender: a terminal's frames are its own),
writes the packets with rtc/rtp_output.RtpOutput (byte for byte aiortc's, its own SSRC,
sequence numbers, timestamp origin, mid and abs-send-time) and protects and sends them as
one batch (rtc/aiortc_send_hooks.SrtpSendPath), the counts aiortc's sender reports kept
(record_rtp_sent). NACKs resend from the output's history (as RTX when negotiated); PLI and
FIR still reach the track through the sender (rtc/aiortc_hooks.on_keyframe_request).

Only H.264 and VP8 (what a terminal's loops are encoded in) are taken over; any other codec
keeps aiortc's loop.

`send_voice_directly(sender, track)` does the same for the voice when the call negotiated
Opus: the SpeechTrack gives Opus packets once it is told the call's codec
(terminals/media_sources.SpeechTrack.use_codec, which the terminal calls as soon as the SDP
answer is known, before media flows); the direct loop tells it the codec it started with
before reading it, so it never gets a frame to encode. Each packet carries the RFC 6464
audio level of the block it encodes (terminals/speech_packets.OpusVoice.last_level_dbov)
when the call negotiated the extension, as a browser's do and as aiortc's sender writes it
for a frame it encodes itself. G.722 and G.711, which aiortc encodes from frames, keep
aiortc's loop (and its levels).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

import av
from aiortc import RTCRtpSender
from aiortc.mediastreams import MediaStreamTrack
from aiortc.rtcrtpparameters import RTCRtpCodecParameters, RTCRtpSendParameters

from rtc.aiortc_send_hooks import (
    SrtpSendPath,
    record_rtp_sent,
    sender_enabled,
    stream_ids,
    take_over_retransmit,
    take_over_rtp,
)
from rtc.rtp_output import RtpOutput
from rtc.shared_packetizer import SharedPacketizer, Vp8PictureIds
from terminals.media_sources import SpeechTrack

DIRECT_VIDEO_MIME_TYPES = frozenset({"video/h264", "video/vp8"})
OPUS_MIME_TYPE = "audio/opus"


def send_video_directly(sender: RTCRtpSender, track: MediaStreamTrack) -> None:
    """Before `sender` starts: when it starts with H.264 or VP8, its RTP loop sends what
    `track` gives (pre-encoded `av.Packet`s) through RtpOutput; another codec keeps aiortc's
    loop."""

    def loop(codec: RTCRtpCodecParameters,
             parameters: RTCRtpSendParameters) -> Coroutine[Any, Any, None] | None:
        if codec.mimeType.lower() not in DIRECT_VIDEO_MIME_TYPES:
            return None
        return _send_track(sender, track, codec, parameters)

    take_over_rtp(sender, loop)


def send_voice_directly(sender: RTCRtpSender, track: SpeechTrack) -> None:
    """Before `sender` starts: when it starts with Opus, its RTP loop sends the voice's Opus
    packets through RtpOutput (the track told the codec first); another codec keeps
    aiortc's loop (frames it encodes)."""

    def loop(codec: RTCRtpCodecParameters,
             parameters: RTCRtpSendParameters) -> Coroutine[Any, Any, None] | None:
        if codec.mimeType.lower() != OPUS_MIME_TYPE:
            return None
        track.use_codec(codec.name)
        # each packet with the level of the block it encodes (RFC 6464, when negotiated)
        return _send_track(sender, track, codec, parameters,
                           level=lambda: track.opus_voice.last_level_dbov)

    take_over_rtp(sender, loop)


async def _send_track(sender: RTCRtpSender, track: MediaStreamTrack,
                      codec: RTCRtpCodecParameters, parameters: RTCRtpSendParameters,
                      level: Callable[[], int] | None = None) -> None:
    """aiortc's `_run_rtp` for a track of encoded packets (video frames or Opus packets);
    ends as it does (the track's
    MediaStreamError, the transport's ConnectionError, a cancel), through take_over_rtp.
    `level`: the audio level in dBov of the packet the track gave last, written in its RTP
    packets (RFC 6464) when the call negotiated the extension."""
    packetizer = SharedPacketizer(codec)
    rewrite = Vp8PictureIds() if codec.mimeType.lower() == "video/vp8" else None
    rtp = RtpOutput(stream_ids(sender, codec, parameters), SrtpSendPath(sender.transport),
                    rewrite, audio_levels=level is not None)
    take_over_retransmit(sender, rtp.retransmit)
    while True:
        packet = await track.recv()
        if not sender_enabled(sender):
            continue  # aiortc reads the track and drops the frame
        if not isinstance(packet, av.Packet):
            raise TypeError(f"a direct sender's track gave {type(packet).__name__}")
        payloads, timestamp = packetizer.payloads_of(packet)
        packets, octets = rtp.packet_count, rtp.octet_count
        if level is None:
            rtp.send_frame(payloads, timestamp)
        else:
            rtp.send_frame(payloads, timestamp, level())
        record_rtp_sent(sender, rtp.packet_count - packets, rtp.octet_count - octets,
                        rtp.last_ntp_time, rtp.last_timestamp)
