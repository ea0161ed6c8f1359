"""Terminal <-> MCU signalling: JSON messages over one WebSocket per terminal.

The protocol (docs/signalling.md has the sequence charts):

MCU -> terminal   challenge {realm, nonce, algorithm}                  (on open; after a failed register)
terminal -> MCU   register  {uri, name, site_type, capabilities, device, auth {response}}
MCU -> terminal   registered {uri, ice_servers}                        (ice_servers: STUN/TURN)
terminal -> MCU   device    {inputs [{id, connected}]}                 (a cable plugged/unplugged)
MCU -> terminal   invite    {call_id, conf_id, conf_name, sdp, floor, content}  (MCU dials out)
terminal -> MCU   ringing   {call_id}
terminal -> MCU   answer    {call_id, sdp}                             (SDP answer)
terminal -> MCU   decline   {call_id, reason}
terminal -> MCU   join      {call_id, access_code, password, sdp}      (dial-in: SDP offer)
MCU -> terminal   joined    {call_id, conf_id, sdp, floor, content}    (SDP answer)
terminal -> MCU   call      {call_id, to, sdp, rate}                   (point-to-point: SDP offer)
MCU -> callee     invite    {call_id, conf_id "", conf_name "", sdp, caller}  (relayed offer)
callee -> MCU -> caller   ringing / answer / decline, and bye either way (relayed as they are)
either            bye       {call_id, reason}
either            ping / pong {seq}                                    (heartbeat, every 2 s)
MCU -> terminal   error     {call_id?, code, message}
MCU -> terminal   camera    {input, action, preset, requested_by}      (ctrlCameraEx: move a camera)
terminal -> MCU   stats     {call_id, main {fps, latency_ms_p50, latency_ms_p95}, content}
                                                                       (what it receives, for display)
MCU -> terminal   send_video {call_id, width, height, fps}             (the size its panes need)

`device` (register, optional): what the terminal has: model and versions, video inputs
(id, name, kind, connected, main/aux), screens (1..3 video outputs), microphones; null or
absent: the documented undeclared device (mcu/endpoints.py undeclared_device). When it is
declared, capabilities.content_send is read from it (a connected aux input), whatever the
capabilities say. docs/signalling.md, "The device".

`floor` (invite and joined of a conference call): the RFC 8856 parameters of the call's
content floor (BFCP over TCP to the MCU; docs/signalling.md, "Content floor (BFCP)"), or
null when the MCU offers none.

`content` (invite and joined of a conference call): how the conference's content is sent:
its `presentation` (ConferenceInfoEx: 0 slides, 1 motion, 2 dual stream) and the content
frame rate the MCU's content-format rule gives this site (mcu/media/content_format.py): the
rate a content source sends at while it holds the floor; null for a point-to-point call.

Every message is a JSON object with a "type". Each field declares its spec (length, range,
nested shape: the constants below, rtc/signalling_schema.py); parse_message checks them all,
with the JSON's depth and number size bounded. Unknown types and malformed messages are
answered with an error and otherwise ignored; they never close the connection.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

from rtc.signalling_schema import (
    SEQ_MAX,
    Boolean,
    Choice,
    Integer,
    ListOf,
    Nested,
    Number,
    OneOf,
    Optional,
    SchemaError,
    Table,
    Text,
    build,
    loads,
    spec,
)

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
    """A message that is not valid JSON, has no known type, or a field its schema refuses.

    `call_id`: the refused message's own `call_id` when it has a valid one (a JSON object
    whose `call_id` the CALL_ID spec accepts), so the `malformed` answer names the call it
    refuses (a `join` refused for its SDP is answered for its call); else None."""

    def __init__(self, text: str, call_id: str | None = None) -> None:
        super().__init__(text)
        self.call_id = call_id


# The limits of the declared schema (docs/signalling.md, "Validation"), in characters.
URI = Text(128, min_len=1, blank_ok=False)
OPTIONAL_URI = Text(128)  # "" where there is none (invite.caller of a conference call)
NAME = Text(256)
CALL_ID = Text(128, min_len=1)
CONF_ID = Text(64)
SDP = Text(64 * 1024, multiline=True)
REASON = Text(1024)
CODE = Text(64, min_len=1)
ERROR_TEXT = Text(1024, multiline=True)
ACCESS_CODE = Text(32)
PASSWORD = Text(64)
RATE = Text(16)
SEQ = Integer(0, SEQ_MAX)
SITE_TYPE = Integer(0, 2**31 - 1)  # an unknown type registers as SIP (Registration.of)
CODEC_NAMES = ListOf(Text(16, min_len=1), max_items=16)
DIGEST = Text(64, min_len=64)  # hex SHA-256 (rtc/signalling_auth.py)
NONCE = Text(128, min_len=1)
REALM = Text(128, min_len=1)
ALGORITHM_NAME = Text(16, min_len=1)
INPUT_ID = Integer(0, 2**31 - 1)  # a video input of the terminal (camSrc)
CAMERA_ACTION = Integer(0, 20)  # WS/T 546 table 11 camAction a camera obeys (0-20)
PRESET = Integer(0, 254)  # camPos of a preset action
ICE_SERVER = Table((("urls", OneOf((Text(512, min_len=1),
                                    ListOf(Text(512, min_len=1), max_items=8, min_items=1)))),
                    ("username", Text(256)),
                    ("credential", Text(256))),
                   required=frozenset({"urls"}))


@dataclass
class Capabilities:
    """What a terminal declares at registration. content_send: it has a content input (a
    PC or document source on an aux input) and may hold the content floor; content_receive:
    it can show the conference's content as a second stream."""

    video_codecs: list[str] = spec(CODEC_NAMES, default_factory=lambda: ["H264", "VP8"])
    video_formats: list[str] = spec(
        CODEC_NAMES, default_factory=lambda: ["1080P30", "720P30", "4CIF"])
    audio_codecs: list[str] = spec(
        CODEC_NAMES, default_factory=lambda: ["opus", "G722", "PCMU", "PCMA"])
    content_send: bool = spec(Boolean(), default=False)
    content_receive: bool = spec(Boolean(), default=True)


