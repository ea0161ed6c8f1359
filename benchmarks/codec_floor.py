"""The codec floor of a media scenario: its decodes and encodes alone, in one process.

Definition (docs/benchmarks.md, "Media: the codec floor"). The floor of a conference is the
CPU its codec work costs when nothing else runs: no network, no SRTP/RTP, no jitter
buffer, no event loop, one Python call per frame and codec, never per packet.
  - Decodes: every site's video, decoded from the very bitstream its simulated terminal
    sends (terminals/media_sources.encode_loop: the same scene, codec, size, frame rate,
    bitrate and x264 settings as the terminals' pre-encoded loop), by the decoder the MCU
    uses (aiortc's H264Decoder: FFmpeg's h264 decoder at its default threading), every
    frame at the source's frame rate.
  - Encodes: each distinct output format encoded once per output frame by the MCU's own
    encoder (mcu/media/video_encoders.open_encoder: libx264 ultrafast, zerolatency,
    Constrained Baseline, the level's VBV), from the picture the MCU's compositor
    (mcu/media/compositor.Compositor, default style) makes of the decoded frames at that
    output's size.
  - The compositor's work runs in the same loop (it makes the encoders' input) and is
    measured, but it is NOT part of the floor: it is reported beside it
    (`compositor_cpu_pct`). The floor is what the conference would cost if everything but
    codec work were free; the compositor is one of the costs to bring down (the send
    ladder turns most of it into plane copies).
  - Audio: the sites' Opus voices decoded and the conference's distinct mixes encoded, as
    the MCU does it (benchmarks/audio_floor.py), when the scenario names them
    (`audio_sites`, `audio_mixes`: media_load takes the mixes from what the MCU encoded;
    the built-in --scenario ones name none, so they are the video's floor alone).
    `video_floor_cpu_pct` is the video part alone (the floor of the first measurements).

CPU: process CPU time (time.process_time: every thread of this process, so a codec's own
threads count) spent in each part over the frames of `seconds` of media, as % of one core
(cpu_s / seconds * 100). The frames run back to back, not paced: CPU time per second of
media is what is compared, and it is what an MCU that keeps up spends.

    python -m benchmarks.codec_floor [--seconds 10] [--scenario 4site|16site | --spec JSON]
        [--json FILE|-]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import av
from aiortc.codecs.h264 import H264Decoder
from aiortc.jitterbuffer import JitterFrame

from benchmarks.audio_floor import measure_audio_floor
from mcu.media.compositor import Compositor
from mcu.media.output_format import H264, OutputFormat
from mcu.media.video_decoder import on_one_thread
from mcu.media.video_encoders import EncoderTuning, open_encoder
from terminals.media_sources import (
    DEFAULT_LOOP_FRAMES,
    DEFAULT_VIDEO_FORMAT,
    EncodedLoop,
    VideoFormat,
    encode_loop,
)
from terminals.scene import CameraScene

VIDEO_CLOCK = 90_000


@dataclass(frozen=True)
class FloorScenario:
    """One conference's codec work: what its sites send and the distinct outputs it encodes,
    all showing one CP picture in `layout`."""

    name: str
    layout: str
    sources: tuple[VideoFormat, ...]  # one per site: what its terminal sends (H.264)
    outputs: tuple[OutputFormat, ...]  # the distinct encoder outputs
    audio_sites: int = 0  # sites whose Opus voice the MCU decodes
    audio_mixes: float = 0.0  # distinct Opus mixes the MCU encodes per 20 ms frame (mean)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FloorScenario:
        """The scenario `to_json` wrote (how media_load hands it to a child process)."""
        try:
            sources = tuple(VideoFormat(**source) for source in data["sources"])
            outputs = tuple(OutputFormat(**output) for output in data["outputs"])
            scenario = cls(str(data["name"]), str(data["layout"]), sources, outputs,
                           int(data.get("audio_sites", 0)), float(data.get("audio_mixes", 0.0)))
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"not a floor scenario: {error}") from None
        if not sources or not outputs:
            raise ValueError("a floor scenario needs at least one source and one output")
        if not 0 <= scenario.audio_sites <= len(sources) or not 0 <= scenario.audio_mixes <= 64:
            raise ValueError("audio_sites must be 0..sites and audio_mixes 0..64")
        return scenario


@dataclass
class FloorResult:
    name: str
    seconds: float  # of media
    frames_decoded: int
    frames_composed: int
    frames_encoded: int
    decode_cpu_s: float
    compose_cpu_s: float
    encode_cpu_s: float
    decode_cpu_pct: float  # % of one core
    encode_cpu_pct: float
    floor_cpu_pct: float  # video and audio decodes + encodes: the floor
    compositor_cpu_pct: float  # beside the floor, not in it
    wall_s: float
    video_floor_cpu_pct: float = 0.0  # decode + encode of the video alone
    audio_frames_decoded: int = 0
    audio_frames_encoded: int = 0
    audio_decode_cpu_pct: float = 0.0  # the sites' Opus voices
    audio_encode_cpu_pct: float = 0.0  # the distinct mixes


def four_site_scenario() -> FloorScenario:
    """media_load's 4-site conference: four terminals sending their 720p30 loop, CP_4_1 at
    1080p30, 2 Mbit/s (2048k booked), one encoder."""
    return FloorScenario(
        "4-site 1080p30", "CP_4_1", (DEFAULT_VIDEO_FORMAT,) * 4,
        (OutputFormat(H264, 1920, 1080, 30, 2_048_000),),
    )


def sixteen_site_scenario() -> FloorScenario:
    """media_load's 16-site conference: sixteen terminals sending 640x360 at 30 fps, CP_16_1
    at 1080p30 2048k (the probe) and at 4CIF 768k (the fifteen others): two encoders."""
    small = VideoFormat(640, 360, 30, 600_000)
    return FloorScenario(
        "16-site CP_16_1", "CP_16_1", (small,) * 16,
        (OutputFormat(H264, 1920, 1080, 30, 2_048_000),
         OutputFormat(H264, 704, 576, 30, 768_000)),
    )


SCENARIOS = {"4site": four_site_scenario, "16site": sixteen_site_scenario}


def terminal_loops(sources: Sequence[VideoFormat], loop_frames: int = DEFAULT_LOOP_FRAMES,
                   ) -> list[EncodedLoop]:
    """Each site's H.264 loop as its terminal encodes it (site index i, `Site i`)."""
    return [
        encode_loop(CameraScene(index, f"Site {index}", fmt.width, fmt.height, loop_frames),
                    H264, fmt)
        for index, fmt in enumerate(sources)
    ]


