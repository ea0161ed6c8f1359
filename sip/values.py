"""Structured header values of RFC 3261 section 25.1: SIP URIs, name-addr / addr-spec with
header parameters (From, To, Contact, Route, Record-Route), Via and CSeq, and the scalar
fields. Each parser raises SipParseError (400 with a reason phrase naming the header)."""

from __future__ import annotations

from dataclasses import dataclass, field

from sip.errors import SipParseError
from sip.grammar import CSEQ_MAX, DELTA_SECONDS_MAX, MAX_FORWARDS_MAX, TOKEN_CHARS

_WS = " \t"


def is_token(text: str) -> bool:
    return bool(text) and all(ch in TOKEN_CHARS for ch in text)


def split_outside_quotes(text: str, separator: str) -> list[str]:
    """Split on `separator` except inside a quoted string (with its backslash escapes) or
    between angle brackets."""
    parts: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    angle = 0
    for ch in text:
        if quoted:
            current.append(ch)
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                quoted = False
            continue
        if ch == '"':
            quoted = True
        elif ch == "<":
            angle += 1
        elif ch == ">":
            angle = max(0, angle - 1)
        elif ch == separator and angle == 0:
            parts.append("".join(current))
            current = []
            continue
        current.append(ch)
    if quoted:
        raise ValueError("unterminated quoted string")
    parts.append("".join(current))
    return parts


def parse_params(text: str, header: str) -> dict[str, str | None]:
    """`;name[=value]` parameters (generic-param); names are case-insensitive."""
    params: dict[str, str | None] = {}
    try:
        pieces = split_outside_quotes(text, ";")
    except ValueError as exc:
        raise SipParseError(400, f"Bad {header}", str(exc)) from exc
    for piece in pieces:
        piece = piece.strip(_WS)
        if not piece:
            continue
        name, sep, value = piece.partition("=")
        name = name.strip(_WS)
        if not is_token(name):
            raise SipParseError(400, f"Bad {header}", f"parameter name {name!r}")
        params[name.lower()] = value.strip(_WS) if sep else None
    return params


def format_params(params: dict[str, str | None]) -> str:
    return "".join(f";{k}" if v is None else f";{k}={v}" for k, v in params.items())


@dataclass
class SipUri:
    scheme: str
    user: str | None
    host: str
    port: int | None = None
    params: dict[str, str | None] = field(default_factory=dict)
    headers: str = ""

    @classmethod
    def parse(cls, text: str, header: str = "Request-URI") -> SipUri:
        scheme, colon, rest = text.partition(":")
        if not colon or not scheme or not scheme[0].isalpha() or any(
                not (c.isalnum() or c in "+-.") for c in scheme):
            raise SipParseError(400, f"Bad {header}", f"no URI scheme in {text!r}")
        if any(c in text for c in " \t<>\"") or not rest:
            raise SipParseError(400, f"Bad {header}", f"malformed URI {text!r}")
        scheme = scheme.lower()
        if scheme not in ("sip", "sips"):
            # an absolute URI of another scheme: kept whole, its host empty (section 19.1.1)
            return cls(scheme, None, "", None, {}, rest)
        user: str | None = None
        if "@" in rest:
            user, _, rest = rest.rpartition("@")
        rest, _, headers = rest.partition("?")
        hostport, _, params = rest.partition(";")
        host, port = _split_hostport(hostport, header)
        return cls(scheme, user, host, port, parse_params(params, header), headers)

    def __str__(self) -> str:
        if self.scheme not in ("sip", "sips"):
            return f"{self.scheme}:{self.headers}"
        user = f"{self.user}@" if self.user is not None else ""
        port = f":{self.port}" if self.port is not None else ""
        headers = f"?{self.headers}" if self.headers else ""
        return f"{self.scheme}:{user}{self.host}{port}{format_params(self.params)}{headers}"

    @property
    def aor(self) -> str:
        """The address-of-record form (scheme, user, host): what a registrar keys on."""
        user = f"{self.user}@" if self.user is not None else ""
        return f"{self.scheme}:{user}{self.host.lower()}"


def _split_hostport(text: str, header: str) -> tuple[str, int | None]:
    text = text.strip(_WS)
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise SipParseError(400, f"Bad {header}", f"bad IPv6 reference {text!r}")
        host, rest = text[: end + 1], text[end + 1:]
    else:
        host, _, port_text = text.partition(":")
        rest = ":" + port_text if _ else ""
    if not host or any(c in host for c in " \t;,"):
        raise SipParseError(400, f"Bad {header}", f"bad host {text!r}")
    if not rest:
        return host, None
    port_text = rest[1:].strip(_WS)
    if not rest.startswith(":") or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise SipParseError(400, f"Bad {header}", f"bad port in {text!r}")
    return host, int(port_text)


def unquote(text: str) -> str:
    """The content of a quoted-string, its quoted-pairs resolved."""
    out: list[str] = []
    escaped = False
    for ch in text[1:-1]:
        if escaped:
            out.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        else:
            out.append(ch)
    return "".join(out)


