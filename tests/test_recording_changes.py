"""A recording through changes of the conference, from the outside: real terminals, a real
server, setRecordBroadEx, addSiteToConfEx, connectSitesEx and setContinuousPresenceEx over
SOAP (zeep from the reference WSDL), the file read back whole with PyAV:

- a site joining in the middle of the recording: its site marker is in no recorded picture
  before it joined (the sidecar's time) and in the pictures after it, in the pane the
  automatic CP_4_1 assignment gives it; the sidecar lists it with its join time;
- the main picture's size changing in the middle (a site's camera switching from 320x180
  to 640x360 mid-call): the file keeps one main video stream at its fixed size, every
  picture decodes at that size, the site's marker is read before and after the change, and
  the pictures go on across it (no gap of half a second or more).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace

import av
import numpy as np

from gateway.signalling import SIGNALLING
from mcu.layouts import layout_mode
from mcu.model import VideoFormat
from terminals.marker import read_marker
from terminals.media_sources import VideoFormat as SentVideo
from tests.test_content_stream import book, joined, soap, soap_call, start_all, terminal
from tests.test_media_acceptance import eventually
from tests.test_recording_lifecycle import files_of, gone_within, server

__all__ = ["server"]
START, STOP = 0, 1
SMALL = SentVideo(320, 180, 15, 300_000)
LARGE = SentVideo(640, 360, 15, 600_000)
QUAD = "CP_4_1"


def quad_panes() -> list[tuple[float, ...]]:
    return [tuple(pane.as_floats()) for pane in layout_mode(QUAD).panes]


def main_pictures(path) -> tuple[list[float], list[list[int]], set[tuple[int, int]], int]:
    """(time, site indexes read in the CP_4_1 panes) per decoded main picture, the sizes
    decoded, and how many video streams the file has."""
    times: list[float] = []
    seen: list[list[int]] = []
    sizes: set[tuple[int, int]] = set()
    panes = quad_panes()
    with av.open(str(path)) as container:
        videos = list(container.streams.video)
        main = videos[0]  # the recorder adds the main picture's track first
        for frame in container.decode(main):
            sizes.add((frame.width, frame.height))
            times.append(float(frame.pts * frame.time_base))
            gray = frame.to_ndarray(format="gray")
            readings = [read_marker(gray, pane) for pane in panes]
            seen.append([r.site_index for r in readings if r is not None])
        return times, seen, sizes, len(videos)


def decoded_size(media, uri: str) -> tuple[int, int] | None:
    """The size of the site's latest picture the MCU decoded."""
    frame = media.sites[uri].video_in.frame
    return None if frame is None else (frame.width, frame.height)


def recorder_small(server) -> None:
    """The recorder at 640x360 (the format of sites booked AUTO): CPU kept low."""
    engine = server.app[SIGNALLING].engine
    engine.settings = replace(engine.settings, default_format=VideoFormat.P360)


