"""One outgoing RTP stream written without aiortc's per-packet objects and awaits.

aiortc's RTCRtpSender, for every payload of every frame and for each receiver: builds an
`RtpPacket` and its `HeaderExtensions`, serializes them through its `HeaderExtensionsMap`
(struct.pack and bytes concatenation per field), keeps the packet object in its NACK
history, then awaits `RTCDtlsTransport._send_rtp` -> `RTCIceTransport._send` ->
`Connection.send` -> `Connection.sendto` -> `StunProtocol.send_data`, five coroutine
frames before the datagram reaches the socket, and reads the next frame from its track
in a task of its own (one wake-up per frame and receiver).

`RtpStreamWriter` writes the same bytes (tests/test_rtp_output.py compares them with
aiortc's `RtpPacket.serialize` field for field): the header of its stream is a template
made once (version, SSRC, the one-byte or two-byte header extension block of the
extensions aiortc's sender sets, mid, abs-send-time and, for a voice, the RFC 6464 audio
level, in aiortc's order); per packet only the marker, payload type, sequence number,
timestamp, abs-send-time and level change,
written with `struct.pack_into`, and the packet is the template's bytes joined with the
payload. It keeps the last `RTP_HISTORY_SIZE` packets as bytes for NACKs and wraps a
retransmission as RFC 4588 RTX the way aiortc's `wrap_rtx` does (the original header
extensions, the original sequence number in front of the payload).

`RtpOutput` is one receiver's stream: it takes a frame's payloads (shared by every
receiver of the frame, rtc/shared_packetizer.py) and its RTP timestamp, writes its packets
and hands them, as one batch, to a `DatagramPath` (SRTP protect and the socket,
rtc/aiortc_hooks.SrtpSendPath), synchronously in the caller's call chain.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from aiortc.rtcrtpsender import random_sequence_number
from aiortc.rtp import RTP_HISTORY_SIZE, pack_header_extensions
from aiortc.utils import random32

MID_URI = "urn:ietf:params:rtp-hdrext:sdes:mid"
ABS_SEND_TIME_URI = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
AUDIO_LEVEL_URI = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
_ONE_BYTE_PROFILE = 0xBEDE  # RFC 8285: one-byte element headers (else two-byte)
_RTP_FIXED_HEADER = 12
_ABS_SEND_TIME_MARK = b"\xfe\xed\xfa"  # where abs-send-time goes; no mid (ASCII) has it
_MARKER_PT_SEQ = struct.Struct("!BH")  # bytes 1-3: marker | payload type, sequence number
_TIMESTAMP = struct.Struct("!L")  # bytes 4-7
_SEQUENCE = struct.Struct("!H")


@dataclass(frozen=True, slots=True)
class StreamIds:
    """What a stream's packets carry besides the media: aiortc's sender's values."""

    ssrc: int
    payload_type: int
    rtx_ssrc: int
    rtx_payload_type: int | None  # None: no RTX negotiated, a NACK resends the packet as is
    mid: str | None  # the transceiver's mid (the sdes:mid extension), None: not sent
    extension_ids: dict[str, int]  # negotiated header extension URI -> id


class DatagramPath(Protocol):
    """Where an RtpOutput's packets go: protected and sent, in order, at once."""

    def send(self, packets: Sequence[bytes]) -> None: ...


_NTP_EPOCH_OFFSET_S = 2_208_988_800  # 1900-01-01 to 1970-01-01


def current_ntp_time() -> int:
    """aiortc's `clock.current_ntp_time()` (the wall clock as 32.32 NTP, microsecond
    resolution, the fraction computed as aiortc does) without its two datetime objects."""
    return ntp_time(time.time_ns())


