"""The live broadcast and the recording read by VLC: Debian's cvlc (`make vlc`; no
interface, run as the user nobody since VLC refuses root) against a real server whose
conference of four real terminals (markers, one with the sync pattern) is recorded and
broadcast over SOAP (tests/players.py).

VLC plays each into its stream output, transcoding (its own H.264 and AAC decoders, then
MPEG-4 part 2 and MPEG audio into MPEG-TS), and the file it writes is decoded with PyAV:
- the live HLS, from the player URL GET /live gives (`?token=`, no cookie): the four sites'
  markers in their CP_4_1 panes, several seconds of pictures, and the sync pattern's clicks
  in its audio (the audio went through VLC's AAC decoder, not silence);
- the finished MP4 (downloaded with the session cookie, then given to VLC as a file): the
  same, and VLC read it to its end (its output lasts as long as the file).
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import av
import pytest
import requests

from terminals import av_sync
from tests.players import (
    RECORDED_SIZE,
    PlayedConference,
    quad_sites,
    recorded_live_conference,
    run_cvlc,
    vlc_missing,
    vlc_workdir,
)
from tests.test_recording_lifecycle import server

__all__ = ["server"]
pytestmark = pytest.mark.skipif(vlc_missing() is not None, reason=str(vlc_missing()))

# VLC decodes and re-encodes; PyAV reads what it wrote
# (not `channels=1`: VLC 3.0.23's downmix to mono for this encoder fills the audio with
# noise; the stereo output is the mix on both channels)
TRANSCODE = "#transcode{vcodec=mp4v,vb=3000,acodec=mpga,ab=192}:std{access=file,mux=ts,dst=%s}"
CLICK_TOLERANCE_S = 0.02
LIVE_SECONDS = 12


def read_output(path: Path) -> dict:
    """What VLC wrote: its codecs, the pictures' times and CP_4_1 readings (every 5th
    picture), its video and audio durations."""
    with av.open(str(path)) as container:
        codecs = sorted(stream.codec_context.name for stream in container.streams)
        times, readings, sizes = [], [], set()
        for index, frame in enumerate(container.decode(video=0)):
            times.append(float(frame.pts * frame.time_base))
            sizes.add((frame.width, frame.height))
            if index % 5 == 0:
                readings.append(quad_sites(frame.to_ndarray(format="gray")))
    with av.open(str(path)) as container:
        samples = sum(frame.samples for frame in container.decode(audio=0))
    return {"codecs": codecs, "times": times, "readings": readings, "sizes": sizes,
            "audio_s": samples / 48_000}


def check_output(found: dict, conference: PlayedConference, least_s: float) -> None:
    # MPEG-4 part 2 video; MPEG audio, layer II or III as VLC's mpga encoder picks
    assert len(found["codecs"]) == 2 and found["codecs"][1] == "mpeg4", found["codecs"]
    assert found["codecs"][0] in ("mp2", "mp2float", "mp3", "mp3float"), found["codecs"]
    assert found["sizes"] == {RECORDED_SIZE}, found["sizes"]
    span = found["times"][-1] - found["times"][0]
    assert span >= least_s, (span, least_s)
    assert found["audio_s"] >= least_s, found["audio_s"]
    matching = [sites for sites in found["readings"] if sites == conference.expected]
    assert len(matching) >= len(found["readings"]) // 2, found["readings"]


def summary(found: dict) -> str:
    matching = sum(1 for sites in found["readings"] if sites != [None] * 4)
    return (f"{found['codecs']}, {len(found['times'])} pictures over "
            f"{found['times'][-1] - found['times'][0]:.2f} s, {found['audio_s']:.2f} s of audio, "
            f"markers read in {matching} of {len(found['readings'])} pictures read: "
            f"{found['readings'][:3]}...")


def clicks_in(path: Path) -> list[float]:
    """The sync pattern's clicks terminals.av_sync finds in a file's audio."""
    return av_sync.measure(str(path)).clicks_s


def matching_clicks(reference: list[float], found: list[float]) -> int:
    """How many of `found` are clicks of `reference` (within CLICK_TOLERANCE_S) under the
    one time shift that matches most (the files' clocks start at different times)."""
    best = 0
    for shift in {f - r for f in found for r in reference}:
        best = max(best, sum(1 for f in found
                             if any(abs(f - shift - r) <= CLICK_TOLERANCE_S for r in reference)))
    return best


async def test_vlc_plays_the_live_stream_and_the_recording(server):
    workdir = vlc_workdir()
    try:
        async with recorded_live_conference(server, 25) as conference:
            live_out = workdir / "live.ts"
            run = await asyncio.to_thread(
                run_cvlc, server.base_url + conference.player_url, TRANSCODE % live_out,
                LIVE_SECONDS + 60, [f"--run-time={LIVE_SECONDS}"])
            assert live_out.is_file() and live_out.stat().st_size > 0, run.output[-3000:]
            found = await asyncio.to_thread(read_output, live_out)
            check_output(found, conference, LIVE_SECONDS / 2)
            live_clicks = await asyncio.to_thread(clicks_in, live_out)
            print(f"VLC, live: {summary(found)}, clicks at {live_clicks}")

            path = await conference.finish_recording()
            session = requests.Session()
            session.trust_env = False
            session.cookies.set("JSESSIONID", conference.session_cookie)
            download = await asyncio.to_thread(
                session.get, f"{server.base_url}/recordings/{conference.conf_id}/{path.name}")
            assert download.status_code == 200
            recording = workdir / "recording.mp4"
            recording.write_bytes(download.content)
            recording.chmod(0o644)
        file_out = workdir / "recording.ts"
        run = await asyncio.to_thread(run_cvlc, str(recording), TRANSCODE % file_out, 120)
        assert run.returncode == 0, run.output[-3000:]  # played to its end, then quit
        found = await asyncio.to_thread(read_output, file_out)
        with av.open(str(recording)) as container:
            length = float(container.duration or 0) / av.time_base
        check_output(found, conference, length - 1.5)
        assert abs(found["audio_s"] - length) < 1.0, (found["audio_s"], length)
        clicks = await asyncio.to_thread(clicks_in, file_out)
        print(f"VLC, MP4 of {length:.2f} s: {summary(found)}, clicks at {clicks}")
        # the audio VLC decoded is the recording's: the flashing site's clicks, at the same
        # spacing, and nothing that sounds like one besides (a live window's clicks are
        # among the recording's too: the same mix)
        recorded = await asyncio.to_thread(clicks_in, recording)
        print(f"clicks in the recording: {recorded}")
        assert len(recorded) >= 2, recorded
        assert matching_clicks(recorded, clicks) >= len(recorded) - 1, (recorded, clicks)
        assert len(clicks) <= len(recorded) + 1, (recorded, clicks)
        assert len(live_clicks) >= 2, live_clicks
        assert matching_clicks(recorded, live_clicks) >= len(live_clicks) - 1, \
            (recorded, live_clicks)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
