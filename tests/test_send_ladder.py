"""The send ladder's rule, hysteresis and message, without a network (mcu/media/send_ladder.py,
rtc/signalling.py SendVideo, terminals/send_requests.py):

- the largest pane of each site on the layout table's data (CP_4_1, CP_16_1, CP_6_1 with a
  speaker, subPics, CP_None, several pictures at once, a content pane), rounded up to a
  ladder rung at 30 or 15 fps and capped by the booking and the declared formats;
- the hysteresis on a fake clock: an upgrade at once, a downgrade only after it held, a voice
  switch back and forth never shrinks the stream, a new call is asked afresh;
- the marker reads at every ladder size down to 320x180, alone and in a CP_16_1 pane;
- the `send_video` message's schema, and the terminal's format for a request.
"""

from __future__ import annotations

import pytest

from mcu.layouts import aux_source_key, layout_mode
from mcu.media.output_format import PictureSize
from mcu.media.send_ladder import (
    BOTTOM,
    LADDER,
    Need,
    SendAsk,
    SendLadder,
    ShownPicture,
    booked_ceiling,
    declared_ceiling,
    largest_panes,
    letterboxed,
    rung_for,
)
from mcu.model import VideoFormat
from rtc.signalling import SendVideo, SignallingError, parse_message
from terminals.media_sources import VideoFormat as SentFormat
from terminals.media_sources import ladder_format
from terminals.send_requests import SendRequests

SITES = [f"s{i}" for i in range(16)]


def cp(name: str, *, sub_pics: tuple[str, ...] = (), broadcast: str | None = None,
       speaking: str | None = None, size: tuple[int, int] = (1920, 1080),
       fps: int = 30) -> ShownPicture:
    return ShownPicture(layout_mode(name).value, sub_pics, broadcast, speaking, *size, fps)


def asks(pictures: list[ShownPicture], sites: list[str],
         aux: tuple[str, ...] = ()) -> dict[str, SendAsk]:
    needs = largest_panes(pictures, sites, aux)
    return {uri: rung_for(needs.get(uri)) for uri in sites}


def test_cp_4_1_at_1080p_asks_every_site_for_540p30():
    assert asks([cp("CP_4_1")], SITES[:4]) == {uri: SendAsk(960, 540, 30) for uri in SITES[:4]}


def test_cp_16_1_at_1080p_asks_every_site_for_270p15():
    assert asks([cp("CP_16_1")], SITES) == {uri: SendAsk(480, 270, 15) for uri in SITES}


def test_the_main_pane_of_cp_6_1_goes_to_the_speaker_and_asks_720p():
    result = asks([cp("CP_6_1", speaking="s3")], SITES[:6])
    assert result["s3"] == SendAsk(1280, 720, 30)  # the 1280x720 main pane
    assert {result[uri] for uri in SITES[:6] if uri != "s3"} == {SendAsk(640, 360, 30)}


def test_sub_pics_choose_the_panes_and_a_site_in_none_gets_the_bottom_rung():
    picture = cp("CP_2_1", sub_pics=("s2", "s0"))
    result = asks([picture], SITES[:3])
    assert result == {"s2": SendAsk(960, 540, 30), "s0": SendAsk(960, 540, 30), "s1": BOTTOM}


def test_the_largest_of_several_pictures_counts_full_screen_and_voice_switched():
    # s0 watches s1 full screen (a SITE picture is FULL_SCREEN with sub_pics (uri,)), the
    # others the conference's CP_4_1; CP_None shows the broadcast site
    pictures = [cp("CP_4_1"), cp("CP_1_1", sub_pics=("s1",)),
                cp("CP_None", broadcast="s2", size=(1280, 720))]
    result = asks(pictures, SITES[:4])
    assert result["s1"] == SendAsk(1920, 1080, 30)
    assert result["s2"] == SendAsk(1280, 720, 30)
    assert result["s0"] == result["s3"] == SendAsk(960, 540, 30)


def test_a_content_pane_is_not_the_sites_camera():
    aux = aux_source_key("s0")
    result = asks([cp("CP_2_1", sub_pics=(aux, "s1"))], SITES[:2], aux=("s0",))
    assert result == {"s0": BOTTOM, "s1": SendAsk(960, 540, 30)}


def test_a_picture_at_15_fps_asks_no_more_than_15():
    assert asks([cp("CP_4_1", fps=15)], SITES[:4])["s0"] == SendAsk(960, 540, 15)


