"""Node scaling: 4-site conferences sustained against the number of media node processes
on one machine (issue 18, "Proof": 1, 2, 4 nodes), and the Redis traffic per conference.

For each K of --nodes (default 1, 2, 4), on 127.0.0.1, everything started afresh:
  - a redis-server of its own on a free loopback port (tests/redis_server.py: Debian's
    redis-server, `make redis` installs it; no persistence);
  - K `mcu-sim node --redis URL --node-id N` processes (default capacity);
  - one `mcu-sim serve --redis URL --no-terminals` gateway (SOAP, signalling; no media);
  - then 4-site conferences added one at a time, each booked over SOAP (scheduleConfEx
    starting now, placed by the gateway on the least loaded node), its four terminals in a
    child process of their own (benchmarks/media_terminals.py, as benchmarks/media_load.py
    runs them: one probe per conference decodes and reads the panes' site markers, the
    other three count the complete frames they receive), until a step misses the targets.
    The conferences already running keep running: step k measures k conferences at once.

A step holds as media_load's scenarios do: every receiver gets >= 27 complete frames/s,
every probe decodes >= 27 fps, latency p95 (glass to glass, on the probes) <= 200 ms, and
every receiver gets >= 49 audio frames a second with no wait over 120 ms between two audio
packets (since stop 24). The
encoders against the distinct outputs (media_load's fourth rule) are not checked: a node's
media engine has no HTTP port (/stats/media of the gateway lists no conference).

Before each step's warm-up the benchmark waits until every terminal sends what the send
ladder asked of it (the nodes have no HTTP port: the terminals say what they were asked and
what they send; media_load.wait_senders_settled), so that their one-off encodes of the asked
loops fall outside the window; the step's `ladder_settled_s` says how long that took.

Measured per step, over the window: the node processes' CPU (utime + stime from /proc,
summed) and per conference, the gateway's, redis-server's, the terminals' (summed), every
other process's on the machine (/proc/stat); Redis: commands processed (INFO stats
total_commands_processed, everything the platform asks, heartbeats and registry reads
included) and stream entries added (XINFO STREAM entries-added of mcu:events and every
mcu:cmd:N: the messages between gateway and nodes), per second and per second per
conference; the load average.

--format: what the sites send and receive. 360p (default): the terminals send 640x360 at
30 fps and receive the CP_4_1 picture as videoFormat 360P (640x360 30 fps, 512 kbit/s);
720p: they send the 720p30 loop and receive 720P30 (1 Mbit/s). 1080p: media_load's 4-site
scenario (the 720p30 loop, or the send ladder's ask, in; CP_4_1 as 1080P30 at 2 Mbit/s
out); it fills this 2-core machine at 2-3 conferences, so its curve is short, but it
compares one media process with one per core on issue 17's scenario.

    python -m benchmarks.node_scaling [--nodes 1,2,4] [--format 360p|720p|1080p]
        [--max-conferences 6] [--window 10] [--warmup 4] [--json FILE] [--markdown FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from app.child_process import dies_with_parent
from benchmarks.media_load import (
    TARGET_FPS,
    TARGET_P95_MS,
    BookedSite,
    ConferencePlan,
    TerminalFleet,
    TerminalsProcess,
    _wait_joined,
    audio_misses,
    end_conference,
    keep_alive_sleep,
    load_average,
    machine_busy_seconds,
    percentile,
    process_cpu_seconds,
    schedule,
    set_layout,
    wait_senders_settled,
)
from benchmarks.soap_throughput import ACCOUNT, Client, free_port, result_code, wait_until_up
from mcu.layouts import layout_mode
from mcu.model import VideoFormat
from tests.redis_server import RedisServer

REGISTER_TIMEOUT_S = 120.0  # K processes starting on a loaded 2-core machine
GATEWAY_TIMEOUT_S = 120.0
LAYOUT = "CP_4_1"


@dataclass(frozen=True)
class Format:
    """What every site of a conference sends (small: the terminals' 640x360, else their
    720p30 loop) and is booked to receive."""

    name: str
    small_senders: bool
    video_format: VideoFormat
    rate: str
    sent: str = ""  # what the sites send, when not the booked format (the markdown says it)


FORMATS = {
    "360p": Format("360p", True, VideoFormat.P360, "512k"),
    "720p": Format("720p", False, VideoFormat.HD720P30, "1024k"),
    "1080p": Format("1080p", False, VideoFormat.HD1080P30, "2048k",
                    sent="the 720p30 loop, or the send ladder's ask"),
}


# ---------------------------------------------------------------------- the platform


class Platform:
    """redis-server, K node processes and one gateway, all on 127.0.0.1 in a temp dir."""

    def __init__(self, root: Path, nodes: int) -> None:
        self.root = root
        self.node_count = nodes
        self.redis = RedisServer()
        self.nodes: list[subprocess.Popen[bytes]] = []
        self.gateway: subprocess.Popen[bytes] | None = None
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"

    @property
    def soap_url(self) -> str:
        return f"{self.base_url}/esdk/services"

    @property
    def signalling_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/signalling"

    def _child(self, args: list[str], log: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen(dies_with_parent([sys.executable, "-m", "app.cli", *args]),
                                stdout=(self.root / log).open("ab"), stderr=subprocess.STDOUT,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})

    async def start(self) -> None:
        self.redis.start()
        for node_id in range(1, self.node_count + 1):
            self.nodes.append(self._child(
                ["node", "--redis", self.redis.url, "--node-id", str(node_id),
                 "--data-dir", str(self.root / f"node{node_id}")], f"node{node_id}.log"))
        await self._wait_registered()
        self.gateway = self._child(
            ["serve", "--redis", self.redis.url, "--port", str(self.port), "--sip-port", "0",
             "--data-dir", str(self.root / "gateway"), "--account",
             f"{ACCOUNT[0]}:{ACCOUNT[1]}", "--no-terminals"], "gateway.log")
        await wait_until_up(self.soap_url, timeout=GATEWAY_TIMEOUT_S)

    async def _wait_registered(self) -> None:
        client = aioredis.Redis.from_url(self.redis.url)
        try:
            deadline = time.monotonic() + REGISTER_TIMEOUT_S
            while len([key async for key in client.scan_iter(match="mcu:node:*")]) \
                    < self.node_count:
                for number, process in enumerate(self.nodes, 1):
                    if process.poll() is not None:
                        raise RuntimeError(f"node {number} exited: {self.log_tail(number)}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the {self.node_count} nodes did not register")
                await asyncio.sleep(0.3)
        finally:
            await client.aclose()

    def log_tail(self, node: int | None = None) -> str:
        name = "gateway.log" if node is None else f"node{node}.log"
        path = self.root / name
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def nodes_lost(self) -> int:
        """How often the gateway took a node for gone (its record expired: a node whose event
        loop is starved misses its heartbeats) and moved its conferences: its log says so."""
        path = self.root / "gateway.log"
        return path.read_text(errors="replace").count("left the registry") \
            if path.exists() else 0

    def nodes_cpu_seconds(self) -> float:
        return sum(process_cpu_seconds(process.pid) for process in self.nodes)

    def gateway_cpu_seconds(self) -> float:
        assert self.gateway is not None
        return process_cpu_seconds(self.gateway.pid)

    def redis_cpu_seconds(self) -> float:
        assert self.redis.process is not None
        return process_cpu_seconds(self.redis.process.pid)

    async def redis_counters(self) -> tuple[int, int]:
        """(commands processed, stream entries ever added to the platform's streams)."""
        client = aioredis.Redis.from_url(self.redis.url)
        try:
            commands = int((await client.info("stats"))["total_commands_processed"])
            entries = 0
            for stream in ["mcu:events", *(f"mcu:cmd:{n}"
                                           for n in range(1, self.node_count + 1))]:
                if await client.exists(stream):
                    entries += int((await client.xinfo_stream(stream))["entries-added"])
            return commands, entries
        finally:
            await client.aclose()

    def stop(self) -> None:
        for process in [*([self.gateway] if self.gateway else []), *self.nodes]:
            if process.poll() is None:
                process.terminate()
        for process in [*([self.gateway] if self.gateway else []), *self.nodes]:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.redis.stop()


# ---------------------------------------------------------------------- one step


@dataclass
class StepResult:
    nodes: int
    conferences: int
    window_s: float
    load_average_after: list[float]
    nodes_cpu_percent: float  # all node processes, % of one core (200 = this machine)
    nodes_cpu_pct_per_conference: float
    gateway_cpu_percent: float
    redis_cpu_percent: float
    terminals_cpu_percent: float
    others_cpu_percent: float
    redis_commands_per_s: float
    redis_commands_per_s_per_conference: float
    stream_entries_per_s: float
    stream_entries_per_s_per_conference: float
    received_fps_min: float
    probe_decoded_fps_min: float
    latency_ms_p50: float | None
    latency_ms_p95: float | None
    latency_readings: int
    nodes_lost: int  # nodes taken for gone during warm-up and window (failover)
    held: bool
    verdict: str
    conferences_per_node: dict[str, int] = field(default_factory=dict)
    # the mix heard over the window (media_load's TARGET_AUDIO_*): the slowest receiver's
    # 20 ms frames a second, the longest wait between two audio packets at any receiver (ms)
    audio_received_fps_min: float = 0.0
    audio_gap_ms_max: float = 0.0
    # seconds from the layout set until every terminal sent what the send ladder asked
    # (media_load.wait_senders_settled); None: not within its timeout, measured all the same
    ladder_settled_s: float | None = None


@dataclass
class StepFailure:
    """A step that could not be measured: its conference was refused (scheduleConfEx: no
    live node had room, e.g. every node had missed its heartbeats) or its sites did not all
    join in time."""

    nodes: int
    conferences: int
    reason: str
    nodes_lost: int  # since the platform started
    load_average: list[float]


def plan_for(number: int, uris: list[str], fmt: Format) -> ConferencePlan:
    return ConferencePlan(f"node bench {number}", LAYOUT,
                          tuple(BookedSite(uri, fmt.video_format, fmt.rate) for uri in uris))


async def measure_step(platform: Platform, client: Client, fleet: TerminalFleet,
                       plans: list[ConferencePlan], warmup_s: float,
                       window_s: float) -> StepResult:
    lost_before = platform.nodes_lost()
    await keep_alive_sleep(client, warmup_s)
    before_child = await fleet.command(cmd="snapshot")  # also drops warm-up latencies
    before_redis = await platform.redis_counters()
    before = (time.monotonic(), platform.nodes_cpu_seconds(), platform.gateway_cpu_seconds(),
              platform.redis_cpu_seconds(), machine_busy_seconds(), time.process_time())
    await keep_alive_sleep(client, window_s)
    after = (time.monotonic(), platform.nodes_cpu_seconds(), platform.gateway_cpu_seconds(),
             platform.redis_cpu_seconds(), machine_busy_seconds(), time.process_time())
    after_redis = await platform.redis_counters()
    after_child = await fleet.command(cmd="snapshot")
    elapsed = after[0] - before[0]
    child_elapsed = after_child["at"] - before_child["at"]
    nodes_cpu, gateway_cpu, redis_cpu = (after[i] - before[i] for i in (1, 2, 3))
    terminals_cpu = after_child["cpu_s"] - before_child["cpu_s"]
    others = (after[4] - before[4]) - nodes_cpu - gateway_cpu - redis_cpu - terminals_cpu \
        - (after[5] - before[5])

    received: list[float] = []
    decoded: list[float] = []
    audio: list[float] = []
    gaps: list[float] = []
    for plan in plans:
        for site in plan.sites:
            then, now = before_child["terminals"][site.uri], after_child["terminals"][site.uri]
            received.append((now["frames_received"] - then["frames_received"]) / child_elapsed)
            audio.append((now["audio_frames_received"] - then["audio_frames_received"])
                         / child_elapsed)
            gaps.append(float(now["audio_gap_max_ms"]))
        then, now = before_child["terminals"][plan.probe], after_child["terminals"][plan.probe]
        if not now["decoding"]:
            raise RuntimeError(f"the probe {plan.probe} did not decode")
        decoded.append((now["frames_decoded"] - then["frames_decoded"]) / child_elapsed)
    latencies = [value for values in after_child["latencies_ms"].values() for value in values]
    received_min, decoded_min = round(min(received), 1), round(min(decoded), 1)
    p95 = percentile(latencies, 0.95)
    misses = []
    if received_min < TARGET_FPS:
        misses.append(f"a receiver got {received_min} fps < {TARGET_FPS}")
    if decoded_min < TARGET_FPS:
        misses.append(f"a probe decoded {decoded_min} fps < {TARGET_FPS}")
    if p95 is None or p95 > TARGET_P95_MS:
        misses.append(f"latency p95 {p95} ms > {TARGET_P95_MS}")
    audio_min, gap_max = min(audio), max(gaps)
    misses += audio_misses(audio_min, gap_max)
    lost = platform.nodes_lost() - lost_before
    if lost:
        misses.append(f"{lost} node(s) left the registry (missed heartbeats): calls dropped "
                      "and placed again")
    count = len(plans)
    commands = (after_redis[0] - before_redis[0]) / elapsed
    entries = (after_redis[1] - before_redis[1]) / elapsed
    return StepResult(
        nodes=platform.node_count, conferences=count, window_s=round(elapsed, 1),
        load_average_after=load_average(),
        nodes_cpu_percent=round(100 * nodes_cpu / elapsed, 1),
        nodes_cpu_pct_per_conference=round(100 * nodes_cpu / elapsed / count, 1),
        gateway_cpu_percent=round(100 * gateway_cpu / elapsed, 1),
        redis_cpu_percent=round(100 * redis_cpu / elapsed, 1),
        terminals_cpu_percent=round(100 * terminals_cpu / child_elapsed, 1),
        others_cpu_percent=round(max(0.0, 100 * others / elapsed), 1),
        redis_commands_per_s=round(commands, 1),
        redis_commands_per_s_per_conference=round(commands / count, 1),
        stream_entries_per_s=round(entries, 1),
        stream_entries_per_s_per_conference=round(entries / count, 1),
        received_fps_min=received_min, probe_decoded_fps_min=decoded_min,
        latency_ms_p50=percentile(latencies, 0.50), latency_ms_p95=p95,
        latency_readings=len(latencies), nodes_lost=lost, held=not misses,
        verdict="held" if not misses else "; ".join(misses),
        audio_received_fps_min=round(audio_min, 2), audio_gap_ms_max=gap_max,
    )


async def conferences_per_node(client: Client, conf_ids: list[str]) -> dict[str, int]:
    """queryConfSiteMCUEx of each conference: how many conferences each node runs."""
    counts: dict[str, int] = {}
    for conf_id in conf_ids:
        answer = await client.call("tpProfessionalConfMgr", "queryConfSiteMCUEx",
                                   f"<confId>{conf_id}</confId>")
        start = answer.find("<mcuId>")
        if result_code(answer) != 0 or start < 0:
            raise RuntimeError(f"queryConfSiteMCUEx: {answer[:400]}")
        node = answer[start + 7 : answer.find("</mcuId>", start)]
        counts[node] = counts.get(node, 0) + 1
    return counts


# ---------------------------------------------------------------------- one K


async def measure_nodes(nodes: int, fmt: Format, max_conferences: int, warmup_s: float,
                        window_s: float, all_steps: bool = False,
                        ) -> tuple[list[StepResult], list[StepFailure]]:
    results: list[StepResult] = []
    failures: list[StepFailure] = []
    with tempfile.TemporaryDirectory(prefix="node-bench-") as temp:
        platform = Platform(Path(temp), nodes)
        client: Client | None = None
        children: list[TerminalsProcess] = []
        booked: list[tuple[str, str, ConferencePlan]] = []
        try:
            await platform.start()
            client = Client(platform.soap_url)
            await client.login(*ACCOUNT)
            rects = [[float(p.x), float(p.y), float(p.w), float(p.h)]
                     for p in layout_mode(LAYOUT).panes]
            for number in range(1, max_conferences + 1):
                child = await TerminalsProcess.start(
                    platform.signalling_url, 0 if fmt.small_senders else 4,
                    4 if fmt.small_senders else 0, start_index=4 * (number - 1))
                children.append(child)
                plan = plan_for(number, child.small_uris or child.uris, fmt)
                await child.command(cmd="probes", uris=[plan.probe])
                try:
                    conf_id, begin = await schedule(client, plan)
                    booked.append((conf_id, begin, plan))
                    await _wait_joined(client, booked[-1:])
                except RuntimeError as error:  # reported as the step's failure, K ends
                    # (refused: no live node, they all missed heartbeats; or a site not
                    # joined in time)
                    failures.append(StepFailure(nodes, number, _reason(error),
                                                platform.nodes_lost(), load_average()))
                    print(f"{nodes:>5}{number:>6}  not measured: {_reason(error)} (nodes lost so "
                          f"far: {platform.nodes_lost()})", flush=True)
                    break
                await set_layout(client, conf_id, plan)
                await child.command(cmd="panes", rects=rects, sample=[plan.probe])
                plans = [entry[2] for entry in booked]
                fleet = TerminalFleet(children)
                # the terminals' one-off encodes of the asked loops out of the window
                settled = await wait_senders_settled(
                    fleet, client, [site.uri for entry in plans for site in entry.sites])
                result = await measure_step(platform, client, fleet, plans, warmup_s,
                                            window_s)
                result.ladder_settled_s = None if settled is None else round(settled, 1)
                result.conferences_per_node = await conferences_per_node(
                    client, [entry[0] for entry in booked])
                print_row(result)
                results.append(result)
                if not result.held and not all_steps:
                    break
        except BaseException:
            print(f"--- gateway log (tail)\n{platform.log_tail()}", file=sys.stderr)
            print(f"--- node 1 log (tail)\n{platform.log_tail(1)}", file=sys.stderr)
            raise
        finally:
            if client is not None:
                for conf_id, begin, _ in booked:
                    try:
                        await end_conference(client, conf_id, begin)
                    except Exception as error:  # the platform is stopped next anyway
                        print(f"ending {conf_id}: {error}", file=sys.stderr)
                await client.close()
            await asyncio.gather(*(child.stop() for child in children))
            platform.stop()
    return results, failures


def _reason(error: RuntimeError) -> str:
    """The failure in a line: a refused booking by its result code, not its envelope."""
    text = str(error)
    code = re.search(r"<resultCode>(\d+)</resultCode>", text)
    if text.startswith("scheduleConfEx") and code:
        return f"scheduleConfEx refused with resultCode {code.group(1)}"
    return text


# ---------------------------------------------------------------------- report


HEADER = (f"{'nodes':>5}{'confs':>6}{'nodes cpu%':>11}{'per conf':>9}{'gw cpu%':>8}"
          f"{'redis%':>7}{'term%':>7}{'cmd/s/conf':>11}{'xadd/s/conf':>12}{'rx fps':>7}"
          f"{'probe':>6}{'p95 ms':>7}{'load1':>6}  verdict")


def print_row(r: StepResult) -> None:
    p95 = "-" if r.latency_ms_p95 is None else f"{r.latency_ms_p95:.0f}"
    print(f"{r.nodes:>5}{r.conferences:>6}{r.nodes_cpu_percent:>11}"
          f"{r.nodes_cpu_pct_per_conference:>9}{r.gateway_cpu_percent:>8}"
          f"{r.redis_cpu_percent:>7}{r.terminals_cpu_percent:>7}"
          f"{r.redis_commands_per_s_per_conference:>11}"
          f"{r.stream_entries_per_s_per_conference:>12}{r.received_fps_min:>7}"
          f"{r.probe_decoded_fps_min:>6}{p95:>7}{r.load_average_after[0]:>6}  {r.verdict}",
          flush=True)


def summary(results: list[StepResult], fmt: Format) -> dict[str, Any]:
    by_nodes: dict[str, Any] = {}
    for nodes in sorted({r.nodes for r in results}):
        steps = sorted((r for r in results if r.nodes == nodes), key=lambda r: r.conferences)
        held: list[StepResult] = []
        for step in steps:  # sustained: the steps before the first miss
            if not step.held:
                break
            held.append(step)
        best = held[-1] if held else None
        by_nodes[str(nodes)] = {
            "conferences_sustained": best.conferences if best else 0,
            "nodes_cpu_pct_per_conference": best.nodes_cpu_pct_per_conference if best else None,
            "gateway_cpu_percent": best.gateway_cpu_percent if best else None,
        }
    return {
        "format": fmt.name,
        "sustained_by_nodes": by_nodes,
        # the Redis traffic of one running conference, mean over every step measured (a
        # starved node reports its levels less often: the steps that held are beside it)
        "redis_commands_per_s_per_conference": _mean(
            [r.redis_commands_per_s_per_conference for r in results]),
        "stream_entries_per_s_per_conference": _mean(
            [r.stream_entries_per_s_per_conference for r in results]),
        "stream_entries_per_s_per_conference_held": _mean(
            [r.stream_entries_per_s_per_conference for r in results if r.held]),
        "nodes_cpu_pct_per_conference_mean": _mean(
            [r.nodes_cpu_pct_per_conference for r in results]),
    }


def _mean(values: list[float]) -> float | None:
    return round(statistics.mean(values), 1) if values else None


def markdown(results: list[StepResult], failures: list[StepFailure],
             conclusion: dict[str, Any], fmt: Format,
             load_before: list[float]) -> str:
    lines = [
        "# Node scaling",
        "",
        f"Run {datetime.now(UTC).isoformat(timespec='seconds')} on {os.cpu_count()} cores, "
        f"load average before {'/'.join(f'{v:.2f}' for v in load_before)}; format "
        f"{fmt.name} (sites "
        + (f"send {fmt.sent} and receive " if fmt.sent else "send and receive ")
        + f"{fmt.video_format.name}, {fmt.rate}bit/s, "
        f"{LAYOUT}). Redis, K node processes, the gateway and the terminals (one process per "
        "conference) on this machine. CPU in % of one core; cmd/s = Redis commands "
        "processed per second (all of them), xadd/s = stream entries added per second "
        "(gateway <-> node messages); both per running conference.",
        "",
        "| nodes | conferences | nodes CPU % | per conference | gateway CPU % | redis CPU % "
        "| terminals CPU % | other CPU % | Redis cmd/s per conf | stream entries/s per conf "
        "| conferences per node | rx fps | probe fps | p50 ms | p95 ms | load avg (1/5/15) "
        "| verdict |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: "
        "| ---: | ---: | ---: | --- | --- |",
    ]
    for r in results:
        load = "/".join(f"{v:.2f}" for v in r.load_average_after)
        p50 = "-" if r.latency_ms_p50 is None else f"{r.latency_ms_p50:.0f}"
        p95 = "-" if r.latency_ms_p95 is None else f"{r.latency_ms_p95:.0f}"
        lines.append(
            f"| {r.nodes} | {r.conferences} | {r.nodes_cpu_percent} | "
            f"{r.nodes_cpu_pct_per_conference} | {r.gateway_cpu_percent} | "
            f"{r.redis_cpu_percent} | {r.terminals_cpu_percent} | {r.others_cpu_percent} | "
            f"{r.redis_commands_per_s_per_conference} | "
            f"{r.stream_entries_per_s_per_conference} | {json.dumps(r.conferences_per_node)} "
            f"| {r.received_fps_min} | {r.probe_decoded_fps_min} | {p50} | {p95} | {load} "
            f"| {r.verdict} |")
    for f in failures:
        lines.append(f"| {f.nodes} | {f.conferences} | not measured: {f.reason} (nodes taken "
                     f"for gone so far: {f.nodes_lost}; load "
                     f"{'/'.join(f'{v:.2f}' for v in f.load_average)}) |")
    lines += ["", "Summary: " + json.dumps(conclusion), ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", default="1,2,4",
                        help="node process counts to measure, comma-separated (default 1,2,4)")
    parser.add_argument("--format", choices=sorted(FORMATS), default="360p",
                        help="what the sites send and receive (default 360p)")
    parser.add_argument("--max-conferences", type=int, default=6,
                        help="stop adding conferences after this many (default 6)")
    parser.add_argument("--all-steps", action="store_true",
                        help="go on to --max-conferences after a step missed (the cost and "
                             "the frame rates against the load, on a machine too busy to "
                             "hold the targets); conferences sustained counts only the steps "
                             "up to the first miss")
    parser.add_argument("--window", type=float, default=10.0, help="measuring window, s")
    parser.add_argument("--warmup", type=float, default=4.0,
                        help="after a conference joined, before measuring, s")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--markdown", type=Path,
                        help="markdown table (default bench-results/node_scaling.md)")
    args = parser.parse_args(argv)
    try:
        counts = [int(value) for value in args.nodes.split(",")]
    except ValueError:
        parser.error("--nodes: comma-separated integers, e.g. 1,2,4")
    if not counts or any(not 1 <= count <= 16 for count in counts):
        parser.error("--nodes: between 1 and 16 node processes each")
    if not 1 <= args.max_conferences <= 16:
        parser.error("--max-conferences: 1..16 (64 site markers)")
    if args.window <= 0 or args.warmup < 0:
        parser.error("--window must be positive and --warmup not negative")
    fmt = FORMATS[args.format]
    load_before = load_average()
    print(f"load average before: {load_before}; format {fmt.name}", flush=True)
    print(HEADER, flush=True)
    results: list[StepResult] = []
    failures: list[StepFailure] = []
    for count in counts:
        measured, failed = asyncio.run(measure_nodes(count, fmt, args.max_conferences,
                                                     args.warmup, args.window, args.all_steps))
        results += measured
        failures += failed
    conclusion = summary(results, fmt)
    print(json.dumps(conclusion), flush=True)
    if args.json:
        args.json.write_text(json.dumps({"load_average_before": load_before,
                                         "load_average_end": load_average(),
                                         "summary": conclusion,
                                         "steps": [asdict(r) for r in results],
                                         "failures": [asdict(f) for f in failures]},
                                        indent=2))
    markdown_path = args.markdown or Path("bench-results") / "node_scaling.md"
    markdown_path.parent.mkdir(parents=True, exist_ok=True)
    markdown_path.write_text(markdown(results, failures, conclusion, fmt, load_before))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
