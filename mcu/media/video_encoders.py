"""Real-time video encoders over PyAV (FFmpeg's libx264 and libvpx), one per output format.

Codecs register themselves in ENCODERS by the name the SDP negotiates (H264, VP8), so the
encoder group never branches on a codec. Both encoders are configured for live video: no
B-frames, no lookahead, keyframes only on request (and a long safety interval).
Every encoder states the colour of what it encodes (`state_colour_description`): the one
convention of rtc/colour.py (sRGB primaries and transfer, BT.601 matrix, TV range) at every
size, written by libx264 into the SPS VUI; a VP8 key frame can only say "BT.601" (its one
colour-space bit, which libvpx always writes as 0), which is the convention's matrix.
An encoder is used from one worker thread at a time; PyAV releases the GIL while encoding.
"""

from __future__ import annotations

import fractions
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import av

from mcu.media.output_format import H264, HIGH, VP8, OutputFormat
from mcu.media.stream_limits import x264_level_params
from rtc.colour import CONVENTION
from rtp.codecs import MODE0_SLICE_MAX_BYTES

VIDEO_CLOCK = 90_000
VIDEO_TIME_BASE = fractions.Fraction(1, VIDEO_CLOCK)
SAFETY_KEYFRAME_SECONDS = 10  # a lost keyframe request still heals within this


@dataclass(frozen=True)
class EncoderTuning:
    """x264 preset: ultrafast keeps 1080p30 well inside one core on this machine (veryfast is
    about three times slower); aiortc's own H.264 encoder uses x264's default preset."""

    x264_preset: str = "ultrafast"
    vpx_cpu_used: int = 8  # libvpx VP8 realtime speed, 0..16 (higher = faster)
    threads: int = 1  # per encoder; conferences run in parallel on the worker pool


class VideoEncoder(Protocol):
    format: OutputFormat

    def encode(self, frame: av.VideoFrame, pts: int, keyframe: bool) -> list[av.Packet]: ...

    def close(self) -> None: ...


class _PyAvEncoder(ABC):
    codec_name = ""

    def __init__(self, output: OutputFormat, tuning: EncoderTuning) -> None:
        self.format = output
        context = av.CodecContext.create(self.codec_name, "w")
        assert isinstance(context, av.VideoCodecContext)  # libx264 and libvpx are video encoders
        context.width, context.height = output.width, output.height
        context.pix_fmt = "yuv420p"
        context.time_base = VIDEO_TIME_BASE
        context.framerate = fractions.Fraction(output.fps, 1)
        context.bit_rate = output.bitrate
        context.gop_size = output.fps * SAFETY_KEYFRAME_SECONDS
        context.thread_count = tuning.threads
        state_colour_description(context)
        self._configure(context, output, tuning)
        self._context: av.VideoCodecContext | None = context

    @abstractmethod
    def _configure(self, context: av.VideoCodecContext, output: OutputFormat,
                   tuning: EncoderTuning) -> None:
        """The codec's own options (preset, real-time settings) on the new context."""

    def encode(self, frame: av.VideoFrame, pts: int, keyframe: bool) -> list[av.Packet]:
        """Encode the (reused) composed frame; pts in 1/90000 s."""
        frame.pts = pts
        frame.time_base = self._frame_time_base()
        # The compositor reuses its output frame: reset the type so one forced keyframe does
        # not make every later frame a keyframe.
        frame.pict_type = av.video.frame.PictureType.I if keyframe else av.video.frame.PictureType.NONE
        if self._context is None:
            raise RuntimeError(f"{self.codec_name} encoder is closed")
        packets = list(self._context.encode(frame))
        for packet in packets:
            packet.time_base = VIDEO_TIME_BASE
        return packets

    def _frame_time_base(self) -> fractions.Fraction:
        return VIDEO_TIME_BASE

    def close(self) -> None:
        self._context = None


def state_colour_description(context: av.VideoCodecContext) -> None:
    """The colour description of the composed pictures (rtc/colour.py CONVENTION): libx264
    writes colour_primaries, transfer_characteristics, matrix_coefficients and
    video_full_range_flag into the VUI of every SPS. FFmpeg's libvpx wrapper passes the
    description on for VP9 only; VP8's bitstream has no field for it beyond the colour-space
    bit (BT.601), so for VP8 this is the stream's metadata alone."""
    CONVENTION.apply_to(context)


