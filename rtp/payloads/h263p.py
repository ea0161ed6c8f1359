"""H.263+ (H.263-1998/2000) over RTP, RFC 4629: a 2-byte header (no VRC, no extra picture
header); a packet starting at a byte-aligned picture, GOB or slice start code sets P and
omits the code's two leading zero bytes; a longer run continues in packets with P=0.
The encoder is run in RTP mode (codecs.py) so its start codes are byte aligned."""

from __future__ import annotations

from rtp.payloads import MAX_PAYLOAD, PayloadError

HEADER = 2


def start_codes(frame: bytes) -> list[int]:
    """Offsets of the byte-aligned start codes (00 00 1x...)."""
    found, at = [], frame.find(b"\0\0")
    while 0 <= at < len(frame) - 2:
        if frame[at + 2] & 0x80:
            found.append(at)
            at = frame.find(b"\0\0", at + 3)
        else:
            at = frame.find(b"\0\0", at + 1)
    return found


class H263PlusPacketizer:
    def __init__(self, max_payload: int = MAX_PAYLOAD) -> None:
        self.max_payload = max_payload

    def packetize(self, frame: bytes, keyframe: bool, side_data: bytes = b"") -> list[bytes]:
        limit = self.max_payload - HEADER
        codes = [c for c in start_codes(frame) if c > 0]
        segments, start = [], 0
        for end in [*codes, len(frame)]:
            segments.append(frame[start:end])
            start = end
        payloads: list[bytes] = []
        pending = b""
        for segment in segments:  # each starts with a start code (the first: the PSC)
            body = segment[2:] if segment.startswith(b"\0\0") else segment
            if pending and len(pending) + len(segment) <= limit:
                pending += segment
                continue
            if pending:
                payloads.append(b"\x04\x00" + pending)
            pending = b""
            if len(body) <= limit:
                pending = body
            else:  # a long run: P on the first piece only
                payloads.append(b"\x04\x00" + body[:limit])
                payloads.extend(b"\x00\x00" + body[i : i + limit]
                                for i in range(limit, len(body), limit))
        if pending:
            payloads.append(b"\x04\x00" + pending)
        return payloads


class H263PlusDepacketizer:
    def depacketize(self, payloads: list[bytes]) -> bytes:
        out = bytearray()
        for payload in payloads:
            if len(payload) < HEADER:
                raise PayloadError("H.263+ payload shorter than its header")
            p, v, plen = payload[0] & 0x04, payload[0] & 0x02, ((payload[0] & 1) << 5) | (payload[1] >> 3)
            skip = HEADER + int(bool(v)) + plen
            if len(payload) < skip:
                raise PayloadError("H.263+ header longer than its payload")
            if p:
                out += b"\0\0"
            out += payload[skip:]
        return bytes(out)
