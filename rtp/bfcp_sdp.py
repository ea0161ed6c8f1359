"""The SDP of a BFCP stream (RFC 8856) and of the content stream it governs (RFC 4796
a=content, RFC 4574 a=label), read and written from one table.

A BFCP stream is an m-line of its own:

    m=application <port> TCP/BFCP *          (TCP/TLS/BFCP over TLS; UDP/* are not run here)
    a=floorctrl:c-only s-only                the roles the side can take (c-only, s-only, c-s)
    a=confid:4321                            the BFCP conference id (1..2^32-1)
    a=userid:1234                            the client's BFCP user id (1..65535)
    a=floorid:1 mstrm:10                     a floor and the labels of the streams it governs
    a=setup:passive                          RFC 4145: who opens the TCP connection
    a=connection:new                         RFC 4145: a new connection or the existing one
    a=bfcpver:1                              the BFCP versions (default 1 over TCP)

`ATTRIBUTES` is the grammar of RFC 8856 section 5 (and RFC 4145 section 4-5 for setup and
connection) as rows: the attribute's name, how its value is read, whether it may appear more
than once. `parse_stream` walks it over an m-line's attributes (rtp/sdp.py keeps the ones it
does not know as text in `MediaDescription.other`) and refuses what breaks it with
`BfcpSdpError`, a message naming the attribute; `stream_media` writes a `BfcpStream` back.
The offer/answer rules (the MCU is the floor control server) are in rtp/content_negotiation.py.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rtp.sdp import MediaDescription, SdpError

# m-line protos (RFC 8856 section 4): the ones run here (BFCP over TCP, rtc/bfcp/transport.py)
# and the ones only recognised (UDP/DTLS is not implemented: docs/bfcp.md)
TCP_PROTOS = ("TCP/BFCP", "TCP/TLS/BFCP")
UDP_PROTOS = ("UDP/BFCP", "UDP/TLS/BFCP")
BFCP_PROTOS = TCP_PROTOS + UDP_PROTOS
ROLES = ("c-only", "s-only", "c-s")  # RFC 8856 section 5, floor-control-attribute
SETUPS = ("active", "passive", "actpass", "holdconn")  # RFC 4145 section 4
CONNECTIONS = ("new", "existing")  # RFC 4145 section 5
MAX_ID32 = 2**32 - 1
MAX_ID16 = 2**16 - 1
_DIGITS = re.compile(r"^[0-9]{1,10}$")
_TOKEN = re.compile(r"^[!#$%&'*+\-.0-9A-Z^_`a-z{|}~]+$")
# RFC 4796 mcnt-tag values (an extension tag is any token)
CONTENT_TAGS = ("slides", "speaker", "sl", "main", "alt")


class BfcpSdpError(SdpError):
    """A BFCP or content attribute that breaks RFC 8856 / 4796 / 4574, or an offer/answer the
    MCU cannot take (docs/sip.md, "Content and BFCP for SIP sites")."""


@dataclass(frozen=True)
class FloorStream:
    """a=floorid: a floor and the labels (mstrm) of the media streams it governs."""

    floor_id: int
    labels: tuple[str, ...] = ()


@dataclass(frozen=True)
class BfcpStream:
    """One side's BFCP m-line."""

    port: int
    proto: str = "TCP/BFCP"
    roles: tuple[str, ...] = ()  # a=floorctrl (empty: absent)
    confid: int | None = None
    userid: int | None = None
    floors: tuple[FloorStream, ...] = ()
    setup: str | None = None  # None: absent (RFC 4145: "active" then)
    connection: str | None = None  # None: absent (RFC 4145: "new" then)
    versions: tuple[int, ...] = ()  # a=bfcpver (empty: absent, 1 over TCP, 2 over UDP)
    address: str | None = None  # the m-line's own c= (else the session's)
    extra: tuple[str, ...] = field(default=())  # other attributes (a=fingerprint...), kept

    @property
    def tls(self) -> bool:
        return "TLS" in self.proto

    @property
    def effective_setup(self) -> str:
        return self.setup or "active"

    @property
    def effective_versions(self) -> tuple[int, ...]:
        if self.versions:
            return self.versions
        return (2,) if self.proto in UDP_PROTOS else (1,)


