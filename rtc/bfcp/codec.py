"""BFCP binary encoding (RFC 8855 section 5), driven by the tables in rtc/bfcp/tables.py.

`encode(message)` gives the bytes of one message; `decode(data)` reads exactly one message
from `data` or raises `BfcpError` carrying the ERROR-CODE to answer with. Decoding is total:
whatever the bytes, nothing but `BfcpError` comes out of it (tests/test_bfcp_codec.py checks
that with generated and mutated inputs). docs/bfcp.md lists the rules and the limits.

Only reliable transport (TCP/TLS) is implemented: messages carrying the F (fragmentation)
bit are refused, the R bit is kept as read.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rtc.bfcp.tables import (
    ATTRIBUTE_HEADER_SIZE,
    ATTRIBUTE_KINDS,
    COMMON_HEADER_SIZE,
    GROUPED_GRAMMAR,
    MAX_ATTRIBUTE_LENGTH,
    MAX_GROUP_DEPTH,
    MESSAGE_GRAMMAR,
    VERSION_RELIABLE,
    VERSION_UNRELIABLE,
    AttributeType,
    ErrorCode,
    Grammar,
    Kind,
    Primitive,
    Priority,
    RequestStatus,
)

SUPPORTED_VERSIONS = (VERSION_RELIABLE, VERSION_UNRELIABLE)
MAX_PAYLOAD_UNITS = 0xFFFF  # the 16-bit Payload Length, in 4-octet units


class BfcpError(Exception):
    """A message that cannot be accepted, with the ERROR-CODE to answer it with.

    `unknown_attributes` lists the unknown attribute types that carried the M bit (error 4
    reports them in its Error Specific Details).
    """

    def __init__(
        self, code: ErrorCode, reason: str, unknown_attributes: tuple[int, ...] = ()
    ) -> None:
        super().__init__(f"{code.name}: {reason}")
        self.code = code
        self.reason = reason
        self.unknown_attributes = unknown_attributes


@dataclass(frozen=True)
class RequestStatusValue:
    """REQUEST-STATUS contents: the status and the position in the floor's queue (0: none)."""

    status: RequestStatus
    queue_position: int = 0


@dataclass(frozen=True)
class ErrorCodeValue:
    """ERROR-CODE contents: the code and its Error Specific Details (raw octets)."""

    code: int
    details: bytes = b""


@dataclass(frozen=True)
class Grouped:
    """A grouped attribute: its 16-bit leading value (a floor, request or user id) and the
    attributes nested in it."""

    lead: int
    attributes: tuple[Attribute, ...] = ()

    def first(self, kind: AttributeType) -> Any:
        return _first(self.attributes, kind)

    def all(self, kind: AttributeType) -> list[Any]:
        return [a.value for a in self.attributes if a.type == kind]


@dataclass(frozen=True)
class Attribute:
    """One attribute: its type, value (by the type's Kind) and M (mandatory) bit."""

    type: AttributeType
    value: Any
    mandatory: bool = False


@dataclass(frozen=True)
class Header:
    """The common header as read (section 5.1)."""

    version: int
    responder: bool
    fragmented: bool
    primitive: int
    payload_units: int
    conference_id: int
    transaction_id: int
    user_id: int

    @property
    def message_size(self) -> int:
        return COMMON_HEADER_SIZE + 4 * self.payload_units


@dataclass(frozen=True)
class Message:
    primitive: Primitive
    conference_id: int
    transaction_id: int
    user_id: int
    attributes: tuple[Attribute, ...] = field(default=())
    version: int = VERSION_RELIABLE
    responder: bool = False

    def first(self, kind: AttributeType) -> Any:
        """The value of the first attribute of that type, or None."""
        return _first(self.attributes, kind)

    def all(self, kind: AttributeType) -> list[Any]:
        return [a.value for a in self.attributes if a.type == kind]


def _first(attributes: tuple[Attribute, ...], kind: AttributeType) -> Any:
    for attribute in attributes:
        if attribute.type == kind:
            return attribute.value
    return None


def _padded(length: int) -> int:
    return (length + 3) & ~3


# ---------------------------------------------------------------- decoding


def parse_header(data: bytes) -> Header:
    """The common header at the start of `data` (at least 12 octets), checked: a supported
    version, no F bit (reliable transport only). The primitive is checked by `decode`, after
    the length, so that a reader keeps its framing on an unknown primitive."""
    if len(data) < COMMON_HEADER_SIZE:
        raise BfcpError(ErrorCode.INCORRECT_MESSAGE_LENGTH, "shorter than the common header")
    first, primitive, units, conference_id, transaction_id, user_id = struct.unpack_from(
        "!BBHIHH", data
    )
    header = Header(
        version=first >> 5,
        responder=bool(first & 0x10),
        fragmented=bool(first & 0x08),
        primitive=primitive,
        payload_units=units,
        conference_id=conference_id,
        transaction_id=transaction_id,
        user_id=user_id,
    )
    if header.version not in SUPPORTED_VERSIONS:
        raise BfcpError(ErrorCode.UNSUPPORTED_VERSION, f"version {header.version}")
    if header.fragmented:
        raise BfcpError(
            ErrorCode.UNABLE_TO_PARSE_MESSAGE, "F (fragmentation) is for UDP only"
        )
    return header


