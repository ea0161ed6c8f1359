"""siteMgr over SOAP against a running gateway: a joined site's inputs, aux stream, video
outputs and camera, answered from what its terminal declared and acted on in its conference;
the site directory (add / edit / delete / querySitesInfoEx with filters, sorting, paging),
persisted by the scheduler's store. Refusals answer their code and change nothing."""

from __future__ import annotations

import pytest
import xmlschema
from lxml import etree

from gateway import result_codes
from mcu.errors import Fault
from mcu.live_conference import CameraCommand
from mcu.store import Store
from tests.conftest import SOAP_EXAMPLES, envelope
from tests.test_conf_ctrl import (
    OUT_OF_RANGE,
    PRESENTATION_LOCKED,
    SITE_NOT_CONNECTED,
    AnsweringTerminal,
    book,
    conference_status,
)
from tests.test_soap_examples import AnswerRecorder
from tests.test_wsdl import REFERENCE_SCHEMA

A, B, C = "01010086", "01010010", "01010099"
SITE_EXISTS = 1344274457
SITE_NOT_FOUND = result_codes.SITE_NOT_FOUND
NOT_SUPPORTED = 1347424259
MISSING_PARAMETER = result_codes.MISSING_PARAMETER
SOURCE_NOT_CONNECTED = 14600  # 视频源不存在
NO_CAMERA = 1353741318
FAR_END_UNAVAILABLE = 100687873


@pytest.fixture
def runtime(gateway_server):
    return gateway_server.gateway.runtime


@pytest.fixture
def conf(gateway_server, runtime, soap) -> str:
    """A conference running now: A and B joined (answering terminals), C calling."""
    for uri in (A, B):
        runtime.registry.register(AnsweringTerminal(uri))
    conf_id = book(gateway_server, (A, B, C))
    assert soap.conf_mgr.connectSitesEx(confId=conf_id, siteUris=[A, B, C]) == 0
    return conf_id


# ---------------------------------------------------------------------- terminal queries


def test_inputs_answer_what_the_terminal_declared(soap, conf):
    aux = soap.site_mgr.queryAuxStreamSourcesEx(siteUri=A)
    assert aux.resultCode == 0
    assert [(port.id, port.name) for port in aux.auxStreams] == [
        (1, "HD-DVI/SXGA/YPrPb IN 1"),
        (2, "SD-CVBS IN 1"),
        (4, "HD-DVI/SXGA/YPrPb IN 2"),
    ]
    main = soap.site_mgr.queryMainStreamSourcesEx(siteUri=A)
    assert [port.id for port in main.auxStreams] == [0, 1, 2, 4]
    states = soap.site_mgr.queryVideoOutSrcStateEx(siteUri=A).videoSourcesInfos
    assert [(s.sourcesId, s.sourcesState) for s in states] == [(0, 1), (1, 1), (2, 0), (4, 0)]
    assert soap.site_mgr.isConnectAuxSourceEx(siteUri=A).result == 1
    version = soap.site_mgr.querySiteVersionInfoEx(siteUri=A)
    assert version.resultCode == 0
    assert version.siteDeviceVersionInfo.model == "MCU-SIM Terminal"
    assert version.siteDeviceVersionInfo.manufacturer == "mcu-sim"


TERMINAL_QUERIES = ("queryAuxStreamSourcesEx", "queryMainStreamSourcesEx",
                    "queryVideoOutSrcStateEx", "isConnectAuxSourceEx", "isSendAuxStreamEx",
                    "isReceiveRemAuxStrmEx", "querySiteVersionInfoEx")


def test_terminal_query_answers_validate_against_the_reference_schema(soap, conf):
    recorder = AnswerRecorder()
    soap.client.plugins.append(recorder)
    try:
        for operation in TERMINAL_QUERIES:
            getattr(soap.site_mgr, operation)(siteUri=A)
    finally:
        soap.client.plugins.remove(recorder)
    schema = xmlschema.XMLSchema(etree.tostring(REFERENCE_SCHEMA).decode())
    assert [name for name, _ in recorder.answers] == list(TERMINAL_QUERIES)
    for name, element in recorder.answers:
        assert element.findtext("resultCode") == "0", name
        schema.validate(etree.tostring(element).decode())


