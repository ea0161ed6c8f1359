"""What one encoder produces: codec, picture size, frame rate and bitrate.

A site's booked videoFormat and rate, and the video codec its call negotiated, choose its
output format; sites with equal formats watching the same picture share one encoder.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, replace

from mcu.model import SiteSpec, VideoFormat, VideoProtocol

H264 = "H264"
VP8 = "VP8"
VIDEO_CODECS = (H264, VP8)
CONSTRAINED_BASELINE = "constrained-baseline"
HIGH = "high"


@dataclass(frozen=True, slots=True)
class PictureSize:
    width: int
    height: int
    fps: int


# The picture each booked videoFormat asks for. Interlaced formats are sent as their
# progressive equivalent: the full frame at the rate of their field pairs (1080i60 ->
# 1080p30, 1080i50 -> 1080p25, 480i60 -> 480p30); docs/gateway.md, "Formats, protocols and
# encryption honoured".
FORMAT_SIZES: dict[VideoFormat, PictureSize] = {
    VideoFormat.CIF4: PictureSize(704, 576, 30),
    VideoFormat.HD720P30: PictureSize(1280, 720, 30),
    VideoFormat.HD1080P30: PictureSize(1920, 1080, 30),
    VideoFormat.P480: PictureSize(720, 480, 30),
    VideoFormat.HD720P60: PictureSize(1280, 720, 60),
    VideoFormat.HD1080P60: PictureSize(1920, 1080, 60),
    VideoFormat.QCIF: PictureSize(176, 144, 30),
    VideoFormat.CIF: PictureSize(352, 288, 30),
    VideoFormat.SQCIF: PictureSize(128, 96, 30),
    VideoFormat.CIF2: PictureSize(704, 288, 30),
    VideoFormat.I108: PictureSize(1920, 1080, 30),
    VideoFormat.I480: PictureSize(720, 480, 30),
    VideoFormat.P360: PictureSize(640, 360, 30),
    VideoFormat.VGA: PictureSize(640, 480, 30),
    VideoFormat.HD720P25: PictureSize(1280, 720, 25),
    VideoFormat.HD720P50: PictureSize(1280, 720, 50),
    VideoFormat.HD1080P25: PictureSize(1920, 1080, 25),
    VideoFormat.HD1080P50: PictureSize(1920, 1080, 50),
    VideoFormat.I108_50: PictureSize(1920, 1080, 25),
}

DEFAULT_VIDEO_FORMAT = VideoFormat.HD1080P30
MIN_BITRATE = 64_000
_BITS_PER_PIXEL = 0.03  # the bitrate a format gets when neither the site nor the conference sets one
_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kKmM]?)(?:bps|b/s)?\s*$")


@dataclass(frozen=True, slots=True)
class OutputFormat:
    codec: str
    width: int
    height: int
    fps: int
    bitrate: int  # bits per second
    # H.264: None is Constrained Baseline (what every WebRTC peer decodes), "high" High
    # profile for a site booked H.264 HP; other codecs: None. Part of the group key, so one
    # encoder per distinct (picture, codec, profile, format, rate).
    profile: str | None = None
    # H.264 for a site that takes only packetization-mode 0 (RFC 6184 single NAL units, a
    # SIP room system): the encoder caps its slices so each NAL unit fits one packet. Part
    # of the group key only for such sites: every other H.264 site keeps the unsliced
    # stream and its group (docs/sip.md, "H.264 packetization-mode 0").
    single_nal: bool = False

    @property
    def profile_name(self) -> str | None:
        """The H.264 profile as reported ("constrained-baseline", "high"); None for VP8."""
        if self.codec != H264:
            return None
        return self.profile or CONSTRAINED_BASELINE

    @property
    def size(self) -> tuple[int, int]:
        return self.width, self.height

    def __str__(self) -> str:
        text = f"{self.codec} {self.width}x{self.height}@{self.fps} {self.bitrate // 1000}k"
        return text + " single-nal" if self.single_nal else text


def parse_rate(rate: str | None) -> int | None:
    """A site or conference rate ("1920k", "2M", "768") in bits per second; None when unset
    or unreadable (the format's default applies). A bare number is in kbit/s, as the
    platform writes rates."""
    if not rate:
        return None
    match = _RATE.match(rate)
    if match is None:
        return None
    value, unit = float(match[1]), match[2].lower()
    bits = value * (1_000_000 if unit == "m" else 1000)
    return max(MIN_BITRATE, int(bits))


def picture_size(video_format: VideoFormat | None, default: VideoFormat) -> PictureSize:
    chosen = video_format if video_format not in (None, VideoFormat.AUTO) else default
    return FORMAT_SIZES.get(chosen, FORMAT_SIZES[DEFAULT_VIDEO_FORMAT])


def default_bitrate(size: PictureSize) -> int:
    return max(MIN_BITRATE, int(size.width * size.height * size.fps * _BITS_PER_PIXEL))


def h264_profile_for(site: SiteSpec, codec: str) -> str | None:
    """The H.264 profile a site is sent: High when it is booked H.264 HP, else None
    (Constrained Baseline); None for other codecs."""
    return h264_profile(site.video_protocol, codec)


def h264_profile(video_protocol: VideoProtocol | None, codec: str) -> str | None:
    """h264_profile_for of a site booked with `video_protocol`."""
    if codec.upper() == H264 and video_protocol is VideoProtocol.H264_HP:
        return HIGH
    return None


def output_format_for(
    site: SiteSpec,
    codec: str,
    *,
    conference_rate: str | None = None,
    default_format: VideoFormat = DEFAULT_VIDEO_FORMAT,
) -> OutputFormat:
    """The output a site receives: its videoFormat (AUTO: the conference default), its rate
    (else the conference's, else the format's default), the negotiated codec and, for
    H.264, the profile its booking asks for (h264_profile_for). Remembered by the values it
    depends on: the encoder groups are settled on every video tick (conference_groups)."""
    return _output_format(site.video_format, site.rate, site.video_protocol, codec,
                          conference_rate, default_format)


@functools.lru_cache(maxsize=1024, typed=True)
def _output_format(video_format: VideoFormat | None, rate: str | None,
                   video_protocol: VideoProtocol | None, codec: str,
                   conference_rate: str | None, default_format: VideoFormat) -> OutputFormat:
    size = picture_size(video_format, default_format)
    bitrate = parse_rate(rate) or parse_rate(conference_rate) or default_bitrate(size)
    return OutputFormat(codec.upper(), size.width, size.height, size.fps, bitrate,
                        h264_profile(video_protocol, codec))


def fit_to_sizes(output: OutputFormat, sizes: tuple[tuple[int, int], ...]) -> OutputFormat:
    """The output within the picture sizes a site's codec can carry (a SIP room system's
    H.261/H.263 fmtp, rtp.codecs.offered_sizes; empty: any size): the booked size when it
    is one of them, else the largest of them not larger than it, else the smallest. The
    rate and frame rate stay the booking's (docs/sip.md, "In the MCU")."""
    if not sizes or output.size in sizes:
        return output
    area = output.width * output.height
    by_area = sorted(sizes, key=lambda size: size[0] * size[1])
    fitting = [size for size in by_area if size[0] * size[1] <= area]
    width, height = fitting[-1] if fitting else by_area[0]
    return replace(output, width=width, height=height)
