"""confCtrl (TPProfessional.ConfCtr + TerminalConfCtr) over SOAP against a running gateway:
each control's effect in later queries, each refusal's result code with nothing changed.

A conference is booked straight into the server's scheduler starting now (the server's
manual clock) with sites A and B, whose fake terminals answer at once, and C, which no
terminal registered (it stays calling). connectSitesEx starts it and brings A and B in.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from gateway import result_codes
from mcu.calls import Call
from mcu.endpoints import undeclared_device
from mcu.events import BroadcastChanged
from mcu.model import ConferenceSpec, SiteCallState, SiteSpec
from tests.conftest import envelope

A, B, C = "01010086", "01010010", "01010099"
UNKNOWN_SITE = "09999999"
UNKNOWN_CONFERENCE = "999999"

OUT_OF_RANGE = result_codes.OUT_OF_RANGE
CONFERENCE_NOT_FOUND = result_codes.CONFERENCE_NOT_FOUND
SITE_NOT_IN_CONFERENCE = 1347440644
SITE_NOT_CONNECTED = 1347440653
BAD_LAYOUT = 1347420262
CHAIR_TAKEN = 12338
NOT_CHAIR = 12313
PRESENTATION_LOCKED = 620892501
RECORDING_NOT_SUPPORTED = 570789906
LIVE_BROADCAST_NOT_SUPPORTED = 570789907

MUTED, NOT_MUTED = 0, 1  # SiteStatusEx.isMute / isQuiet (WS/T 546 table 9)


class AnsweringTerminal:
    """A registered endpoint that answers every call at once (mcu/endpoints.py Endpoint)."""

    def __init__(self, uri: str) -> None:
        self._uri = uri
        self.device = undeclared_device()

    @property
    def uri(self) -> str:
        return self._uri

    def offer_call(self, call: Call) -> None:
        call.answer(self)

    def call_ended(self, call: Call) -> None:
        pass


def book(server, uris=(A, B, C), *, starts_in=timedelta(0), **spec_fields) -> str:
    """A conference starting `starts_in` from the server's now, booked in its scheduler."""
    gateway = server.gateway
    spec = ConferenceSpec(
        name="consultation",
        begin=gateway.clock.now() + starts_in,
        duration=timedelta(hours=1),
        sites=[SiteSpec(uri, name=f"site {uri}") for uri in uris],
        **spec_fields,
    )
    return gateway.scheduler.schedule(spec).conf_id


@pytest.fixture
def terminals(gateway_server) -> None:
    for uri in (A, B):
        gateway_server.gateway.runtime.registry.register(AnsweringTerminal(uri))


@pytest.fixture
def start(gateway_server, terminals, soap) -> Callable[..., str]:
    """Book a conference starting now and connect its sites; returns its id."""

    def start_conference(uris=(A, B, C), **spec_fields) -> str:
        conf_id = book(gateway_server, uris, **spec_fields)
        assert soap.conf_mgr.connectSitesEx(confId=conf_id, siteUris=list(uris)) == 0
        return conf_id

    return start_conference


@pytest.fixture
def conf(start) -> str:
    conf_id = start()
    return conf_id


def conference_status(soap, conf_id: str):
    answer = soap.conf_mgr.queryConferencesStatusEx(confIds=[conf_id])
    assert answer.resultCode == 0
    return answer.conferenceStatuses[0]


def site_status(soap, conf_id: str, uri: str):
    answer = soap.conf_mgr.queryConfSitesStatusEx(confId=conf_id, siteUris=[uri])
    assert answer.resultCode == 0
    return answer.siteStatuses[0]


def snapshot(soap, conf_id: str) -> tuple:
    """Everything the queries say about the conference, to show a refusal changed nothing."""
    sites = soap.conf_mgr.queryConfSitesStatusEx(confId=conf_id).siteStatuses
    cp = soap.conf_mgr.getContinuousPresenceParamEx(confId=conf_id, target="0")
    return (
        str(conference_status(soap, conf_id)),
        [str(site) for site in sites],
        (cp.presenceMode, cp.subPics),
    )


def test_the_conference_runs_with_a_and_b_joined_and_c_calling(soap, conf):
    assert conference_status(soap, conf).status == 3  # ongoing
    assert site_status(soap, conf, A).status == SiteCallState.IN_CONFERENCE
    assert site_status(soap, conf, B).status == SiteCallState.IN_CONFERENCE
    assert site_status(soap, conf, C).status == SiteCallState.CALLING


