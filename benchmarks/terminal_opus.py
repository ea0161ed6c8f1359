"""The simulated terminals' Opus: FFmpeg's default settings (before: complexity 10,
unconstrained VBR) against libwebrtc's desktop settings (current: complexity 9, constrained
VBR; rtc/opus_packets.py), side by side in one run.

Per variant and round, for each of `--sites` talkers (terminals/speech.py SpeechSynth at
level 0.5, as benchmarks/audio_path.py's talkers):
- the live encoder (terminals/speech_packets.py OpusVoice: the path of a block the sync
  pattern's click shapes, or of a voice whose period is not whole blocks): `--seconds` of
  the voice encoded block by block, thread CPU time per 20 ms frame;
- what leaves: the bytes per second of those packets (the SDP states
  maxaveragebitrate=48000, i.e. 6,000 bytes/s);
- the receiving side: the same packets decoded by the MCU's decoder (rtc/opus_packets.py
  MonoOpusDecoder), thread CPU per frame;
The cached path (SpeechPacketCache) runs the same encoder over two periods once per level
used, so its cost per level is 2 x period x the live figure per frame.

Thread CPU time (time.thread_time) is what this thread spent, not wall time, so a busy
machine stretches a run but moves its figure less. Rounds alternate the variants (before,
current, before, current ...); the load average is given with each round.

    python -m benchmarks.terminal_opus [--sites 4] [--seconds 10] [--rounds 5] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from dataclasses import asdict, dataclass
from types import SimpleNamespace
from typing import Any

from rtc.opus_packets import (
    OPUS_FRAME_SAMPLES,
    OPUS_SAMPLE_RATE,
    MonoOpusDecoder,
    OpusPacketEncoder,
)
from terminals.speech import SpeechSynth

TALK_LEVEL = 0.5
# the encoder's keywords per variant: None keeps FFmpeg's default, {} the current defaults
VARIANTS: dict[str, dict[str, Any]] = {
    "before": {"complexity": None, "vbr": None},
    "current": {},
}


@dataclass
class Round:
    variant: str
    round: int
    sites: int
    frames: int
    encode_us_per_frame: float
    decode_us_per_frame: float
    bytes_per_s: float
    load_average: float


def run_round(variant: str, index: int, sites: int, seconds: float) -> Round:
    settings = VARIANTS[variant]
    blocks_per_site = int(seconds * OPUS_SAMPLE_RATE / OPUS_FRAME_SAMPLES)
    encode_cpu = decode_cpu = 0.0
    total_bytes = 0
    for site in range(sites):
        synth = SpeechSynth(site)
        synth.set_level(TALK_LEVEL)
        blocks = [synth.next_block_s16(OPUS_FRAME_SAMPLES) for _ in range(blocks_per_site)]
        encoder = OpusPacketEncoder(**settings)
        started = time.thread_time()
        packets = [encoder.encode(block, number * OPUS_FRAME_SAMPLES)
                   for number, block in enumerate(blocks)]
        encode_cpu += time.thread_time() - started
        payloads = [bytes(packet) for frame in packets for packet in frame]
        total_bytes += sum(len(payload) for payload in payloads)
        decoder = MonoOpusDecoder()
        frames = [SimpleNamespace(data=payload, timestamp=number * OPUS_FRAME_SAMPLES)
                  for number, payload in enumerate(payloads)]
        started = time.thread_time()
        for frame in frames:
            if not decoder.decode(frame):
                raise RuntimeError("a packet decoded to nothing")
        decode_cpu += time.thread_time() - started
    frames_total = sites * blocks_per_site
    return Round(
        variant=variant, round=index, sites=sites, frames=frames_total,
        encode_us_per_frame=round(1e6 * encode_cpu / frames_total, 1),
        decode_us_per_frame=round(1e6 * decode_cpu / frames_total, 1),
        bytes_per_s=round(total_bytes / (sites * seconds), 1),
        load_average=round(os.getloadavg()[0], 2))


def summary(rounds: list[Round]) -> dict[str, Any]:
    """Per variant the median of each figure; current / before as the median of the
    per-round ratios with their min and max (each pair run back to back)."""
    fields = ("encode_us_per_frame", "decode_us_per_frame", "bytes_per_s")
    result: dict[str, Any] = {}
    for variant in VARIANTS:
        mine = [r for r in rounds if r.variant == variant]
        result[variant] = {name: statistics.median(getattr(r, name) for r in mine)
                           for name in fields}
    before = [r for r in rounds if r.variant == "before"]
    current = [r for r in rounds if r.variant == "current"]
    ratios: dict[str, Any] = {}
    for name in fields:
        values = [getattr(c, name) / getattr(b, name)
                  for b, c in zip(before, current, strict=True)]
        ratios[name] = {"median": round(statistics.median(values), 3),
                        "min": round(min(values), 3), "max": round(max(values), 3)}
    result["current_over_before"] = ratios
    result["load_average"] = [r.load_average for r in rounds]
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sites", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", help="write the rounds and the summary to this file")
    args = parser.parse_args(argv)
    rounds: list[Round] = []
    run_round("before", -1, 1, 1.0)  # warm-up: libraries loaded, tables built
    run_round("current", -1, 1, 1.0)
    for index in range(args.rounds):
        for variant in VARIANTS:
            result = run_round(variant, index, args.sites, args.seconds)
            rounds.append(result)
            print(json.dumps(asdict(result)), flush=True)
    report = summary(rounds)
    print(json.dumps(report, indent=2))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as file:
            json.dump({"rounds": [asdict(r) for r in rounds], "summary": report}, file,
                      indent=2)


if __name__ == "__main__":
    main()