@dataclass
class NameAddr:
    """name-addr or addr-spec with its header parameters (From, To, Contact, Route)."""

    uri: SipUri
    display: str | None = None
    params: dict[str, str | None] = field(default_factory=dict)
    star: bool = False  # the Contact: * of a REGISTER that removes every binding

    @classmethod
    def parse(cls, text: str, header: str) -> NameAddr:
        text = text.strip(_WS)
        if text == "*" and header == "Contact":
            return cls(SipUri("sip", None, ""), star=True)
        display: str | None = None
        if text.startswith('"'):
            end = _closing_quote(text)
            if end < 0:
                raise SipParseError(400, f"Bad {header}", "unterminated quoted display name")
            display, text = unquote(text[: end + 1]), text[end + 1:].lstrip(_WS)
            if not text.startswith("<"):
                raise SipParseError(400, f"Bad {header}", "display name without <URI>")
        if "<" in text:
            before, _, rest = text.partition("<")
            if display is None and before.strip(_WS):
                words = before.split()
                if not all(is_token(w) for w in words):
                    raise SipParseError(400, f"Bad {header}", "display name is not tokens")
                display = " ".join(words)
            uri_text, closed, params = rest.partition(">")
            if not closed:
                raise SipParseError(400, f"Bad {header}", "no closing '>'")
            uri = SipUri.parse(uri_text.strip(_WS), header)
        else:
            # addr-spec: its ';' parameters belong to the header, not the URI (section 20)
            if '"' in text:
                raise SipParseError(400, f"Bad {header}", "quote in addr-spec")
            uri_text, _, params = text.partition(";")
            uri = SipUri.parse(uri_text.strip(_WS), header)
        return cls(uri, display, parse_params(params, header))

    @property
    def tag(self) -> str | None:
        return self.params.get("tag")

    def __str__(self) -> str:
        if self.star:
            return "*"
        display = ""
        if self.display is not None:
            escaped = self.display.replace("\\", "\\\\").replace('"', '\\"')
            display = f'"{escaped}" '
        return f"{display}<{self.uri}>{format_params(self.params)}"


def _closing_quote(text: str) -> int:
    escaped = False
    for index in range(1, len(text)):
        ch = text[index]
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == '"':
            return index
    return -1


@dataclass
class Via:
    transport: str
    host: str
    port: int | None
    params: dict[str, str | None] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> Via:
        protocol, sep, rest = _split_sent_protocol(text)
        if not sep:
            raise SipParseError(400, "Bad Via", f"no sent-by in {text!r}")
        parts = [p.strip(_WS) for p in protocol.split("/")]
        if len(parts) != 3 or parts[0].upper() != "SIP" or parts[1] != "2.0" or not is_token(
                parts[2]):
            raise SipParseError(400, "Bad Via", f"bad sent-protocol {protocol!r}")
        sent_by, _, params = rest.partition(";")
        host, port = _split_hostport(sent_by, "Via")
        return cls(parts[2].upper(), host, port, parse_params(params, "Via"))

    @property
    def branch(self) -> str | None:
        return self.params.get("branch")

    @property
    def sent_by(self) -> str:
        return f"{self.host.lower()}:{self.port or 5060}"

    def __str__(self) -> str:
        port = f":{self.port}" if self.port is not None else ""
        return f"SIP/2.0/{self.transport} {self.host}{port}{format_params(self.params)}"


def _split_sent_protocol(text: str) -> tuple[str, str, str]:
    """`SIP / 2.0 / UDP  host;params`: LWS may surround the slashes (RFC 4475 3.1.1.1)."""
    text = text.strip(_WS)
    slashes = 0
    index = 0
    while index < len(text) and slashes < 2:
        if text[index] == "/":
            slashes += 1
        index += 1
    while index < len(text) and text[index] in _WS:
        index += 1
    while index < len(text) and text[index] not in _WS:
        index += 1
    protocol, rest = text[:index], text[index:].lstrip(_WS)
    return protocol, (" " if rest else ""), rest


@dataclass(frozen=True)
class CSeq:
    number: int
    method: str

    @classmethod
    def parse(cls, text: str) -> CSeq:
        parts = text.split()
        if len(parts) != 2 or not parts[0].isdigit() or not is_token(parts[1]):
            raise SipParseError(400, "Bad CSeq", f"CSeq {text!r}")
        number = int(parts[0])
        if number > CSEQ_MAX:
            raise SipParseError(400, "Bad CSeq", "sequence number beyond 2**32-1")
        return cls(number, parts[1])

    def __str__(self) -> str:
        return f"{self.number} {self.method}"


def parse_max_forwards(text: str) -> int:
    text = text.strip(_WS)
    if not text.isdigit() or int(text) > MAX_FORWARDS_MAX:
        raise SipParseError(400, "Bad Max-Forwards", f"Max-Forwards {text!r}")
    return int(text)


def parse_delta_seconds(text: str, header: str = "Expires") -> int:
    text = (text or "").strip(_WS)
    if not text.isdigit():
        raise SipParseError(400, f"Bad {header}", f"{header} {text!r}")
    return min(int(text), DELTA_SECONDS_MAX)
