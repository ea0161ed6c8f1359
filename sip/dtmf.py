"""SIP INFO with an application/dtmf-relay body (the de-facto format of Cisco and most room
systems: `Signal=5` CRLF `Duration=160`). DTMF normally arrives on the media (RFC 4733,
the RTP side); this is the signalling fallback, parsed here and handed up as a DtmfEvent."""

from __future__ import annotations

from dataclasses import dataclass

from sip.errors import SipParseError

CONTENT_TYPE = "application/dtmf-relay"
SIGNALS = frozenset("0123456789*#ABCD")
MAX_DURATION_MS = 60_000


@dataclass(frozen=True)
class DtmfEvent:
    signal: str
    duration_ms: int


def parse_dtmf_relay(body: bytes) -> DtmfEvent:
    fields: dict[str, str] = {}
    try:
        text = body.decode("ascii")
    except UnicodeDecodeError as exc:
        raise SipParseError(400, "Bad dtmf-relay Body", "not ASCII") from exc
    for line in text.splitlines():
        if not line.strip():
            continue
        name, sep, value = line.partition("=")
        if not sep:
            raise SipParseError(400, "Bad dtmf-relay Body", f"line {line[:30]!r}")
        fields[name.strip().lower()] = value.strip()
    signal = fields.get("signal", "").upper()
    if signal not in SIGNALS or len(signal) != 1:
        raise SipParseError(400, "Bad dtmf-relay Body", f"signal {signal[:10]!r}")
    duration = fields.get("duration", "250")
    if not duration.isdigit() or not 0 < int(duration) <= MAX_DURATION_MS:
        raise SipParseError(400, "Bad dtmf-relay Body", f"duration {duration[:10]!r}")
    return DtmfEvent(signal, int(duration))


def dtmf_relay_body(signal: str, duration_ms: int = 250) -> bytes:
    return f"Signal={signal}\r\nDuration={duration_ms}\r\n".encode("ascii")
