"""RFC 5104 TMMBR/TMMBN (rtp/tmmbr.py) and RFC 6236 image attributes (rtp/imageattr.py), the
wire forms of the send ladder's asks to SIP sites; two RTP sessions of ours on loopback
exchanging a limit and its notification (rtp/session.py)."""

from __future__ import annotations

import asyncio
import struct

import pytest

from mcu.media.send_ladder import LADDER
from mcu.model import MediaEncryptType as Encryption
from rtp import imageattr, sdp
from rtp.negotiation import CodecOffer
from rtp.tmmbr import (
    FMT_TMMBN,
    FMT_TMMBR,
    BitrateEntry,
    bitrate_feedback,
    ladder_rate,
    mantissa_exp,
    picture_bitrate,
    size_for_bitrate,
    tmmbn,
    tmmbr,
)
from tests.rtp_pairs import negotiated_pair


@pytest.mark.parametrize("bitrate", [0, 1, 131071, 131072, 1_125_000, 2_250_000, 10**9])
def test_a_limit_is_written_as_mantissa_and_exponent_rounding_down(bitrate):
    mantissa, exp = mantissa_exp(bitrate)
    assert mantissa < 1 << 17 and exp < 64
    assert bitrate - (1 << exp) < mantissa << exp <= bitrate
    packet = tmmbr(0x11111111, 0x22222222, bitrate)
    header, kind, words = struct.unpack_from("!BBH", packet)
    assert (header, kind, len(packet)) == (0x80 | FMT_TMMBR, 205, 4 * (words + 1))
    assert struct.unpack_from("!L", packet, 8)[0] == 0  # media source: unused, 0
    (feedback,) = bitrate_feedback(packet)
    assert feedback.fmt == FMT_TMMBR and feedback.sender_ssrc == 0x11111111
    assert feedback.entries == (BitrateEntry(0x22222222, mantissa << exp, 40),)


def test_tmmbn_and_other_packets_in_a_compound_packet():
    notice = tmmbn(7, [BitrateEntry(9, 500_000, 28)])
    receiver_report = struct.pack("!BBHL", 0x80, 201, 1, 5)
    (feedback,) = bitrate_feedback(receiver_report + notice)
    assert (feedback.fmt, feedback.entries) == (FMT_TMMBN, (BitrateEntry(9, 500_000, 28),))
    for bad in (notice[:-3], notice[:12], b"\x80\xcd\x00\x09" + notice[4:]):
        with pytest.raises(ValueError):
            bitrate_feedback(bad)
    with pytest.raises(ValueError):
        mantissa_exp(-1)


def test_every_rung_maps_back_from_its_own_bitrate():
    for width, height in LADDER:
        fps = ladder_rate(height)
        sent = tmmbr(1, 2, picture_bitrate(width, height, fps))
        limit = bitrate_feedback(sent)[0].entries[0].bitrate
        assert size_for_bitrate(limit, LADDER) == (width, height, fps)
    assert size_for_bitrate(1000, LADDER) is None
    assert picture_bitrate(1280, 720, 30) == 1_500_000
    assert picture_bitrate(960, 540, 30) == 1_125_000


@pytest.mark.parametrize(("text", "send", "recv"), [
    ("97 send * recv [x=960,y=540]", None, ((960, 540),)),
    ("* send [x=[320:1920],y=[180:1080]] recv *", ((1920, 1080),), None),
    ("100 recv [x=[480,640],y=[270,360],sar=1.1,q=0.5] [x=320,y=180]", None,
     ((640, 360), (320, 180))),
    ("97 send [x=[320:16:1280],y=[240:16:720]]", ((1280, 720),), None),
])
def test_imageattr_sets_read_their_largest_size(text, send, recv):
    attribute = imageattr.parse(text)
    assert (attribute.send, attribute.recv) == (send, recv)


@pytest.mark.parametrize("text", ["97", "x send *", "97 recv [y=3]", "97 recv [x=0,y=2]",
                                  "97 recv nonsense", "97 junk send *"])
def test_bad_imageattr_is_refused_with_its_line(text):
    with pytest.raises(sdp.SdpError, match="imageattr"):
        imageattr.parse(text)


def test_asks_and_promises_round_trip_through_sdp():
    session = sdp.parse("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
                        "t=0 0\r\nm=video 4000 RTP/AVP 97\r\na=rtpmap:97 H264/90000\r\n")
    assert not imageattr.understands_imageattr(session)
    imageattr.state_any_size(session)
    assert imageattr.understands_imageattr(sdp.serialize(session))
    video = imageattr.main_video(session)
    imageattr.state(video, imageattr.ask_lines(480, 270, 15))
    again = imageattr.main_video(sdp.parse(sdp.serialize(session)))
    attribute = imageattr.for_payload(again, 97)
    assert attribute is not None and attribute.largest(attribute.recv) == (480, 270)
    assert imageattr.framerate_of(again) == 15
    assert sum(line.startswith("imageattr:") for line in again.other) == 1


async def test_a_limit_asked_is_followed_and_notified_back():
    pair = await negotiated_pair("video", (CodecOffer("VP8"),), Encryption.FORCE,
                                 rtcp_interval=0.2)
    try:
        assert pair.a.tmmbr_negotiated and pair.b.tmmbr_negotiated
        limits: list[int] = []
        pair.a.on_tmmbr = lambda bitrate: limits.append(bitrate) is None
        pair.a.send_frame(b"\x10\x02\x00\x9d\x01\x2a", True)  # b learns a's SSRC
        for _ in range(100):
            if pair.b.remote_ssrc is not None:
                break
            await asyncio.sleep(0.02)
        assert pair.b.send_tmmbr(1_125_000)
        for _ in range(150):
            if pair.b.stats.tmmbn_limit is not None:
                break
            await asyncio.sleep(0.02)
        assert limits[:1] == [mantissa_exp(1_125_000)[0] << mantissa_exp(1_125_000)[1]]
        assert pair.a.stats.tmmbn_sent >= 1 and pair.b.stats.tmmbn_limit == limits[0]
        sent = pair.b.stats.tmmbr_sent
        await asyncio.sleep(0.6)  # notified: no more repeats with the reports
        assert pair.b.stats.tmmbr_sent == sent
    finally:
        await pair.close()


async def test_without_ccm_tmmbr_nothing_is_sent(monkeypatch):
    from rtp import negotiation

    monkeypatch.setattr(negotiation, "FEEDBACK", frozenset({"nack", "nack pli"}))
    pair = await negotiated_pair("video", (CodecOffer("VP8"),), Encryption.AUTO)
    try:
        assert not pair.b.tmmbr_negotiated
        assert not pair.b.send_tmmbr(500_000)
        assert pair.b.stats.tmmbr_sent == 0
    finally:
        await pair.close()
