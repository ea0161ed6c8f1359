"""Cuts in a site's voice as the mix plays it are counted where an operator reads them
(mcu/media/audio_mixer.SampleFifo; docs/signalling.md): a real terminal's audio lost on
the way for half a second makes its mix input run dry, which GET /stats/media
(`voice_underruns` of that site) and /metrics (`mcu_sim_audio_input_underruns_total`)
show; the unit tests count overflows and what runs dry before the voice first played."""

from __future__ import annotations

import asyncio

import aiohttp
import numpy as np

from mcu.media.audio_mixer import FRAME_SAMPLES, PREBUFFER_FRAMES, SampleFifo
from mcu.model import SiteCallState
from rtc import aiortc_hooks
from tests.test_media_acceptance import book, eventually, server, signalling_url, states, terminal
from tests.test_metrics import samples, value
from tests.test_metrics_rtcp import rtp_ssrc

__all__ = ["server"]  # the fixture, shared with tests/test_media_acceptance.py

BLOCK = np.zeros(FRAME_SAMPLES, np.int16)


def test_running_dry_while_playing_is_an_underrun_before_it_is_not() -> None:
    fifo = SampleFifo()
    assert fifo.read_frame() is None  # nothing yet: waiting for the prebuffer, no cut
    fifo.write(BLOCK)
    assert fifo.read_frame() is None and fifo.underruns == 0
    for _ in range(PREBUFFER_FRAMES - 1):
        fifo.write(BLOCK)
    for _ in range(PREBUFFER_FRAMES):
        assert fifo.read_frame() is not None
    assert fifo.read_frame() is None and fifo.underruns == 1  # played, then ran dry
    assert fifo.read_frame() is None and fifo.underruns == 1  # one cut, not one per step


def test_samples_dropped_by_a_full_fifo_are_counted() -> None:
    fifo = SampleFifo(capacity=4 * FRAME_SAMPLES)
    for _ in range(6):
        fifo.write(BLOCK)
    assert fifo.samples_overflowed == 2 * FRAME_SAMPLES and len(fifo) == 4 * FRAME_SAMPLES
    fifo.write(np.zeros(5 * FRAME_SAMPLES, np.int16))  # a write larger than the whole fifo
    assert fifo.samples_overflowed == 7 * FRAME_SAMPLES and len(fifo) == 4 * FRAME_SAMPLES


class VoiceLost:
    """Drops the RTP packets of one SSRC while armed; counts them."""

    def __init__(self, ssrc: int) -> None:
        self.ssrc = ssrc
        self.armed = False
        self.dropped = 0

    def received(self, data: bytes) -> bool:
        if self.armed and rtp_ssrc(data) == self.ssrc:  # None for STUN, DTLS, RTCP
            self.dropped += 1
            return False
        return True


async def test_half_a_second_of_lost_voice_shows_as_an_underrun_of_that_site(server) -> None:
    talker, other = terminal(48, decode_video=False), terminal(49, decode_video=False)
    for t in (talker, other):
        await t.start(signalling_url(server))
    restore = None
    try:
        conf_id = book(server, [talker.uri, other.uri], cp_resource=4)
        await eventually(lambda: set(states(server, conf_id).values())
                         == {SiteCallState.IN_CONFERENCE}, what="both in conference")
        await eventually(lambda: other.stats().audio_frames >= 25, what="audio flowing")
        call = talker._call
        assert call is not None
        [ssrc] = [int(transceiver.sender._ssrc) for transceiver in call.pc.getTransceivers()
                  if transceiver.kind == "audio"]
        async with aiohttp.ClientSession() as http:

            async def site_inputs() -> dict:
                async with http.get(server.url("/stats/media")) as answer:
                    assert answer.status == 200
                    found = await answer.json()
                return next(c["inputs"] for c in found["conferences"]
                            if c["conf_id"] == conf_id)

            async def metric() -> float:
                async with http.get(server.url("/metrics")) as answer:
                    return value(samples(await answer.text()),
                                 "mcu_sim_audio_input_underruns_total")

            before = (await site_inputs())[talker.uri]["voice_underruns"]
            total_before = await metric()
            lost = VoiceLost(ssrc)
            restore = aiortc_hooks.filter_datagrams(lost.received, lambda data: True)
            lost.armed = True
            await asyncio.sleep(0.5)
            lost.armed = False
            assert lost.dropped >= 10  # 25 voice packets a half second, fewer on a late loop
            inputs = await site_inputs()
            assert inputs[talker.uri]["voice_underruns"] > before
            assert await metric() > total_before
    finally:
        if restore is not None:
            restore()
        for t in (talker, other):
            await t.stop()