# ---------------------------------------------------------------------- video source


def test_set_video_source_shows_in_site_status(soap, conf):
    answer = soap.conf_ctrl.setVideoSourceEx(confId=conf, siteUri=A, videoSourceUri=B, isLock=0)
    assert answer == 0
    assert site_status(soap, conf, A).videoSource == B
    assert site_status(soap, conf, B).videoSource is None


@pytest.mark.parametrize(
    ("conf_id", "site", "source", "code"),
    [
        (UNKNOWN_CONFERENCE, A, B, CONFERENCE_NOT_FOUND),
        (None, UNKNOWN_SITE, B, SITE_NOT_IN_CONFERENCE),
        (None, A, UNKNOWN_SITE, SITE_NOT_IN_CONFERENCE),
        (None, A, C, SITE_NOT_CONNECTED),
        (None, C, A, SITE_NOT_CONNECTED),
    ],
)
def test_set_video_source_refusals_change_nothing(soap, conf, conf_id, site, source, code):
    before = snapshot(soap, conf)
    answer = soap.conf_ctrl.setVideoSourceEx(
        confId=conf_id or conf, siteUri=site, videoSourceUri=source
    )
    assert answer == code
    assert snapshot(soap, conf) == before


# ---------------------------------------------------------------------- audio switch


def test_audio_switch_on_with_gate_then_gate_zero_keeps_it(soap, conf):
    assert soap.conf_ctrl.setAudioSwitchEx(confId=conf, switchGate=40, isSwitch=1) == 0
    status = conference_status(soap, conf)
    assert (status.isAudioSwitch, status.switchGate) == (1, 40)
    # 0 means "the default or the conference's previous setting" (WS/T 546 table 55)
    assert soap.conf_ctrl.setAudioSwitchEx(confId=conf, switchGate=0, isSwitch=1) == 0
    assert conference_status(soap, conf).switchGate == 40
    assert soap.conf_ctrl.setAudioSwitchEx(confId=conf, isSwitch=0) == 0
    status = conference_status(soap, conf)
    assert (status.isAudioSwitch, status.switchGate) == (0, 40)


@pytest.mark.parametrize("gate", [101, -1])
def test_audio_switch_gate_out_of_range_is_refused(soap, conf, gate):
    before = snapshot(soap, conf)
    assert soap.conf_ctrl.setAudioSwitchEx(confId=conf, switchGate=gate, isSwitch=1) == OUT_OF_RANGE
    assert snapshot(soap, conf) == before


def test_control_of_a_conference_not_yet_started_is_refused(soap, gateway_server, terminals):
    later = book(gateway_server, starts_in=timedelta(hours=2))
    answer = soap.conf_ctrl.setAudioSwitchEx(confId=later, switchGate=30, isSwitch=1)
    assert answer == CONFERENCE_NOT_FOUND  # 会议不存在或未在召开中
    assert conference_status(soap, later).status == 2  # still just scheduled


# ---------------------------------------------------------------------- broadcast


def test_broadcast_site_start_and_stop(soap, conf):
    assert soap.conf_ctrl.setBroadcastSiteEx(confId=conf, siteUri=A, isBroadcast=0) == 0
    assert conference_status(soap, conf).broadcast == A
    # stopping another site's broadcast leaves A's in place
    assert soap.conf_ctrl.setBroadcastSiteEx(confId=conf, siteUri=B, isBroadcast=1) == 0
    assert conference_status(soap, conf).broadcast == A
    assert soap.conf_ctrl.setBroadcastSiteEx(confId=conf, siteUri=A, isBroadcast=1) == 0
    assert conference_status(soap, conf).broadcast is None


def test_broadcast_of_a_site_not_joined_is_refused(soap, conf):
    soap.conf_ctrl.setBroadcastSiteEx(confId=conf, siteUri=A, isBroadcast=0)
    before = snapshot(soap, conf)
    assert (
        soap.conf_ctrl.setBroadcastSiteEx(confId=conf, siteUri=C, isBroadcast=0)
        == SITE_NOT_CONNECTED
    )
    answer = soap.conf_ctrl.setBroadcastSiteEx(confId=conf, siteUri=UNKNOWN_SITE, isBroadcast=0)
    assert answer == SITE_NOT_IN_CONFERENCE
    assert snapshot(soap, conf) == before