async def test_a_site_joining_mid_recording_appears_in_the_file_from_its_join(server):
    recorder_small(server)
    a, b = terminal(51, video_format=SMALL), terminal(52, video_format=SMALL)
    await start_all(server, [a, b])
    conf_id = book(server, [a.uri])
    clients = await soap(server)
    call = clients.terminal_conf_ctrl
    try:
        await eventually(lambda: joined(server, conf_id, [a.uri]), what="A joined")
        assert await soap_call(clients.conf_ctrl, "setContinuousPresenceEx", confId=conf_id,
                               target="0", presenceMode=layout_mode(QUAD).value,
                               subPics=[]) == 0
        assert await soap_call(call, "setRecordBroadEx", siteUri=a.uri, action=START) == 0
        await asyncio.sleep(4)
        added = await soap_call(clients.conf_mgr, "addSiteToConfEx", confId=conf_id,
                                siteInfo={"name": "B", "uri": b.uri, "type": 4, "from": 0,
                                          "dialingMode": 0})
        assert added.resultCode == 0
        assert await soap_call(clients.conf_mgr, "connectSitesEx", confId=conf_id,
                               siteUris=[b.uri]) == 0
        await eventually(lambda: joined(server, conf_id, [a.uri, b.uri]), what="B joined")
        await asyncio.sleep(4)
        assert await soap_call(call, "setRecordBroadEx", siteUri=a.uri, action=STOP) == 0
        await gone_within(conf_id, 20)
    finally:
        await a.stop()
        await b.stop()
    (path,) = files_of(server.data_dir, conf_id)
    sidecar = json.loads(path.with_suffix(".json").read_text())
    sites = {entry["uri"]: entry for entry in sidecar["sites"]}
    assert sites[a.uri]["joined_s"] == 0.0
    joined_s = sites[b.uri]["joined_s"]
    assert 3.0 < joined_s < 60.0, sidecar["sites"]
    times, seen, sizes, streams = main_pictures(path)
    assert sizes == {(640, 360)} and streams == 2  # main + content (none shared here)
    with_b = [t for t, sites_seen in zip(times, seen, strict=True) if b.site_index in sites_seen]
    with_a = [t for t, sites_seen in zip(times, seen, strict=True) if a.site_index in sites_seen]
    assert with_b, "B's marker is in no recorded picture"
    # the file's clock starts at its first keyframe, a little after the sidecar's start
    assert min(with_b) > joined_s - 1.0, (min(with_b), joined_s)
    assert max(with_b) > times[-1] - 1.5  # and it stays to the end
    assert len(with_a) > len(times) // 2  # A all along


async def test_the_main_picture_changing_size_mid_recording_keeps_the_files_size(server):
    recorder_small(server)
    # what A sends is its camera's choice here, not the send ladder's ask (which would hold
    # it to its pane's size): the ladder off for this conference
    engine = server.app[SIGNALLING].engine
    engine.settings = replace(engine.settings, send_ladder=False)
    a, b = terminal(53, video_format=SMALL), terminal(54, video_format=SMALL)
    await start_all(server, [a, b])
    conf_id = book(server, [a.uri, b.uri])
    clients = await soap(server)
    call = clients.terminal_conf_ctrl
    try:
        await eventually(lambda: joined(server, conf_id, [a.uri, b.uri]), what="both joined")
        assert await soap_call(clients.conf_ctrl, "setContinuousPresenceEx", confId=conf_id,
                               target="0", presenceMode=layout_mode(QUAD).value,
                               subPics=[]) == 0
        assert await soap_call(call, "setRecordBroadEx", siteUri=a.uri, action=START) == 0
        await asyncio.sleep(4)
        media = server.app[SIGNALLING].engine.conferences[conf_id]
        assert decoded_size(media, a.uri) == (320, 180)
        await a.set_video_format(LARGE)  # A's camera now sends 640x360
        await eventually(lambda: decoded_size(media, a.uri) == (640, 360),
                         what="the MCU decodes A at 640x360")
        await asyncio.sleep(4)
        assert await soap_call(call, "setRecordBroadEx", siteUri=a.uri, action=STOP) == 0
        await gone_within(conf_id, 20)
    finally:
        await a.stop()
        await b.stop()
    (path,) = files_of(server.data_dir, conf_id)
    times, seen, sizes, streams = main_pictures(path)
    assert sizes == {(640, 360)}, sizes  # one fixed size all along
    assert streams == 2  # the main picture and the content track: no new stream
    assert times[-1] > 7.0, times[-1]  # read whole, to the end
    with_a = [t for t, sites_seen in zip(times, seen, strict=True) if a.site_index in sites_seen]
    assert min(with_a) < 3.0 and max(with_a) > times[-1] - 1.5, (min(with_a), max(with_a))
    # across the change (A's new keyframe, the MCU's decoder restarting at the new size)
    # the pictures go on; the file's first second (the recorder's start) is judged by
    # tests/test_av_sync.py, on a machine where the MCU keeps its frame rate
    later = [t for t in times if t >= 1.0]
    gaps = np.diff(later)
    assert float(gaps.max()) < 0.5, f"a gap of {gaps.max():.3f} s at {later[int(gaps.argmax())]}"
