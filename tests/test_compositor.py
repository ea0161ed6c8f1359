"""Compositor: every source lands in its pane at the right pixels, in every mode, at two sizes."""

from __future__ import annotations

import threading

import av
import cv2
import numpy as np
import pytest

from mcu.layouts import LAYOUT_MODES, aux_source_key, layout_mode, pixel_rects
from mcu.media.compositor import (
    BLACK,
    PLACEHOLDER_GREY,
    SPEAKING_YELLOW,
    Compositor,
    CompositorStyle,
    FitMode,
    fit_geometry,
)
from mcu.media.scaler import (
    I420Region,
    LibyuvScaler,
    OpenCVScaler,
    copy_i420,
    libyuv_available,
    scale_steps,
)

SIZES = [(1920, 1080), (352, 288)]


# --- sources -----------------------------------------------------------------


def solid_frame(width: int, height: int, yuv: tuple[int, int, int]) -> av.VideoFrame:
    frame = av.VideoFrame(width, height, "yuv420p")
    for plane_view, value in zip(I420Region.of_frame(frame).planes(), yuv, strict=True):
        plane_view[:] = value
    return frame


def gradient_frame(width: int, height: int, phase: int = 0) -> av.VideoFrame:
    """Luma ramps left to right, chroma ramps top to bottom: orientation shows."""
    frame = av.VideoFrame(width, height, "yuv420p")
    y, u, v = I420Region.of_frame(frame).planes()
    y[:] = (np.linspace(16, 235, width)[None, :] + phase).clip(0, 255).astype(np.uint8)
    u[:] = np.linspace(40, 216, height // 2)[:, None].astype(np.uint8)
    v[:] = np.linspace(216, 40, height // 2)[:, None].astype(np.uint8)
    return frame


def colour_of(index: int) -> tuple[int, int, int]:
    """Distinct, non-black colours per source index."""
    return (40 + 7 * index, 60 + 5 * index, 200 - 6 * index)


def output_planes(frame: av.VideoFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return tuple(p.copy() for p in I420Region.of_frame(frame).planes())  # type: ignore[return-value]


def fill(planes, rect, colour) -> None:
    x, y, w, h = rect
    for plane, value, shift in zip(planes, colour, (0, 1, 1), strict=True):
        plane[y >> shift : (y + h) >> shift, x >> shift : (x + w) >> shift] = value


def expected_picture(mode, width, height, source_sizes, colours, fit=FitMode.LETTERBOX):
    """What the output must be, painted independently with numpy: background, then each
    pane in pane order (so PiP panes end up on top), black bars, the source colour."""
    planes = (
        np.full((height, width), BLACK[0], np.uint8),
        np.full((height // 2, width // 2), BLACK[1], np.uint8),
        np.full((height // 2, width // 2), BLACK[2], np.uint8),
    )
    for rect, (sw, sh), colour in zip(pixel_rects(mode, width, height), source_sizes, colours,
                                      strict=False):
        fill(planes, (rect.x, rect.y, rect.w, rect.h), BLACK)
        dx, dy, dw, dh = fit_geometry(sw, sh, rect.w, rect.h, fit).dst
        fill(planes, (rect.x + dx, rect.y + dy, dw, dh), colour)
    return planes


def sources_for(mode, width=1280, height=720):
    return {f"site{i}": solid_frame(width, height, colour_of(i)) for i in range(mode.pane_count)}


# --- placement, every mode -----------------------------------------------------


@pytest.mark.parametrize(("width", "height"), SIZES)
@pytest.mark.parametrize("mode", LAYOUT_MODES, ids=lambda m: m.name)
def test_each_solid_source_lands_in_its_pane_with_black_bars(mode, width, height):
    compositor = Compositor(width, height, mode)
    sources = sources_for(mode)
    output = compositor.compose(sources)
    assert compositor.pane_sources == tuple(sources)
    expected = expected_picture(
        mode, width, height, [(1280, 720)] * mode.pane_count,
        [colour_of(i) for i in range(mode.pane_count)],
    )
    for got, want in zip(output_planes(output), expected, strict=True):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("mode", LAYOUT_MODES, ids=lambda m: m.name)
def test_four_by_three_sources_are_letterboxed_or_cropped(mode):
    width, height = 704, 576
    sources = {f"site{i}": solid_frame(640, 480, colour_of(i)) for i in range(mode.pane_count)}
    for fit in FitMode:
        compositor = Compositor(width, height, mode, style=CompositorStyle(fit=fit))
        output = compositor.compose(sources)
        expected = expected_picture(
            mode, width, height, [(640, 480)] * mode.pane_count,
            [colour_of(i) for i in range(mode.pane_count)], fit,
        )
        for got, want in zip(output_planes(output), expected, strict=True):
            np.testing.assert_array_equal(got, want)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 99.0 if mse == 0 else 10 * np.log10(255.0**2 / mse)


@pytest.mark.parametrize("mode", LAYOUT_MODES, ids=lambda m: m.name)
def test_gradient_sources_arrive_upright_and_unmirrored(mode):
    width, height = 1280, 720
    compositor = Compositor(width, height, mode)
    sources = {f"site{i}": gradient_frame(960, 540, phase=i) for i in range(mode.pane_count)}
    out_y, out_u, _ = output_planes(compositor.compose(sources))
    for index, rect in enumerate(pixel_rects(mode, width, height)):
        if index == 0 and mode.overlay_panes:
            continue  # the main pane of a PiP mode is partly covered; the PiPs are checked
        dx, dy, dw, dh = fit_geometry(960, 540, rect.w, rect.h, FitMode.LETTERBOX).dst
        source_y = I420Region.of_frame(sources[f"site{index}"]).planes()[0]
        reference = cv2.resize(source_y, (dw, dh), interpolation=cv2.INTER_AREA)
        tile = out_y[rect.y + dy : rect.y + dy + dh, rect.x + dx : rect.x + dx + dw]
        assert psnr(tile, reference) > 35, (mode.name, index)
        tile_u = out_u[(rect.y + dy) // 2 : (rect.y + dy + dh) // 2, (rect.x + dx) // 2]
        assert tile_u[0] < tile_u[-1]  # chroma ramps downwards: not upside down


# --- picture-in-picture ---------------------------------------------------------


class CountingScaler:
    """Wraps a scaler and counts scale calls, to prove what is (not) re-scaled."""

    def __init__(self, inner) -> None:
        self.inner, self.calls, self.name = inner, 0, "counting"

    def scale(self, src, dst) -> None:
        self.calls += 1
        self.inner.scale(src, dst)


@pytest.mark.parametrize("name", ["CP_4_6", "CP_7_5"])
def test_pip_panes_are_drawn_over_the_main_pane_and_survive_its_redraw(name):
    mode = layout_mode(name)
    scaler = CountingScaler(OpenCVScaler())
    compositor = Compositor(1920, 1080, mode, scaler=scaler)
    sources = sources_for(mode)
    out_y, _, _ = output_planes(compositor.compose(sources))
    rects = pixel_rects(mode, 1920, 1080)
    for index, rect in enumerate(rects[1:], start=1):
        centre = out_y[rect.y + rect.h // 2, rect.x + rect.w // 2]
        assert centre == colour_of(index)[0]
    assert scaler.calls == mode.pane_count

    # A new main-pane frame repaints the main pane; the PiPs are re-blitted, not re-scaled.
    sources["site0"] = solid_frame(1280, 720, (120, 90, 90))
    out_y, _, _ = output_planes(compositor.compose(sources))
    assert scaler.calls == mode.pane_count + 1
    for index, rect in enumerate(rects[1:], start=1):
        assert out_y[rect.y + rect.h // 2, rect.x + rect.w // 2] == colour_of(index)[0]
    assert out_y[10, 10] == 120


# --- caching ---------------------------------------------------------------------


def test_unchanged_sources_are_not_rescaled_and_a_new_frame_rescales_one_tile():
    mode = layout_mode("CP_16_1")
    scaler = CountingScaler(OpenCVScaler())
    compositor = Compositor(1920, 1080, mode, scaler=scaler)
    sources = sources_for(mode)
    first = compositor.compose(sources)
    assert scaler.calls == 16
    again = compositor.compose(sources)
    assert again is first  # the one reused output frame
    assert scaler.calls == 16
    sources["site5"] = solid_frame(1280, 720, (99, 99, 99))
    out_y, _, _ = output_planes(compositor.compose(sources))
    assert scaler.calls == 17
    rect = pixel_rects(mode, 1920, 1080)[5]
    assert out_y[rect.y + 5, rect.x + 5] == 99


# --- the exact-size fast path -------------------------------------------------------


def pane_sized_sources(mode, width: int, height: int) -> dict[str, av.VideoFrame]:
    """One gradient source per pane at exactly that pane's size (what the send ladder makes
    common), each with its own phase so that panes differ."""
    return {f"site{i}": gradient_frame(rect.w, rect.h, phase=3 * i)
            for i, rect in enumerate(pixel_rects(mode, width, height))}


@pytest.mark.parametrize("name", ["CP_4_1", "CP_16_1", "CP_9_1"])
@pytest.mark.parametrize("scaler_kind", ["libyuv", "opencv"])
def test_a_source_at_its_panes_size_is_copied_without_the_scaler_to_the_same_picture(
        name, scaler_kind):
    if scaler_kind == "libyuv" and not libyuv_available():
        pytest.skip("libyuv is not installed")
    mode = layout_mode(name)
    sources = pane_sized_sources(mode, 1920, 1080)
    counting = CountingScaler(LibyuvScaler() if scaler_kind == "libyuv" else OpenCVScaler())
    compositor = Compositor(1920, 1080, mode, scaler=counting)
    fast = output_planes(compositor.compose(sources))
    assert counting.calls == 0  # every pane a plane copy
    # the scaled path for the same sources: the same scaler asked to scale each source into
    # its pane (a same-size scale), into a picture with the compositor's background
    reference = av.VideoFrame(1920, 1080, "yuv420p")
    canvas = I420Region.of_frame(reference)
    for plane, value in zip(canvas.planes(), BLACK, strict=True):
        plane[:] = value
    scaler = LibyuvScaler() if scaler_kind == "libyuv" else OpenCVScaler()
    for (_, frame), rect in zip(sources.items(), pixel_rects(mode, 1920, 1080), strict=True):
        scaler.scale(I420Region.of_frame(frame), canvas.window(rect.x, rect.y, rect.w, rect.h))
    for a, b in zip(fast, output_planes(reference), strict=True):
        np.testing.assert_array_equal(a, b)


def test_only_the_source_not_at_its_panes_size_goes_to_the_scaler():
    mode = layout_mode("CP_4_1")
    sources = pane_sized_sources(mode, 1920, 1080)
    sources["site2"] = solid_frame(1280, 720, (77, 90, 160))
    counting = CountingScaler(OpenCVScaler())
    compositor = Compositor(1920, 1080, mode, scaler=counting)
    out_y, out_u, _ = output_planes(compositor.compose(sources))
    assert counting.calls == 1
    rect = pixel_rects(mode, 1920, 1080)[2]
    assert out_y[rect.y + rect.h // 2, rect.x + rect.w // 2] == 77
    assert out_u[(rect.y + rect.h // 2) // 2, (rect.x + rect.w // 2) // 2] == 90
    first = pixel_rects(mode, 1920, 1080)[0]
    np.testing.assert_array_equal(out_y[first.y : first.bottom, first.x : first.right],
                                  I420Region.of_frame(sources["site0"]).planes()[0])


@pytest.mark.parametrize("library", ["libyuv", "numpy"])
def test_copy_i420_copies_windows_and_refuses_other_sizes(library, monkeypatch):
    from mcu.media import scaler as scaler_module

    if library == "libyuv" and scaler_module._I420_COPY is None:
        pytest.skip("libyuv is not installed")
    if library == "numpy":
        monkeypatch.setattr(scaler_module, "_I420_COPY", None)
    source = gradient_frame(320, 180, phase=5)
    target = solid_frame(640, 360, BLACK)
    window = I420Region.of_frame(target).window(100, 60, 320, 180)
    copy_i420(I420Region.of_frame(source), window)
    y, u, v = I420Region.of_frame(target).planes()
    sy, su, sv = I420Region.of_frame(source).planes()
    np.testing.assert_array_equal(y[60:240, 100:420], sy)
    np.testing.assert_array_equal(u[30:120, 50:210], su)
    np.testing.assert_array_equal(v[30:120, 50:210], sv)
    assert (y[:60] == BLACK[0]).all() and (y[:, :100] == BLACK[0]).all()  # nothing outside
    with pytest.raises(ValueError):
        copy_i420(I420Region.of_frame(source), I420Region.of_frame(target))


def test_the_output_frame_is_allocated_once():
    compositor = Compositor(704, 576, "CP_4_1")
    frames = {compositor.compose(sources_for(layout_mode("CP_4_1"))) for _ in range(3)}
    assert frames == {compositor.output}


# --- settings between ticks ----------------------------------------------------------


def test_layout_change_takes_effect_on_the_next_composed_frame():
    compositor = Compositor(1920, 1080, "CP_4_1")
    sources = sources_for(layout_mode("CP_9_1"))
    compositor.compose(sources)
    compositor.set_layout("CP_9_1")
    output = compositor.compose(sources)
    expected = expected_picture(layout_mode("CP_9_1"), 1920, 1080, [(1280, 720)] * 9,
                                [colour_of(i) for i in range(9)])
    for got, want in zip(output_planes(output), expected, strict=True):
        np.testing.assert_array_equal(got, want)
    # And back to a mode with gaps: the area no pane covers is background again.
    compositor.set_layout("CP_2_1")
    out_y, _, _ = output_planes(compositor.compose(sources))
    assert out_y[5, 5] == BLACK[0] and out_y[1075, 1915] == BLACK[0]


def assert_placeholder(out_planes, rect) -> None:
    out_y, out_u, _ = out_planes
    pane_y = out_y[rect.y : rect.bottom, rect.x : rect.right]
    assert pane_y[2, 2] == PLACEHOLDER_GREY[0] and pane_y[-3, -3] == PLACEHOLDER_GREY[0]
    assert pane_y.max() >= 180  # the "No video" text
    assert out_u[rect.y // 2 + 1, rect.x // 2 + 1] == PLACEHOLDER_GREY[1]


def test_missing_sources_show_the_placeholder():
    mode = layout_mode("CP_4_1")
    compositor = Compositor(1280, 720, mode)
    sources = {"a": solid_frame(1280, 720, colour_of(0)), "b": None}  # b joined, no picture yet
    planes = output_planes(compositor.compose(sources))
    rects = pixel_rects(mode, 1280, 720)
    assert planes[0][rects[0].y + 4, rects[0].x + 4] == colour_of(0)[0]
    for rect in rects[1:]:  # b without a frame, then two panes nobody fills
        assert_placeholder(planes, rect)
    # b's first frame arrives: its pane leaves the placeholder.
    sources["b"] = solid_frame(1280, 720, colour_of(1))
    planes = output_planes(compositor.compose(sources))
    assert planes[0][rects[1].y + 4, rects[1].x + 4] == colour_of(1)[0]
    # A source that goes away falls back to the placeholder.
    del sources["a"]
    compositor.set_sub_pics(["a", "b"])
    planes = output_planes(compositor.compose(sources))
    assert_placeholder(planes, rects[0])


def test_sub_pics_and_aux_streams_choose_the_panes():
    mode = layout_mode("CP_4_1")
    compositor = Compositor(1280, 720, mode)
    sources = {
        "01010086": solid_frame(1280, 720, colour_of(0)),
        "01010010": solid_frame(1280, 720, colour_of(1)),
        aux_source_key("01010086"): solid_frame(1920, 1080, colour_of(2)),
    }
    compositor.set_sub_pics(["01010010", "01010086(%AUX1)", "unknown", "01010086"])
    out_y, _, _ = output_planes(compositor.compose(sources))
    rects = pixel_rects(mode, 1280, 720)
    assert compositor.pane_sources == ("01010010", "01010086(%AUX1)", None, "01010086")
    assert out_y[rects[0].y + 4, rects[0].x + 4] == colour_of(1)[0]
    assert out_y[rects[1].y + 4, rects[1].x + 4] == colour_of(2)[0]
    assert_placeholder(output_planes(compositor.output), rects[2])
    assert out_y[rects[3].y + 4, rects[3].x + 4] == colour_of(0)[0]


def test_automatic_assignment_follows_broadcast_and_speaking():
    compositor = Compositor(1280, 720, "CP_5_1")
    sources = {f"site{i}": solid_frame(640, 360, colour_of(i)) for i in range(5)}
    compositor.compose(sources)
    assert compositor.pane_sources[0] == "site0"
    compositor.set_speaking("site3")
    compositor.compose(sources)
    assert compositor.pane_sources == ("site3", "site0", "site1", "site2", "site4")
    compositor.set_broadcast("site4")
    out_y, _, _ = output_planes(compositor.compose(sources))
    assert compositor.pane_sources[0] == "site4"
    main = pixel_rects(layout_mode("CP_5_1"), 1280, 720)[0]
    assert out_y[main.y + main.h // 2, main.x + main.w // 2] == colour_of(4)[0]


def test_cp_none_shows_the_speaking_site_full_screen():
    compositor = Compositor(704, 576, "CP_None")
    sources = {f"site{i}": solid_frame(704, 576, colour_of(i)) for i in range(3)}
    compositor.set_speaking("site2")
    out_y, _, _ = output_planes(compositor.compose(sources))
    assert (out_y == colour_of(2)[0]).all()


def test_speaking_highlight_border_and_label():
    mode = layout_mode("CP_4_1")
    style = CompositorStyle(border_px=2, show_labels=True, highlight_px=6)
    compositor = Compositor(1280, 720, mode, style=style)
    compositor.set_site_names({"site0": "Ward 3", "site1": "Radiology"})
    sources = {f"site{i}": solid_frame(1280, 720, colour_of(i)) for i in range(4)}
    compositor.set_speaking("site1")
    out_y, out_u, _ = output_planes(compositor.compose(sources))
    rects = pixel_rects(mode, 1280, 720)
    speaking, quiet = rects[0], rects[1]  # speaking site takes the main pane
    assert compositor.pane_sources[0] == "site1"
    assert out_y[speaking.y + 1, speaking.x + speaking.w // 2] == SPEAKING_YELLOW[0]
    assert out_u[speaking.y // 2 + 1, (speaking.x + speaking.w // 2) // 2] == SPEAKING_YELLOW[1]
    assert out_y[quiet.y, quiet.x + quiet.w // 2] == style.border_colour[0]
    assert out_y[quiet.y + 4, quiet.x + quiet.w // 2] == colour_of(0)[0]
    # Labels: bright text on a dark box near the bottom-left corner of each pane.
    label_area = out_y[speaking.bottom - 60 : speaking.bottom - 6, speaking.x + 8 : speaking.x + 200]
    assert label_area.max() >= 200 and label_area.min() <= 40
    # The speaker changes: the old highlight is wiped on the next frame.
    compositor.set_speaking(None)
    compositor.set_broadcast("site1")
    out_y, _, _ = output_planes(compositor.compose(sources))
    assert out_y[speaking.y + 4, speaking.x + speaking.w // 2] == colour_of(1)[0]


# --- inputs of other shapes --------------------------------------------------------


def test_non_i420_and_odd_sized_sources_are_accepted():
    compositor = Compositor(640, 360, "CP_2_3")
    rgb = av.VideoFrame.from_ndarray(np.full((360, 640, 3), 255, np.uint8), format="rgb24")
    odd = solid_frame(1279, 719, colour_of(3))
    out_y, _, _ = output_planes(compositor.compose({"rgb": rgb, "odd": odd}))
    rects = pixel_rects(layout_mode("CP_2_3"), 640, 360)
    assert out_y[rects[0].y + rects[0].h // 2, rects[0].x + 10] >= 230
    assert out_y[rects[1].y + rects[1].h // 2, rects[1].x + 10] == colour_of(3)[0]


# --- determinism, scalers, threads --------------------------------------------------


def test_composing_is_deterministic():
    mode = layout_mode("CP_13_5")
    sources = {f"site{i}": gradient_frame(1280, 720, phase=i) for i in range(13)}
    first = output_planes(Compositor(1920, 1080, mode).compose(sources))
    second = output_planes(Compositor(1920, 1080, mode).compose(sources))
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)


def smooth_scene(width: int, height: int, seed: int) -> av.VideoFrame:
    """Camera-like content: smooth blobs, not a synthetic ramp."""
    rng = np.random.default_rng(seed)
    frame = av.VideoFrame(width, height, "yuv420p")
    for plane in I420Region.of_frame(frame).planes():
        h, w = plane.shape
        coarse = rng.integers(16, 235, (h // 32 + 2, w // 32 + 2)).astype(np.uint8)
        plane[:] = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)
    return frame


@pytest.mark.skipif(not libyuv_available(), reason="libyuv.so.0 not installed")
@pytest.mark.parametrize("name", ["CP_1_1", "CP_4_1", "CP_9_1", "CP_16_1", "CP_20_1", "CP_24_1",
                                  "CP_7_5", "CP_2_3"])
@pytest.mark.parametrize("generic_bilinear", ["libyuv", "opencv"])
def test_libyuv_and_opencv_paths_agree_within_40_db(name, generic_bilinear):
    mode = layout_mode(name)
    sources = {f"site{i}": smooth_scene(1280, 720, i) for i in range(mode.pane_count)}
    libyuv = LibyuvScaler(generic_bilinear=generic_bilinear)
    ours = output_planes(Compositor(1920, 1080, mode, scaler=libyuv).compose(sources))
    fallback = output_planes(Compositor(1920, 1080, mode, scaler=OpenCVScaler()).compose(sources))
    joined = [np.concatenate([p.ravel() for p in planes]) for planes in (ours, fallback)]
    assert psnr(*joined) >= 40


@pytest.mark.skipif(not libyuv_available(), reason="libyuv.so.0 not installed")
@pytest.mark.parametrize("size", [(1920, 1080), (960, 540), (640, 360), (480, 270), (384, 216),
                                  (320, 180), (240, 136), (96, 54)])
def test_libyuv_and_opencv_scale_a_gradient_alike(size):
    source = I420Region.of_frame(gradient_frame(1280, 720))
    results = []
    for scaler in (LibyuvScaler(generic_bilinear="libyuv"), OpenCVScaler()):
        planes = [np.zeros((size[1], size[0]), np.uint8)] + [
            np.zeros((size[1] // 2, size[0] // 2), np.uint8) for _ in range(2)
        ]
        scaler.scale(source, I420Region.of_planes(*planes))
        results.append(planes)
    for a, b in zip(*results, strict=True):
        assert psnr(a, b) >= 40


def test_scale_plan_halves_big_downscales_then_finishes_bilinear():
    assert [s[:2] for s in scale_steps(1280, 720, 480, 270)] == [(640, 360), (480, 270)]
    assert [s[2].name for s in scale_steps(1280, 720, 480, 270)] == ["BOX", "BILINEAR"]
    assert [s[2].name for s in scale_steps(1280, 720, 320, 180)] == ["BOX"]  # exact 4x
    assert [s[2].name for s in scale_steps(1280, 720, 1920, 1080)] == ["BILINEAR"]


def test_two_compositors_in_parallel_threads_match_sequential_results():
    mode = layout_mode("CP_9_1")
    sources = {f"site{i}": gradient_frame(1280, 720, phase=i) for i in range(9)}
    expected = output_planes(Compositor(1280, 720, mode).compose(sources))
    results: list = [None, None]

    def run(slot: int) -> None:
        compositor = Compositor(1280, 720, mode)
        for _ in range(5):
            compositor.compose({k: gradient_frame(1280, 720, phase=int(k[4:])) for k in sources})
        results[slot] = output_planes(compositor.output)

    threads = [threading.Thread(target=run, args=(slot,)) for slot in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for result in results:
        for a, b in zip(result, expected, strict=True):
            np.testing.assert_array_equal(a, b)


def test_default_scaler_is_libyuv_where_present():
    scaler = Compositor(352, 288, "CP_4_1").scaler_name
    assert scaler == ("libyuv+opencv" if libyuv_available() else "opencv")


# --- the benchmark runs and reports what the issue asks ------------------------------


def test_compositing_benchmark_smoke(tmp_path):
    from benchmarks import compositing

    json_path, out = tmp_path / "bench.json", tmp_path / "results"
    argv = ["--modes", "CP_4_1", "CP_4_6", "--threads", "1", "2", "--seconds", "0.05",
            "--json", str(json_path), "--out", str(out)]
    assert compositing.main(argv) == 0
    import json

    report = json.loads(json_path.read_text())
    rows = {(r["mode"], r["threads"]): r for r in report["results"]}
    assert set(rows) == {("CP_4_1", 1), ("CP_4_1", 2), ("CP_4_6", 1), ("CP_4_6", 2)}
    assert rows[("CP_4_1", 1)]["xstack_fps"] > 0 and rows[("CP_4_1", 1)]["ours_fps"] > 0
    assert rows[("CP_4_1", 1)]["opencv_fps"] > 0 and rows[("CP_4_1", 1)]["ours_unchanged_fps"] > 0
    assert rows[("CP_4_6", 1)]["xstack_fps"] is None and rows[("CP_4_6", 1)]["overlay_fps"] > 0
    assert all(row["ours_pane_sized_fps"] > 0 and row["ours_pane_sized_cpu_fps"] > 0
               and row["ours_cpu_fps"] > 0 and row["ffmpeg_cpu_fps"] > 0 for row in rows.values())
    for name in ("compositing.csv", "compositing.md", "compositing.png"):
        assert (out / name).stat().st_size > 0


def test_benchmark_pane_sized_sources_match_their_panes_and_are_copied():
    from benchmarks import compositing

    mode = layout_mode("CP_16_1")
    pool = compositing.PaneSizedPool(mode, seed=1)
    rects = pixel_rects(mode, *compositing.OUTPUT_SIZE)
    for phase in pool.by_phase:
        assert [(f.width, f.height) for f in phase.values()] == [(r.w, r.h) for r in rects]
    counting = CountingScaler(OpenCVScaler())
    compositor = Compositor(*compositing.OUTPUT_SIZE, mode, scaler=counting)
    out_y, _, _ = output_planes(compositor.compose(pool.by_phase[1]))
    assert counting.calls == 0
    rect = rects[7]
    np.testing.assert_array_equal(out_y[rect.y : rect.bottom, rect.x : rect.right],
                                  I420Region.of_frame(pool.by_phase[1]["site7"]).planes()[0])


def test_benchmark_engines_draw_the_same_picture():
    """xstack graph, OpenCV loop and compositor do the same work: same geometry, same bars."""
    from benchmarks import compositing

    mode = layout_mode("CP_5_1")
    pool = compositing.SourcePool(mode.pane_count, seed=0)
    compositor = Compositor(*compositing.OUTPUT_SIZE, mode)
    ours = output_planes(compositor.compose(pool.by_phase[0]))
    graph_pictures = []
    engine = compositing.ffmpeg_graph(mode, pool, keep=graph_pictures)
    engine(0)
    theirs = output_planes(graph_pictures[-1])
    for a, b in zip(ours, theirs, strict=True):
        assert psnr(a, b) >= 30
