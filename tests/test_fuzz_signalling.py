"""Fuzzing the signalling door: messages generated from their declared schemas, then
mutated, sent over a real WebSocket to the running server.

The generator reads the declared schema itself (`rtc.signalling.MESSAGE_TYPES`, each
dataclass field's spec in rtc/signalling_schema.py: Text, Integer, Optional, ListOf, OneOf,
Table, Nested), so a field added to a message is fuzzed without touching this file. A
message is valid as generated (lengths and ranges up to their bounds, any Unicode the spec
allows); then maybe one mutation, chosen by the field's spec: a required field dropped, a
value of another JSON type, a string one over its length or with a control character or a
lone surrogate, an integer one past its range, a list one item too long, a number of up to
5,000 digits, NaN/Infinity, arrays nested up to 60 deep, an unknown key or type, a frame that
is not a JSON object or not JSON at all. Every frame stays under the 256 KiB message limit
(a bigger one is closed with 1009 by design: docs/security.md).

Properties, for every message, on a registered socket and on one that has not registered:
- the socket is never dropped: a `ping` sent after the message gets its `pong`;
- everything the MCU answers is itself a valid message of the schema;
- every `error` has a code documented in docs/signalling.md, and never `internal` (a
  handler that failed on a valid message);
- the server answers `malformed` exactly when the schema refuses the message (and always
  when the mutation is one the schema must refuse: over-long, out of range, NaN, too deep);
- a refused message (any `error`) changed nothing: the registered URIs, the registry and
  every row of the store are as before.

How a test socket is opened and registered is in ONE place, `open_terminal`, so a change of
the register flow (terminal authentication) is made there only.
"""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
from collections.abc import Iterator
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from hypothesis import assume, event, given
from hypothesis import strategies as st

from app.process import RunningServer
from gateway.settings import Settings
from gateway.signalling import MAX_MESSAGE_BYTES, SIGNALLING, SIGNALLING_PATH
from rtc.signalling import MESSAGE_TYPES, Message, SignallingError, parse_message
from rtc.signalling_schema import (
    MAX_DEPTH,
    MAX_NUMBER_CHARS,
    Boolean,
    Choice,
    FieldSpec,
    Integer,
    ListOf,
    Nested,
    Number,
    OneOf,
    Optional,
    Table,
    Text,
    field_spec,
)
from tests.signalling_helpers import read_challenge, send_register, without_dial_in_limits

REGISTERED_URI = "fuzz-registered-0001"
DOCS = Path(__file__).resolve().parent.parent / "docs" / "signalling.md"

# The `error` codes of docs/signalling.md ("Messages" and "Point-to-point calls"); the test
# below checks that each is documented there. `internal` is documented too, but it means a
# handler failed on a valid message: a finding, never accepted here.
DOCUMENTED_CODES = frozenset({
    "malformed", "unauthorized", "replaced", "already_registered", "unexpected", "unknown_call",
    "conference_not_found", "wrong_password", "dial_in_refused", "locked", "no_capacity",
    "codec_mismatch", "bad_sdp", "rate_limited", "unknown_callee", "call_refused",
    "unknown_input", "not_joined",
})

_CONTROLS = "".join(map(chr, [*range(0x20), 0x7F]))
_SURROGATE = re.compile("[\ud800-\udfff]")


# --- valid values from the declared specs ---------------------------------------------------


def text_of(spec: Text) -> st.SearchStrategy[str]:
    banned = _CONTROLS.translate({ord(c): None for c in "\t\r\n"}) if spec.multiline \
        else _CONTROLS
    alphabet = st.characters(codec="utf-8", exclude_characters=banned)
    short = st.text(alphabet, min_size=spec.min_len,
                    max_size=max(spec.min_len, min(spec.max_len, 40)))
    at_bound = st.just("x" * spec.max_len)  # ASCII: the longest SDP stays well in one frame
    strategy = st.one_of(short, short, at_bound)
    if not spec.blank_ok:
        strategy = strategy.filter(lambda value: value.strip() != "")
    return strategy.filter(lambda value: value != REGISTERED_URI)


