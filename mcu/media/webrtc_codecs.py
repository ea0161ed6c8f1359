"""Which codecs a WebRTC call uses (docs/signalling.md, "Codec choice"): what the MCU offers a
terminal or accepts of its offer (CallCodecs, NoCommonCodec when a kind has none), and what
the negotiated SDP settled on (the site's video, audio and content codecs)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from aiortc import RTCRtpCodecCapability

from mcu.media.output_format import H264, VIDEO_CODECS
from mcu.media.site_media import SiteMedia
from mcu.model import VideoProtocol
from rtc.codec_preferences import (
    codec_preferences,
    negotiated_codec,
    offered_codec_names,
    rtp_name,
    supported_codec_names,
)
from rtc.content_sdp import content_media
from rtc.h264_levels import H264Profile, ProfileLevelId
from rtc.signalling import Capabilities


def negotiated_video_codec(sdp: str) -> str | None:
    """The video codec an SDP answer settled on, if the MCU can encode it."""
    codec = negotiated_codec(sdp, "video")
    return codec if codec in VIDEO_CODECS else None


def take_negotiated_codecs(media: SiteMedia, sdp: str, terminal_sdp: str) -> None:
    """What the negotiated SDP (the answer) settled on: the site's output group and audio
    path follow; its content stream: the answer's codec on the content m-line, sent and
    received as the terminal's own SDP (its offer or answer) says."""
    media.video_codec = negotiated_video_codec(sdp)
    media.audio_codec = negotiated_codec(sdp, "audio")
    negotiated = content_media(sdp)
    theirs = content_media(terminal_sdp)
    codec = negotiated.codec if negotiated is not None and negotiated.port != 0 else None
    media.content_codec = codec if codec in VIDEO_CODECS else None
    media.content_send = media.content_codec is not None and theirs is not None and theirs.sends
    media.content_receive = (media.content_codec is not None and theirs is not None
                             and theirs.receives)


def video_codec_order(protocol: VideoProtocol | None, offered: Iterable[str], preferred: str) -> list[str]:
    """Video codecs to offer or accept, best first (docs/signalling.md, "Codec choice"):
    booked videoProtocol H.264 or H.264 HP: H.264 only; auto: the MCU's preference if the
    terminal has it, then whatever else of the terminal's the MCU encodes, in the terminal's
    order. Empty when nothing fits (for an H.264 booking: the terminal has no H.264; for
    H.261, H.263 or H.265: always, WEBRTC_UNSENDABLE)."""
    if protocol in WEBRTC_UNSENDABLE:
        return []
    declared = [name for codec in offered
                for name in [rtp_name(c) for c in codec_preferences("video", [codec])]
                if name in VIDEO_CODECS]
    if protocol in H264_BOOKINGS:
        return [H264] if H264 in declared else []
    order = [preferred] if preferred in declared else []
    return order + [codec for codec in dict.fromkeys(declared) if codec not in order]


H264_BOOKINGS = (VideoProtocol.H264, VideoProtocol.H264_HP)
# Booked protocols a WebRTC site cannot receive (WebRTC video is H.264, VP8 and VP9; H.261
# and H.263 are not WebRTC codecs, and the MCU encodes no H.265): the call fails with 131088
# (capability exchange failed) rather than silently sending another codec; docs/gateway.md,
# "Formats, protocols and encryption honoured".
WEBRTC_UNSENDABLE = {
    VideoProtocol.H261: "H.261",
    VideoProtocol.H263: "H.263",
    VideoProtocol.H265: "H.265",
}


class NoCommonCodec(Exception):
    """The terminal declared (or its SDP offers or answers) no codec of a kind that the MCU
    can use."""


def _mcu_video_codecs(order: list[str], protocol: VideoProtocol | None
                      ) -> list[RTCRtpCodecCapability]:
    """aiortc's capabilities for `order`: H.264 only in the profile the MCU sends, High for
    a site booked H.264 HP (rtc/aiortc_hooks.py add_h264_high), else Constrained Baseline
    (aiortc also lists plain Baseline, 42001f)."""
    high = protocol is VideoProtocol.H264_HP
    return [codec for codec in codec_preferences("video", order)
            if rtp_name(codec) != H264 or _h264_profile_wanted(codec, high)]


def _h264_profile_wanted(codec: RTCRtpCodecCapability, high: bool) -> bool:
    stated = ProfileLevelId.parse(str(codec.parameters["profile-level-id"]))
    if high:
        return stated.profile_idc == H264Profile.HIGH.profile_idc
    return stated.constrained_baseline


@dataclass(frozen=True)
class CallCodecs:
    """What the MCU offers a terminal, or accepts of its offer, in order of preference."""

    audio: list[RTCRtpCodecCapability]
    video: list[RTCRtpCodecCapability]

    @classmethod
    def of(cls, capabilities: Capabilities, protocol: VideoProtocol | None,
           preferred_video: str, offer: str | None = None) -> CallCodecs:
        """The terminal's registered codecs (those of its `offer` too, on dial-in), audio in
        its registered order, video by video_codec_order; NoCommonCodec when a kind has none."""
        audio_names = list(capabilities.audio_codecs)
        video_names = list(capabilities.video_codecs)
        if offer is not None:
            offered_audio = set(offered_codec_names(offer, "audio"))
            offered_video = set(offered_codec_names(offer, "video"))
            audio_names = [name for name in audio_names
                           if {rtp_name(c) for c in codec_preferences("audio", [name])}
                           & offered_audio]
            video_names = [name for name in video_names
                           if {rtp_name(c) for c in codec_preferences("video", [name])}
                           & offered_video]
        audio = codec_preferences("audio", audio_names)
        if not audio:
            raise NoCommonCodec(
                f"codec mismatch: no common audio codec: the terminal registered "
                f"{capabilities.audio_codecs}"
                + (f" and offers {offered_codec_names(offer, 'audio')}" if offer else "")
                + f", the MCU has {supported_codec_names('audio')}")
        if protocol in WEBRTC_UNSENDABLE:
            raise NoCommonCodec(
                f"codec mismatch: booked {WEBRTC_UNSENDABLE[protocol]}, which a WebRTC "
                f"terminal cannot receive (WebRTC video: H.264, VP8); the MCU sends no other "
                f"codec in its place")
        video_order = video_codec_order(protocol, video_names, preferred_video)
        if not video_order:
            booked = "booked H.264, " if protocol in H264_BOOKINGS else ""
            raise NoCommonCodec(
                f"codec mismatch: {booked}no common video codec: the terminal registered "
                f"{capabilities.video_codecs}"
                + (f" and offers {offered_codec_names(offer, 'video')}" if offer else "")
                + f", the MCU sends {list(VIDEO_CODECS)}")
        return cls(audio, _mcu_video_codecs(video_order, protocol))
