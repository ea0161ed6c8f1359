"""The send ladder's effect: benchmarks/media_load.py's 4-site 1080p30 and 16-site CP_16_1
scenarios with the ladder on (the MCU asks each site for what its pane needs: 960x540@30
in CP_4_1, 480x270@15 in CP_16_1; `[mcu] send_ladder = true`) and off (every site sends
its own 720p30, or 640x360@30 in the 16-site scenario), in one run, alternating, each on a
freshly started MCU and terminals, with media_load's own measurement (MCU CPU, receivers'
fps, latency, load average).

    python -m benchmarks.send_ladder [--rounds 1] [--window 12] [--warmup 8]
        [--json FILE] [--markdown FILE]
    python -m benchmarks.send_ladder --inputs-only [--seconds 4]

`--inputs-only` measures what the ladder changes in the MCU without network nor terminals
processes, in this one process: the CPU (process time, so other users of a shared machine
weigh little on it) of decoding every site's stream as the terminals send it and composing
the conference picture from the newest frames at 30 fps, for the same two conferences with
and without the ladder's ask. The output encode (one 1080p30 x264) is the same either way
and is not in it.

The warm-up is longer than media_load's default (8 s): after the layout is set a smaller
ask comes after the ladder's 4 s downgrade hold, so the window measures the settled state.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import av

from benchmarks import media_load
from benchmarks.media_load import (
    TARGET_16_FPS,
    TARGET_FPS,
    ScenarioResult,
    TerminalFleet,
    four_site_plans,
    load_average,
    measure_fresh,
    print_row,
    sixteen_site_plan,
)
from mcu.media.compositor import Compositor
from rtc import aiortc_hooks
from terminals.media_sources import ScaledScene, VideoFormat, encode_loop, ladder_format
from terminals.scene import CameraScene


async def scenario(name: str, ladder: bool, sixteen: bool,
                   timing: dict[str, float]) -> ScenarioResult:
    label = f"{name} ladder {'on' if ladder else 'off'}"
    if sixteen:
        result = await measure_fresh(
            label, lambda fleet: [sixteen_site_plan(fleet.small_uris)], 0, 16,
            TARGET_16_FPS, timing, send_ladder=ladder)
    else:
        def plans(fleet: TerminalFleet) -> list[media_load.ConferencePlan]:
            return four_site_plans(1, fleet.uris)

        result = await measure_fresh(label, plans, 1, 0, TARGET_FPS, timing,
                                     send_ladder=ladder)
    print(f"  the MCU decoded from its sites (size: sites): {result.decoded_sizes}", flush=True)
    return result


async def measure(rounds: int, timing: dict[str, float]) -> list[ScenarioResult]:
    results = []
    for _ in range(rounds):
        for name, sixteen in (("1 x 4-site 1080p30", False), ("1 x 16-site CP_16_1", True)):
            for ladder in (True, False):
                results.append(await scenario(name, ladder, sixteen, timing))
    return results


def input_cost(sites: int, own: VideoFormat, asked: tuple[int, int, int] | None,
               layout: str, seconds: float) -> dict[str, Any]:
    """% of one core to decode `sites` streams (each site's loop at its own format, or at
    the ladder's answer to `asked`) and compose them into `layout` at 1920x1080, 30 fps."""
    fmt = own if asked is None else ladder_format(own, *asked)
    loops = []
    for index in range(sites):
        scene = CameraScene(index, f"Site {index}", own.width, own.height, 64)
        source = scene if (fmt.width, fmt.height) == (own.width, own.height) \
            else ScaledScene(scene, fmt.width, fmt.height)
        loops.append(encode_loop(source, "H264", fmt))
    decoders = [av.CodecContext.create("h264", "r") for _ in loops]
    compositor = Compositor(1920, 1080, layout)
    latest: dict[str, Any] = {f"s{i}": None for i in range(sites)}
    ticks = int(seconds * 30)
    decoded = 0
    decoded_count = [0] * sites  # packets of each site decoded so far
    started = time.process_time()
    for tick in range(ticks):
        due = (tick + 1) * fmt.fps // 30  # frames of each site due by this tick
        for index, (loop, decoder) in enumerate(zip(loops, decoders, strict=True)):
            while decoded_count[index] < due:
                data = loop.packets[decoded_count[index] % loop.frames]
                for frame in decoder.decode(av.Packet(data)):
                    latest[f"s{index}"] = frame
                    decoded += 1
                decoded_count[index] += 1
        compositor.compose(latest)
    cpu = time.process_time() - started
    return {"sites": sites, "layout": layout, "sent": f"{fmt.width}x{fmt.height}@{fmt.fps}",
            "frames_decoded": decoded, "cpu_pct": round(100 * cpu / seconds, 1)}


def inputs_only(seconds: float) -> list[dict[str, Any]]:
    rows = []
    hd, small = VideoFormat(1280, 720, 30, 1_500_000), VideoFormat(640, 360, 30, 800_000)
    for sites, own, asked, layout in ((4, hd, (960, 540, 30), "CP_4_1"),
                                      (16, small, (480, 270, 15), "CP_16_1")):
        for ask in (None, asked):
            row = input_cost(sites, own, ask, layout, seconds)
            row["ladder"] = "on" if ask else "off"
            print(json.dumps(row), flush=True)
            rows.append(row)
    return rows


def markdown(results: list[ScenarioResult]) -> str:
    lines = [
        "| scenario | MCU CPU % | terminals CPU % | other CPU % | rx fps | probe fps | enc fps "
        "| latency p50 ms | p95 ms | load avg (1/5/15) | decoded (size: sites) | verdict |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- | --- |",
    ]
    for r in results:
        load = "/".join(f"{v:.2f}" for v in r.load_average_after)
        lines.append(
            f"| {r.name} | {r.mcu_cpu_percent} | {r.terminals_cpu_percent} | "
            f"{r.others_cpu_percent} | {r.received_fps_min} | {r.probe_decoded_fps_min} | "
            f"{r.main_encoded_fps_min} | {media_load._ms(r.latency_ms_p50)} | "
            f"{media_load._ms(r.latency_ms_p95)} | {load} | {r.decoded_sizes} | {r.verdict} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    aiortc_hooks.install()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--window", type=float, default=12.0)
    parser.add_argument("--warmup", type=float, default=8.0)
    parser.add_argument("--inputs-only", action="store_true")
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args(argv)
    if args.inputs_only:
        before = load_average()
        rows = inputs_only(args.seconds)
        print(json.dumps({"load_average_before": before, "load_average_after": load_average()}))
        if args.json:
            args.json.write_text(json.dumps({"inputs": rows, "load_average_before": before,
                                             "load_average_after": load_average()}, indent=2))
        return 0
    print(f"load average before: {load_average()}", flush=True)
    print(media_load.HEADER, flush=True)
    timing = {"warmup_s": args.warmup, "window_s": args.window}
    results = asyncio.run(measure(args.rounds, timing))
    for result in results:
        print_row(result)
    document = {"load_average_end": load_average(), "scenarios": [asdict(r) for r in results]}
    if args.json:
        args.json.write_text(json.dumps(document, indent=2))
    text = markdown(results)
    print(text)
    if args.markdown:
        args.markdown.write_text(text)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
