"""The wire schema against the reference WSDL, the served WSDL, and responses validated
against the reference schema."""

from __future__ import annotations

import pytest
import requests
import xmlschema
import zeep
from lxml import etree

from gateway import wire
from gateway.services import ENDPOINTS
from tests.conftest import REFERENCE_WSDL, envelope

XSD = "http://www.w3.org/2001/XMLSchema"
WSDL = "http://schemas.xmlsoap.org/wsdl/"
SOAP_BINDING = "http://schemas.xmlsoap.org/wsdl/soap/"
NS = {"xsd": XSD, "wsdl": WSDL}

REFERENCE = etree.parse(str(REFERENCE_WSDL))
REFERENCE_SCHEMA = REFERENCE.find(".//xsd:schema", NS)


def members(schema: etree._Element, type_element: etree._Element) -> list[tuple[str, str, int, str]]:
    """(name, local type name, minOccurs, maxOccurs) of a complexType's own sequence."""
    out = []
    for element in type_element.iter(f"{{{XSD}}}element"):
        type_name = element.get("type").split(":")[-1]
        out.append(
            (element.get("name"), type_name, int(element.get("minOccurs", "1")), element.get("maxOccurs", "1"))
        )
    return out


def element_members(schema: etree._Element, name: str) -> list[tuple[str, str, int, str]]:
    element = schema.find(f"xsd:element[@name='{name}']", NS)
    assert element is not None, name
    anonymous = element.find("xsd:complexType", NS)
    if anonymous is not None:
        return members(schema, anonymous)
    named = schema.find(f"xsd:complexType[@name='{element.get('type').split(':')[-1]}']", NS)
    return members(schema, named)


def wire_members(type_info) -> list[tuple[str, str, int, str]]:
    out = []
    for name, type_ in type_info:
        attrs = type_.Attributes
        max_occurs = "unbounded" if attrs.max_occurs == float("inf") else str(attrs.max_occurs)
        out.append((name, type_.get_type_name(), attrs.min_occurs, max_occurs))
    return out


def reference_operations() -> dict[str, str]:
    return {
        operation.get("name"): port.get("name")
        for port in REFERENCE.findall("wsdl:portType", NS)
        for operation in port.findall("wsdl:operation", NS)
    }


def test_every_reference_operation_is_declared_with_its_port():
    assert {name: spec.port for name, spec in wire.OPERATIONS.items()} == reference_operations()


@pytest.mark.parametrize("name", sorted(wire.OPERATIONS))
def test_operation_members_match_the_reference(name):
    spec = wire.OPERATIONS[name]
    assert wire_members(spec.request) == element_members(REFERENCE_SCHEMA, name)
    assert wire_members(spec.response) == element_members(REFERENCE_SCHEMA, name + "Response")
    assert spec.response[0][0] == "resultCode"


@pytest.mark.parametrize(
    "type_element",
    REFERENCE_SCHEMA.findall("xsd:complexType", NS),
    ids=lambda element: element.get("name"),
)
def test_complex_types_match_the_reference(type_element):
    cls = getattr(wire, type_element.get("name"))
    assert cls.get_namespace() == wire.TNS
    own = [(k, v) for k, v in cls._type_info.items() if k not in _inherited(cls)]
    assert wire_members(own) == members(REFERENCE_SCHEMA, type_element)
    extension = type_element.find(".//xsd:extension", NS)
    if extension is not None:
        assert cls.__bases__[0].__name__ == extension.get("base").split(":")[-1]


def _inherited(cls) -> set[str]:
    base = cls.__bases__[0]
    return set(base._type_info) if base is not wire.WireType else set()


def test_error_info_keeps_the_reference_spelling():
    assert list(wire.ErrorInfoEx._type_info) == ["errCode", "discription"]
    assert "cpResouce" in wire.ConferenceInfoEx._type_info


# endpoints of the reference WSDL's operations (the platform key service has a WSDL of its
# own namespace: tests/test_platform_key.py)
SERVED = [
    (endpoint, path)
    for endpoint in ENDPOINTS
    if endpoint.services and endpoint.namespace == wire.TNS
    for path in endpoint.paths
]


