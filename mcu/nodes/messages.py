"""The messages between the gateway and its nodes: one declared schema each way.

Every message is a JSON object whose `kind` names a dataclass below; its fields declare what
they accept (rtc/signalling_schema.py `spec`), so `parse_command` / `parse_event` check a
message whole before anything acts on it, and a message they refuse is a `NodeMessageError`
(the transport logs and drops it: docs/runtime.md, "Nodes").

Gateway -> node (commands): `start` (a conference and the begin of its ongoing occurrence),
`end`, `call`, `hangup` (a site), `peer_site` (a site of a cascaded conference on another
node joined or left), `event` (a runtime event the node's media follows: layouts,
mute, broadcast, video source, ...; `event_codec.py`), `terminal` (a terminal's registration,
relayed), `signal` (a signalling message from a terminal about a call on this node),
`dial_in` (a terminal's `join` the gateway admitted, for this node to answer),
`vanished` (the terminal's signalling is gone), `floor_state` (the content floor of a
conference split over nodes, relayed: leaf_floor.py).

Node -> gateway (events): `call_state` (a site's call moved), `speaker` (the node's voice
switching chose), `levels` (audio levels, about ten a second per conference), `to_terminal`
(a signalling message for a terminal, which the gateway writes to its WebSocket), `floor`
(the content floor after a change the node's BFCP floor server made).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, ClassVar

from mcu.model import Conference, Occurrence, SiteCallState, SiteSpec
from mcu.nodes.node_record import MAX_NODE_ID
from mcu.store_documents import ConferenceRecord, record_from_json, record_to_json
from rtc.signalling_schema import (
    Boolean,
    Choice,
    Integer,
    ListOf,
    Optional,
    SchemaError,
    Text,
    build,
    loads,
    spec,
)

CONF_ID = Text(64, min_len=1, blank_ok=False)
URI = Text(256, min_len=1, blank_ok=False)
NODE_ID = Integer(1, MAX_NODE_ID)
MAX_EMBEDDED_CHARS = 256 * 1024  # a signalling message or a conference document inside one
EMBEDDED = Text(MAX_EMBEDDED_CHARS, min_len=2, multiline=True)
LEVEL = Integer(0, 100)
REQUEST = Integer(0, 2**31 - 1)  # a leaf's floor request number (leaf_floor.py)
MAX_LEVEL_SITES = 256


class NodeMessageError(ValueError):
    """A message the schema refuses."""


@dataclass(frozen=True)
class NodeMessage:
    kind: ClassVar[str] = ""

    def to_json(self) -> str:
        return json.dumps({"kind": self.kind, **asdict(self)}, separators=(",", ":"))


class _AnyObject:
    """A JSON object; the fields of a forwarded event, which event_codec.decode_event checks
    against the event class's own fields."""

    def check(self, value: Any, where: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise SchemaError(f"{where} must be an object")
        return value

    def describe(self) -> str:
        return "object"


# ---------------------------------------------------------------- gateway -> node


@dataclass(frozen=True)
class Start(NodeMessage):
    """Run the conference: `conference` is the store's document of it (mcu/store.py
    record_to_json) and `begin` the ongoing occurrence's begin (ISO 8601)."""

    kind: ClassVar[str] = "start"
    conf_id: str = spec(CONF_ID)
    begin: str = spec(Text(64, min_len=10))
    conference: str = spec(EMBEDDED)
    # a conference split over nodes (docs/cascade.md "On media nodes"): the sites this node
    # holds and calls (empty: all of them) and, for a leaf, "host:port" of the root's
    # cascade listener ("" on the root and on a conference that is not split)
    held: list[str] = spec(ListOf(URI, max_items=MAX_LEVEL_SITES), default_factory=list)
    cascade_root: str = spec(Text(300), default="")

    @classmethod
    def of(cls, conference: Conference, occurrence: Occurrence) -> Start:
        document = record_to_json(ConferenceRecord(conference, [{} for _ in
                                                                conference.occurrences]))
        return cls(conference.conf_id, occurrence.begin.isoformat(), json.dumps(document))

    def decoded(self) -> tuple[Conference, Occurrence]:
        """The conference and its ongoing occurrence, or NodeMessageError."""
        try:
            record = record_from_json(json.loads(self.conference))
            begin = datetime.fromisoformat(self.begin)
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise NodeMessageError(f"start: a bad conference document: {error!r}") from None
        conference = record.conference
        if conference.conf_id != self.conf_id:
            raise NodeMessageError("start: the document is of another conference")
        occurrence = next((o for o in conference.occurrences if o.begin == begin), None)
        if occurrence is None:
            raise NodeMessageError(f"start: no occurrence begins at {self.begin}")
        return conference, occurrence


@dataclass(frozen=True)
class End(NodeMessage):
    kind: ClassVar[str] = "end"
    conf_id: str = spec(CONF_ID)


@dataclass(frozen=True)
class CallSite(NodeMessage):
    kind: ClassVar[str] = "call"
    conf_id: str = spec(CONF_ID)
    uri: str = spec(URI)


@dataclass(frozen=True)
class HangUp(NodeMessage):
    kind: ClassVar[str] = "hangup"
    conf_id: str = spec(CONF_ID)
    uri: str = spec(URI)
    reason: str = spec(Text(256), default="MCU hung up")


@dataclass(frozen=True)
class ForwardedEvent(NodeMessage):
    """A runtime event (event_codec.py: its class name and fields)."""

    kind: ClassVar[str] = "event"
    name: str = spec(Text(64, min_len=1))
    fields: dict[str, Any] = spec(_AnyObject(), default_factory=dict)  # event_codec checks


@dataclass(frozen=True)
class PeerSite(NodeMessage):
    """A site of a cascaded conference held by another node joined or left: this node's
    media counts it joined (the root shows its pane, the leaf nothing more)."""

    kind: ClassVar[str] = "peer_site"
    conf_id: str = spec(CONF_ID)
    uri: str = spec(URI)
    joined: bool = spec(Boolean())


@dataclass(frozen=True)
class TerminalRegistered(NodeMessage):
    """A terminal's `register` message (rtc/signalling.py), as the gateway accepted it."""

    kind: ClassVar[str] = "terminal"
    uri: str = spec(URI)
    register: str = spec(EMBEDDED)


@dataclass(frozen=True)
class FromTerminal(NodeMessage):
    """A signalling message a terminal sent about its call on this node."""

    kind: ClassVar[str] = "signal"
    uri: str = spec(URI)
    message: str = spec(EMBEDDED)


@dataclass(frozen=True)
class DialIn(NodeMessage):
    """A terminal's `join` the gateway admitted (access code, password, booked or ad-hoc:
    the embedded rules, docs/runtime.md "Nodes", Dial-in): this node takes the call and
    answers the offer. `begin` and `conference` are the gateway's current document of the
    conference (as in `start`): a site booked after the conference started here (an ad-hoc
    template's code) is taken from it."""

    kind: ClassVar[str] = "dial_in"
    conf_id: str = spec(CONF_ID)
    uri: str = spec(URI)
    join: str = spec(EMBEDDED)
    begin: str = spec(Text(64, min_len=10))
    conference: str = spec(EMBEDDED)

    @classmethod
    def of(cls, conference: Conference, occurrence: Occurrence, uri: str,
           join: str) -> DialIn:
        start = Start.of(conference, occurrence)
        return cls(conference.conf_id, uri, join, start.begin, start.conference)

    def site(self) -> SiteSpec:
        """The site as the gateway booked it, or NodeMessageError."""
        _, occurrence = Start(self.conf_id, self.begin, self.conference).decoded()
        found = next((site for site in occurrence.sites if site.uri == self.uri), None)
        if found is None:
            raise NodeMessageError(f"dial_in: {self.uri} is not booked in {self.conf_id}")
        return found


@dataclass(frozen=True)
class FloorState(NodeMessage):
    """The content floor of a conference split over nodes, relayed by the gateway
    (leaf_floor.py): to the root, a leaf's request (`leaf`, `request`: the leaf's report);
    to a leaf, the root's floor (`leaf`, `request`: the leaf's request it answers, if any)."""

    kind: ClassVar[str] = "floor_state"
    conf_id: str = spec(CONF_ID)
    holder: str | None = spec(Optional(URI), default=None)
    locked: bool = spec(Boolean(), default=False)
    leaf: int | None = spec(Optional(NODE_ID), default=None)
    request: int = spec(REQUEST, default=0)
    before: str | None = spec(Optional(URI), default=None)  # a leaf's request: the holder it left


@dataclass(frozen=True)
class TerminalVanished(NodeMessage):
    kind: ClassVar[str] = "vanished"
    uri: str = spec(URI)


# ---------------------------------------------------------------- node -> gateway


@dataclass(frozen=True)
class CallState(NodeMessage):
    kind: ClassVar[str] = "call_state"
    node_id: int = spec(NODE_ID)
    conf_id: str = spec(CONF_ID)
    uri: str = spec(URI)
    state: str = spec(Choice(tuple(state.name for state in SiteCallState)))
    failure_code: int | None = spec(Optional(Integer(0, 2**31 - 1)), default=None)
    failure_text: str = spec(Text(512), default="")
    # the signalling call id of the node's call ("" before its invite): a gateway that must
    # tell the terminal its call is over (the node left) names it
    call_id: str = spec(Text(64), default="")
    # the node's call is with its own SIP user agent (a SIP site, dialled out or dialled in
    # at the node): a gateway restarted while it runs takes a dialled-in one back from the
    # saved state by itself (node_dial_in.resume_sip_dial_ins), not on a terminal's register
    sip: bool = spec(Boolean(), default=False)
    # what a SIP call's SDP settled for content (its content m-line and BFCP): the site may
    # send content (hold the floor: setAuxStreamEx, lockPresentationEx) / shows it; the
    # gateway's view of the site's device (node_dial_in.NodeSite)
    content_send: bool = spec(Boolean(), default=False)
    content_receive: bool = spec(Boolean(), default=False)

    @property
    def call_state(self) -> SiteCallState:
        return SiteCallState[self.state]


@dataclass(frozen=True)
class Speaker(NodeMessage):
    kind: ClassVar[str] = "speaker"
    node_id: int = spec(NODE_ID)
    conf_id: str = spec(CONF_ID)
    uri: str | None = spec(Optional(URI), default=None)


class _Levels:
    """uri -> level 0..100, at most MAX_LEVEL_SITES entries."""

    def check(self, value: Any, where: str) -> dict[str, int]:
        if not isinstance(value, dict) or len(value) > MAX_LEVEL_SITES:
            raise SchemaError(f"{where} must be an object of at most {MAX_LEVEL_SITES} levels")
        return {URI.check(uri, f"{where} key"): LEVEL.check(level, f"{where}.{uri}")
                for uri, level in value.items()}

    def describe(self) -> str:
        return "object uri -> 0..100"


@dataclass(frozen=True)
class Levels(NodeMessage):
    kind: ClassVar[str] = "levels"
    node_id: int = spec(NODE_ID)
    conf_id: str = spec(CONF_ID)
    levels: dict[str, int] = spec(_Levels())


@dataclass(frozen=True)
class FloorHeld(NodeMessage):
    """The content floor of a conference after a change its node's BFCP floor server made (a
    participant's FloorRequest or FloorRelease: mcu/nodes/node_floor.py)."""

    kind: ClassVar[str] = "floor"
    node_id: int = spec(NODE_ID)
    conf_id: str = spec(CONF_ID)
    holder: str | None = spec(Optional(URI), default=None)
    locked: bool = spec(Boolean(), default=False)
    # a conference split over nodes (leaf_floor.py): on a leaf's report, `request` is its
    # number (the gateway relays it to the root); on the root's, the leaf and request it
    # answers (None and 0: a change of the root's own)
    leaf: int | None = spec(Optional(NODE_ID), default=None)
    request: int = spec(REQUEST, default=0)
    # a leaf's request: the holder before its change (a release is of that holder only)
    before: str | None = spec(Optional(URI), default=None)


@dataclass(frozen=True)
class ToTerminal(NodeMessage):
    kind: ClassVar[str] = "to_terminal"
    node_id: int = spec(NODE_ID)
    uri: str = spec(URI)
    message: str = spec(EMBEDDED)


COMMANDS: dict[str, type[NodeMessage]] = {
    cls.kind: cls
    for cls in (Start, End, CallSite, HangUp, ForwardedEvent, PeerSite, TerminalRegistered,
                FromTerminal, DialIn, TerminalVanished, FloorState)
}
EVENTS: dict[str, type[NodeMessage]] = {
    cls.kind: cls for cls in (CallState, Speaker, Levels, ToTerminal, FloorHeld)
}


def _parse(text: str | bytes, table: dict[str, type[NodeMessage]], side: str) -> NodeMessage:
    try:
        data: Any = loads(text)
        if not isinstance(data, dict):
            raise SchemaError("a message is a JSON object")
        kind = data.get("kind")
        cls = table.get(kind) if isinstance(kind, str) else None
        if cls is None:
            raise SchemaError(f"unknown {side} kind {str(kind)[:40]!r}")
        message: NodeMessage = build(cls, data, cls.kind)
        return message
    except (SchemaError, UnicodeDecodeError) as error:
        raise NodeMessageError(str(error)) from None


def parse_command(text: str | bytes) -> NodeMessage:
    return _parse(text, COMMANDS, "command")


def parse_event(text: str | bytes) -> NodeMessage:
    return _parse(text, EVENTS, "event")
