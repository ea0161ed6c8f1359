"""Builders of the BFCP messages the floor control server and the participants send."""

from __future__ import annotations

from rtc.bfcp.codec import (
    Attribute,
    ErrorCodeValue,
    Grouped,
    Message,
    RequestStatusValue,
)
from rtc.bfcp.tables import (
    ATTRIBUTE_KINDS,
    MESSAGE_GRAMMAR,
    AttributeType,
    ErrorCode,
    Primitive,
    RequestStatus,
)

MAX_ERROR_INFO = 200  # octets of ERROR-INFO text kept (the attribute's length is 8 bits)


def reply_to(request: Message, primitive: Primitive, *attributes: Attribute) -> Message:
    """A response in the request's transaction (same conference, transaction and user)."""
    return Message(
        primitive,
        request.conference_id,
        request.transaction_id,
        request.user_id,
        tuple(attributes),
    )


def error(
    conference_id: int,
    transaction_id: int,
    user_id: int,
    code: ErrorCode,
    info: str = "",
    unknown_attributes: tuple[int, ...] = (),
) -> Message:
    """An Error message (section 5.3.13); error 4 lists the unknown attribute types in its
    details, one octet each (7-bit type, reserved low bit)."""
    details = bytes((t & 0x7F) << 1 for t in unknown_attributes)
    attributes = [Attribute(AttributeType.ERROR_CODE, ErrorCodeValue(code, details), True)]
    if info:
        text = info.encode("utf-8")[:MAX_ERROR_INFO].decode("utf-8", "ignore").encode()
        attributes.append(Attribute(AttributeType.ERROR_INFO, text, False))
    return Message(Primitive.ERROR, conference_id, transaction_id, user_id, tuple(attributes))


def hello_ack(hello: Message) -> Message:
    """HelloAck listing every primitive and attribute this codec understands."""
    return reply_to(
        hello,
        Primitive.HELLO_ACK,
        Attribute(AttributeType.SUPPORTED_PRIMITIVES, tuple(int(p) for p in MESSAGE_GRAMMAR), True),
        Attribute(AttributeType.SUPPORTED_ATTRIBUTES, tuple(int(a) for a in ATTRIBUTE_KINDS), True),
    )


def floor_request(
    conference_id: int, transaction_id: int, user_id: int, floor_id: int
) -> Message:
    return Message(
        Primitive.FLOOR_REQUEST,
        conference_id,
        transaction_id,
        user_id,
        (Attribute(AttributeType.FLOOR_ID, floor_id, True),),
    )


def floor_release(
    conference_id: int, transaction_id: int, user_id: int, floor_request_id: int
) -> Message:
    return Message(
        Primitive.FLOOR_RELEASE,
        conference_id,
        transaction_id,
        user_id,
        (Attribute(AttributeType.FLOOR_REQUEST_ID, floor_request_id, True),),
    )


def floor_request_information(
    floor_request_id: int,
    floor_id: int,
    status: RequestStatus,
    beneficiary_id: int | None = None,
) -> Attribute:
    """FLOOR-REQUEST-INFORMATION for one request on one floor, with its status in both
    OVERALL-REQUEST-STATUS and the floor's FLOOR-REQUEST-STATUS."""
    nested = [
        Attribute(
            AttributeType.OVERALL_REQUEST_STATUS,
            Grouped(
                floor_request_id,
                (Attribute(AttributeType.REQUEST_STATUS, RequestStatusValue(status), True),),
            ),
            True,
        ),
        Attribute(AttributeType.FLOOR_REQUEST_STATUS, Grouped(floor_id, ()), True),
    ]
    if beneficiary_id is not None:
        nested.append(
            Attribute(AttributeType.BENEFICIARY_INFORMATION, Grouped(beneficiary_id, ()), True)
        )
    return Attribute(
        AttributeType.FLOOR_REQUEST_INFORMATION, Grouped(floor_request_id, tuple(nested)), True
    )


def floor_request_status(
    conference_id: int,
    transaction_id: int,
    user_id: int,
    floor_request_id: int,
    floor_id: int,
    status: RequestStatus,
) -> Message:
    """FloorRequestStatus (section 5.3.4): the answer to FloorRequest/FloorRelease, and the
    server's notice (transaction id 0 over a reliable transport) when the status changes."""
    return Message(
        Primitive.FLOOR_REQUEST_STATUS,
        conference_id,
        transaction_id,
        user_id,
        (floor_request_information(floor_request_id, floor_id, status),),
    )


def floor_status(
    conference_id: int,
    transaction_id: int,
    user_id: int,
    floor_id: int,
    holder: tuple[int, int] | None,
) -> Message:
    """FloorStatus (section 5.3.8) of one floor: the granted request (its id and the
    holder's user id) when the floor is held, nothing more when it is free."""
    attributes = [Attribute(AttributeType.FLOOR_ID, floor_id, True)]
    if holder is not None:
        request_id, holder_user = holder
        attributes.append(
            floor_request_information(request_id, floor_id, RequestStatus.GRANTED, holder_user)
        )
    return Message(
        Primitive.FLOOR_STATUS, conference_id, transaction_id, user_id, tuple(attributes)
    )


def request_status_of(message: Message) -> tuple[int, RequestStatus] | None:
    """(floor request id, status) from a FloorRequestStatus or ChairAction message."""
    info = message.first(AttributeType.FLOOR_REQUEST_INFORMATION)
    if not isinstance(info, Grouped):
        return None
    overall = info.first(AttributeType.OVERALL_REQUEST_STATUS)
    if isinstance(overall, Grouped):
        value = overall.first(AttributeType.REQUEST_STATUS)
        if isinstance(value, RequestStatusValue):
            return info.lead, value.status
    for floor in info.all(AttributeType.FLOOR_REQUEST_STATUS):
        value = floor.first(AttributeType.REQUEST_STATUS)
        if isinstance(value, RequestStatusValue):
            return info.lead, value.status
    return None