def test_broadcast_continuous_presence_replaces_the_site_broadcast(soap, conf, gateway_server):
    events = []
    unsubscribe = gateway_server.gateway.runtime.subscribe(events.append)
    try:
        soap.conf_ctrl.setBroadcastSiteEx(confId=conf, siteUri=A, isBroadcast=0)
        assert soap.conf_ctrl.setBroadcastContinuousPresenceEx(confId=conf, isBroadcast=0) == 0
        assert conference_status(soap, conf).broadcast is None
        assert soap.conf_ctrl.setBroadcastContinuousPresenceEx(confId=conf, isBroadcast=1) == 0
    finally:
        unsubscribe()
    broadcasts = [event for event in events if isinstance(event, BroadcastChanged)]
    assert [(e.site, e.continuous_presence) for e in broadcasts] == [
        (A, False),
        (None, True),
        (None, False),
    ]


def test_broadcast_continuous_presence_of_unknown_conference(soap, conf):
    answer = soap.conf_ctrl.setBroadcastContinuousPresenceEx(
        confId=UNKNOWN_CONFERENCE, isBroadcast=0
    )
    assert answer == CONFERENCE_NOT_FOUND


# ---------------------------------------------------------------------- mute / quiet


def test_mute_and_unmute_sites(soap, conf):
    assert soap.conf_ctrl.setSitesMuteEx(confId=conf, siteUris=[A, B], isMute=0) == 0
    assert site_status(soap, conf, A).isMute == MUTED
    assert site_status(soap, conf, B).isMute == MUTED
    assert soap.conf_ctrl.setSitesMuteEx(confId=conf, siteUris=[B], isMute=1) == 0
    assert site_status(soap, conf, A).isMute == MUTED
    assert site_status(soap, conf, B).isMute == NOT_MUTED


def test_mute_applies_to_a_booked_site_not_yet_joined(soap, conf):
    # the setting belongs to the site and holds when it joins
    assert soap.conf_ctrl.setSitesMuteEx(confId=conf, siteUris=[C], isMute=0) == 0
    assert site_status(soap, conf, C).isMute == MUTED


def test_mute_with_one_unknown_site_mutes_nobody(soap, conf):
    before = snapshot(soap, conf)
    answer = soap.conf_ctrl.setSitesMuteEx(confId=conf, siteUris=[A, UNKNOWN_SITE], isMute=0)
    assert answer == SITE_NOT_IN_CONFERENCE
    assert snapshot(soap, conf) == before
    assert site_status(soap, conf, A).isMute == NOT_MUTED


def test_flags_follow_the_boolean_rule(soap, conf):
    """WS/T 546 4.2.3: a value whose text begins with "1" reads as 1, any other as 0."""
    soap.conf_ctrl.setSitesMuteEx(confId=conf, siteUris=[A], isMute=0)
    assert soap.conf_ctrl.setSitesMuteEx(confId=conf, siteUris=[A], isMute=15) == 0
    assert site_status(soap, conf, A).isMute == NOT_MUTED
    assert soap.conf_ctrl.setSitesMuteEx(confId=conf, siteUris=[A], isMute=2) == 0
    assert site_status(soap, conf, A).isMute == MUTED


def test_quiet_and_unquiet_sites(soap, conf):
    assert soap.conf_ctrl.setSitesQuietEx(confId=conf, siteUris=[A], isQuiet=0) == 0
    assert site_status(soap, conf, A).isQuiet == MUTED
    assert site_status(soap, conf, B).isQuiet == NOT_MUTED
    assert soap.conf_ctrl.setSitesQuietEx(confId=conf, siteUris=[A], isQuiet=1) == 0
    assert site_status(soap, conf, A).isQuiet == NOT_MUTED
    before = snapshot(soap, conf)
    answer = soap.conf_ctrl.setSitesQuietEx(confId=UNKNOWN_CONFERENCE, siteUris=[A], isQuiet=0)
    assert answer == CONFERENCE_NOT_FOUND
    assert snapshot(soap, conf) == before


# ---------------------------------------------------------------------- continuous presence


def test_continuous_presence_shows_in_its_parameters(soap, conf):
    answer = soap.conf_ctrl.setContinuousPresenceEx(
        confId=conf, target="0", presenceMode=2, subPics=[A, B]
    )
    assert answer == 0
    cp = soap.conf_mgr.getContinuousPresenceParamEx(confId=conf, target="0")
    assert (cp.presenceMode, cp.subPics) == (2, [A, B])
    # the aux stream of a site, and a site's own picture
    answer = soap.conf_ctrl.setContinuousPresenceEx(
        confId=conf, target=f"({A})", presenceMode=3, subPics=[f"{B}(%AUX1)", A]
    )
    assert answer == 0
    cp = soap.conf_mgr.getContinuousPresenceParamEx(confId=conf, target=f"({A})")
    assert (cp.presenceMode, cp.subPics) == (3, [f"{B}(%AUX1)", A])


