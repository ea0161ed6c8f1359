"""The offer/answer rules that let baresip 1.0.0 interoperate (docs/sip.md, "Calling the
simulator from baresip"), checked on the SDP baresip really sent (captured from its SIP trace)
so they hold where baresip is not installed; tests/test_baresip.py proves them end to end.

- the MCU's dial-out offer is RTP/AVP (RTP/SAVP under force) with a=rtcp-fb lines;
- baresip's answer picks our constrained baseline H.264 (98) while it sends with our first
  H.264 mode-1 type (96): both are taken, and packets of an H.264 type we did not offer still
  are not;
- an a=crypto answered to an m-line we offered without crypto (mediaEncryptType 2) is ignored:
  the plan is plain RTP.
"""

from __future__ import annotations

import asyncio
import socket
import time

from aiortc.rtp import RtpPacket

from mcu.model import MediaEncryptType as Encryption
from rtp import sdp
from rtp.encryption_policy import SdesRule
from rtp.negotiation import accept_answer, offer
from rtp.session import MediaSockets, RtpSession

OUR_VIDEO_TYPES = {96: "640028", 97: "4d0028", 98: "42e01f"}

BARESIP_ANSWER = """v=0
o=- 2638502561 1920697993 IN IP4 127.0.0.1
s=-
c=IN IP4 127.0.0.1
t=0 0
a=tool:baresip 1.0.0
m=audio 37450 RTP/AVP 96 97
a=rtpmap:96 opus/48000/2
a=fmtp:96 stereo=1;sprop-stereo=1
a=rtpmap:97 telephone-event/8000
a=fmtp:97 0-15
a=sendrecv
m=video 27052 RTP/AVP 98 99 34
a=rtpmap:98 H264/90000
a=fmtp:98 packetization-mode=1;profile-level-id=42e01f
a=rtpmap:99 VP8/90000
a=fmtp:99 max-fs=3600
a=rtpmap:34 H263/90000
a=fmtp:34 CIF=1;CIF4=1
a=sendrecv
a=rtcp-fb:* nack pli
"""


def _mcu_offer(encryption: Encryption) -> sdp.SessionDescription:
    from mcu.media.sip_call_media import MCU_AUDIO, MCU_VIDEO

    # what SipCallMedia.offer sent when BARESIP_ANSWER was captured (it cannot be built
    # without a conference's SiteMedia): the H.264 packetization-mode 0 type, added to the
    # offer since, left out so that the payload types are the ones the answer replied to
    video = tuple(codec for codec in MCU_VIDEO
                  if codec.fmtp.get("packetization-mode") != "0")
    return offer("127.0.0.1", {"audio": 4000, "video": 4002}, SdesRule(encryption),
                 video=video, audio=MCU_AUDIO, avpf=False)


def test_the_mcu_offers_avp_with_feedback_lines() -> None:
    for encryption, proto in ((Encryption.AUTO, "RTP/AVP"), (Encryption.FORCE, "RTP/SAVP"),
                              (Encryption.NONE, "RTP/AVP")):
        text = sdp.serialize(_mcu_offer(encryption))
        parsed = sdp.parse(text)
        assert [m.proto for m in parsed.media] == [proto, proto]
        video = parsed.media[1]
        assert {pt: video.fmtp[pt]["profile-level-id"] for pt in OUR_VIDEO_TYPES} == \
            OUR_VIDEO_TYPES
        assert video.feedback_of(96) and "nack pli" in video.feedback_of(96)


def test_baresips_answer_settles_h264_and_takes_its_sending_type() -> None:
    our_offer = _mcu_offer(Encryption.NONE)
    plans = accept_answer(our_offer, sdp.parse(BARESIP_ANSWER.replace("\n", "\r\n")),
                          SdesRule(Encryption.NONE))
    video = next(plan for plan in plans if plan.kind == "video")
    assert (video.codec.name, video.codec.payload_type) == ("H264", 98)
    assert video.same_codec_types == frozenset({96, 97})
    audio = next(plan for plan in plans if plan.kind == "audio")
    assert audio.codec.name == "opus" and audio.same_codec_types == frozenset()


async def test_a_session_takes_packets_of_the_same_codec_and_drops_others() -> None:
    plans = accept_answer(_mcu_offer(Encryption.NONE),
                          sdp.parse(BARESIP_ANSWER.replace("\n", "\r\n")),
                          SdesRule(Encryption.NONE))
    video = next(plan for plan in plans if plan.kind == "video")
    sockets = await MediaSockets.bind("127.0.0.1")
    session = RtpSession(sockets, video)
    session.start()
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        for number, pt in enumerate((96, 98, 97, 99, 100)):
            packet = RtpPacket(payload_type=pt, marker=1, sequence_number=number,
                               timestamp=3000 * number, ssrc=1234, payload=b"\x65\x88\x84")
            sender.sendto(packet.serialize(), ("127.0.0.1", sockets.port))
        deadline = time.monotonic() + 5
        while session.stats.packets_received + session.stats.malformed < 5:
            assert time.monotonic() < deadline, "the datagrams did not arrive"
            await asyncio.sleep(0.02)
        # 96 and 97 (our other H.264 types) count as H.264; 99 (VP8) and 100 do not
        assert session.stats.packets_received == 3
        assert session.stats.malformed == 2
    finally:
        sender.close()
        await session.close()


def test_crypto_answered_to_an_offer_without_any_is_ignored() -> None:
    answer_text = BARESIP_ANSWER.replace(
        "a=sendrecv\n", "a=sendrecv\na=crypto:1 AES_CM_128_HMAC_SHA1_80 "
        "inline:WfsXkusVvt7HXKWjRMMLLSNd1v+r1/98xErCXudn\n")
    plans = accept_answer(_mcu_offer(Encryption.NONE), sdp.parse(answer_text.replace(
        "\n", "\r\n")), SdesRule(Encryption.NONE))
    assert plans and not any(plan.encrypted for plan in plans)
    # offered with crypto (auto), the same answer is SRTP with the key baresip answered
    auto = _mcu_offer(Encryption.AUTO)
    plans = accept_answer(auto, sdp.parse(answer_text.replace("\n", "\r\n")),
                          SdesRule(Encryption.AUTO))
    assert all(plan.encrypted for plan in plans)
