"""Fuzzing the SOAP door: request bodies generated from the reference WSDL's own types,
then mutated, posted raw to the running server (both URI sets, SOAP 1.1 and 1.2).

The generator walks reference/esdk_tp_professional.wsdl's XSD with lxml: for every
operation of its port types, the request element with each member its declared number of
times (optional ones sometimes left out, lists of 0..2), typed values (xsd:int, string,
dateTime, duration, double, base64Binary; a FilterBaseEx as one of its extensions with
xsi:type) and strings often taken from what the server holds (conference ids, URIs, access
codes), so that requests reach past "not found". Then 0..3 mutations: a member dropped,
duplicated or emptied, an unknown element added, a value replaced by a wrong-typed, huge,
unicode, control-character, overflowing or malformed-date text, an unknown xsi:type.

Properties, for every request:
- never a Server fault (SOAP 1.1 Server / 1.2 Receiver) and never an HTTP 500 that is not a
  Client fault (SOAP 1.1 sends every fault with 500, as its binding says); the answer is a
  SOAP document;
- the server still answers: a KeepAlive on the fuzzing session answers 0 after it;
- a refused request (a fault, or a non-zero resultCode) changed nothing stored: every row of
  the SQLite store's tables (mcu/store.py; call records aside, see TABLES) is the same
  before and after.

LoginRequest, Authenticate and Logout are posted without the session cookie (they would
otherwise end the fuzzing session, or lock its user out); every other operation with it.
Profiles (example counts): tests/fuzz_profiles.py; `make fuzz` runs many more.
"""

from __future__ import annotations

import base64
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import pytest
import requests
from hypothesis import event, given
from hypothesis import strategies as st
from lxml import etree

from app.process import RunningServer
from gateway.services import ENDPOINTS
from mcu.clock import ManualClock
from tests.conftest import REFERENCE_WSDL, TNS, SoapClients

XSD = "http://www.w3.org/2001/XMLSchema"
WSDL = "http://schemas.xmlsoap.org/wsdl/"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
SOAP11_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12_ENV = "http://www.w3.org/2003/05/soap-envelope"

# posted without the fuzzing session's cookie (see the module docstring)
SESSIONLESS = frozenset({"LoginRequest", "Authenticate", "Logout"})

SOAP_PATHS = tuple(path for endpoint in ENDPOINTS for path in endpoint.paths)


# --- the reference WSDL's types -------------------------------------------------------------


@dataclass(frozen=True)
class Member:
    """One xsd:element of a sequence: its name, type (local name; xsd types as "xsd:int"),
    and occurrences (max_occurs None: unbounded)."""

    name: str
    type: str
    min_occurs: int
    max_occurs: int | None


@dataclass
class Schema:
    operations: dict[str, list[Member]] = field(default_factory=dict)  # request element
    types: dict[str, list[Member]] = field(default_factory=dict)  # complex type -> members
    derived: dict[str, list[str]] = field(default_factory=dict)  # base -> its extensions


def _type_name(qname: str) -> str:
    prefix, _, local = qname.rpartition(":")
    return f"xsd:{local}" if prefix == "xsd" else local


def _members(sequence_holder: etree._Element) -> list[Member]:
    members = []
    for element in sequence_holder.iterfind(f"{{{XSD}}}sequence/{{{XSD}}}element"):
        high = element.get("maxOccurs", "1")
        members.append(Member(
            element.get("name", ""), _type_name(element.get("type", "xsd:string")),
            int(element.get("minOccurs", "1")), None if high == "unbounded" else int(high),
        ))
    return members


def read_schema(path: Path) -> Schema:
    tree = etree.parse(str(path))
    schema = Schema()
    xsd = tree.find(f"{{{WSDL}}}types/{{{XSD}}}schema")
    assert xsd is not None
    for complex_type in xsd.iterfind(f"{{{XSD}}}complexType"):
        name = complex_type.get("name", "")
        extension = complex_type.find(f"{{{XSD}}}complexContent/{{{XSD}}}extension")
        if extension is None:
            schema.types[name] = _members(complex_type)
            continue
        base = _type_name(extension.get("base", ""))
        schema.derived.setdefault(base, []).append(name)
        schema.types[name] = [("base", base), *_members(extension)]  # type: ignore[list-item]
    for name, members in list(schema.types.items()):  # extensions: the base's members first
        if members and isinstance(members[0], tuple):
            base = members[0][1]
            schema.types[name] = schema.types[base] + members[1:]
    elements = {element.get("name"): element for element in xsd.iterfind(f"{{{XSD}}}element")}
    messages = {
        message.get("name"): message.find(f"{{{WSDL}}}part").get("element", "")
        for message in tree.iterfind(f"{{{WSDL}}}message")
    }
    for operation in tree.iterfind(f"{{{WSDL}}}portType/{{{WSDL}}}operation"):
        request = operation.find(f"{{{WSDL}}}input")
        assert request is not None
        element_name = messages[request.get("message", "").split(":", 1)[1]].split(":", 1)[1]
        holder = elements[element_name].find(f"{{{XSD}}}complexType")
        schema.operations[element_name] = _members(holder) if holder is not None else []
    return schema


