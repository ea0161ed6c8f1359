"""videoProtocol and mediaEncryptType honoured for WebRTC sites (through zeep from the
reference WSDL, with real simulated terminals):
- a site booked H.261, H.263 or H.265, which a WebRTC terminal cannot receive, is not
  silently sent H.264: dialled out it ends not joined with callFailedReason 131088 (as
  queryConfSitesStatusEx answers it), dialling in it is refused with the same reason;
- a WebRTC site joins DTLS-SRTP under mediaEncryptType 0 and 1 and, exempt, under 2: the
  site status reports the negotiated protection and the exemption while it is in
  conference, and its call detail record keeps them after it ended; a mediaEncryptType past
  the table is refused at booking time with the out-of-range code;
- the rule itself (rtp/encryption_policy.py) for every row of its table, the SIP outcomes
  included (a peer that offers plain RTP and/or SDES-SRTP).
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest

from gateway import result_codes
from gateway.signalling import SIGNALLING
from mcu.errors import Fault
from mcu.layouts import layout_mode
from mcu.model import MediaEncryptType
from rtc.h264_levels import ProfileLevelId
from rtc.sdp_fmtp import codec_parameters
from rtc.signalling import Capabilities
from rtp.encryption_policy import ENCRYPTION_MISMATCH, MediaSecurity, PeerOffer, decide
from terminals.client import CallRefused, SimulatedTerminal
from tests.conftest import SoapClients
from tests.test_cdr import IN_CONFERENCE, SMALL, eventually, ws_url

NOT_JOINED = 3
CODEC_MISMATCH = 131088
OUT_OF_RANGE = result_codes.result_code(Fault.OUT_OF_RANGE)
ESDK_PROTOCOLS = {"H.261": 1, "H.263": 2, "H.264": 3, "H.265": 5}


def terminal(uri: str, index: int) -> SimulatedTerminal:
    return SimulatedTerminal(uri=uri, name=f"Site {uri}", site_index=index, ring_delay_s=0.1,
                             capabilities=Capabilities(video_codecs=["H264", "VP8"]),
                             video_format=SMALL, loop_frames=30, analyse_every=1 << 30,
                             decode_video=False)


def booking(begin: datetime, uri: str, *, protocol: int = 3, encrypt: int = 0,
            dial_in: bool = False) -> dict:
    return {
        "name": "booked", "beginTime": begin, "duration": timedelta(hours=1),
        "mediaEncryptType": encrypt, "cpResouce": 4, "presentation": 0,
        "sites": [{"name": f"Site {uri}", "uri": uri, "type": 7, "from": 0,
                   "dialingMode": 1 if dial_in else 0, "videoFormat": 1,
                   "videoProtocol": protocol}],
    }


def book(soap: SoapClients, begin: datetime, uri: str, **fields) -> str:
    answer = soap.conf_mgr.scheduleConfEx(scheduleConf=booking(begin, uri, **fields))
    assert answer.resultCode == 0, answer.resultCode
    return answer.conferenceInfo.confId


def site_status(soap: SoapClients, conf_id: str, uri: str):
    answer = soap.conf_mgr.queryConfSitesStatusEx(confId=conf_id, siteUris=[uri])
    assert answer.resultCode == 0
    return answer.siteStatuses[0]


@pytest.mark.parametrize("protocol", ["H.261", "H.263", "H.265"])
async def test_a_dialled_webrtc_site_booked_with_a_protocol_it_lacks_fails_131088(
        gateway_server, soap, clock, protocol: str) -> None:
    t = terminal(f"01886{ESDK_PROTOCOLS[protocol]}0", 44)
    await t.start(ws_url(gateway_server.base_url))
    try:
        conf_id = await asyncio.to_thread(book, soap, clock.now(), t.uri,
                                          protocol=ESDK_PROTOCOLS[protocol])

        async def failed():
            return (await asyncio.to_thread(site_status, soap, conf_id, t.uri))

        deadline = asyncio.get_running_loop().time() + 20
        status = await failed()
        while status.status != NOT_JOINED or status.callFailedReason is None:
            assert asyncio.get_running_loop().time() < deadline, status
            await asyncio.sleep(0.2)
            status = await failed()
        assert status.callFailedReason.errCode == CODEC_MISMATCH
        assert f"booked {protocol}" in status.callFailedReason.discription
        assert "WebRTC" in status.callFailedReason.discription
        assert t.state == "idle" and t.sdp_received is None  # never invited with H.264
    finally:
        await t.stop()


async def test_a_webrtc_site_booked_h263_dialling_in_is_refused_131088(
        gateway_server, soap, clock) -> None:
    t = terminal("0188620", 45)
    await t.start(ws_url(gateway_server.base_url))
    try:
        conf_id = await asyncio.to_thread(book, soap, clock.now(), t.uri,
                                          protocol=ESDK_PROTOCOLS["H.263"], dial_in=True)
        runtime = gateway_server.gateway.runtime
        await eventually(lambda: conf_id in runtime.conferences.ids(), "conference started")
        conference = runtime.scheduler.get(conf_id)
        with pytest.raises(CallRefused, match="booked H.263"):
            await t.join(conference.access_code, conference.password or "")
        status = await asyncio.to_thread(site_status, soap, conf_id, t.uri)
        assert status.status == NOT_JOINED
        assert status.callFailedReason.errCode == CODEC_MISMATCH
    finally:
        await t.stop()


@pytest.mark.parametrize(("encrypt", "exempt"), [(0, False), (1, False), (2, True)],
                         ids=["auto", "force", "none"])
async def test_a_webrtc_site_reports_its_dtls_srtp_under_each_encrypt_type(
        gateway_server, soap, clock, encrypt: int, exempt: bool) -> None:
    t = terminal(f"018870{encrypt}", 46 + encrypt)
    await t.start(ws_url(gateway_server.base_url))
    try:
        began = clock.now()
        conf_id = await asyncio.to_thread(book, soap, began, t.uri, encrypt=encrypt)
        runtime = gateway_server.gateway.runtime
        await eventually(lambda: runtime.status.site_statuses(conf_id)[0].state.value
                         == IN_CONFERENCE, "in conference")
        assert (await asyncio.to_thread(site_status, soap, conf_id, t.uri)).status == 2
        (status,) = runtime.status.site_statuses(conf_id)
        assert status.media is not None
        assert (status.media.encryption, status.media.encryption_exempt) == ("DTLS-SRTP", exempt)
        assert status.media.video_codec == "H264"
        assert status.media.video_profile == "constrained-baseline"
        # the call really is DTLS-SRTP: its transport's DTLS state
        (session,) = runtime.registry.lookup(t.uri).sessions.values()
        (transceiver, *_) = session.pc.getTransceivers()
        assert transceiver.sender.transport.state == "connected"

        assert await asyncio.to_thread(
            soap.conf_mgr.disconnectSitesEx, confId=conf_id, siteUris=[t.uri]) == 0
        await eventually(lambda: t.state == "idle", "hung up")
        (record,) = runtime.call_records.multipoint(
            began - timedelta(minutes=1), timedelta(days=1), t.uri, 10, 1).records
        assert (record.media.encryption, record.media.encryption_exempt) == (
            "DTLS-SRTP", exempt)
    finally:
        await t.stop()


def test_a_media_encrypt_type_past_the_table_is_refused_at_booking(soap, clock) -> None:
    answer = soap.conf_mgr.scheduleConfEx(
        scheduleConf=booking(clock.now() + timedelta(days=1), "0188800", encrypt=3))
    assert answer.resultCode == OUT_OF_RANGE


PLAIN = PeerOffer(plain=True)
SDES = PeerOffer(sdes_srtp=True)
SDES_OR_PLAIN = PeerOffer(sdes_srtp=True, plain=True)
WEBRTC = PeerOffer.webrtc()


@pytest.mark.parametrize(("booked", "offer", "security", "exempt"), [
    (MediaEncryptType.AUTO, WEBRTC, MediaSecurity.DTLS_SRTP, False),
    (MediaEncryptType.AUTO, SDES, MediaSecurity.SDES_SRTP, False),
    (MediaEncryptType.AUTO, SDES_OR_PLAIN, MediaSecurity.SDES_SRTP, False),
    (MediaEncryptType.AUTO, PLAIN, MediaSecurity.PLAIN, False),
    (MediaEncryptType.FORCE, WEBRTC, MediaSecurity.DTLS_SRTP, False),
    (MediaEncryptType.FORCE, SDES_OR_PLAIN, MediaSecurity.SDES_SRTP, False),
    (MediaEncryptType.NONE, SDES_OR_PLAIN, MediaSecurity.PLAIN, False),
    (MediaEncryptType.NONE, PLAIN, MediaSecurity.PLAIN, False),
    (MediaEncryptType.NONE, WEBRTC, MediaSecurity.DTLS_SRTP, True),
])
def test_the_encryption_rule_accepts(booked, offer, security, exempt) -> None:
    protection = decide(booked, offer)
    assert (protection.security, protection.exempt, protection.refusal) == (
        security, exempt, None)


@pytest.mark.parametrize(("booked", "offer", "words"), [
    (MediaEncryptType.FORCE, PLAIN, "forces encryption"),
    (MediaEncryptType.NONE, SDES, "only encrypted media"),
    (MediaEncryptType.AUTO, PeerOffer(), "no media protection"),
    (MediaEncryptType.FORCE, PeerOffer(), "forces encryption"),
])
def test_the_encryption_rule_refuses_with_12378(booked, offer, words: str) -> None:
    protection = decide(booked, offer)
    assert protection.security is None and protection.refusal is not None
    assert protection.refusal.code == ENCRYPTION_MISMATCH == 12378
    assert words in protection.refusal.description
    assert f"mediaEncryptType {int(booked)}" in protection.refusal.description


def decoding_terminal(uri: str, index: int) -> SimulatedTerminal:
    return SimulatedTerminal(uri=uri, name=f"Site {uri}", site_index=index, ring_delay_s=0.1,
                             capabilities=Capabilities(video_codecs=["H264", "VP8"]),
                             video_format=SMALL, loop_frames=30, analyse_every=1 << 30)


@pytest.mark.parametrize("dial_in", [False, True], ids=["dial-out", "dial-in"])
async def test_a_site_booked_h264_hp_receives_high_profile_beside_a_baseline_one(
        gateway_server, soap, clock, dial_in: bool) -> None:
    """Booked H.264 HP (eSDK 4): the MCU's SDP states High (profile_idc 100) and its stream's
    SPS is High; a site booked H.264 (3) watching the same picture at the same format gets
    Constrained Baseline from an encoder of its own (one per profile). Both decode the
    other's marker."""
    high = decoding_terminal(f"018890{int(dial_in)}", 50)
    base = decoding_terminal(f"018891{int(dial_in)}", 51)
    everyone = (high, base)
    for t in everyone:
        await t.start(ws_url(gateway_server.base_url))
    try:
        info = booking(clock.now(), high.uri, protocol=4, dial_in=dial_in)
        info["sites"].append({**info["sites"][0], "name": f"Site {base.uri}", "uri": base.uri,
                              "dialingMode": 0, "videoProtocol": 3})
        answer = await asyncio.to_thread(soap.conf_mgr.scheduleConfEx, scheduleConf=info)
        assert answer.resultCode == 0
        conf_id = answer.conferenceInfo.confId
        runtime = gateway_server.gateway.runtime
        if dial_in:
            await eventually(lambda: conf_id in runtime.conferences.ids(), "started")
            conference = runtime.scheduler.get(conf_id)
            await high.join(conference.access_code, conference.password or "")
        await eventually(lambda: all(s.state.value == IN_CONFERENCE
                                     for s in runtime.status.site_statuses(conf_id)),
                         "both in conference")
        stated = codec_parameters(high.sdp_received, "video", "H264")
        assert stated is not None
        assert ProfileLevelId.parse(str(stated["profile-level-id"])).profile_idc == 100
        await eventually(lambda: high.video.received_sps is not None
                         and base.video.received_sps is not None, "SPSs received")
        assert high.video.received_sps.profile_idc == 100  # High
        assert base.video.received_sps.profile_level_id.startswith("42c0")  # Constr. Baseline
        statuses = {s.uri: s for s in runtime.status.site_statuses(conf_id)}
        assert statuses[high.uri].media.video_profile == "high"
        assert statuses[base.uri].media.video_profile == "constrained-baseline"
        shown = await asyncio.to_thread(
            soap.conf_ctrl.setContinuousPresenceEx, confId=conf_id, target="0",
            presenceMode=layout_mode("CP_2_1").value, subPics=[high.uri, base.uri])
        assert shown == 0
        for viewer in everyone:
            viewer.set_panes([tuple(pane.as_floats()) for pane in layout_mode("CP_2_1").panes])
            deadline = asyncio.get_running_loop().time() + 30
            seen: list[int | None] = []
            while seen != [high.site_index, base.site_index]:
                assert asyncio.get_running_loop().time() < deadline, (viewer.uri, seen)
                await asyncio.sleep(0.3)
                seen = [p.site_index for p in await viewer.read_panes()]
        media = gateway_server.app[SIGNALLING].engine.conferences[conf_id]
        profiles = sorted(str(key.format.profile) for key in media.groups)
        assert profiles == ["None", "high"]  # one encoder per profile
    finally:
        for t in everyone:
            await t.stop()
