"""SDP (RFC 4566/8866) for plain RTP sessions: a parser that validates what it reads and
refuses bad input with SdpError (a message naming the line), and the writer.

Kept: v/o/s/c/t, and per m-line the port, proto, formats, connection, rtpmap, fmtp, rtcp-fb,
crypto (sdes.py), rtcp, rtcp-mux, ptime and the direction; any other attribute is kept as
text and written back unchanged."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

from rtp.sdes import CryptoAttribute, SdesError

MAX_SDP_BYTES = 64 * 1024
MAX_LINE = 4096
MAX_MEDIA = 16
RTP_PROTOS = ("RTP/AVP", "RTP/AVPF", "RTP/SAVP", "RTP/SAVPF")
DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")
_LINE = re.compile(r"^([a-z])=(.*)$")
_TOKEN = re.compile(r"^[!#$%&'*+\-.0-9A-Z^_`a-z{|}~]+$")


class SdpError(ValueError):
    """Bad SDP; the message says which line and why."""


@dataclass(frozen=True, slots=True)
class RtpMap:
    name: str
    clock_rate: int
    channels: int = 1


@dataclass
class MediaDescription:
    kind: str
    port: int
    proto: str
    formats: list[str]
    connection: str | None = None
    rtpmap: dict[int, RtpMap] = field(default_factory=dict)
    fmtp: dict[int, dict[str, str]] = field(default_factory=dict)
    rtcp_fb: dict[str, set[str]] = field(default_factory=dict)  # by payload type or "*"
    crypto: list[CryptoAttribute] = field(default_factory=list)
    direction: str = "sendrecv"
    rtcp_mux: bool = False
    rtcp_port: int | None = None
    ptime: int | None = None
    other: list[str] = field(default_factory=list)

    @property
    def is_rtp(self) -> bool:
        return self.proto in RTP_PROTOS

    @property
    def secure(self) -> bool:
        return self.proto in ("RTP/SAVP", "RTP/SAVPF")

    @property
    def payload_types(self) -> list[int]:
        return [int(f) for f in self.formats] if self.is_rtp else []

    def feedback_of(self, payload_type: int) -> set[str]:
        return self.rtcp_fb.get(str(payload_type), set()) | self.rtcp_fb.get("*", set())


@dataclass
class SessionDescription:
    origin: str
    connection: str | None
    media: list[MediaDescription]
    name: str = "-"

    def connection_of(self, media: MediaDescription) -> str:
        address = media.connection or self.connection
        assert address is not None  # parse() checks every m-line has one
        return address


def _address(value: str, where: str) -> str:
    parts = value.split()
    if len(parts) != 3 or parts[0] != "IN" or parts[1] not in ("IP4", "IP6"):
        raise SdpError(f"{where}: c= must be 'IN IP4|IP6 <address>', got {value!r}")
    try:
        ip = ipaddress.ip_address(parts[2].split("/")[0])
    except ValueError:
        raise SdpError(f"{where}: {parts[2]!r} is not an IP address") from None
    if (ip.version == 4) != (parts[1] == "IP4"):
        raise SdpError(f"{where}: address {ip} does not match {parts[1]}")
    return str(ip)


def _int(text: str, low: int, high: int, what: str) -> int:
    if not text.isdigit() or not low <= int(text) <= high:
        raise SdpError(f"{what} {text!r} is not a number in {low}..{high}")
    return int(text)


def _payload_type(text: str, media: MediaDescription, where: str) -> int:
    pt = _int(text, 0, 127, f"{where}: payload type")
    if str(pt) not in media.formats:
        raise SdpError(f"{where}: payload type {pt} is not in the m-line's formats")
    return pt


def _parse_fmtp(params: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in params.split(";"):
        item = item.strip()
        if not item:
            continue
        key, _, value = item.partition("=")
        out[key.strip().lower() if value else key.strip()] = value.strip()
    return out


def _media_line(value: str, where: str) -> MediaDescription:
    parts = value.split()
    if len(parts) < 4:
        raise SdpError(f"{where}: m= needs '<media> <port> <proto> <fmt> ...', got {value!r}")
    kind, port_text, proto, formats = parts[0], parts[1], parts[2], parts[3:]
    if not _TOKEN.match(kind):
        raise SdpError(f"{where}: bad media type {kind!r}")
    port = _int(port_text.split("/")[0], 0, 65535, f"{where}: port")
    media = MediaDescription(kind, port, proto, formats)
    if media.is_rtp:
        for f in formats:
            _int(f, 0, 127, f"{where}: RTP payload type")
        if len(set(formats)) != len(formats):
            raise SdpError(f"{where}: a payload type is listed twice")
    return media


def _attribute(media: MediaDescription, value: str, where: str) -> None:
    name, _, rest = value.partition(":")
    if name == "rtpmap":
        pt_text, _, encoding = rest.partition(" ")
        pt = _payload_type(pt_text, media, where)
        pieces = encoding.strip().split("/")
        if len(pieces) not in (2, 3) or not pieces[0] or not _TOKEN.match(pieces[0]):
            raise SdpError(f"{where}: rtpmap must be '<pt> <name>/<clock>[/<channels>]'")
        clock = _int(pieces[1], 1, 10_000_000, f"{where}: clock rate")
        channels = _int(pieces[2], 1, 8, f"{where}: channels") if len(pieces) == 3 else 1
        media.rtpmap[pt] = RtpMap(pieces[0], clock, channels)
    elif name == "fmtp":
        pt_text, _, params = rest.partition(" ")
        if pt_text.isdigit() and media.is_rtp:
            media.fmtp[_payload_type(pt_text, media, where)] = _parse_fmtp(params)
        else:
            media.other.append(value)
    elif name == "rtcp-fb":
        pt_text, _, fb = rest.partition(" ")
        if pt_text != "*":
            _payload_type(pt_text, media, where)
        if not fb.strip():
            raise SdpError(f"{where}: rtcp-fb without a feedback type")
        media.rtcp_fb.setdefault(pt_text, set()).add(" ".join(fb.split()))
    elif name == "crypto":
        try:
            media.crypto.append(CryptoAttribute.parse(rest))
        except SdesError as exc:
            raise SdpError(f"{where}: {exc}") from None
    elif name == "rtcp":
        media.rtcp_port = _int(rest.split()[0] if rest.split() else "", 0, 65535, f"{where}: rtcp port")
    elif name == "rtcp-mux":
        media.rtcp_mux = True
    elif name == "ptime":
        media.ptime = _int(rest.strip(), 1, 1000, f"{where}: ptime")
    elif name in DIRECTIONS and not rest:
        media.direction = name
    else:
        media.other.append(value)


def parse(text: str | bytes) -> SessionDescription:
    """The SDP in `text`, validated; SdpError on anything malformed."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise SdpError("SDP is not UTF-8") from None
    if len(text) > MAX_SDP_BYTES:
        raise SdpError(f"SDP longer than {MAX_SDP_BYTES} bytes")
    lines = [line for line in text.replace("\r\n", "\n").split("\n") if line]
    if not lines or lines[0] != "v=0":
        raise SdpError("SDP must start with v=0")
    origin: str | None = None
    timing = False
    connection: str | None = None
    name: str | None = None
    media: list[MediaDescription] = []
    for number, line in enumerate(lines[1:], start=2):
        where = f"line {number}"
        if len(line) > MAX_LINE:
            raise SdpError(f"{where}: longer than {MAX_LINE} characters")
        match = _LINE.match(line)
        if match is None:
            raise SdpError(f"{where}: not '<type>=<value>': {line[:60]!r}")
        kind, value = match.groups()
        if kind == "m":
            if len(media) >= MAX_MEDIA:
                raise SdpError(f"more than {MAX_MEDIA} m-lines")
            media.append(_media_line(value, where))
        elif kind == "c":
            address = _address(value, where)
            if media:
                media[-1].connection = address
            else:
                connection = address
        elif kind == "a":
            if media:
                _attribute(media[-1], value, where)
        elif not media:
            if kind == "o":
                if len(value.split()) != 6:
                    raise SdpError(f"{where}: o= needs 6 fields")
                origin = value
            elif kind == "s":
                name = value
            elif kind == "t":
                timing = True
            elif kind == "v":
                raise SdpError(f"{where}: a second v= line")
    if origin is None or name is None or not timing:
        raise SdpError("SDP lacks one of o=, s= or t=")
    for index, m in enumerate(media):
        if m.connection is None and connection is None and m.port != 0:
            raise SdpError(f"m-line {index + 1} has no connection address (c=)")
    return SessionDescription(origin, connection, media, name)