def test_queries_of_a_site_no_terminal_registered(soap, conf):
    assert soap.site_mgr.queryAuxStreamSourcesEx(siteUri=C).resultCode == SITE_NOT_CONNECTED
    assert soap.site_mgr.querySiteVersionInfoEx(siteUri=C).resultCode == SITE_NOT_CONNECTED
    assert soap.site_mgr.isConnectAuxSourceEx(siteUri=C).resultCode == SITE_NOT_CONNECTED


NOWHERE = "07654321"  # not registered, booked in no conference, not in the directory
SITE_COMMANDS = {
    "setAuxStreamEx": {"controlCode": 0},
    "setVideoOutSrcEx": {"hdOut": 0, "videoSrc": 0},
    "ctrlCameraEx": {"cameraControl": {"camState": 1, "camAction": 4, "camPos": 255, "camSrc": 1}},
    "setMainAuxStreamSourcesEx": {"localMainSrcs": [0], "localAuxSrc": 1},
}


def result_of(answer) -> int:
    return answer if isinstance(answer, int) else answer.resultCode


def test_a_uri_known_nowhere_is_the_unknown_site_code(soap, conf):
    """Every site operation on a URI no part of the platform knows answers "site does not
    exist" (570789896), not "not joined" / "not in a conference"."""
    for operation in TERMINAL_QUERIES:
        answer = getattr(soap.site_mgr, operation)(siteUri=NOWHERE)
        assert result_of(answer) == SITE_NOT_FOUND, operation
    for operation, arguments in SITE_COMMANDS.items():
        answer = getattr(soap.site_mgr, operation)(siteUri=NOWHERE, **arguments)
        assert result_of(answer) == SITE_NOT_FOUND, operation


def test_a_known_site_that_is_offline_keeps_its_codes(soap, conf, gateway_server, runtime):
    """Known but not reachable: booked (C, calling, no terminal), in the directory only, or
    registered but in no conference: the not-joined / not-in-conference codes stay."""
    site_not_in_conference = result_codes.result_code(Fault.SITE_NOT_IN_CONFERENCE)
    assert soap.site_mgr.querySiteVersionInfoEx(siteUri=C).resultCode == SITE_NOT_CONNECTED
    assert soap.site_mgr.isSendAuxStreamEx(siteUri=C).resultCode == SITE_NOT_CONNECTED
    listed = "01055253"
    assert soap.site_mgr.addSiteInfoEx(orgId="1", siteInfo=terminal(listed, "Ward 3")) == 0
    assert soap.site_mgr.querySiteVersionInfoEx(siteUri=listed).resultCode == SITE_NOT_CONNECTED
    answer = soap.site_mgr.isSendAuxStreamEx(siteUri=listed)
    assert answer.resultCode == site_not_in_conference
    registered = "01055254"
    runtime.registry.register(AnsweringTerminal(registered))
    assert soap.site_mgr.querySiteVersionInfoEx(siteUri=registered).resultCode == 0
    answer = soap.site_mgr.isSendAuxStreamEx(siteUri=registered)
    assert answer.resultCode == site_not_in_conference


# ---------------------------------------------------------------------- aux stream


def test_aux_stream_start_and_stop(soap, conf):
    assert soap.site_mgr.setAuxStreamEx(siteUri=A, controlCode=0) == 0
    # isSendAuxStreamEx and isReceiveRemAuxStrmEx answer from the media: these sites have no
    # media path (no peer connection), so A holds the floor but sends nothing and nothing
    # reaches B's second stream (with real terminals both answer 1:
    # tests/test_content_floor.py, tests/test_content_stream.py)
    assert soap.site_mgr.isSendAuxStreamEx(siteUri=A).result == 0
    assert soap.site_mgr.isReceiveRemAuxStrmEx(siteUri=B).result == 0
    assert soap.site_mgr.isReceiveRemAuxStrmEx(siteUri=A).result == 0
    assert conference_status(soap, conf).presentation == A
    assert soap.site_mgr.setAuxStreamEx(siteUri=A, controlCode=1) == 0
    assert soap.site_mgr.isSendAuxStreamEx(siteUri=A).result == 0
    assert soap.site_mgr.isReceiveRemAuxStrmEx(siteUri=B).result == 0
    assert conference_status(soap, conf).presentation is None