INPUT_KINDS = ("camera", "pc", "doc-camera")
INPUT_ID = Integer(0, 255)
OUTPUT_ID = Integer(0, 6)  # setVideoOutSrcEx hdOut: 0..4 HD1..HD5, 5..6 SD1..SD2
PORT_NAME = Text(64, min_len=1, blank_ok=False)
VERSION_TEXT = Text(128)
MAX_INPUTS = 8
MAX_MAIN_SOURCES = 4  # inputs one main stream shows at once (a local multi-picture)
MAX_SCREENS = 3
MAX_MICS = 8


@dataclass
class DeclaredInput:
    """A video input of the terminal: its port id and name, the kind of source it is for,
    whether a source is plugged in now, and which stream it may feed (main, aux or both)."""

    id: int = spec(INPUT_ID)
    name: str = spec(PORT_NAME)
    kind: str = spec(Choice(INPUT_KINDS))
    connected: bool = spec(Boolean(), default=True)
    main: bool = spec(Boolean(), default=True)
    aux: bool = spec(Boolean(), default=False)

    def __post_init__(self) -> None:
        if not (self.main or self.aux):
            raise SchemaError(f"input {self.id} feeds neither the main nor the aux stream")


@dataclass
class DeclaredScreen:
    """A screen: the video output port (hdOut number) and its name."""

    id: int = spec(OUTPUT_ID)
    name: str = spec(PORT_NAME)


@dataclass
class DeclaredMic:
    """A microphone of SiteDeviceVersionInfoEx.micVersions: its address and version."""

    ip: str = spec(Text(64, min_len=1, blank_ok=False))
    version: str = spec(VERSION_TEXT)


def _unique(ids: list[int], what: str) -> None:
    duplicates = sorted({item for item in ids if ids.count(item) > 1})
    if duplicates:
        raise SchemaError(f"{what} ids {duplicates} are declared more than once")


@dataclass
class Device:
    """register.device: the terminal's device (SiteDeviceVersionInfoEx fields, inputs,
    screens, microphones). Input ids are unique, screen ids are unique."""

    model: str = spec(Text(128, min_len=1, blank_ok=False))
    inputs: list[DeclaredInput] = spec(
        ListOf(Nested(DeclaredInput), max_items=MAX_INPUTS, min_items=1))
    screens: list[DeclaredScreen] = spec(
        ListOf(Nested(DeclaredScreen), max_items=MAX_SCREENS, min_items=1))
    mics: list[DeclaredMic] = spec(ListOf(Nested(DeclaredMic), max_items=MAX_MICS),
                                   default_factory=list)
    license: str = spec(VERSION_TEXT, default="")
    soft_version: str = spec(VERSION_TEXT, default="")
    hard_version: str = spec(VERSION_TEXT, default="")
    logic_version: str = spec(VERSION_TEXT, default="")
    manufacturer: str = spec(VERSION_TEXT, default="")

    def __post_init__(self) -> None:
        _unique([port.id for port in self.inputs], "input")
        _unique([screen.id for screen in self.screens], "screen")

    @property
    def content_send(self) -> bool:
        """A source is plugged into an input that may feed the aux stream."""
        return any(port.connected and port.aux for port in self.inputs)