SCHEMA = read_schema(REFERENCE_WSDL)


# --- generated requests -------------------------------------------------------------------


@dataclass
class Node:
    """An element of a generated request: leaf text, or children (and maybe an xsi:type)."""

    tag: str
    text: str | None = None
    children: list[Node] = field(default_factory=list)
    xsi_type: str | None = None

    def walk(self) -> list[Node]:
        nodes = [self]
        for child in self.children:
            nodes.extend(child.walk())
        return nodes

    def xml(self) -> str:
        attributes = f' xsi:type="{escape(self.xsi_type)}"' if self.xsi_type else ""
        inner = escape(self.text) if self.text is not None else "".join(
            child.xml() for child in self.children)
        return f"<{self.tag}{attributes}>{inner}</{self.tag}>"


@dataclass
class Known:
    """Values the server holds, drawn often so requests reach past "not found"."""

    strings: list[str]


def known_or(known: Known, other: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(known.strings), other) if known.strings else other


_DATES = st.datetimes(
    min_value=datetime(2025, 6, 1),
    max_value=datetime(2027, 12, 31),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=8)), timezone(timedelta(hours=-5))]),
)


def leaf_text(type_name: str, known: Known) -> st.SearchStrategy[str]:
    if type_name == "xsd:int":
        return st.one_of(st.integers(0, 12), st.integers(-(2**31), 2**31 - 1)).map(str)
    if type_name == "xsd:double":
        return st.floats(allow_nan=False, allow_infinity=False, width=32).map(repr)
    if type_name == "xsd:dateTime":
        return _DATES.map(lambda value: value.isoformat(timespec="milliseconds"))
    if type_name == "xsd:duration":
        return st.integers(0, 24 * 60).map(lambda minutes: f"PT{minutes}M")
    if type_name == "xsd:base64Binary":
        return st.binary(max_size=48).map(lambda data: base64.b64encode(data).decode())
    return known_or(known, st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs")),
                                   max_size=24))


@st.composite
def node_of(draw: st.DrawFn, tag: str, type_name: str, known: Known, depth: int = 0) -> Node:
    if type_name.startswith("xsd:") or type_name not in SCHEMA.types:
        return Node(tag, text=draw(leaf_text(type_name, known)))
    xsi_type = None
    if type_name in SCHEMA.derived:  # an abstract-like base (FilterBaseEx): one extension
        type_name = draw(st.sampled_from(SCHEMA.derived[type_name]))
        xsi_type = f"smc:{type_name}"
    node = Node(tag, xsi_type=xsi_type)
    node.children = draw(members_of(SCHEMA.types[type_name], known, depth + 1))
    return node


@st.composite
def members_of(draw: st.DrawFn, members: list[Member], known: Known, depth: int) -> list[Node]:
    children = []
    for member in members:
        high = member.max_occurs if member.max_occurs is not None else 2
        high = min(high, 2) if depth < 4 else member.min_occurs
        count = draw(st.integers(member.min_occurs, max(member.min_occurs, high)))
        for _ in range(count):
            children.append(draw(node_of(member.name, member.type, known, depth)))
    return children


NASTY_TEXTS = st.sampled_from([
        "", " ", "-1", "-2147483649", "2147483648", "99999999999999999999999999", "1e309",
        "NaN", "INF", "0x10", "1.5", "true", "0001-01-01T00:00:00", "9999-12-31T23:59:59Z",
        "10000-01-01T00:00:00Z", "2026-13-45T25:61:00", "2026-02-30T00:00:00", "yesterday",
        "P-1D", "PT99999999999999999999H", "P", "\u202e\u0645\u0631\u062d\u0628\u0627",
        "\U0001f600" * 40, "\x01\x02", "a\x00b", "&#1;", "]]>", " padded ", "\ufeff1",
])
SHORT_JUNK = st.one_of(NASTY_TEXTS, st.text(max_size=64))  # any code point: controls too
JUNK_TEXT = st.one_of(SHORT_JUNK, st.integers(1, 300_000).map(lambda size: "A" * size))


@dataclass
class Mutated:
    text: str  # the operation element's XML
    note: list[str]


