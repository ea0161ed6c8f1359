"""A voice nobody would hear is left undecoded (mcu/media/inline_audio.py, the conference's
gate ConferenceAudio.decodes), proved from the outside: real simulated terminals, whose
voice packets carry their RFC 6464 level as a browser's do, on a real server; what each
site's voice cost is read from GET /stats/media (the frames of each site's voice decoded and
left undecoded), what is heard from what the terminals decode of their mix, and the
recording's audio from its file.

With [mcu] mixed_speakers = 2, A (0.8) and B (0.5) are mixed; C (0.1) is too quiet to come
within 6 dB of taking B's place and D is silent: their frames are not decoded, and nobody
hears them (as before the gate). When C talks louder (0.9) its frames are decoded at once
and it takes B's place; B, outside the mix, then talking at 0.1, is left undecoded. A
recording takes the full mix (every unmuted site): while it runs, B is decoded again and the
file has B's voice; D, silent, stays undecoded throughout. A muted site (A, the loudest) is
left undecoded, recording or not, and nobody hears it.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import av
import numpy as np
import pytest
import requests
from aiortc.rtcrtpparameters import RTCRtpCodecParameters

from app.process import running_server
from gateway.settings import SettingsError, load_settings
from mcu.clock import ManualClock
from mcu.media.inline_audio import HANGOVER_SAMPLES, InlineAudioDecoder
from mcu.media.mixed_speakers import ENTRY_MARGIN, HYSTERESIS, SILENCE_FLOOR, MixedSpeakers
from mcu.media.voice_activity import power_of_level
from mcu.model import SiteCallState
from rtc.audio_jitter_buffer import LevelledFrame
from rtc.opus_packets import MonoOpusDecoder, OpusPacketEncoder
from terminals.speech import MIN_ANALYSIS_S, SpeechSynth, talker_levels
from tests.conftest import DEMO, soap_clients
from tests.test_media_acceptance import (
    book,
    eventually,
    eventually_async,
    signalling_url,
    states,
    terminal,
)

START, STOP = 0, 1
WINDOW_S = 2.0  # 100 frames of each voice
MIN_FRAMES = int(WINDOW_S * 50) // 5


def voices(server, conf_id: str) -> dict[str, tuple[int, int]]:
    """Each site's voice frames (decoded, undecoded) so far, from GET /stats/media."""
    answer = requests.get(server.url("/stats/media"), timeout=10)
    answer.raise_for_status()
    (conference,) = [c for c in answer.json()["conferences"] if c["conf_id"] == conf_id]
    return {uri: (entry["voice_frames_decoded"], entry["voice_frames_undecoded"])
            for uri, entry in conference["inputs"].items()}


async def over_a_window(server, conf_id: str) -> dict[str, tuple[int, int]]:
    """How many of each site's voice frames were decoded and left undecoded over WINDOW_S."""
    before = await asyncio.to_thread(voices, server, conf_id)
    await asyncio.sleep(WINDOW_S)
    after = await asyncio.to_thread(voices, server, conf_id)
    return {uri: (after[uri][0] - before[uri][0], after[uri][1] - before[uri][1])
            for uri in after}


def decoded(counts: tuple[int, int]) -> bool:
    """Every frame of the window decoded, at least a fifth of its 100 arrived (a starved
    loop takes fewer in the window)."""
    return counts[0] >= MIN_FRAMES and counts[1] == 0


def undecoded(counts: tuple[int, int]) -> bool:
    return counts[1] >= MIN_FRAMES and counts[0] == 0


def recording_audio(path: Path) -> tuple[np.ndarray, int]:
    """The recording's first audio channel, decoded (float, -1..1), and its sample rate."""
    with av.open(str(path)) as container:
        rate = container.streams.audio[0].rate
        chunks = [frame.to_ndarray()[0] for frame in container.decode(audio=0)]
    return np.concatenate(chunks).astype(np.float32), rate


