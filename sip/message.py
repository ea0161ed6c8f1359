"""SIP messages (RFC 3261 section 7) and their codec: the start line, headers (compact forms
expanded, folded lines unfolded, comma lists split into one entry per value, per the table of
sip/grammar.py), the mandatory and single-valued headers checked, Content-Length framing, and
serialization back to bytes. Every refusal is a SipParseError carrying the response to send."""

from __future__ import annotations

from dataclasses import dataclass, field

from sip.errors import SipParseError
from sip.grammar import (
    REQUEST_MANDATORY,
    RESPONSE_MANDATORY,
    RULES_BY_NAME,
    SIP_VERSION,
    Limits,
)
from sip.values import (
    CSeq,
    NameAddr,
    SipUri,
    Via,
    is_token,
    parse_delta_seconds,
    parse_max_forwards,
    split_outside_quotes,
)

DEFAULT_LIMITS = Limits()
_WS = " \t"


def canonical(name: str) -> str:
    rule = RULES_BY_NAME.get(name.lower())
    return rule.name if rule else name


class Headers:
    """Ordered header entries, one per value of a comma list; names case-insensitive."""

    def __init__(self, items: list[tuple[str, str]] | None = None) -> None:
        self.items: list[tuple[str, str]] = []
        for name, value in items or []:
            self.add(name, value)

    def add(self, name: str, value: str) -> None:
        self.items.append((canonical(name), value))

    def get(self, name: str) -> str | None:
        name = canonical(name).lower()
        return next((v for n, v in self.items if n.lower() == name), None)

    def get_all(self, name: str) -> list[str]:
        name = canonical(name).lower()
        return [v for n, v in self.items if n.lower() == name]

    def set(self, name: str, value: str) -> None:
        self.remove(name)
        self.add(name, value)

    def remove(self, name: str) -> None:
        lowered = canonical(name).lower()
        self.items = [(n, v) for n, v in self.items if n.lower() != lowered]

    def __contains__(self, name: str) -> bool:
        return self.get(name) is not None

    def copy(self) -> Headers:
        headers = Headers()
        headers.items = list(self.items)
        return headers