def test_letterboxing_a_4_3_pane_needs_the_16_9_part_it_fills():
    assert letterboxed(640, 480) == (640, 360)
    assert letterboxed(960, 540) == (960, 540)
    assert letterboxed(400, 600) == (400, 225)


@pytest.mark.parametrize(("need", "expected"), [
    (Need(1920, 1080, 30), SendAsk(1920, 1080, 30)),
    (Need(2560, 1440, 30), SendAsk(1920, 1080, 30)),  # above the ladder: its top
    (Need(961, 540, 30), SendAsk(1280, 720, 30)),  # rounded up, never down
    (Need(640, 360, 30), SendAsk(640, 360, 30)),
    (Need(480, 270, 30), SendAsk(480, 270, 15)),  # at or below 270p: 15 fps
    (Need(100, 50, 30), SendAsk(320, 180, 15)),  # the floor
    (None, SendAsk(320, 180, 15)),
])
def test_a_need_rounds_up_to_a_rung(need, expected):
    assert rung_for(need) == expected


def test_the_booking_and_the_declared_formats_cap_the_ask():
    full = Need(1920, 1080, 30)
    assert rung_for(full, (booked_ceiling(VideoFormat.HD720P30),)) == SendAsk(1280, 720, 30)
    # 4CIF (704x576): the largest 16:9 rung within it is 640x360
    assert rung_for(full, (booked_ceiling(VideoFormat.CIF4),)) == SendAsk(640, 360, 30)
    assert rung_for(full, (booked_ceiling(VideoFormat.AUTO), None)) == SendAsk(1920, 1080, 30)
    assert declared_ceiling(["720P30", "4CIF"]) == PictureSize(1280, 720, 30)
    assert declared_ceiling(["1080P30", "720P60"]) == PictureSize(1920, 1080, 30)
    assert declared_ceiling(["nonsense"]) is None
    assert rung_for(full, (declared_ceiling(["720P30"]),)) == SendAsk(1280, 720, 30)
    # a smaller pane is not raised by a ceiling, and a ceiling's rate caps the rate
    assert rung_for(Need(480, 270, 30), (PictureSize(1920, 1080, 60),)) == SendAsk(480, 270, 15)
    assert rung_for(full, (PictureSize(1920, 1080, 25),)) == SendAsk(1920, 1080, 25)


# ---------------------------------------------------------------------------- hysteresis

CALL = object()
BIG, MID, SMALL = SendAsk(1920, 1080, 30), SendAsk(960, 540, 30), SendAsk(480, 270, 15)


def test_the_first_ask_and_an_upgrade_go_at_once():
    ladder = SendLadder(hold_s=4.0)
    assert ladder.settle({"a": (MID, CALL)}, 0.0) == {"a": MID}
    assert ladder.settle({"a": (MID, CALL)}, 0.1) == {}
    assert ladder.settle({"a": (BIG, CALL)}, 0.2) == {"a": BIG}
    assert ladder.asked("a") == BIG


def test_a_downgrade_waits_until_the_smaller_need_held():
    ladder = SendLadder(hold_s=4.0)
    ladder.settle({"a": (BIG, CALL)}, 0.0)
    assert ladder.settle({"a": (MID, CALL)}, 10.0) == {}
    assert ladder.settle({"a": (MID, CALL)}, 13.9) == {}
    assert ladder.settle({"a": (MID, CALL)}, 14.0) == {"a": MID}
    assert ladder.asked("a") == MID


def test_a_voice_switch_back_and_forth_does_not_flap():
    ladder = SendLadder(hold_s=4.0)
    ladder.settle({"a": (BIG, CALL)}, 0.0)
    now, sent = 0.0, []
    for _ in range(20):  # speaker 2 s, not speaker 2 s: the need never holds 4 s lower
        now += 2.0
        sent.append(ladder.settle({"a": (MID, CALL)}, now))
        now += 2.0
        sent.append(ladder.settle({"a": (BIG, CALL)}, now))
    assert sent == [{}] * 40
    assert ladder.asked("a") == BIG


def test_a_downgrade_asks_the_largest_need_seen_while_it_held():
    ladder = SendLadder(hold_s=4.0)
    ladder.settle({"a": (BIG, CALL)}, 0.0)
    ladder.settle({"a": (SMALL, CALL)}, 1.0)
    ladder.settle({"a": (MID, CALL)}, 3.0)
    assert ladder.settle({"a": (SMALL, CALL)}, 5.0) == {"a": MID}
    assert ladder.settle({"a": (SMALL, CALL)}, 8.9) == {}
    assert ladder.settle({"a": (SMALL, CALL)}, 9.0) == {"a": SMALL}