def file_levels(samples: np.ndarray, talkers: list[int], rate: int
                ) -> dict[int, tuple[float, float]]:
    """Each talker's level in `samples` over half-second segments a quarter second apart
    (terminals/speech.py): its lower and upper quartile. A cut in the audio lowers the
    talkers' readings and raises an absent one's in the segments around it, so a talker
    is heard by its upper quartile and absent by its lower one."""
    segment = int(rate * MIN_ANALYSIS_S)
    readings = [talker_levels(samples[start:start + segment], talkers, rate)
                for start in range(len(samples) - segment, -1, -(segment // 2))]
    return {talker: (float(np.percentile([r[talker] for r in readings], 25)),
                     float(np.percentile([r[talker] for r in readings], 75)))
            for talker in talkers}


def finished(path: Path) -> bool:
    sidecar = path.with_suffix(".json")
    return sidecar.exists() and json.loads(sidecar.read_text()).get("stopped_at") is not None


async def test_a_voice_nobody_would_hear_is_left_undecoded_until_it_could_be(tmp_path):
    clock = ManualClock()
    settings = load_settings(port=0, data_dir=tmp_path, call_timeout_seconds=4.0,
                             mixed_speakers=2)
    async with running_server(settings, clock=clock) as server:
        server.clock = clock
        levels = {50: 0.8, 51: 0.5, 52: 0.1, 53: 0.0}
        a, b, c, d = (terminal(index, decode_video=False, speech_schedule=((1.0, level),))
                      for index, level in levels.items())
        everyone = [a, b, c, d]
        for t in everyone:
            await t.start(signalling_url(server))
        soap = await asyncio.to_thread(soap_clients, server.base_url)
        assert await asyncio.to_thread(soap.login, *DEMO) == 0
        try:
            conf_id = book(server, [t.uri for t in everyone], cp_resource=4)
            await eventually(lambda: set(states(server, conf_id).values())
                             == {SiteCallState.IN_CONFERENCE}, what="all four in conference")

            def hears(listener, talker) -> float:
                return listener.heard().get(talker.uri, 0.0)

            await eventually(lambda: hears(d, a) > 0.6 and hears(d, b) > 0.35,
                             what="D hears A and B")
            counts = await over_a_window(server, conf_id)
            assert decoded(counts[a.uri]) and decoded(counts[b.uri]), counts
            assert undecoded(counts[c.uri]) and undecoded(counts[d.uri]), counts
            assert hears(d, c) < 0.1  # C is not mixed: nobody hears it, decoded or not

            # C talks louder: decoded at once, it takes B's place; B, outside the mix and
            # talking lower, is left undecoded
            c.speech.set_level(0.9)
            await eventually(lambda: hears(d, c) > 0.6 and hears(d, b) < 0.05
                             and hears(d, a) > 0.6, what="C took B's place, A still heard")
            b.speech.set_level(0.1)
            windows: list[dict[str, tuple[int, int]]] = []

            async def b_left_undecoded() -> bool:  # past the hangover of its last frames
                windows.append(await over_a_window(server, conf_id))
                return undecoded(windows[-1][b.uri])

            await eventually_async(b_left_undecoded, what="B, quiet and not mixed, undecoded")
            counts = windows[-1]
            assert decoded(counts[a.uri]) and decoded(counts[c.uri]), counts
            assert undecoded(counts[d.uri]), counts

            # a recording takes every unmuted site's voice: B (talking at 0.4 again, still
            # not mixed) is decoded again, and heard in the file; D, silent, stays undecoded
            b.speech.set_level(0.4)
            call = soap.terminal_conf_ctrl
            assert await asyncio.to_thread(call.setRecordBroadEx, siteUri=a.uri,
                                           action=START) == 0

            async def b_decoded_again() -> bool:
                windows.append(await over_a_window(server, conf_id))
                return decoded(windows[-1][b.uri])

            await eventually_async(b_decoded_again, what="B decoded while recording")
            assert undecoded(windows[-1][d.uri]), windows[-1]

            # muted, the loudest is left undecoded, recording or not, and not heard
            assert await asyncio.to_thread(soap.conf_ctrl.setSitesMuteEx, confId=conf_id,
                                           siteUris=[a.uri], isMute=0) == 0

            async def a_undecoded() -> bool:
                windows.append(await over_a_window(server, conf_id))
                return undecoded(windows[-1][a.uri])

            await eventually_async(a_undecoded, what="muted A left undecoded")
            await eventually(lambda: hears(d, a) < 0.05, what="nobody hears A")
            assert await asyncio.to_thread(soap.conf_ctrl.setSitesMuteEx, confId=conf_id,
                                           siteUris=[a.uri], isMute=1) == 0

            async def a_decoded() -> bool:
                windows.append(await over_a_window(server, conf_id))
                return decoded(windows[-1][a.uri])

            await eventually_async(a_decoded, what="unmuted A decoded again")
            await asyncio.sleep(1.5)  # the file's last 3 s: A decoded throughout
            folder = tmp_path / "recordings" / conf_id

            async def stop_and_read() -> dict[int, tuple[float, float]]:
                assert await asyncio.to_thread(call.setRecordBroadEx, siteUri=a.uri,
                                               action=STOP) == 0
                await eventually(lambda: len([path for path in folder.glob("*.mp4")
                                              if finished(path)]) == len(heard_in) + 1,
                                 what="the recording finished")
                await asyncio.sleep(1)  # the recorder's thread closes the file
                samples, rate = recording_audio(sorted(folder.glob("*.mp4"))[-1])
                return file_levels(samples[-rate * 3:], [50, 51, 52, 53], rate)

            def right(levels: dict[int, tuple[float, float]]) -> bool:
                """B, A and C heard, D not (the file's last 3 s)."""
                return (levels[51][1] > 0.25 and levels[50][1] > 0.6 and levels[52][1] > 0.6
                        and levels[53][0] < 0.05)

            # The file's audio is the full mix of terminals that share this test's event
            # loop with the MCU and its recorder: a loop late by tens of ms cuts a site's
            # voice, and each cut upsets the readings of the segments around it (more
            # than half of them on a loaded machine). A file read wrong is recorded again,
            # A, B, C and D as they are, at most twice (docs/load_sensitive_tests.md).
            heard_in: list[dict[int, tuple[float, float]]] = []
            heard_in.append(await stop_and_read())
            while not right(heard_in[-1]) and len(heard_in) < 3:
                assert await asyncio.to_thread(call.setRecordBroadEx, siteUri=a.uri,
                                               action=START) == 0
                await asyncio.sleep(4.0)
                heard_in.append(await stop_and_read())
            assert right(heard_in[-1]), heard_in
        finally:
            for t in everyone:
                await t.stop()


async def test_with_the_gate_off_every_voice_frame_is_decoded(tmp_path):
    """[mcu] voice_gate = false: the quiet site and the silent one are decoded as the
    mixed ones are (what the MCU did before the gate), and nobody hears them still."""
    settings = load_settings(port=0, data_dir=tmp_path, call_timeout_seconds=4.0,
                             mixed_speakers=1, voice_gate=False)
    clock = ManualClock()
    async with running_server(settings, clock=clock) as server:
        server.clock = clock
        a, c, d = (terminal(index, decode_video=False, speech_schedule=((1.0, level),))
                   for index, level in {54: 0.8, 55: 0.15, 56: 0.0}.items())
        for t in (a, c, d):
            await t.start(signalling_url(server))
        try:
            conf_id = book(server, [a.uri, c.uri, d.uri], cp_resource=4)
            await eventually(lambda: set(states(server, conf_id).values())
                             == {SiteCallState.IN_CONFERENCE}, what="all three in conference")
            await eventually(lambda: d.heard().get(a.uri, 0.0) > 0.6, what="D hears A")
            counts = await over_a_window(server, conf_id)
            assert all(decoded(counts[t.uri]) for t in (a, c, d)), counts
            assert d.heard().get(c.uri, 0.0) < 0.1
        finally:
            for t in (a, c, d):
                await t.stop()


# ---------------------------------------------------------------- the rule, on powers


def test_who_may_be_mixed_by_the_power_a_frame_states():
    """MixedSpeakers.may_be_mixed: a mixed site always; an audible one while the mix has
    room; once it is full, one that comes within ENTRY_MARGIN (6 dB) of the power that would
    take the quietest mixed site's place (HYSTERESIS, 3 dB above it); never one below
    audibility."""
    speakers = MixedSpeakers(limit=2)
    loud, quiet = 1e8, 1e6
    assert speakers.may_be_mixed("a", loud)  # room
    assert not speakers.may_be_mixed("a", SILENCE_FLOOR / 2)
    for _ in range(100):  # a and b settle at their powers, both mixed
        speakers.update({"a": loud, "b": quiet}, ["a", "b", "c"])
    assert speakers.mixed == {"a", "b"}
    assert speakers.may_be_mixed("b", SILENCE_FLOOR / 2)  # mixed: whatever it says
    entry = HYSTERESIS * quiet / ENTRY_MARGIN  # half of b's power
    assert speakers.may_be_mixed("c", entry * 1.01)
    assert not speakers.may_be_mixed("c", entry * 0.99)
    assert power_of_level(-127) == 0.0
    assert abs(power_of_level(-20) / (32768.0**2 * 0.01) - 1) < 1e-9


def test_the_voice_gate_setting_reads_true_or_false_only(tmp_path):
    assert load_settings().voice_gate is True  # on by default
    off = tmp_path / "off.toml"
    off.write_text("[mcu]\nvoice_gate = false\n")
    assert load_settings(off).voice_gate is False
    bad = tmp_path / "bad.toml"
    bad.write_text('[mcu]\nvoice_gate = "off"\n')
    with pytest.raises(SettingsError, match="voice_gate"):
        load_settings(bad)


def test_a_frame_decoded_after_undecoded_ones_is_decoded_from_silence():
    """InlineAudioDecoder: once the gate refuses, the hangover (HANGOVER_SAMPLES) is still
    decoded, then the frames go to `level_only` (their levels and 20 ms each, in order); the
    first frame decoded after them comes out of a decoder that starts afresh: the samples a
    new decoder gives for it, not those of a decoder still holding the tail of the last frame
    it decoded before the gap."""
    synth = SpeechSynth(7)
    synth.set_level(0.8)
    encoder = OpusPacketEncoder()
    packets = [bytes(encoder.encode(synth.next_block_s16(960), 960 * i)[0]) for i in range(40)]
    frames = [LevelledFrame(data, 960 * i, -20) for i, data in enumerate(packets)]
    decoded: list[np.ndarray] = []
    skipped: list[tuple[int, int]] = []
    heard = {"now": True}
    decoder = InlineAudioDecoder(
        lambda frame: decoded.append(frame.to_ndarray().reshape(-1).copy()),
        gate=lambda level: heard["now"],
        level_only=lambda level, samples: skipped.append((level, samples)))
    opus = RTCRtpCodecParameters(mimeType="audio/opus", clockRate=48000, channels=2,
                                 payloadType=111)
    for index, frame in enumerate(frames):
        heard["now"] = not 10 <= index < 30  # refused from 10: 10-19 the hangover
        decoder.put((opus, frame))
    assert HANGOVER_SAMPLES == 10 * 960  # 200 ms: frames 10-19
    assert (decoder.frames_decoded, decoder.frames_undecoded) == (30, 10)
    assert skipped == [(-20, 960)] * 10
    fresh = MonoOpusDecoder().decode(frames[30])[0].to_ndarray().reshape(-1)
    assert np.array_equal(decoded[20], fresh)
    stale = MonoOpusDecoder()
    for frame in frames[:20]:
        stale.decode(frame)
    assert not np.array_equal(stale.decode(frames[30])[0].to_ndarray().reshape(-1), fresh)
    # another codec (G.711, G.722: cheap) or a frame without a level: always decoded
    pcmu = RTCRtpCodecParameters(mimeType="audio/PCMU", clockRate=8000, payloadType=0)
    heard["now"] = False
    before = (decoder.frames_decoded, decoder.frames_undecoded)
    decoder.put((pcmu, LevelledFrame(bytes(160), 0, -20)))
    decoder.put((opus, LevelledFrame(packets[0], 0, None)))
    assert (decoder.frames_decoded, decoder.frames_undecoded) == (before[0] + 2, before[1])
    assert decoder.decode_errors == 0