def test_aux_stream_refused_while_another_site_holds_the_lock(soap, conf):
    assert soap.conf_ctrl.lockPresentationEx(confId=conf, siteUri=B) == 0
    assert soap.site_mgr.setAuxStreamEx(siteUri=A, controlCode=0) == PRESENTATION_LOCKED
    assert soap.site_mgr.isSendAuxStreamEx(siteUri=A).result == 0
    assert conference_status(soap, conf).presentation == B
    assert soap.site_mgr.setAuxStreamEx(siteUri=C, controlCode=0) == SITE_NOT_CONNECTED


# ---------------------------------------------------------------------- outputs and sources


def test_video_output_source(soap, conf, runtime):
    assert soap.site_mgr.setVideoOutSrcEx(siteUri=A, hdOut=0, videoSrc=2) == 0
    assert soap.site_mgr.setVideoOutSrcEx(siteUri=A, hdOut=0, videoSrc=3) == 0
    assert runtime.devices.video_outputs(A) == {0: 3}
    # 6 (SD2) is an hdOut number but not a screen of A's terminal (the undeclared device's
    # one screen is HD1)
    for hd_out, video_src in ((7, 0), (-1, 0), (0, 4), (6, 0)):
        answer = soap.site_mgr.setVideoOutSrcEx(siteUri=A, hdOut=hd_out, videoSrc=video_src)
        assert answer == OUT_OF_RANGE
    assert soap.site_mgr.setVideoOutSrcEx(siteUri=C, hdOut=0, videoSrc=0) == SITE_NOT_CONNECTED
    assert runtime.devices.video_outputs(A) == {0: 3}


def test_main_and_aux_stream_sources(soap, conf, runtime):
    answer = soap.site_mgr.setMainAuxStreamSourcesEx(siteUri=A, localMainSrcs=[0, 1], localAuxSrc=1)
    assert answer == 0
    assert runtime.devices.stream_sources(A) == ((0, 1), 1)
    # input 0 cannot feed the aux stream; input 9 does not exist
    for main, aux in (([1], 0), ([9], 1)):
        answer = soap.site_mgr.setMainAuxStreamSourcesEx(
            siteUri=A, localMainSrcs=main, localAuxSrc=aux
        )
        assert answer == OUT_OF_RANGE
    # inputs 2 and 4 may feed either stream but nothing is plugged into them
    for main, aux in (([0], 4), ([0, 2], 1)):
        answer = soap.site_mgr.setMainAuxStreamSourcesEx(
            siteUri=A, localMainSrcs=main, localAuxSrc=aux
        )
        assert answer == SOURCE_NOT_CONNECTED
    assert runtime.devices.stream_sources(A) == ((0, 1), 1)


# ---------------------------------------------------------------------- camera


def camera(cam_state=1, action=4, position=255, source=0) -> dict:
    return {"camState": cam_state, "camAction": action, "camPos": position, "camSrc": source}


def test_camera_command_of_the_reference_example(soap, conf, runtime):
    """The reference's request (far-end zoom in on camSrc 1): the far end is the site A
    watches; input 1 of the simulated device is its PC, not a camera."""
    reference = camera(source=1)
    assert soap.site_mgr.ctrlCameraEx(siteUri=A, cameraControl=reference) == FAR_END_UNAVAILABLE
    assert soap.conf_ctrl.setVideoSourceEx(confId=conf, siteUri=A, videoSourceUri=B,
                                          isLock=0) == 0
    assert soap.site_mgr.ctrlCameraEx(siteUri=A, cameraControl=reference) == NO_CAMERA
    assert soap.site_mgr.ctrlCameraEx(siteUri=A, cameraControl=camera()) == 0
    assert runtime.devices.camera_state(A).last_command == CameraCommand(1, 4, None, 0)