class _Source:
    """One site's decoder over its loop; `latest` is its newest decoded picture."""

    def __init__(self, uri: str, loop: EncodedLoop) -> None:
        self.uri = uri
        self.loop = loop
        self.fps = loop.video_format.fps
        self.decoder = on_one_thread(H264Decoder())  # as the MCU decodes (video_decoder.py)
        self.next_index = 0
        self.latest: av.VideoFrame | None = None
        self.decoded = 0

    def due(self, t: float) -> bool:
        return self.next_index / self.fps <= t + 1e-9

    def decode_next(self) -> None:
        data = self.loop.packets[self.next_index % self.loop.frames]
        timestamp = self.next_index * VIDEO_CLOCK // self.fps
        for frame in self.decoder.decode(JitterFrame(data=data, timestamp=timestamp)):
            assert isinstance(frame, av.VideoFrame)
            self.latest = frame
            self.decoded += 1
        self.next_index += 1


class _Output:
    """One distinct output: its compositor (one per size, as the MCU's) and its encoder."""

    def __init__(self, output: OutputFormat, compositor: Compositor) -> None:
        self.format = output
        self.compositor = compositor
        self.encoder = open_encoder(output, EncoderTuning())
        self.next_index = 0
        self.encoded = 0

    def due(self, t: float) -> bool:
        return self.next_index / self.format.fps <= t + 1e-9


