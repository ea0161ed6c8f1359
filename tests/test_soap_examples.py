"""Every request of shared/reference/soap-examples, replayed as sent (raw SOAP 1.1, and its
body again in a SOAP 1.2 envelope) with an authenticated session, at the endpoint that
serves its operation: HTTP 200, the Body's first child is `<op>Response` in the
operation's namespace with resultCode first, and every response of a reference-WSDL
operation validates against the reference schema.

The examples name conferences and sites of Huawei's lab, which do not exist here, so many
answers are refusals with their result code: what is checked is that every example is
understood and answered in the contract's shape. LoginRequest's user1 does not exist
(answered with the unknown-user code), Authenticate's proof answers a challenge of
Huawei's (wrong proof), and Logout runs on a session of its own.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import xmlschema
from lxml import etree
from zeep import Plugin

from gateway import result_codes
from gateway.wire import ALL_OPERATIONS, OPERATIONS
from tests.conftest import DEMO, SOAP_EXAMPLES, TNS, soap_clients
from tests.test_wsdl import REFERENCE_SCHEMA

SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
CONTENT_TYPES = {11: "text/xml; charset=utf-8", 12: "application/soap+xml; charset=utf-8"}

# reference portType -> the eSDK path serving it
PORT_PATHS = {
    "TP.Common": "/esdk/services/tpCommon",
    "TPProfessional.ConfMgr": "/esdk/services/tpProfessionalConfMgr",
    "TPProfessional.ConfCtr": "/esdk/services/tpProfessionalConfCtrl",
    "TPProfessional.TerminalConfCtr": "/esdk/services/tpProfessionalConfCtrl",
    "TPProfessional.SiteMgr": "/esdk/services/tpProfessionalSiteMgr",
    "PlatformKeyMgr": "/esdk/services/platformKeyMgr",
}

EXAMPLES = sorted(SOAP_EXAMPLES.glob("*.request.xml"))


def request_element(path: Path) -> etree._Element:
    root = etree.parse(str(path)).getroot()
    body = root.find(f"{{{SOAP11}}}Body")
    return next(child for child in body if isinstance(child.tag, str))


def operation_of(path: Path) -> tuple[str, str]:
    """(namespace, operation) of an example's body element."""
    name = etree.QName(request_element(path))
    return name.namespace, name.localname


def soap12_body(path: Path) -> bytes:
    """The example's body element in a SOAP 1.2 envelope."""
    envelope = etree.Element(f"{{{SOAP12}}}Envelope", nsmap={"env": SOAP12})
    etree.SubElement(envelope, f"{{{SOAP12}}}Body").append(request_element(path))
    return etree.tostring(envelope, xml_declaration=True, encoding="utf-8")


@pytest.fixture(scope="module")
def reference_schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(etree.tostring(REFERENCE_SCHEMA).decode())


def test_every_example_names_an_operation_we_serve():
    assert len(EXAMPLES) == 49  # the reference set, one request per operation
    for path in EXAMPLES:
        namespace, name = operation_of(path)
        spec = ALL_OPERATIONS.get(name)
        assert spec is not None, f"{path.name}: {name} is not served"
        assert spec.namespace == namespace, path.name


def session_for(name: str, gateway_server, post_raw) -> dict[str, str] | None:
    """The cookie an example is sent with."""
    if name == "LoginRequest":
        return None  # sent without a cookie, as a client does
    if name == "Authenticate":
        # a challenged session of ours: the example's proof answers another challenge
        clients = soap_clients(gateway_server.base_url)
        challenge = clients.common.LoginRequest(userName=DEMO[0], clientType="API", version=1)
        assert challenge.resultCode == 0
        return {"JSESSIONID": clients.session_id}
    clients = soap_clients(gateway_server.base_url)
    assert clients.login(*DEMO) == 0
    return {"JSESSIONID": clients.session_id}


EXPECTED_CODES = {
    "LoginRequest": result_codes.UNKNOWN_USER,  # user1 is Huawei's lab account
    "Authenticate": result_codes.WRONG_PASSWORD,
    "Logout": result_codes.OK,
    "KeepAlive": result_codes.OK,
    "getPublicKey": result_codes.OK,
}