@pytest.mark.parametrize(
    ("control", "code"),
    [
        (camera(cam_state=2), OUT_OF_RANGE),
        (camera(action=24), OUT_OF_RANGE),
        (camera(action=22), NOT_SUPPORTED),
        (camera(action=4, position=5), OUT_OF_RANGE),  # camPos is 255 for non-preset actions
        (camera(action=18, position=255), OUT_OF_RANGE),  # preset positions 0..254
        (camera(action=18, position=None), MISSING_PARAMETER),
        (camera(source=9), OUT_OF_RANGE),  # no input 9 on the terminal
        (camera(source=4), NO_CAMERA),  # nothing plugged into input 4
        (camera(cam_state=0, source=1), NO_CAMERA),  # A's input 1 is its PC
    ],
)
def test_camera_refusals_change_nothing(soap, conf, runtime, control, code):
    assert soap.conf_ctrl.setVideoSourceEx(confId=conf, siteUri=A, videoSourceUri=B,
                                          isLock=0) == 0
    assert soap.site_mgr.ctrlCameraEx(siteUri=A, cameraControl=camera(0, 18, 7, 0)) == 0
    before = repr(runtime.devices.camera_state(A))
    assert soap.site_mgr.ctrlCameraEx(siteUri=A, cameraControl=control) == code
    assert repr(runtime.devices.camera_state(A)) == before


def test_camera_control_without_cam_state(soap, conf, runtime, post_raw):
    """A nested required member (CameraControlEx.camState) is the parameter code, not a
    SOAP fault: the SOAP layer checks the operation's own parameters."""
    body = (
        f"<smc:ctrlCameraEx><siteUri>{A}</siteUri><cameraControl><camAction>4</camAction>"
        "<camPos>255</camPos><camSrc>1</camSrc></cameraControl></smc:ctrlCameraEx>"
    )
    response = post_raw(
        envelope(body), path="/services/siteMgr", cookies={"JSESSIONID": soap.session_id}
    )
    assert f"<resultCode>{MISSING_PARAMETER}</resultCode>".encode() in response.content
    assert runtime.devices.camera_state(A).last_command is None


def test_camera_of_a_site_not_joined(soap, conf):
    assert soap.site_mgr.ctrlCameraEx(siteUri=C, cameraControl=camera()) == SITE_NOT_CONNECTED


# ---------------------------------------------------------------------- the site directory


def terminal(uri: str, name: str, site_type: int = 4, rate: str | None = "1920", **more) -> dict:
    return {"name": name, "uri": uri, "type": site_type, "rate": rate, **more}


def capability(protocol: int, *formats: int) -> dict:
    return {"videoProtocol": protocol, "videoFormat": list(formats)}


DIRECTORY = [
    terminal("01055254", "VCT254", 4, "384", videoCapbility=[capability(3, 3)]),
    terminal("01010086", "VCT205", 7, "1920", videoCapbility=[capability(3, 2)]),
    terminal("01055253", "vct253", 4, "768"),
    terminal("01010010", "VCT206", 7, None, videoCapbility=[capability(2, 1)]),
    terminal("02000001", "Ward 3", 9, "1920"),
]


@pytest.fixture
def directory(soap) -> list[dict]:
    for site in DIRECTORY:
        assert soap.site_mgr.addSiteInfoEx(orgId="1", siteInfo=site) == 0
    return DIRECTORY


def query(soap, *, sort=(), filters=(), per_page=10, page=1, focus=None):
    answer = soap.site_mgr.querySitesInfoEx(
        queryConfig={
            "sortItems": [{"sort": order, "itemIndex": column} for column, order in sort],
            "filters": list(filters),
            "focusItem": focus,
            "pageParam": {"numberPerPage": per_page, "currentPage": page},
        }
    )
    return answer


def uris_of(answer) -> list[str]:
    return [site.uri for site in answer.sites or []]


def string_filter(soap, column: int, value: str):
    return soap.client.get_type("{http://smc.huawei.com/}StringFilterEx")(
        columnIndex=column, value=value
    )


def int_filter(soap, column: int, above: int, below: int, equal: int):
    return soap.client.get_type("{http://smc.huawei.com/}IntFilterEx")(
        columnIndex=column, greaterThan=above, lessThan=below, equalTo=equal
    )


def test_added_sites_are_listed_and_persisted(soap, directory, gateway_settings):
    answer = query(soap)
    assert answer.resultCode == 0
    assert uris_of(answer) == sorted(site["uri"] for site in DIRECTORY)
    (vct254,) = [site for site in answer.sites if site.uri == "01055254"]
    assert (vct254.name, vct254.type, vct254.rate) == ("VCT254", 4, "384")
    assert [(c.videoProtocol, c.videoFormat) for c in vct254.videoCapbility] == [(3, [3])]
    page = answer.pageInfo
    assert (page.totalPages, page.currentPage, page.totalRecords) == (1, 1, 5)
    # the confMgr's directory listing is the same directory
    listed = soap.conf_mgr.querySitesEx().siteInfos
    assert {site.uri for site in listed} == {site["uri"] for site in DIRECTORY}
    store = Store(gateway_settings.data_dir / "mcu.sqlite3")
    try:
        assert {site.uri for site in store.load().directory} == {s["uri"] for s in DIRECTORY}
    finally:
        store.close()