def valid_value(spec: FieldSpec) -> st.SearchStrategy[Any]:
    match spec:
        case Text():
            return text_of(spec)
        case Integer(low=low, high=high):
            return st.one_of(st.integers(low, high), st.sampled_from([low, high]))
        case Number(low=low, high=high):
            return st.one_of(st.floats(low, high, allow_nan=False, allow_infinity=False),
                             st.integers(int(low), int(high)), st.sampled_from([low, high]))
        case Boolean():
            return st.booleans()
        case Choice(values=values):
            return st.sampled_from(values)
        case Optional(inner=inner):
            return st.one_of(st.none(), valid_value(inner))
        case ListOf(item=item, max_items=high, min_items=low):
            return st.one_of(st.lists(valid_value(item), min_size=low, max_size=min(high, 3)),
                             st.lists(valid_value(item), min_size=high, max_size=high))
        case OneOf(options=options):
            return st.one_of(*(valid_value(option) for option in options))
        case Table(keys=keys, required=required):
            return st.fixed_dictionaries(
                {name: valid_value(inner) for name, inner in keys if name in required},
                optional={name: valid_value(inner) for name, inner in keys
                          if name not in required})
        case Nested(cls=cls):
            return object_of(cls)
    raise TypeError(f"no generator for {spec!r}")  # a new spec type: teach this file


def object_of(cls: type) -> st.SearchStrategy[dict[str, Any]]:
    required = {}
    optional = {}
    for f in fields(cls):
        target = optional if (f.default is not MISSING or f.default_factory is not MISSING) \
            else required
        target[f.name] = valid_value(field_spec(f))
    return st.fixed_dictionaries(required, optional=optional)


def message_of(cls: type[Message]) -> st.SearchStrategy[dict[str, Any]]:
    return object_of(cls).map(lambda body: {"type": cls.type, **body})


# --- mutations ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Raw:
    """JSON text put into a message as it is (a number json.dumps would not write)."""

    text: str


def dumps(value: Any) -> str:
    raws: list[str] = []

    def mark(item: Any) -> Any:
        if isinstance(item, Raw):
            raws.append(item.text)
            return f"\x00raw{len(raws) - 1}\x00"
        if isinstance(item, dict):
            return {key: mark(child) for key, child in item.items()}
        if isinstance(item, list):
            return [mark(child) for child in item]
        return item

    text = json.dumps(mark(value), ensure_ascii=False)
    for index, raw in enumerate(raws):
        text = text.replace(f'"\\u0000raw{index}\\u0000"', raw)
    # a lone surrogate is sent escaped (\ud800): as raw text it is no UTF-8, and a frame
    # that is not UTF-8 is not a well-framed message (the socket is closed with 1007)
    return _SURROGATE.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth - 1):
        value = [value]
    return value


ANY_NON_STRING = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=False),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
)
ANY_JSON = st.one_of(ANY_NON_STRING, st.text(max_size=8))


@dataclass
class Probe:
    """The frame to send, and whether the mutation made is one the schema must refuse."""

    text: str
    must_refuse: bool
    note: str = ""
    data: dict[str, Any] = field(default_factory=dict)


