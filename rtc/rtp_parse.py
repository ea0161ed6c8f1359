"""aiortc's per-packet RTP parsing and H.264 depayloading, in fewer Python steps.

For every RTP packet a call receives, aiortc (1.16) runs `RtpPacket.parse`: a packet object
through its `__init__` (a `HeaderExtensions` dataclass and a CSRC list made and then
replaced), the header extensions unpacked into a list of (id, value) pairs and then matched
against the map's ids one `elif` at a time, each value converted through `struct.unpack`
of a concatenation. For every H.264 payload, `h264_depayload` builds an
`H264PayloadDescriptor` and its output by successive concatenations (a fragment's bytes
copied twice). The MCU's 4-site profile (docs/benchmarks.md, "The receive path's parse and
depayload") had the two at 2.4 and 1.4 % of a core on the event loop.

`parse_rtp` gives the same `RtpPacket` (every field equal, the same exception for every
malformed packet: ValueError, or struct.error / UnicodeDecodeError for an element of a
known id whose value cannot be converted; tests/test_rtp_parse.py compares them on random
and truncated packets)
with one unpack of the fixed header, the extensions read in one pass straight into the
fields the map names, and no object made only to be replaced. `depayloader` gives the same
bytes as aiortc's for H.264 single NAL units and FU-A fragments (a fragment's bytes
copied once); STAP-A, VP8 and the rest are aiortc's own code.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from functools import partial
from typing import Any

from aiortc.codecs import depayload as aiortc_depayload
from aiortc.codecs.h264 import h264_depayload as aiortc_h264_depayload
from aiortc.rtp import HeaderExtensions, HeaderExtensionsMap, RtpPacket

_FIXED_HEADER = struct.Struct("!BBHLL")
_FIXED_HEADER_SIZE = 12
_WORD = struct.Struct("!HH")
_CSRC = struct.Struct("!L")
_ONE_BYTE_PROFILE = 0xBEDE
_TWO_BYTE_PROFILE = 0x1000
_IDS = "_HeaderExtensionsMap__ids"  # aiortc's map: the negotiated id of each extension
_START_CODE = b"\x00\x00\x00\x01"
_NAL_FU_A = 28


def parse_rtp(data: bytes, extensions_map: HeaderExtensionsMap) -> RtpPacket:
    """`RtpPacket.parse(data, extensions_map)`, field for field."""
    size = len(data)
    if size < _FIXED_HEADER_SIZE:
        raise ValueError(f"RTP packet length is less than {_FIXED_HEADER_SIZE} bytes")
    first, marker_type, sequence_number, timestamp, ssrc = _FIXED_HEADER.unpack_from(data)
    if first >> 6 != 2:
        raise ValueError("RTP packet has invalid version")
    count = first & 0x0F
    pos = _FIXED_HEADER_SIZE + 4 * count
    if size < pos:
        raise ValueError("RTP packet has truncated CSRC")
    packet = RtpPacket.__new__(RtpPacket)
    packet.version = 2
    packet.marker = marker_type >> 7
    packet.payload_type = marker_type & 0x7F
    packet.sequence_number = sequence_number
    packet.timestamp = timestamp
    packet.ssrc = ssrc
    packet.csrc = [_CSRC.unpack_from(data, offset)[0]
                   for offset in range(_FIXED_HEADER_SIZE, pos, 4)]
    if first & 0x10:
        if size < pos + 4:
            raise ValueError("RTP packet has truncated extension profile / length")
        profile, words = _WORD.unpack_from(data, pos)
        pos += 4
        end = pos + 4 * words
        if size < end:
            raise ValueError("RTP packet has truncated extension value")
        packet.extensions = _extensions(getattr(extensions_map, _IDS), profile, data[pos:end])
        pos = end
    else:
        packet.extensions = HeaderExtensions()
    if first & 0x20:
        padding = data[-1]
        if not padding or padding > size - pos:
            raise ValueError("RTP packet padding length is invalid")
        packet.padding_size = padding
        packet.payload = data[pos:-padding]
    else:
        packet.padding_size = 0
        packet.payload = data[pos:]
    return packet


def _extensions(ids: HeaderExtensions, profile: int, value: bytes) -> HeaderExtensions:
    """aiortc's `HeaderExtensionsMap.get`: RFC 8285 one-byte or two-byte elements (padding
    octets skipped; any other profile: no elements), all of them read (a truncated one
    refused) before any is converted, as aiortc's `unpack_header_extensions` does; each id
    the map knows converted."""
    elements: list[tuple[int, bytes]] = []
    size = len(value)
    pos = 0
    if profile == _ONE_BYTE_PROFILE:
        while pos < size:
            octet = value[pos]
            if octet == 0:
                pos += 1
                continue
            element_id, length = octet >> 4, (octet & 0x0F) + 1
            pos += 1
            if size < pos + length:
                raise ValueError("RTP one-byte header extension value is truncated")
            elements.append((element_id, value[pos:pos + length]))
            pos += length
    elif profile == _TWO_BYTE_PROFILE:
        while pos < size:
            if value[pos] == 0:
                pos += 1
                continue
            if size < pos + 2:
                raise ValueError("RTP two-byte header extension is truncated")
            element_id, length = value[pos], value[pos + 1]
            pos += 2
            if size < pos + length:
                raise ValueError("RTP two-byte header extension value is truncated")
            elements.append((element_id, value[pos:pos + length]))
            pos += length
    found = HeaderExtensions()
    for element_id, element in elements:
        _set(found, ids, element_id, element)
    return found


def _set(found: HeaderExtensions, ids: HeaderExtensions, element_id: int,
         element: bytes) -> None:
    """One element into `found` as aiortc's map converts it (the first matching id wins, in
    aiortc's order; a conversion that fails raises struct.error as aiortc's does)."""
    if element_id == ids.mid:
        found.mid = element.decode("utf8")
    elif element_id == ids.repaired_rtp_stream_id:
        found.repaired_rtp_stream_id = element.decode("ascii")
    elif element_id == ids.rtp_stream_id:
        found.rtp_stream_id = element.decode("ascii")
    elif element_id == ids.abs_send_time:
        if len(element) == 3:
            found.abs_send_time = int.from_bytes(element, "big")
        else:
            found.abs_send_time = struct.unpack("!L", b"\x00" + element)[0]  # raises
    elif element_id == ids.transmission_offset:
        found.transmission_offset = struct.unpack("!l", element + b"\x00")[0] >> 8
    elif element_id == ids.audio_level:
        level = struct.unpack("!B", element)[0]
        found.audio_level = (level & 0x80 == 0x80, level & 0x7F)
    elif element_id == ids.transport_sequence_number:
        if len(element) == 2:
            found.transport_sequence_number = int.from_bytes(element, "big")
        else:
            found.transport_sequence_number = struct.unpack("!H", element)[0]  # raises


def h264_depayload(payload: bytes) -> bytes:
    """aiortc's `h264_depayload`: a single NAL unit (types 1-23) behind a start code, an
    FU-A fragment's bytes (behind a start code and the rebuilt NAL header on the first);
    STAP-A and the refusals are aiortc's."""
    if len(payload) >= 2:
        header = payload[0]
        nal_type = header & 0x1F
        if 0 < nal_type < 24:
            return _START_CODE + payload
        if nal_type == _NAL_FU_A:
            indicator = payload[1]
            if indicator & 0x80:
                return b"".join((_START_CODE,
                                 bytes(((header & 0xE0) | (indicator & 0x1F),)),
                                 payload[2:]))
            return payload[2:]
    return aiortc_h264_depayload(payload)


def depayloader(codec: Any) -> Callable[[bytes], bytes]:
    """aiortc's `depayload(codec, ·)` for one codec: H.264 through h264_depayload, any
    other codec aiortc's."""
    if codec.name == "H264":
        return h264_depayload
    return partial(aiortc_depayload, codec)
