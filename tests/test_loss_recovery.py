"""A picture frozen by a packet lost for good recovers with the next keyframe, at once
(rtc/jitter_buffer.py): real terminals in a conference of the real MCU (this process), one
video packet towards the viewer dropped and every retransmission with it, as on a lossy
link whose retransmissions are lost too. aiortc's own jitter buffer kept every later frame,
the keyframe the viewer asked for included, behind that gap until 512 packets had piled up
(seconds of video): the soak's bursts "unrecovered within 5 s" (docs/benchmarks.md)."""

from __future__ import annotations

import asyncio
import re
import time

from mcu.model import SiteCallState
from rtc import aiortc_hooks
from rtc.jitter_buffer import VIDEO_CAPACITY, MarkerJitterBuffer
from tests.test_media_acceptance import book, eventually, server, signalling_url, states, terminal

__all__ = ["server"]  # the fixture, shared with tests/test_media_acceptance.py


class OneLostPacket:
    """Drops the first video packet of `ssrc` after it is armed, and every retransmission
    (RTX payload types) while armed; counts that stream's packets after the loss."""

    def __init__(self, ssrc: int, rtx_payload_types: set[int]) -> None:
        self.ssrc = ssrc
        self.rtx_payload_types = rtx_payload_types
        self.armed = False
        self.lost_seq: int | None = None
        self.after_loss = 0
        self.retransmissions_dropped = 0

    def received(self, data: bytes) -> bool:
        if len(data) < 12 or data[0] >> 6 != 2 or 192 <= data[1] <= 223:
            return True  # not RTP (STUN, DTLS) or RTCP: passes
        if not self.armed:
            return True
        if data[1] & 0x7F in self.rtx_payload_types:
            self.retransmissions_dropped += 1
            return False
        if int.from_bytes(data[8:12], "big") != self.ssrc:
            return True
        if self.lost_seq is None:
            self.lost_seq = int.from_bytes(data[2:4], "big")
            return False
        self.after_loss += 1
        return True


async def test_a_keyframe_after_a_packet_lost_for_good_ends_the_frozen_picture(server):
    viewer, other = terminal(46, decode_video=False), terminal(47, decode_video=False)
    for t in (viewer, other):
        await t.start(signalling_url(server))
    restore = None
    try:
        conf_id = book(server, [viewer.uri, other.uri], cp_resource=4)
        await eventually(lambda: set(states(server, conf_id).values())
                         == {SiteCallState.IN_CONFERENCE}, what="both in conference")
        await eventually(lambda: viewer.stats().video.frames_received >= 30,
                         what="video flowing")
        [ssrc] = viewer.received_video_ssrcs()
        rtx = {int(pt) for pt in re.findall(r"a=rtpmap:(\d+) rtx/", viewer.sdp_received)}
        assert rtx, "the MCU offers retransmissions"
        loss = OneLostPacket(ssrc, rtx)
        restore = aiortc_hooks.filter_datagrams(loss.received, lambda data: True)
        loss.armed = True
        await eventually(lambda: loss.lost_seq is not None, what="a video packet lost")
        frozen_at = viewer.stats().video.frames_received
        await asyncio.sleep(0.5)  # the viewer NACKs; every retransmission is lost too
        # nothing delivered behind the gap (at most the frame being completed at the loss)
        assert viewer.stats().video.frames_received <= frozen_at + 1
        skips = MarkerJitterBuffer.keyframe_skips_total
        keyframes = viewer.stats().video.keyframes_received
        asked_at = time.monotonic()
        assert await viewer.request_keyframe() == 1  # PLI, as after a loss
        await eventually(lambda: viewer.stats().video.keyframes_received > keyframes,
                         timeout=5.0, what="the keyframe asked for")
        recovered_s = time.monotonic() - asked_at
        # released past the gap, long before aiortc's buffer would have overflowed
        assert MarkerJitterBuffer.keyframe_skips_total > skips
        assert loss.after_loss < VIDEO_CAPACITY / 2, (loss.after_loss, recovered_s)
        loss.armed = False
        frames = viewer.stats().video.frames_received
        await eventually(lambda: viewer.stats().video.frames_received >= frames + 15,
                         what="the picture moving again")
    finally:
        if restore is not None:
            restore()
        for t in (viewer, other):
            await t.stop()
