"""rtc/aiortc_send_hooks.py: every private name the direct send path reaches still exists in
the installed aiortc and aioice, and is still used by them the way the seams assume (a
release that renames or reshapes one fails here, naming the seam). The seams at work on
real peer connections: tests/test_direct_send.py."""

from __future__ import annotations

import inspect

import aioice.ice
import pytest
from aiortc import RTCDtlsTransport, RTCPeerConnection, RTCRtpSender
from aiortc.rtcicetransport import RTCIceTransport

from rtc import aiortc_send_hooks
from tests.rtc_stubs import RecordingTransport

SENDER_NAMES = {
    aiortc_send_hooks._RTP_STARTED: "take_over_rtp",
    aiortc_send_hooks._RTP_EXITED: "take_over_rtp",
    aiortc_send_hooks._TRACK: "take_over_rtp",
    aiortc_send_hooks._PACKET_COUNT: "record_rtp_sent",
    aiortc_send_hooks._OCTET_COUNT: "record_rtp_sent",
    aiortc_send_hooks._NTP_TIMESTAMP: "record_rtp_sent",
    aiortc_send_hooks._RTP_TIMESTAMP: "record_rtp_sent",
    "_ssrc": "sender_ids",
    "_rtx_ssrc": "sender_ids",
    "_enabled": "sender_enabled",
}


@pytest.mark.parametrize("kind", ["audio", "video"])
async def test_every_sender_attribute_a_seam_uses_exists(kind):
    sender = RTCRtpSender(kind, RecordingTransport())
    for attribute, used_by in SENDER_NAMES.items():
        assert hasattr(sender, attribute), f"{attribute} (used by {used_by})"


def test_the_sender_starts_its_rtp_loop_and_resends_through_the_methods_taken_over():
    send = inspect.getsource(RTCRtpSender.send)
    assert "self._run_rtp(parameters.codecs[0])" in send
    assert "self.__rtp_task = asyncio.ensure_future(" in send
    assert "async def _run_rtp(self, codec: RTCRtpCodecParameters)" in inspect.getsource(
        RTCRtpSender)
    stop = inspect.getsource(RTCRtpSender.stop)
    assert "self.__rtp_started.wait()" in stop and "self.__rtp_exited.wait()" in stop
    assert "await self._retransmit(seq)" in inspect.getsource(RTCRtpSender._handle_rtcp_packet)
    rtp_loop = inspect.getsource(aiortc_send_hooks.AIORTC_RUN_RTP)
    # what take_over_rtp does as aiortc's loop does at its end
    assert "self.__track.stop()" in rtp_loop and "self.__track = None" in rtp_loop
    assert "self.__rtp_exited.set()" in rtp_loop and "self.__rtp_started.set()" in rtp_loop


def test_the_sender_reports_read_the_counts_record_rtp_sent_keeps():
    rtcp = inspect.getsource(RTCRtpSender._run_rtcp)
    for text in ("ntp_timestamp=self.__ntp_timestamp", "rtp_timestamp=self.__rtp_timestamp",
                 "packet_count=self.__packet_count", "octet_count=self.__octet_count"):
        assert text in rtcp
    rtp_loop = inspect.getsource(aiortc_send_hooks.AIORTC_RUN_RTP)
    for text in ("self.__ntp_timestamp = clock.current_ntp_time()",
                 "self.__rtp_timestamp = packet.timestamp",
                 "self.__octet_count += len(payload)", "self.__packet_count += 1"):
        assert text in rtp_loop


async def test_the_path_of_srtp_send_path_is_aiortcs_and_aioices():
    """RTCDtlsTransport._send_rtp protects with its tx session and sends on its ICE
    transport, whose `_send` is the connection's `send`: `sendto` on component 1 through the
    nominated pair's protocol, whose `send_data` is the socket transport's `sendto`."""
    dtls = inspect.getsource(RTCDtlsTransport._send_rtp)
    assert "if self._state != State.CONNECTED:" in dtls
    assert "data = self._tx_srtp.protect(data)" in dtls
    assert "await self.transport._send(data)" in dtls
    assert "self.__tx_bytes += len(data)" in dtls and "self.__tx_packets += 1" in dtls
    assert "self._send = self._connection.send" in inspect.getsource(RTCIceTransport)
    assert "await self.sendto(data, 1)" in inspect.getsource(aioice.ice.Connection.send)
    sendto = inspect.getsource(aioice.ice.Connection.sendto)
    assert "active_pair = self._nominated.get(component)" in sendto
    assert "active_pair.protocol.send_data(data, active_pair.remote_addr)" in sendto
    assert "self.transport.sendto(data, addr)" in inspect.getsource(
        aioice.ice.StunProtocol.send_data)
    pc = RTCPeerConnection()
    try:
        transport = pc.addTransceiver("video").sender.transport
        for name in ("_state", "_tx_srtp", aiortc_send_hooks._TX_BYTES,
                     aiortc_send_hooks._TX_PACKETS):
            assert hasattr(transport, name), f"{name} (used by SrtpSendPath)"
        assert hasattr(transport.transport, "_connection")
        assert hasattr(transport.transport._connection, "_nominated")
    finally:
        await pc.close()


async def test_a_path_on_a_transport_not_connected_refuses_as_aiortcs():
    pc = RTCPeerConnection()
    try:
        path = aiortc_send_hooks.SrtpSendPath(pc.addTransceiver("video").sender.transport)
        with pytest.raises(ConnectionError):
            path.send([b"\x80" * 20])
    finally:
        await pc.close()
