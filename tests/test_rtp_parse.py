"""rtc/rtp_parse.py against aiortc's own parse and depayload: the same packet (every field),
the same bytes, the same refusals, on well-formed, random and truncated input."""

from __future__ import annotations

import inspect
import struct
from types import SimpleNamespace
from typing import Any

import pytest
from aiortc import RTCDtlsTransport
from aiortc.codecs import depayload as aiortc_depayload
from aiortc.rtcrtpparameters import (
    RTCRtpCodecParameters,
    RTCRtpHeaderExtensionParameters,
    RTCRtpParameters,
)
from aiortc.rtp import HeaderExtensions, HeaderExtensionsMap, RtpPacket, pack_header_extensions
from hypothesis import given, settings
from hypothesis import strategies as st

from rtc import receive_path, rtp_parse
from rtc.rtp_parse import depayloader, h264_depayload, parse_rtp

URIS = (
    "urn:ietf:params:rtp-hdrext:sdes:mid",
    "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id",
    "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id",
    "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
    "urn:ietf:params:rtp-hdrext:toffset",
    "urn:ietf:params:rtp-hdrext:ssrc-audio-level",
    "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01",
)
H264 = RTCRtpCodecParameters(mimeType="video/H264", clockRate=90000, payloadType=102)
VP8 = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=96)
OPUS = RTCRtpCodecParameters(mimeType="audio/opus", clockRate=48000, channels=2,
                             payloadType=111)


def extension_map(ids: list[int]) -> HeaderExtensionsMap:
    """A map with URIS[i] at ids[i] (ids may repeat or leave an extension out: 0)."""
    extensions_map = HeaderExtensionsMap()
    extensions_map.configure(RTCRtpParameters(headerExtensions=[
        RTCRtpHeaderExtensionParameters(id=ext_id, uri=uri)
        for ext_id, uri in zip(ids, URIS, strict=False) if ext_id]))
    return extensions_map


def outcome(parse: Any, data: bytes, extensions: HeaderExtensionsMap) -> Any:
    """The parsed packet's fields, or the refusal (its type and message)."""
    try:
        packet = parse(data, extensions)
    except (ValueError, struct.error, UnicodeDecodeError) as error:
        return type(error), str(error)
    return {name: getattr(packet, name) for name in (
        "version", "marker", "payload_type", "sequence_number", "timestamp", "ssrc", "csrc",
        "extensions", "payload", "padding_size")}


def same_outcome(data: bytes, extensions: HeaderExtensionsMap) -> None:
    assert outcome(parse_rtp, data, extensions) == outcome(RtpPacket.parse, data, extensions)


def test_a_packet_as_a_browser_sends_it_is_aiortcs_packet():
    extensions = extension_map([1, 0, 0, 3, 0, 4, 5])
    packet = RtpPacket(payload_type=102, marker=1, sequence_number=65535, timestamp=0xFFFFFFF0,
                       ssrc=0x12345678, payload=b"\x7c\x85" + bytes(range(200)))
    packet.extensions = HeaderExtensions(mid="0", abs_send_time=0x123456,
                                         audio_level=(True, 100),
                                         transport_sequence_number=77)
    packet.csrc = [1, 0xFFFFFFFF]
    data = packet.serialize(extensions)
    same_outcome(data, extensions)
    parsed = parse_rtp(data, extensions)
    assert parsed.extensions == packet.extensions and parsed.payload == packet.payload
    for cut in range(len(data) - 200):  # every truncation of the header: the same refusal
        same_outcome(data[:cut], extensions)


