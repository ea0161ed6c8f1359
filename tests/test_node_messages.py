"""The media nodes' declared schemas and rules, without processes: a node's registry record,
the messages each way (a message the schema refuses is a NodeMessageError naming the field,
never an exception of another kind), the runtime events forwarded to a node, and placement
(the least loaded node with room; a conference placed since a node's last report counts).
The same code over real Redis and node processes: tests/test_nodes.py."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from mcu.events import LayoutChanged, SiteMuted, SpeakerChanged, StreamSourcesChanged
from mcu.model import Conference, ConferenceSpec, Occurrence, SiteSpec, VideoFormat
from mcu.nodes.event_codec import decode_event, encode_event, forwarded
from mcu.nodes.messages import (
    CallState,
    DialIn,
    ForwardedEvent,
    Levels,
    NodeMessageError,
    Start,
    parse_command,
    parse_event,
)
from mcu.nodes.node_record import NodeRecord, NodeRecordError, parse_record, port_costs_json
from mcu.nodes.placement import Need, Reservations, choose_node
from mcu.port_costs import PortCosts

COSTS = port_costs_json(PortCosts())  # the default table: the costliest format is 16 units


def node(node_id: int, max_ports: int, used_units: int = 0, conferences=()) -> NodeRecord:
    return NodeRecord(node_id, f"node-{node_id}", "127.0.0.1", max_ports, 8, COSTS,
                      used_units, 0, list(conferences))


def need(conf_id: str, *formats: VideoFormat | None, cp: int = 2) -> Need:
    return Need(conf_id, tuple(SiteSpec(f"{conf_id}-{i}", video_format=f)
                               for i, f in enumerate(formats)), cp)


def test_a_record_round_trips_and_a_bad_one_is_refused_by_name() -> None:
    record = node(3, 4, 16, ["c1"])
    assert parse_record(record.to_json()) == record
    assert record.as_mcu().id == 3 and record.as_mcu().address == "127.0.0.1"
    data = json.loads(record.to_json())
    assert data["sip_tls_port"] == 0  # no SIP over TLS unless the node says so
    with_tls = parse_record(json.dumps({**data, "sip_port": 5060, "sip_tls_port": 5061}))
    assert (with_tls.sip_port, with_tls.sip_tls_port) == (5060, 5061)
    for field, value in (("node_id", 0), ("max_ports", "4"), ("name", ""),
                         ("port_costs", {"1": 2}), ("conferences", [""]),
                         ("sip_port", 65_536), ("sip_tls_port", -1),
                         ("sip_tls_port", 70_000), ("sip_tls_port", "5061"),
                         ("sip_tls_port", True)):
        with pytest.raises(NodeRecordError, match=field):
            parse_record(json.dumps({**data, field: value}))
    for text in ("not json", "[]", '{"node_id": 1}', "{" * 100, b"\xff\xfe"):
        with pytest.raises(NodeRecordError):
            parse_record(text)


def test_the_least_loaded_node_that_fits_takes_the_conference() -> None:
    small, big = node(1, 2), node(2, 4, used_units=16)  # 0 % and 25 % used
    reservations = Reservations()
    assert choose_node([small, big], need("a", None), reservations) == small
    # two sites at the costliest format fill the small node: the next goes to the big one
    reservations.add(1, need("a", None, None))
    assert choose_node([small, big], need("b", None), reservations) == big
    # 720P30 costs 4: the big node's 48 free units hold 12 such sites, not 13
    assert choose_node([small, big], need("c", *[VideoFormat.HD720P30] * 12),
                       reservations) == big
    assert choose_node([small, big], need("c", *[VideoFormat.HD720P30] * 13),
                       reservations) is None
    # CP resources count too
    assert choose_node([small, big], need("d", None, cp=9), Reservations()) is None
    # once the small node's record lists the conference, its reservation is settled
    reported = node(1, 2, used_units=32, conferences=["a"])
    reservations.settle([reported, big])
    assert reservations.held(reported) == (0, 0)
    assert choose_node([reported, big], need("e", None), reservations) == big


def conference() -> tuple[Conference, Occurrence]:
    begin = datetime(2026, 11, 30, 12, tzinfo=UTC)
    sites = [SiteSpec("0201"), SiteSpec("0202", video_format=VideoFormat.CIF4)]
    occurrence = Occurrence(begin, timedelta(hours=1), sites, "ward round")
    spec = ConferenceSpec(name="ward round", begin=begin, duration=timedelta(hours=1),
                          sites=sites, cp_resource=2)
    return Conference("77", spec, "123456", "", "", None, [occurrence]), occurrence


def test_start_carries_the_conference_and_its_occurrence() -> None:
    booked, occurrence = conference()
    message = parse_command(Start.of(booked, occurrence).to_json())
    assert isinstance(message, Start)
    decoded, at = message.decoded()
    assert decoded.conf_id == "77" and decoded.spec.cp_resource == 2
    assert (at.begin, at.duration, at.name) == (occurrence.begin, occurrence.duration,
                                                occurrence.name)
    assert [site.uri for site in at.sites] == ["0201", "0202"]
    assert [site.video_format for site in at.sites] == [None, VideoFormat.CIF4]
    broken = Start("77", occurrence.begin.isoformat(), json.dumps({"conf_id": "77"}))
    with pytest.raises(NodeMessageError, match="bad conference document"):
        parse_command(broken.to_json()).decoded()  # type: ignore[attr-defined]
    other_begin = Start("77", "2030-01-01T00:00:00+00:00", message.conference)
    with pytest.raises(NodeMessageError, match="no occurrence"):
        other_begin.decoded()


def test_dial_in_carries_the_join_and_the_booked_site() -> None:
    booked, occurrence = conference()
    join = '{"type": "join", "call_id": "c1", "access_code": "5501", "password": "", ' \
        '"sdp": "v=0"}'
    message = parse_command(DialIn.of(booked, occurrence, "0202", join).to_json())
    assert isinstance(message, DialIn)
    assert (message.conf_id, message.uri, message.join) == ("77", "0202", join)
    assert message.site().video_format is VideoFormat.CIF4  # the booking's, for the node
    with pytest.raises(NodeMessageError, match="not booked"):
        DialIn.of(booked, occurrence, "0299", join).site()
    for field, value in (("join", ""), ("uri", ""), ("begin", "x"), ("conference", 3)):
        with pytest.raises(NodeMessageError, match=field):
            parse_command(json.dumps({**json.loads(message.to_json()), field: value}))


@pytest.mark.parametrize("text", [
    "", "null", "[1]", '{"kind": "explode"}', '{"kind": "call", "conf_id": "1"}',
    '{"kind": "call", "conf_id": "", "uri": "0201"}',
    '{"kind": "hangup", "conf_id": "1", "uri": "0201", "reason": 5}',
    '{"kind": "call_state", "node_id": 1, "conf_id": "1", "uri": "a", "state": "BOGUS"}',
    '{"kind": "levels", "node_id": 1, "conf_id": "1", "levels": {"a": 101}}',
    '{"kind": "start", "conf_id": "1", "begin": "x", "conference": "{}"}',
    "[" * 5000,
])
def test_bad_messages_are_refused_with_a_node_message_error(text: str) -> None:
    for parse in (parse_command, parse_event):
        with pytest.raises(NodeMessageError):
            parse(text)


def test_events_each_way() -> None:
    state = parse_event(CallState(2, "77", "0201", "IN_CONFERENCE").to_json())
    assert isinstance(state, CallState) and state.node_id == 2
    levels = parse_event(Levels(2, "77", {"0201": 40}).to_json())
    assert isinstance(levels, Levels) and levels.levels == {"0201": 40}
    with pytest.raises(NodeMessageError):  # a command is not an event
        parse_event('{"kind": "end", "conf_id": "77"}')


def test_runtime_events_forwarded_to_a_node_round_trip_checked() -> None:
    for event in (LayoutChanged("77", "", 11, ("0201", "", "0202")),
                  SiteMuted("77", "0201", True), StreamSourcesChanged("77", "0201", (1, 2), None)):
        assert forwarded(event)
        wire = parse_command(encode_event(event).to_json())
        assert isinstance(wire, ForwardedEvent)
        assert decode_event(wire) == event
    assert not forwarded(SpeakerChanged("77", "0201"))  # the node decides the speaker
    for name, fields in (("SpeakerChanged", {"conf_id": "77", "speaking": None}),
                         ("LayoutChanged", {"conf_id": "77", "target": "", "mode": "11",
                                            "sub_pics": []}),
                         ("LayoutChanged", {"conf_id": "77", "target": "", "mode": 11}),
                         ("SiteMuted", {"conf_id": "77", "uri": "a", "muted": 1}),
                         ("SiteMuted", {"conf_id": "77", "uri": "a", "muted": True, "x": 1})):
        with pytest.raises(NodeMessageError):
            decode_event(ForwardedEvent(name, fields))
