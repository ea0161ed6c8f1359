"""Levels and codec choice against the real server, booked through zeep: the SDP the MCU
sends (dial-out offer, dial-in answer) states the H.264 level of the booked format, the SPS
of the stream the terminal receives says the same, and the frame is within that level;
dial-in and dial-out both honour the booked videoProtocol and the registered audio codecs,
and a terminal without the booked protocol is refused with a codec mismatch."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest

from mcu.media.stream_limits import OPUS_FMTP
from rtc.codec_preferences import negotiated_codec, offered_codec_names
from rtc.h264_levels import LEVELS_BY_IDC, ProfileLevelId, fits
from rtc.sdp_fmtp import codec_parameters
from rtc.signalling import Capabilities
from terminals.client import CallRefused, SimulatedTerminal
from terminals.media_sources import VideoFormat as SentVideo
from tests.conftest import SoapClients
from tests.test_cdr import IN_CONFERENCE, SMALL, eventually, ws_url

ESDK_H264, ESDK_AUTO = 3, 0
NOT_JOINED = 3


def terminal(uri: str, index: int, capabilities: Capabilities | None = None,
             video: SentVideo = SMALL) -> SimulatedTerminal:
    return SimulatedTerminal(uri=uri, name=f"Site {uri}", site_index=index, ring_delay_s=0.1,
                             capabilities=capabilities, video_format=video, loop_frames=30,
                             analyse_every=1 << 30, decode_video=False)


def book(soap: SoapClients, begin: datetime, uri: str, video_format: int, dialing_mode: int,
         video_protocol: int = ESDK_H264) -> str:
    answer = soap.conf_mgr.scheduleConfEx(scheduleConf={
        "name": "levels", "beginTime": begin, "duration": timedelta(hours=1),
        "mediaEncryptType": 0, "cpResouce": 4, "presentation": 0,
        "sites": [{"name": f"Site {uri}", "uri": uri, "type": 7, "from": 0,
                   "dialingMode": dialing_mode, "videoFormat": video_format,
                   "videoProtocol": video_protocol}],
    })
    assert answer.resultCode == 0
    return answer.conferenceInfo.confId


async def start_booked(gateway_server, soap, clock, t: SimulatedTerminal, video_format: int,
                       dial_in: bool, video_protocol: int = ESDK_H264) -> str:
    await t.start(ws_url(gateway_server.base_url))
    conf_id = await asyncio.to_thread(book, soap, clock.now(), t.uri, video_format, 1 if dial_in else 0,
                                      video_protocol)
    runtime = gateway_server.gateway.runtime
    if dial_in:
        conference = runtime.scheduler.get(conf_id)
        await eventually(lambda: conf_id in runtime.conferences.ids(), "conference started")
        await t.join(conference.access_code, conference.password or "")
    return conf_id


@pytest.mark.parametrize("dial_in", [False, True], ids=["dial-out", "dial-in"])
@pytest.mark.parametrize(("video_format", "size", "level"), [
    (1, (704, 576), 31),     # 4CIF at 30 fps: 47520 MB/s, above level 3.0
    (2, (1280, 720), 31),
    (3, (1920, 1080), 40),
], ids=["4CIF", "720p30", "1080p30"])
async def test_sdp_level_matches_the_sps_sent(gateway_server, soap, clock, dial_in: bool,
                                             video_format: int, size: tuple[int, int],
                                             level: int) -> None:
    t = terminal(f"01990{video_format}{int(dial_in)}", 50 + video_format,
                 Capabilities(video_codecs=["VP8", "H264"]))
    try:
        conf_id = await start_booked(gateway_server, soap, clock, t, video_format, dial_in)
        runtime = gateway_server.gateway.runtime
        await eventually(lambda: all(s.state.value == IN_CONFERENCE
                                     for s in runtime.status.site_statuses(conf_id)),
                         "in conference")
        mcu_sdp = t.sdp_received
        assert mcu_sdp is not None and t.sdp_sent is not None
        # booked H.264: chosen although the terminal prefers VP8, in both directions
        assert negotiated_codec(t.sdp_sent if not dial_in else mcu_sdp, "video") == "H264"
        assert t.stats().video_codec == "H264"
        params = codec_parameters(mcu_sdp, "video", "H264")
        assert params is not None
        stated = ProfileLevelId.parse(str(params["profile-level-id"]))
        assert stated.constrained_baseline and stated.level_idc == level
        await eventually(lambda: t.video.received_sps is not None, "an SPS received")
        sps = t.video.received_sps
        assert sps is not None
        assert sps.profile_level_id == params["profile-level-id"]  # byte for byte
        assert (sps.width, sps.height) == size
        assert fits(LEVELS_BY_IDC[sps.level_idc], sps.width, sps.height, 30, 0)
        # Opus as the MCU sends it; the terminal's own SDP states its level (640x360 at 15 fps: 920 MBs, level 2.2)
        opus = codec_parameters(mcu_sdp, "audio", "OPUS")
        assert opus is not None
        assert {k: str(opus[k]) for k in OPUS_FMTP} == {k: str(v) for k, v in OPUS_FMTP.items()}
        own = codec_parameters(t.sdp_sent, "video", "H264")
        assert own is not None and str(own["profile-level-id"]).endswith("16")
    finally:
        await t.stop()


async def test_dial_in_answers_with_the_registered_audio_codecs_in_their_order(
        gateway_server, soap, clock) -> None:
    t = terminal("0199101", 60, Capabilities(video_codecs=["H264", "VP8"],
                                            audio_codecs=["PCMU", "opus"]))
    try:
        await start_booked(gateway_server, soap, clock, t, 2, dial_in=True,
                           video_protocol=ESDK_AUTO)
        answer = t.sdp_received
        assert answer is not None
        assert offered_codec_names(answer, "audio") == ["PCMU", "OPUS"]
        assert negotiated_codec(answer, "audio") == "PCMU"
        assert negotiated_codec(answer, "video") == "H264"  # auto: the MCU's preference
    finally:
        await t.stop()


@pytest.mark.parametrize("dial_in", [False, True], ids=["dial-out", "dial-in"])
async def test_terminal_without_the_booked_protocol_is_refused(gateway_server, soap, clock,
                                                              dial_in: bool) -> None:
    t = terminal(f"019920{int(dial_in)}", 61, Capabilities(video_codecs=["VP8"]))
    try:
        if dial_in:
            with pytest.raises(CallRefused, match="codec mismatch: booked H.264"):
                await start_booked(gateway_server, soap, clock, t, 2, dial_in=True)
            conf_id = next(iter(gateway_server.gateway.runtime.conferences.ids()))
        else:
            conf_id = await start_booked(gateway_server, soap, clock, t, 2, dial_in=False)
        runtime = gateway_server.gateway.runtime

        def failure():
            (status,) = runtime.status.site_statuses(conf_id)
            return status

        await eventually(lambda: failure().state.value == NOT_JOINED and failure().call_failed_reason is not None,
                         "not joined with a reason")
        assert failure().call_failed_reason.code == 131088  # capability exchange failed
        assert "codec mismatch" in failure().call_failed_reason.description
    finally:
        await t.stop()


async def test_booked_auto_lets_a_vp8_terminal_in(gateway_server, soap, clock) -> None:
    t = terminal("0199300", 62, Capabilities(video_codecs=["VP8"]))
    try:
        await start_booked(gateway_server, soap, clock, t, 2, dial_in=True,
                           video_protocol=ESDK_AUTO)
        assert t.sdp_received is not None
        assert negotiated_codec(t.sdp_received, "video") == "VP8"
        params = codec_parameters(t.sdp_received, "video", "VP8")
        assert params is not None and (params["max-fs"], params["max-fr"]) == (3600, 30)
    finally:
        await t.stop()
