"""The send ladder's effect: benchmarks/media_load.py's 4-site 1080p30 and 16-site CP_16_1
scenarios with the ladder on (the MCU asks each site for what its pane needs: 960x540@30
in CP_4_1, 480x270@15 in CP_16_1) and off (`[mcu] send_ladder = false`: every site sends
its own 720p30, or 640x360@30 in the 16-site scenario), in one run, alternating, each on a
freshly started MCU and terminals, with media_load's own measurement (MCU CPU, receivers'
fps, latency, load average).

    python -m benchmarks.send_ladder [--rounds 1] [--window 12] [--warmup 8]
        [--json FILE] [--markdown FILE]

The warm-up is longer than media_load's default (8 s): after the layout is set a smaller
ask comes after the ladder's 4 s downgrade hold, so the window measures the settled state.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

from benchmarks import media_load
from benchmarks.media_load import (
    TARGET_16_FPS,
    TARGET_FPS,
    McuProcess,
    ScenarioResult,
    TerminalFleet,
    four_site_plans,
    load_average,
    measure_fresh,
    print_row,
    sixteen_site_plan,
)
from benchmarks.soap_throughput import ACCOUNT
from rtc import aiortc_hooks

LADDER_OFF = "[mcu]\nsend_ladder = false\n"


class LadderOffMcu(McuProcess):
    """media_load's MCU process (`mcu-sim serve --no-terminals`) with `--config` turning
    the send ladder off."""

    def __init__(self, data_dir: Path, port: int, log_path: Path) -> None:
        config = log_path.parent / "ladder-off.toml"
        config.write_text(LADDER_OFF)
        self.port = port
        self.base_url = f"http://127.0.0.1:{port}"
        self._log = log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve", "--port", str(port),
             "--data-dir", str(data_dir), "--account", f"{ACCOUNT[0]}:{ACCOUNT[1]}",
             "--no-terminals", "--config", str(config)],
            stdout=self._log, stderr=subprocess.STDOUT,
        )


async def scenario(name: str, ladder: bool, sixteen: bool,
                   timing: dict[str, float]) -> ScenarioResult:
    label = f"{name} ladder {'on' if ladder else 'off'}"
    media_load.McuProcess = McuProcess if ladder else LadderOffMcu  # type: ignore[misc]
    try:
        if sixteen:
            return await measure_fresh(
                label, lambda fleet: [sixteen_site_plan(fleet.small_uris)], 0, 16,
                TARGET_16_FPS, timing)

        def plans(fleet: TerminalFleet) -> list[media_load.ConferencePlan]:
            return four_site_plans(1, fleet.uris)

        return await measure_fresh(label, plans, 1, 0, TARGET_FPS, timing)
    finally:
        media_load.McuProcess = McuProcess  # type: ignore[misc]


async def measure(rounds: int, timing: dict[str, float]) -> list[ScenarioResult]:
    results = []
    for _ in range(rounds):
        for name, sixteen in (("1 x 4-site 1080p30", False), ("1 x 16-site CP_16_1", True)):
            for ladder in (True, False):
                results.append(await scenario(name, ladder, sixteen, timing))
    return results


def markdown(results: list[ScenarioResult]) -> str:
    lines = [
        "| scenario | MCU CPU % | terminals CPU % | other CPU % | rx fps | probe fps | enc fps "
        "| latency p50 ms | p95 ms | load avg (1/5/15) | verdict |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    for r in results:
        load = "/".join(f"{v:.2f}" for v in r.load_average_after)
        lines.append(
            f"| {r.name} | {r.mcu_cpu_percent} | {r.terminals_cpu_percent} | "
            f"{r.others_cpu_percent} | {r.received_fps_min} | {r.probe_decoded_fps_min} | "
            f"{r.main_encoded_fps_min} | {media_load._ms(r.latency_ms_p50)} | "
            f"{media_load._ms(r.latency_ms_p95)} | {load} | {r.verdict} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    aiortc_hooks.install()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--window", type=float, default=12.0)
    parser.add_argument("--warmup", type=float, default=8.0)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args(argv)
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
