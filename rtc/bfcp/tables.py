"""BFCP's numbers as tables (RFC 8855): primitives, attributes and their value kinds,
error codes, request statuses, and the grammar of each message (section 5.3).

The codec (rtc/bfcp/codec.py) is driven by these tables only: adding an attribute or a
primitive is a row here, not a branch there.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, IntEnum


class Primitive(IntEnum):
    """RFC 8855 section 5.1, table 1."""

    FLOOR_REQUEST = 1
    FLOOR_RELEASE = 2
    FLOOR_REQUEST_QUERY = 3
    FLOOR_REQUEST_STATUS = 4
    USER_QUERY = 5
    USER_STATUS = 6
    FLOOR_QUERY = 7
    FLOOR_STATUS = 8
    CHAIR_ACTION = 9
    CHAIR_ACTION_ACK = 10
    HELLO = 11
    HELLO_ACK = 12
    ERROR = 13
    FLOOR_REQUEST_STATUS_ACK = 14
    FLOOR_STATUS_ACK = 15
    GOODBYE = 16
    GOODBYE_ACK = 17


class AttributeType(IntEnum):
    """RFC 8855 section 5.2, table 2."""

    BENEFICIARY_ID = 1
    FLOOR_ID = 2
    FLOOR_REQUEST_ID = 3
    PRIORITY = 4
    REQUEST_STATUS = 5
    ERROR_CODE = 6
    ERROR_INFO = 7
    PARTICIPANT_PROVIDED_INFO = 8
    STATUS_INFO = 9
    SUPPORTED_ATTRIBUTES = 10
    SUPPORTED_PRIMITIVES = 11
    USER_DISPLAY_NAME = 12
    USER_URI = 13
    BENEFICIARY_INFORMATION = 14
    FLOOR_REQUEST_INFORMATION = 15
    REQUESTED_BY_INFORMATION = 16
    FLOOR_REQUEST_STATUS = 17
    OVERALL_REQUEST_STATUS = 18


class ErrorCode(IntEnum):
    """ERROR-CODE values, RFC 8855 section 5.2.6, table 5."""

    CONFERENCE_DOES_NOT_EXIST = 1
    USER_DOES_NOT_EXIST = 2
    UNKNOWN_PRIMITIVE = 3
    UNKNOWN_MANDATORY_ATTRIBUTE = 4
    UNAUTHORIZED_OPERATION = 5
    INVALID_FLOOR_ID = 6
    FLOOR_REQUEST_ID_DOES_NOT_EXIST = 7
    MAX_FLOOR_REQUESTS_REACHED = 8
    USE_TLS = 9
    UNABLE_TO_PARSE_MESSAGE = 10
    USE_DTLS = 11
    UNSUPPORTED_VERSION = 12
    INCORRECT_MESSAGE_LENGTH = 13
    GENERIC_ERROR = 14


class RequestStatus(IntEnum):
    """REQUEST-STATUS values, RFC 8855 section 5.2.5, table 4."""

    PENDING = 1
    ACCEPTED = 2
    GRANTED = 3
    DENIED = 4
    CANCELLED = 5
    RELEASED = 6
    REVOKED = 7


class Priority(IntEnum):
    """PRIORITY values, RFC 8855 section 5.2.4, table 3."""

    LOWEST = 0
    LOW = 1
    NORMAL = 2
    HIGH = 3
    HIGHEST = 4


class Kind(Enum):
    """How an attribute's contents are laid out (after its 2-octet Type/M/Length header)."""

    UNSIGNED16 = "unsigned16"  # 16-bit value; attribute length 4
    PRIORITY = "priority"  # 3-bit Prio + 13 reserved bits; length 4
    REQUEST_STATUS = "request-status"  # 8-bit status + 8-bit queue position; length 4
    ERROR_CODE = "error-code"  # 8-bit code + error-specific details; padded
    OCTETS = "octet-string"  # UTF-8 text or opaque octets; padded
    TYPE_LIST = "type-list"  # one octet per item: 7-bit attribute type + reserved bit
    OCTET_LIST = "octet-list"  # one octet per item: a primitive
    GROUPED = "grouped"  # 16-bit leading value + nested attributes


@dataclass(frozen=True)
class Occurs:
    """How many times an attribute may occur in a message or a grouped attribute."""

    least: int = 0
    most: int | None = 1  # None: unbounded

    def allows(self, count: int) -> bool:
        return count >= self.least and (self.most is None or count <= self.most)


ONE = Occurs(1, 1)
OPTIONAL = Occurs(0, 1)
ONE_OR_MORE = Occurs(1, None)
ANY = Occurs(0, None)

Grammar = dict[AttributeType, Occurs]

ATTRIBUTE_KINDS: dict[AttributeType, Kind] = {
    AttributeType.BENEFICIARY_ID: Kind.UNSIGNED16,
    AttributeType.FLOOR_ID: Kind.UNSIGNED16,
    AttributeType.FLOOR_REQUEST_ID: Kind.UNSIGNED16,
    AttributeType.PRIORITY: Kind.PRIORITY,
    AttributeType.REQUEST_STATUS: Kind.REQUEST_STATUS,
    AttributeType.ERROR_CODE: Kind.ERROR_CODE,
    AttributeType.ERROR_INFO: Kind.OCTETS,
    AttributeType.PARTICIPANT_PROVIDED_INFO: Kind.OCTETS,
    AttributeType.STATUS_INFO: Kind.OCTETS,
    AttributeType.SUPPORTED_ATTRIBUTES: Kind.TYPE_LIST,
    AttributeType.SUPPORTED_PRIMITIVES: Kind.OCTET_LIST,
    AttributeType.USER_DISPLAY_NAME: Kind.OCTETS,
    AttributeType.USER_URI: Kind.OCTETS,
    AttributeType.BENEFICIARY_INFORMATION: Kind.GROUPED,
    AttributeType.FLOOR_REQUEST_INFORMATION: Kind.GROUPED,
    AttributeType.REQUESTED_BY_INFORMATION: Kind.GROUPED,
    AttributeType.FLOOR_REQUEST_STATUS: Kind.GROUPED,
    AttributeType.OVERALL_REQUEST_STATUS: Kind.GROUPED,
}

