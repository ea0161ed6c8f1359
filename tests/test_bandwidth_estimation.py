"""rtc/bandwidth_estimation.py: a receiver without the estimator sends no REMB, and still
keeps the statistics its receiver reports are made of."""

from __future__ import annotations

from aiortc import RTCRtpReceiver
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtp import RTCP_PSFB_APP, RtcpPsfbPacket, RtpPacket

from rtc.bandwidth_estimation import disable_bitrate_estimation
from tests.rtc_stubs import RecordingTransport

MEDIA_SSRC = 1234
VP8 = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=96)


def remb_packets(transport: RecordingTransport) -> list[RtcpPsfbPacket]:
    return transport.rtcp(RtcpPsfbPacket, RTCP_PSFB_APP)


async def feed_three_seconds_of_video(receiver: RTCRtpReceiver) -> None:
    """90 frames of 5 packets, 1200 bytes each, stamped with abs-send-time as aiortc's
    sender does, arriving later and later (a busy receiver: the estimator sees a growing
    queue, i.e. congestion)."""
    receiver._set_rtcp_ssrc(5678)
    sequence = 0
    for frame in range(90):
        sent_ms = frame * 33
        for index in range(5):
            packet = RtpPacket(payload_type=VP8.payloadType, sequence_number=sequence,
                               timestamp=frame * 3000, ssrc=MEDIA_SSRC,
                               payload=b"\x10" + bytes(1199))
            # abs-send-time: 6.18 fixed point seconds, 24 bits
            packet.extensions.abs_send_time = (sent_ms << 18) // 1000 & 0xFFFFFF
            await receiver._handle_rtp_packet(packet, arrival_time_ms=sent_ms + 2 * frame + index)
            sequence += 1


async def test_a_receiver_estimates_and_sends_remb_by_default():
    transport = RecordingTransport()
    receiver = RTCRtpReceiver("video", transport)
    await feed_three_seconds_of_video(receiver)
    assert remb_packets(transport), "aiortc's default: REMB feedback while receiving"


async def test_without_estimation_no_remb_and_statistics_still_kept():
    transport = RecordingTransport()
    receiver = RTCRtpReceiver("video", transport)
    disable_bitrate_estimation(receiver)
    receiver._RTCRtpReceiver__codecs[VP8.payloadType] = VP8  # what receive() would set up
    await feed_three_seconds_of_video(receiver)
    assert remb_packets(transport) == []
    # Receiving goes on: the packets were counted for the receiver reports.
    stats = [s for s in (await receiver.getStats()).values()
             if s.type == "inbound-rtp" and s.ssrc == MEDIA_SSRC]
    assert stats[0].packetsReceived == 450
