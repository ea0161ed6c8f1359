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

from pathlib import Path

import pytest
import xmlschema
from lxml import etree

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
    "esdk_platform": "/esdk/services/tpCommon",
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
