"""VP9 over RTP (RFC 9628), non-flexible mode with one spatial and one temporal layer: the
payload descriptor I=1 with a 15-bit picture id (M=1), P on inter frames, B on a frame's
first packet, E on its last; L=F=V=Z=0 (no layer indices, no scalability structure)."""

from __future__ import annotations

from rtp.payloads import MAX_PAYLOAD, PayloadError

I_BIT, P_BIT, L_BIT, F_BIT, B_BIT, E_BIT, V_BIT = 0x80, 0x40, 0x20, 0x10, 0x08, 0x04, 0x02


class Vp9Packetizer:
    def __init__(self, max_payload: int = MAX_PAYLOAD) -> None:
        self.max_payload = max_payload
        self.picture_id = 0

    def packetize(self, frame: bytes, keyframe: bool, side_data: bytes = b"") -> list[bytes]:
        picture_id = bytes((0x80 | (self.picture_id >> 8), self.picture_id & 0xFF))
        self.picture_id = (self.picture_id + 1) % (1 << 15)
        size = self.max_payload - 3
        pieces = [frame[i : i + size] for i in range(0, len(frame), size)] or [b""]
        payloads = []
        for n, piece in enumerate(pieces):
            first = I_BIT | (0 if keyframe else P_BIT)
            first |= B_BIT if n == 0 else 0
            first |= E_BIT if n == len(pieces) - 1 else 0
            payloads.append(bytes((first,)) + picture_id + piece)
        return payloads


def descriptor_length(payload: bytes) -> int:
    """Bytes of a payload's RFC 9628 descriptor (all of its optional fields walked)."""
    if not payload:
        raise PayloadError("empty VP9 payload")
    first, at = payload[0], 1
    if first & I_BIT:
        if len(payload) < 2:
            raise PayloadError("VP9 picture id missing")
        at += 2 if payload[1] & 0x80 else 1
    if first & L_BIT:
        at += 1 if first & F_BIT else 2  # TID/U/SID/D (+ TL0PICIDX in non-flexible mode)
    if first & F_BIT and first & P_BIT:
        while True:  # P_DIFF bytes while N is set
            if at >= len(payload):
                raise PayloadError("VP9 reference indices truncated")
            more = payload[at] & 1
            at += 1
            if not more:
                break
    if first & V_BIT:
        at = _scalability_structure_end(payload, at)
    if at > len(payload):
        raise PayloadError("VP9 descriptor longer than its payload")
    return at


def _scalability_structure_end(payload: bytes, at: int) -> int:
    if at >= len(payload):
        raise PayloadError("VP9 scalability structure truncated")
    head = payload[at]
    spatial_layers, y, g = (head >> 5) + 1, head & 0x10, head & 0x08
    at += 1 + (4 * spatial_layers if y else 0)
    if g:
        if at >= len(payload):
            raise PayloadError("VP9 picture group truncated")
        groups = payload[at]
        at += 1
        for _ in range(groups):
            if at >= len(payload):
                raise PayloadError("VP9 picture group truncated")
            at += 1 + ((payload[at] >> 2) & 3)
    return at


class Vp9Depacketizer:
    def depacketize(self, payloads: list[bytes]) -> bytes:
        return b"".join(p[descriptor_length(p):] for p in payloads)