@dataclass
class Message:
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""

    # typed views of the headers the stack works with
    @property
    def vias(self) -> list[Via]:
        return [Via.parse(v) for v in self.headers.get_all("Via")]

    @property
    def top_via(self) -> Via:
        return Via.parse(self.headers.get_all("Via")[0])

    @property
    def from_(self) -> NameAddr:
        return NameAddr.parse(self.headers.get("From") or "", "From")

    @property
    def to(self) -> NameAddr:
        return NameAddr.parse(self.headers.get("To") or "", "To")

    @property
    def call_id(self) -> str:
        return self.headers.get("Call-ID") or ""

    @property
    def cseq(self) -> CSeq:
        return CSeq.parse(self.headers.get("CSeq") or "")

    @property
    def contacts(self) -> list[NameAddr]:
        return [NameAddr.parse(v, "Contact") for v in self.headers.get_all("Contact")]

    @property
    def content_type(self) -> str:
        return (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()

    def start_line(self) -> str:
        raise NotImplementedError

    def encode(self) -> bytes:
        lines = [self.start_line()]
        lines += [f"{name}: {value}" for name, value in self.headers.items
                  if name != "Content-Length"]
        lines.append(f"Content-Length: {len(self.body)}")
        head = "\r\n".join(lines) + "\r\n\r\n"
        return head.encode("utf-8", "surrogateescape") + self.body


@dataclass
class Request(Message):
    method: str = ""
    uri: str = ""

    def start_line(self) -> str:
        return f"{self.method} {self.uri} {SIP_VERSION}"

    @property
    def request_uri(self) -> SipUri:
        return SipUri.parse(self.uri)


@dataclass
class Response(Message):
    status: int = 0
    reason: str = ""

    def start_line(self) -> str:
        return f"{SIP_VERSION} {self.status} {self.reason}"


def split_head(data: bytes, limits: Limits = DEFAULT_LIMITS) -> tuple[bytes, bytes] | None:
    """The header section (start line and headers, without the blank line) and what follows,
    or None when the blank line has not arrived yet. Leading CRLFs (keep-alives, section 7.5)
    are skipped."""
    data = data.lstrip(b"\r\n")
    end = data.find(b"\r\n\r\n")
    if end < 0:
        if len(data) > limits.max_header_bytes:
            raise SipParseError(513, "Message Too Large", "header section over the limit")
        return None
    if end > limits.max_header_bytes:
        raise SipParseError(513, "Message Too Large", "header section over the limit")
    return data[:end], data[end + 4:]


def parse_head(head: bytes, limits: Limits = DEFAULT_LIMITS) -> Request | Response:
    """The start line and headers, validated; the body is left empty."""
    text = head.decode("utf-8", "surrogateescape")
    raw_lines = text.split("\r\n")
    start, header_lines = raw_lines[0], _unfold(raw_lines[1:], limits)
    message = _parse_start_line(start)
    headers = message.headers
    for line in header_lines:
        name, colon, value = line.partition(":")
        name = name.rstrip(_WS)
        if not colon or not is_token(name):
            raise SipParseError(400, "Bad Header", f"malformed header line {line[:40]!r}")
        value = value.strip(_WS)
        rule = RULES_BY_NAME.get(name.lower())
        if rule and rule.multi:
            try:
                values = [v.strip(_WS) for v in split_outside_quotes(value, ",")]
            except ValueError as exc:
                raise SipParseError(400, f"Bad {rule.name}", str(exc)) from exc
            if values == [""] and rule.name not in ("Via", "Contact", "Route",
                                                    "Record-Route"):
                headers.add(rule.name, "")  # an empty list: `Supported:` with no tags
                values = []
            for item in values:
                if not item and rule.name in ("Via", "Contact", "Route", "Record-Route"):
                    raise SipParseError(400, f"Bad {rule.name}", "empty list element")
                if item:
                    headers.add(rule.name, item)
        else:
            headers.add(name, value)
        if len(headers.items) > limits.max_headers:
            raise SipParseError(513, "Message Too Large", "too many headers")
    _validate(message)
    return message


def _unfold(lines: list[str], limits: Limits) -> list[str]:
    out: list[str] = []
    for line in lines:
        if line[:1] in (" ", "\t"):
            if not out:
                raise SipParseError(400, "Bad Header", "continuation line without a header")
            out[-1] = out[-1].rstrip(_WS) + " " + line.strip(_WS)
        else:
            out.append(line)
        if len(out[-1]) > limits.max_header_line:
            raise SipParseError(513, "Message Too Large", "header line over the limit")
    return out


def _parse_start_line(line: str) -> Request | Response:
    if line.startswith("SIP/"):
        parts = line.split(" ", 2)
        if len(parts) < 2 or parts[0] != SIP_VERSION:
            raise SipParseError(400, "Bad Status-Line", f"{line[:60]!r}")
        code = parts[1]
        if len(code) != 3 or not code.isdigit() or not 100 <= int(code) <= 699:
            raise SipParseError(400, "Bad Status-Line", f"status code {code!r}")
        return Response(status=int(code), reason=parts[2] if len(parts) > 2 else "")
    # Request-Line = Method SP Request-URI SP SIP-Version CRLF: exactly single spaces
    parts = line.split(" ")
    if len(parts) != 3 or not is_token(parts[0]):
        raise SipParseError(400, "Bad Request-Line", f"{line[:60]!r}")
    method, uri, version = parts
    SipUri.parse(uri)  # a URI, not <URI> nor one holding LWS (RFC 4475 3.1.2.7, 3.1.2.8)
    if version.upper() != SIP_VERSION:
        if version.upper().startswith("SIP/"):
            raise SipParseError(505, "Version Not Supported", version)
        raise SipParseError(400, "Bad Request-Line", f"version {version!r}")
    return Request(method=method, uri=uri)


def _validate(message: Request | Response) -> None:
    headers = message.headers
    mandatory = REQUEST_MANDATORY if isinstance(message, Request) else RESPONSE_MANDATORY
    for name in mandatory:
        if name not in headers:
            raise SipParseError(400, f"Missing {name}", f"no {name} header")
    for rule_name in ("From", "To", "Call-ID", "CSeq", "Max-Forwards", "Content-Length",
                      "Content-Type", "Expires"):
        if len(headers.get_all(rule_name)) > 1:
            raise SipParseError(400, f"Multiple {rule_name}", f"{rule_name} more than once")
    message.vias  # noqa: B018 - each Via parses
    message.from_  # noqa: B018
    message.to  # noqa: B018
    cseq = message.cseq
    if isinstance(message, Request):
        if cseq.method != message.method:
            raise SipParseError(400, "CSeq Method Mismatch",
                                f"{cseq.method} in CSeq, {message.method} in Request-Line")
        parse_max_forwards(headers.get("Max-Forwards") or "")
        message.contacts  # noqa: B018
    if "Expires" in headers:
        parse_delta_seconds(headers.get("Expires") or "")
    if "Content-Length" in headers:
        content_length(message)


def content_length(message: Message) -> int | None:
    text = message.headers.get("Content-Length")
    if text is None:
        return None
    text = text.strip(_WS)
    if not text.isdigit():
        raise SipParseError(400, "Bad Content-Length", f"Content-Length {text!r}")
    return int(text)


def parse_datagram(data: bytes, limits: Limits = DEFAULT_LIMITS) -> Request | Response:
    """A whole message from one UDP datagram (section 18.3): octets beyond Content-Length
    are discarded, fewer octets than it announces is an error (RFC 4475 3.1.2.2)."""
    split = split_head(data, limits)
    if split is None:
        raise SipParseError(400, "Incomplete Message", "no blank line after the headers")
    head, rest = split
    message = parse_head(head, limits)
    length = content_length(message)
    if length is None:
        length = len(rest)
    if length > limits.max_body:
        raise SipParseError(413, "Request Entity Too Large", f"body of {length} octets")
    if length > len(rest):
        raise SipParseError(400, "Bad Content-Length",
                            f"Content-Length {length} but {len(rest)} octets")
    message.body = rest[:length]
    return message


def parse_bytes(data: bytes, limits: Limits = DEFAULT_LIMITS) -> Request | Response:
    """A complete message (tests and tools): the datagram rules."""
    return parse_datagram(data, limits)