class X264Encoder(_PyAvEncoder):
    codec_name = "libx264"

    def _configure(self, context: av.VideoCodecContext, output: OutputFormat,
                   tuning: EncoderTuning) -> None:
        context.max_b_frames = 0
        params = ["repeat-headers=1", *x264_level_params(output)]
        if output.profile == HIGH:
            # a site booked H.264 HP: High profile. x264's profile option only caps the
            # tools, and the ultrafast preset uses none beyond Baseline (it would write
            # profile_idc 66); CABAC and the 8x8 transform are the High tools that make the
            # stream, and its SPS, High (profile_idc 100, what the SDP states). No B-frames.
            context.profile = "High"
            params += ["cabac=1", "8x8dct=1"]
        else:
            context.profile = "Baseline"  # Constrained Baseline: what every WebRTC peer takes
        if output.single_nal:  # packetization-mode 0: every NAL unit within one packet
            params.append(f"slice-max-size={MODE0_SLICE_MAX_BYTES}")
        context.options = {
            "preset": tuning.x264_preset,
            "tune": "zerolatency",
            # SPS/PPS before every keyframe: a receiver may join at any keyframe. The level
            # and VBV the SDP states (mcu/media/stream_limits.py).
            "x264-params": ":".join(params),
        }


class Vp8Encoder(_PyAvEncoder):
    codec_name = "libvpx"

    def _configure(self, context: av.VideoCodecContext, output: OutputFormat,
                   tuning: EncoderTuning) -> None:
        context.qmin, context.qmax = 2, 56
        context.options = {
            "deadline": "realtime",
            "cpu-used": str(tuning.vpx_cpu_used),
            "lag-in-frames": "0",
            "error-resilient": "1",
            "bufsize": str(output.bitrate),
            "maxrate": str(output.bitrate),
            "static-thresh": "1",
        }


EncoderFactory = Callable[[OutputFormat, EncoderTuning], VideoEncoder]

ENCODERS: dict[str, EncoderFactory] = {H264: X264Encoder, VP8: Vp8Encoder}


def open_encoder(output: OutputFormat, tuning: EncoderTuning) -> VideoEncoder:
    try:
        factory = ENCODERS[output.codec]
    except KeyError:
        raise ValueError(f"no encoder for video codec {output.codec!r}") from None
    return factory(output, tuning)


class _RoomSystemEncoder(_PyAvEncoder):
    """The ITU codecs only SIP room systems negotiate (H.261, H.263, H.263+), for the encoder
    groups of such sites (mcu/media/sip_endpoint.py). FFmpeg's encoders write the picture's
    temporal reference from a frame count in their time base, so it is 1/fps here and the
    group's 90 kHz pts is turned into (strictly increasing) frame numbers."""

    def _configure(self, context: av.VideoCodecContext, output: OutputFormat,
                   tuning: EncoderTuning) -> None:
        context.time_base = fractions.Fraction(1, output.fps)
        context.max_b_frames = 0
        context.options = self._options()

    def _options(self) -> dict[str, str]:
        return {}

    _last_frame_number = -1

    def encode(self, frame: av.VideoFrame, pts: int, keyframe: bool) -> list[av.Packet]:
        # strictly increasing, as FFmpeg's encoders require (two ticks may round alike)
        number = max(pts * self.format.fps // VIDEO_CLOCK, self._last_frame_number + 1)
        self._last_frame_number = number
        packets = super().encode(frame, number, keyframe)
        for packet in packets:
            packet.pts = packet.dts = None
            packet.time_base = VIDEO_TIME_BASE
        return packets

    def _frame_time_base(self) -> fractions.Fraction:
        return fractions.Fraction(1, self.format.fps)


class H261Encoder(_RoomSystemEncoder):
    codec_name = "h261"


class H263Encoder(_RoomSystemEncoder):
    codec_name = "h263"

    def _options(self) -> dict[str, str]:
        # GOB headers every ~1000 bytes and macroblock info for RFC 2190 mode B cuts
        # (rtp/payloads/h263.py), as rtp/codecs.py's own H.263 encoder
        return {"ps": "1000", "mb_info": "1000"}


class H263PlusEncoder(_RoomSystemEncoder):
    codec_name = "h263p"

    def _options(self) -> dict[str, str]:
        return {"ps": "1000"}


ENCODERS.update({"H261": H261Encoder, "H263": H263Encoder, "H263-1998": H263PlusEncoder})