@dataclass
class InputState:
    """One input of a `device` message: plugged in (connected) or not."""

    id: int = spec(INPUT_ID)
    connected: bool = spec(Boolean())


# RFC 8856 values this MCU uses: it is the floor control server only ("s-only"), passive on
# a TCP connection the terminal opens ("setup" active at the terminal, "connection" new).
BFCP_FLOORCTRL = ("s-only",)
BFCP_SETUP = ("passive",)
BFCP_CONNECTION = ("new", "existing")
BFCP_TRANSPORT = ("TCP/BFCP", "TCP/TLS/BFCP")
CONTENT_LABEL = "content"  # the RFC 4574 label (a=label) of the content video stream
HOST = Text(255, min_len=1, blank_ok=False)
PORT = Integer(1, 65535)
LABEL = Text(64, min_len=1, blank_ok=False)


@dataclass
class FloorParams:
    """The call's content floor, as RFC 8856 puts it in SDP (m=application ... TCP/BFCP):
    floorctrl (the MCU's role), confid, userid, floorid with the label of the stream it
    governs (mstrm), the transport, and where to connect (host, port; the MCU's "setup" is
    passive, so the terminal is the TCP client, on a "new" connection per call)."""

    floorctrl: str = spec(Choice(BFCP_FLOORCTRL))
    confid: int = spec(Integer(1, 2**32 - 1))
    userid: int = spec(Integer(1, 2**16 - 1))
    floorid: int = spec(Integer(0, 2**16 - 1))
    label: str = spec(LABEL)
    transport: str = spec(Choice(BFCP_TRANSPORT))
    host: str = spec(HOST)
    port: int = spec(PORT)
    setup: str = spec(Choice(BFCP_SETUP), default="passive")
    connection: str = spec(Choice(BFCP_CONNECTION), default="new")


PRESENTATION = Integer(0, 2)  # ConferenceInfoEx.presentation: 0 slides, 1 motion, 2 dual
CONTENT_FPS = Integer(1, 60)  # the standard's content goes up to 1080p60


@dataclass
class ContentParams:
    """How the conference's content is sent (docs/signalling.md, "Content parameters"): its
    presentation mode and the content frame rate it calls for at this site (slides: a low
    rate, the page still and sharp; motion: the aux format's 30 or 60 fps)."""

    presentation: int = spec(PRESENTATION)
    fps: int = spec(CONTENT_FPS)


@dataclass
class Message:
    type: ClassVar[str] = ""

    def to_json(self) -> str:
        return json.dumps({"type": self.type, **asdict(self)})


@dataclass
class Auth:
    """register.auth: the digest response to the socket's current challenge."""

    response: str = spec(DIGEST)


@dataclass
class Challenge(Message):
    """The MCU's digest challenge (rtc/signalling_auth.py): sent when the socket opens and
    after each refused register; its nonce is good for one register on this socket."""

    type: ClassVar[str] = "challenge"
    realm: str = spec(REALM)
    nonce: str = spec(NONCE)
    algorithm: str = spec(ALGORITHM_NAME, default="SHA-256")


@dataclass
class Register(Message):
    type: ClassVar[str] = "register"
    uri: str = spec(URI)
    name: str = spec(NAME)
    site_type: int = spec(SITE_TYPE, default=7)  # SiteType.SIP
    capabilities: Capabilities = spec(Nested(Capabilities), default_factory=Capabilities)
    auth: Auth | None = spec(Optional(Nested(Auth)), default=None)  # null: not authenticated
    device: Device | None = spec(Optional(Nested(Device)), default=None)  # null: undeclared


@dataclass
class DeviceUpdate(Message):
    """terminal -> MCU once registered: inputs plugged in or unplugged (a simulated cable).
    Each id must be an input the terminal declared (`unknown_input` otherwise, nothing
    changed); ids are unique."""

    type: ClassVar[str] = "device"
    inputs: list[InputState] = spec(ListOf(Nested(InputState), max_items=MAX_INPUTS,
                                           min_items=1))

    def __post_init__(self) -> None:
        _unique([state.id for state in self.inputs], "input")