@pytest.mark.parametrize(
    ("target", "mode", "pics", "code"),
    [
        ("0", 50, [A], BAD_LAYOUT),  # no mode 50 (table 63: 0..49)
        ("0", -1, [], BAD_LAYOUT),
        ("0", 47, [A], BAD_LAYOUT),  # CP_16_1 needs more than cpResouce 4
        (f"({UNKNOWN_SITE})", 2, [A], SITE_NOT_IN_CONFERENCE),
        ("3", 2, [A], 1347424259),  # group N: not supported
    ],
)
def test_continuous_presence_refusals_change_nothing(soap, conf, target, mode, pics, code):
    soap.conf_ctrl.setContinuousPresenceEx(confId=conf, target="0", presenceMode=1, subPics=[A])
    before = snapshot(soap, conf)
    answer = soap.conf_ctrl.setContinuousPresenceEx(
        confId=conf, target=target, presenceMode=mode, subPics=pics
    )
    assert answer == code
    assert snapshot(soap, conf) == before


@pytest.mark.parametrize(
    ("mode", "pics", "kept"),
    [
        (1, [A, B], [A]),  # CP_1_1: one pane
        (2, [A, B, C], [A, B]),  # CP_2_1: two panes
        (0, [A, B], []),  # CP_None: its one pane is voice-switched, it takes no subPics
    ],
)
def test_sub_pics_beyond_the_modes_panes_are_dropped(soap, conf, mode, pics, kept):
    """The mode decides the picture; entries past its last pane have no pane: the request
    succeeds and the picture keeps the panes the mode has (docs/gateway.md)."""
    answer = soap.conf_ctrl.setContinuousPresenceEx(
        confId=conf, target="0", presenceMode=mode, subPics=pics
    )
    assert answer == 0
    cp = soap.conf_mgr.getContinuousPresenceParamEx(confId=conf, target="0")
    assert (cp.presenceMode, cp.subPics or []) == (mode, kept)


# ---------------------------------------------------------------------- chair and floor


def test_conference_chair_request_and_release(soap, conf):
    assert soap.conf_ctrl.requestConfChairEx(confId=conf, chairmanUri=A) == 0
    assert conference_status(soap, conf).chair == A
    before = snapshot(soap, conf)
    assert soap.conf_ctrl.requestConfChairEx(confId=conf, chairmanUri=B) == CHAIR_TAKEN
    assert soap.conf_ctrl.requestConfChairEx(confId=conf, chairmanUri=C) == SITE_NOT_CONNECTED
    assert snapshot(soap, conf) == before
    assert soap.conf_ctrl.releaseConfChairEx(confId=conf) == 0
    assert conference_status(soap, conf).chair is None
    assert soap.conf_ctrl.releaseConfChairEx(confId=UNKNOWN_CONFERENCE) == CONFERENCE_NOT_FOUND


def test_terminal_chair_request_and_release(soap, conf):
    assert soap.terminal_conf_ctrl.requestChairEx(siteUri=B) == 0
    assert conference_status(soap, conf).chair == B
    before = snapshot(soap, conf)
    assert soap.terminal_conf_ctrl.releaseChairEx(siteUri=A) == NOT_CHAIR
    assert soap.terminal_conf_ctrl.requestChairEx(siteUri=A) == CHAIR_TAKEN
    assert soap.terminal_conf_ctrl.requestChairEx(siteUri=UNKNOWN_SITE) == SITE_NOT_IN_CONFERENCE
    assert snapshot(soap, conf) == before
    assert soap.terminal_conf_ctrl.releaseChairEx(siteUri=B) == 0
    assert conference_status(soap, conf).chair is None


def test_floor_broadcasts_the_site_and_opens_its_microphone(soap, conf):
    soap.conf_ctrl.setSitesMuteEx(confId=conf, siteUris=[B], isMute=0)
    assert soap.conf_ctrl.setFloorEx(confId=conf, siteUri=B) == 0
    assert conference_status(soap, conf).broadcast == B
    assert site_status(soap, conf, B).isMute == NOT_MUTED
    before = snapshot(soap, conf)
    assert soap.conf_ctrl.setFloorEx(confId=conf, siteUri=C) == SITE_NOT_CONNECTED
    assert snapshot(soap, conf) == before