def decode(data: bytes) -> Message:
    """Exactly one message, or BfcpError with the code to answer."""
    header = parse_header(data)
    if header.message_size != len(data):
        raise BfcpError(
            ErrorCode.INCORRECT_MESSAGE_LENGTH,
            f"payload length says {header.message_size} octets, got {len(data)}",
        )
    try:
        primitive = Primitive(header.primitive)
    except ValueError:
        raise BfcpError(ErrorCode.UNKNOWN_PRIMITIVE, f"primitive {header.primitive}") from None
    attributes = _decode_attributes(
        data, COMMON_HEADER_SIZE, len(data), MESSAGE_GRAMMAR[primitive], primitive.name, 0
    )
    return Message(
        primitive=primitive,
        conference_id=header.conference_id,
        transaction_id=header.transaction_id,
        user_id=header.user_id,
        attributes=attributes,
        version=header.version,
        responder=header.responder,
    )


def _decode_attributes(
    data: bytes, start: int, end: int, grammar: Grammar, where: str, depth: int
) -> tuple[Attribute, ...]:
    if depth > MAX_GROUP_DEPTH:
        raise BfcpError(ErrorCode.UNABLE_TO_PARSE_MESSAGE, "grouped attributes nest too deep")
    attributes: list[Attribute] = []
    unknown: list[int] = []
    position = start
    while position < end:
        if end - position < ATTRIBUTE_HEADER_SIZE:
            raise BfcpError(ErrorCode.UNABLE_TO_PARSE_MESSAGE, f"{where}: attribute cut short")
        type_m, length = data[position], data[position + 1]
        type_number, mandatory = type_m >> 1, bool(type_m & 1)
        if length < ATTRIBUTE_HEADER_SIZE or position + _padded(length) > end:
            raise BfcpError(
                ErrorCode.UNABLE_TO_PARSE_MESSAGE,
                f"{where}: attribute {type_number} length {length} overruns its container",
            )
        contents = data[position + ATTRIBUTE_HEADER_SIZE : position + length]
        position += _padded(length)  # padding octets are ignored (section 5.2)
        if type_number not in ATTRIBUTE_KINDS:
            if mandatory:
                unknown.append(type_number)
            continue  # an extension attribute without M: skipped
        kind = AttributeType(type_number)
        if kind not in grammar:
            raise BfcpError(
                ErrorCode.UNABLE_TO_PARSE_MESSAGE, f"{kind.name} is not allowed in {where}"
            )
        value = _decode_value(kind, contents, depth)
        attributes.append(Attribute(kind, value, mandatory))
    if unknown:
        raise BfcpError(
            ErrorCode.UNKNOWN_MANDATORY_ATTRIBUTE,
            f"{where}: unknown mandatory attributes {unknown}",
            tuple(unknown),
        )
    _check_grammar(attributes, grammar, where, _decode_failure)
    return tuple(attributes)


def _decode_failure(reason: str) -> Exception:
    return BfcpError(ErrorCode.UNABLE_TO_PARSE_MESSAGE, reason)


def _encode_failure(reason: str) -> Exception:
    return ValueError(reason)


def _check_grammar(
    attributes: list[Attribute],
    grammar: Grammar,
    where: str,
    failure: Callable[[str], Exception],
) -> None:
    for kind, occurs in grammar.items():
        count = sum(1 for a in attributes if a.type == kind)
        if not occurs.allows(count):
            raise failure(f"{where}: {count} x {kind.name}, allowed {occurs.least}..{occurs.most}")
    for attribute in attributes:
        if attribute.type not in grammar:
            raise failure(f"{attribute.type.name} is not allowed in {where}")


