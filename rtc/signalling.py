"""Terminal <-> MCU signalling: JSON messages over one WebSocket per terminal.

The protocol (docs/signalling.md has the sequence charts):

terminal -> MCU   register  {uri, name, site_type, capabilities}
MCU -> terminal   registered {uri, ice_servers}                        (ice_servers: STUN/TURN)
MCU -> terminal   invite    {call_id, conf_id, conf_name, sdp}         (MCU dials out: SDP offer)
terminal -> MCU   ringing   {call_id}
terminal -> MCU   answer    {call_id, sdp}                             (SDP answer)
terminal -> MCU   decline   {call_id, reason}
terminal -> MCU   join      {call_id, access_code, password, sdp}      (dial-in: SDP offer)
MCU -> terminal   joined    {call_id, conf_id, sdp}                    (SDP answer)
terminal -> MCU   call      {call_id, to, sdp, rate}                   (point-to-point: SDP offer)
MCU -> callee     invite    {call_id, conf_id "", conf_name "", sdp, caller}  (relayed offer)
callee -> MCU -> caller   ringing / answer / decline, and bye either way (relayed as they are)
either            bye       {call_id, reason}
either            ping / pong {seq}                                    (heartbeat, every 2 s)
MCU -> terminal   error     {call_id?, code, message}

Every message is a JSON object with a "type". Unknown types and malformed messages are
answered with an error and otherwise ignored; they never close the connection.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar

HEARTBEAT_INTERVAL_S = 2.0
HEARTBEAT_MISSES = 3  # a peer silent for 3 intervals (6 s) is gone: within the 10 s bound


@dataclass
class HeartbeatSchedule:
    """When one side of a connection pings and when it gives the other up. The peer is gone
    once nothing was heard from it for `misses` intervals, checked at that very deadline (not
    at the next ping, which could add up to an interval): a peer that hangs is detected
    interval * misses after its last message at most."""

    interval: float = HEARTBEAT_INTERVAL_S
    misses: int = HEARTBEAT_MISSES
    next_ping: float | None = None

    @property
    def silence_limit(self) -> float:
        return self.interval * self.misses

    def next_wake(self, now: float, last_heard: float) -> float:
        """The loop time to sleep until: the next ping, or the silent peer's deadline."""
        if self.next_ping is None:
            self.next_ping = now + self.interval
        return min(self.next_ping, last_heard + self.silence_limit)

    def is_gone(self, now: float, last_heard: float) -> bool:
        return now >= last_heard + self.silence_limit  # the same sum next_wake sleeps until

    def take_ping(self, now: float) -> bool:
        """True when a ping is due at `now` (the next one is then one interval away)."""
        if self.next_ping is None or now < self.next_ping:
            return False
        self.next_ping = now + self.interval
        return True


class SignallingError(ValueError):
    """A message that is not valid JSON, has no known type, or lacks a field."""


@dataclass
class Capabilities:
    video_codecs: list[str] = field(default_factory=lambda: ["H264", "VP8"])
    video_formats: list[str] = field(default_factory=lambda: ["1080P30", "720P30", "4CIF"])
    audio_codecs: list[str] = field(default_factory=lambda: ["opus", "G722", "PCMU", "PCMA"])


@dataclass
class Message:
    type: ClassVar[str] = ""

    def to_json(self) -> str:
        return json.dumps({"type": self.type, **asdict(self)})


@dataclass
class Register(Message):
    type: ClassVar[str] = "register"
    uri: str
    name: str
    site_type: int = 7  # SiteType.SIP
    capabilities: Capabilities = field(default_factory=Capabilities)


@dataclass
class Registered(Message):
    type: ClassVar[str] = "registered"
    uri: str
    # The MCU's STUN/TURN servers as browser RTCIceServer dictionaries ({urls, username?,
    # credential?}; rtc.ice.parse_ice_servers reads them); [] or absent: none needed.
    ice_servers: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Invite(Message):
    type: ClassVar[str] = "invite"
    call_id: str
    conf_id: str
    conf_name: str
    sdp: str
    caller: str = ""  # a point-to-point call: the caller's URI (conf_id and conf_name "")


@dataclass
class PlaceCall(Message):
    """A point-to-point call to another registered terminal; the MCU relays the offer."""

    type: ClassVar[str] = "call"
    call_id: str
    to: str
    sdp: str
    rate: str = ""  # the call rate asked for ("1920k"), kept in its call detail record


@dataclass
class Ringing(Message):
    type: ClassVar[str] = "ringing"
    call_id: str


@dataclass
class Answer(Message):
    type: ClassVar[str] = "answer"
    call_id: str
    sdp: str


@dataclass
class Decline(Message):
    type: ClassVar[str] = "decline"
    call_id: str
    reason: str = "declined"


@dataclass
class Join(Message):
    type: ClassVar[str] = "join"
    call_id: str
    access_code: str
    password: str
    sdp: str


@dataclass
class Joined(Message):
    type: ClassVar[str] = "joined"
    call_id: str
    conf_id: str
    sdp: str


@dataclass
class Bye(Message):
    type: ClassVar[str] = "bye"
    call_id: str
    reason: str = "hang up"


@dataclass
class Ping(Message):
    type: ClassVar[str] = "ping"
    seq: int


@dataclass
class Pong(Message):
    type: ClassVar[str] = "pong"
    seq: int


@dataclass
class Error(Message):
    type: ClassVar[str] = "error"
    code: str
    message: str
    call_id: str | None = None


MESSAGE_TYPES: dict[str, type[Message]] = {
    cls.type: cls
    for cls in (Register, Registered, Invite, Ringing, Answer, Decline, Join, Joined, Bye,
                Ping, Pong, Error, PlaceCall)
}


def parse_message(text: str | bytes) -> Message:
    """One message from its JSON text; SignallingError when it is not a valid message."""
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise SignallingError(f"not JSON: {error}") from None
    if not isinstance(data, dict):
        raise SignallingError("a message is a JSON object")
    cls = MESSAGE_TYPES.get(data.pop("type", None))
    if cls is None:
        raise SignallingError("unknown message type")
    names = {f.name for f in fields(cls)}
    values: dict[str, Any] = {k: v for k, v in data.items() if k in names}
    if cls is Register and isinstance(values.get("capabilities"), dict):
        caps = values["capabilities"]
        known = {f.name for f in fields(Capabilities)}
        values["capabilities"] = Capabilities(**{k: v for k, v in caps.items() if k in known})
    try:
        message = cls(**values)
    except TypeError as error:
        raise SignallingError(f"{cls.type}: {error}") from None
    if isinstance(message, Registered) and not (
            isinstance(message.ice_servers, list)
            and all(isinstance(server, dict) for server in message.ice_servers)):
        raise SignallingError("registered.ice_servers must be a list of objects")
    for f in fields(cls):
        value = getattr(message, f.name)
        if f.type in ("str", "int") and not isinstance(value, str if f.type == "str" else int):
            raise SignallingError(f"{cls.type}.{f.name} must be {f.type}")
    return message
