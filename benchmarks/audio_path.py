"""The MCU's audio path alone: CPU time per second of a conference's audio, the path as it
was (benchmarks/audio_path_before.py) against the current one, side by side in one run.

One conference of N sites, built from the MCU's own classes: a ConferenceMedia with a
SiteMedia per site (a real Call, Opus negotiated, joined), each site's Opus packets put into
its InlineAudioDecoder as aiortc's jitter buffer hands them over (decoded on the loop into the
site's AudioInput), then the conference's 20 ms audio step (ConferenceAudio: one frame from
every fifo, the mixed speakers, the N-1 mixes, each distinct mix Opus-encoded once and pushed
to the sites' SiteAudioTracks, the levels metered and reported every 100 ms). No network and
no pacing: the steps run back to back, so the figure is the path's own work.

The sites' packets are what the simulated terminals send (terminals/speech_packets.py: each
talker's voice, SpeechSynth, at level 0.5, encoded once per period), `--talkers` of them
talking (default: all), the others sending silence (as a terminal whose schedule is silent
does: packets of its voice at level 0).

CPU = this process's CPU time (time.process_time: every thread, not wall time, so a busy
machine stretches a run but moves its figure less) per second of audio mixed, in ms and in %
of one core. Rounds alternate the variants (before, current, before, current ...), each on a
fresh conference after a warm-up of 1 s of audio; the load average is given with each round.

    python -m benchmarks.audio_path [--sites 4] [--talkers N] [--seconds 20] [--rounds 4]
                                    [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from aiortc import RTCRtpCodecParameters
from aiortc.jitterbuffer import JitterFrame

from benchmarks import audio_path_before
from mcu.calls import Call
from mcu.events import SiteCallStateChanged
from mcu.media.audio_mixer import FRAME_SAMPLES
from mcu.media.conference_audio import LEVEL_REPORT_FRAMES
from mcu.media.conference_media import ConferenceMedia
from mcu.media.inline_audio import InlineAudioDecoder
from mcu.media.mixed_speakers import DEFAULT_MIXED_SPEAKERS
from mcu.media.site_media import SiteMedia
from mcu.model import SiteCallState, SiteSpec
from rtc.opus_packets import MonoOpusDecoder, OpusPacketEncoder
from terminals.speech import SpeechSynth
from terminals.speech_packets import SpeechPacketCache

VARIANTS = ("before", "current")
FLOOR = "floor"
OPUS = RTCRtpCodecParameters(mimeType="audio/opus", clockRate=48000, channels=2,
                             payloadType=111)
TALK_LEVEL = 0.5
WARMUP_STEPS = 50  # 1 s


@dataclass
class Round:
    variant: str
    round: int
    sites: int
    talkers: int
    audio_s: float
    cpu_ms_per_audio_s: float
    cpu_pct: float  # of one core, at real time (50 steps a second)
    mixes_encoded_per_step: float
    load_average: float


def site_packets(sites: int, talkers: int) -> list[tuple[bytes, ...]]:
    """One period of Opus packets per site: talkers at TALK_LEVEL, the others silent."""
    runs = []
    for index in range(sites):
        cache = SpeechPacketCache(SpeechSynth(index))
        level = TALK_LEVEL if index < talkers else 0.0
        runs.append(tuple(cache.packet(block * FRAME_SAMPLES, level)
                          for block in range(cache.period_frames)))
    return runs


@dataclass
class Conference:
    media: ConferenceMedia
    decoders: list[Any]
    step: Callable[[], object]
    levels_reported: list[int]

    def encoded(self) -> int:
        return int(self.media.mix_encoders.frames_encoded)


def conference(variant: str, sites: int) -> Conference:
    """A conference of `sites` joined Opus sites, the audio path of `variant`."""
    from concurrent.futures import ThreadPoolExecutor

    reported: list[int] = []
    media = ConferenceMedia("c1", report_levels=lambda _conf, levels: reported.append(
        len(levels)), executor=ThreadPoolExecutor(1))
    if variant == "before":
        audio_path_before.install(media)
    decoders: list[Any] = []
    for index in range(sites):
        uri = f"site{index}"
        site = SiteMedia(Call("c1", SiteSpec(uri, name=uri), on_change=lambda _call: None))
        site.audio_codec = "OPUS"
        if variant == "before":
            site.audio_in = audio_path_before.AudioInput()  # type: ignore[assignment]
        media.add_site(site)
        media.apply(SiteCallStateChanged("c1", uri, SiteCallState.IN_CONFERENCE))
        decoders.append(InlineAudioDecoder(site.audio_in.add))
        if variant == "before":
            decoders[-1] = audio_path_before.inline_decoder(site.audio_in.add)
    steps = 0

    def step() -> None:
        nonlocal steps
        media.mix_once()
        steps += 1
        if steps % LEVEL_REPORT_FRAMES == 0:
            media.report_levels()

    return Conference(media, decoders, step, reported)


def distinct_mixes(sites: int, talkers: int) -> int:
    """The mixes a conference of `sites` with `talkers` talking encodes every 20 ms: an N-1
    mix per mixed speaker, and everyone's when some site is not mixed."""
    mixed = min(talkers, DEFAULT_MIXED_SPEAKERS)
    return mixed + (1 if sites > mixed else 0)