# ---------------------------------------------------------------------- volume, local video


def test_site_volume(soap, conf):
    volumes = [{"siteUri": A, "volume": 80}, {"siteUri": B, "volume": 0}]
    assert soap.conf_ctrl.setConfSiteVolumeEx(confId=conf, siteVolumes=volumes) == 0
    assert site_status(soap, conf, A).volume == 80
    assert site_status(soap, conf, B).volume == 0


@pytest.mark.parametrize(
    ("volumes", "code"),
    [
        ([{"siteUri": A, "volume": 20}, {"siteUri": B, "volume": 101}], OUT_OF_RANGE),
        ([{"siteUri": A, "volume": -5}], OUT_OF_RANGE),
        (
            [{"siteUri": A, "volume": 20}, {"siteUri": UNKNOWN_SITE, "volume": 20}],
            SITE_NOT_IN_CONFERENCE,
        ),
    ],
)
def test_site_volume_refusals_change_nothing(soap, conf, volumes, code):
    before = snapshot(soap, conf)
    assert soap.conf_ctrl.setConfSiteVolumeEx(confId=conf, siteVolumes=volumes) == code
    assert snapshot(soap, conf) == before


def test_hide_and_display_local_video(soap, conf):
    assert soap.conf_ctrl.hideConfSiteLocalVideoEx(confId=conf, siteUris=[A]) == 0
    assert site_status(soap, conf, A).isLocalVideoOpen == 0
    assert site_status(soap, conf, B).isLocalVideoOpen == 1
    assert soap.conf_ctrl.displayConfSiteLocalVideoEx(confId=conf, siteUris=[A]) == 0
    assert site_status(soap, conf, A).isLocalVideoOpen == 1
    before = snapshot(soap, conf)
    answer = soap.conf_ctrl.hideConfSiteLocalVideoEx(confId=conf, siteUris=[B, UNKNOWN_SITE])
    assert answer == SITE_NOT_IN_CONFERENCE
    assert snapshot(soap, conf) == before


# ---------------------------------------------------------------------- presentation


def test_lock_and_unlock_presentation(soap, conf):
    assert soap.conf_ctrl.lockPresentationEx(confId=conf, siteUri=A) == 0
    status = conference_status(soap, conf)
    assert (status.presentation, status.isLockPresentation, status.lockPresentation) == (A, 1, A)
    before = snapshot(soap, conf)
    assert soap.conf_ctrl.lockPresentationEx(confId=conf, siteUri=B) == PRESENTATION_LOCKED
    assert soap.conf_ctrl.lockPresentationEx(confId=conf, siteUri=C) == SITE_NOT_CONNECTED
    assert snapshot(soap, conf) == before
    assert soap.conf_ctrl.unlockPresentationEx(confId=conf) == 0
    status = conference_status(soap, conf)
    # unlocked is the default: both members are left out (docs/gateway.md, answers shaped
    # like the reference)
    assert (status.isLockPresentation, status.lockPresentation) == (None, None)
    assert soap.conf_ctrl.lockPresentationEx(confId=conf, siteUri=B) == 0
    assert conference_status(soap, conf).lockPresentation == B


# ---------------------------------------------------------------------- record / live broadcast


def test_recording_and_live_broadcast_show_in_broad_info(soap, start):
    start(is_recording=1, is_live_broadcast=1)
    info = soap.terminal_conf_ctrl.queryBroadInfoEx(siteUri=A)
    assert info.resultCode == 0
    assert (info.broadInfo.recordBroad, info.broadInfo.recordBroadStatus) == (1, 0)
    assert (info.broadInfo.directBroad, info.broadInfo.directBroadStatus) == (1, 0)
    assert soap.terminal_conf_ctrl.setRecordBroadEx(siteUri=A, action=0) == 0
    assert soap.terminal_conf_ctrl.setDirectBroadEx(siteUri=B, action=0) == 0
    info = soap.terminal_conf_ctrl.queryBroadInfoEx(siteUri=B).broadInfo
    assert (info.recordBroadStatus, info.directBroadStatus) == (1, 1)
    assert soap.terminal_conf_ctrl.setDirectBroadEx(siteUri=A, action=1) == 0
    info = soap.terminal_conf_ctrl.queryBroadInfoEx(siteUri=A).broadInfo
    assert (info.recordBroadStatus, info.directBroadStatus) == (1, 0)