@settings(max_examples=400, deadline=None)
@given(
    ids=st.lists(st.integers(0, 15), min_size=7, max_size=7),
    padded=st.booleans(),
    csrcs=st.lists(st.integers(0, 0xFFFFFFFF), max_size=3),
    rest=st.binary(min_size=11, max_size=11),
    elements=st.lists(st.tuples(st.integers(1, 14), st.binary(min_size=1, max_size=16)),
                      max_size=4),
    two_byte=st.booleans(),
    payload=st.binary(max_size=64),
)
def test_well_formed_extension_blocks_parse_as_aiortcs(
        ids: list[int], padded: bool, csrcs: list[int], rest: bytes,
        elements: list[tuple[int, bytes]], two_byte: bool, payload: bytes) -> None:
    """Version 2 with the extension bit, CSRCs in place, a block as aiortc packs it (its
    values random: a known id with a value of the wrong size fails as aiortc's does)."""
    first = 0x90 | (0x20 if padded else 0) | len(csrcs)
    header = bytes([first]) + rest + b"".join(struct.pack("!L", csrc) for csrc in csrcs)
    if two_byte:
        elements = [*elements, (15, b"x" * 17)]
    profile, value = pack_header_extensions(elements)
    block = struct.pack("!HH", profile or 0xBEDE, len(value) // 4) + value
    same_outcome(header + block + payload, extension_map(ids))


@settings(max_examples=400, deadline=None)
@given(
    ids=st.lists(st.integers(0, 15), min_size=7, max_size=7),
    profile=st.sampled_from([0xBEDE, 0x1000, 0x0000, 0x1234]),
    words=st.integers(0, 6),
    value=st.binary(min_size=24, max_size=24),
    payload=st.binary(max_size=32),
)
def test_any_extension_block_parses_or_fails_as_aiortcs(ids: list[int], profile: int,
                                                        words: int, value: bytes,
                                                        payload: bytes) -> None:
    """Random element octets: padding, truncated elements (one-byte and two-byte), ids the
    map knows with values of any size, in any order."""
    data = (b"\x90\x60\x00\x01\x00\x00\x00\x02\x00\x00\x00\x03"
            + struct.pack("!HH", profile, words) + value[:4 * words] + payload)
    same_outcome(data, extension_map(ids))


@pytest.mark.parametrize("value", [
    b"\x30\xaa\x5f\x00",  # abs-send-time of one octet, then a truncated element
    b"\x10\xff\x5f\x00",  # mid not UTF-8, then a truncated element
])
def test_a_truncated_element_is_refused_before_any_is_converted(value: bytes) -> None:
    data = b"\x90\x60\x00\x01\x00\x00\x00\x02\x00\x00\x00\x03\xbe\xde\x00\x01" + value
    extensions = extension_map([1, 0, 0, 3, 0, 0, 0])
    same_outcome(data, extensions)
    with pytest.raises(ValueError, match="truncated"):
        parse_rtp(data, extensions)
    two_byte = b"\x90\x60\x00\x01\x00\x00\x00\x02\x00\x00\x00\x03\x10\x00\x00\x01\x03\x01\xaa\x07"
    same_outcome(two_byte, extensions)


async def test_the_receive_path_drops_a_packet_whose_extension_cannot_be_converted() -> None:
    """aiortc's parse raises struct.error for an abs-send-time of one octet (and aiortc's
    receive task ends on it); the receive path drops the packet and routes nothing."""
    data = b"\x90\x60\x00\x01\x00\x00\x00\x02\x00\x00\x00\x03\xbe\xde\x00\x01\x30\xaa\x00\x00"
    extensions = extension_map([1, 0, 0, 3, 0, 0, 0])
    with pytest.raises(struct.error):
        RtpPacket.parse(data, extensions)
    routed: list[RtpPacket] = []

    class Router:
        def route_rtp(self, packet: RtpPacket) -> None:
            routed.append(packet)

    transport = SimpleNamespace(_rtp_header_extensions_map=extensions, _rtp_router=Router())
    await receive_path._handle_rtp_data(transport, data, 0)
    assert routed == []
    good = b"\x90\x60\x00\x01\x00\x00\x00\x02\x00\x00\x00\x03\xbe\xde\x00\x01\x32\xaa\xbb\xcc"
    await receive_path._handle_rtp_data(transport, good, 0)
    assert [packet.extensions.abs_send_time for packet in routed] == [0xAABBCC]


def test_the_aiortc_steps_parse_rtp_stands_for_are_still_aiortcs() -> None:
    """parse_rtp replaces aiortc's parse inside aiortc's `_handle_rtp_data`, and reads the
    map's ids by their private name: a new aiortc that changes either shows here."""
    source = inspect.getsource(RTCDtlsTransport._handle_rtp_data)
    for step in ("RtpPacket.parse(data, self._rtp_header_extensions_map)",
                 "except ValueError", "self._rtp_router.route_rtp(packet)",
                 "await receiver._handle_rtp_packet(packet, arrival_time_ms=arrival_time_ms)"):
        assert step in source, step
    assert isinstance(getattr(HeaderExtensionsMap(), rtp_parse._IDS), HeaderExtensions)
    assert "unpack_header_extensions(" in inspect.getsource(HeaderExtensionsMap.get)


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=80), ids=st.lists(st.integers(0, 15), min_size=7, max_size=7))
def test_any_bytes_parse_or_fail_as_aiortcs(data: bytes, ids: list[int]) -> None:
    same_outcome(bytes([0x80 | (data[0] & 0x3F)]) + data[1:] if data else data,
                 extension_map(ids))
    same_outcome(data, extension_map(ids))


def depayload_outcome(function: Any, payload: bytes) -> Any:
    try:
        return function(payload)
    except ValueError as error:
        return ValueError, str(error)


@settings(max_examples=400, deadline=None)
@given(payload=st.binary(max_size=40))
def test_h264_payloads_depayload_as_aiortcs(payload: bytes) -> None:
    assert depayload_outcome(h264_depayload, payload) == \
        depayload_outcome(lambda p: aiortc_depayload(H264, p), payload)


@pytest.mark.parametrize("payload", [
    b"\x65" + bytes(100),  # an IDR slice, a single NAL unit
    b"\x7c\x85" + bytes(50),  # FU-A, first fragment of an IDR slice
    b"\x7c\x05" + bytes(50),  # FU-A, middle fragment
    b"\x7c\x45" + bytes(50),  # FU-A, last fragment
    b"\x78\x00\x02\x67\x42\x00\x02\x68\xce",  # STAP-A: SPS and PPS
    b"\x7c",  # too short
    b"\x00\x01",  # NAL type 0: refused
])
def test_each_h264_packetization_depayloads_as_aiortcs(payload: bytes) -> None:
    assert depayload_outcome(depayloader(H264), payload) == \
        depayload_outcome(lambda p: aiortc_depayload(H264, p), payload)


def test_other_codecs_depayload_with_aiortcs_own_code() -> None:
    vp8 = b"\x90\x80\x12" + bytes(30)
    assert depayloader(VP8)(vp8) == aiortc_depayload(VP8, vp8)
    assert depayloader(OPUS)(b"\xfc\x01") == b"\xfc\x01"