def test_a_new_call_is_asked_afresh_and_a_site_that_left_is_forgotten():
    ladder = SendLadder(hold_s=4.0)
    ladder.settle({"a": (MID, CALL), "b": (MID, CALL)}, 0.0)
    assert ladder.settle({"a": (MID, object()), "b": (MID, CALL)}, 1.0) == {"a": MID}
    assert ladder.settle({"a": (MID, CALL)}, 2.0) == {"a": MID}  # a new call object again
    assert ladder.asked("b") is None
    assert ladder.settle({"a": (MID, CALL), "b": (MID, CALL)}, 3.0) == {"b": MID}


# ---------------------------------------------------------------------------- the message


def test_send_video_round_trips_and_its_schema_refuses_bad_values():
    message = SendVideo("call-1", 960, 540, 30)
    assert parse_message(message.to_json()) == message
    for bad in ('{"type": "send_video", "call_id": "c", "width": 961, "height": 540, "fps": 30}',
                '{"type": "send_video", "call_id": "c", "width": 960, "height": 540, "fps": 0}',
                '{"type": "send_video", "call_id": "c", "width": 0, "height": 540, "fps": 30}',
                '{"type": "send_video", "call_id": "c", "width": 960, "height": 540}',
                '{"type": "send_video", "call_id": "", "width": 960, "height": 540, "fps": 30}',
                '{"type": "send_video", "call_id": "c", "width": "960", "height": 540, "fps": 30}'):
        with pytest.raises(SignallingError):
            parse_message(bad)


OWN = SentFormat(1280, 720, 30, 1_500_000)


def test_a_terminal_sends_the_size_asked_within_its_own_format():
    assert ladder_format(OWN, 1920, 1080, 30) == OWN  # never above its camera
    small = ladder_format(OWN, 960, 540, 30)
    assert (small.width, small.height, small.fps) == (960, 540, 30)
    assert small.bitrate == 1_125_000  # sqrt of the area: 0.75
    tiny = ladder_format(OWN, 320, 180, 15)
    assert (tiny.width, tiny.height, tiny.fps, tiny.bitrate) == (320, 180, 15, 187_500)
    assert ladder_format(SentFormat(640, 360, 15, 500_000), 960, 540, 30) == \
        SentFormat(640, 360, 15, 500_000)


def test_send_requests_follow_the_current_call_only_and_can_be_ignored():
    requests = SendRequests(OWN)
    requests.new_call("c1")
    assert not requests.accept(SendVideo("other", 960, 540, 30))
    assert requests.format() == OWN
    latest = SendVideo("c1", 960, 540, 30)
    assert requests.accept(latest) and requests.current(latest)
    assert (requests.format().width, requests.format().height) == (960, 540)
    requests.new_call("c2")
    assert requests.format() == OWN and not requests.current(latest)
    deaf = SendRequests(OWN, honour=False)
    deaf.new_call("c1")
    assert not deaf.accept(latest)
    assert deaf.format() == OWN and deaf.received == [latest]


# ---------------------------------------------------------------------------- the marker


@pytest.mark.parametrize("size", LADDER)
def test_the_marker_reads_at_every_ladder_size_alone_and_in_a_cp_16_1_pane(size):
    """The loop at each rung (the scene scaled, encoded with the ladder's bitrate) decodes
    to pictures whose marker reads, and still reads once the compositor put that picture in
    a 480x270 pane of a 1920x1080 CP_16_1 picture (upscaled for the smaller rungs)."""
    import av

    from mcu.layouts import pixel_rects
    from mcu.media.compositor import Compositor
    from terminals.marker import read_marker
    from terminals.media_sources import ScaledScene, encode_loop
    from terminals.scene import CameraScene

    width, height = size
    scene = CameraScene(5, "Site 5", 1920, 1080, 8)
    own = SentFormat(1920, 1080, 30, 3_000_000)
    video_format = ladder_format(own, width, height, 15 if height <= 270 else 30)
    loop = encode_loop(ScaledScene(scene, width, height), "H264", video_format,
                       keyframe_interval=8)
    decoder = av.CodecContext.create("h264", "r")
    frames = [frame for data in loop.packets for frame in decoder.decode(av.Packet(data))]
    assert (frames[-1].width, frames[-1].height) == size
    readings = [read_marker(frame.to_ndarray(format="bgr24")) for frame in frames]
    assert [(r.site_index, r.frame_index) if r else None for r in readings] == \
        [(5, i) for i in range(8)]
    compositor = Compositor(1920, 1080, "CP_16_1")
    composed = compositor.compose({"x": None, "s5": frames[3]})
    pane = pixel_rects(layout_mode("CP_16_1"), 1920, 1080)[1]
    reading = read_marker(composed.to_ndarray(format="bgr24"),
                          (pane.x / 1920, pane.y / 1080, pane.w / 1920, pane.h / 1080))
    assert reading is not None and (reading.site_index, reading.frame_index) == (5, 3)