def ntp_time(unix_ns: int) -> int:
    """aiortc's `clock.datetime_to_ntp` of the instant `unix_ns` (ns since 1970, UTC),
    truncated to the microsecond as a datetime is."""
    seconds, nanoseconds = divmod(unix_ns, 1_000_000_000)
    fraction = ((nanoseconds // 1000) << 32) // 1_000_000
    return ((seconds + _NTP_EPOCH_OFFSET_S) << 32) | fraction


def abs_send_time(ntp_time: int) -> int:
    """The abs-send-time value (6.18 fixed point seconds) of an NTP time, as aiortc's."""
    return (ntp_time >> 14) & 0xFFFFFF


class RtpStreamWriter:
    """The RTP packets of one stream, byte for byte aiortc's RTCRtpSender's.

    `audio_levels`: every packet carries the RFC 6464 audio level its frame is given
    (`packets(audio_level=...)`) when the stream negotiated the extension, as aiortc's
    sender writes it for a frame it computed a level for (the voice activity bit clear)."""

    def __init__(self, ids: StreamIds, audio_levels: bool = False) -> None:
        self.ids = ids
        extensions: list[tuple[int, bytes]] = []
        mid_id = ids.extension_ids.get(MID_URI)
        abs_id = ids.extension_ids.get(ABS_SEND_TIME_URI)
        level_id = ids.extension_ids.get(AUDIO_LEVEL_URI) if audio_levels else None
        # aiortc's HeaderExtensionsMap.set order: mid, ..., abs-send-time, ..., audio level
        if ids.mid is not None and mid_id:
            extensions.append((mid_id, ids.mid.encode("utf8")))
        if abs_id:
            extensions.append((abs_id, _ABS_SEND_TIME_MARK))
        if level_id:
            extensions.append((level_id, b"\x7f"))
        profile, value = pack_header_extensions(extensions)
        # where the level's byte is: behind the fixed header, the extension block's own
        # header (profile, length) and every element before it with its element header
        self._level_at: int | None = None
        if level_id:
            element_header = 1 if profile == _ONE_BYTE_PROFILE else 2
            self._level_at = _RTP_FIXED_HEADER + 4 + sum(
                element_header + len(element) for _, element in extensions[:-1]) + element_header
        first = 0x80 | (0x10 if value else 0)  # version 2, extension bit
        header = bytearray(struct.pack("!BBHLL", first, 0, 0, 0, ids.ssrc))
        if value:
            header += struct.pack("!HH", profile, len(value) >> 2) + value
        self._abs_at: int | None = None
        if abs_id:
            self._abs_at = bytes(header).index(_ABS_SEND_TIME_MARK)
            header[self._abs_at:self._abs_at + 3] = b"\x00\x00\x00"
        self._header = header
        self.header_size = len(header)
        self._history: list[bytes | None] = [None] * RTP_HISTORY_SIZE

    def packets(self, payloads: Sequence[bytes], first_sequence: int, timestamp: int,
                send_time: int, audio_level: int = -127) -> list[bytes]:
        """The packets of one frame: sequence numbers from `first_sequence` (wrapping at
        2^16), the marker on the last, `send_time` the abs-send-time value, `audio_level`
        the frame's level in dBov (-127..0; written when the stream carries levels); each
        kept in the history."""
        header = self._header
        _TIMESTAMP.pack_into(header, 4, timestamp)
        if self._level_at is not None:
            header[self._level_at] = -audio_level & 0x7F
        if self._abs_at is not None:
            header[self._abs_at:self._abs_at + 3] = send_time.to_bytes(3, "big")
        payload_type = self.ids.payload_type
        last = len(payloads) - 1
        history = self._history
        packets = []
        sequence = first_sequence
        for index, payload in enumerate(payloads):
            _MARKER_PT_SEQ.pack_into(header, 1, payload_type | (0x80 if index == last else 0),
                                     sequence)
            packet = bytes(header) + payload
            history[sequence % RTP_HISTORY_SIZE] = packet
            packets.append(packet)
            sequence = (sequence + 1) & 0xFFFF
        return packets

    def sent(self, sequence: int) -> bytes | None:
        """The packet sent with `sequence` if the history still holds it."""
        packet = self._history[sequence % RTP_HISTORY_SIZE]
        if packet is None or _SEQUENCE.unpack_from(packet, 2)[0] != sequence:
            return None
        return packet

    def rtx(self, packet: bytes, rtx_sequence: int) -> bytes:
        """`packet` wrapped for retransmission (RFC 4588), as aiortc's wrap_rtx: the RTX
        payload type, sequence number and SSRC, the original marker, timestamp and header
        extensions, and the original sequence number before the payload."""
        assert self.ids.rtx_payload_type is not None
        size = self.header_size
        rtx = bytearray(packet[:size])
        struct.pack_into("!BH", rtx, 1, (packet[1] & 0x80) | self.ids.rtx_payload_type,
                         rtx_sequence)
        struct.pack_into("!L", rtx, 8, self.ids.rtx_ssrc)
        return bytes(rtx) + packet[2:4] + packet[size:]


class RtpOutput:
    """One receiver's RTP stream: frames in (their shared payloads and media timestamp),
    protected datagrams out, synchronously; retransmissions on NACK from the history.

    `rewrite` (optional) gives each payload this stream's own form (a VP8 picture id,
    rtc/shared_packetizer.py); it is called with the payloads and returns new ones."""

    def __init__(self, ids: StreamIds, path: DatagramPath,
                 rewrite: Callable[[Sequence[bytes]], Sequence[bytes]] | None = None,
                 audio_levels: bool = False) -> None:
        self.writer = RtpStreamWriter(ids, audio_levels)
        self.path = path
        self.rewrite = rewrite
        self._sequence = random_sequence_number()  # as aiortc's sender starts
        self._timestamp_origin = random32()
        self._rtx_sequence = random_sequence_number()
        # what aiortc's sender keeps for its RTCP sender reports (RtpOutput's caller copies
        # them there: mcu/media/direct_send.py)
        self.packet_count = 0
        self.octet_count = 0
        self.last_timestamp = 0
        self.last_ntp_time = 0
        self.retransmitted = 0

    def send_frame(self, payloads: Sequence[bytes], timestamp: int,
                   audio_level: int = -127) -> None:
        """The packets of one frame (`timestamp` in the codec's clock from the stream's
        start, as aiortc's encoders' `pack` returns it; `audio_level` its level in dBov
        when the stream carries levels), sent now."""
        if not payloads:
            return
        if self.rewrite is not None:
            payloads = self.rewrite(payloads)
        rtp_timestamp = (self._timestamp_origin + timestamp) & 0xFFFFFFFF
        ntp_time = current_ntp_time()  # aiortc: per packet; a frame's go out at once
        packets = self.writer.packets(payloads, self._sequence, rtp_timestamp,
                                      abs_send_time(ntp_time), audio_level)
        self.path.send(packets)
        self._sequence = (self._sequence + len(packets)) & 0xFFFF
        self.packet_count += len(packets)
        self.octet_count += sum(len(payload) for payload in payloads)
        self.last_timestamp = rtp_timestamp
        self.last_ntp_time = ntp_time

    def retransmit(self, sequence: int) -> bool:
        """A NACKed packet again, as RTX when negotiated; False when no longer held."""
        packet = self.writer.sent(sequence)
        if packet is None:
            return False
        if self.writer.ids.rtx_payload_type is not None:
            packet = self.writer.rtx(packet, self._rtx_sequence)
            self._rtx_sequence = (self._rtx_sequence + 1) & 0xFFFF
        self.path.send([packet])
        self.retransmitted += 1
        return True
