"""The tables the SIP codec is driven by, from RFC 3261's grammar (section 25.1) and its header
definitions (section 20): token characters, the methods this stack implements, the headers it
knows (full name, compact form, whether a header may carry a comma-separated list, whether it
may appear only once), the headers every request and every response must carry, and the size
limits a message is held to."""

from __future__ import annotations

import string
from dataclasses import dataclass

SIP_VERSION = "SIP/2.0"

# token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~")
TOKEN_CHARS = frozenset(string.ascii_letters + string.digits + "-.!%*_+`'~")

# The methods of RFC 3261 plus INFO (RFC 6086) that this user agent implements; any other
# token is a syntactically valid extension method that the UA answers 501 Not Implemented.
METHODS = ("INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER", "INFO")


@dataclass(frozen=True)
class HeaderRule:
    name: str  # the canonical spelling, used when serializing
    compact: str | None = None  # section 7.3.3
    multi: bool = False  # value may be a comma-separated list (section 7.3.1)
    single: bool = False  # at most one occurrence


HEADER_RULES = (
    HeaderRule("Via", "v", multi=True),
    HeaderRule("From", "f", single=True),
    HeaderRule("To", "t", single=True),
    HeaderRule("Call-ID", "i", single=True),
    HeaderRule("CSeq", single=True),
    HeaderRule("Contact", "m", multi=True),
    HeaderRule("Max-Forwards", single=True),
    HeaderRule("Content-Length", "l", single=True),
    HeaderRule("Content-Type", "c", single=True),
    HeaderRule("Content-Encoding", "e", multi=True),
    HeaderRule("Route", multi=True),
    HeaderRule("Record-Route", multi=True),
    # credentials and challenges hold commas inside one value: never split
    HeaderRule("Authorization"),
    HeaderRule("WWW-Authenticate"),
    HeaderRule("Proxy-Authorization"),
    HeaderRule("Proxy-Authenticate"),
    HeaderRule("Authentication-Info", single=True),
    HeaderRule("Expires", single=True),
    HeaderRule("Min-Expires", single=True),
    HeaderRule("Subject", "s", single=True),
    HeaderRule("Supported", "k", multi=True),
    HeaderRule("Require", multi=True),
    HeaderRule("Proxy-Require", multi=True),
    HeaderRule("Unsupported", multi=True),
    HeaderRule("Allow", multi=True),
    HeaderRule("Accept", multi=True),
    HeaderRule("User-Agent"),
    HeaderRule("Server"),
    HeaderRule("Date", single=True),
    HeaderRule("Timestamp", single=True),
    HeaderRule("Retry-After", single=True),
    HeaderRule("Warning", multi=True),
)

RULES_BY_NAME = {rule.name.lower(): rule for rule in HEADER_RULES}
RULES_BY_NAME.update({rule.compact: rule for rule in HEADER_RULES if rule.compact})

# Section 8.1.1: the six headers a request must carry; section 8.2.6 / 20: what a response
# copies from its request.
REQUEST_MANDATORY = ("Via", "From", "To", "Call-ID", "CSeq", "Max-Forwards")
RESPONSE_MANDATORY = ("Via", "From", "To", "Call-ID", "CSeq")

# Scalars (RFC 4475 section 3.1.2.4): CSeq numbers are 32-bit and below 2**31 when chosen
# (section 8.1.1.5), Max-Forwards is 0-255, delta-seconds beyond 2**32-1 read as 2**32-1.
CSEQ_MAX = 2**32 - 1
MAX_FORWARDS_MAX = 255
DELTA_SECONDS_MAX = 2**32 - 1


@dataclass(frozen=True)
class Limits:
    """What a message may weigh before it is refused (answers: 513 Message Too Large for the
    start line and headers, 413 Request Entity Too Large for the body)."""

    max_header_bytes: int = 16_384  # start line + headers, without the body
    max_headers: int = 100
    max_header_line: int = 4_096  # one header after unfolding
    max_body: int = 65_536