def measure_floor(scenario: FloorScenario, seconds: float = 10.0,
                  loops: Sequence[EncodedLoop] | None = None) -> FloorResult:
    """Decode, compose and encode `seconds` of the scenario's media back to back; the CPU
    of each part. `loops`: the sites' bitstreams (default: the terminals' loops, encoded
    here first, outside the measurement)."""
    if seconds <= 0:
        raise ValueError("seconds must be positive")
    if loops is None:
        loops = terminal_loops(scenario.sources)
    if len(loops) != len(scenario.sources):
        raise ValueError(f"{len(loops)} loops for {len(scenario.sources)} sources")
    sources = [_Source(f"site-{index}", loop) for index, loop in enumerate(loops)]
    compositors: dict[tuple[int, int], Compositor] = {}
    outputs = []
    for wanted in scenario.outputs:
        size = (wanted.width, wanted.height)
        if size not in compositors:
            compositors[size] = Compositor(wanted.width, wanted.height, scenario.layout)
        outputs.append(_Output(wanted, compositors[size]))
    tick_rate = max(wanted.fps for wanted in scenario.outputs)
    ticks = round(seconds * tick_rate)
    decode_s = compose_s = encode_s = 0.0
    composed = 0
    wall_start = time.perf_counter()
    for tick in range(ticks):
        t = tick / tick_rate
        started = time.process_time()
        for source in sources:
            while source.due(t):
                source.decode_next()
        decoded_at = time.process_time()
        decode_s += decoded_at - started
        pictures: dict[int, av.VideoFrame] = {}
        for output in outputs:
            if not output.due(t):
                continue
            begun = time.process_time()
            compositor = output.compositor
            picture = pictures.get(id(compositor))
            if picture is None:
                picture = compositor.compose({s.uri: s.latest for s in sources})
                pictures[id(compositor)] = picture
                composed += 1
            made = time.process_time()
            pts = output.next_index * VIDEO_CLOCK // output.format.fps
            output.encoder.encode(picture, pts, keyframe=output.next_index == 0)
            done = time.process_time()
            compose_s += made - begun
            encode_s += done - made
            output.next_index += 1
            output.encoded += 1
    wall = time.perf_counter() - wall_start
    for output in outputs:
        output.encoder.close()
    audio = measure_audio_floor(scenario.audio_sites, scenario.audio_mixes, seconds)

    def pct(cpu_s: float) -> float:
        return round(100 * cpu_s / seconds, 2)

    return FloorResult(
        name=scenario.name,
        seconds=seconds,
        frames_decoded=sum(source.decoded for source in sources),
        frames_composed=composed,
        frames_encoded=sum(output.encoded for output in outputs),
        decode_cpu_s=round(decode_s, 6),
        compose_cpu_s=round(compose_s, 6),
        encode_cpu_s=round(encode_s, 6),
        decode_cpu_pct=pct(decode_s),
        encode_cpu_pct=pct(encode_s),
        floor_cpu_pct=pct(decode_s + encode_s + audio.decode_cpu_s + audio.encode_cpu_s),
        compositor_cpu_pct=pct(compose_s),
        wall_s=round(wall, 2),
        video_floor_cpu_pct=pct(decode_s + encode_s),
        audio_frames_decoded=audio.frames_decoded,
        audio_frames_encoded=audio.frames_encoded,
        audio_decode_cpu_pct=pct(audio.decode_cpu_s),
        audio_encode_cpu_pct=pct(audio.encode_cpu_s),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), action="append",
                        help="which conference (repeatable; default every one)")
    parser.add_argument("--spec", help="a FloorScenario as JSON (instead of --scenario)")
    parser.add_argument("--seconds", type=float, default=10.0, help="media measured, s")
    parser.add_argument("--json", type=Path, help="write the results here ('-': stdout)")
    args = parser.parse_args(argv)
    if args.seconds <= 0:
        parser.error("--seconds must be positive")
    if args.spec and args.scenario:
        parser.error("--spec or --scenario, not both")
    try:
        chosen = ([("spec", FloorScenario.from_json(json.loads(args.spec)))] if args.spec
                  else [(key, SCENARIOS[key]()) for key in args.scenario or sorted(SCENARIOS)])
    except ValueError as error:
        parser.error(f"--spec: {error}")
    results: list[dict[str, Any]] = []
    for key, scenario in chosen:
        result = measure_floor(scenario, args.seconds)
        results.append({"scenario": key, **asdict(result)})
        if args.json is None or str(args.json) != "-":
            print(f"{result.name}: floor {result.floor_cpu_pct} % of one core (video decode "
                  f"{result.decode_cpu_pct} + encode {result.encode_cpu_pct}, audio decode "
                  f"{result.audio_decode_cpu_pct} + encode {result.audio_encode_cpu_pct}); "
                  f"compositor {result.compositor_cpu_pct} % beside it", flush=True)
    if args.json is not None:
        text = json.dumps(results, indent=2)
        if str(args.json) == "-":
            print(text)
        else:
            args.json.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