@st.composite
def mutate_field(draw: st.DrawFn, spec: FieldSpec, value: Any) -> tuple[Any, bool, str]:
    """(the new value, whether the schema must refuse it, what was done)."""
    choices = ["other_type", "deep", "big_number", "nan"]
    if isinstance(spec, Boolean):
        choices += ["zero_one"]
    else:
        choices += ["bool"]
    if isinstance(spec, Choice):
        choices += ["not_a_choice"]
    if isinstance(spec, Text):
        choices += ["too_long", "control", "surrogate"]
    if isinstance(spec, Integer):
        choices += ["out_of_range", "float"]
    if isinstance(spec, Number):
        choices += ["out_of_range"]
    if isinstance(spec, ListOf):
        choices += ["too_many", "bad_item"]
    if isinstance(spec, Nested):
        choices += ["inner", "inner"]
    kind = draw(st.sampled_from(choices))
    if kind == "other_type":
        return draw(ANY_JSON), False, kind
    if kind == "deep":
        depth = draw(st.integers(2, 60))
        # refused by depth past MAX_DEPTH, and by type below it (no field takes nested lists)
        return nested(depth), True, f"deep {depth} (limit {MAX_DEPTH})"
    if kind == "big_number":
        digits = draw(st.integers(1, 5000))
        sign = draw(st.sampled_from(["", "-"]))
        exponent = draw(st.sampled_from(["", "e400", ".5"]))
        text = sign + "9" * digits + exponent
        return Raw(text), len(text) > MAX_NUMBER_CHARS, f"number of {len(text)} chars"
    if kind == "nan":
        return Raw(draw(st.sampled_from(["NaN", "Infinity", "-Infinity"]))), True, kind
    if kind == "bool":
        return draw(st.booleans()), True, kind  # true/false are neither strings nor integers
    if kind == "zero_one":
        return draw(st.sampled_from([0, 1])), True, kind  # 0 and 1 are not booleans
    if kind == "not_a_choice" and isinstance(spec, Choice):
        text = draw(st.text(max_size=12).filter(lambda t: t not in spec.values))
        return text, True, kind
    if kind == "too_long" and isinstance(spec, Text):
        return "y" * (spec.max_len + 1), True, kind
    if kind == "control" and isinstance(spec, Text):
        allowed = "\t\r\n" if spec.multiline else ""
        char = draw(st.sampled_from([c for c in _CONTROLS if c not in allowed]))
        text = value if isinstance(value, str) else ""
        at = draw(st.integers(0, len(text)))
        return text[:at] + char + text[at:], True, f"control {ord(char):#x}"
    if kind == "surrogate" and isinstance(spec, Text):
        text = value if isinstance(value, str) else ""
        return text[: spec.max_len - 1] + "\ud800", True, kind
    if kind == "out_of_range" and isinstance(spec, Integer):
        return draw(st.sampled_from([spec.high + 1, spec.low - 1, -(2**63), 2**64])), True, kind
    if kind == "out_of_range" and isinstance(spec, Number):
        return draw(st.sampled_from([spec.high + 1, spec.low - 0.5, -1e300, 1e300])), True, kind
    if kind == "float" and isinstance(spec, Integer):
        return Raw(f"{spec.low}.0"), True, kind
    if kind == "too_many" and isinstance(spec, ListOf):
        item = draw(valid_value(spec.item))
        return [item] * (spec.max_items + 1), True, kind
    if kind == "bad_item" and isinstance(spec, ListOf):
        items = list(value) if isinstance(value, list) else []
        return [*items, {"not": "an item"}], True, kind
    if isinstance(spec, Nested) and isinstance(value, dict):  # kind == "inner"
        inner = dict(value)
        name = draw(st.sampled_from([f.name for f in fields(spec.cls)]))
        inner[name], refuse, what = draw(mutate_field(field_spec(
            next(f for f in fields(spec.cls) if f.name == name)), inner.get(name)))
        return inner, refuse, f"{name}: {what}"
    return draw(ANY_JSON), False, "other_type"