# The contents of each grouped attribute after its 16-bit leading value (section 5.2.14-18).
GROUPED_GRAMMAR: dict[AttributeType, Grammar] = {
    AttributeType.BENEFICIARY_INFORMATION: {  # leading value: Beneficiary ID
        AttributeType.USER_DISPLAY_NAME: OPTIONAL,
        AttributeType.USER_URI: OPTIONAL,
    },
    AttributeType.FLOOR_REQUEST_INFORMATION: {  # leading value: Floor Request ID
        AttributeType.OVERALL_REQUEST_STATUS: OPTIONAL,
        AttributeType.FLOOR_REQUEST_STATUS: ONE_OR_MORE,
        AttributeType.BENEFICIARY_INFORMATION: OPTIONAL,
        AttributeType.REQUESTED_BY_INFORMATION: OPTIONAL,
        AttributeType.PRIORITY: OPTIONAL,
        AttributeType.PARTICIPANT_PROVIDED_INFO: OPTIONAL,
    },
    AttributeType.REQUESTED_BY_INFORMATION: {  # leading value: Requested-by ID
        AttributeType.USER_DISPLAY_NAME: OPTIONAL,
        AttributeType.USER_URI: OPTIONAL,
    },
    AttributeType.FLOOR_REQUEST_STATUS: {  # leading value: Floor ID
        AttributeType.REQUEST_STATUS: OPTIONAL,
        AttributeType.STATUS_INFO: OPTIONAL,
    },
    AttributeType.OVERALL_REQUEST_STATUS: {  # leading value: Floor Request ID
        AttributeType.REQUEST_STATUS: OPTIONAL,
        AttributeType.STATUS_INFO: OPTIONAL,
    },
}

# Section 5.3: the attributes each message carries (extension attributes, i.e. unknown types
# without the M bit, are skipped on decode and never encoded).
MESSAGE_GRAMMAR: dict[Primitive, Grammar] = {
    Primitive.FLOOR_REQUEST: {
        AttributeType.FLOOR_ID: ONE_OR_MORE,
        AttributeType.BENEFICIARY_ID: OPTIONAL,
        AttributeType.PARTICIPANT_PROVIDED_INFO: OPTIONAL,
        AttributeType.PRIORITY: OPTIONAL,
    },
    Primitive.FLOOR_RELEASE: {AttributeType.FLOOR_REQUEST_ID: ONE},
    Primitive.FLOOR_REQUEST_QUERY: {AttributeType.FLOOR_REQUEST_ID: ONE},
    Primitive.FLOOR_REQUEST_STATUS: {AttributeType.FLOOR_REQUEST_INFORMATION: ONE},
    Primitive.USER_QUERY: {AttributeType.BENEFICIARY_ID: OPTIONAL},
    Primitive.USER_STATUS: {
        AttributeType.BENEFICIARY_INFORMATION: OPTIONAL,
        AttributeType.FLOOR_REQUEST_INFORMATION: ANY,
    },
    Primitive.FLOOR_QUERY: {AttributeType.FLOOR_ID: ANY},
    Primitive.FLOOR_STATUS: {
        AttributeType.FLOOR_ID: OPTIONAL,
        AttributeType.FLOOR_REQUEST_INFORMATION: ANY,
    },
    Primitive.CHAIR_ACTION: {AttributeType.FLOOR_REQUEST_INFORMATION: ONE},
    Primitive.CHAIR_ACTION_ACK: {},
    Primitive.HELLO: {},
    Primitive.HELLO_ACK: {
        AttributeType.SUPPORTED_PRIMITIVES: ONE,
        AttributeType.SUPPORTED_ATTRIBUTES: ONE,
    },
    Primitive.ERROR: {AttributeType.ERROR_CODE: ONE, AttributeType.ERROR_INFO: OPTIONAL},
    Primitive.FLOOR_REQUEST_STATUS_ACK: {},
    Primitive.FLOOR_STATUS_ACK: {},
    Primitive.GOODBYE: {},
    Primitive.GOODBYE_ACK: {},
}

# Sizes of the wire format (section 5.1, 5.2).
COMMON_HEADER_SIZE = 12
FRAGMENT_FIELDS_SIZE = 4  # Fragment Offset + Fragment Length, present only when F is set
ATTRIBUTE_HEADER_SIZE = 2
MAX_ATTRIBUTE_LENGTH = 255  # the 8-bit Length field, header included, padding excluded
VERSION_RELIABLE = 1  # section 5.1: version 1 over TCP/TLS (as RFC 4582)
VERSION_UNRELIABLE = 2  # section 5.1: version 2 over UDP/DTLS
MAX_GROUP_DEPTH = 3  # FLOOR-REQUEST-INFORMATION > BENEFICIARY-INFORMATION > text: depth 2