def test_the_send_ladder_setting_reads_true_or_false_only(tmp_path):
    from gateway.settings import SettingsError, load_settings

    assert load_settings().send_ladder is True  # on by default
    on = tmp_path / "on.toml"
    on.write_text("[mcu]\nsend_ladder = true\n")
    assert load_settings(on).send_ladder is True
    bad = tmp_path / "bad.toml"
    bad.write_text('[mcu]\nsend_ladder = "no"\n')
    with pytest.raises(SettingsError, match="send_ladder"):
        load_settings(bad)


async def test_a_switch_of_size_waits_for_the_loops_keyframe_and_skips_no_frame():
    """EncodedVideoTrack.switch_loop: the new size starts at the next keyframe position of
    the loop (the same frame indices in both loops), so one decoder decodes the whole
    stream without an error, the size changes at an IDR, and the marker's frame index goes
    on without a jump; a switch back to the loop sent now calls a pending switch off."""
    import av

    from terminals.marker import read_marker
    from terminals.media_sources import EncodedVideoTrack, ScaledScene, encode_loop
    from terminals.scene import CameraScene
    from terminals.send_log import SendLog

    scene = CameraScene(7, "Site 7", 640, 360, 16)
    own = SentFormat(640, 360, 30, 800_000)
    big = encode_loop(scene, "H264", own, keyframe_interval=8)
    small = encode_loop(ScaledScene(scene, 320, 180), "H264",
                        ladder_format(own, 320, 180, 30), keyframe_interval=8)
    assert big.keyframes == small.keyframes == (0, 8)
    track = EncodedVideoTrack(7, big, SendLog())
    packets = [await track.recv() for _ in range(3)]
    track.switch_loop(small)
    track.switch_loop(big)  # called off
    packets += [await track.recv() for _ in range(3)]
    track.switch_loop(small)
    packets += [await track.recv() for _ in range(8)]
    decoder = av.CodecContext.create("h264", "r")
    frames = [frame for packet in packets for frame in decoder.decode(av.Packet(bytes(packet)))]
    assert [(f.width, f.height) for f in frames] == [(640, 360)] * 8 + [(320, 180)] * 6
    assert frames[8].key_frame
    readings = [read_marker(frame.to_ndarray(format="bgr24")) for frame in frames]
    assert [r.frame_index if r else None for r in readings] == list(range(14))
    assert [p.pts for p in packets] == [3000 * i for i in range(14)]


async def test_a_new_loop_calls_off_a_switch_still_waiting_for_its_keyframe():
    """use_loop (a camera changing its format mid-call) replaces the loop at once: a
    switch_loop to the old format's smaller loop, still waiting for its keyframe, must not
    take over afterwards."""
    import av

    from terminals.media_sources import EncodedVideoTrack, ScaledScene, encode_loop
    from terminals.scene import CameraScene
    from terminals.send_log import SendLog

    scene = CameraScene(7, "Site 7", 640, 360, 16)
    own = SentFormat(640, 360, 30, 800_000)
    big = encode_loop(scene, "H264", own, keyframe_interval=8)
    small = encode_loop(ScaledScene(scene, 320, 180), "H264",
                        ladder_format(own, 320, 180, 30), keyframe_interval=8)
    track = EncodedVideoTrack(7, big, SendLog())
    packets = [await track.recv() for _ in range(3)]
    track.switch_loop(small)
    assert track.switch_pending
    track.use_loop(big)  # the new format's loop (here the same one), from its first keyframe
    assert not track.switch_pending
    packets += [await track.recv() for _ in range(12)]
    decoder = av.CodecContext.create("h264", "r")
    frames = [frame for packet in packets for frame in decoder.decode(av.Packet(bytes(packet)))]
    assert [(f.width, f.height) for f in frames] == [(640, 360)] * 15
