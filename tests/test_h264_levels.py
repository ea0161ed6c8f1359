"""H.264 levels (Annex A) and the SPS parser, on real libx264 bitstreams."""

from __future__ import annotations

import fractions

import av
import numpy as np
import pytest

from rtc.h264_levels import (
    H264Profile,
    NoLevel,
    ProfileLevelId,
    level_for,
    max_bitrate,
    profile_level_id,
)
from rtc.h264_sps import SpsError, find_sps, nal_units, parse_sps, unescape


@pytest.mark.parametrize(("width", "height", "fps", "level"), [
    (176, 144, 15, "1.0"),     # QCIF: 99 MBs at 15 fps, 1485 MB/s: level 1
    (176, 144, 30, "1.1"),
    (352, 288, 30, "1.3"),     # CIF: 396 MBs, 11880 MB/s
    (720, 480, 30, "3.0"),     # 1350 MBs, 40500 MB/s: exactly level 3
    (704, 576, 25, "3.0"),     # 4CIF at 25 fps: 39600 MB/s
    (704, 576, 30, "3.1"),     # 4CIF at 30 fps: 47520 MB/s is above level 3's 40500
    (1280, 720, 30, "3.1"),    # 3600 MBs, 108000 MB/s
    (1280, 720, 60, "3.2"),
    (1920, 1080, 30, "4.0"),   # 8160 MBs (1088 lines coded)
    (1920, 1080, 60, "4.2"),
])
def test_the_lowest_level_that_holds_the_format(width: int, height: int, fps: int,
                                                level: str) -> None:
    assert level_for(width, height, fps).name == level


def test_bitrate_and_picture_shape_raise_the_level() -> None:
    assert level_for(1280, 720, 30, 14_000_000).name == "3.1"
    assert level_for(1280, 720, 30, 14_000_001).name == "3.2"
    # High allows 1.25 times the bit rate of the same level
    assert level_for(1280, 720, 30, 17_000_000, H264Profile.HIGH).name == "3.1"
    assert max_bitrate(level_for(1920, 1080, 30), H264Profile.HIGH) == 25_000_000
    # sqrt(8 * MaxFS) bounds each side: 4096x16 is 256 MBs in all, but 256 MBs wide needs
    # MaxFS >= 8192 (level 4.0), not the 396 of level 1.1
    assert level_for(4096, 16, 1).name == "4.0"
    with pytest.raises(NoLevel):
        level_for(7680, 4320, 60)


def test_profile_level_id() -> None:
    assert profile_level_id(H264Profile.CONSTRAINED_BASELINE, level_for(1920, 1080, 30)) == "42c028"
    assert profile_level_id(H264Profile.HIGH, level_for(1920, 1080, 60)) == "64002a"
    parsed = ProfileLevelId.parse("42e01f")
    assert (parsed.profile_idc, parsed.level_idc, parsed.constrained_baseline) == (66, 31, True)
    assert not ProfileLevelId.parse("42001f").constrained_baseline
    assert not ProfileLevelId.parse("640c28").constrained_baseline
    with pytest.raises(ValueError):
        ProfileLevelId.parse("42e0")


def _x264(width: int, height: int, fps: int, options: dict[str, str]) -> bytes:
    context = av.CodecContext.create("libx264", "w")
    assert isinstance(context, av.VideoCodecContext)
    context.width, context.height, context.pix_fmt = width, height, "yuv420p"
    context.time_base = fractions.Fraction(1, fps)
    context.framerate = fractions.Fraction(fps, 1)
    context.bit_rate = 500_000
    context.options = {"preset": "ultrafast", "tune": "zerolatency", **options}
    frame = av.VideoFrame.from_ndarray(np.full((height, width, 3), 90, np.uint8),
                                       format="rgb24").reformat(format="yuv420p")
    frame.pts = 0
    return b"".join(bytes(p) for p in [*context.encode(frame), *context.encode(None)])


@pytest.mark.parametrize(("width", "height", "fps", "options", "expected"), [
    (704, 576, 30, {"profile": "baseline", "x264-params": "level=3.1"}, "42c01f"),
    (1280, 720, 30, {"profile": "baseline", "x264-params": "level=3.1"}, "42c01f"),
    (1920, 1080, 30, {"profile": "baseline", "x264-params": "level=4.0"}, "42c028"),
    (1920, 1080, 60, {"profile": "high", "x264-params": "level=4.2:cabac=1:8x8dct=1"}, "64002a"),
    (1366, 768, 30, {}, None),  # cropped: 1366 is not a multiple of 16, 768 is
])
def test_sps_of_libx264_streams(width: int, height: int, fps: int, options: dict[str, str],
                                expected: str | None) -> None:
    sps = find_sps(_x264(width, height, fps, options))
    assert sps is not None
    assert (sps.width, sps.height) == (width, height)
    assert sps.frame_mbs_only and sps.chroma_format_idc == 1
    if expected is not None:
        assert sps.profile_level_id == expected


def test_vui_video_signal_and_colour_description() -> None:
    plain = find_sps(_x264(320, 240, 30, {}))
    assert plain is not None and plain.video_signal is None  # x264 writes no signal type
    described = find_sps(_x264(320, 240, 30, {
        "x264-params": "colorprim=bt709:transfer=bt709:colormatrix=bt709:range=tv"}))
    assert described is not None and described.video_signal is not None
    signal = described.video_signal
    assert not signal.full_range
    assert (signal.colour_primaries, signal.transfer_characteristics,
            signal.matrix_coefficients) == (1, 1, 1)


def test_stream_without_sps_and_truncated_sps() -> None:
    assert find_sps(b"\x00\x00\x00\x01\x65\x88\x84") is None
    stream = _x264(320, 240, 30, {})
    sps_nal = next(unit for unit in nal_units(stream) if unit[0] & 0x1F == 7)
    assert parse_sps(sps_nal) == parse_sps(sps_nal[1:])
    with pytest.raises(SpsError):
        parse_sps(sps_nal[:5])


def test_emulation_prevention_bytes_are_removed() -> None:
    assert unescape(b"\x00\x00\x03\x01\x00\x00\x03\x00\x03") == b"\x00\x00\x01\x00\x00\x00\x03"
