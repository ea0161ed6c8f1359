"""The simulated terminals' own CPU: a 4-site 1080p30 conference's terminals with their lean
media path (`lean_media=True`: rtc/receive_path.py's one-step RTP handler on every receiver,
terminals/loop_sender.py's direct send of the main video loop) against aiortc's own
per-packet handling and RTP loop (`lean_media=False`, the path as it was), alternating in
one run.

One MCU (`mcu-sim serve --no-terminals`) and two terminal processes, one per variant, each
holding four terminals that count what they receive without decoding it (video and audio),
as media_load's non-probe terminals do; each sends its 720p30 H.264 loop and Opus voice.
Each round books a 4-site 1080p30 CP_4_1 conference of one process's terminals, waits for
them to join, warms up, measures over the window, ends it; the next round does the same
with the other process (A B B A A B ..., so a drift of the machine's load weighs on both).
Measured per window:

  - `cpu_pct`: the terminal process's CPU time (all its threads) in % of one core, per
    second of media (its four terminals sending and receiving);
  - `cpu_us_per_packet`: that CPU time over the RTP packets its terminals received and
    sent in the window (aiortc's counts, audio included): a starved MCU delivering fewer
    frames costs the terminals less, so this is the figure comparable across rounds and
    the one the ratio is taken of; `cpu_us_per_frame` likewise over the video frames;
  - `rx_fps` / `tx_fps`: frames received (complete, counted) and sent per terminal and
    second.

With `--p2p` there is no conference: in each round the process's terminals call each other
point to point (the first the second, the third the fourth; the MCU relays only the
signalling), so each receives its peer's 720p30 loop and voice whatever the MCU's own load:
a steady workload on a machine too busy for the MCU to hold 30 fps.

CPU time, not wall time, so a busy machine weighs less on the figures; the load average is
reported beside them.

    python -m benchmarks.terminal_cost [--rounds 3] [--warmup 4] [--window 15] [--p2p]
        [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from app.child_process import dies_with_parent
from benchmarks.media_load import (
    URI_PREFIX,
    ConferencePlan,
    McuProcess,
    _wait_joined,
    end_conference,
    four_site_plans,
    keep_alive_sleep,
    schedule,
    set_layout,
)
from benchmarks.soap_throughput import ACCOUNT, Client
from rtc import aiortc_hooks
from rtc.deadline import within
from terminals.call_state import CallState
from terminals.client import SimulatedTerminal
from terminals.run_command import freeze_startup_objects, start_terminals, stop_terminals

VARIANTS = ("aiortc", "lean")
SITES = 4


@dataclass(frozen=True)
class Result:
    variant: str
    round: int
    window_s: float
    cpu_pct: float
    cpu_us_per_frame: float
    cpu_us_per_packet: float  # per RTP packet received or sent
    rx_fps: float  # per terminal
    tx_fps: float  # per terminal
    load_average: float


# -- the child: four terminals of one variant ------------------------------------------------


def _counters(terminals: list[SimulatedTerminal]) -> dict[str, Any]:
    times = os.times()
    return {
        "at": time.monotonic(),
        "cpu_s": times.user + times.system,
        "received": sum(t.video.frames_received for t in terminals),
        "sent": sum(t.stats().frames_sent for t in terminals),
        "packets": sum(sum(t.rtp_packet_counts()) for t in terminals),
        "in_call": sum(t.state == CallState.IN_CALL for t in terminals),
    }


async def run_child(server: str, start_index: int, lean: bool) -> int:
    terminals = await start_terminals(
        server, SITES, uri_prefix=URI_PREFIX, start_index=start_index, ring_delay_s=0.2,
        analyse_every=1 << 30, decode_video=False, decode_audio=False)
    for terminal in terminals:
        terminal.lean_media = lean
    freeze_startup_objects()
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    print(json.dumps({"ready": [t.uri for t in terminals]}), flush=True)
    try:
        while line := await reader.readline():
            command = json.loads(line).get("cmd")
            if command == "stop":
                break
            if command == "call":  # point to point: 0 calls 1, 2 calls 3
                await asyncio.gather(*(caller.call(callee.uri) for caller, callee
                                       in zip(terminals[::2], terminals[1::2], strict=True)))
            elif command == "hangup":
                await asyncio.gather(*(caller.hang_up() for caller in terminals[::2]))
            print(json.dumps(_counters(terminals)), flush=True)
    finally:
        await stop_terminals(terminals)
    return 0


class Child:
    def __init__(self, process: asyncio.subprocess.Process, uris: list[str]) -> None:
        self.process = process
        self.uris = uris

    @classmethod
    async def start(cls, server: str, start_index: int, lean: bool) -> Child:
        process = await asyncio.create_subprocess_exec(
            *dies_with_parent([sys.executable]), "-m", "benchmarks.terminal_cost", "--child", "--server", server,
            "--start-index", str(start_index), "--lean", str(int(lean)),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
        ready = json.loads(await within(cls._line(process), 240))
        return cls(process, ready["ready"])

    @staticmethod
    async def _line(process: asyncio.subprocess.Process) -> bytes:
        assert process.stdout is not None
        line = await process.stdout.readline()
        if not line:
            raise RuntimeError(f"terminal_cost child ended (exit {await process.wait()})")
        return line

    async def counters(self, command: str = "counters") -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"cmd": command}).encode() + b"\n")
        await self.process.stdin.drain()
        return json.loads(await within(self._line(self.process), 30))

    async def stop(self) -> None:
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(b'{"cmd": "stop"}\n')
            await self.process.stdin.drain()
            await within(self.process.wait(), 30)
        except (TimeoutError, ConnectionError):
            self.process.kill()
            await self.process.wait()


# -- the parent ------------------------------------------------------------------------------


async def _round(client: Client, child: Child, plan: ConferencePlan, variant: str,
                 index: int, warmup: float, window: float, p2p: bool) -> Result:
    if p2p:
        await child.counters("call")
        try:
            await keep_alive_sleep(client, warmup)
            before = await child.counters()
            await keep_alive_sleep(client, window)
            after = await child.counters()
        finally:
            await child.counters("hangup")
    else:
        conf_id, begin = await schedule(client, plan)
        try:
            await _wait_joined(client, [(conf_id, begin, plan)])
            await set_layout(client, conf_id, plan)
            await keep_alive_sleep(client, warmup)
            before = await child.counters()
            await keep_alive_sleep(client, window)
            after = await child.counters()
        finally:
            await end_conference(client, conf_id, begin)
    deadline = time.monotonic() + 30
    while (await child.counters())["in_call"] and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
    await asyncio.sleep(1.0)  # the next booking's begin must not fall in this one's second
    elapsed = after["at"] - before["at"]
    cpu = after["cpu_s"] - before["cpu_s"]
    received = after["received"] - before["received"]
    sent = after["sent"] - before["sent"]
    return Result(
        variant=variant, round=index, window_s=round(elapsed, 2),
        cpu_pct=round(100 * cpu / elapsed, 1),
        cpu_us_per_frame=round(1e6 * cpu / max(1, received + sent), 1),
        cpu_us_per_packet=round(1e6 * cpu / max(1, after["packets"] - before["packets"]), 1),
        rx_fps=round(received / elapsed / SITES, 1),
        tx_fps=round(sent / elapsed / SITES, 1),
        load_average=round(os.getloadavg()[0], 1))


async def main(rounds: int, warmup: float, window: float, p2p: bool = False) -> list[Result]:
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="terminal-cost-") as temp:
        mcu = McuProcess(Path(temp) / "data", Path(temp) / "mcu.log")
        client: Client | None = None
        children: dict[str, Child] = {}
        try:
            await mcu.wait_until_up()
            client = Client(mcu.soap_url)
            await client.login(*ACCOUNT)
            for number, variant in enumerate(VARIANTS):
                children[variant] = await Child.start(mcu.signalling_url, SITES * number,
                                                      variant == "lean")
            plans = {variant: four_site_plans(1, children[variant].uris)[0]
                     for variant in VARIANTS}
            for index in range(rounds):
                order = VARIANTS if index % 2 == 0 else VARIANTS[::-1]
                for variant in order:
                    result = await _round(client, children[variant], plans[variant], variant,
                                          index, warmup, window, p2p)
                    print(json.dumps(asdict(result)), flush=True)
                    results.append(result)
        finally:
            await asyncio.gather(*(child.stop() for child in children.values()))
            if client is not None:
                await client.close()
            mcu.stop()
    return results


def summary(results: list[Result]) -> dict[str, Any]:
    """Per variant the median figures; per round the lean/aiortc ratio of CPU per packet,
    and their median, lowest and highest."""
    out: dict[str, Any] = {}
    for variant in VARIANTS:
        mine = [r for r in results if r.variant == variant]
        out[variant] = {
            "cpu_pct_median": statistics.median(r.cpu_pct for r in mine),
            "cpu_us_per_frame_median": statistics.median(r.cpu_us_per_frame for r in mine),
            "cpu_us_per_packet_median": statistics.median(r.cpu_us_per_packet for r in mine),
            "rx_fps_median": statistics.median(r.rx_fps for r in mine),
            "tx_fps_median": statistics.median(r.tx_fps for r in mine),
        }
    ratios = []
    for index in sorted({r.round for r in results}):
        pair = {r.variant: r for r in results if r.round == index}
        if len(pair) == 2:
            ratios.append(pair["lean"].cpu_us_per_packet / pair["aiortc"].cpu_us_per_packet)
    if ratios:
        out["lean_to_aiortc_cpu_per_packet"] = {
            "median": round(statistics.median(ratios), 3), "min": round(min(ratios), 3),
            "max": round(max(ratios), 3), "rounds": [round(r, 3) for r in ratios]}
    out["load_average"] = [r.load_average for r in results]
    return out


def cli(argv: list[str] | None = None) -> int:
    aiortc_hooks.install()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=float, default=4.0)
    parser.add_argument("--window", type=float, default=15.0)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--p2p", action="store_true",
                        help="point-to-point calls between the terminals, no conference")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--server", help=argparse.SUPPRESS)
    parser.add_argument("--start-index", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--lean", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return asyncio.run(run_child(args.server, args.start_index, bool(args.lean)))
    results = asyncio.run(main(args.rounds, args.warmup, args.window, args.p2p))
    report = {"results": [asdict(r) for r in results], "summary": summary(results)}
    print(json.dumps(report["summary"], indent=1))
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(cli())
