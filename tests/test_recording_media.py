"""What a recording holds while the conference changes, from the outside (real terminals,
a real server, setRecordBroadEx and setAuxStreamEx over SOAP with zeep from the reference
WSDL, the file read back with PyAV):

- content shared during the recording is in the file's second video track (the holder's
  content marker read from its decoded pictures), and that track stops when the floor is
  released while the main picture goes on;
- a site leaving during the recording: the file goes on past it, and the sidecar records
  both sites, the one that left with its time.
"""

from __future__ import annotations

import asyncio
import json

import av

from terminals.marker import read_content_marker
from tests.test_content_stream import book, joined, soap, soap_call, start_all, terminal
from tests.test_media_acceptance import eventually
from tests.test_recording_lifecycle import files_of, gone_within, server

__all__ = ["server"]  # the recording tests' server fixture (it knows its data directory)
START, STOP = 0, 1


def track_times(path, index: int) -> list[float]:
    """The presentation times (s) of the packets of stream `index`."""
    with av.open(str(path)) as container:
        stream = container.streams[index]
        return sorted(float(p.pts * p.time_base) for p in container.demux(stream)
                      if p.pts is not None and p.size)


def content_sites(path) -> list[int | None]:
    with av.open(str(path)) as container:
        readings = [read_content_marker(frame.to_ndarray(format="gray"))
                    for frame in container.decode(video=1)]
    return [reading.site_index if reading is not None else None for reading in readings]


async def test_content_and_a_site_leaving_during_a_recording(server):
    a, b = terminal(61, content="radiograph"), terminal(62)
    await start_all(server, [a, b])
    conf_id = book(server, [a.uri, b.uri])
    clients = await soap(server)
    call, site_mgr = clients.terminal_conf_ctrl, clients.site_mgr
    try:
        await eventually(lambda: joined(server, conf_id, [a.uri, b.uri]), what="both joined")
        assert await soap_call(call, "setRecordBroadEx", siteUri=a.uri, action=START) == 0
        await asyncio.sleep(2)
        assert await soap_call(site_mgr, "setAuxStreamEx", siteUri=a.uri, controlCode=0) == 0
        assert a.start_content()
        await asyncio.sleep(4)
        assert await soap_call(site_mgr, "setAuxStreamEx", siteUri=a.uri, controlCode=1) == 0
        a.stop_content()
        await asyncio.sleep(3)
        await b.stop()  # B hangs up; the recording goes on
        await asyncio.sleep(3)
        assert await soap_call(call, "setRecordBroadEx", siteUri=a.uri, action=STOP) == 0
        await gone_within(conf_id, 20)
    finally:
        await a.stop()
        await b.stop()
    (path,) = files_of(server.data_dir, conf_id)
    sidecar = json.loads(path.with_suffix(".json").read_text())
    holders = [entry["holder"] for entry in sidecar["floor"]]
    assert holders[0] == a.uri and holders[-1] is None, sidecar["floor"]
    released = [entry["at_s"] for entry in sidecar["floor"] if entry["holder"] is None][-1]
    sites = {entry["uri"]: entry for entry in sidecar["sites"]}
    assert set(sites) == {a.uri, b.uri}
    assert sites[a.uri]["left_s"] is None and sites[b.uri]["left_s"] is not None
    left = sites[b.uri]["left_s"]
    assert released < left

    main, content = track_times(path, 0), track_times(path, 1)
    assert len(content) > 10  # content pictures while A held the floor
    # the content track stops at the release (the file's clock starts a little after the
    # sidecar's: its first keyframe), the main picture goes on past B's leaving
    assert content[-1] < released + 1.0, (content[-1], released)
    assert main[-1] > left + 1.0, (main[-1], left)
    readings = content_sites(path)
    assert readings.count(a.site_index) > len(readings) // 2, readings
