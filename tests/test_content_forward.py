"""The content stream's pieces alone: the content m-line of an SDP (rtc/content_sdp.py), the
tap on a content receiver and the forwarder (mcu/media/content_forward.py): packets
unchanged, timestamps rebased across a change of sender, receivers restarting at a
keyframe, keyframe requests rate-limited and deferred, never lost."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from aiortc import RTCPeerConnection

from mcu.media.content_forward import SWITCH_GAP, ContentForwarder, ContentTap
from mcu.media.encoder_group import SiteVideoTrack
from rtc.content_sdp import CONTENT_LABEL, content_media, has_content_attributes, mark_content
from rtc.ice import rtc_configuration

H264_IDR = b"\x00\x00\x00\x01\x67\x42\xc0\x1f" + b"\x00\x00\x00\x01\x65\x88\x84"
H264_P = b"\x00\x00\x00\x01\x41\x9a\x02"


async def offer_with(directions: list[str]) -> str:
    pc = RTCPeerConnection(rtc_configuration())
    try:
        pc.addTransceiver("audio", direction="sendrecv")
        for direction in directions:
            pc.addTransceiver("video", direction=direction)
        await pc.setLocalDescription(await pc.createOffer())
        return pc.localDescription.sdp
    finally:
        await pc.close()


async def test_the_content_mline_is_the_second_video_mline_marked_once():
    sdp = await offer_with(["sendrecv", "recvonly"])
    marked = mark_content(sdp)
    assert has_content_attributes(marked) and not has_content_attributes(sdp)
    assert mark_content(marked) == marked  # once
    assert marked.count("a=content:slides") == 1 and f"a=label:{CONTENT_LABEL}" in marked
    # the attributes sit in the content section, after its c= line
    content_section = marked.split("m=video")[2]
    assert content_section.index("c=IN") < content_section.index("a=content:slides")
    media = content_media(marked)
    assert media is not None and media.mid == "2" and media.direction == "recvonly"
    assert media.receives and not media.sends and media.codec in ("VP8", "H264")


async def test_one_video_mline_has_no_content_stream():
    sdp = await offer_with(["sendrecv"])
    assert content_media(sdp) is None
    assert mark_content(sdp) == sdp
    inactive = content_media(await offer_with(["sendrecv", "inactive"]))
    assert inactive is not None and not inactive.sends and not inactive.receives


@dataclass
class Codec:
    name: str


@dataclass
class Encoded:
    data: bytes
    timestamp: int


def test_the_tap_hands_every_frame_over_and_decodes_only_from_a_keyframe():
    seen: list[tuple[str, bytes, int]] = []
    tap = ContentTap(lambda codec, data, ts: seen.append((codec, data, ts)))
    tap.put((Codec("H264"), Encoded(H264_P, 0)))
    assert tap.qsize() == 0 and len(seen) == 1  # not decoding: handed over, not queued
    tap.decode = True
    tap.put((Codec("H264"), Encoded(H264_P, 3000)))  # a decoder cannot start on a P-frame
    assert tap.qsize() == 0
    tap.put((Codec("H264"), Encoded(H264_IDR, 6000)))
    tap.put((Codec("H264"), Encoded(H264_P, 9000)))
    assert tap.qsize() == 2 and [ts for *_, ts in seen] == [0, 3000, 6000, 9000]
    tap.put(None)  # the receiver stops: the decoder thread is told
    assert tap.qsize() == 3 and tap.frames_received == 4


async def test_forwarded_packets_are_unchanged_rebased_and_start_at_a_keyframe():
    asked: list[str] = []
    source = {"uri": "A"}
    forwarder = ContentForwarder(lambda: asked.append(source["uri"]), min_interval=0.3)
    b, c = SiteVideoTrack("B"), SiteVideoTrack("C")
    forwarder.switch_source("A")
    b.join_group(forwarder)
    c.join_group(forwarder)
    assert len(asked) == 3  # the new source, then each new receiver, at once
    forwarder.forward("H264", H264_P, 90_000)  # no keyframe yet: nobody gets it
    forwarder.forward("H264", H264_IDR, 93_000)
    forwarder.forward("H264", H264_P, 96_000)
    for track in (b, c):
        first, second = await track.recv(), await track.recv()
        assert (bytes(first), bytes(second)) == (H264_IDR, H264_P)
        assert first.is_keyframe and not second.is_keyframe
        assert (first.pts, second.pts) == (3000, 6000)  # from the source's first frame
        assert first.time_base.denominator == 90000

    # another sender: its timestamps continue the stream, receivers wait for its keyframe
    source["uri"] = "D"
    forwarder.switch_source("D")
    assert asked[-1] == "D"
    forwarder.forward("VP8", b"\x01\x02\x03", 5_000_000)  # a VP8 inter frame (P bit 1)
    forwarder.forward("VP8", b"\x10\x02\x03", 5_003_000)  # keyframe (P bit 0)
    packet = await b.recv()
    assert bytes(packet) == b"\x10\x02\x03" and packet.pts == 6000 + SWITCH_GAP + 3000
    forwarder.close()
    assert b.group is None and c.group is None


async def test_keyframe_requests_are_rate_limited_and_deferred_not_lost():
    asked: list[float] = []
    loop = asyncio.get_running_loop()
    forwarder = ContentForwarder(lambda: asked.append(loop.time()), min_interval=0.3)
    forwarder.switch_source("A")
    start = loop.time()
    for _ in range(5):  # a storm of PLIs right after the switch
        forwarder.request_keyframe()
    assert len(asked) == 1
    await asyncio.sleep(0.45)
    assert len(asked) == 2 and asked[1] - start >= 0.29  # one deferred request, sent once
    await asyncio.sleep(0.35)
    forwarder.request_keyframe()  # the interval is over: at once
    assert len(asked) == 3
    forwarder.close()
