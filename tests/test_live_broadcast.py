"""Live broadcast (setDirectBroadEx) from the outside: real terminals in a conference on a
real server, the broadcast started and stopped over SOAP (zeep from the reference WSDL), the
HLS playlist and a segment fetched over HTTP and the segment decoded with PyAV.

- the playlist is a sliding window of ~2 s MPEG-TS segments; a segment holds H.264 and AAC
  and its pictures show the conference picture (the sites' markers in their panes);
- the player URL from GET /live opens without a session (its token), nothing opens without
  the token or the cookie, a wrong token is refused;
- with the recording running too, the picture is encoded once (one encoder group feeds the
  recorder and the broadcast);
- queryBroadInfoEx reports directBroadStatus from what runs; the stop removes the stream
  (404); a start while broadcasting and a stop while not change nothing;
- a server killed while broadcasting broadcasts again, under the same URL, once restarted;
- refusals: isLiveBroadcast 0, a site of no conference.
"""

from __future__ import annotations

import asyncio
import io
import re
import time
from datetime import UTC, datetime, timedelta

import av
import requests

from gateway import result_codes
from gateway.signalling import SIGNALLING
from mcu.errors import Fault
from mcu.layouts import layout_mode
from mcu.model import SiteCallState
from tests.conftest import DEMO, soap_clients
from tests.test_media_acceptance import book, eventually, signalling_url, states, terminal
from tests.test_recording import server, sites_in  # noqa: F401  (the server fixture)
from tests.test_restart_persistence import ServerProcess, conference

START, STOP = 0, 1
LIVE_NOT_SUPPORTED = result_codes.result_code(Fault.LIVE_BROADCAST_NOT_SUPPORTED)
_EXTINF = re.compile(r"#EXTINF:([0-9.]+),")


def anonymous() -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    return session


def segments_of(playlist: str) -> list[str]:
    return [line for line in playlist.splitlines() if line and not line.startswith("#")]


def fetch_playlist(base_url: str, url: str, minimum: int, timeout: float = 60) -> str:
    """The playlist once it lists `minimum` segments."""
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        answer = anonymous().get(base_url + url)
        if answer.status_code == 200:
            text = answer.text
            if len(segments_of(text)) >= minimum:
                return text
        time.sleep(0.5)
    raise AssertionError(f"no playlist of {minimum} segments: {text!r}")


def decode_segment(data: bytes) -> dict:
    with av.open(io.BytesIO(data), format="mpegts") as container:
        codecs = sorted(stream.codec_context.name for stream in container.streams)
        frames = [frame.to_ndarray(format="gray") for frame in container.decode(video=0)]
    with av.open(io.BytesIO(data), format="mpegts") as container:
        samples = sum(frame.samples for frame in container.decode(audio=0))
    return {"codecs": codecs, "frames": frames, "samples": samples}


def live_url(base_url: str, http: requests.Session, conf_id: str) -> str:
    listed = http.get(base_url + "/live").json()["broadcasts"]
    (url,) = [item["url"] for item in listed if item["conf_id"] == conf_id]
    return url


def check_stream(base: str, http: requests.Session, conf_id: str, url: str,
                 panes: list[int]) -> None:
    """The token's player URL and the cookie open the stream, nothing else does; the
    playlist is a window of ~2 s segments; a segment decodes to the conference picture."""
    token = url.split("token=")[1]
    plain = f"/live/{conf_id}/index.m3u8"
    assert anonymous().get(base + "/live").status_code == 401
    assert anonymous().get(base + plain).status_code == 401
    assert anonymous().get(base + plain + "?token=x" + token).status_code == 401

    playlist = fetch_playlist(base, url, 3)
    assert playlist.startswith("#EXTM3U")
    durations = [float(value) for value in _EXTINF.findall(playlist)]
    assert all(0.5 < duration < 3.0 for duration in durations), durations
    names = segments_of(playlist)
    assert all(name.endswith("?token=" + token) for name in names), names
    segment = anonymous().get(f"{base}/live/{conf_id}/{names[-1]}")
    assert segment.status_code == 200
    assert segment.headers["Content-Type"] == "video/mp2t"
    # the session cookie opens the same stream (no token in the segment names then)
    with_cookie = http.get(base + plain)
    assert with_cookie.status_code == 200 and "token=" not in with_cookie.text
    found = decode_segment(segment.content)
    assert found["codecs"] == ["aac", "h264"]
    assert len(found["frames"]) >= 10 and found["samples"] > 0.5 * 48_000
    seen = [sites_in(frame, "CP_2_1") for frame in found["frames"]]
    assert panes in seen, seen
    for bad in ("../../mcu.sqlite3", "segment1.mp4", "index.m3u8.bak"):
        assert http.get(f"{base}/live/{conf_id}/{bad}").status_code == 404



def check_stopped(base: str, http: requests.Session, conf_id: str, url: str) -> None:
    assert anonymous().get(base + url).status_code == 401  # the token is spent
    assert http.get(f"{base}/live/{conf_id}/index.m3u8").status_code == 404
    assert http.get(base + "/live").json()["broadcasts"] == []


