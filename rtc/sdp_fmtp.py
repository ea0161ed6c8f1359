"""Format parameters (a=fmtp) of one's own SDP, set per call before it is applied.

aiortc's codec capabilities carry fixed parameters (H.264 profile-level-id 42001f/42e01f,
level 3.1; none for VP8 and Opus), shared by every peer connection of the process, and
`setCodecPreferences` accepts only those very capabilities. What a call's SDP states about
the streams (the H.264 level of the booked format, VP8's max-fs/max-fr, Opus's stereo and
bit rate) is therefore written into the SDP aiortc created, before
`setLocalDescription` applies it: aiortc keeps the description it is given, so the SDP the
peer receives (`localDescription`) is the one written here. aiortc itself reads no fmtp of
its own description (it sends what it is handed), so nothing else changes.

Only SDPs aiortc created go through here (its parser and writer round-trip them); a peer's
SDP is read with `codec_parameters`.
"""

from __future__ import annotations

from collections.abc import Mapping

from aiortc.sdp import SessionDescription

from rtc.codec_preferences import Kind, rtp_name

ParameterValue = str | int | None


def with_codec_parameters(sdp: str, kind: Kind, codec: str,
                          parameters: Mapping[str, ParameterValue]) -> str:
    """`sdp` with `parameters` merged into the fmtp of every `codec` ("H264", "VP8",
    "OPUS") payload type of its `kind` sections; unchanged when it has none."""
    description = SessionDescription.parse(sdp)
    changed = False
    for media in description.media:
        if media.kind != kind:
            continue
        for rtp_codec in media.rtp.codecs:
            if rtp_name(rtp_codec) == codec.upper():
                rtp_codec.parameters = {**rtp_codec.parameters, **parameters}
                changed = True
    return str(description) if changed else sdp


def codec_parameters(sdp: str, kind: Kind, codec: str) -> dict[str, ParameterValue] | None:
    """The fmtp of the first `codec` payload type of the first `kind` section; None when
    that section does not list the codec."""
    for media in SessionDescription.parse(sdp).media:
        if media.kind == kind:
            for rtp_codec in media.rtp.codecs:
                if rtp_name(rtp_codec) == codec.upper():
                    return dict(rtp_codec.parameters)
            return None
    return None
