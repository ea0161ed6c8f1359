"""The cascade link's control messages: one JSON object per line over a TCP connection (TLS
when the listener is given a context), each declared field by field with the signalling's
schema specs (rtc/signalling_schema.py) and checked before it is used.

leaf -> root   hello    {version, conf_id, leaf, sdp}      first message: the leaf's SDP offer
root -> leaf   welcome  {root, link, sdp}                  the SDP answer; `root` the root's name, `link`
                                                           the leaf's URI at the root
leaf -> root   tiles    {mode, sites}                      which local site is in which pane of the
                                                           tile picture the leaf sends (mode: tiles.TILE_MODES)
leaf -> root   levels   {levels: [{uri, level}]}           its sites' audio levels (0..100), ten a second
root -> leaf   speaker  {uri}                              the conference's speaker (null: none)
either         error    {reason}                           a message refused (nothing changed), or why the link ends
either         bye      {reason}                           the link ends

A line longer than MAX_LINE_BYTES, or one that is not a JSON object with a known `type`, is
refused with an `error` naming what was wrong; before `hello`/`welcome` any refusal ends the
link, after it the bad message is dropped and the link goes on.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from rtc.signalling_schema import (
    Choice,
    Integer,
    ListOf,
    Nested,
    Optional,
    SchemaError,
    Text,
    build,
    loads,
    spec,
)

VERSION = 1
MAX_LINE_BYTES = 64 * 1024  # an SDP offer is a few kilobytes
MAX_SITES = 16  # the largest tile picture (CP_16_1): sites of one leaf
URI = Text(128, min_len=1, blank_ok=False)
NAME = Text(64, min_len=1, blank_ok=False)
SDP = Text(16_000, min_len=1, multiline=True)
REASON = Text(500)


class ProtocolError(ValueError):
    """A control message refused: its reason is sent back in an `error`."""


@dataclass(frozen=True)
class Hello:
    version: int = spec(Integer(VERSION, VERSION))
    conf_id: str = spec(NAME)
    leaf: str = spec(NAME)
    sdp: str = spec(SDP)


@dataclass(frozen=True)
class Welcome:
    root: str = spec(NAME)
    link: str = spec(URI)
    sdp: str = spec(SDP)


@dataclass(frozen=True)
class Tiles:
    mode: int = spec(Integer(0, 49))
    sites: list[str] = spec(ListOf(URI, MAX_SITES))

    def __post_init__(self) -> None:
        if len(set(self.sites)) != len(self.sites):
            raise SchemaError("sites must not repeat a URI")


@dataclass(frozen=True)
class SiteLevel:
    uri: str = spec(URI)
    level: int = spec(Integer(0, 100))


@dataclass(frozen=True)
class Levels:
    levels: list[SiteLevel] = spec(ListOf(Nested(SiteLevel), MAX_SITES))


@dataclass(frozen=True)
class Speaker:
    uri: str | None = spec(Optional(URI), default=None)


@dataclass(frozen=True)
class Error:
    reason: str = spec(REASON)


@dataclass(frozen=True)
class Bye:
    reason: str = spec(REASON, default="")


def reason(text: str) -> str:
    """A reason as the declaration takes it: one line, at most REASON's length."""
    line = "".join(char if char.isprintable() else " " for char in text)
    return line[: REASON.max_len]


Message = Hello | Welcome | Tiles | Levels | Speaker | Error | Bye

TYPES: dict[str, type] = {"hello": Hello, "welcome": Welcome, "tiles": Tiles, "levels": Levels,
                          "speaker": Speaker, "error": Error, "bye": Bye}
_NAMES = {cls: name for name, cls in TYPES.items()}
_TYPE = Choice(tuple(TYPES))


def decode(line: bytes) -> Any:
    """The message of one line; ProtocolError saying what was refused."""
    if len(line) > MAX_LINE_BYTES:
        raise ProtocolError(f"a line of {len(line)} bytes (at most {MAX_LINE_BYTES})")
    try:
        data = loads(line)
        if not isinstance(data, dict):
            raise SchemaError("a message must be a JSON object")
        name = _TYPE.check(data.get("type"), "type")
        return build(TYPES[name], data, name)
    except SchemaError as error:
        raise ProtocolError(str(error)) from None


def encode(message: Any) -> bytes:
    """One line: the message's fields and its `type`."""
    data = {"type": _NAMES[type(message)], **asdict(message)}
    return json.dumps(data, separators=(",", ":")).encode() + b"\n"
