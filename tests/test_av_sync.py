"""A/V sync through the MCU, measured from the outside: a real server records (SOAP
setRecordBroadEx, zeep from the reference WSDL) a conference of two real terminals, one of
them emitting the sync pattern (terminals/sync_pattern.py: a white flash and a click at the
same capture instants, every 2 s), and terminals.av_sync reads the file back with PyAV:
every flash of the recording's picture is paired with its click within 40 ms, the audio
lasts as long as the video within 100 ms, and no frame gap exceeds 2 frames (from the
file's first picture on). The file is read by PyAV's demuxer and decoders (both tracks);
the command's exit status says whether the targets were met.

On a starved machine (the recording's frame rate under STARVED_FPS: the MCU's ticks ran
late, pictures came late or not at all) only what does not depend on the ticks is judged
(the clicks found, the durations) and the test is reported xfail with the per-event
figures: the flashes found and the per-event targets would measure the load, not the
timestamps. Likewise when the ticks stalled once (a gap over HICCUP_GAP_FRAMES frames in a
file otherwise at full rate): the median offset and the pairing are judged, the per-event
and gap targets are left to `terminals.av_sync` on a quiet machine.

The test's process freezes its heap while it records, as `mcu-sim serve` does, so that the
collector's full passes over a whole suite's objects do not stall the server it hosts.
"""

from __future__ import annotations

import asyncio
import gc
import statistics
from dataclasses import replace
from datetime import timedelta

import pytest

from app.serve_command import freeze_startup_objects
from gateway.signalling import SIGNALLING
from mcu.model import ConferenceSpec, SiteSpec, VideoFormat
from terminals import av_sync
from terminals.media_sources import VideoFormat as SentVideo
from terminals.sync_pattern import SyncPattern
from tests.test_content_stream import joined, soap, soap_call, start_all, terminal
from tests.test_media_acceptance import eventually
from tests.test_recording_lifecycle import files_of, gone_within, server

__all__ = ["server"]
START, STOP = 0, 1
SENT = SentVideo(320, 180, 30, 300_000)
RECORD_S = 20
GAPS_AFTER_S = 0.0  # the whole file: its first second too (no start-up gap since the fix)
SETTLE_S = 2.0
STARVED_FPS = 28.5  # the recording's frame rate below which the MCU could not keep up
HICCUP_GAP_FRAMES = 6  # a gap over this (200 ms) is a stall of the machine, not of the timestamps


def book(server, uris: list[str]) -> str:
    """Sites at 640x360, the recorder's format: it joins their picture's encoder group."""
    sites = [SiteSpec(uri, name=f"Site {uri}", video_format=VideoFormat.P360) for uri in uris]
    spec = ConferenceSpec("sync", server.clock.now(), timedelta(hours=1), sites)
    conference = server.gateway.scheduler.schedule(spec)
    server.gateway.runtime.reconcile()
    return conference.conf_id


async def test_a_recording_of_a_flashing_site_meets_the_sync_targets(server, capsys):
    engine = server.app[SIGNALLING].engine
    # the recorder's picture at 640x360 (the format of sites booked AUTO), to keep CPU low
    engine.settings = replace(engine.settings, default_format=VideoFormat.P360)
    # the terminals count the frames they receive, decode none: the CPU is the MCU's
    flashing = terminal(41, video_format=SENT, sync_pattern=SyncPattern(2.0),
                        decode_video=False, decode_audio=False)
    # the other site is silent: the flashing one is the speaker the conference picture shows
    other = terminal(42, video_format=SENT, decode_video=False, decode_audio=False,
                     speech_schedule=((1.0, 0.0),))
    await start_all(server, [flashing, other])
    conf_id = book(server, [flashing.uri, other.uri])
    clients = await soap(server)
    call = clients.terminal_conf_ctrl
    try:
        await eventually(lambda: joined(server, conf_id, [flashing.uri, other.uri]),
                         what="both joined")
        # the conference's own start (calls set up, decoders opening) settles first: the
        # file's first second measures the recorder's start, not the calls'
        await asyncio.sleep(SETTLE_S)
        # the server runs in this test's process, whose heap holds every earlier test's
        # objects in a whole-suite run: a full pass of the cyclic collector over it stalled
        # the MCU's ticks 100-200 ms (docs/benchmarks.md, "the early gap found"). `mcu-sim
        # serve` freezes what exists once it is up: so does the test, while it records
        freeze_startup_objects()
        assert await soap_call(call, "setRecordBroadEx", siteUri=flashing.uri,
                               action=START) == 0
        await asyncio.sleep(RECORD_S)
        assert await soap_call(call, "setRecordBroadEx", siteUri=flashing.uri,
                               action=STOP) == 0
        await gone_within(conf_id, 20)
    finally:
        gc.unfreeze()  # the rest of the suite collects as before
        await flashing.stop()
        await other.stop()
    (path,) = files_of(server.data_dir, conf_id)
    # gaps over the whole file, its first second included (the group's encoder started
    # ahead, the AAC priming no longer stretching the first picture)
    report = await asyncio.to_thread(av_sync.measure, str(path), None, GAPS_AFTER_S)
    text = av_sync.table(report)
    print(text)
    # a click every 2 s of the file, bar the first and last (the file's edges): the audio
    # path does not depend on the MCU's ticks
    assert len(report.clicks_s) >= RECORD_S // 2 - 3, text
    assert abs(report.duration_diff_ms) <= 100, text
    assert report.video_duration_s >= RECORD_S - 4, text
    status = await asyncio.to_thread(
        av_sync.main, [str(path), "--gaps-after", str(GAPS_AFTER_S)])
    assert status == (1 if report.failures else 0) or (status == 2 and not report.events)
    if report.video_fps < STARVED_FPS:
        # the MCU's ticks ran late (the shared machine's CPU): its pictures were delayed
        # and dropped (a 3-frame flash can fall between them), so the flashes found, the
        # per-event offsets and the gaps measure the load, not the timestamps
        pytest.xfail(f"MCU starved: {report.video_fps} fps of 30; per-event targets not "
                     f"judged\n{text}")
    # one event every 2 s of the file, bar the first and last (the file's edges)
    assert len(report.events) >= RECORD_S // 2 - 3, text
    offsets = [event["offset_ms"] for event in report.events]
    # the systematic offset (audio 110-200 ms late before the fix) is gone. The bound is the
    # target's own 40 ms (terminals.av_sync MAX_OFFSET_MS), not less: the picture is sampled
    # on the MCU's 30 fps tick grid, so a flash waits 0-33 ms for the tick that composes it
    # depending on the phase between the sender's capture clock and the grid, and every
    # event of a run has the same phase (medians of -29, -13, -10, -3 and 0 ms on one
    # commit, run after run); a bound tighter than a frame judged that phase, not the sync
    assert abs(statistics.median(offsets)) <= av_sync.MAX_OFFSET_MS, text
    assert len(report.flashes_s) == len(report.events), text
    if report.max_gap_frames > HICCUP_GAP_FRAMES:
        # the MCU's ticks stalled once (a CI run's neighbour took the CPU): the events next
        # to the stall measure it, not the timestamps; terminals.av_sync judges the
        # per-event and gap targets on a quiet machine (docs/benchmarks.md)
        pytest.xfail(f"MCU stalled: a gap of {report.max_gap_frames} frames; per-event and "
                     f"gap targets not judged\n{text}")
    assert report.max_abs_offset_ms is not None and report.max_abs_offset_ms <= 40, text
    assert report.max_gap_frames <= 2, text
    assert not report.failures, text