def _number(low: int, high: int) -> Callable[[str, str], int]:
    def read(value: str, name: str) -> int:
        text = value.strip()
        if not _DIGITS.match(text) or not low <= int(text) <= high:
            raise BfcpSdpError(f"a={name}:{value} is not a number in {low}..{high}")
        return int(text)
    return read


def _words(choices: tuple[str, ...]) -> Callable[[str, str], tuple[str, ...]]:
    def read(value: str, name: str) -> tuple[str, ...]:
        words = tuple(value.split())
        if not words:
            raise BfcpSdpError(f"a={name} has no value")
        unknown = [word for word in words if word not in choices]
        if unknown:
            raise BfcpSdpError(f"a={name}:{value}: {unknown[0]!r} is not one of "
                               f"{', '.join(choices)}")
        if len(set(words)) != len(words):
            raise BfcpSdpError(f"a={name}:{value} lists a value twice")
        return words
    return read


def _one_word(choices: tuple[str, ...]) -> Callable[[str, str], str]:
    words = _words(choices)

    def read(value: str, name: str) -> str:
        found = words(value, name)
        if len(found) != 1:
            raise BfcpSdpError(f"a={name}:{value} takes one value")
        return found[0]
    return read


def _versions(value: str, name: str) -> tuple[int, ...]:
    parts = value.split()
    if not parts:
        raise BfcpSdpError(f"a={name} has no value")
    read = _number(1, 7)  # the Ver field is 3 bits (RFC 8855 section 5.1)
    versions = tuple(read(part, name) for part in parts)
    if len(set(versions)) != len(versions):
        raise BfcpSdpError(f"a={name}:{value} lists a version twice")
    return versions


def _floor(value: str, name: str) -> FloorStream:
    """floor-id [SP "mstrm:" token *(SP token)] (RFC 8856 section 5; RFC 4583's
    "m-stream:" is read as well)."""
    parts = value.split()
    if not parts:
        raise BfcpSdpError(f"a={name} has no floor id")
    floor_id = _number(0, MAX_ID16)(parts[0], name)
    labels: list[str] = []
    if len(parts) > 1:
        first = parts[1]
        tag, colon, label = first.partition(":")
        if tag not in ("mstrm", "m-stream") or not colon:
            raise BfcpSdpError(f"a={name}:{value}: after the floor id comes 'mstrm:<label>'")
        labels = [label, *parts[2:]]
        bad = [each for each in labels if not _TOKEN.match(each)]
        if bad:
            raise BfcpSdpError(f"a={name}:{value}: {bad[0]!r} is not a label (a token)")
    return FloorStream(floor_id, tuple(labels))


@dataclass(frozen=True)
class AttributeRule:
    name: str
    read: Callable[[str, str], Any]
    repeats: bool = False


# RFC 8856 section 5 (floorctrl, confid, userid, floorid, bfcpver) and RFC 4145 (setup,
# connection): the attributes of a BFCP m-line this module reads
ATTRIBUTES: dict[str, AttributeRule] = {rule.name: rule for rule in (
    AttributeRule("floorctrl", _words(ROLES)),
    AttributeRule("confid", _number(1, MAX_ID32)),
    AttributeRule("userid", _number(1, MAX_ID16)),
    AttributeRule("floorid", _floor, repeats=True),
    AttributeRule("setup", _one_word(SETUPS)),
    AttributeRule("connection", _one_word(CONNECTIONS)),
    AttributeRule("bfcpver", _versions),
)}


def is_bfcp(media: MediaDescription) -> bool:
    return media.kind == "application" and media.proto.upper() in BFCP_PROTOS


