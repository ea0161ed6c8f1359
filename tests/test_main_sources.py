"""The terminal's main picture from its chosen inputs (terminals/main_sources.py), read
back after a real encode and decode: the site marker on every input, the input tag saying
which input (terminals/input_pictures.py), two inputs side by side, the cameras' own home
views, and the `sources` message's schema."""

from __future__ import annotations

import numpy as np
import pytest

from rtc.signalling import SignallingError, Sources, parse_message
from terminals.camera import Camera, CameraPresets, CameraView, camera_home, read_camera_view
from terminals.input_pictures import read_input_tags
from terminals.loop_encoders import WAITED_LOOP_ENCODERS
from terminals.main_sources import MainSources, MainState, main_scene
from terminals.marker import read_marker
from terminals.media_sources import VideoFormat, decode_packets, encode_loop
from terminals.scene import CameraScene

SMALL = VideoFormat(640, 360, 15, 600_000)
KINDS = {0: "camera", 1: "camera", 2: "pc", 3: "doc-camera"}


def sources(selection: list[int], tagged: bool = True) -> MainSources:
    scene = CameraScene(9, "Site 9", SMALL.width, SMALL.height, 8)
    presets = CameraPresets()
    cameras = {i: Camera(i, presets, camera_home(n)) for n, i in enumerate((0, 1))}
    return MainSources(scene, cameras, KINDS, tagged=tagged, selection=selection)


def decoded(main: MainSources, codec: str = "H264"):
    loop = encode_loop(main.scene_at(main.state()), codec, SMALL)
    return decode_packets(codec, list(loop.packets))[-1]


@pytest.mark.parametrize(("selection", "kind"), [([0], "camera"), ([2], "pc"),
                                                 ([3], "doc-camera")])
def test_each_input_shows_its_own_picture_with_the_site_and_its_tag(selection, kind):
    picture = decoded(sources(selection))
    assert read_marker(picture).site_index == 9  # type: ignore[union-attr]
    tags = read_input_tags(picture)
    assert [(t.kind, t.input_id) for t in tags] == [(kind, selection[0])]
    view = read_camera_view(picture)
    assert (view is not None) == (kind == "camera")  # only a camera shows the room


def test_two_inputs_side_by_side_in_the_order_chosen():
    picture = decoded(sources([2, 0]))
    tags = read_input_tags(picture)
    assert [(t.kind, t.input_id) for t in tags] == [("pc", 2), ("camera", 0)]
    assert tags[0].x < 0.5 < tags[1].x
    # each half still carries the site's marker card
    assert read_marker(picture, (0.0, 0.0, 0.5, 1.0)).site_index == 9  # type: ignore[union-attr]
    assert read_marker(picture, (0.5, 0.0, 0.5, 1.0)).site_index == 9  # type: ignore[union-attr]


def test_a_second_camera_looks_elsewhere_in_the_room():
    first = read_camera_view(decoded(sources([0])))
    second = read_camera_view(decoded(sources([1])))
    assert first is not None and second is not None
    assert first[:2] == pytest.approx((0.5, 0.5), abs=0.01)
    assert second[:2] == pytest.approx((camera_home(1).x, camera_home(1).y), abs=0.01)


def test_an_undeclared_terminal_draws_no_tag_and_a_bad_choice_changes_nothing():
    main = sources([0], tagged=False)
    assert read_input_tags(decoded(main)) == []
    for bad in ([], [0, 0], [7], [0, 1, 2, 3, 0]):
        assert main.select(bad) is False
    assert main.selection == (0,)


def test_the_sources_message_is_checked():
    message = parse_message('{"type": "sources", "main": [2, 0], "aux": 2}')
    assert message == Sources([2, 0], 2)
    assert parse_message(Sources([1]).to_json()) == Sources([1], None)
    for text in ('{"type": "sources", "main": []}', '{"type": "sources", "main": [1, 1]}',
                 '{"type": "sources", "main": [0, 1, 2, 3, 4]}',
                 '{"type": "sources", "main": [256]}', '{"type": "sources", "main": ["1"]}'):
        with pytest.raises(SignallingError):
            parse_message(text)


def test_the_mcu_and_the_message_allow_the_same_number_of_main_sources():
    from mcu.runtime.site_devices import MAX_MAIN_SOURCES as MCU_LIMIT
    from rtc.signalling import MAX_MAIN_SOURCES as MESSAGE_LIMIT

    assert MCU_LIMIT == MESSAGE_LIMIT == 4


def test_a_chosen_input_unplugged_shows_no_signal_still_labelled():
    main = sources([2])
    lit = decoded(main)
    main.set_connected(2, False)
    dark = decoded(main)
    assert [(t.kind, t.input_id) for t in read_input_tags(dark)] == [("pc", 2)]
    assert read_marker(dark).site_index == 9  # type: ignore[union-attr]
    # the PC's window (lower right, clear of the card and the ball) is gone: dark there
    assert lit[270:310, 500:610].mean() > 150 > 60 > dark[270:310, 500:610].mean()


def _drawn_in_a_worker(scene: CameraScene, tagged: bool, state: MainState,
                       frames: list[int]) -> list[np.ndarray]:
    """In a loop encoder process: the main picture as camera_track.encode_main_loop draws
    it (terminals/loop_encoders.py rebuilds it there from what defines it)."""
    picture = main_scene(scene, tagged, state)
    return [picture.frame(index) for index in frames]


@pytest.mark.parametrize("tagged", [True, False])
def test_a_worker_process_draws_exactly_the_terminals_main_picture(tagged):
    """What a loop encoder process draws (from the pickled scene, tags and state) is, pixel
    for pixel, what the terminal itself draws: several inputs (cameras, a moved one, a PC,
    an unplugged document camera) side by side, with and without the input tags."""
    main = sources([1, 0, 2, 3], tagged=tagged)
    main.cameras[0] = Camera(0, CameraPresets(), CameraView(0.3, 0.4, 1.4, 0.2))  # moved
    main.set_connected(3, False)
    state = main.state()
    frames = [0, 3, 7]
    here = [main.scene_at(state).frame(index) for index in frames]
    pool = WAITED_LOOP_ENCODERS._current()
    there = pool.submit(_drawn_in_a_worker, main.scene, main.tagged, state,
                        frames).result(timeout=120)
    assert len(there) == len(here) == 3
    for ours, theirs in zip(here, there, strict=True):
        assert np.array_equal(ours, theirs)
