"""Soak: terminals joining and leaving for N minutes over a lossy media path; does the MCU
come back to where it started, and how fast does the picture recover after a loss burst?

Processes on 127.0.0.1, all started and stopped here: the MCU (benchmarks/soak_mcu.py:
`mcu-sim serve --no-terminals` that also answers a stats request over a pipe, temp data
dir), one process holding the terminals (benchmarks/soak_terminals.py, packet loss injected
on its media path by benchmarks/packet_loss.py), and this one, which books the conferences
over SOAP like media_load does.

    1. book C conferences of K sites each starting now (dial-out); wait until every site is
       in conference; warm up; take the former START figures (every site dialled out);
       one cycle: every terminal hangs up and dials back in, wait until every site is in
       conference, warm up again; take the START figures (every site dialled in, as at
       END: like compared with like);
    2. churn for N minutes: each terminal hangs up after a random stay and dials back in with
       the conference's access code after a random time away; random loss of PCT % of the
       RTP/RTCP datagrams both ways, plus a burst (every datagram dropped) of MS ms every
       BURST_EVERY s, after which each terminal in a call sends a PLI and times its first
       keyframe;
    3. calm: churn stops, every terminal dials back in, the system settles; take the END
       figures.

Reported: the MCU process's RSS, open fds, threads (/proc/<pid>) and asyncio tasks (asked
over the pipe, after a full garbage collection) at START and END, each with its verdict
(END within 5 % of START); the frames lost per terminal (video frames the MCU put on the
wire towards it, counted from the RTP marker bits before the loss, against the complete
frames its jitter buffer delivered); the datagrams dropped; the recovery after each burst
(PLI -> first keyframe received) p50/p95/max against the 1 s target.

    python -m benchmarks.soak --minutes 3 [--sites 4 --conferences 1 --loss 2
        --burst-ms 300 --burst-every 10 --warmup 10 --settle 15] [--json FILE]
        [--markdown FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app.child_process import dies_with_parent
from benchmarks.media_load import (
    BookedSite,
    ConferencePlan,
    _element,
    _wait_joined,
    load_average,
)
from benchmarks.soap_throughput import ACCOUNT, Client, free_port, result_code
from mcu.model import VideoFormat
from rtc import aiortc_hooks
from rtc.deadline import within

URI_PREFIX = "0188"
RATE = "768k"
TOLERANCE = 0.05  # END within 5 % of START
RECOVERY_TARGET_S = 1.0
KEEPALIVE_EVERY_S = 20.0


class Child:
    """A child process of this runner speaking one JSON object per line."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    @classmethod
    async def start(cls, *args: str, stderr: Any = None) -> Child:
        process = await asyncio.create_subprocess_exec(
            *dies_with_parent([sys.executable]), "-m", "benchmarks.soak", *args,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=stderr)
        return cls(process)

    async def read(self, timeout: float = 60) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = await within(self.process.stdout.readline(), timeout)
        if not line:
            raise RuntimeError(f"child ended (exit {await self.process.wait()})")
        answer: dict[str, Any] = json.loads(line)
        if "error" in answer:
            raise RuntimeError(answer["error"])
        return answer

    async def command(self, timeout: float = 60, **command: Any) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write((json.dumps(command) + "\n").encode())
        await self.process.stdin.drain()
        return await self.read(timeout)

    async def stop(self) -> None:
        if self.process.returncode is not None:
            return
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(b'{"cmd": "stop"}\n')
            await self.process.stdin.drain()
            await within(self.process.wait(), 30)
        except (TimeoutError, ConnectionError):
            self.process.kill()
            await self.process.wait()


def process_figures(pid: int) -> dict[str, int]:
    """RSS (KiB), open fds and threads of a process, from /proc/<pid>."""
    status = Path(f"/proc/{pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return {"rss_kib": int(fields["VmRSS"].split()[0]),
            "open_fds": len(os.listdir(f"/proc/{pid}/fd")),
            "threads": int(fields["Threads"])}


_ARENA_ALIGN = 64 << 20  # glibc's HEAP_MAX_SIZE on 64 bits: a thread arena's heap alignment
_THREAD_STACK_KIB = (8180, 8192)  # an 8 MiB stack less its guard page (ulimit -s 8192)