def parse_stream(media: MediaDescription) -> BfcpStream:
    """The BFCP stream of an m=application line; BfcpSdpError naming what is wrong."""
    if not is_bfcp(media):
        raise BfcpSdpError(f"m={media.kind} {media.port} {media.proto} is not a BFCP stream")
    if media.formats != ["*"]:
        raise BfcpSdpError(f"the BFCP m-line's format must be '*', not {' '.join(media.formats)!r}")
    values: dict[str, list[Any]] = {}
    extra: list[str] = []
    for attribute in media.other:
        name, colon, value = attribute.partition(":")
        rule = ATTRIBUTES.get(name)
        if rule is None:
            extra.append(attribute)
            continue
        if not colon:
            raise BfcpSdpError(f"a={name} has no value")
        found = values.setdefault(name, [])
        if found and not rule.repeats:
            raise BfcpSdpError(f"a={name} appears twice in the BFCP m-line")
        found.append(rule.read(value, name))
    floors = tuple(values.get("floorid", ()))
    if len({floor.floor_id for floor in floors}) != len(floors):
        raise BfcpSdpError("a=floorid names the same floor twice")

    def single(name: str) -> Any:
        return values[name][0] if name in values else None

    return BfcpStream(
        port=media.port, proto=media.proto.upper(), roles=single("floorctrl") or (),
        confid=single("confid"), userid=single("userid"), floors=floors,
        setup=single("setup"), connection=single("connection"),
        versions=single("bfcpver") or (), address=media.connection, extra=tuple(extra))


def stream_media(stream: BfcpStream) -> MediaDescription:
    """The m-line of a BFCP stream, its attributes in ATTRIBUTES' order."""
    other: list[str] = []
    if stream.roles:
        other.append(f"floorctrl:{' '.join(stream.roles)}")
    if stream.confid is not None:
        other.append(f"confid:{stream.confid}")
    if stream.userid is not None:
        other.append(f"userid:{stream.userid}")
    for floor in stream.floors:
        labels = f" mstrm:{' '.join(floor.labels)}" if floor.labels else ""
        other.append(f"floorid:{floor.floor_id}{labels}")
    if stream.setup is not None:
        other.append(f"setup:{stream.setup}")
    if stream.connection is not None:
        other.append(f"connection:{stream.connection}")
    if stream.versions:
        other.append(f"bfcpver:{' '.join(str(v) for v in stream.versions)}")
    other.extend(stream.extra)
    return MediaDescription("application", stream.port, stream.proto, ["*"],
                            connection=stream.address, other=other)


# ------------------------------------------------------------------ content marks


def label_of(media: MediaDescription) -> str | None:
    """The m-line's a=label (RFC 4574), None when absent; BfcpSdpError when it is not a
    token or appears twice."""
    labels = [value for name, _, value in (a.partition(":") for a in media.other)
              if name == "label"]
    if not labels:
        return None
    if len(labels) > 1:
        raise BfcpSdpError("a=label appears twice in one m-line")
    if not _TOKEN.match(labels[0]):
        raise BfcpSdpError(f"a=label:{labels[0]} is not a token")
    return labels[0]


def content_tags(media: MediaDescription) -> tuple[str, ...]:
    """The m-line's a=content tags (RFC 4796: comma-separated); BfcpSdpError when malformed."""
    found = [value for name, _, value in (a.partition(":") for a in media.other)
             if name == "content"]
    if not found:
        return ()
    if len(found) > 1:
        raise BfcpSdpError("a=content appears twice in one m-line")
    tags = tuple(tag.strip() for tag in found[0].split(","))
    if not all(tags) or not all(_TOKEN.match(tag) for tag in tags):
        raise BfcpSdpError(f"a=content:{found[0]} is not a list of tags (e.g. slides)")
    return tags


def mark_content(media: MediaDescription, label: str) -> None:
    """Mark an m-line as the content stream: a=content:slides and a=label (replacing any)."""
    media.other = [a for a in media.other
                   if a.partition(":")[0] not in ("content", "label")]
    media.other[:0] = ["content:slides", f"label:{label}"]