def test_filter_sort_and_page(soap, directory):
    names_desc = [(0, 1)]
    answer = query(soap, sort=names_desc, filters=[string_filter(soap, 0, "vct2")], per_page=3)
    assert [site.name for site in answer.sites] == ["VCT254", "vct253", "VCT206"]
    assert (answer.pageInfo.totalPages, answer.pageInfo.totalRecords) == (2, 4)
    answer = query(
        soap, sort=names_desc, filters=[string_filter(soap, 0, "vct2")], per_page=3, page=2
    )
    assert [site.name for site in answer.sites] == ["VCT205"]
    # past the last page: no sites, true totals
    answer = query(soap, per_page=3, page=3)
    assert uris_of(answer) == []
    assert (answer.pageInfo.totalPages, answer.pageInfo.totalRecords) == (2, 5)


def test_sort_by_several_columns_and_missing_values_last(soap, directory):
    # type ascending, then rate descending; VCT206 has no rate
    answer = query(soap, sort=[(2, 0), (3, 1)])
    assert [site.name for site in answer.sites] == [
        "vct253",
        "VCT254",
        "VCT205",
        "VCT206",
        "Ward 3",
    ]
    answer = query(soap, sort=[(4, 1)])  # videoProtocol descending, none last
    assert [site.name for site in answer.sites][:3] == ["VCT205", "VCT254", "VCT206"]


def test_int_filters_range_or_equality(soap, directory):
    sip_only = int_filter(soap, 2, 0, 0, 7)  # empty range: equality alone
    assert sorted(uris_of(query(soap, filters=[sip_only]))) == ["01010010", "01010086"]
    above_sip = int_filter(soap, 2, 7, 100, -1)
    assert uris_of(query(soap, filters=[above_sip])) == ["02000001"]
    both = [string_filter(soap, 1, "0105"), int_filter(soap, 2, 0, 0, 4)]
    assert uris_of(query(soap, filters=both)) == ["01055253", "01055254"]


@pytest.mark.parametrize(
    "make_query",
    [
        lambda soap: query(soap, per_page=0),
        lambda soap: query(soap, page=0),
        lambda soap: query(soap, sort=[(7, 0)]),  # columns are 0..6
        lambda soap: query(soap, sort=[(0, 2)]),
        lambda soap: query(soap, focus=-1),
        lambda soap: query(soap, filters=[string_filter(soap, 9, "x")]),
        lambda soap: query(soap, filters=[int_filter(soap, 0, 0, 10, 1)]),  # name is no int
        lambda soap: query(
            soap,
            filters=[
                soap.client.get_type("{http://smc.huawei.com/}DoubleFilterEx")(
                    columnIndex=2, greaterThan=0.0, lessThan=1.0, equalTo=0.5
                )
            ],
        ),
    ],
)
def test_bad_queries_are_out_of_range(soap, directory, make_query):
    assert make_query(soap).resultCode == OUT_OF_RANGE


def test_edit_site(soap, directory):
    edited = terminal("01055253", "VCT253 ward", 7, "1920", videoCapbility=[capability(3, 6)])
    assert soap.site_mgr.editSiteInfoEx(siteInfo=edited) == 0
    (site,) = query(soap, filters=[string_filter(soap, 1, "01055253")]).sites
    assert (site.name, site.type, site.rate) == ("VCT253 ward", 7, "1920")
    assert [(c.videoProtocol, c.videoFormat) for c in site.videoCapbility] == [(3, [6])]


def test_delete_sites(soap, directory):
    assert soap.site_mgr.deleteSiteInfoEx(siteUris=["01055253", "01055254"]) == 0
    assert uris_of(query(soap)) == ["01010010", "01010086", "02000001"]


def test_delete_with_one_unknown_uri_deletes_nothing(soap, directory):
    assert soap.site_mgr.deleteSiteInfoEx(siteUris=["01055253", "07777777"]) == SITE_NOT_FOUND
    assert len(uris_of(query(soap))) == len(DIRECTORY)