@st.composite
def request_of(draw: st.DrawFn, operation: str, known: Known) -> Mutated:
    root = Node(f"smc:{operation}")
    root.children = draw(members_of(SCHEMA.operations[operation], known, 0))
    notes: list[str] = []
    for _ in range(draw(st.integers(0, 3))):
        nodes = root.walk()
        target = draw(st.sampled_from(nodes))
        kind = draw(st.sampled_from(
            ["drop", "dup", "extra", "empty", "retext", "retext", "as_text", "xsi"]))
        parent = next((node for node in nodes if target in node.children), None)
        if kind == "drop" and parent is not None:
            parent.children.remove(target)
        elif kind == "dup" and parent is not None:
            parent.children.insert(parent.children.index(target), target)
        elif kind == "extra":
            holder = target if target.text is None else (parent or root)
            holder.children.append(Node("fuzzUnknown", text=draw(SHORT_JUNK)))
        elif kind == "empty":
            target.children, target.text = [], None
        elif kind == "retext" or kind == "as_text":
            target.children, target.text = [], draw(JUNK_TEXT)
        elif kind == "xsi":
            target.xsi_type = draw(st.sampled_from(
                ["smc:NoSuchTypeEx", "smc:StringFilterEx", "xsd:int", "no:prefix", ""]))
        else:
            continue
        notes.append(f"{kind} {target.tag}")
    return Mutated(root.xml(), notes)


def envelope(inner: str, version: int) -> bytes:
    env = SOAP11_ENV if version == 11 else SOAP12_ENV
    text = (f'<env:Envelope xmlns:env="{env}" xmlns:smc="{TNS}" xmlns:xsi="{XSI}">'
            f"<env:Header/><env:Body>{inner}</env:Body></env:Envelope>")
    # a lone surrogate goes out as the invalid UTF-8 a careless client would send
    return text.encode("utf-8", "surrogatepass")


# --- the store, before and after ----------------------------------------------------------

# Every table of mcu/store.py but call_records: a call detail record is written when a call
# ends, which the ongoing conference's calls do on their own timers (a site that does not
# answer), whatever request happens to be in flight.
TABLES = ("meta", "conferences", "directory", "tombstones")


