"""GET /metrics, the receive side and the RTCP feedback (rtc/rtp_counts.py through
rtc/aiortc_hooks.count_rtp_and_feedback): real terminals in a conference of the real MCU
(this process), with video packets dropped on the way by rtc/aiortc_hooks.filter_datagrams
as a lossy link would, and the MCU's counters read from the outside, by scraping /metrics.

- the payload bytes the MCU receives grow while the calls run;
- one packet of a site's video lost on its way to the MCU: the MCU asks for it (NACK sent);
- one packet of the MCU's video lost on its way to a site: the site asks for it (NACK
  received);
- a site asking for a keyframe (PLI received);
- a burst of a site's video, longer than the MCU's jitter buffer, lost on its way to the
  MCU: the MCU asks for a new picture (PLI sent);
- and when the calls end, no counter goes back."""

from __future__ import annotations

import asyncio
import re

import aiohttp

from rtc import aiortc_hooks
from rtc.jitter_buffer import VIDEO_CAPACITY
from tests.test_media_acceptance import book, eventually, server, signalling_url, terminal
from tests.test_metrics import samples, value

__all__ = ["server"]  # the fixture, shared with tests/test_media_acceptance.py

WAIT_S = 30.0
COUNTERS = ("mcu_sim_rtp_payload_received_bytes_total", "mcu_sim_rtcp_nack_sent_total",
            "mcu_sim_rtcp_nack_received_total", "mcu_sim_rtcp_pli_sent_total",
            "mcu_sim_rtcp_pli_received_total")


def sent_video_ssrcs(sdp: str) -> tuple[int, int]:
    """(media, retransmission) SSRCs of the first video m-line of an SDP a terminal sent."""
    video = sdp[sdp.index("m=video"):]
    found = re.search(r"a=ssrc-group:FID (\d+) (\d+)", video)
    assert found is not None, "the terminal sends video with retransmissions"
    return int(found.group(1)), int(found.group(2))


def rtp_ssrc(data: bytes) -> int | None:
    """The SSRC of an RTP packet (SRTP keeps the header in clear); None for anything else
    (STUN, DTLS, RTCP)."""
    if len(data) < 12 or data[0] >> 6 != 2 or 192 <= data[1] <= 223:
        return None
    return int.from_bytes(data[8:12], "big")


class Loss:
    """Drops the next `count` RTP packets of the SSRCs it is armed with."""

    def __init__(self) -> None:
        self.ssrcs: set[int] = set()
        self.left = 0
        self.dropped = 0

    def arm(self, ssrcs: set[int], count: int) -> None:
        self.ssrcs, self.left = ssrcs, count

    def received(self, data: bytes) -> bool:
        if self.left <= 0 or rtp_ssrc(data) not in self.ssrcs:
            return True
        self.left -= 1
        self.dropped += 1
        return False


async def test_bytes_in_grow_and_losses_move_the_nack_and_pli_counters(server):
    http = aiohttp.ClientSession()

    async def scrape() -> dict:
        async with http.get(server.base_url + "/metrics") as response:
            assert response.status == 200
            return samples(await response.text())

    async def grows(name: str, since: dict, what: str) -> dict:
        latest: dict = {}

        async def moved() -> bool:
            latest.update(await scrape())
            return value(latest, name) > value(since, name)

        deadline = asyncio.get_running_loop().time() + WAIT_S
        while not await moved():
            assert asyncio.get_running_loop().time() < deadline, f"{name} never grew: {what}"
            await asyncio.sleep(0.2)
        return dict(latest)

    sender, viewer = terminal(48, decode_video=False), terminal(49, decode_video=False)
    loss = Loss()
    restore = aiortc_hooks.filter_datagrams(loss.received, lambda data: True)
    try:
        for t in (sender, viewer):
            await t.start(signalling_url(server))
        book(server, [sender.uri, viewer.uri])
        await eventually(lambda: all(t.state == "in_call" for t in (sender, viewer)),
                         what="both in the call")
        await eventually(lambda: viewer.stats().video.frames_received >= 30,
                         what="video flowing")
        first = await scrape()
        assert value(first, "mcu_sim_rtp_payload_received_bytes_total") > 0
        await asyncio.sleep(1.0)
        second = await scrape()
        # bytes in grow with the packets in; each packet carries payload
        bytes_in = (value(second, "mcu_sim_rtp_payload_received_bytes_total")
                    - value(first, "mcu_sim_rtp_payload_received_bytes_total"))
        packets_in = (value(second, "mcu_sim_rtp_packets_received_total")
                      - value(first, "mcu_sim_rtp_packets_received_total"))
        assert packets_in > 0 and bytes_in >= packets_in, (bytes_in, packets_in)
        for name in COUNTERS[1:]:  # nothing lost on loopback meanwhile: no NACK, no PLI
            assert value(second, name) == value(first, name), name

        # one packet of the sender's video lost towards the MCU: the MCU NACKs it
        media_ssrc, _rtx_ssrc = sent_video_ssrcs(sender.sdp_sent or "")
        loss.arm({media_ssrc}, 1)
        third = await grows("mcu_sim_rtcp_nack_sent_total", second, "MCU NACK")
        assert loss.dropped == 1

        # one packet of the MCU's video lost towards the viewer: the viewer NACKs it
        [towards_viewer] = viewer.received_video_ssrcs()
        loss.arm({towards_viewer}, 1)
        fourth = await grows("mcu_sim_rtcp_nack_received_total", third, "viewer NACK")
        assert loss.dropped == 2

        # the viewer asks for a keyframe
        assert await viewer.request_keyframe() == 1
        fifth = await grows("mcu_sim_rtcp_pli_received_total", fourth, "viewer PLI")
        # the MCU asked for no picture meanwhile
        assert value(fifth, "mcu_sim_rtcp_pli_sent_total") == value(
            second, "mcu_sim_rtcp_pli_sent_total")

        # more of the sender's video lost than the MCU's jitter buffer holds (RTX too):
        # the next packet lies past its capacity, and the MCU asks for a new picture
        loss.arm(set(sent_video_ssrcs(sender.sdp_sent or "")), VIDEO_CAPACITY + 8)
        sixth = await grows("mcu_sim_rtcp_pli_sent_total", fifth, "MCU PLI")
        assert loss.left == 0
        assert value(sixth, "mcu_sim_rtcp_nack_sent_total") > value(
            fifth, "mcu_sim_rtcp_nack_sent_total")
    finally:
        restore()
        for t in (sender, viewer):
            await t.stop()
    # the calls ended: what they counted stays in the totals
    last = await scrape()
    for name in COUNTERS:
        assert value(last, name) >= value(sixth, name) > 0, name
    await http.close()