def memory_map(pid: int) -> dict[str, int]:
    """The process's RSS (KiB) by kind of mapping, from /proc/<pid>/smaps: files (code,
    libraries), the main malloc heap ([heap]), glibc's thread arenas (anonymous, 64 MiB
    aligned), thread stacks (anonymous, 8 MiB), and other anonymous memory (Python's own
    arenas, malloc's mmapped blocks, numpy's large arrays)."""
    kinds = dict.fromkeys(("files", "heap", "thread_arenas", "thread_stacks", "other_anon"), 0)
    kind, size = "other_anon", 0
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        fields = line.split()
        if "-" in fields[0] and len(fields) >= 5 and ":" in fields[3]:  # a mapping's header
            start = int(fields[0].split("-", 1)[0], 16)
            name = fields[5] if len(fields) > 5 else ""
            kind = ("files" if name.startswith("/") else "heap" if name == "[heap]"
                    else "other_anon" if name else
                    "thread_arenas" if start % _ARENA_ALIGN == 0 else "")
        elif fields[0] == "Size:":
            size = int(fields[1])
            if kind == "":
                kind = ("thread_stacks" if _THREAD_STACK_KIB[0] <= size <= _THREAD_STACK_KIB[1]
                        else "other_anon")
        elif fields[0] == "Rss:":
            kinds[kind] += int(fields[1])
    return kinds


@dataclass(frozen=True)
class McuFigures:
    figures: dict[str, int]  # RSS, fds, threads, tasks, gc objects
    counts: dict[str, int]  # tasks by coroutine, native owners, threads by name (prefixed)
    gc_types: dict[str, int]  # every gc-tracked type and its count
    python_heap: dict[str, Any]  # tracemalloc's figures (empty without --tracemalloc)
    heap_trims: dict[str, Any]  # the MCU's malloc_trim calls (mcu/media/heap_trim.py)
    memory: dict[str, int]  # Python's blocks, malloc in use / free / mmapped (soak_mcu),
    #                         RSS by kind of mapping (memory_map)


async def mcu_figures(mcu: Child, heap_baseline: bool = False) -> McuFigures:
    """The figures, and the MCU's asyncio tasks counted by coroutine, its objects owning
    native memory (soak_mcu.NATIVE_OWNERS) by type and its threads by name, each prefixed;
    `heap_baseline`: later tracemalloc growth is counted from this request."""
    asked = await mcu.command(cmd="stats", timeout=180, heap_baseline=heap_baseline)
    figures = process_figures(mcu.process.pid)
    figures["asyncio_tasks"] = asked["tasks"]
    figures["gc_objects"] = asked["gc_objects"]
    counts = {**asked["task_kinds"],
              **{f"object {name}": n for name, n in asked.get("owners", {}).items()},
              **{f"thread {name}": n for name, n in asked.get("thread_names", {}).items()}}
    return McuFigures(figures, counts, asked.get("gc_types", {}), asked.get("python_heap", {}),
                      asked.get("heap_trims", {}),
                      {**asked.get("memory", {}), **memory_map(mcu.process.pid)})


GC_TYPES_TOP = 15


def gc_type_growth(start: dict[str, int], end: dict[str, int]) -> dict[str, int]:
    """The gc-tracked types that grew most from START to END (type -> END minus START)."""
    grown = {name: end.get(name, 0) - start.get(name, 0) for name in {*start, *end}}
    top = sorted((item for item in grown.items() if item[1] > 0), key=lambda i: -i[1])
    return dict(top[:GC_TYPES_TOP])


def task_changes(start: dict[str, int], end: dict[str, int]) -> dict[str, int]:
    """Coroutine (or object type, thread name) -> END count minus START count, for those
    that changed."""
    return {name: end.get(name, 0) - start.get(name, 0) for name in sorted({*start, *end})
            if end.get(name, 0) != start.get(name, 0)}


@dataclass(frozen=True)
class Verdict:
    figure: str
    start: int
    end: int
    change_percent: float
    held: bool


