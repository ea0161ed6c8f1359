"""The codecs a terminal declares (register.capabilities: "opus", "G722", "PCMU", "H264", ...)
as aiortc codec capabilities, for RTCRtpTransceiver.setCodecPreferences.

Both ends use it: the MCU offers a terminal only what it declared, the simulated terminal
offers and answers only what it declared. Order is preference: the declared order, and for
each name every variant aiortc has (both H.264 profiles). Video gets RTX after its codecs.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from aiortc import RTCRtpCodecCapability, RTCRtpCodecParameters, RTCRtpSender
from aiortc.sdp import SessionDescription

Kind = Literal["audio", "video"]
OPUS = "OPUS"

# Names an integrator may write for the codecs aiortc calls by their RTP names.
_ALIASES: dict[str, tuple[str, ...]] = {
    "G.722": ("G722",),
    "G711": ("PCMU", "PCMA"),
    "G.711": ("PCMU", "PCMA"),
    "G711U": ("PCMU",),
    "G.711U": ("PCMU",),
    "G711A": ("PCMA",),
    "G.711A": ("PCMA",),
    "H.264": ("H264",),
}


def rtp_name(codec: RTCRtpCodecCapability | RTCRtpCodecParameters) -> str:
    """"OPUS", "G722", "PCMU", "H264", "VP8", "RTX": of a capability or of a negotiated
    SDP's codec."""
    return codec.mimeType.split("/", 1)[1].upper()


def supported_codec_names(kind: Kind) -> list[str]:
    """aiortc's codecs of `kind`, once each, RTX left out."""
    names: list[str] = []
    for codec in RTCRtpSender.getCapabilities(kind).codecs:
        name = rtp_name(codec)
        if name != "RTX" and name not in names:
            names.append(name)
    return names


def codec_preferences(kind: Kind, declared: Iterable[str]) -> list[RTCRtpCodecCapability]:
    """aiortc's codecs named by `declared`, in its order; empty when none is known."""
    available = RTCRtpSender.getCapabilities(kind).codecs
    chosen: list[RTCRtpCodecCapability] = []
    for name in declared:
        for wanted in _ALIASES.get(name.strip().upper(), (name.strip().upper(),)):
            chosen += [c for c in available
                       if rtp_name(c) == wanted and wanted != "RTX" and c not in chosen]
    if kind == "video" and chosen:
        chosen += [c for c in available if rtp_name(c) == "RTX"]
    return chosen


def negotiated_codec(sdp: str, kind: Kind) -> str | None:
    """The codec the first `kind` section of a negotiated SDP (an answer) settled on: its
    first payload type, which is what aiortc's sender sends."""
    for media in SessionDescription.parse(sdp).media:
        if media.kind == kind:
            for codec in media.rtp.codecs:
                name = rtp_name(codec)
                if name != "RTX":
                    return name
    return None


def offered_codec_names(sdp: str, kind: Kind) -> list[str]:
    """The codecs the first `kind` section of an SDP lists, by RTP name, once each, in its
    order, RTX left out: what an offer proposes."""
    for media in SessionDescription.parse(sdp).media:
        if media.kind == kind:
            names = [rtp_name(codec) for codec in media.rtp.codecs]
            return [name for name in dict.fromkeys(names) if name != "RTX"]
    return []