@st.composite
def probes(draw: st.DrawFn) -> Probe:
    cls = draw(st.sampled_from(sorted(MESSAGE_TYPES.values(), key=lambda c: c.type)))
    data = draw(message_of(cls))
    kind = draw(st.sampled_from(
        ["valid", "valid", "field", "field", "field", "drop", "extra", "type", "frame"]))
    declared = {f.name: f for f in fields(cls)}
    if kind == "valid":
        return Probe(dumps(data), False, "valid", data)
    if kind == "field":
        name = draw(st.sampled_from(sorted(declared)))
        data[name], refuse, what = draw(mutate_field(field_spec(declared[name]), data.get(name)))
        return Probe(dumps(data), refuse, f"{cls.type}.{name}: {what}", data)
    if kind == "drop":
        name = draw(st.sampled_from(sorted(declared)))
        required = declared[name].default is MISSING and declared[name].default_factory is MISSING
        data.pop(name, None)
        return Probe(dumps(data), required, f"drop {cls.type}.{name}", data)
    if kind == "extra":
        key = draw(st.text(min_size=1, max_size=12).filter(lambda k: k not in declared
                                                            and k != "type"))
        data[key] = draw(ANY_JSON)
        return Probe(dumps(data), False, f"extra key {key!r}", data)
    if kind == "type":
        data["type"] = draw(st.one_of(st.text(max_size=12).filter(
            lambda t: t not in MESSAGE_TYPES), ANY_NON_STRING))
        if draw(st.booleans()):
            data.pop("type")
        return Probe(dumps(data), True, "type", data)
    frame = draw(st.sampled_from([
        "[]", "42", '"register"', "null", "true", "", " ", "{", '{"type": "ping", "seq": }',
        "{'type': 'ping'}", "\ufeff{}", '{"type": "ping", "seq": 1}x', "[" * 40 + "]" * 40,
        '{"type": "ping", "seq": 1, "type": "pong"}',
    ]))
    must = frame not in ('{"type": "ping", "seq": 1, "type": "pong"}',)
    return Probe(frame, must, f"frame {frame[:20]!r}")


# --- the server and its sockets -----------------------------------------------------------


async def open_terminal(http: aiohttp.ClientSession, server: RunningServer,
                        uri: str | None) -> aiohttp.ClientWebSocketResponse:
    """A signalling socket; registered as `uri` when one is given (the one place that knows
    the register flow)."""
    ws = await http.ws_connect(server.url(SIGNALLING_PATH), max_msg_size=MAX_MESSAGE_BYTES)
    challenge = await read_challenge(ws)  # the MCU's digest challenge comes first
    if uri is not None:
        await send_register(ws, {"type": "register", "uri": uri, "name": "fuzz"},
                            challenge=challenge)
        while True:
            reply = json.loads(await ws.receive_str(timeout=15))
            if reply["type"] == "registered":
                break
            assert reply["type"] == "ping", reply
    return ws


def store_rows(path: Path) -> list[Any]:
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return [connection.execute(f"SELECT * FROM {table} ORDER BY rowid").fetchall()
                for table in ("meta", "conferences", "directory", "tombstones", "call_records")]
    finally:
        connection.close()