@dataclass
class Registered(Message):
    type: ClassVar[str] = "registered"
    uri: str = spec(URI)
    # The MCU's STUN/TURN servers as browser RTCIceServer dictionaries ({urls, username?,
    # credential?}; rtc.ice.parse_ice_servers reads them); [] or absent: none needed.
    ice_servers: list[dict[str, Any]] = spec(ListOf(ICE_SERVER, max_items=16),
                                             default_factory=list)


@dataclass
class Invite(Message):
    type: ClassVar[str] = "invite"
    call_id: str = spec(CALL_ID)
    conf_id: str = spec(CONF_ID)
    conf_name: str = spec(NAME)
    sdp: str = spec(SDP)
    # a point-to-point call: the caller's URI (conf_id and conf_name "")
    caller: str = spec(OPTIONAL_URI, default="")
    floor: FloorParams | None = spec(Optional(Nested(FloorParams)), default=None)
    content: ContentParams | None = spec(Optional(Nested(ContentParams)), default=None)


@dataclass
class PlaceCall(Message):
    """A point-to-point call to another registered terminal; the MCU relays the offer."""

    type: ClassVar[str] = "call"
    call_id: str = spec(CALL_ID)
    to: str = spec(URI)
    sdp: str = spec(SDP)
    rate: str = spec(RATE, default="")  # the call rate asked for ("1920k"), kept in its CDR


@dataclass
class Ringing(Message):
    type: ClassVar[str] = "ringing"
    call_id: str = spec(CALL_ID)


@dataclass
class Answer(Message):
    type: ClassVar[str] = "answer"
    call_id: str = spec(CALL_ID)
    sdp: str = spec(SDP)


@dataclass
class Decline(Message):
    type: ClassVar[str] = "decline"
    call_id: str = spec(CALL_ID)
    reason: str = spec(REASON, default="declined")


@dataclass
class Join(Message):
    type: ClassVar[str] = "join"
    call_id: str = spec(CALL_ID)
    access_code: str = spec(ACCESS_CODE)
    password: str = spec(PASSWORD)
    sdp: str = spec(SDP)


@dataclass
class Joined(Message):
    type: ClassVar[str] = "joined"
    call_id: str = spec(CALL_ID)
    conf_id: str = spec(CONF_ID)
    sdp: str = spec(SDP)
    floor: FloorParams | None = spec(Optional(Nested(FloorParams)), default=None)
    content: ContentParams | None = spec(Optional(Nested(ContentParams)), default=None)


@dataclass
class Bye(Message):
    type: ClassVar[str] = "bye"
    call_id: str = spec(CALL_ID)
    reason: str = spec(REASON, default="hang up")


@dataclass
class Ping(Message):
    type: ClassVar[str] = "ping"
    seq: int = spec(SEQ)


@dataclass
class Pong(Message):
    type: ClassVar[str] = "pong"
    seq: int = spec(SEQ)


@dataclass
class Error(Message):
    type: ClassVar[str] = "error"
    code: str = spec(CODE)
    message: str = spec(ERROR_TEXT)
    call_id: str | None = spec(Optional(CALL_ID), default=None)


@dataclass
class CameraControl(Message):
    """MCU -> terminal: move the camera on input `input` (ctrlCameraEx, like H.281 far-end
    camera control): camAction `action` of WS/T 546 table 11 (0-7 start a motion, 8-15 stop
    it, 16 reset, 17 autofocus, 18/19/20 store/activate/clear preset `preset`).
    `requested_by`: the site whose far-end control this is (camState 1), "" when the
    operator moves this site's own camera (camState 0). The terminal does not answer."""

    type: ClassVar[str] = "camera"
    input: int = spec(INPUT_ID)
    action: int = spec(CAMERA_ACTION)
    preset: int | None = spec(Optional(PRESET), default=None)
    requested_by: str = spec(OPTIONAL_URI, default="")


@dataclass
class Sources(Message):
    """MCU -> terminal: which of its inputs feed its streams from now on
    (setMainAuxStreamSourcesEx; ctrlCameraEx camAction 21, select video source). `main`:
    1..MAX_MAIN_SOURCES distinct input ids, shown side by side in this order (a local
    multi-picture, terminals/main_sources.py); `aux`: the input for the content stream,
    null when none was chosen. The terminal does not answer; one naming an input it does
    not have changes nothing."""

    type: ClassVar[str] = "sources"
    main: list[int] = spec(ListOf(INPUT_ID, max_items=MAX_MAIN_SOURCES, min_items=1))
    aux: int | None = spec(Optional(INPUT_ID), default=None)

    def __post_init__(self) -> None:
        _unique(self.main, "main source")