def verdicts(start: dict[str, int], end: dict[str, int]) -> list[Verdict]:
    result = []
    for name in ("rss_kib", "open_fds", "threads", "asyncio_tasks", "gc_objects"):
        before, after = start[name], end[name]
        change = (after - before) / before if before else (0.0 if after == before else 1.0)
        result.append(Verdict(name, before, after, round(100 * change, 1),
                              change <= TOLERANCE))
    return result


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def keep_alive(client: Client, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        await asyncio.sleep(min(left, KEEPALIVE_EVERY_S))
        answer = await client.call("tpCommon", "KeepAlive")
        if result_code(answer) != 0:
            raise RuntimeError(f"KeepAlive: {answer[:300]}")


async def sample_during(client: Client, mcu: Child, seconds: float, every: float
                        ) -> list[dict[str, float]]:
    """Keep the session alive for `seconds`, reading the MCU's RSS, threads and open fds
    every `every` s (from /proc, nothing asked of the MCU): the trend tells memory that
    grows with every call from an allocator that levels off."""
    began = time.monotonic()
    samples = []
    while (elapsed := time.monotonic() - began) < seconds:
        samples.append({"minute": round(elapsed / 60, 2), **process_figures(mcu.process.pid)})
        await keep_alive(client, min(every, seconds - elapsed))
    samples.append({"minute": round((time.monotonic() - began) / 60, 2),
                    **process_figures(mcu.process.pid)})
    return samples


def rss_trend(samples: list[dict[str, float]]) -> dict[str, float | None]:
    """RSS growth (KiB per minute, least squares) over the first and the second half of the
    churn: a leak grows as fast in the second half as in the first, an allocator's high
    water levels off."""
    half = samples[-1]["minute"] / 2 if samples else 0

    def slope(points: list[dict[str, float]]) -> float | None:
        if len(points) < 2:
            return None
        xs, ys = [p["minute"] for p in points], [p["rss_kib"] for p in points]
        mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
        var = sum((x - mx) ** 2 for x in xs)
        covariance = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
        return round(covariance / var, 1) if var else None

    return {"first_half_kib_per_min": slope([p for p in samples if p["minute"] <= half]),
            "second_half_kib_per_min": slope([p for p in samples if p["minute"] >= half])}


async def book(client: Client, uris: list[str], sites: int, conferences: int
               ) -> list[tuple[str, str, str, ConferencePlan]]:
    """(confId, accessCode, password, plan) per conference; the MCU dials every site out."""
    booked = []
    for index in range(conferences):
        plan = ConferencePlan(f"soak {index + 1}", "CP_4_1", tuple(  # layout never set: the MCU default
            BookedSite(uri, VideoFormat.CIF4, RATE)
            for uri in uris[sites * index: sites * (index + 1)]))
        begin = datetime.now(UTC).isoformat(timespec="milliseconds")
        answer = await client.call(
            "tpProfessionalConfMgr", "scheduleConfEx",
            f"<scheduleConf><name>{plan.name}</name><beginTime>{begin}</beginTime>"
            "<duration>PT2H</duration><mediaEncryptType>0</mediaEncryptType>"
            f"<cpResouce>{sites}</cpResouce><presentation>0</presentation>"
            + "".join(f"<sites><name>{s.uri}</name><uri>{s.uri}</uri><type>7</type>"
                      f"<from>0</from><dialingMode>0</dialingMode><rate>{s.rate}</rate>"
                      f"<videoFormat>{int(s.video_format)}</videoFormat></sites>"
                      for s in plan.sites)
            + "</scheduleConf>")
        conf_id, access_code = _element(answer, "confId"), _element(answer, "accessCode")
        if result_code(answer) != 0 or conf_id is None or access_code is None:
            raise RuntimeError(f"scheduleConfEx: {answer[:400]}")
        password = _element(answer, "password") or ""  # the MCU draws one when none is sent
        booked.append((conf_id, access_code, password, plan))
    return booked


async def soak(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="soak-") as temp:
        mcu_log = (Path(temp) / "mcu.log").open("wb")
        port = free_port()
        mcu = await Child.start("--mcu-child", "--port", str(port), "--data-dir",
                                str(Path(temp) / "data"), "--account", ":".join(ACCOUNT),
                                *(["--tracemalloc"] if args.tracemalloc else []),
                                stderr=mcu_log)
        terminals: Child | None = None
        client: Client | None = None
        try:
            base_url = (await mcu.read())["serving"]
            client = Client(f"{base_url}/esdk/services")
            await client.login(*ACCOUNT)
            count = args.sites * args.conferences
            terminals = await Child.start(
                "--terminals-child", "--server", base_url.replace("http", "ws", 1)
                + "/signalling", "--count", str(count), "--loss", str(args.loss),
                "--seed", str(args.seed), "--uri-prefix", URI_PREFIX)
            uris = (await terminals.read(180))["ready"]
            booked = await book(client, uris, args.sites, args.conferences)
            await _wait_joined(client, [(c, "", p) for c, _, _, p in booked])
            print(f"{count} sites in {args.conferences} conference(s); warming up "
                  f"{args.warmup:.0f} s", flush=True)
            await keep_alive(client, args.warmup)
            # the probe trims before START too: START and END both without free memory
            # the allocator held, the strict comparison
            access = {site.uri: [code, password]
                      for _, code, password, plan in booked for site in plan.sites}
            # the former START: every site dialled out by the MCU (kept for comparison)
            dialled_out = (await mcu_figures(mcu)).figures
            print(f"START (dialled out) {dialled_out}", flush=True)
            # START like END: every site has left and dialled back in once, warmed up
            cycle = await terminals.command(cmd="cycle", access=access, timeout=120)
            print(f"cycle: {cycle}", flush=True)
            await _wait_joined(client, [(c, "", p) for c, _, _, p in booked])
            await keep_alive(client, args.warmup)
            start_trim = await mcu.command(cmd="trim") if args.probe_trim else None
            start_stats = await mcu_figures(mcu, heap_baseline=True)
            start, start_tasks = start_stats.figures, start_stats.counts
            start_load = load_average()
            print(f"START {start}  load {start_load}", flush=True)
            await terminals.command(
                cmd="churn", access=access,
                stay_s=[args.stay_min, args.stay_max], away_s=[args.away_min, args.away_max],
                burst_ms=args.burst_ms, burst_every_s=args.burst_every)
            print(f"churning for {args.minutes} min", flush=True)
            trend = await sample_during(client, mcu, 60 * args.minutes, args.sample_every)
            calm = await terminals.command(cmd="calm", timeout=120)
            print(f"calm: {calm}", flush=True)
            await _wait_joined(client, [(c, "", p) for c, _, _, p in booked])
            print(f"every site back in conference; settling {args.settle:.0f} s", flush=True)
            await keep_alive(client, args.settle)
            end_stats = await mcu_figures(mcu)
            end, end_tasks = end_stats.figures, end_stats.counts
            snapshot = await terminals.command(cmd="snapshot")
            print(f"END {end}", flush=True)
            trim = await mcu.command(cmd="trim", timeout=60) if args.probe_trim else None
            result = report(args, start, end, start_load, snapshot,
                            task_changes(start_tasks, end_tasks), trend)
            result["mcu_vs_dialled_out"] = [vars(v) for v in verdicts(dialled_out, end)]
            result["memory_split"] = {"start": start_stats.memory, "end": end_stats.memory}
            result["gc_types_grown"] = gc_type_growth(start_stats.gc_types,
                                                      end_stats.gc_types)
            result["python_heap"] = {"start": start_stats.python_heap,
                                     "end": end_stats.python_heap}
            result["malloc_trim_probe"] = trim and {"start": start_trim, "end": trim}
            result["mcu_heap_trims"] = end_stats.heap_trims
            return result
        except BaseException:
            mcu_log.flush()
            tail = (Path(temp) / "mcu.log").read_text(errors="replace")[-3000:]
            print(f"--- MCU log (tail)\n{tail}", file=sys.stderr)
            raise
        finally:
            if client is not None:
                await client.close()
            if terminals is not None:
                await terminals.stop()
            await mcu.stop()
            mcu_log.close()


def report(args: argparse.Namespace, start: dict[str, int], end: dict[str, int],
           start_load: list[float], snapshot: dict[str, Any],
           tasks_changed: dict[str, int], trend: list[dict[str, float]]) -> dict[str, Any]:
    per_terminal = {}
    for uri, t in snapshot["terminals"].items():
        lost = max(0, t["frames_on_wire"] - t["frames_received"])
        per_terminal[uri] = {**t, "frames_lost": lost,
                             "lost_percent": round(100 * lost / t["frames_on_wire"], 2)
                             if t["frames_on_wire"] else None}
    recoveries = [round(value * 1000, 1) for value in snapshot["recoveries_s"]]
    p95 = percentile(recoveries, 0.95)
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "parameters": {name: getattr(args, name) for name in (
            "minutes", "sites", "conferences", "loss", "burst_ms", "burst_every", "stay_min",
            "stay_max", "away_min", "away_max", "warmup", "settle", "seed")},
        "load_average_start": start_load,
        "load_average_end": load_average(),
        "mcu": [vars(v) for v in verdicts(start, end)],
        "mcu_tasks_changed": tasks_changed,
        "mcu_during_churn": trend,
        "rss_trend": rss_trend(trend),
        "loss": snapshot["loss"],
        "bursts": snapshot["bursts"],
        "plis": snapshot["plis"],
        "keyframe_skips": snapshot.get("keyframe_skips"),
        "terminals": per_terminal,
        "frames_on_wire": sum(t["frames_on_wire"] for t in per_terminal.values()),
        "frames_lost": sum(t["frames_lost"] for t in per_terminal.values()),
        "recovery_ms": {"readings": len(recoveries), "unrecovered": snapshot["unrecovered"],
                        "p50": percentile(recoveries, 0.50), "p95": p95,
                        "max": max(recoveries, default=None),
                        "target": RECOVERY_TARGET_S * 1000,
                        "held": bool(recoveries) and snapshot["unrecovered"] == 0
                        and max(recoveries) < RECOVERY_TARGET_S * 1000},
    }


