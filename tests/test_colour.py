"""Colour end to end, PyAV side: what every encoder states about colour, and the colours of
known patches after decoding by what the stream states (rtc/colour.py: the convention is
sRGB primaries and transfer, BT.601 matrix, TV range, at every size).

Tolerance: CIEDE2000 < 3 (MAX_DELTA_E) between a patch's intended sRGB colour and the mean of
the decoded patch converted to RGB with the matrix and range the decoded frame states.

- the colour arithmetic: CIEDE2000 on Sharma's reference pairs; the issue's numbers (a YUV
  (0,0,0) shown as (0,136,0) by BT.601 and (0,77,0) by BT.709);
- the MCU's encoders (H.264 and VP8) at 4CIF, 720p and 1080p: the SPS VUI states the
  convention (parsed by rtc/h264_sps.py), a VP8 key frame says BT.601; the site colour, the
  background and the placeholder come out of the decoder within the tolerance;
- a source stating BT.709 or full range is converted by the compositor (and would be off by
  far more than the tolerance if it were not); a source in the convention is not touched;
- the terminals' encoded camera loop states the same and decodes to its colours;
- through a running conference: a real terminal's decoded picture of another site, booked
  4CIF and 720p, states the convention and shows the other site's colour.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import av
import numpy as np
import pytest

from mcu.layouts import layout_mode, pixel_rects
from mcu.media.compositor import BLACK, PLACEHOLDER_GREY, Compositor, FitMode, fit_geometry
from mcu.media.output_format import H264, VP8, OutputFormat
from mcu.media.video_encoders import EncoderTuning, open_encoder
from mcu.model import ConferenceSpec, DialingMode, SiteCallState, SiteSpec, VideoFormat
from rtc.colour import (
    CONVENTION,
    bgr_picture,
    delta_e_2000,
    delta_e_rgb,
    frame_rgb,
    rgb_to_yuv,
    to_convention,
    yuv_to_rgb,
)
from rtc.h264_sps import find_sps
from rtc.vp8_header import parse_key_frame
from terminals.media_sources import VideoFormat as SentVideo
from terminals.media_sources import encode_loop
from terminals.scene import CameraScene

MAX_DELTA_E = 3.0
SOURCE_W, SOURCE_H = 1280, 720
OUTPUTS = {"4CIF": (704, 576), "720p": (1280, 720), "1080p": (1920, 1080)}
SITE_INDEX = 1


# --------------------------------------------------------------------------- arithmetic


@pytest.mark.parametrize(("lab1", "lab2", "expected"), [
    # G. Sharma, W. Wu, E. Dalal (2005), test data pairs 1, 3, 17 and 34
    ((50.0, 2.6772, -79.7751), (50.0, 0.0, -82.7485), 2.0425),
    ((50.0, 2.8361, -74.0200), (50.0, 0.0, -82.7485), 3.4412),
    ((50.0, 2.5, 0.0), (73.0, 25.0, -18.0), 27.1492),
    ((2.0776, 0.0795, -1.1350), (0.9033, -0.0636, -0.5514), 0.9082),
])
def test_ciede2000_matches_the_reference_pairs(lab1, lab2, expected):
    assert float(delta_e_2000(lab1, lab2)) == pytest.approx(expected, abs=1e-4)


def test_yuv_zero_is_the_green_the_issue_saw_under_each_matrix():
    assert tuple(np.rint(yuv_to_rgb((0, 0, 0), 6))) == (0, 136, 0)  # BT.601
    assert tuple(np.rint(yuv_to_rgb((0, 0, 0), 1))) == (0, 77, 0)  # what Chrome showed (BT.709)


def test_rgb_yuv_round_trip_per_matrix_and_range():
    colours = np.array([(239, 24, 24), (24, 239, 24), (30, 30, 220), (128, 128, 128)], float)
    for matrix in (1, 6):
        for full_range in (False, True):
            back = yuv_to_rgb(rgb_to_yuv(colours, matrix, full_range), matrix, full_range)
            assert np.allclose(back, colours, atol=1e-6)
    assert tuple(np.rint(rgb_to_yuv((0, 0, 0)))) == BLACK  # TV range black


# ------------------------------------------------------------------- the MCU's encoders


def camera_picture(width: int = SOURCE_W, height: int = SOURCE_H) -> tuple[av.VideoFrame, tuple]:
    scene = CameraScene(SITE_INDEX, "Site colour", width, height, loop_frames=8)
    b, g, r = scene.colour
    return bgr_picture(scene.frame(0)), (r, g, b)


def band_region(rect, src_w: int, src_h: int) -> tuple[slice, slice]:
    """Rows and columns, in the output picture, of the left part of the site's colour band
    (left of the site name) of a source letterboxed into the pane `rect`."""
    fit = fit_geometry(src_w, src_h, rect.w, rect.h, FitMode.LETTERBOX)
    x, y, w, h = fit.dst
    band = max(8, src_h // 9) * h / src_h
    rows = slice(rect.y + y + int(band * 0.25), rect.y + y + int(band * 0.75))
    cols = slice(rect.x + x + int(w * 0.04), rect.x + x + int(w * 0.16))
    return rows, cols


def mean_rgb(rgb: np.ndarray, rows: slice, cols: slice) -> np.ndarray:
    return rgb[rows, cols].reshape(-1, 3).mean(axis=0)


def encode_and_decode(picture: av.VideoFrame, output: OutputFormat) -> tuple[bytes, av.VideoFrame]:
    """Three frames of the picture through the MCU's encoder; the first packet (the key
    frame, with the SPS for H.264) and the last decoded frame."""
    encoder = open_encoder(output, EncoderTuning())
    packets: list[av.Packet] = []
    for index in range(3):
        packets += encoder.encode(picture, index * 3000, keyframe=index == 0)
    encoder.close()
    decoder = av.CodecContext.create({H264: "h264", VP8: "vp8"}[output.codec], "r")
    decoded = [frame for packet in packets for frame in decoder.decode(packet)]
    decoded += decoder.decode(None)
    assert decoded, f"{output} decoded nothing"
    return bytes(packets[0]), decoded[-1]


def compose_cp_2_1(width: int, height: int, source: av.VideoFrame) -> av.VideoFrame:
    """CP_2_1: the site in pane 0, a site without picture (placeholder) in pane 1, the
    background above and below."""
    compositor = Compositor(width, height, "CP_2_1")
    return compositor.compose({"site": source, "no-picture": None})


def check_patches(decoded: av.VideoFrame, width: int, height: int, site_rgb: tuple) -> None:
    rgb = frame_rgb(decoded)
    panes = pixel_rects(layout_mode("CP_2_1"), width, height)
    rows, cols = band_region(panes[0], SOURCE_W, SOURCE_H)
    placeholder = panes[1]
    patches = {
        "site colour": (mean_rgb(rgb, rows, cols), site_rgb),
        "background": (mean_rgb(rgb, slice(height // 20, height // 8),
                                slice(width // 3, 2 * width // 3)), yuv_to_rgb(BLACK)),
        "placeholder": (mean_rgb(rgb, slice(placeholder.y + 8, placeholder.y + 40),
                                 slice(placeholder.x + 8, placeholder.x + 60)),
                        yuv_to_rgb(PLACEHOLDER_GREY)),
    }
    for name, (measured, intended) in patches.items():
        error = delta_e_rgb(measured, intended)
        assert error < MAX_DELTA_E, f"{name}: decoded {measured.round()} for {intended}, dE {error:.2f}"


@pytest.mark.parametrize("size", list(OUTPUTS))
def test_the_mcus_h264_states_the_convention_and_decodes_to_the_intended_colours(size):
    width, height = OUTPUTS[size]
    source, site_rgb = camera_picture()
    key_frame, decoded = encode_and_decode(compose_cp_2_1(width, height, source),
                                           OutputFormat(H264, width, height, 30, 2_000_000))
    sps = find_sps(key_frame)
    assert sps is not None and (sps.width, sps.height) == (width, height)
    signal = sps.video_signal
    assert signal is not None and signal.colour_primaries is not None
    assert (signal.colour_primaries, signal.transfer_characteristics,
            signal.matrix_coefficients) == (
        CONVENTION.primaries, CONVENTION.transfer, CONVENTION.matrix) == (1, 13, 6)
    assert signal.full_range is CONVENTION.full_range is False
    # the decoder hands on what the VUI says
    assert (decoded.colorspace, decoded.color_range) == (6, 1)
    assert (decoded.color_primaries, decoded.color_trc) == (1, 13)
    check_patches(decoded, width, height, site_rgb)


@pytest.mark.parametrize("size", list(OUTPUTS))
def test_the_mcus_vp8_says_bt601_and_decodes_to_the_intended_colours(size):
    width, height = OUTPUTS[size]
    source, site_rgb = camera_picture()
    key_frame, decoded = encode_and_decode(compose_cp_2_1(width, height, source),
                                           OutputFormat(VP8, width, height, 30, 2_000_000))
    header = parse_key_frame(key_frame)
    assert (header.width, header.height) == (width, height)
    assert header.color_space == 0  # "BT.601", the only colour space VP8 defines
    check_patches(decoded, width, height, site_rgb)


def bt709_picture(rgb: tuple[int, int, int], full_range: bool = False) -> av.VideoFrame:
    image = np.empty((SOURCE_H, SOURCE_W, 3), np.uint8)
    image[:] = rgb
    from av.video.reformatter import ColorRange

    frame = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(
        format="yuv420p", dst_colorspace="itu709",
        dst_color_range=ColorRange.JPEG if full_range else ColorRange.MPEG)
    frame.colorspace = 1
    frame.color_range = 2 if full_range else 1
    return frame


@pytest.mark.parametrize("full_range", [False, True])
def test_a_source_stating_bt709_is_converted_to_the_convention(full_range):
    teal = (40, 180, 200)  # where BT.601 and BT.709 differ by more than the tolerance
    source = bt709_picture(teal, full_range)
    width, height = OUTPUTS["720p"]
    picture = Compositor(width, height, "CP_None").compose({"browser": source})
    _, decoded = encode_and_decode(picture, OutputFormat(H264, width, height, 30, 2_000_000))
    measured = mean_rgb(frame_rgb(decoded), slice(300, 420), slice(500, 780))
    assert delta_e_rgb(measured, teal) < MAX_DELTA_E
    # Control: the same code values read as BT.601 TV range are off by well over the
    # tolerance, so the test would see a missing conversion.
    y, u, v = (np.frombuffer(plane, np.uint8)[0] for plane in source.planes)
    assert delta_e_rgb(yuv_to_rgb((y, u, v)), teal) > 1.5 * MAX_DELTA_E


def test_a_source_in_the_convention_or_stating_nothing_is_not_converted():
    source, _ = camera_picture(320, 180)
    assert to_convention(source) is source
    unstated = av.VideoFrame(320, 180, "yuv420p")
    assert unstated.colorspace == 2 and to_convention(unstated) is unstated
    converted = to_convention(bt709_picture((30, 30, 220)))
    assert (converted.colorspace, converted.color_range) == (6, 1)


# ------------------------------------------------------------------ the terminals' encoders


@pytest.mark.parametrize("codec", [H264, VP8])
def test_a_terminals_camera_loop_states_the_convention_and_keeps_the_site_colour(codec):
    width, height = 640, 360
    scene = CameraScene(SITE_INDEX, "Site colour", width, height, loop_frames=4)
    loop = encode_loop(scene, codec, SentVideo(width, height, 15, 800_000), keyframe_interval=4)
    if codec == H264:
        sps = find_sps(loop.packets[0])
        assert sps is not None and sps.video_signal is not None
        signal = sps.video_signal
        assert (signal.colour_primaries, signal.transfer_characteristics,
                signal.matrix_coefficients, signal.full_range) == (1, 13, 6, False)
    else:
        assert parse_key_frame(loop.packets[0]).color_space == 0
    decoder = av.CodecContext.create({H264: "h264", VP8: "vp8"}[codec], "r")
    frames = [f for data in loop.packets for f in decoder.decode(av.Packet(data))]
    frames += decoder.decode(None)
    rgb = frame_rgb(frames[0])
    band = max(8, height // 9)
    measured = mean_rgb(rgb, slice(band // 4, 3 * band // 4), slice(width // 25, width // 6))
    b, g, r = scene.colour
    assert delta_e_rgb(measured, (r, g, b)) < MAX_DELTA_E


# ------------------------------------------------------------------ through a conference


@pytest.mark.parametrize("booked", [VideoFormat.CIF4, VideoFormat.HD720P30])
async def test_a_terminal_decodes_another_sites_colour_through_a_conference(server, booked):
    from tests.test_media_acceptance import eventually, signalling_url, states, terminal

    viewer, seen = terminal(8), terminal(9)
    for t in (viewer, seen):
        await t.start(signalling_url(server))
    try:
        sites = [SiteSpec(t.uri, name=t.name, video_format=booked,
                          dialing_mode=DialingMode.MCU_CALLS_SITE) for t in (viewer, seen)]
        spec = ConferenceSpec("colour", server.clock.now(), timedelta(hours=1), sites)
        conf_id = server.gateway.scheduler.schedule(spec).conf_id
        server.gateway.runtime.reconcile()
        await eventually(lambda: set(states(server, conf_id).values())
                         == {SiteCallState.IN_CONFERENCE}, what="both in conference")
        server.gateway.runtime.control.set_continuous_presence(
            conf_id, "0", layout_mode("CP_2_1").value, [viewer.uri, seen.uri])
        width, height = {VideoFormat.CIF4: (704, 576), VideoFormat.HD720P30: (1280, 720)}[booked]
        panes = pixel_rects(layout_mode("CP_2_1"), width, height)
        sent = seen.video_format
        # each site's colour band, in its pane of the CP_2_1 picture the viewer receives
        patches = []
        for site, pane in zip((viewer, seen), panes, strict=False):
            b, g, r = site._scene.colour
            patches.append((band_region(pane, sent.width, sent.height), (r, g, b)))
        last: list[object] = []

        def shows_both_colours() -> bool:
            frame = viewer.video.last_frame
            if frame is None or (frame.width, frame.height) != (width, height):
                last[:] = [None if frame is None else (frame.width, frame.height)]
                return False
            rgb = frame_rgb(frame)
            last[:] = [(mean_rgb(rgb, *region).round(), delta_e_rgb(mean_rgb(rgb, *region), colour))
                       for region, colour in patches]
            return all(error < MAX_DELTA_E for _, error in last)  # type: ignore[misc]

        try:
            await eventually(shows_both_colours, what=f"{booked.name}: both sites' colours")
        except AssertionError as error:
            raise AssertionError(f"{error}; last seen {last}, intended {[c for _, c in patches]}") from None
        frame = viewer.video.last_frame
        assert (frame.colorspace, frame.color_range, frame.color_primaries, frame.color_trc) == (
            6, 1, 1, 13)
    finally:
        for t in (viewer, seen):
            await t.stop()
        await asyncio.sleep(0)


@pytest.fixture
async def server(tmp_path):
    from app.process import running_server
    from gateway.settings import load_settings
    from mcu.clock import ManualClock

    clock = ManualClock()
    settings = load_settings(port=0, data_dir=tmp_path, call_timeout_seconds=10.0)
    async with running_server(settings, clock=clock) as running:
        running.clock = clock
        yield running
