"""The picture marker: read back at any pane size, fit and after compression; never a wrong site."""

from __future__ import annotations

import fractions

import av
import cv2
import numpy as np
import pytest

from terminals.marker import (
    MAX_LOOP_FRAMES,
    MAX_SITES,
    MarkerReading,
    card_geometry,
    frame_marker_id,
    read_marker,
)
from terminals.scene import CameraScene, site_colour_bgr

LOOP = 64


@pytest.fixture(scope="module")
def scenes() -> dict[int, CameraScene]:
    return {site: CameraScene(site, f"Site {site:04d}", 1280, 720, LOOP) for site in range(24)}


def fit_into_pane(picture: np.ndarray, pane_w: int, pane_h: int, crop: bool) -> np.ndarray:
    """What an MCU does to a source in a pane: scale keeping the aspect, then bars or a cut."""
    h, w = picture.shape[:2]
    scale = max(pane_w / w, pane_h / h) if crop else min(pane_w / w, pane_h / h)
    scaled = cv2.resize(picture, (max(2, round(w * scale)), max(2, round(h * scale))),
                        interpolation=cv2.INTER_AREA)
    sh, sw = scaled.shape[:2]
    if crop:
        y, x = (sh - pane_h) // 2, (sw - pane_w) // 2
        return scaled[y : y + pane_h, x : x + pane_w]
    pane = np.zeros((pane_h, pane_w, 3), np.uint8)
    y, x = (pane_h - sh) // 2, (pane_w - sw) // 2
    pane[y : y + sh, x : x + sw] = scaled
    return pane


def test_full_size_round_trip_every_frame(scenes):
    scene = scenes[5]
    for frame_index in range(LOOP):
        assert read_marker(scene.frame(frame_index)) == MarkerReading(5, frame_index)


def test_round_trip_as_video_frame_luma(scenes):
    picture = scenes[3].frame(17)
    frame = av.VideoFrame.from_ndarray(picture, format="bgr24").reformat(format="yuv420p")
    assert read_marker(frame) == MarkerReading(3, 17)


@pytest.mark.parametrize("pane", [(320, 270), (213, 180), (240, 136), (960, 1080), (1920, 720)])
@pytest.mark.parametrize("crop", [False, True], ids=["letterbox", "crop"])
def test_round_trip_in_the_smallest_and_most_extreme_panes(scenes, pane, crop):
    for site in (0, 9, 23):
        for frame_index in (0, 31, 63):
            picture = fit_into_pane(scenes[site].frame(frame_index), *pane, crop=crop)
            assert read_marker(picture) == MarkerReading(site, frame_index), (site, frame_index)


def test_rect_selects_the_pane(scenes):
    canvas = np.zeros((720, 1280, 3), np.uint8)
    canvas[:360, :640] = fit_into_pane(scenes[1].frame(4), 640, 360, crop=False)
    canvas[360:, 640:] = fit_into_pane(scenes[2].frame(8), 640, 360, crop=False)
    assert read_marker(canvas, (0.0, 0.0, 0.5, 0.5)) == MarkerReading(1, 4)
    assert read_marker(canvas, (0.5, 0.5, 0.5, 0.5)) == MarkerReading(2, 8)
    assert read_marker(canvas, (0.5, 0.0, 0.5, 0.5)) is None


def grid_rects(cols: int, rows: int) -> list[tuple[float, float, float, float]]:
    return [(c / cols, r / rows, 1 / cols, 1 / rows) for r in range(rows) for c in range(cols)]


def compose(scenes, width: int, height: int, cols: int, rows: int) -> tuple[np.ndarray, dict]:
    """A CP picture by plain numpy placement, alternating letterbox and crop by pane."""
    canvas = np.zeros((height, width, 3), np.uint8)
    expected = {}
    for pane, (fx, fy, fw, fh) in enumerate(grid_rects(cols, rows)):
        x, y = round(fx * width), round(fy * height)
        w, h = round((fx + fw) * width) - x, round((fy + fh) * height) - y
        site, frame_index = pane, (pane * 7) % LOOP
        canvas[y : y + h, x : x + w] = fit_into_pane(
            scenes[site].frame(frame_index), w, h, crop=pane % 2 == 1)
        expected[pane] = MarkerReading(site, frame_index)
    return canvas, expected


