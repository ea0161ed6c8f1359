"""The MCU's mixes state their level (RFC 6464), as aiortc's sender does for each audio frame
it encodes and as a browser reads it (`RTCRtpReceiver.getSynchronizationSources()`): each
Opus packet a site receives carries the level of the mix it hears
(mcu/media/conference_audio.py, mcu/media/direct_send.py).

Proved from the outside: two simulated terminals on a real server; each keeps the levels
its received packets state (terminals/receiver.AudioReceiver.stated_levels) and decodes the
mix; the stated levels agree with the decoded mix's, and a site that hears only silence is
told so.
"""

from __future__ import annotations

import math

import numpy as np

from app.process import running_server
from gateway.settings import load_settings
from mcu.clock import ManualClock
from mcu.model import SiteCallState
from rtc.audio_level import MIN_AUDIO_LEVEL
from tests.test_media_acceptance import book, eventually, signalling_url, states, terminal

TOLERANCE_DB = 3.0  # Opus keeps a voice's power within a fraction of a dB; timing blurs it


def mean_power_db(levels: list[int]) -> float:
    """The levels (dBov, one per 20 ms packet) as one: their powers averaged."""
    return 10 * math.log10(sum(10 ** (level / 10) for level in levels) / len(levels))


def decoded_db(samples: np.ndarray) -> float:
    """The decoded mix's level over the window, in dBov (-1..1 samples)."""
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))
    return 20 * math.log10(max(rms, 1e-7))


def agrees(listener) -> bool:
    """A second of stated levels, and their power within TOLERANCE_DB of what was decoded."""
    stated = listener.audio.stated_levels()
    if len(stated) < 40:
        return False
    return abs(mean_power_db(stated) - decoded_db(listener.audio.recent_samples())) \
        < TOLERANCE_DB


async def test_each_site_is_told_the_level_of_the_mix_it_hears(tmp_path):
    clock = ManualClock()
    settings = load_settings(port=0, data_dir=tmp_path, call_timeout_seconds=4.0)
    async with running_server(settings, clock=clock) as server:
        server.clock = clock
        a = terminal(60, decode_video=False, speech_schedule=((1.0, 0.8),))
        b = terminal(61, decode_video=False, speech_schedule=((1.0, 0.0),))
        for t in (a, b):
            await t.start(signalling_url(server))
        try:
            conf_id = book(server, [a.uri, b.uri], cp_resource=4)
            await eventually(lambda: set(states(server, conf_id).values())
                             == {SiteCallState.IN_CONFERENCE}, what="both in conference")

            # B hears A's voice: the levels its packets state are the decoded mix's
            await eventually(lambda: b.heard().get(a.uri, 0.0) > 0.6,
                             what="B hears A")
            await eventually(lambda: agrees(b), what="B's stated levels match its mix")
            assert mean_power_db(b.audio.stated_levels()) > -30

            # A hears B, silent: its packets say silence
            await eventually(lambda: len(a.audio.stated_levels()) >= 40,
                             what="A's packets state levels")
            assert set(a.audio.stated_levels()) == {MIN_AUDIO_LEVEL}
            assert decoded_db(a.audio.recent_samples()) < -90

            # B talks: A is told so, and what it is told is what it hears
            b.speech.set_level(0.5)
            await eventually(lambda: a.heard().get(b.uri, 0.0) > 0.35
                             and agrees(a), what="A's stated levels follow B's voice")
        finally:
            for t in (a, b):
                await t.stop()