@pytest.mark.parametrize(
    ("call", "code"),
    [
        (lambda s: s.addSiteInfoEx(orgId="1", siteInfo=terminal("01010086", "again")), SITE_EXISTS),
        (lambda s: s.editSiteInfoEx(siteInfo=terminal("07777777", "nobody")), SITE_NOT_FOUND),
        (lambda s: s.addSiteInfoEx(orgId="1", siteInfo=terminal("03", "t", 0)), OUT_OF_RANGE),
        (lambda s: s.addSiteInfoEx(orgId="1", siteInfo=terminal("03", "t", 10)), OUT_OF_RANGE),
        (lambda s: s.addSiteInfoEx(orgId="1", siteInfo=terminal("03", "  ")), MISSING_PARAMETER),
        (lambda s: s.addSiteInfoEx(orgId=" ", siteInfo=terminal("03", "t")), MISSING_PARAMETER),
        (
            lambda s: s.addSiteInfoEx(
                orgId="1", siteInfo=terminal("03", "t", videoCapbility=[capability(3, 99)])
            ),
            OUT_OF_RANGE,
        ),
        (
            lambda s: s.addSiteInfoEx(
                orgId="1",
                siteInfo=terminal("03", "t", videoCapbility=[capability(3, 2), capability(2, 1)]),
            ),
            NOT_SUPPORTED,
        ),
        (
            lambda s: s.addSiteInfoEx(orgId="1", siteInfo=terminal("03", "t", regUser="sip")),
            NOT_SUPPORTED,
        ),
        (
            lambda s: s.editSiteInfoEx(
                siteInfo=terminal("01010086", "VCT205", 7, "x", regPassword="p")
            ),
            NOT_SUPPORTED,
        ),
    ],
)
def test_directory_refusals_change_nothing(soap, directory, call, code):
    before = str(query(soap))
    assert call(soap.site_mgr) == code
    assert str(query(soap)) == before


def test_site_mgr_answers_on_the_wst546_path(soap, directory, post_raw):
    body = "<smc:deleteSiteInfoEx><siteUris>02000001</siteUris></smc:deleteSiteInfoEx>"
    response = post_raw(
        envelope(body), path="/services/siteMgr", cookies={"JSESSIONID": soap.session_id}
    )
    assert b"<resultCode>0</resultCode>" in response.content
    assert "02000001" not in uris_of(query(soap))


def test_conference_control_needs_no_directory_entry(soap, conf):
    # booked sites are controlled whether or not the directory lists them
    assert query(soap).pageInfo.totalRecords == 0
    assert soap.site_mgr.setAuxStreamEx(siteUri=B, controlCode=0) == 0


EXAMPLE_OPERATIONS = {
    "/services/confCtrl": (
        "setVideoSourceEx setAudioSwitchEx setBroadcastSiteEx setBroadcastContinuousPresenceEx "
        "setSitesMuteEx setSitesQuietEx setContinuousPresenceEx SetFloorEx SetConfSiteVolumeEx "
        "DisplayConfSiteLocalVideoEx HideConfSiteLocalVideoEx requestChairEx releaseChairEx "
        "setRecordBroadEx setDirectBroadEx queryBroadInfoEx queryConfCtrlPwdEx"
    ).split(),
    "/services/siteMgr": (
        "setAuxStreamEx queryAuxStreamSourcesEx queryVideoOutSrcStateEx setVideoOutSrcEx "
        "ctrlCameraEx queryMainStreamSourcesEx setMainAuxStreamSourcesEx isSendAuxStreamEx "
        "isReceiveRemAuxStrmEx isConnectAuxSourceEx querySiteVersionInfoEx"
    ).split(),
}


@pytest.mark.parametrize(
    ("path", "example"),
    [(path, name) for path, names in EXAMPLE_OPERATIONS.items() for name in names],
)
def test_reference_examples_are_accepted(soap, post_raw, path, example):
    """Each reference request parses and gets a coded answer (its conference and sites do
    not exist here, so the code is the refusal's, never a SOAP fault)."""
    body = (SOAP_EXAMPLES / f"{example}.request.xml").read_bytes()
    response = post_raw(body, path=path, cookies={"JSESSIONID": soap.session_id})
    assert response.status_code == 200, response.text
    assert b"<resultCode>" in response.content