@pytest.mark.parametrize("version", [11, 12], ids=["soap11", "soap12"])
@pytest.mark.parametrize("example", EXAMPLES, ids=lambda path: path.name.split(".")[0])
def test_example_is_answered_in_the_contract_shape(
    gateway_server, post_raw, reference_schema, example, version
):
    namespace, name = operation_of(example)
    spec = ALL_OPERATIONS[name]
    body = example.read_bytes() if version == 11 else soap12_body(example)
    response = post_raw(
        body,
        content_type=CONTENT_TYPES[version],
        path=PORT_PATHS[spec.port],
        cookies=session_for(name, gateway_server, post_raw),
    )
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith(CONTENT_TYPES[version].split(";")[0])
    root = etree.fromstring(response.content)
    envelope_ns = SOAP11 if version == 11 else SOAP12
    assert root.tag == f"{{{envelope_ns}}}Envelope"
    body_element = root.find(f"{{{envelope_ns}}}Body")
    answer = body_element[0]
    assert answer.tag == f"{{{namespace}}}{name}Response"
    assert answer[0].tag == "resultCode" and answer[0].text.isdigit()
    code = int(answer[0].text)
    if name in EXPECTED_CODES:
        assert code == EXPECTED_CODES[name], response.text
    assert code != result_codes.SESSION_INVALID or name == "Authenticate", response.text
    if name in OPERATIONS:
        reference_schema.validate(etree.tostring(answer).decode())
    # children unqualified, as the reference declares
    assert all(etree.QName(node).namespace is None for node in answer.iterdescendants())
    assert namespace in (TNS, "esdk_platform")


# --- successful answers, not only refusals --------------------------------------------------


class AnswerRecorder(Plugin):
    """Every response body element zeep receives, with its operation name."""

    def __init__(self) -> None:
        self.answers: list[tuple[str, etree._Element]] = []

    def ingress(self, envelope, http_headers, operation):
        body = envelope.find(f"{{{SOAP11}}}Body")
        self.answers.append((operation.name, body[0]))
        return envelope, http_headers


def test_successful_answers_validate_against_the_reference_schema(
    gateway_server, clock, reference_schema
):
    recorder = AnswerRecorder()
    soap = soap_clients(gateway_server.base_url)
    soap.client.plugins.append(recorder)
    assert soap.login(*DEMO) == 0
    begin = clock.now()  # ongoing from the booking on

    def site(uri: str) -> dict:
        return {"name": uri, "uri": uri, "type": 4, "from": 0, "dialingMode": 0, "rate": "1920k"}

    booking = {
        "name": "valid",
        "beginTime": begin,
        "duration": timedelta(hours=1),
        "mediaEncryptType": 0,
        "cpResouce": 4,
        "presentation": 0,
        "sites": [site("71001"), site("71002")],
    }
    plain = soap.conf_mgr.scheduleConfEx(scheduleConf=booking)
    conf_id = plain.conferenceInfo.confId
    series = {**booking, "sites": [site("71003")], "frequency": 1, "interval": 1}
    series.update(weekDays=[1, 3], weekDay=0, monthDay=0, count=3)
    soap.conf_mgr.scheduleRecurrenceConferenceEx(scheduleConf=series)
    soap.conf_mgr.editScheduledConfEx(editConf={**booking, "confId": conf_id, "name": "v2"})
    soap.conf_mgr.addSiteToConfEx(confId=conf_id, siteInfo=site("71004"))
    window = {"beginTime": clock.now(), "duration": timedelta(days=10)}
    uris = ["71001", "71003", "79999"]
    soap.conf_mgr.querySiteStatusEx(siteUris=uris, **window)
    soap.conf_mgr.synchSiteStatusEx(siteUris=uris, **window)
    soap.conf_mgr.querySitesEx()
    soap.conf_mgr.queryConferencesStatusEx(confIds=[conf_id, "nope"])
    soap.conf_mgr.queryConfSitesStatusEx(confId=conf_id, siteUris=[])
    soap.conf_mgr.getContinuousPresenceInfoEx(confId=conf_id)
    soap.conf_mgr.getContinuousPresenceParamEx(confId=conf_id, target="")
    # the TerminalConfCtr queries that answer more than resultCode
    soap.terminal_conf_ctrl.queryBroadInfoEx(siteUri="71001")
    soap.terminal_conf_ctrl.queryConfCtrlPwdEx(siteUri="71001")
    directory_site = {"name": "Ward", "uri": "71100", "type": 4, "rate": "768k"}
    soap.site_mgr.addSiteInfoEx(orgId="1", siteInfo=directory_site)
    page = {"numberPerPage": 10, "currentPage": 1}
    soap.site_mgr.querySitesInfoEx(
        queryConfig={"sortItems": [{"sort": 0, "itemIndex": 0}], "pageParam": page}
    )

    answered = {name: element for name, element in recorder.answers}
    for name, element in recorder.answers:
        assert element.findtext("resultCode") == "0", (name, etree.tostring(element))
        reference_schema.validate(etree.tostring(element).decode())
    assert len(answered) >= 17, sorted(answered)
