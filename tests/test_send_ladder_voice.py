"""The send ladder under voice-activated switching, end to end (issue 17: "a change of
layout, speaker or video source re-asks, with hysteresis so a voice switch does not flap the
ladder"; docs/signalling.md "Send ladder", docs/benchmarks.md): real simulated terminals
talking (terminals/speech.py levels), the real server on the system clock (the speaker hold
and the ladder's downgrade hold run in real time), SOAP from the reference WSDL.

Three sites sending 1280x720@30 of their own in a 1080p conference, voice-activated switching
on (setAudioSwitchEx) and CP_4_2 without subPics (automatic: the speaker in the main pane,
[0,0,2/3,1], 1280x1080, which a 16:9 picture fills at 1280x720; the others in 640x360 cells):

- the speaker is asked for 1280x720@30 and the others for 640x360@30 (the `send_video`
  messages each terminal receives), the MCU decodes those sizes from them, and the viewer's
  picture reads the speaker's marker in the main pane;
- (a) another site talks: once it is the speaker it is asked up for the main pane, the MCU
  decodes 1280x720 from it and the main pane reads its marker; as it goes on talking, the
  first is asked down to its cell after the hold;
- (b) the two talk in turn, six turns each shorter than the downgrade hold: the speaker
  changes at every turn (queryConferencesStatusEx), yet the first is asked up once (at its
  first turn) and then nothing, the second and the silent third not at all - no ask per
  switch;
- (c) one of them keeps talking: after the hold the other is asked down once, and the sizes
  converge (1280x720 from the speaker, 640x360 from the others), markers in every pane.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.demo.soap_client import check
from app.process import running_server
from gateway.settings import load_settings
from mcu.clock import SystemClock
from mcu.layouts import layout_mode
from mcu.media.send_ladder import DOWNGRADE_HOLD_S
from mcu.model import SiteCallState
from mcu.runtime import SPEAKER_HOLD_SECONDS
from rtc.signalling import SendVideo
from terminals.client import SimulatedTerminal
from terminals.media_sources import VideoFormat as SentVideo
from tests.test_media_acceptance import (
    eventually,
    eventually_async,
    panes_of,
    signalling_url,
    site_indices,
    soap_client,
    states,
)
from tests.test_send_ladder_media import book_1080p, decoded_size, hd_terminal, last_ask

OWN = SentVideo(1280, 720, 30, 1_500_000)
CP_4_2 = layout_mode("CP_4_2").value  # the speaker large: main [0,0,2/3,1], three cells
MAIN = (1280, 720, 30)  # the main pane's rung at 1080p
CELL = (640, 360, 30)  # a third-height cell's rung
SWITCH_GATE, SWITCH_ON = 15, 1
TALK, SILENT = 0.8, 0.0
TURNS = 6
WAIT_S = 60.0


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator:
    config = load_settings(port=0, data_dir=tmp_path, call_timeout_seconds=8.0,
                           send_ladder=True)
    clock = SystemClock()  # the holds are real time: the terminals talk in real time
    async with running_server(config, clock=clock) as running:
        running.clock = clock
        yield running


def asks(t: SimulatedTerminal) -> list[tuple[int, int, int]]:
    return [(m.width, m.height, m.fps) for m in t.send_requests.received
            if isinstance(m, SendVideo)]


def talks(sites: list[SimulatedTerminal], talker: SimulatedTerminal | None) -> None:
    """`talker` talks, every other site is silent."""
    for t in sites:
        t.speech.set_level(TALK if t is talker else SILENT)


async def speaking(soap, conf_id: str) -> str | None:
    answer = check(await asyncio.to_thread(soap.conf_mgr.queryConferencesStatusEx,
                                           confIds=[conf_id]), "queryConferencesStatusEx")
    return answer.conferenceStatuses[0].speaking


async def wait_speaking(soap, conf_id: str, uri: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while await speaking(soap, conf_id) != uri:
        assert time.monotonic() < deadline, f"{uri} never became the speaker"
        await asyncio.sleep(0.1)


async def sizes_are(server, conf_id: str, sites: dict[str, SimulatedTerminal],
                    expected: dict[str, tuple[int, int, int]]) -> None:
    """Each site was last asked for its rung and the MCU decodes that size from it."""
    await eventually(lambda: all(last_ask(sites[uri]) == rung
                                 for uri, rung in expected.items()), WAIT_S,
                     f"asks {expected}")
    await eventually(lambda: all(decoded_size(server, conf_id, uri) == rung[:2]
                                 for uri, rung in expected.items()), WAIT_S,
                     f"decoded {expected}")


async def test_a_voice_switch_asks_the_speaker_up_and_does_not_flap_the_ladder(server):
    a, b, viewer = sites = [hd_terminal(44 + i, video_format=OWN, loop_frames=32,
                                        decode_video=(i == 2),
                                        analyse_every=1 if i == 2 else 1 << 30)
                            for i in range(3)]
    by_uri = {t.uri: t for t in sites}
    talks(sites, a)
    for t in sites:
        await t.start(signalling_url(server))
    try:
        uris = [t.uri for t in sites]
        conf_id = book_1080p(server, uris)
        await eventually(lambda: set(states(server, conf_id).values())
                         == {SiteCallState.IN_CONFERENCE}, WAIT_S, "all three in conference")
        soap = await soap_client(server)
        check(await asyncio.to_thread(soap.conf_ctrl.setAudioSwitchEx, confId=conf_id,
                                      switchGate=SWITCH_GATE, isSwitch=SWITCH_ON),
              "setAudioSwitchEx")
        check(await asyncio.to_thread(soap.conf_ctrl.setContinuousPresenceEx, confId=conf_id,
                                      target="0", presenceMode=CP_4_2, subPics=[]),
              "setContinuousPresenceEx")
        viewer.set_panes(panes_of("CP_4_2")[:3])

        # A talks: the speaker, in the main pane, asked for it; the others for their cells
        await wait_speaking(soap, conf_id, a.uri)
        await sizes_are(server, conf_id, by_uri, {a.uri: MAIN, b.uri: CELL, viewer.uri: CELL})
        await eventually_async(lambda: _reads(viewer, [44, 45, 46]), WAIT_S,
                               "A in the main pane, B and the viewer in cells")

        # (a) B talks: once it is the speaker it is asked up for the main pane
        talks(sites, b)
        await wait_speaking(soap, conf_id, b.uri)
        await eventually(lambda: last_ask(b) == MAIN, WAIT_S, "B asked for the main pane")
        await eventually(lambda: decoded_size(server, conf_id, b.uri) == MAIN[:2], WAIT_S,
                         "1280x720 decoded from B")
        await eventually_async(lambda: _reads(viewer, [45, 44, 46]), WAIT_S,
                               "B in the main pane")
        # B goes on talking: after the hold A is asked down to its cell
        await sizes_are(server, conf_id, by_uri, {b.uri: MAIN, a.uri: CELL, viewer.uri: CELL})

        # (b) A and B talk in turn, each turn shorter than the downgrade hold: the speaker
        # changes every turn, the asks do not
        before = {t.uri: len(asks(t)) for t in sites}
        turns: list[float] = []
        last_change = time.monotonic()
        for turn in range(TURNS):
            talker = a if turn % 2 == 0 else b
            talks(sites, talker)
            await wait_speaking(soap, conf_id, talker.uri)
            now = time.monotonic()
            turns.append(now - last_change)
            last_change = now
        # the premise: every switch came within the hold (a speaker hold and detection)
        assert max(turns) < DOWNGRADE_HOLD_S, f"turns {turns} s: the machine is too slow"
        assert min(turns) >= SPEAKER_HOLD_SECONDS * 0.9, turns  # real voice switches
        during = {t.uri: asks(t)[before[t.uri]:] for t in sites}
        # A is asked up once, at its first turn, and keeps the ask through B's turns; B
        # keeps its main-pane ask through A's; the viewer, in a cell all along, is not asked
        assert during == {a.uri: [MAIN], b.uri: [], viewer.uri: []}, during

        # (c) the talk settles on B (the last turn's talker): A is asked down once, after the
        # hold, and the sizes converge
        settled_at = time.monotonic()
        await sizes_are(server, conf_id, by_uri, {b.uri: MAIN, a.uri: CELL, viewer.uri: CELL})
        assert time.monotonic() - settled_at >= DOWNGRADE_HOLD_S - 1.0  # held, not at once
        assert asks(a)[before[a.uri]:] == [MAIN, CELL]  # up once (b), down once
        assert asks(b)[before[b.uri]:] == []
        await eventually_async(lambda: _reads(viewer, [45, 44, 46]), WAIT_S,
                               "B in the main pane, A and the viewer in cells")
        settled = {t.uri: len(asks(t)) for t in sites}
        await asyncio.sleep(DOWNGRADE_HOLD_S + 1.0)  # nothing more is asked once settled
        assert {t.uri: len(asks(t)) for t in sites} == settled
        # every site that follows asks switched at a keyframe to what it was last asked
        for t in sites:
            last = t.send_requests.switches[-1]
            assert (last.width, last.height) == last_ask(t)[:2]
    finally:
        for t in sites:
            await t.stop()


async def _reads(viewer: SimulatedTerminal, expected: list[int]) -> bool:
    return await site_indices(viewer) == expected