def serialize(session: SessionDescription) -> str:
    lines = ["v=0", f"o={session.origin}", f"s={session.name}"]
    if session.connection:
        lines.append(f"c=IN {_ip_kind(session.connection)} {session.connection}")
    lines.append("t=0 0")
    for m in session.media:
        lines.append(f"m={m.kind} {m.port} {m.proto} {' '.join(m.formats)}")
        if m.connection:
            lines.append(f"c=IN {_ip_kind(m.connection)} {m.connection}")
        if m.rtcp_port is not None:
            lines.append(f"a=rtcp:{m.rtcp_port}")
        for pt, rtpmap in m.rtpmap.items():
            channels = f"/{rtpmap.channels}" if rtpmap.channels != 1 else ""
            lines.append(f"a=rtpmap:{pt} {rtpmap.name}/{rtpmap.clock_rate}{channels}")
        for pt, params in m.fmtp.items():
            text = ";".join(f"{k}={v}" if v else k for k, v in params.items())
            lines.append(f"a=fmtp:{pt} {text}")
        for pt_text, values in m.rtcp_fb.items():
            lines.extend(f"a=rtcp-fb:{pt_text} {v}" for v in sorted(values))
        lines.extend(f"a=crypto:{c}" for c in m.crypto)
        if m.ptime:
            lines.append(f"a=ptime:{m.ptime}")
        if m.rtcp_mux:
            lines.append("a=rtcp-mux")
        lines.extend(f"a={o}" for o in m.other)
        lines.append(f"a={m.direction}")
    return "\r\n".join(lines) + "\r\n"


def _ip_kind(address: str) -> str:
    return "IP6" if ":" in address else "IP4"