def mix_blocks(sites: int, talkers: int, frames: int) -> list[list[np.ndarray]]:
    """For each distinct mix, `frames` 20 ms blocks of it (the talkers' voices summed, the
    excluded talker left out), what the floor's encoders encode."""
    voices = [SpeechSynth(index).block_s16_at(0, frames * FRAME_SAMPLES, TALK_LEVEL)
              .astype(np.int32) for index in range(min(talkers, DEFAULT_MIXED_SPEAKERS))]
    total = np.sum(voices, axis=0)
    mixes = [total - voice for voice in voices]
    if distinct_mixes(sites, talkers) > len(voices):
        mixes.append(total)
    return [list(np.clip(mix, -32768, 32767).astype(np.int16).reshape(frames, FRAME_SAMPLES))
            for mix in mixes]


def floor_round(index: int, runs: list[tuple[bytes, ...]], talkers: int,
                seconds: float) -> Round:
    """The audio path's codec floor: the same packets decoded (libopus through PyAV, mono,
    as the MCU decodes) and the same number of distinct mixes encoded (the mix encoders'
    settings), back to back; no fifo, no mixing, no levels, no Python per site beyond the
    codec calls."""
    period = len(runs[0])
    decoders = [MonoOpusDecoder() for _ in runs]
    blocks = mix_blocks(len(runs), talkers, period)
    encoders = [OpusPacketEncoder() for _ in blocks]  # the mix encoders' settings
    tick = 0

    def one_step() -> None:
        nonlocal tick
        timestamp = tick * FRAME_SAMPLES
        for decoder, run in zip(decoders, runs, strict=True):
            if not decoder.decode(JitterFrame(run[tick % period], timestamp)):
                raise RuntimeError("floor: a packet decoded to nothing")
        for encoder, mix in zip(encoders, blocks, strict=True):
            encoder.encode(mix[tick % period], timestamp)
        tick += 1

    for _ in range(WARMUP_STEPS):
        one_step()
    steps = int(seconds * 50)
    started = time.process_time()
    for _ in range(steps):
        one_step()
    cpu = time.process_time() - started
    audio_s = steps * FRAME_SAMPLES / 48_000
    return Round(
        variant=FLOOR, round=index, sites=len(runs), talkers=talkers,
        audio_s=round(audio_s, 2),
        cpu_ms_per_audio_s=round(1000 * cpu / audio_s, 2),
        cpu_pct=round(100 * cpu / audio_s, 2),
        mixes_encoded_per_step=float(len(encoders)),
        load_average=round(os.getloadavg()[0], 2))