def markdown(result: dict[str, Any]) -> str:
    p = result["parameters"]
    lines = [
        "# Soak", "",
        f"Run {result['date']} on {os.cpu_count()} cores: {p['conferences']} x {p['sites']}-site "
        f"conference(s), {p['minutes']} min of churn (stay {p['stay_min']}-{p['stay_max']} s, "
        f"away {p['away_min']}-{p['away_max']} s), {p['loss']} % random loss both ways, a "
        f"{p['burst_ms']} ms burst every {p['burst_every']} s. Load average "
        f"{result['load_average_start']} at START, {result['load_average_end']} at the end.",
        "", "| MCU figure | START | END | change % | within 5 % |", "| --- | ---: | ---: | ---: | --- |",
    ]
    for v in result["mcu"]:
        lines.append(f"| {v['figure']} | {v['start']} | {v['end']} | {v['change_percent']} | "
                     f"{'held' if v['held'] else 'MISSED'} |")
    old_start = ", ".join(f"{v['figure']} {v['start']} ({v['change_percent']:+} %)"
                          for v in result.get("mcu_vs_dialled_out", []))
    lines += ["", "The former START (every site dialled out, before the cycle) and END's change "
              f"against it: {old_start or 'not taken'}."]
    changed = ", ".join(f"{name} {delta:+d}" for name, delta in
                        result["mcu_tasks_changed"].items()) or "none"
    lines += ["", "MCU asyncio tasks (by coroutine), objects owning native memory and "
              f"threads (by name) whose count changed: {changed}."]
    grown = ", ".join(f"{name} {delta:+d}" for name, delta in
                      result.get("gc_types_grown", {}).items()) or "none"
    lines += ["", f"gc-tracked types that grew most: {grown}."]  # after a full collection
    heap = result.get("python_heap", {})
    if heap and heap.get("end"):
        lines += ["", f"Python heap (tracemalloc): {heap['start'].get('current_kib')} KiB at "
                  f"START, {heap['end'].get('current_kib')} KiB at END; grown most by:"]
        lines += [f"- {g['size_diff_kib']:+} KiB ({g['count_diff']:+d} blocks): "
                  + " <- ".join(reversed(g["traceback"][-3:]))
                  for g in heap["end"].get("top_growth", [])[:8]]
    trims = result.get("mcu_heap_trims")
    if trims and trims.get("trims"):
        lines += ["", f"The MCU's malloc_trim after calls end: {trims['trims']} calls "
                  f"({trims['released']} released memory), "
                  f"{1000 * trims['total_duration_s'] / trims['trims']:.1f} ms each on "
                  "average, off the event loop; full garbage collections after calls "
                  f"ended: {trims.get('collections', 0)}, {trims.get('collected', 0)} "
                  "objects freed, "
                  f"{1000 * trims.get('collect_duration_s', 0) / max(1, trims.get('collections', 0)):.1f}"
                  " ms each on average, on the loop."]
    split = result.get("memory_split")
    if split and split.get("end"):
        lines += ["", "Where the memory is (START -> END): " + ", ".join(
            f"{name} {split['start'].get(name)} -> {split['end'].get(name)}"
            for name in split["end"]) + "."]
    trim = result.get("malloc_trim_probe")
    if trim:
        lines += ["", "malloc_trim(0) before START: RSS "
                  f"{trim['start']['rss_before_kib']} -> {trim['start']['rss_after_kib']} KiB; "
                  f"after END: RSS {trim['end']['rss_before_kib']} -> "
                  f"{trim['end']['rss_after_kib']} KiB."]
    samples = result["mcu_during_churn"]
    trend = result["rss_trend"]
    lines += ["", "MCU RSS during the churn (minute: MiB): " + ", ".join(
        f"{s['minute']:.1f}: {s['rss_kib'] / 1024:.0f}" for s in samples)
        + f"; growth {trend['first_half_kib_per_min']} KiB/min over the first half, "
        f"{trend['second_half_kib_per_min']} KiB/min over the second."]
    lines += ["", "| terminal | calls | leaves | joins | join failures | frames on wire "
              "| frames received | lost | lost % | keyframes |",
              "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for uri, t in result["terminals"].items():
        lines.append(f"| {uri} | {t['calls']} | {t['leaves']} | {t['joins']} | "
                     f"{t['join_failures']} | {t['frames_on_wire']} | {t['frames_received']} "
                     f"| {t['frames_lost']} | {t['lost_percent']} | {t['keyframes_received']} |")
    loss = result["loss"]
    r = result["recovery_ms"]
    lines += [
        "", f"Datagrams dropped: to the terminals {loss['to_terminals']['dropped']} of "
        f"{loss['to_terminals']['media_datagrams']} ({loss['to_terminals']['dropped_in_bursts']} "
        f"in bursts), from the terminals {loss['from_terminals']['dropped']} of "
        f"{loss['from_terminals']['media_datagrams']}; {result['bursts']} bursts.", "",
        f"Recovery after a burst (first PLI -> first keyframe received; {result['plis']} "
        f"PLIs sent, repeated every 0.5 s until a keyframe), {r['readings']} readings, "
        f"{r['unrecovered']} unrecovered within 5 s: p50 {r['p50']} ms, p95 {r['p95']} ms, "
        f"max {r['max']} ms (target < {r['target']:.0f} ms: "
        f"{'held' if r['held'] else 'MISSED'}). Keyframes the terminals' jitter buffers "
        f"released past a gap never filled: {result.get('keyframe_skips')}.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    aiortc_hooks.install()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=3.0, help="churn time (default 3)")
    parser.add_argument("--sites", type=int, default=4, help="sites per conference (default 4)")
    parser.add_argument("--conferences", type=int, default=1, help="(default 1)")
    parser.add_argument("--loss", type=float, default=2.0,
                        help="random loss, %% of RTP/RTCP datagrams both ways (default 2)")
    parser.add_argument("--burst-ms", type=float, default=300.0,
                        help="length of each loss burst, ms (default 300)")
    parser.add_argument("--burst-every", type=float, default=10.0,
                        help="seconds between bursts (default 10)")
    parser.add_argument("--stay-min", type=float, default=8.0)
    parser.add_argument("--stay-max", type=float, default=25.0)
    parser.add_argument("--away-min", type=float, default=1.0)
    parser.add_argument("--away-max", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=10.0, help="s before START")
    parser.add_argument("--settle", type=float, default=15.0, help="s after the calm, before END")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--sample-every", type=float, default=20.0,
                        help="s between the MCU's RSS readings during the churn (default 20)")
    parser.add_argument("--tracemalloc", action="store_true",
                        help="trace the MCU's Python allocations (slower) and report the "
                        "tracebacks grown most from START to END")
    parser.add_argument("--probe-trim", action="store_true",
                        help="call glibc's malloc_trim(0) in the MCU before START and after "
                        "END and report its RSS before and after each (memory the allocator "
                        "held, not in use)")
    parser.add_argument("--json", type=Path, help="write the report here")
    parser.add_argument("--markdown", type=Path,
                        help="markdown report (default bench-results/soak.md)")
    # the children
    parser.add_argument("--mcu-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--terminals-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", help=argparse.SUPPRESS)
    parser.add_argument("--account", help=argparse.SUPPRESS)
    parser.add_argument("--server", help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, default=4, help=argparse.SUPPRESS)
    parser.add_argument("--uri-prefix", default=URI_PREFIX, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.mcu_child:
        from benchmarks.soak_mcu import run_child as run_mcu

        return asyncio.run(run_mcu(args))
    if args.terminals_child:
        from benchmarks.soak_terminals import run_child as run_terminals

        return asyncio.run(run_terminals(args))
    if (not 2 <= args.sites <= 16 or not 1 <= args.conferences <= 8 or args.minutes <= 0
            or not 0 <= args.loss <= 100 or args.sites * args.conferences > 64):
        parser.error("2..16 sites, 1..8 conferences, at most 64 terminals, minutes > 0, "
                     "loss within 0..100")
    result = asyncio.run(soak(args))
    text = markdown(result)
    print(text, flush=True)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    path = args.markdown or Path("bench-results") / "soak.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