@pytest.mark.parametrize(
    ("endpoint", "path"), SERVED, ids=[path for _, path in SERVED]
)
def test_served_wsdl_loads_in_zeep_and_matches_the_reference(gateway_server, endpoint, path):
    url = gateway_server.url(path)
    response = requests.get(url + "?wsdl", timeout=10)
    assert response.status_code == 200
    served = etree.fromstring(response.content)
    schema = served.find(".//xsd:schema", NS)
    assert schema.get("targetNamespace") == wire.TNS
    assert schema.get("elementFormDefault") == "unqualified"
    addresses = [a.get("location") for a in served.iter(f"{{{SOAP_BINDING}}}address")]
    assert addresses == [url]
    operations = {
        method.operation_name for service in endpoint.services for method in service.public_methods.values()
    }
    for name in operations:
        assert element_members(schema, name) == element_members(REFERENCE_SCHEMA, name)
        assert element_members(schema, name + "Response") == element_members(
            REFERENCE_SCHEMA, name + "Response"
        )
    actions = {op.get("soapAction") for op in served.iter(f"{{{SOAP_BINDING}}}operation")}
    assert actions == {wire.TNS + name for name in operations}
    client = zeep.Client(url + "?wsdl")
    port_operations = {
        name
        for service in client.wsdl.services.values()
        for port in service.ports.values()
        for name in port.binding._operations
    }
    assert port_operations == operations


# reference port -> the endpoint (WS/T 546 name) whose served WSDL lists its operations
PORT_ENDPOINTS = {
    "TP.Common": "common",
    "TPProfessional.ConfMgr": "confMgr",
    "TPProfessional.ConfCtr": "confCtrl",
    "TPProfessional.TerminalConfCtr": "confCtrl",
    "TPProfessional.SiteMgr": "siteMgr",
    "TPProfessional.MCUMgr": "mcuMgr",
    "TPProfessional.OrgaMgr": "orgaMgr",
}

def test_every_reference_operation_is_served_by_the_endpoint_of_its_port():
    assert set(PORT_ENDPOINTS) == set(reference_operations().values())
    served = {
        endpoint.name: {
            method.operation_name
            for service in endpoint.services
            for method in service.public_methods.values()
        }
        for endpoint in ENDPOINTS
        if endpoint.namespace == wire.TNS  # the key service is ours, outside the reference
    }
    expected: dict[str, set[str]] = {}
    for name, port in reference_operations().items():
        expected.setdefault(PORT_ENDPOINTS[port], set()).add(name)
    assert {name: ops for name, ops in served.items() if ops} == expected


def test_wsdl_query_is_case_insensitive(gateway_server):
    response = requests.get(gateway_server.url("/services/common?WSDL"), timeout=10)
    assert response.status_code == 200
    assert b"LoginRequest" in response.content


@pytest.fixture(scope="module")
def reference_schema() -> xmlschema.XMLSchema:
    """The schema part of the reference WSDL, on its own."""
    return xmlschema.XMLSchema(etree.tostring(REFERENCE_SCHEMA).decode())


def body_child(response: requests.Response) -> etree._Element:
    root = etree.fromstring(response.content)
    body = root[-1]
    assert body.tag.endswith("}Body")
    return body[0]


def test_common_responses_validate_against_the_reference_schema(
    gateway_server, post_raw, soap, reference_schema
):
    cookie = {"JSESSIONID": soap.session_id}
    answers = [
        post_raw(envelope("<smc:LoginRequest><userName>demo</userName></smc:LoginRequest>")),
        post_raw(envelope("<smc:LoginRequest><userName>nobody</userName></smc:LoginRequest>")),
        post_raw(envelope("<smc:Authenticate><encryptPassword>AAAA</encryptPassword></smc:Authenticate>")),
        post_raw(envelope("<smc:KeepAlive/>"), cookies=cookie),
        post_raw(envelope("<smc:KeepAlive/>")),
        post_raw(envelope("<smc:Logout/>"), cookies=cookie),
    ]
    for answer in answers:
        assert answer.status_code == 200
        element = body_child(answer)
        reference_schema.validate(etree.tostring(element).decode())
        # children unqualified, exactly as the reference declares
        assert all(etree.QName(child).namespace is None for child in element.iter() if child is not element)
