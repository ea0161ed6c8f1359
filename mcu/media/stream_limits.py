"""What a site's streams are limited to: stated in the SDP the MCU sends, kept by its encoders.

For H.264 the MCU sends Constrained Baseline at the lowest level (ITU-T H.264 Table A-1,
rtc/h264_levels.py) that holds the site's output format (frame size, macroblocks per second,
bit rate): its SDP (dial-out offer, dial-in answer) states that profile-level-id, and its
libx264 encoder is told the level and a VBV of the booked rate (vbv-maxrate = the rate,
vbv-bufsize = one second of it, both within the level's MaxBR and MaxCPB since the level
was chosen for that rate), so the SPS it writes says what the SDP said. The level is also
the highest the MCU expects to receive (RFC 6184 with level-asymmetry-allowed=1: each side's
profile-level-id is what it receives and sends at most).

VP8 (RFC 7741): max-fs (macroblocks) and max-fr of the booked format. Opus (RFC 7587): the
MCU sends mono at OPUS_BITRATE without in-band FEC and decodes without it: stereo=0,
sprop-stereo=0, useinbandfec=0, maxaveragebitrate=OPUS_BITRATE.
"""

from __future__ import annotations

from aiortc.sdp import SessionDescription

from mcu.media.output_format import H264, HIGH, VP8, OutputFormat
from rtc import h264_levels
from rtc.codec_preferences import OPUS, Kind, rtp_name
from rtc.content_sdp import CONTENT_VIDEO_INDEX
from rtc.h264_levels import H264Profile, Level, level_for, macroblocks, profile_level_id
from rtc.opus_packets import OPUS_BITRATE
from rtc.sdp_fmtp import ParameterValue, with_codec_parameters

MCU_H264_PROFILE = H264Profile.CONSTRAINED_BASELINE  # what X264Encoder writes by default


def h264_profile(output: OutputFormat) -> H264Profile:
    """The profile X264Encoder writes for `output`: High for a site booked H.264 HP
    (OutputFormat.profile), else Constrained Baseline."""
    return H264Profile.HIGH if output.profile == HIGH else MCU_H264_PROFILE


def h264_level(output: OutputFormat) -> Level:
    return level_for(output.width, output.height, output.fps, output.bitrate,
                     h264_profile(output))


def x264_level_params(output: OutputFormat) -> list[str]:
    """libx264 parameters that keep the stream within its level (x264-params syntax)."""
    return h264_levels.x264_level_params(h264_level(output), output.bitrate)


def video_fmtp(output: OutputFormat) -> dict[str, dict[str, ParameterValue]]:
    """The fmtp the MCU states for each video codec a site may negotiate, by RTP name."""
    mb_w, mb_h = macroblocks(output.width, output.height)
    return {
        H264: {"profile-level-id": profile_level_id(h264_profile(output), h264_level(output))},
        VP8: {"max-fs": mb_w * mb_h, "max-fr": output.fps},
    }


OPUS_FMTP: dict[str, ParameterValue] = {
    "minptime": 10, "useinbandfec": 0, "stereo": 0, "sprop-stereo": 0,
    "maxaveragebitrate": OPUS_BITRATE,
}


def describe_streams(sdp: str, output: OutputFormat) -> str:
    """The MCU's own SDP with the fmtp of the streams it sends `output`'s site."""
    fmtps: list[tuple[Kind, str, dict[str, ParameterValue]]] = [
        ("video", codec, params) for codec, params in video_fmtp(output).items()]
    fmtps.append(("audio", OPUS, OPUS_FMTP))
    for kind, codec, params in fmtps:
        sdp = with_codec_parameters(sdp, kind, codec, params)
    return sdp


def describe_content_stream(sdp: str, content: OutputFormat) -> str:
    """The MCU's own SDP with the fmtp of the content m-line (rtc/content_sdp.py) stating
    the content format (mcu/media/content_format.py) instead of the main video's;
    unchanged without a content m-line."""
    description = SessionDescription.parse(sdp)
    videos = [media for media in description.media if media.kind == "video"]
    if len(videos) <= CONTENT_VIDEO_INDEX:
        return sdp
    fmtp = video_fmtp(content)
    for codec in videos[CONTENT_VIDEO_INDEX].rtp.codecs:
        params = fmtp.get(rtp_name(codec))
        if params is not None:
            codec.parameters = {**codec.parameters, **params}
    return str(description)
