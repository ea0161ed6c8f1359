"""The demo's recording and live steps (issue 14), proved from the files and the stream the
MCU produced, fetched over HTTP like any client would:

  recording  one terminal (FLASHING_INDEX in join order) switches its sync pattern on
             (terminals/sync_pattern.py: a white flash and a click at the same capture
             instant every SYNC_PERIOD_S) and the others fall silent (the flashing one is
             the talker the mix carries); setRecordBroadEx start, a layout change (CP_1_1,
             the flashing site), the content on (setAuxStreamEx controlCode 0, until the
             sharer sends) then off, stop; the others talk again. The
             recording is found in GET /recordings, downloaded, read whole by PyAV and
             measured by terminals/av_sync (its main picture's flashes against the mix's
             clicks); its sidecar must note the layout change and the floor taken and given
             back. Its content track must hold decodable pictures of the sharer's pages
             (the content markers, terminals/marker.read_content_marker, read in up to
             CONTENT_READINGS of them): `content_packets`, `content_frames` and
             `content_readings` in the entry.
  live       setDirectBroadEx start; the player URL from GET /live, the HLS playlist fetched
             until it lists LIVE_SEGMENTS segments, the newest segment downloaded and decoded
             with PyAV: H.264 and AAC, and the site markers (terminals/marker.read_marker) of
             the four sites in the panes of the CP_4_1 picture; setDirectBroadEx stop: the
             playlist is gone (404) and queryBroadInfoEx says it stopped.

report.json's `recordings` gets one entry: {"path" (the file copied into the output
directory, or where the server kept it when there is none), "duration_s", "tracks",
"av_offset_ms_max" (the largest |offset| over the paired events; null with `reason` when no
event could be paired), "events", "hls_url" (the live stream's URL, without its spent
player token)}.
"""

from __future__ import annotations

import asyncio
import io
import shutil
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import av
import requests

from app.demo.soap_client import check
from terminals import av_sync
from terminals.marker import read_content_marker, read_marker
from terminals.sync_pattern import SyncPattern

if TYPE_CHECKING:
    from app.demo.scenario import Consultation
    from app.demo.steps import Observation, Step

START, STOP = 0, 1  # setRecordBroadEx / setDirectBroadEx action
ON_FLOOR, OFF_FLOOR = 0, 1  # setAuxStreamEx controlCode
FLASHING_INDEX = 0  # the join order's first site flashes (the CP_4_1 picture shows it)
SYNC_PERIOD_S = 2.0
PHASE_S = 2.5  # each phase of the recording (before the layout change, after the content)
# content shared from the moment the sharer sends: the recorder's content group starts
# (decode, a new encoder at the recorder's format, its first keyframe) within it
CONTENT_S = 5.0
# A recording of fewer pictures a second than this (a starved MCU) can miss a 3-frame
# flash (100 ms) altogether: no offset is stated from it, the reason says so.
STARVED_FPS = 20.0
MIN_EVENTS = 2  # flashes paired with clicks the demo needs to state an offset
# The demo's loose bound on the worst event, on a shared machine; the target
# (40 ms) is judged by tests/test_av_sync.py where the MCU kept its frame rate.
DEMO_MAX_OFFSET_MS = 100.0
CONTENT_TRACK = "content"  # the recorder's name of its second video track
CONTENT_READINGS = 12  # pictures of the recording's content track whose marker is read
MIN_CONTENT_FRAMES = 5  # the content track's decoded pictures the demo needs
LIVE_SEGMENTS = 2
LIVE_TIMEOUT_S = 40.0
FINISHED_TIMEOUT_S = 30.0  # the writer closes the file after the stop
LIVE_LAYOUT = "CP_4_1"
FLASH_LAYOUT = "CP_1_1"


