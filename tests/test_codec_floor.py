"""benchmarks/codec_floor.py: the codec floor runs on a tiny input and reports sane numbers;
media_load derives each scenario's floor from its booking."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from benchmarks.codec_floor import FloorScenario, measure_floor, terminal_loops
from benchmarks.media_load import floor_scenario, four_site_plans, sixteen_site_plan
from benchmarks.media_terminals import SMALL_VIDEO_FORMAT
from mcu.media.output_format import H264, OutputFormat
from terminals.media_sources import DEFAULT_VIDEO_FORMAT, VideoFormat

TINY = VideoFormat(320, 180, 15, 200_000)


@pytest.fixture(scope="module")
def tiny() -> FloorScenario:
    return FloorScenario("tiny", "CP_4_1", (TINY, TINY),
                         (OutputFormat(H264, 640, 360, 15, 400_000),
                          OutputFormat(H264, 640, 360, 15, 300_000),
                          OutputFormat(H264, 352, 288, 15, 200_000)))


def test_floor_decodes_every_frame_and_encodes_each_output_once_per_frame(tiny):
    loops = terminal_loops(tiny.sources, loop_frames=16)
    result = measure_floor(tiny, seconds=2.0, loops=loops)
    # 2 s at 15 fps: every frame of both sites decoded (the loop wraps after 16 frames),
    # each of the three outputs encoded 30 times, one picture composed per distinct size
    assert result.frames_decoded == 2 * 30
    assert result.frames_encoded == 3 * 30
    assert result.frames_composed == 2 * 30
    assert result.decode_cpu_s > 0 and result.encode_cpu_s > 0 and result.compose_cpu_s > 0
    # the floor is decode + encode, as % of one core over the 2 s of media; the compositor
    # is beside it
    assert result.floor_cpu_pct == pytest.approx(
        100 * (result.decode_cpu_s + result.encode_cpu_s) / 2.0, abs=0.02)
    assert result.floor_cpu_pct == pytest.approx(
        result.decode_cpu_pct + result.encode_cpu_pct, abs=0.02)
    assert result.compositor_cpu_pct == pytest.approx(100 * result.compose_cpu_s / 2.0, abs=0.02)
    # sane for pictures this small: a few % of a core, far from a whole one
    assert 0 < result.floor_cpu_pct < 100


def test_floor_refuses_loops_that_do_not_match_the_sources(tiny):
    loops = terminal_loops((TINY,), loop_frames=4)
    with pytest.raises(ValueError):
        measure_floor(tiny, seconds=1.0, loops=loops)
    with pytest.raises(ValueError):
        measure_floor(tiny, seconds=0, loops=loops)


def test_scenario_round_trips_through_json_and_refuses_bad_specs(tiny):
    assert FloorScenario.from_json(json.loads(json.dumps(tiny.to_json()))) == tiny
    for bad in ({}, {"name": "x", "layout": "CP_4_1", "sources": [], "outputs": []},
                {"name": "x", "layout": "CP_4_1", "sources": [{"width": 1}], "outputs": []}):
        with pytest.raises(ValueError):
            FloorScenario.from_json(bad)


def test_command_line_measures_a_spec_and_rejects_a_bad_one(tiny):
    spec = FloorScenario("cli", "CP_1_1", (TINY,), (OutputFormat(H264, 320, 180, 15, 200_000),))
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.codec_floor", "--spec", json.dumps(spec.to_json()),
         "--seconds", "1", "--json", "-"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    [answer] = json.loads(done.stdout)
    assert answer["name"] == "cli" and answer["frames_decoded"] == 15
    assert answer["frames_encoded"] == 15 and answer["floor_cpu_pct"] > 0
    bad = subprocess.run([sys.executable, "-m", "benchmarks.codec_floor", "--spec", "{"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "--spec" in bad.stderr


def test_media_load_floors_follow_the_bookings():
    four = floor_scenario(four_site_plans(1, ["a", "b", "c", "d"])[0], DEFAULT_VIDEO_FORMAT)
    assert four.layout == "CP_4_1"
    assert four.sources == (DEFAULT_VIDEO_FORMAT,) * 4
    assert four.outputs == (OutputFormat(H264, 1920, 1080, 30, 2_048_000),)
    sixteen = floor_scenario(sixteen_site_plan([f"s{i}" for i in range(16)]), SMALL_VIDEO_FORMAT)
    assert sixteen.layout == "CP_16_1" and len(sixteen.sources) == 16
    assert sixteen.outputs == (OutputFormat(H264, 1920, 1080, 30, 2_048_000),
                               OutputFormat(H264, 704, 576, 30, 768_000))


def scenario_result(held: bool, mcu_per_conference: float):
    from benchmarks.media_load import ScenarioResult

    return ScenarioResult(
        name="1 x 4-site 1080p30", conferences=1, sites=4, window_s=1.0,
        load_average_before=[0.0] * 3, load_average_after=[0.0] * 3,
        mcu_cpu_percent=mcu_per_conference, terminals_cpu_percent=0.0,
        others_cpu_percent=0.0, mcu_udp_drops=0, encoders=1, expected_encoders=1,
        received_fps_min=30.0, probe_decoded_fps_min=30.0, latency_ms_p50=40.0,
        latency_ms_p95=60.0, latency_readings=10, held=held, verdict="held",
        mcu_cpu_pct_per_conference=mcu_per_conference)


@pytest.mark.parametrize("held", [True, False])
def test_media_load_measures_the_floor_in_a_child_and_reports_the_ratio(held):
    import asyncio

    from benchmarks.media_load import markdown, summary, with_floor

    spec = FloorScenario("child", "CP_1_1", (TINY,), (OutputFormat(H264, 320, 180, 15, 200_000),))
    result = asyncio.run(with_floor(scenario_result(held, 5.0), spec, 1.0))
    assert result.floor is not None and result.floor["frames_decoded"] == 15
    assert result.floor_cpu_pct == result.floor["floor_cpu_pct"] > 0
    assert result.mcu_to_floor == pytest.approx(5.0 / result.floor_cpu_pct, abs=0.01)
    assert result.mcu_to_floor_valid is held
    conclusion = summary([result])
    assert conclusion["max_concurrent_4site_1080p30"] == (1 if held else 0)
    assert conclusion["floor_4site_cpu_pct"] == result.floor_cpu_pct
    assert conclusion["mcu_to_floor_4site"] == result.mcu_to_floor
    assert conclusion["mcu_to_floor_4site_valid"] is held
    table = markdown([result], conclusion)
    assert f"| {result.floor_cpu_pct} | {result.mcu_to_floor}" in table
    assert ("(missed)" in table) is not held


def test_audio_floor_decodes_every_voice_and_encodes_the_mixes_named():
    from benchmarks.audio_floor import AudioFloor, measure_audio_floor, talker_packets
    from rtc.opus_packets import MonoOpusDecoder

    # 2 s: 100 frames; 2.5 mixes a frame on average are 250 mix frames, 2 or 3 each frame
    floor = measure_audio_floor(sites=3, mixes=2.5, seconds=2.0)
    assert floor.frames_decoded == 3 * 100
    assert floor.frames_encoded == 250
    assert floor.decode_cpu_s > 0 and floor.encode_cpu_s > 0
    # the voices decoded are the terminals' own packets: they decode to speech, not silence
    from aiortc.jitterbuffer import JitterFrame

    decoder = MonoOpusDecoder()
    loud = 0
    for index, data in enumerate(talker_packets(1, 50)):
        for frame in decoder.decode(JitterFrame(data=data, timestamp=index * 960)):
            loud += int(abs(frame.to_ndarray().astype(int)).max() > 1000)
    assert loud > 10
    # no voices and no mixes: no work and no time, not the CPU other threads spent while an
    # empty loop was timed (the video floor's sums compare to 0.02 % without it)
    assert measure_audio_floor(sites=0, mixes=0, seconds=1.0) == AudioFloor(0, 0, 0.0, 0.0)
    with pytest.raises(ValueError):
        measure_audio_floor(sites=-1, mixes=1, seconds=1.0)


def test_floor_with_audio_adds_it_to_the_video_floor(tiny):
    import dataclasses

    with_audio = dataclasses.replace(tiny, audio_sites=2, audio_mixes=2.0)
    result = measure_floor(with_audio, seconds=1.0, loops=terminal_loops(tiny.sources, 8))
    assert result.audio_frames_decoded == 2 * 50 and result.audio_frames_encoded == 2 * 50
    assert result.audio_decode_cpu_pct > 0 and result.audio_encode_cpu_pct > 0
    assert result.floor_cpu_pct == pytest.approx(
        result.video_floor_cpu_pct + result.audio_decode_cpu_pct + result.audio_encode_cpu_pct,
        abs=0.03)
    assert result.video_floor_cpu_pct == pytest.approx(
        result.decode_cpu_pct + result.encode_cpu_pct, abs=0.02)
    # the audio fields survive the JSON hand-over to the child; out-of-range ones are refused
    assert FloorScenario.from_json(json.loads(json.dumps(with_audio.to_json()))) == with_audio
    for sites, mixes in ((3, 1.0), (-1, 1.0), (1, -0.5), (1, "many")):
        with pytest.raises(ValueError):
            FloorScenario.from_json({**with_audio.to_json(), "audio_sites": sites,
                                     "audio_mixes": mixes})


def test_floor_as_run_takes_the_ladders_asks_and_the_mcus_mixes():
    import dataclasses

    from benchmarks.media_load import ConferenceResult, floor_as_run
    from terminals.media_sources import ladder_format

    four = floor_scenario(four_site_plans(1, ["a", "b", "c", "d"])[0], DEFAULT_VIDEO_FORMAT)
    result = scenario_result(True, 50.0)
    conference = ConferenceResult(
        conf_id="c", sites=4, encoders=1, expected_encoders=1, groups=[],
        received_fps_min=30.0, received_fps_mean=30.0, received_fps_by_format={}, probe="a",
        probe_decoded_fps=30.0, probe_keyframes=1, latency_ms_p50=40.0, latency_ms_p95=60.0,
        latency_readings=1,
        asked={"a": "960x540@30", "b": "480x270@15", "c": None, "d": "1920x1080@30"},
        audio_mix_fps=225.0)
    result = dataclasses.replace(result, per_conference=[conference])
    as_run = floor_as_run(four, result, DEFAULT_VIDEO_FORMAT)
    assert as_run.sources == (ladder_format(DEFAULT_VIDEO_FORMAT, 960, 540, 30),
                              ladder_format(DEFAULT_VIDEO_FORMAT, 480, 270, 15),
                              DEFAULT_VIDEO_FORMAT,  # not asked: what it sends by default
                              DEFAULT_VIDEO_FORMAT)  # asked above its own 720p: its own
    assert as_run.sources[0].width == 960 and as_run.sources[1].fps == 15
    assert as_run.audio_sites == 4 and as_run.audio_mixes == 4.5
    assert as_run.outputs == four.outputs
    # the voices the MCU decoded: three of four sites' frames (one left undecoded, its
    # level saying nobody would hear it)
    gated = dataclasses.replace(conference, voice_decoded_fps=150.0, voice_undecoded_fps=50.0)
    as_run = floor_as_run(four, dataclasses.replace(result, per_conference=[gated]),
                          DEFAULT_VIDEO_FORMAT)
    assert as_run.audio_sites == 3
    # a scenario without conferences (it never started) keeps the booked inputs
    assert floor_as_run(four, scenario_result(True, 1.0), DEFAULT_VIDEO_FORMAT) == four
