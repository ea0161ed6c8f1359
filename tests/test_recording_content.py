"""A recording started while content is already shared, from the outside (real terminals, a
real server, setAuxStreamEx and setRecordBroadEx over SOAP with zeep from the reference
WSDL, the file read back with PyAV): the file's content track holds the holder's content
from the start of the recording, every picture of it decodable.

Starting the recording opens two encoder groups at once (the conference picture and the
content, both at the recorder's 1080p), each warmed up on a worker, so either may deliver
its first keyframe first. The file opens at the main picture's first keyframe; a content
keyframe that came before it cannot be used, so the recorder asks the content group for
another (recorder.Mp4Recording.wants_keyframe) rather than leave the track empty until
someone else asks for one. The content's keyframe coming first is rare (not seen in four
such recordings on the code before that request existed): tests/test_recording_keyframes.py
forces it; this test holds the whole path to what it must give.
"""

from __future__ import annotations

import asyncio

import av

from tests.test_content_stream import book, joined, soap, soap_call, start_all, terminal
from tests.test_media_acceptance import eventually
from tests.test_recording_lifecycle import files_of, gone_within, server
from tests.test_recording_media import content_sites, track_times

__all__ = ["server"]  # the recording tests' server fixture (it knows its data directory)
START, STOP = 0, 1
ROUNDS = 2  # recordings started while sharing, one after the other


def decoded_content(path) -> tuple[int, int]:
    """(packets of the content track, pictures PyAV decodes from them)."""
    with av.open(str(path)) as container:
        packets = sum(1 for p in container.demux(container.streams.video[1]) if p.size)
    with av.open(str(path)) as container:
        frames = sum(1 for _ in container.decode(container.streams.video[1]))
    return packets, frames


async def test_a_recording_started_during_content_records_the_content(server):
    a, b = terminal(57, content="radiograph"), terminal(58)
    await start_all(server, [a, b])
    conf_id = book(server, [a.uri, b.uri])
    clients = await soap(server)
    call, site_mgr = clients.terminal_conf_ctrl, clients.site_mgr
    try:
        await eventually(lambda: joined(server, conf_id, [a.uri, b.uri]), what="both joined")
        assert await soap_call(site_mgr, "setAuxStreamEx", siteUri=a.uri, controlCode=0) == 0
        assert a.start_content()
        await asyncio.sleep(3)  # the content flows (forwarded to B) before the recording
        for _ in range(ROUNDS):
            assert await soap_call(call, "setRecordBroadEx", siteUri=a.uri, action=START) == 0
            await asyncio.sleep(5)
            assert await soap_call(call, "setRecordBroadEx", siteUri=a.uri, action=STOP) == 0
            await gone_within(conf_id, 20)
        assert await soap_call(site_mgr, "setAuxStreamEx", siteUri=a.uri, controlCode=1) == 0
        a.stop_content()
    finally:
        await a.stop()
        await b.stop()
    paths = files_of(server.data_dir, conf_id)
    assert len(paths) == ROUNDS
    for path in paths:
        main, content = track_times(path, 0), track_times(path, 1)
        assert main and len(content) > 10, (path.name, len(main), len(content))
        assert content[0] < main[0] + 2.0, (content[0], main[0])  # from the start, near enough
        packets, frames = decoded_content(path)
        assert frames == packets, (packets, frames)  # every content picture decodes
        readings = content_sites(path)
        assert readings.count(a.site_index) > len(readings) // 2, readings