class SignallingTarget:
    """Two sockets on the running server, driven from this thread's own event loop."""

    def __init__(self, server: RunningServer) -> None:
        self.server = server
        self.hub = server.app[SIGNALLING]
        # neither the rate limit nor the heartbeat is under test: a fast fuzzer must not be
        # rate_limited, nor a slow one dropped as silent (both set before the sockets open)
        self.hub.rate_per_second, self.hub.rate_burst = 1e9, 10**9
        self.hub.heartbeat_interval = 3600.0
        self.loop = asyncio.new_event_loop()
        self.http = self.loop.run_until_complete(self._session())
        self.sockets = {
            "registered": self.loop.run_until_complete(
                open_terminal(self.http, server, REGISTERED_URI)),
            "unregistered": self.loop.run_until_complete(open_terminal(self.http, server, None)),
        }
        self.seq = 0

    @staticmethod
    async def _session() -> aiohttp.ClientSession:
        return aiohttp.ClientSession()

    def state(self) -> tuple[Any, ...]:
        registry = sorted(endpoint.uri for endpoint in self.hub.runtime.registry.endpoints())
        store = store_rows(self.server.gateway.settings.data_dir / "mcu.sqlite3")
        return sorted(self.hub.connections), registry, store

    def exchange(self, which: str, text: str) -> list[dict[str, Any]]:
        """Send `text`, then a ping; every message the MCU sent before the pong."""
        return self.loop.run_until_complete(self._exchange(self.sockets[which], text))

    async def _exchange(self, ws: aiohttp.ClientWebSocketResponse,
                        text: str) -> list[dict[str, Any]]:
        self.seq += 1
        await ws.send_str(text)
        await ws.send_str(json.dumps({"type": "ping", "seq": self.seq}))
        replies = []
        while True:
            frame = await ws.receive(timeout=20)
            assert frame.type is aiohttp.WSMsgType.TEXT, f"socket dropped: {frame}"
            reply = json.loads(frame.data)
            if reply == {"type": "pong", "seq": self.seq}:
                return replies
            if reply.get("type") != "ping":  # the MCU's heartbeat
                replies.append(reply)

    def renew_unregistered(self, uri: str) -> None:
        """The unregistered socket registered as `uri` (a valid `register`): close it, wait
        until the MCU has unregistered it, open another."""
        async def renew() -> None:
            await self.sockets["unregistered"].close()
            async with asyncio.timeout(20):
                while uri in self.hub.connections:
                    await asyncio.sleep(0.01)
            self.sockets["unregistered"] = await open_terminal(self.http, self.server, None)
        self.loop.run_until_complete(renew())

    def close(self) -> None:
        async def close() -> None:
            for ws in self.sockets.values():
                await ws.close()
            await self.http.close()
        self.loop.run_until_complete(close())
        self.loop.close()


@pytest.fixture
def gateway_settings(gateway_settings: Settings) -> Settings:
    # the dial-in attempt limits are not under test here (tests/test_dial_in_limits.py):
    # lifted, so that a `join` is answered for its access code, not `locked`
    return without_dial_in_limits(gateway_settings)


@pytest.fixture
def signalling(gateway_server: RunningServer) -> Iterator[SignallingTarget]:
    target = SignallingTarget(gateway_server)
    try:
        yield target
    finally:
        target.close()


# --- the properties -----------------------------------------------------------------------


def test_every_error_code_the_fuzzer_accepts_is_documented() -> None:
    documented = DOCS.read_text()
    for code in DOCUMENTED_CODES:
        assert re.search(rf"`{code}`", documented), code


@given(which=st.sampled_from(["registered", "unregistered"]), probe=probes())
def test_generated_and_mutated_messages_never_drop_the_socket(
    signalling: SignallingTarget, which: str, probe: Probe
) -> None:
    assume(len(probe.text.encode("utf-8", "surrogatepass")) < MAX_MESSAGE_BYTES - 1024)
    try:
        parse_message(probe.text)
        schema_refuses = False
    except SignallingError:
        schema_refuses = True
    if probe.must_refuse:
        assert schema_refuses, f"the schema accepts {probe.note}: {probe.text[:200]}"
    before = signalling.state()
    replies = signalling.exchange(which, probe.text)
    for reply in replies:
        parse_message(json.dumps(reply))  # what the MCU sends keeps the schema too
    codes = [reply["code"] for reply in replies if reply["type"] == "error"]
    event(f"{which}: {'refused by the schema' if schema_refuses else 'valid'} -> "
          f"{sorted(set(codes)) or [reply['type'] for reply in replies] or 'silent'}")
    assert "internal" not in codes, f"a handler failed on {probe.note}: {replies}"
    assert set(codes) <= DOCUMENTED_CODES, replies
    if schema_refuses:
        assert codes == ["malformed"], f"{probe.note}: {replies}"
    else:
        assert "malformed" not in codes, f"{probe.note}: {replies}"
    if codes:
        assert signalling.state() == before, f"refused {probe.note} but changed the state"
    registered = [reply["uri"] for reply in replies if reply["type"] == "registered"]
    if which == "unregistered" and registered:
        signalling.renew_unregistered(registered[0])