async def test_a_live_broadcast_serves_the_conference_as_hls(server):  # noqa: F811
    a, b = terminal(50, decode_video=False), terminal(51, decode_video=False)
    for t in (a, b):
        await t.start(signalling_url(server))
    soap = await asyncio.to_thread(soap_clients, server.base_url)
    assert await asyncio.to_thread(soap.login, *DEMO) == 0
    call = soap.terminal_conf_ctrl
    base = server.base_url
    try:
        conf_id = book(server, [a.uri, b.uri], cp_resource=4)
        await eventually(lambda: set(states(server, conf_id).values())
                         == {SiteCallState.IN_CONFERENCE}, what="both in conference")
        server.gateway.runtime.control.set_continuous_presence(
            conf_id, "0", layout_mode("CP_2_1").value, [a.uri, b.uri])
        info = (await asyncio.to_thread(call.queryBroadInfoEx, siteUri=a.uri)).broadInfo
        assert (info.directBroad, info.directBroadStatus) == (1, 0)
        assert await asyncio.to_thread(call.setDirectBroadEx, siteUri=a.uri, action=START) == 0
        assert await asyncio.to_thread(call.setDirectBroadEx, siteUri=b.uri, action=START) == 0
        info = (await asyncio.to_thread(call.queryBroadInfoEx, siteUri=b.uri)).broadInfo
        assert (info.directBroad, info.directBroadStatus) == (1, 1)
        assert (info.recordBroad, info.recordBroadStatus) == (1, 0)  # live alone

        url = await asyncio.to_thread(live_url, base, soap.http, conf_id)
        assert url.startswith(f"/live/{conf_id}/index.m3u8?token=")
        await asyncio.to_thread(check_stream, base, soap.http, conf_id, url,
                                [a.site_index, b.site_index])

        # recording as well: one encoder group feeds both, no second encode of the picture
        assert await asyncio.to_thread(call.setRecordBroadEx, siteUri=a.uri, action=START) == 0
        media = server.app[SIGNALLING].engine.conferences[conf_id]
        await eventually(lambda: media.recording is not None
                         and media.recording.main.group is not None)
        assert media.live is not None and media.recording is not None
        assert media.live.main.group is media.recording.main.group
        assert sum(1 for key in media.groups if key == media.live.main.group.key) == 1
        assert await asyncio.to_thread(call.setRecordBroadEx, siteUri=a.uri, action=STOP) == 0

        directory = server.data_dir / "live" / conf_id
        assert directory.is_dir()
        assert await asyncio.to_thread(call.setDirectBroadEx, siteUri=a.uri, action=STOP) == 0
        assert await asyncio.to_thread(call.setDirectBroadEx, siteUri=a.uri, action=STOP) == 0
        info = (await asyncio.to_thread(call.queryBroadInfoEx, siteUri=a.uri)).broadInfo
        assert (info.directBroad, info.directBroadStatus) == (1, 0)
        await asyncio.to_thread(check_stopped, base, soap.http, conf_id, url)
        await eventually(lambda: not directory.exists(), what="the stream removed")

        # refusals: a conference booked with isLiveBroadcast 0 (recording allowed), a site
        # of no conference
        other = book(server, [terminal(52).uri], cp_resource=4, is_live_broadcast=0)
        uri = terminal(52).uri
        assert await asyncio.to_thread(call.setDirectBroadEx, siteUri=uri,
                                       action=START) == LIVE_NOT_SUPPORTED
        info = (await asyncio.to_thread(call.queryBroadInfoEx, siteUri=uri)).broadInfo
        assert (info.directBroad, info.directBroadStatus, info.recordBroad) == (0, None, 1)
        assert not (server.data_dir / "live" / other).exists()
        assert await asyncio.to_thread(call.setDirectBroadEx, siteUri="0177999",
                                       action=START) != 0
    finally:
        for t in (a, b):
            await t.stop()


def test_a_server_killed_while_broadcasting_broadcasts_again(tmp_path):
    data_dir = tmp_path / "data"
    process = ServerProcess(data_dir)
    later = None
    try:
        soap = soap_clients(process.base_url)
        assert soap.login(*DEMO) == 0
        begin = datetime.now(UTC) - timedelta(minutes=1)
        booked = soap.conf_mgr.scheduleConfEx(
            scheduleConf=conference("live", begin, ["65001", "65002"]))
        assert booked.resultCode == 0
        conf_id = booked.conferenceInfo.confId
        assert soap.terminal_conf_ctrl.setDirectBroadEx(siteUri="65001", action=START) == 0
        url = live_url(process.base_url, soap.http, conf_id)
        fetch_playlist(process.base_url, url, 1, timeout=90)
        process.kill()

        later = ServerProcess(data_dir)
        soap = soap_clients(later.base_url)
        assert soap.login(*DEMO) == 0
        info = soap.terminal_conf_ctrl.queryBroadInfoEx(siteUri="65002").broadInfo
        assert (info.directBroad, info.directBroadStatus) == (1, 1)
        playlist = fetch_playlist(later.base_url, url, 1, timeout=90)  # the same URL
        assert "#EXT-X-ENDLIST" not in playlist
        assert soap.terminal_conf_ctrl.setDirectBroadEx(siteUri="65002", action=STOP) == 0
        assert anonymous().get(later.base_url + url).status_code == 401
    finally:
        process.stop()
        if later is not None:
            later.stop()