def store_snapshot(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table of the store, read through a read-only connection."""
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return {
            table: connection.execute(f"SELECT * FROM {table} ORDER BY rowid").fetchall()
            for table in TABLES
        }
    finally:
        connection.close()


# --- checking an answer -------------------------------------------------------------------


@dataclass
class Outcome:
    refused: bool
    description: str


def judge(response: requests.Response, version: int) -> Outcome:
    """The answer's verdict; AssertionError for a Server fault, a bare 500, a non-SOAP body."""
    assert response.status_code in (200, 400, 408, 413, 415, 500), response.status_code
    try:
        document = etree.fromstring(response.content)
    except etree.XMLSyntaxError as error:
        raise AssertionError(f"HTTP {response.status_code}, not a SOAP document: "
                             f"{response.content[:300]!r}") from error
    env = SOAP11_ENV if version == 11 else SOAP12_ENV
    if response.status_code in (413, 415):  # answered before the version is known: 1.1
        env = SOAP11_ENV
    body = document.find(f"{{{env}}}Body")
    assert body is not None and len(body), response.content[:300]
    answer = body[0]
    if answer.tag == f"{{{env}}}Fault":
        if env == SOAP11_ENV:
            code = answer.findtext("faultcode") or ""
            text = answer.findtext("faultstring") or ""
            assert code.startswith("soap:Client"), f"a Server fault: {code} {text}"
        else:
            code = answer.findtext(f"{{{env}}}Code/{{{env}}}Value") or ""
            text = answer.findtext(f"{{{env}}}Reason/{{{env}}}Text") or ""
            assert code == "env:Sender", f"a Receiver fault: {code} {text}"
            assert response.status_code != 500, "a SOAP 1.2 fault with HTTP 500"
        return Outcome(True, f"fault {code}: {text[:120]}")
    assert response.status_code == 200, f"HTTP {response.status_code} without a fault"
    result = answer.find("resultCode")
    assert result is not None and result.text is not None, response.content[:300]
    code = int(result.text)
    return Outcome(code != 0, f"resultCode {code}")


# --- the server under fuzzing -------------------------------------------------------------


@dataclass
class FuzzTarget:
    server: RunningServer
    session_id: str
    known: Known
    store_path: Path
    http: requests.Session

    def post(self, path: str, body: bytes, version: int, with_session: bool) -> requests.Response:
        content_type = ("text/xml; charset=utf-8" if version == 11
                        else "application/soap+xml; charset=utf-8")
        cookies = {"JSESSIONID": self.session_id} if with_session else None
        return self.http.post(self.server.url(path), data=body, cookies=cookies,
                              headers={"Content-Type": content_type}, timeout=60)

    def keep_alive(self) -> int:
        response = self.post("/esdk/services/tpCommon",
                             envelope("<smc:KeepAlive/>", 11), 11, with_session=True)
        assert response.status_code == 200, response.content[:300]
        result = etree.fromstring(response.content).find(".//resultCode")
        assert result is not None and result.text is not None
        return int(result.text)


@pytest.fixture
def fuzz_target(gateway_server: RunningServer, soap: SoapClients,
                clock: ManualClock) -> FuzzTarget:
    """The server with a directory site and two booked conferences (one ongoing), logged in
    once; the values it holds are what the generator draws strings from."""
    begin = clock.now()
    uris = ["0201", "0202", "0203"]
    booked = []
    for offset, name in ((timedelta(hours=2), "future"), (timedelta(0), "now")):
        answer = soap.conf_mgr.scheduleConfEx(scheduleConf={
            "name": f"fuzz {name}", "beginTime": begin + offset,
            "duration": timedelta(minutes=60), "mediaEncryptType": 0, "cpResouce": 4,
            "presentation": 0, "rate": "1920k",
            "sites": [{"name": f"site {uri}", "uri": uri, "type": 4, "from": 0,
                       "dialingMode": 0} for uri in uris[:2]],
        })
        assert answer.resultCode == 0, answer
        booked.append(answer.conferenceInfo)
    site_type = soap.client.get_type(f"{{{TNS}}}TerminalInfoEx")
    assert soap.site_mgr.addSiteInfoEx(orgId="1", siteInfo=site_type(
        name="fuzz room", uri=uris[2], type=4, rate="1920k")) == 0
    strings = ["1", "0", "demo", *uris, *(info.confId for info in booked),
               *(info.accessCode for info in booked), "1920k", "H264"]
    assert soap.session_id is not None
    http = requests.Session()
    http.trust_env = False
    data_dir = gateway_server.gateway.settings.data_dir
    return FuzzTarget(gateway_server, soap.session_id, Known(strings),
                      data_dir / "mcu.sqlite3", http)


def check_one(target: FuzzTarget, operation: str, request: Mutated, version: int,
              path: str) -> Outcome:
    before = store_snapshot(target.store_path)
    response = target.post(path, envelope(request.text, version), version,
                           with_session=operation not in SESSIONLESS)
    outcome = judge(response, version)
    event(outcome.description.split(": ", 1)[0] if outcome.refused else "accepted (0)")
    if outcome.refused:
        after = store_snapshot(target.store_path)
        changed = [table for table in TABLES if before[table] != after[table]]
        assert not changed, f"{operation} refused ({outcome.description}) but changed {changed}"
    assert target.keep_alive() == 0, f"the session is gone after {operation}"
    return outcome


OPERATIONS = sorted(SCHEMA.operations)


def test_the_schema_walk_covers_every_operation_of_the_reference() -> None:
    # 66 operations in the reference's port types; each request element found with members
    assert len(OPERATIONS) >= 60
    assert [m.name for m in SCHEMA.operations["scheduleConfEx"]] == ["scheduleConf"]
    filters = {m.name for m in SCHEMA.types["StringFilterEx"]}
    assert filters == {"columnIndex", "value"}  # the base's member, then the extension's
    assert set(SCHEMA.derived["FilterBaseEx"]) >= {"StringFilterEx", "IntFilterEx"}


@given(data=st.data())
def test_generated_and_mutated_requests_never_fault_the_server(
    fuzz_target: FuzzTarget, data: st.DataObject
) -> None:
    operation = data.draw(st.sampled_from(OPERATIONS), label="operation")
    request = data.draw(request_of(operation, fuzz_target.known), label="request")
    version = data.draw(st.sampled_from([11, 12]), label="version")
    path = data.draw(st.sampled_from(SOAP_PATHS), label="path")
    check_one(fuzz_target, operation, request, version, path)


@given(data=st.data())
def test_valid_shaped_requests_are_answered_and_refusals_change_nothing(
    fuzz_target: FuzzTarget, data: st.DataObject
) -> None:
    """Requests as the WSDL shapes them, unmutated: they get past the parser, into the
    services' own checks (where a refusal must come before any write)."""
    operation = data.draw(st.sampled_from(OPERATIONS), label="operation")
    root = Node(f"smc:{operation}")
    root.children = data.draw(members_of(SCHEMA.operations[operation], fuzz_target.known, 0))
    outcome = check_one(fuzz_target, operation, Mutated(root.xml(), []), 11,
                        "/esdk/services/tpCommon")
    assert not outcome.description.startswith("fault soap:Client.XMLSyntaxError")

