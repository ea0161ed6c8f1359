"""Answers shaped like the reference (docs/gateway.md): for every operation with a reference
response example, our successful answer writes no optional element the example leaves out
unless the element is one whose value always matters (declared below, each with its reason)
or a member of gateway.wire.WRITTEN_ONLY_WHEN_NOT_DEFAULT holding a value other than its
default. Those members are shown absent at their default and present when they matter, and
the default-state answers validate against the earlier revision of the schema (the
reference schema without those members), as a client generated from it unmarshals them.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import xmlschema
from lxml import etree

from gateway import wire, wire_types
from tests.conftest import SOAP_EXAMPLES
from tests.test_conf_ctrl import A, AnsweringTerminal, B, C, book
from tests.test_soap_examples import SOAP11, AnswerRecorder
from tests.test_wsdl import NS, REFERENCE_SCHEMA

# Optional members some example leaves out that we write whenever they have a value, because
# the value is the answer (all are in WS/T 546's tables, so every client knows them).
WRITTEN_BECAUSE_THEY_MATTER: dict[tuple[str, str], str] = {
    ("ConferenceInfoEx", "name"): "the conference's name as booked",
    ("ConferenceInfoEx", "duration"): "its length (prolongations included)",
    ("ConferenceInfoEx", "accessCode"): "the number sites dial, possibly generated",
    ("ConferenceInfoEx", "password"): "possibly generated: the booking client needs it",
    ("ConferenceInfoEx", "rate"): "as booked",
    ("ConferenceInfoEx", "status"): "the conference's state",
    ("ConferenceInfoEx", "chairmanPassword"): (
        "possibly generated: the booking client needs it; the eSDK SDKs know the member"
        " (they encrypt it), only WS/T 546's tables lack it"
    ),
    ("ConferenceInfoEx", "isRecording"): "0 and 1 both matter: absent means 'supported'",
    ("ConferenceInfoEx", "isLiveBroadcast"): "0 and 1 both matter: absent means 'supported'",
    ("ConferenceInfoEx", "recorderAddr"): "as booked",
    ("ConferenceInfoEx", "billCode"): "as booked",
    ("ConferenceInfoEx", "auxVideoFormat"): "as booked",
    ("ConferenceInfoEx", "auxVideoProtocol"): "as booked",
    ("RecurrenceConfInfoEx", "weekDays"): "the rule as booked",
    ("RecurrenceConfInfoEx", "endDate"): "the rule as booked",
    ("SiteInfoEx", "rate"): "as booked",
    ("SiteInfoEx", "videoFormat"): "as booked",
    ("SiteInfoEx", "videoProtocol"): "as booked",
    ("ConferenceStatusEx", "chair"): "who holds the chair",
    ("ConferenceStatusEx", "broadcast"): "who is broadcast",
    ("ConferenceStatusEx", "speaking"): "who is speaking",
    ("ConferenceStatusEx", "presentation"): "who holds the content token",
    ("SiteStatusEx", "videoSource"): "what the site sees",
    ("BroadInfoEx", "directBroadStatus"): "running or not, when supported (WS/T 546 table 12)",
    ("BroadInfoEx", "recordBroadStatus"): "running or not, when supported (WS/T 546 table 12)",
    ("SiteStatusEx", "callFailedReason"): "why the last call failed",
    ("SiteStatusEx", "isLocalVideoOpen"): "the example writes it (as IsLocalVideoOpen)",
}

# reference examples named otherwise than their operation
EXAMPLE_FILES = {
    path.name.split(".")[0].lower(): path for path in SOAP_EXAMPLES.glob("*.response.xml")
}


def example_answer(operation: str) -> etree._Element | None:
    path = EXAMPLE_FILES.get(operation.lower())
    if path is None:
        return None
    text = path.read_text().rstrip()
    if not text.endswith(">"):  # isReceiveRemAuxStrmEx's example lacks its last '>'
        text += ">"
    body = etree.fromstring(text.encode()).find(f"{{{SOAP11}}}Body")
    return next(child for child in body if isinstance(child.tag, str))


def written_members(answer: etree._Element, operation: str) -> list[tuple[str, str, etree._Element]]:
    """(complexType, member, element) of every element under the answer that our wire types
    know, at every depth (the response element's own members as type `<op>Response`)."""
    spec = wire.ALL_OPERATIONS[operation]
    found: list[tuple[str, str, etree._Element]] = []

    def walk(element: etree._Element, type_name: str, members: dict) -> None:
        for child in element:
            if not isinstance(child.tag, str):
                continue
            member_type = members.get(etree.QName(child).localname)
            if member_type is None:  # the examples' misspellings (IsLocalVideoOpen, ...)
                continue
            found.append((type_name, etree.QName(child).localname, child))
            if issubclass(member_type, wire.WireType):
                kind = wire_class(member_type)
                walk(child, kind.__name__, kind.get_flat_type_info(kind))

    walk(answer, f"{operation}Response", dict(spec.response))
    return found


def wire_class(member_type: type) -> type[wire.WireType]:
    """The declared class behind a customized spyne type."""
    for klass in member_type.__mro__:
        if klass.__module__ == wire_types.__name__:
            return klass
    raise AssertionError(member_type)


def is_optional(type_name: str, member: str, operation: str) -> bool:
    if type_name.endswith("Response"):
        members = dict(wire.ALL_OPERATIONS[operation].response)
    else:
        kind = getattr(wire, type_name)
        members = kind.get_flat_type_info(kind)
    return members[member].Attributes.min_occurs == 0


def declared_default(type_name: str, member: str) -> tuple[bool, object]:
    """(is in WRITTEN_ONLY_WHEN_NOT_DEFAULT, its default) for the member of that type or a base."""
    kind = getattr(wire, type_name, None)
    for klass in (kind.__mro__ if kind else ()):
        table = wire.WRITTEN_ONLY_WHEN_NOT_DEFAULT.get(klass, {})
        if member in table:
            return True, table[member]
    return False, None


def declared_owner(type_name: str, member: str) -> str:
    """The class of the WSDL that declares the member (RecurrenceConfInfoEx inherits)."""
    kind = getattr(wire, type_name)
    for klass in reversed(kind.__mro__):
        if isinstance(klass, type) and issubclass(klass, wire.WireType) and member in getattr(
            klass, "_type_info", {}
        ):
            return klass.__name__
    return type_name


# --------------------------------------------------------------------- the older revision


def older_revision_schema() -> xmlschema.XMLSchema:
    """The reference schema without the members of WRITTEN_ONLY_WHEN_NOT_DEFAULT: what a
    client generated from WS/T 546's tables (the earlier revision) knows."""
    schema = etree.fromstring(etree.tostring(REFERENCE_SCHEMA))  # with its inherited prefixes
    for kind, members in wire.WRITTEN_ONLY_WHEN_NOT_DEFAULT.items():
        complex_type = schema.find(f"xsd:complexType[@name='{kind.__name__}']", NS)
        for element in list(complex_type.iter(f"{{{NS['xsd']}}}element")):
            if element.get("name") in members:
                element.getparent().remove(element)
    return xmlschema.XMLSchema(etree.tostring(schema).decode())


@pytest.fixture(scope="module")
def older_schema() -> xmlschema.XMLSchema:
    return older_revision_schema()


@pytest.fixture(scope="module")
def reference_schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(etree.tostring(REFERENCE_SCHEMA).decode())


# --------------------------------------------------------------------- a live platform


@pytest.fixture
def recorder(soap) -> AnswerRecorder:
    recorder = AnswerRecorder()
    soap.client.plugins.append(recorder)
    return recorder


@pytest.fixture
def conf(gateway_server, soap) -> str:
    """A conference running now: A and B joined, C calling (no terminal)."""
    runtime = gateway_server.gateway.runtime
    for uri in (A, B):
        runtime.registry.register(AnsweringTerminal(uri))
    conf_id = book(gateway_server, (A, B, C))
    assert soap.conf_mgr.connectSitesEx(confId=conf_id, siteUris=[A, B, C]) == 0
    return conf_id


def site(uri: str) -> dict:
    return {"name": f"site {uri}", "uri": uri, "type": 4, "from": 0, "dialingMode": 0}


def booking(clock, *uris: str, **more) -> dict:
    return {
        "name": "shape",
        "beginTime": clock.now() + timedelta(days=1),
        "duration": timedelta(hours=1),
        "mediaEncryptType": 0,
        "cpResouce": 4,
        "presentation": 0,
        "sites": [site(uri) for uri in uris],
        **more,
    }


def series(clock, *uris: str) -> dict:
    return {
        **booking(clock, *uris),
        "frequency": 1,
        "interval": 1,
        "weekDays": [1, 3],
        "weekDay": 0,
        "monthDay": 0,
        "count": 3,
    }


def exercise_every_answer(soap, clock, conf) -> None:
    """A successful call of every operation whose example answers more than resultCode."""
    plain = soap.conf_mgr.scheduleConfEx(scheduleConf=booking(clock, "71001", "71002"))
    conf_id = plain.conferenceInfo.confId
    soap.conf_mgr.editScheduledConfEx(
        editConf={**booking(clock, "71001", "71002"), "confId": conf_id, "name": "v2"}
    )
    recurring = soap.conf_mgr.scheduleRecurrenceConferenceEx(scheduleConf=series(clock, "71003"))
    series_id = recurring.recurrenceConfInfo.confId
    soap.conf_mgr.editRecurrenceConferenceEx(
        editConf={**series(clock, "71003", "71005"), "confId": series_id}
    )
    soap.conf_mgr.addSiteToConfEx(confId=conf_id, siteInfo=site("71004"))
    window = {"beginTime": clock.now(), "duration": timedelta(days=10)}
    soap.conf_mgr.querySiteStatusEx(siteUris=["71001", "71003"], **window)
    soap.conf_mgr.querySitesEx()
    soap.conf_mgr.queryConferencesStatusEx(confIds=[conf])
    soap.conf_mgr.queryConfSitesStatusEx(confId=conf, siteUris=[])
    soap.terminal_conf_ctrl.queryBroadInfoEx(siteUri=A)
    soap.terminal_conf_ctrl.queryConfCtrlPwdEx(siteUri=A)
    for operation in ("queryAuxStreamSourcesEx", "queryMainStreamSourcesEx",
                      "queryVideoOutSrcStateEx", "isConnectAuxSourceEx", "isSendAuxStreamEx",
                      "isReceiveRemAuxStrmEx", "querySiteVersionInfoEx"):
        getattr(soap.site_mgr, operation)(siteUri=A)


def test_answers_write_no_optional_element_the_example_leaves_out_without_reason(
    soap, clock, conf, recorder, older_schema
):
    exercise_every_answer(soap, clock, conf)
    compared = set()
    for operation, answer in recorder.answers:
        assert answer.findtext("resultCode") == "0", (operation, etree.tostring(answer))
        example = example_answer(operation)
        if example is None:
            continue
        compared.add(operation)
        in_example = {(kind, member) for kind, member, _ in written_members(example, operation)}
        for kind, member, element in written_members(answer, operation):
            if (kind, member) in in_example or not is_optional(kind, member, operation):
                continue
            owner = declared_owner(kind, member) if not kind.endswith("Response") else kind
            omitted_at_default, default = declared_default(kind, member)
            if omitted_at_default:
                assert element.text not in (None, "", str(default)), (operation, kind, member)
                continue
            assert (owner, member) in WRITTEN_BECAUSE_THEY_MATTER, (
                f"{operation} writes {kind}.{member}, which its reference example leaves out:"
                " declare it written-when-not-default (gateway/wire.py) or why it matters"
            )
        # everything at its default here: a client of the earlier revision reads it all
        older_schema.validate(etree.tostring(answer).decode())
    assert len(compared) >= 17, sorted(compared)


# --------------------------------------------------------------------- each member, both ways


def status_answer(recorder, soap, conf_id) -> etree._Element:
    soap.conf_mgr.queryConferencesStatusEx(confIds=[conf_id])
    return recorder.answers[-1][1].find("conferenceStatuses")


def test_presentation_lock_is_written_only_while_locked(
    soap, conf, recorder, older_schema, reference_schema
):
    status = status_answer(recorder, soap, conf)
    assert status.find("isLockPresentation") is None and status.find("lockPresentation") is None
    older_schema.validate(etree.tostring(recorder.answers[-1][1]).decode())

    assert soap.conf_ctrl.lockPresentationEx(confId=conf, siteUri=A) == 0
    status = status_answer(recorder, soap, conf)
    assert (status.findtext("isLockPresentation"), status.findtext("lockPresentation")) == ("1", A)
    reference_schema.validate(etree.tostring(recorder.answers[-1][1]).decode())
    with pytest.raises(xmlschema.XMLSchemaValidationError):  # what an older client refuses
        older_schema.validate(etree.tostring(recorder.answers[-1][1]).decode())

    assert soap.conf_ctrl.unlockPresentationEx(confId=conf) == 0
    status = status_answer(recorder, soap, conf)
    assert status.find("isLockPresentation") is None and status.find("lockPresentation") is None


def test_site_access_info_names_the_site_only_where_an_occurrence_renames_it(
    soap, clock, recorder, older_schema
):
    answer = soap.conf_mgr.scheduleRecurrenceConferenceEx(scheduleConf=series(clock, A, B))
    assert answer.resultCode == 0
    element = recorder.answers[-1][1]
    infos = element.findall("recurrenceConfInfo/siteAccessInfos")
    assert len(infos) == 6 and all(info.find("name") is None for info in infos)
    assert [s.findtext("name") for s in element.findall("recurrenceConfInfo/sites")] == [
        f"site {A}",
        f"site {B}",
    ]
    older_schema.validate(etree.tostring(element).decode())

    # one occurrence renames A: that occurrence's access info says so
    conf_id = answer.recurrenceConfInfo.confId
    second = sorted({info.beginTime for info in answer.recurrenceConfInfo.siteAccessInfos})[1]
    renamed = {**series(clock, A, B), "confId": conf_id, "beginTime": second}  # not moved
    renamed["sites"] = [{**site(A), "name": "renamed"}, site(B)]
    edited = soap.conf_mgr.editRecurrenceConferenceEx(editConf=renamed, beginTime=second)
    assert edited.resultCode == 0
    named = [
        (info.uri, info.name, info.beginTime) for info in edited.recurrenceConfInfo.siteAccessInfos
        if info.name is not None
    ]
    assert named == [(A, "renamed", second)]


def test_video_source_lock_is_written_only_when_booked_locked(soap, clock, recorder):
    locked = {**site("71011"), "isLockVideoSource": 1}
    unlocked = {**site("71012"), "isLockVideoSource": 0}
    answer = soap.conf_mgr.scheduleConfEx(scheduleConf={**booking(clock), "sites": [locked, unlocked]})
    assert answer.resultCode == 0
    sites = recorder.answers[-1][1].findall("conferenceInfo/sites")
    assert [s.findtext("isLockVideoSource") for s in sites] == ["1", None]


def test_members_only_written_when_booked_with_them(soap, clock, recorder, older_schema):
    plain = soap.conf_mgr.scheduleConfEx(scheduleConf=booking(clock, "71021"))
    assert plain.resultCode == 0
    info = recorder.answers[-1][1].find("conferenceInfo")
    for member in ("mainSiteUri", "conferenceNotice"):
        assert info.find(member) is None, member
    assert info.find("sites/participantType") is None
    older_schema.validate(etree.tostring(recorder.answers[-1][1]).decode())

    chaired = booking(clock, "71022", chairmanPassword="654321", mainSiteUri="71022")
    chaired["sites"] = [{**site("71022"), "participantType": 1}]
    chaired["beginTime"] += timedelta(days=1)
    assert soap.conf_mgr.scheduleConfEx(scheduleConf=chaired).resultCode == 0
    info = recorder.answers[-1][1].find("conferenceInfo")
    assert (info.findtext("chairmanPassword"), info.findtext("mainSiteUri")) == ("654321", "71022")
    assert info.findtext("sites/participantType") == "1"


def test_the_table_names_only_optional_members_of_response_types():
    for kind, members in wire.WRITTEN_ONLY_WHEN_NOT_DEFAULT.items():
        flat = kind.get_flat_type_info(kind)
        for member in members:
            assert flat[member].Attributes.min_occurs == 0, (kind.__name__, member)
            assert (kind.__name__, member) not in WRITTEN_BECAUSE_THEY_MATTER


def test_example_files_cover_the_compared_operations():
    assert isinstance(EXAMPLE_FILES["queryconferencesstatusex"], Path)
    assert example_answer("isReceiveRemAuxStrmEx").findtext("result") == "0"