FPS = Number(0, 240)  # frames a second a terminal decodes (the standard goes to 60)
LATENCY_MS = Optional(Number(0, 60_000))  # glass-to-glass, ms; null: no marker was read
STATS_INTERVAL_S = 2.0  # how often a terminal sends `stats` during a conference call


@dataclass
class StreamReceipt:
    """What a terminal receives on one stream over its last report interval: decoded frames
    a second, and the glass-to-glass latency (median and 95th percentile, ms) of the frames
    whose markers it read, null when it read none (not decoding, or no marker)."""

    fps: float = spec(FPS)
    latency_ms_p50: float | None = spec(LATENCY_MS, default=None)
    latency_ms_p95: float | None = spec(LATENCY_MS, default=None)

    def __post_init__(self) -> None:
        if (self.latency_ms_p50 is None) != (self.latency_ms_p95 is None):
            raise SchemaError("latency_ms_p50 and latency_ms_p95 are both null or both numbers")
        if self.latency_ms_p50 is not None and self.latency_ms_p95 is not None \
                and self.latency_ms_p95 < self.latency_ms_p50:
            raise SchemaError("latency_ms_p95 is below latency_ms_p50")


@dataclass
class ReceiveStats(Message):
    """terminal -> MCU, every STATS_INTERVAL_S during a conference call: what it receives
    (docs/signalling.md, "Receive statistics"). `main`: the main picture; `content`: the
    content stream, null when it receives none. The MCU keeps the last report of each site
    for display only (the console's health, /metrics) and does not answer it; one for a call
    that is not the terminal's ongoing conference call is `unknown_call`."""

    type: ClassVar[str] = "stats"
    call_id: str = spec(CALL_ID)
    main: StreamReceipt = spec(Nested(StreamReceipt))
    content: StreamReceipt | None = spec(Optional(Nested(StreamReceipt)), default=None)


# What a terminal says about a call it has with the MCU (by its call_id): refused with
# `unknown_call` when the MCU has no such call.
UNKNOWN_CALL = "unknown_call"
CallMessage = Ringing | Answer | Decline | Bye | ReceiveStats


SEND_WIDTH = Integer(2, 4096)
SEND_HEIGHT = Integer(2, 2304)
SEND_FPS = Integer(1, 60)


@dataclass
class SendVideo(Message):
    """MCU -> terminal: the largest main video the MCU needs from the terminal in the call
    `call_id` now (the send ladder, mcu/media/send_ladder.py: the size and rate of the
    largest pane it is shown in): at most `width` x `height` (even) at `fps`. Sent on call
    up and whenever the need changes. The terminal sends the largest picture it can within
    it, switching at a keyframe of the new size, and does not answer; one that ignores it
    still works (the MCU scales what it gets)."""

    type: ClassVar[str] = "send_video"
    call_id: str = spec(CALL_ID)
    width: int = spec(SEND_WIDTH)
    height: int = spec(SEND_HEIGHT)
    fps: int = spec(SEND_FPS)

    def __post_init__(self) -> None:
        if self.width % 2 or self.height % 2:
            raise SchemaError(f"width and height must be even, got {self.width}x{self.height}")


MESSAGE_TYPES: dict[str, type[Message]] = {
    cls.type: cls
    for cls in (Challenge, Register, Registered, Invite, Ringing, Answer, Decline, Join, Joined, Bye,
                Ping, Pong, Error, PlaceCall, DeviceUpdate, CameraControl, Sources,
                ReceiveStats, SendVideo)
}


def parse_message(text: str | bytes) -> Message:
    """One message from its JSON text, every field checked against its class's declared
    schema (rtc/signalling_schema.py); SignallingError when it is not a valid message.
    Keys a message does not declare are ignored."""
    data: Any = None
    try:
        data = loads(text)
        if not isinstance(data, dict):
            raise SchemaError("a message is a JSON object")
        kind = data.get("type")
        cls = MESSAGE_TYPES.get(kind) if isinstance(kind, str) else None
        if cls is None:
            raise SchemaError("unknown message type")
        message: Message = build(cls, data, cls.type)
    except SchemaError as error:
        raise SignallingError(str(error), _readable_call_id(data)) from None
    return message


def _readable_call_id(data: Any) -> str | None:
    """The `call_id` of a refused message, when it is one CALL_ID accepts."""
    if not isinstance(data, dict):
        return None
    try:
        call_id = CALL_ID.check(data.get("call_id"), "call_id")
    except SchemaError:
        return None
    return call_id if isinstance(call_id, str) else None