def _decode_value(kind: AttributeType, contents: bytes, depth: int) -> Any:
    layout = ATTRIBUTE_KINDS[kind]

    def bad(reason: str) -> BfcpError:
        return BfcpError(ErrorCode.UNABLE_TO_PARSE_MESSAGE, f"{kind.name}: {reason}")

    if layout in (Kind.UNSIGNED16, Kind.PRIORITY, Kind.REQUEST_STATUS):
        if len(contents) != 2:
            raise bad(f"{len(contents)} octets of contents, expected 2")
        if layout is Kind.UNSIGNED16:
            return int.from_bytes(contents, "big")
        if layout is Kind.PRIORITY:
            try:
                return Priority(contents[0] >> 5)  # the other 13 bits are reserved
            except ValueError:
                raise bad(f"priority {contents[0] >> 5}") from None
        try:
            status = RequestStatus(contents[0])
        except ValueError:
            raise bad(f"request status {contents[0]}") from None
        return RequestStatusValue(status, contents[1])
    if layout is Kind.ERROR_CODE:
        if not contents:
            raise bad("no error code")
        return ErrorCodeValue(contents[0], bytes(contents[1:]))
    if layout is Kind.OCTETS:
        return bytes(contents)
    if layout is Kind.TYPE_LIST:
        return tuple(octet >> 1 for octet in contents)  # the low bit is reserved
    if layout is Kind.OCTET_LIST:
        return tuple(contents)
    # Kind.GROUPED
    if len(contents) < 2:
        raise bad("no leading 16-bit value")
    lead = int.from_bytes(contents[:2], "big")
    nested = _decode_attributes(
        contents, 2, len(contents), GROUPED_GRAMMAR[kind], kind.name, depth + 1
    )
    return Grouped(lead, nested)


# ---------------------------------------------------------------- encoding


def encode(message: Message) -> bytes:
    """The bytes of `message`; ValueError when it breaks the grammar or a field's range."""
    if message.version not in SUPPORTED_VERSIONS:
        raise ValueError(f"version {message.version}")
    _check_u(message.conference_id, 32, "conference id")
    _check_u(message.transaction_id, 16, "transaction id")
    _check_u(message.user_id, 16, "user id")
    primitive = Primitive(message.primitive)
    _check_grammar(
        list(message.attributes), MESSAGE_GRAMMAR[primitive], primitive.name, _encode_failure
    )
    payload = b"".join(_encode_attribute(a, 0) for a in message.attributes)
    units = len(payload) // 4
    if units > MAX_PAYLOAD_UNITS:
        raise ValueError("message too long for its 16-bit payload length")
    first = (message.version << 5) | (0x10 if message.responder else 0)
    header = struct.pack(
        "!BBHIHH",
        first,
        primitive,
        units,
        message.conference_id,
        message.transaction_id,
        message.user_id,
    )
    return header + payload


def _check_u(value: int, bits: int, what: str) -> None:
    if not isinstance(value, int) or not 0 <= value < (1 << bits):
        raise ValueError(f"{what} {value!r} is not an unsigned {bits}-bit integer")


def _encode_attribute(attribute: Attribute, depth: int) -> bytes:
    kind = AttributeType(attribute.type)
    contents = _encode_value(kind, attribute.value, depth)
    length = ATTRIBUTE_HEADER_SIZE + len(contents)
    if length > MAX_ATTRIBUTE_LENGTH:
        raise ValueError(f"{kind.name}: {length} octets, the 8-bit length allows 255")
    head = bytes([(kind << 1) | (1 if attribute.mandatory else 0), length])
    return head + contents + bytes(_padded(length) - length)


def _encode_value(kind: AttributeType, value: Any, depth: int) -> bytes:
    layout = ATTRIBUTE_KINDS[kind]
    if layout is Kind.UNSIGNED16:
        _check_u(value, 16, kind.name)
        return value.to_bytes(2, "big")
    if layout is Kind.PRIORITY:
        return bytes([Priority(value) << 5, 0])
    if layout is Kind.REQUEST_STATUS:
        if not isinstance(value, RequestStatusValue):
            raise ValueError(f"{kind.name} needs a RequestStatusValue")
        _check_u(value.queue_position, 8, "queue position")
        return bytes([RequestStatus(value.status), value.queue_position])
    if layout is Kind.ERROR_CODE:
        if not isinstance(value, ErrorCodeValue):
            raise ValueError(f"{kind.name} needs an ErrorCodeValue")
        _check_u(value.code, 8, "error code")
        return bytes([value.code]) + bytes(value.details)
    if layout is Kind.OCTETS:
        if not isinstance(value, bytes):
            raise ValueError(f"{kind.name} needs bytes")
        return value
    if layout is Kind.TYPE_LIST:
        for item in value:
            _check_u(item, 7, "attribute type")
        return bytes(item << 1 for item in value)
    if layout is Kind.OCTET_LIST:
        for item in value:
            _check_u(item, 8, "primitive")
        return bytes(value)
    # Kind.GROUPED
    if not isinstance(value, Grouped):
        raise ValueError(f"{kind.name} needs a Grouped value")
    if depth >= MAX_GROUP_DEPTH:
        raise ValueError("grouped attributes nest too deep")
    _check_u(value.lead, 16, f"{kind.name} leading value")
    _check_grammar(list(value.attributes), GROUPED_GRAMMAR[kind], kind.name, _encode_failure)
    nested = b"".join(_encode_attribute(a, depth + 1) for a in value.attributes)
    return value.lead.to_bytes(2, "big") + nested