def run_round(variant: str, index: int, runs: list[tuple[bytes, ...]], talkers: int,
              seconds: float) -> Round:
    conf = conference(variant, len(runs))
    period = len(runs[0])
    tick = 0

    def one_step() -> None:
        nonlocal tick
        timestamp = tick * FRAME_SAMPLES
        for decoder, run in zip(conf.decoders, runs, strict=True):
            decoder.put((OPUS, JitterFrame(run[tick % period], timestamp)))
        conf.step()
        tick += 1

    for _ in range(WARMUP_STEPS):
        one_step()
    steps = int(seconds * 50)
    encoded0 = conf.encoded()
    started = time.process_time()
    for _ in range(steps):
        one_step()
    cpu = time.process_time() - started
    audio_s = steps * FRAME_SAMPLES / 48_000
    for decoder in conf.decoders:
        if decoder.decode_errors:
            raise RuntimeError(f"{variant}: {decoder.decode_errors} frames not decoded")
    if not conf.levels_reported:
        raise RuntimeError(f"{variant}: no levels reported")
    return Round(
        variant=variant, round=index, sites=len(runs), talkers=talkers,
        audio_s=round(audio_s, 2),
        cpu_ms_per_audio_s=round(1000 * cpu / audio_s, 2),
        cpu_pct=round(100 * cpu / audio_s, 2),
        mixes_encoded_per_step=round((conf.encoded() - encoded0) / steps, 2),
        load_average=round(os.getloadavg()[0], 2))


def summary(rounds: list[Round]) -> dict[str, Any]:
    """Medians per variant; per round index, current / before and each over that round's
    floor (the ratios' median and range)."""
    by_variant = {variant: {r.round: r.cpu_ms_per_audio_s for r in rounds
                            if r.variant == variant}
                  for variant in (*VARIANTS, FLOOR)}

    def ratios(top: str, bottom: str) -> dict[str, Any] | None:
        pairs = [value / by_variant[bottom][index] for index, value in by_variant[top].items()
                 if index in by_variant[bottom]]
        if not pairs:
            return None
        return {"median": round(statistics.median(pairs), 3),
                "range": [round(min(pairs), 3), round(max(pairs), 3)]}

    return {
        "cpu_ms_per_audio_s": {variant: round(statistics.median(values.values()), 2)
                               for variant, values in by_variant.items() if values},
        "current_to_before": ratios("current", "before"),
        "before_to_floor": ratios("before", FLOOR),
        "current_to_floor": ratios("current", FLOOR),
        "load_average": [min(r.load_average for r in rounds),
                         max(r.load_average for r in rounds)],
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=4)
    parser.add_argument("--talkers", type=int, default=None,
                        help="sites talking (default: all); the others send silence")
    parser.add_argument("--seconds", type=float, default=20.0,
                        help="seconds of audio per round")
    parser.add_argument("--rounds", type=int, default=4, help="rounds of each variant")
    parser.add_argument("--only", choices=(*VARIANTS, FLOOR),
                        help="run one variant (profiling)")
    parser.add_argument("--json", help="write the rounds and the summary here")
    args = parser.parse_args(argv)
    talkers = args.sites if args.talkers is None else min(args.talkers, args.sites)
    runs = site_packets(args.sites, talkers)
    variants = (args.only,) if args.only else (*VARIANTS, FLOOR)
    rounds = []
    for index in range(args.rounds):
        # rotate which variant goes first, so none always follows the same one
        shift = index % len(variants)
        for variant in variants[shift:] + variants[:shift]:
            if variant == FLOOR:
                result = floor_round(index, runs, talkers, args.seconds)
            else:
                result = run_round(variant, index, runs, talkers, args.seconds)
            rounds.append(result)
            print(json.dumps(asdict(result)), flush=True)
    report = {"rounds": [asdict(r) for r in rounds], "summary": summary(rounds)}
    print(json.dumps(report["summary"]))
    if args.json:
        with open(args.json, "w") as out:
            json.dump(report, out, indent=1)


if __name__ == "__main__":
    main()