class RecordingSteps:
    def __init__(self, demo: Consultation, base_url: str) -> None:
        self.demo = demo
        self.base_url = base_url
        self.entry: dict[str, Any] = {}  # report.json's recordings[0], filled as it goes
        self.found: dict[str, Any] = {}  # what the checks judge

    async def until(self, condition: Callable[[], bool]) -> None:
        """Wait (at most the step's timeout) until `condition` holds."""
        deadline = time.monotonic() + self.demo.options.step_timeout
        while not condition() and time.monotonic() < deadline:
            await asyncio.sleep(0.2)

    def keep_alive(self) -> None:
        """Blocking: a KeepAlive, so the SOAP session (60 s) outlives the HTTP-only waits."""
        check(self.demo.soap.common.KeepAlive(), "KeepAlive")

    # ------------------------------------------------------------------ recording

    def recording(self) -> Step:
        from app.demo.steps import Check, Step

        demo = self.demo
        flashing = demo.join_order[FLASHING_INDEX]
        sharer, _, _ = demo.content_roles()
        call = demo.soap.terminal_conf_ctrl

        others = [uri for uri in demo.sites if uri != flashing]

        async def act() -> None:
            demo.terminals[flashing].set_sync_pattern(SyncPattern(SYNC_PERIOD_S))
            for uri in others:  # the flashing site is the one talker: its clicks are mixed
                demo.terminals[uri].speech.set_silent(True)
            try:
                check(await demo.soap_call(call.setRecordBroadEx, siteUri=flashing,
                                           action=START), "setRecordBroadEx")
                await asyncio.sleep(PHASE_S)
                # the layout change: the flashing site full screen (its flashes fill the
                # picture, however few pictures a loaded MCU makes)
                await demo.set_layout(FLASH_LAYOUT, [flashing])
                await asyncio.sleep(PHASE_S)
                check(await demo.soap_call(demo.soap.site_mgr.setAuxStreamEx, siteUri=sharer,
                                           controlCode=ON_FLOOR), "setAuxStreamEx")
                await self.until(lambda: demo.terminals[sharer].sending_content)
                await asyncio.sleep(CONTENT_S)
                check(await demo.soap_call(demo.soap.site_mgr.setAuxStreamEx, siteUri=sharer,
                                           controlCode=OFF_FLOOR), "setAuxStreamEx")
                await asyncio.sleep(PHASE_S)
                check(await demo.soap_call(call.setRecordBroadEx, siteUri=flashing,
                                           action=STOP), "setRecordBroadEx")
            finally:
                demo.terminals[flashing].set_sync_pattern(None)
                for uri in others:
                    demo.terminals[uri].speech.set_silent(False)
            await asyncio.to_thread(self.fetch_recording)

        def listed(o: Observation) -> tuple[bool, str]:
            tracks = self.entry.get("tracks") or []
            duration = self.entry.get("duration_s") or 0.0
            return ("h264" in tracks and "aac" in tracks and duration >= 3 * PHASE_S,
                    f"listed {self.found.get('listed')}")

        def whole(o: Observation) -> tuple[bool, str]:
            report = self.found.get("sync")
            listed = self.entry.get("duration_s") or 0.0
            video = report.video_duration_s if report is not None else 0.0
            audio = report.audio_duration_s if report is not None else 0.0
            fps = report.video_fps if report is not None else 0.0
            return (listed >= 3 * PHASE_S and abs(video - listed) <= 1.0
                    and abs(audio - listed) <= 1.0,
                    f"listed {listed} s; PyAV decoded {video} s of pictures ({fps} fps) and "
                    f"{audio} s of audio; {self.found.get('read_error') or 'no read error'}")

        def sidecar(o: Observation) -> tuple[bool, str]:
            side = self.found.get("sidecar") or {}
            layouts = [entry.get("mode") for entry in side.get("layouts", [])]
            holders = [entry.get("holder") for entry in side.get("floor", [])]
            return (bool(layouts) and sharer in holders and holders[-1] is None,
                    f"layouts {layouts}, floor holders {holders}")

        sharer_pages = {(demo.terminals[sharer].site_index, int(page.kind), page.page)
                        for page in self.sharer_pages(sharer)}

        def content(o: Observation) -> tuple[bool, str]:
            track = self.found.get("content") or {}
            readings = track.get("readings", [])
            readable = [tuple(r) for r in readings if r is not None]
            theirs = [r for r in readable if r in sharer_pages]
            return (track.get("frames", 0) >= MIN_CONTENT_FRAMES and bool(readable)
                    and len(theirs) == len(readable) and 2 * len(readable) >= len(readings),
                    f"{track.get('packets', 0)} packets, {track.get('frames', 0)} pictures "
                    f"decoded; (site, kind, page) read in {len(readings)} of them: "
                    f"{readings}; the sharer's pages {sorted(sharer_pages)}")

        def in_sync(o: Observation) -> tuple[bool, str]:
            worst = self.entry.get("av_offset_ms_max")
            events = self.entry.get("events", 0)
            measured = (worst is not None and events >= MIN_EVENTS
                        and worst <= DEMO_MAX_OFFSET_MS)
            # starved: no figure, and the report says why (the pictures per second made)
            starved = worst is None and bool(self.found.get("starved"))
            return (measured or starved,
                    f"{events} events, worst |offset| {worst} ms, median "
                    f"{self.found.get('median_offset_ms')} ms "
                    f"({self.entry.get('reason') or 'measured'})")

        return Step(
            "recording",
            f"setRecordBroadEx {flashing} start (its sync pattern on, the others silent); "
            f"setContinuousPresenceEx {FLASH_LAYOUT} [{flashing}]; setAuxStreamEx {sharer} on, "
            "off; setRecordBroadEx stop",
            act, demo.everyone(None),
            [
                Check("recording.listed", "recording: GET /recordings lists the file with "
                      "H.264 and AAC tracks and its duration", listed),
                Check("recording.whole", "recording: PyAV decodes the downloaded file whole "
                      "(pictures and audio to within 1 s of its listed duration)", whole),
                Check("recording.sidecar", "recording: the sidecar notes the layout change "
                      "and the floor taken and given back", sidecar),
                Check("recording.content", "recording: the content track decodes to "
                      f"{MIN_CONTENT_FRAMES} pictures or more showing the sharer's pages (its "
                      "content marker in every readable one, at least half readable)",
                      content),
                Check("recording.sync", f"recording: the flashing site's flashes and clicks "
                      f"are paired in the file, the worst within {DEMO_MAX_OFFSET_MS:g} ms (or "
                      f"the MCU was starved, under {STARVED_FPS:g} pictures/s, and the report "
                      "states no figure and why)", in_sync),
            ],
        )

    def sharer_pages(self, sharer: str) -> tuple[Any, ...]:
        """The document pages (terminals/documents.PageId) the sharer's content shows."""
        source = self.demo.terminals[sharer].content_source
        return source.document_pages if source is not None else ()

    def fetch_recording(self) -> None:
        """Blocking: the newest recording of the conference from GET /recordings once its
        writer closed it, downloaded, read and measured."""
        demo = self.demo
        http = demo.soap.http
        deadline = time.monotonic() + FINISHED_TIMEOUT_S
        item: dict[str, Any] | None = None
        while time.monotonic() < deadline:
            self.keep_alive()
            answer = http.get(self.base_url + "/recordings")
            answer.raise_for_status()
            mine = sorted((r for r in answer.json()["recordings"]
                           if r["conf_id"] == demo.conf_id), key=lambda r: r["name"])
            item = mine[-1] if mine else None
            if item is not None and item.get("duration_s") and (
                    item.get("sidecar") or {}).get("stopped_at"):
                time.sleep(1.0)  # the stop's snapshot is written before the file is closed
                again = [r for r in http.get(self.base_url + "/recordings").json()[
                    "recordings"] if r["name"] == item["name"] and r["conf_id"] == demo.conf_id]
                if again and again[0]["size"] == item["size"]:
                    break
            time.sleep(0.5)
        self.found["listed"] = item
        if item is None:
            self.entry.update(path=None, duration_s=None, tracks=[], av_offset_ms_max=None,
                              events=0, reason="no recording listed", hls_url=None)
            demo.report.recordings.append(self.entry)
            return
        url = f"{self.base_url}/recordings/{demo.conf_id}/{item['name']}"
        out = demo.options.out_dir
        target = (out / "recordings" if out is not None else Path(
            demo.options.data_dir or "/tmp") / "demo-recordings")  # noqa: S108
        target.mkdir(parents=True, exist_ok=True)
        path = target / item["name"]
        with http.get(url, stream=True) as download, path.open("wb") as file:
            download.raise_for_status()
            shutil.copyfileobj(download.raw, file)
        sidecar = http.get(url.replace(".mp4", ".json"))
        self.found["sidecar"] = sidecar.json() if sidecar.status_code == 200 else None
        self.entry.update(path=str(path), duration_s=item.get("duration_s"),
                          tracks=list(item.get("tracks") or []), av_offset_ms_max=None,
                          events=0, hls_url=None)
        try:
            report = av_sync.measure(str(path))
            self.found["content"] = content_track(path)
        except (OSError, ValueError, av.FFmpegError) as error:
            self.found["read_error"] = str(error)
            self.entry["reason"] = f"the file could not be read: {error}"
        else:
            self.found["sync"] = report
            self.entry["events"] = len(report.events)
            offsets = [event["offset_ms"] for event in report.events]
            if len(offsets) >= MIN_EVENTS:
                self.entry["av_offset_ms_max"] = report.max_abs_offset_ms
                self.found["median_offset_ms"] = statistics.median(offsets)
            else:
                self.found["starved"] = report.video_fps < STARVED_FPS
                self.entry["reason"] = (
                    f"{len(report.flashes_s)} flashes and {len(report.clicks_s)} clicks found, "
                    f"{len(offsets)} paired: too few to state an offset"
                    + (f" (the MCU made {report.video_fps} pictures/s, under {STARVED_FPS:g}: "
                       "starved, the 3-frame flashes fell between its pictures)"
                       if self.found["starved"] else ""))
            track = self.found["content"]
            self.entry["content_packets"] = track["packets"]
            self.entry["content_frames"] = track["frames"]
            self.entry["content_readings"] = track["readings"]
            self.entry["video_fps"] = report.video_fps
            self.entry["max_gap_frames"] = report.max_gap_frames_whole
            self.entry["audio_minus_video_ms"] = round(report.duration_diff_ms, 1)
        demo.report.recordings.append(self.entry)

    # ------------------------------------------------------------------ live

    def live(self) -> Step:
        from app.demo.steps import Check, Step

        demo = self.demo
        site = demo.join_order[0]
        call = demo.soap.terminal_conf_ctrl
        expected = sorted(demo.terminals[uri].site_index for uri in demo.sites)

        async def act() -> None:
            await demo.set_layout(LIVE_LAYOUT, [])
            check(await demo.soap_call(call.setDirectBroadEx, siteUri=site, action=START),
                  "setDirectBroadEx")
            try:
                info = await demo.soap_call(call.queryBroadInfoEx, siteUri=site)
                self.found["status_on"] = getattr(info.broadInfo, "directBroadStatus", None)
                await asyncio.to_thread(self.fetch_live)
            finally:
                check(await demo.soap_call(call.setDirectBroadEx, siteUri=site, action=STOP),
                      "setDirectBroadEx")
            info = await demo.soap_call(call.queryBroadInfoEx, siteUri=site)
            self.found["status_off"] = getattr(info.broadInfo, "directBroadStatus", None)
            plain = f"{self.base_url}/live/{demo.conf_id}/index.m3u8"
            self.found["after_stop"] = await asyncio.to_thread(
                lambda: demo.soap.http.get(plain).status_code)
            if self.entry:
                self.entry["hls_url"] = plain

        def playlist(o: Observation) -> tuple[bool, str]:
            segments = self.found.get("segments", [])
            return (len(segments) >= LIVE_SEGMENTS,
                    f"{len(segments)} segments listed, durations "
                    f"{self.found.get('durations')}; {self.found.get('live_error') or ''}")

        def segment(o: Observation) -> tuple[bool, str]:
            decoded = self.found.get("decoded") or {}
            return (decoded.get("codecs") == ["aac", "h264"] and decoded.get("frames", 0) >= 10,
                    f"{decoded}")

        def markers(o: Observation) -> tuple[bool, str]:
            seen = self.found.get("markers") or []
            return (expected in seen,
                    f"site markers per decoded picture (a sample): {seen[:3]}, "
                    f"expected {expected}")

        def stopped(o: Observation) -> tuple[bool, str]:
            on, off = self.found.get("status_on"), self.found.get("status_off")
            gone = self.found.get("after_stop")
            return ((on, off, gone) == (1, 0, 404),
                    f"directBroadStatus {on} while on, {off} after; the playlist answers "
                    f"{gone} after the stop")

        return Step(
            "live",
            f"setContinuousPresenceEx {LIVE_LAYOUT}; setDirectBroadEx {site} start, the HLS "
            "playlist and its newest segment fetched; setDirectBroadEx stop",
            act, demo.everyone(None),
            [
                Check("live.playlist", f"live: the HLS playlist lists {LIVE_SEGMENTS} segments "
                      "or more", playlist),
                Check("live.segment", "live: the newest segment decodes with PyAV to H.264 "
                      "pictures and AAC audio", segment),
                Check("live.markers", "live: the decoded pictures show the four sites' markers "
                      f"in the {LIVE_LAYOUT} panes", markers),
                Check("live.stopped", "live: queryBroadInfoEx says broadcasting then stopped; "
                      "the playlist is gone after the stop", stopped),
            ],
        )

    def fetch_live(self) -> None:
        """Blocking: the player URL from GET /live, the playlist until it lists enough
        segments, the newest segment decoded and its pictures' site markers read."""
        from app.demo.steps import pane_rects

        demo = self.demo
        http = demo.soap.http
        try:
            listed = http.get(self.base_url + "/live").json()["broadcasts"]
            urls = [item["url"] for item in listed if item["conf_id"] == demo.conf_id]
            if not urls:
                raise LookupError(f"GET /live lists no broadcast of {demo.conf_id}: {listed}")
            player = requests.Session()  # the player URL's token, no session cookie
            player.trust_env = False
            deadline = time.monotonic() + LIVE_TIMEOUT_S
            segments: list[str] = []
            text = ""
            while time.monotonic() < deadline:
                self.keep_alive()
                answer = player.get(self.base_url + urls[0])
                if answer.status_code == 200:
                    text = answer.text
                    segments = [line for line in text.splitlines()
                                if line and not line.startswith("#")]
                    if len(segments) >= LIVE_SEGMENTS:
                        break
                time.sleep(0.5)
            self.found["segments"] = segments
            self.found["durations"] = [line.split(":", 1)[1].rstrip(",") for line in
                                       text.splitlines() if line.startswith("#EXTINF:")]
            if not segments:
                return
            data = player.get(f"{self.base_url}/live/{demo.conf_id}/{segments[-1]}")
            data.raise_for_status()
            panes = pane_rects(LIVE_LAYOUT)
            with av.open(io.BytesIO(data.content), "r", format="mpegts") as container:
                codecs = sorted(stream.codec_context.name for stream in container.streams)
                pictures = [frame.to_ndarray(format="bgr24")
                            for frame in container.decode(video=0)]
            seen = []
            for picture in pictures[:: max(1, len(pictures) // 10)]:
                readings = [read_marker(picture, pane) for pane in panes]
                seen.append(sorted(r.site_index for r in readings if r is not None))
            self.found["decoded"] = {"codecs": codecs, "frames": len(pictures),
                                     "bytes": len(data.content)}
            self.found["markers"] = seen
        except (OSError, ValueError, LookupError, KeyError, av.FFmpegError) as error:
            self.found["live_error"] = str(error)


def content_track(path: Path) -> dict[str, Any]:
    """The recording's content track (the video stream named "content"): {"packets", "frames"
    (the pictures PyAV decodes from it), "readings" ([site, kind, page] of the content marker,
    or None, in up to CONTENT_READINGS pictures spread over the track)}."""
    with av.open(str(path)) as container:
        stream = av_sync.named_video(container, CONTENT_TRACK)
        if stream is None:
            return {"packets": 0, "frames": 0, "readings": []}
        packets = sum(1 for packet in container.demux(stream) if packet.size)
    step = max(1, packets // CONTENT_READINGS)
    frames = 0
    readings: list[list[int] | None] = []
    with av.open(str(path)) as container:
        for frame in container.decode(av_sync.named_video(container, CONTENT_TRACK)):
            if frames % step == 0 and len(readings) < CONTENT_READINGS:
                reading = read_content_marker(frame.to_ndarray(format="gray"))
                readings.append(None if reading is None else
                                [reading.site_index, reading.kind, reading.page])
            frames += 1
    return {"packets": packets, "frames": frames, "readings": readings}
