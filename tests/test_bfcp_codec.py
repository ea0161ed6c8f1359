"""The BFCP codec (rtc/bfcp/codec.py) against RFC 8855's bit layouts, and its totality.

RFC 8855 (and RFC 4582 before it) gives no hex dumps, so the expected bytes below are built
by hand, field by field, from the section 5 figures; they do not use the encoder.
"""

from __future__ import annotations

import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rtc.bfcp import messages
from rtc.bfcp.codec import (
    Attribute,
    BfcpError,
    ErrorCodeValue,
    Grouped,
    Message,
    RequestStatusValue,
    decode,
    encode,
)
from rtc.bfcp.tables import (
    ATTRIBUTE_KINDS,
    GROUPED_GRAMMAR,
    MESSAGE_GRAMMAR,
    AttributeType,
    ErrorCode,
    Grammar,
    Kind,
    Primitive,
    Priority,
    RequestStatus,
)


def header(
    primitive: int,
    payload_octets: int,
    conference: int,
    transaction: int,
    user: int,
    *,
    version: int = 1,
    r: int = 0,
    f: int = 0,
) -> bytes:
    """Section 5.1, figure 3: | Ver(3) |R|F| Res(3) | Primitive(8) | Payload Length(16) |,
    then Conference ID (32), Transaction ID (16), User ID (16). Payload Length counts 4-octet
    units after the 12-octet header."""
    assert payload_octets % 4 == 0
    first_octet = (version << 5) | (r << 4) | (f << 3)  # Res = 000
    return (
        bytes([first_octet, primitive])
        + (payload_octets // 4).to_bytes(2, "big")
        + conference.to_bytes(4, "big")
        + transaction.to_bytes(2, "big")
        + user.to_bytes(2, "big")
    )


def attr(type_: int, m: int, contents: bytes) -> bytes:
    """Section 5.2, figure 4: | Type(7) |M| Length(8) | contents | padding to 32 bits |.
    Length counts the 2-octet header and the contents, not the padding."""
    length = 2 + len(contents)
    padding = (-length) % 4
    return bytes([(type_ << 1) | m, length]) + contents + bytes(padding)


# ------------------------------------------------------------- the RFC's layouts, by hand


def test_floor_request_layout() -> None:
    # Section 5.3.1: FloorRequest = COMMON-HEADER 1*(FLOOR-ID) [BENEFICIARY-ID]
    # [PARTICIPANT-PROVIDED-INFO] [PRIORITY]. FLOOR-ID (5.2.2): type 2, length 4, 16-bit id.
    # BENEFICIARY-ID (5.2.1): type 1. PRIORITY (5.2.4): type 4, Prio in the top 3 bits.
    # PARTICIPANT-PROVIDED-INFO (5.2.8): type 8, text padded to 32 bits.
    payload = (
        bytes([0x05, 0x04, 0x00, 0x01])  # FLOOR-ID, M=1, len 4, floor 1
        + bytes([0x02, 0x04, 0x00, 0x07])  # BENEFICIARY-ID, M=0, len 4, user 7
        + bytes([0x11, 0x07]) + b"x-ray" + bytes(1)  # PPI, M=1, len 7, 1 octet padding
        + bytes([0x09, 0x04, 0b011_00000, 0x00])  # PRIORITY, M=1, Prio 3 (High)
    )
    wire = header(1, len(payload), 0x01020304, 0xFEDC, 0xBA98) + payload
    expected = Message(
        Primitive.FLOOR_REQUEST,
        0x01020304,
        0xFEDC,
        0xBA98,
        (
            Attribute(AttributeType.FLOOR_ID, 1, True),
            Attribute(AttributeType.BENEFICIARY_ID, 7, False),
            Attribute(AttributeType.PARTICIPANT_PROVIDED_INFO, b"x-ray", True),
            Attribute(AttributeType.PRIORITY, Priority.HIGH, True),
        ),
    )
    assert decode(wire) == expected
    assert encode(expected) == wire


def test_floor_request_status_layout_with_grouped_attributes() -> None:
    # Section 5.3.4: FloorRequestStatus = COMMON-HEADER FLOOR-REQUEST-INFORMATION.
    # FLOOR-REQUEST-INFORMATION (5.2.15, type 15): Floor Request ID (16) then
    # [OVERALL-REQUEST-STATUS] 1*FLOOR-REQUEST-STATUS [BENEFICIARY-INFORMATION] ...
    # OVERALL-REQUEST-STATUS (5.2.18, type 18): Floor Request ID (16) [REQUEST-STATUS]
    # [STATUS-INFO]. FLOOR-REQUEST-STATUS (5.2.17, type 17): Floor ID (16) ...
    # REQUEST-STATUS (5.2.5, type 5): Request Status (8) | Queue Position (8).
    # BENEFICIARY-INFORMATION (5.2.14, type 14): Beneficiary ID (16) [USER-DISPLAY-NAME]
    # [USER-URI]; USER-DISPLAY-NAME (5.2.12) type 12.
    request_status = attr(5, 1, bytes([3, 0]))  # Granted, no queue position
    overall = attr(18, 1, (0x0010).to_bytes(2, "big") + request_status)
    floor_status = attr(17, 1, (0x0001).to_bytes(2, "big"))
    name = attr(12, 0, b"Site B")  # 2 + 6 = 8 octets, no padding
    beneficiary = attr(14, 1, (0x0002).to_bytes(2, "big") + name)
    info = attr(15, 1, (0x0010).to_bytes(2, "big") + overall + floor_status + beneficiary)
    assert info[:2] == bytes([0x1F, 2 + 2 + 8 + 4 + 12])  # the group's length counts all
    wire = header(4, len(info), 9, 0, 2) + info
    message = decode(wire)
    assert message.primitive is Primitive.FLOOR_REQUEST_STATUS
    assert messages.request_status_of(message) == (0x10, RequestStatus.GRANTED)
    group = message.first(AttributeType.FLOOR_REQUEST_INFORMATION)
    assert group.first(AttributeType.BENEFICIARY_INFORMATION) == Grouped(
        2, (Attribute(AttributeType.USER_DISPLAY_NAME, b"Site B", False),)
    )
    assert encode(message) == wire


def test_error_layout_lists_unknown_attributes() -> None:
    # Section 5.2.6: ERROR-CODE (type 6): Error Code (8) then Error Specific Details; for
    # error 4 the details are the unknown attributes, one octet each: Type (7) | R (1).
    # Section 5.2.7: ERROR-INFO (type 7), UTF-8 text.
    details = bytes([40 << 1, 41 << 1])
    payload = attr(6, 1, bytes([4]) + details) + attr(7, 0, b"what?")
    wire = header(13, len(payload), 5, 77, 3) + payload
    assert wire[12:16] == bytes([0x0D, 0x05, 0x04, 40 << 1])
    built = messages.error(5, 77, 3, ErrorCode.UNKNOWN_MANDATORY_ATTRIBUTE, "what?", (40, 41))
    assert encode(built) == wire
    assert decode(wire) == built


def test_hello_ack_layout() -> None:
    # Section 5.3.12: HelloAck = COMMON-HEADER SUPPORTED-PRIMITIVES SUPPORTED-ATTRIBUTES.
    # SUPPORTED-PRIMITIVES (5.2.11, type 11): one octet per primitive.
    # SUPPORTED-ATTRIBUTES (5.2.10, type 10): one octet per attribute: Type (7) | R (1).
    primitives = attr(11, 1, bytes(range(1, 18)))  # 2 + 17 = 19 octets, 1 padding
    attributes = attr(10, 1, bytes(t << 1 for t in range(1, 19)))  # 20 octets
    wire = header(12, len(primitives) + len(attributes), 1, 9, 4) + primitives + attributes
    hello = Message(Primitive.HELLO, 1, 9, 4)
    assert encode(hello) == header(11, 0, 1, 9, 4)
    assert encode(messages.hello_ack(hello)) == wire
    assert decode(wire).first(AttributeType.SUPPORTED_PRIMITIVES) == tuple(range(1, 18))


def test_version_2_keeps_the_responder_bit() -> None:
    # Section 5.1: Ver 2 (unreliable transport) with R set on a response.
    wire = header(12 - 2, 0, 1, 1, 1, version=2, r=1)  # ChairActionAck (10)
    message = decode(wire)
    assert (message.version, message.responder) == (2, True)
    assert message.primitive is Primitive.CHAIR_ACTION_ACK
    assert encode(message) == wire


def test_padding_octets_are_ignored() -> None:
    # Section 5.2: padding "MUST be ignored by the receiver".
    clean = header(8, 4, 1, 0, 1) + attr(2, 1, (1).to_bytes(2, "big"))
    # FLOOR-ID then STATUS-INFO-free FloorStatus: the same floor, no padding to differ in
    assert decode(header(8, 4, 1, 0, 1) + bytes([0x05, 0x04, 0x00, 0x01])) == decode(clean)
    # PARTICIPANT-PROVIDED-INFO of 3 octets: length 5, then 3 octets of non-zero padding
    ppi = (
        header(1, 12, 1, 1, 1)
        + attr(2, 1, b"\x00\x01")
        + bytes([(8 << 1) | 1, 0x05])
        + b"abc"
        + b"\xff\x00\xee"
    )
    assert decode(ppi).first(AttributeType.PARTICIPANT_PROVIDED_INFO) == b"abc"


def test_unknown_attribute_without_m_is_skipped() -> None:
    payload = attr(2, 1, b"\x00\x01") + attr(99, 0, b"future")
    message = decode(header(1, len(payload), 1, 1, 1) + payload)
    assert message.attributes == (Attribute(AttributeType.FLOOR_ID, 1, True),)


# ------------------------------------------------------------- bad input: the right code


def _code(data: bytes) -> ErrorCode:
    with pytest.raises(BfcpError) as caught:
        decode(data)
    return caught.value.code


FLOOR_ID = attr(2, 1, b"\x00\x01")


@pytest.mark.parametrize(
    "data, code",
    [
        (b"", ErrorCode.INCORRECT_MESSAGE_LENGTH),
        (header(1, 4, 1, 1, 1)[:11], ErrorCode.INCORRECT_MESSAGE_LENGTH),
        (header(1, 4, 1, 1, 1, version=0) + FLOOR_ID, ErrorCode.UNSUPPORTED_VERSION),
        (header(1, 4, 1, 1, 1, version=3) + FLOOR_ID, ErrorCode.UNSUPPORTED_VERSION),
        (header(1, 4, 1, 1, 1, version=7) + FLOOR_ID, ErrorCode.UNSUPPORTED_VERSION),
        (header(1, 4, 1, 1, 1, f=1) + FLOOR_ID, ErrorCode.UNABLE_TO_PARSE_MESSAGE),
        (header(0, 0, 1, 1, 1), ErrorCode.UNKNOWN_PRIMITIVE),
        (header(18, 0, 1, 1, 1), ErrorCode.UNKNOWN_PRIMITIVE),
        (header(255, 4, 1, 1, 1) + FLOOR_ID, ErrorCode.UNKNOWN_PRIMITIVE),
        (header(1, 8, 1, 1, 1) + FLOOR_ID, ErrorCode.INCORRECT_MESSAGE_LENGTH),  # past end
        (header(1, 0, 1, 1, 1) + FLOOR_ID, ErrorCode.INCORRECT_MESSAGE_LENGTH),  # short
        (header(11, 0, 1, 1, 1)[:2] + b"\xff\xff" + bytes(8), ErrorCode.INCORRECT_MESSAGE_LENGTH),
        # attribute length below its own header, past the payload, padding missing
        (header(1, 4, 1, 1, 1) + bytes([0x05, 0x01, 0, 1]), ErrorCode.UNABLE_TO_PARSE_MESSAGE),
        (header(1, 4, 1, 1, 1) + bytes([0x05, 0x08, 0, 1]), ErrorCode.UNABLE_TO_PARSE_MESSAGE),
        (header(1, 4, 1, 1, 1) + bytes([0x05, 0x05, 0, 1]), ErrorCode.UNABLE_TO_PARSE_MESSAGE),
        # wrong contents size for an unsigned16, bad status, bad priority
        (header(1, 8, 1, 1, 1) + attr(2, 1, b"\x00\x01\x02"), ErrorCode.UNABLE_TO_PARSE_MESSAGE),
        (
            header(1, 8, 1, 1, 1) + FLOOR_ID + bytes([0x09, 0x04, 0b101_00000, 0]),
            ErrorCode.UNABLE_TO_PARSE_MESSAGE,
        ),
        # grammar: no FLOOR-ID in a FloorRequest, FLOOR-ID in a Hello, two FLOOR-REQUEST-ID
        (header(1, 0, 1, 1, 1), ErrorCode.UNABLE_TO_PARSE_MESSAGE),
        (header(11, 4, 1, 1, 1) + FLOOR_ID, ErrorCode.UNABLE_TO_PARSE_MESSAGE),
        (header(2, 8, 1, 1, 1) + attr(3, 1, b"\x00\x01") * 2, ErrorCode.UNABLE_TO_PARSE_MESSAGE),
        # an unknown attribute with M set
        (header(1, 8, 1, 1, 1) + FLOOR_ID + attr(100, 1, b"\x00\x00"), ErrorCode.UNKNOWN_MANDATORY_ATTRIBUTE),
    ],
)
def test_bad_input_gets_its_error_code(data: bytes, code: ErrorCode) -> None:
    assert _code(data) == code


def test_unknown_mandatory_attributes_are_reported() -> None:
    payload = FLOOR_ID + attr(100, 1, b"") + attr(101, 1, b"zz")
    with pytest.raises(BfcpError) as caught:
        decode(header(1, len(payload), 1, 1, 1) + payload)
    assert caught.value.unknown_attributes == (100, 101)


def test_nested_group_that_overruns_its_parent() -> None:
    # OVERALL-REQUEST-STATUS claims 12 octets inside a FLOOR-REQUEST-INFORMATION of 8.
    inner = bytes([(18 << 1) | 1, 12, 0, 1])
    info = bytes([(15 << 1) | 1, 8, 0, 1]) + inner
    assert _code(header(4, len(info), 1, 1, 1) + info) == ErrorCode.UNABLE_TO_PARSE_MESSAGE


def test_group_nested_where_the_grammar_forbids_it() -> None:
    # A FLOOR-REQUEST-INFORMATION inside a FLOOR-REQUEST-INFORMATION, many levels deep:
    # refused at the first level, without recursing further.
    contents = attr(17, 1, b"\x00\x01")
    for _ in range(60):
        body = b"\x00\x01" + contents
        if len(body) + 2 > 255:
            break
        contents = attr(15, 1, body)
    assert _code(header(4, len(contents), 1, 1, 1) + contents) == (
        ErrorCode.UNABLE_TO_PARSE_MESSAGE
    )


def test_encoder_refuses_what_the_grammar_refuses() -> None:
    with pytest.raises(ValueError):
        encode(Message(Primitive.FLOOR_REQUEST, 1, 1, 1))
    with pytest.raises(ValueError):
        encode(Message(Primitive.FLOOR_QUERY, 1, 1, 70000))
    with pytest.raises(ValueError):
        encode(
            Message(
                Primitive.FLOOR_REQUEST,
                1,
                1,
                1,
                (
                    Attribute(AttributeType.FLOOR_ID, 1),
                    Attribute(AttributeType.PARTICIPANT_PROVIDED_INFO, b"x" * 300),
                ),
            )
        )


# ------------------------------------------------------------- properties


def _value(kind: AttributeType, depth: int) -> st.SearchStrategy:
    layout = ATTRIBUTE_KINDS[kind]
    text = st.binary(max_size=12)
    if layout is Kind.UNSIGNED16:
        return st.integers(0, 0xFFFF)
    if layout is Kind.PRIORITY:
        return st.sampled_from(list(Priority))
    if layout is Kind.REQUEST_STATUS:
        return st.builds(RequestStatusValue, st.sampled_from(list(RequestStatus)), st.integers(0, 255))
    if layout is Kind.ERROR_CODE:
        return st.builds(ErrorCodeValue, st.integers(0, 255), text)
    if layout is Kind.OCTETS:
        return text
    if layout is Kind.TYPE_LIST:
        return st.lists(st.integers(0, 127), max_size=20).map(tuple)
    if layout is Kind.OCTET_LIST:
        return st.lists(st.integers(0, 255), max_size=20).map(tuple)
    return st.builds(
        Grouped, st.integers(0, 0xFFFF), _attributes(GROUPED_GRAMMAR[kind], depth + 1)
    )


def _attributes(grammar: Grammar, depth: int) -> st.SearchStrategy:
    parts = []
    for kind, occurs in grammar.items():
        most = occurs.least + 2 if occurs.most is None else occurs.most
        one = st.builds(Attribute, st.just(kind), _value(kind, depth), st.booleans())
        parts.append(st.lists(one, min_size=occurs.least, max_size=min(most, 2)))
    if not parts:
        return st.just(())
    return st.tuples(*parts).map(lambda lists: [a for part in lists for a in part]).flatmap(
        lambda flat: st.permutations(flat).map(tuple)
    )


def _message_for(primitive: Primitive) -> st.SearchStrategy:
    return st.builds(
        Message,
        st.just(primitive),
        st.integers(0, 0xFFFFFFFF),
        st.integers(0, 0xFFFF),
        st.integers(0, 0xFFFF),
        _attributes(MESSAGE_GRAMMAR[primitive], 0),
        st.sampled_from([1, 2]),
        st.booleans(),
    )


MESSAGES = st.sampled_from(list(Primitive)).flatmap(_message_for)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(MESSAGES)
def test_round_trip(message: Message) -> None:
    wire = encode(message)  # the generated sizes stay within the 8-bit attribute lengths
    assert len(wire) % 4 == 0
    assert decode(wire) == message
    assert encode(decode(wire)) == wire


@pytest.mark.parametrize("primitive", list(Primitive))
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_every_primitive_round_trips(primitive: Primitive, data: st.DataObject) -> None:
    example = data.draw(_message_for(primitive))
    assert decode(encode(example)) == example


@settings(max_examples=600, deadline=None)
@given(st.binary(max_size=80))
def test_arbitrary_bytes_decode_or_raise_bfcp_error(data: bytes) -> None:
    try:
        decode(data)
    except BfcpError:
        pass


def _with_header_length_fixed(data: bytearray) -> bytes:
    if len(data) >= 12 and len(data) % 4 == 0:
        struct.pack_into("!H", data, 2, (len(data) - 12) // 4)
    return bytes(data)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(MESSAGES, st.data())
def test_mutated_messages_decode_or_raise_bfcp_error(message: Message, data: st.DataObject) -> None:
    wire = bytearray(encode(message))
    for _ in range(data.draw(st.integers(1, 4))):
        if len(wire) == 0:
            break
        at = data.draw(st.integers(0, len(wire) - 1))
        action = data.draw(st.sampled_from(["set", "cut", "insert"]))
        if action == "set":
            wire[at] = data.draw(st.integers(0, 255))
        elif action == "cut":
            del wire[at:]
        else:
            wire[at:at] = data.draw(st.binary(min_size=1, max_size=8))
    # Half the time keep the header's length consistent so the attribute parser is reached.
    mutated = _with_header_length_fixed(wire) if data.draw(st.booleans()) else bytes(wire)
    try:
        decode(mutated)
    except BfcpError:
        pass