def test_recording_refused_where_the_conference_was_booked_without_it(soap, start):
    start(is_recording=0, is_live_broadcast=0)
    assert soap.terminal_conf_ctrl.setRecordBroadEx(siteUri=A, action=0) == RECORDING_NOT_SUPPORTED
    assert (
        soap.terminal_conf_ctrl.setDirectBroadEx(siteUri=A, action=0)
        == LIVE_BROADCAST_NOT_SUPPORTED
    )
    info = soap.terminal_conf_ctrl.queryBroadInfoEx(siteUri=A).broadInfo
    # no status where the feature is not supported (WS/T 546 table 12)
    assert (info.recordBroad, info.directBroad) == (0, 0)
    assert (info.recordBroadStatus, info.directBroadStatus) == (None, None)


def test_terminal_operations_on_a_site_in_no_conference(soap, conf):
    for answer in (
        soap.terminal_conf_ctrl.setRecordBroadEx(siteUri=UNKNOWN_SITE, action=0),
        soap.terminal_conf_ctrl.queryBroadInfoEx(siteUri=UNKNOWN_SITE).resultCode,
        soap.terminal_conf_ctrl.queryConfCtrlPwdEx(siteUri=UNKNOWN_SITE).resultCode,
    ):
        assert answer == SITE_NOT_IN_CONFERENCE


def test_conference_control_password_is_reported_not_revealed(soap, start):
    start(chairman_password="654321")
    answer = soap.terminal_conf_ctrl.queryConfCtrlPwdEx(siteUri=A)
    assert (answer.resultCode, answer.result) == (0, "1")


# ---------------------------------------------------------------------- SOAP-level refusals


def _post_ctrl(post_raw, soap, body: str, path: str = "/services/confCtrl"):
    return post_raw(envelope(body), path=path, cookies={"JSESSIONID": soap.session_id})


@pytest.mark.parametrize(
    "body",
    [
        # wrong type, empty value, missing required member
        "<smc:setSitesMuteEx><confId>{conf}</confId><siteUris>{a}</siteUris>"
        "<isMute>yes</isMute></smc:setSitesMuteEx>",
        "<smc:setSitesMuteEx><confId>{conf}</confId><siteUris>{a}</siteUris>"
        "<isMute></isMute></smc:setSitesMuteEx>",
        "<smc:setSitesMuteEx><confId>{conf}</confId><isMute>0</isMute></smc:setSitesMuteEx>",
        "<smc:setFloorEx><confId>{conf}</confId></smc:setFloorEx>",
    ],
)
def test_bad_parameters_are_soap_client_faults(soap, conf, post_raw, body):
    before = snapshot(soap, conf)
    response = _post_ctrl(post_raw, soap, body.format(conf=conf, a=A))
    assert response.status_code == 500
    assert b"Client" in response.content and b"Fault" in response.content
    assert snapshot(soap, conf) == before


def test_wst546_path_serves_the_operations(soap, conf, post_raw):
    body = f"<smc:setFloorEx><confId>{conf}</confId><siteUri>{A}</siteUri></smc:setFloorEx>"
    response = _post_ctrl(post_raw, soap, body, "/services/confCtrl")
    assert response.status_code == 200
    assert b"<resultCode>0</resultCode>" in response.content
    assert conference_status(soap, conf).broadcast == A


def test_without_a_session_nothing_changes(conf, soap, post_raw):
    body = f"<smc:setFloorEx><confId>{conf}</confId><siteUri>{A}</siteUri></smc:setFloorEx>"
    response = post_raw(envelope(body), path="/services/confCtrl")
    assert f"<resultCode>{result_codes.SESSION_INVALID}</resultCode>".encode() in response.content
    assert conference_status(soap, conf).broadcast is None


def test_sub_pics_naming_no_site_of_the_conference_are_kept_as_placeholder_panes(soap, conf):
    # empty or unknown entries leave a pane on a "no video" placeholder
    answer = soap.conf_ctrl.setContinuousPresenceEx(
        confId=conf, target="0", presenceMode=2, subPics=[UNKNOWN_SITE, A]
    )
    assert answer == 0
    cp = soap.conf_mgr.getContinuousPresenceParamEx(confId=conf, target="0")
    assert (cp.presenceMode, cp.subPics) == (2, [UNKNOWN_SITE, A])