def h264_round_trip(picture: np.ndarray, bitrate: int, repeats: int = 3) -> np.ndarray:
    """Encode `picture` a few times (a keyframe then P frames) and return the last decoded."""
    height, width = picture.shape[:2]
    encoder = av.CodecContext.create("libx264", "w")
    encoder.width, encoder.height, encoder.pix_fmt = width, height, "yuv420p"
    encoder.time_base = fractions.Fraction(1, 30)
    encoder.bit_rate = bitrate
    encoder.options = {"preset": "veryfast", "tune": "zerolatency"}
    decoder = av.CodecContext.create("h264", "r")
    decoded = []
    source = av.VideoFrame.from_ndarray(picture, format="bgr24").reformat(format="yuv420p")
    for index in range(repeats):
        source.pts = index
        for packet in encoder.encode(source):
            decoded.extend(decoder.decode(packet))
    for packet in encoder.encode(None):
        decoded.extend(decoder.decode(packet))
    return decoded[-1].to_ndarray(format="bgr24")


@pytest.mark.parametrize(("width", "height", "cols", "rows", "bitrate"), [
    (1920, 1080, 4, 4, 3_000_000),   # 16 panes of 480x270
    (1920, 1080, 6, 4, 3_000_000),   # 24 panes of 320x270 (CP_24_1's size)
    (1280, 720, 6, 4, 1_500_000),    # 24 panes of 213x180
])
def test_round_trip_through_h264_composite(scenes, width, height, cols, rows, bitrate):
    canvas, expected = compose(scenes, width, height, cols, rows)
    decoded = h264_round_trip(canvas, bitrate)
    readings = {pane: read_marker(decoded, rect) for pane, rect in enumerate(grid_rects(cols, rows))}
    wrong = {p: r for p, r in readings.items() if r is not None and r != expected[p]}
    assert wrong == {}
    assert readings == expected


def test_no_reading_from_placeholders_noise_or_colour(scenes):
    rng = np.random.default_rng(4)
    black = np.full((270, 320, 3), 16, np.uint8)
    grey = np.full((270, 320, 3), 48, np.uint8)
    cv2.putText(grey, "No video", (90, 140), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (235, 235, 235), 2)
    noise = rng.integers(0, 256, (270, 320, 3), dtype=np.uint8)
    binary_noise = (rng.integers(0, 2, (270, 320, 1)) * 255).astype(np.uint8).repeat(3, axis=2)
    colour_block = np.empty((270, 320, 3), np.uint8)
    colour_block[:] = site_colour_bgr(3)
    for picture in (black, grey, noise, binary_noise, colour_block):
        assert read_marker(picture) is None
    # Another site's colour ring and band without the card are not a reading either.
    ringed = scenes[3].frame(0)
    card = card_geometry(1280, 720)
    ringed[card.y : card.y + card.height, card.x : card.x + card.width] = site_colour_bgr(3)
    assert read_marker(ringed) is None


def test_half_a_card_is_no_reading(scenes):
    picture = scenes[6].frame(10)
    card = card_geometry(1280, 720)
    # Cover the frame marker: a site marker alone does not say which frame, nor is it checked.
    picture[card.y : card.y + card.height, card.x + card.width // 2 : card.x + card.width] = 255
    assert read_marker(picture) is None


def test_code_space():
    assert frame_marker_id(MAX_SITES - 1, MAX_LOOP_FRAMES - 1) < 1000
    with pytest.raises(ValueError):
        frame_marker_id(0, MAX_LOOP_FRAMES)
