"""Test doubles for aiortc objects, shared by the tests of rtc/."""

from __future__ import annotations

from aiortc.rtp import RtcpPacket


class RecordingTransport:
    """Stands in for the RTCDtlsTransport of a receiver or sender: keeps what it sends."""

    state = "connected"
    _stats_id = "transport"

    def __init__(self) -> None:
        self.sent: list[bytes] = []

    async def _send_rtp(self, data: bytes) -> None:
        self.sent.append(data)

    def _register_rtp_receiver(self, receiver, parameters) -> None:
        pass

    def _unregister_rtp_receiver(self, receiver) -> None:
        pass

    def _get_stats(self) -> dict:
        return {}

    def rtcp(self, kind: type, fmt: int) -> list:
        """The RTCP packets of that class and format sent so far."""
        return [packet for data in self.sent for packet in RtcpPacket.parse(data)
                if isinstance(packet, kind) and packet.fmt == fmt]
