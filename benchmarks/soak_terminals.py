"""The terminals' side of the soak (benchmarks/soak.py): one process holding every terminal,
with packet loss injected on its media path (benchmarks/packet_loss.py).

Run by the runner as `python -m benchmarks.soak --terminals-child ...`; one JSON object per
line over stdin/stdout:

    child -> parent  {"ready": [uri, ...]}          every terminal registered
    parent -> child  {"cmd": "churn", "access": {uri: [access_code, password]},
                      "stay_s": [lo, hi], "away_s": [lo, hi], "burst_ms": ...,
                      "burst_every_s": ...}
                     each terminal hangs up after a random stay and dials back in (join with
                     its conference's access code and password) after a random time away; a
                     loss burst every burst_every_s; answers {"ok": true}
    parent -> child  {"cmd": "cycle", "access": {uri: [access_code, password]}}
                     before START: every terminal hangs up once and dials back in, so START
                     is taken with every site dialled in, as END is; answers
                     {"rejoined": n, "failed": {uri: reason}}
    parent -> child  {"cmd": "calm"}  churn and bursts stop; every terminal not in a call
                     dials back in; answers {"rejoined": n, "failed": {uri: reason}}
    parent -> child  {"cmd": "snapshot"}  counters and figures (see TerminalsSoak.snapshot)
    parent -> child  {"cmd": "stop"}

Recovery after a burst: when a burst ends, each terminal in a call asks the MCU for a
keyframe (RTCP PLI, as a real endpoint does after losing packets), again every
PLI_REPEAT_S while none has arrived (the PLI itself may be lost: libwebrtc's receiver
likewise keeps asking while its decoder waits for a keyframe), and the time from the first
PLI to the first keyframe its receiver completes is one recovery reading (polled every
RECOVERY_POLL_S; none within RECOVERY_TIMEOUT_S is counted as unrecovered).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import sys
import time
from typing import Any

from benchmarks.packet_loss import LossInjector
from rtc import aiortc_hooks
from rtc.deadline import within
from rtc.jitter_buffer import MarkerJitterBuffer
from terminals.call_state import CallState
from terminals.client import CallRefused, SimulatedTerminal
from terminals.media_sources import VideoFormat
from terminals.run_command import freeze_startup_objects, stop_terminals, terminal_uri

SOAK_VIDEO_FORMAT = VideoFormat(640, 360, 30, 600_000)
RECOVERY_POLL_S = 0.01
RECOVERY_TIMEOUT_S = 5.0
PLI_REPEAT_S = 0.5
JOIN_TIMEOUT_S = 15.0
CYCLE_ATTEMPTS = 3  # dial-ins of the cycle before START, per terminal


def new_terminal(uri: str, site_index: int) -> SimulatedTerminal:
    """Every soak terminal is made here (one place to give it a credential): it counts the
    frames it receives without decoding them, answers invites quickly, sends 640x360."""
    return SimulatedTerminal(
        uri=uri, name=f"Soak {uri}", site_index=site_index, ring_delay_s=0.2,
        video_format=SOAK_VIDEO_FORMAT, analyse_every=1 << 30,
        decode_video=False, decode_audio=False,
    )


class TerminalsSoak:
    def __init__(self, terminals: list[SimulatedTerminal], injector: LossInjector,
                 rng: random.Random) -> None:
        self.terminals = terminals
        self.injector = injector
        self.rng = rng
        self.video_ssrcs: dict[str, set[int]] = {t.uri: set() for t in terminals}
        self.leaves = dict.fromkeys(self.video_ssrcs, 0)
        self.joins = dict.fromkeys(self.video_ssrcs, 0)
        self.join_failures: dict[str, list[str]] = {uri: [] for uri in self.video_ssrcs}
        self.recoveries_s: list[float] = []
        self.plis = 0
        self.unrecovered = 0
        self.bursts = 0
        self._churn: list[asyncio.Task[None]] = []
        self._bursts_task: asyncio.Task[None] | None = None
        self._calming = asyncio.Event()
        self._measures: set[asyncio.Task[None]] = set()
        self.access: dict[str, tuple[str, str]] = {}  # uri -> (access code, password)
        self._ssrc_watch = asyncio.get_running_loop().create_task(self._watch_ssrcs())

    async def _watch_ssrcs(self) -> None:
        """Note every video SSRC each terminal receives on, call after call."""
        while True:
            for terminal in self.terminals:
                self.video_ssrcs[terminal.uri].update(terminal.received_video_ssrcs())
            await asyncio.sleep(0.2)

    # -- churn --------------------------------------------------------------------------

    def _set_access(self, command: dict[str, Any]) -> None:
        self.access = {uri: (code, password)
                       for uri, (code, password) in command["access"].items()}

    async def cycle(self, command: dict[str, Any]) -> dict[str, Any]:
        """Every terminal in a call hangs up, then every idle one dials back in (not
        counted as churn: this is before START)."""
        self._set_access(command)
        for terminal in self.terminals:
            if terminal.state == CallState.IN_CALL:
                await terminal.hang_up("soak: one cycle before START")
        await asyncio.sleep(1.0)
        idle = [t for t in self.terminals if t.state == CallState.IDLE]
        results = await asyncio.gather(*(self._dial_in(t) for t in idle))
        return {"rejoined": sum(ok is None for ok in results),
                "failed": {t.uri: why for t, why in zip(idle, results, strict=True) if why}}

    async def _dial_in(self, terminal: SimulatedTerminal) -> str | None:
        """Dial in, up to CYCLE_ATTEMPTS times (a loaded MCU may not answer in time); the
        last refusal, or None once in the call."""
        access_code, password = self.access[terminal.uri]
        refusal = None
        for _ in range(CYCLE_ATTEMPTS):
            try:
                await terminal.join(access_code, password, timeout=JOIN_TIMEOUT_S)
            except CallRefused as error:
                refusal = str(error)
                await asyncio.sleep(1.0)
                continue
            return None
        return refusal

    def start_churn(self, command: dict[str, Any]) -> None:
        stay = tuple(command["stay_s"])
        away = tuple(command["away_s"])
        self._set_access(command)
        for terminal in self.terminals:
            self._churn.append(asyncio.get_running_loop().create_task(
                self._churn_one(terminal, stay, away)))
        self._bursts_task = asyncio.get_running_loop().create_task(
            self._bursts(command["burst_ms"] / 1000, command["burst_every_s"]))

    async def _pause(self, seconds: float) -> bool:
        """Wait `seconds`, or less if the calm begins meanwhile (then True)."""
        try:
            await within(self._calming.wait(), seconds)
        except TimeoutError:
            return False
        return True

    async def _churn_one(self, terminal: SimulatedTerminal, stay: tuple[float, float],
                         away: tuple[float, float]) -> None:
        """Stay, leave, stay away, dial back in, until the calm. The calm never cancels a
        hang-up or a dial-in half done (a join cancelled before its answer left the
        terminal connecting for ever and the calm could not dial it in): it ends the
        waits, and a terminal away when it begins dials back in at once."""
        while not await self._pause(self.rng.uniform(*stay)):
            if terminal.state == CallState.IN_CALL:
                await terminal.hang_up("soak: leaving")
                self.leaves[terminal.uri] += 1
            await self._pause(self.rng.uniform(*away))
            await self._join(terminal)

    async def _join(self, terminal: SimulatedTerminal) -> bool:
        if terminal.state != CallState.IDLE:
            return terminal.state == CallState.IN_CALL
        access_code, password = self.access[terminal.uri]
        try:
            await terminal.join(access_code, password, timeout=JOIN_TIMEOUT_S)
        except CallRefused as error:
            self.join_failures[terminal.uri].append(str(error))
            return False
        self.joins[terminal.uri] += 1
        return True

    async def _bursts(self, burst_s: float, every_s: float) -> None:
        while True:
            await asyncio.sleep(every_s)
            self.injector.burst_active = True
            try:
                await asyncio.sleep(burst_s)
            finally:
                self.injector.burst_active = False
            self.bursts += 1
            for terminal in self.terminals:
                if terminal.state == CallState.IN_CALL:
                    task = asyncio.get_running_loop().create_task(self._recovery(terminal))
                    self._measures.add(task)
                    task.add_done_callback(self._measures.discard)

    async def _recovery(self, terminal: SimulatedTerminal) -> None:
        """From the first PLI at the burst's end to the first keyframe the receiver
        completes, asking again every PLI_REPEAT_S."""
        before = terminal.video.keyframes_received
        asked_at = last_asked = time.monotonic()
        if await terminal.request_keyframe() == 0:
            return  # no video stream yet (the call is just starting): nothing to recover
        self.plis += 1
        while time.monotonic() - asked_at < RECOVERY_TIMEOUT_S:
            if time.monotonic() - last_asked >= PLI_REPEAT_S:
                last_asked = time.monotonic()
                self.plis += await terminal.request_keyframe() > 0
            if terminal.video.keyframes_received > before:
                self.recoveries_s.append(time.monotonic() - asked_at)
                return
            if terminal.state != CallState.IN_CALL:
                return  # the terminal left meanwhile (churn): no reading
            await asyncio.sleep(RECOVERY_POLL_S)
        self.unrecovered += 1

    async def calm(self) -> dict[str, Any]:
        self._calming.set()
        if self._bursts_task is not None:
            self._bursts_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._bursts_task
        self.injector.burst_active = False
        await asyncio.gather(*self._churn)  # each ends after its hang-up or dial-in
        self._churn = []
        idle = [t for t in self.terminals if t.state != CallState.IN_CALL]
        # a terminal caught mid-call set-up settles first, then dials in if it is idle
        await asyncio.sleep(1.0)
        results = await asyncio.gather(*(self._join(t) for t in idle))
        await asyncio.gather(*self._measures, return_exceptions=True)
        return {"rejoined": sum(results),
                "failed": {t.uri: self.join_failures[t.uri][-1:]
                           for t, ok in zip(idle, results, strict=True) if not ok}}

    def snapshot(self) -> dict[str, Any]:
        wire = self.injector.marked_received
        terminals = {}
        for terminal in self.terminals:
            sent = sum(wire.get(ssrc, 0) for ssrc in self.video_ssrcs[terminal.uri])
            terminals[terminal.uri] = {
                "state": str(terminal.state),
                "calls": terminal.calls_established,
                "leaves": self.leaves[terminal.uri],
                "joins": self.joins[terminal.uri],
                "join_failures": len(self.join_failures[terminal.uri]),
                "frames_on_wire": sent,
                "frames_received": terminal.video.frames_received,
                "keyframes_received": terminal.video.keyframes_received,
            }
        return {"at": time.time(), "terminals": terminals, "loss": self.injector.figures(),
                "bursts": self.bursts, "plis": self.plis,
                "recoveries_s": list(self.recoveries_s),
                "unrecovered": self.unrecovered,
                "keyframe_skips": MarkerJitterBuffer.keyframe_skips_total}

    async def close(self) -> None:
        for task in [*self._churn, self._ssrc_watch, *self._measures,
                     *([self._bursts_task] if self._bursts_task else [])]:
            task.cancel()
        await stop_terminals(self.terminals)


def _answer(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


async def run_child(args: argparse.Namespace) -> int:
    rng = random.Random(args.seed)
    injector = LossInjector(args.loss / 100, random.Random(rng.random()))
    restore = aiortc_hooks.filter_datagrams(injector.let_in, injector.let_out)
    terminals = [new_terminal(terminal_uri(args.uri_prefix, index), index)
                 for index in range(args.count)]
    try:
        await asyncio.gather(*(t.start(args.server, timeout=60) for t in terminals))
    except BaseException:
        await stop_terminals(terminals)
        restore()
        raise
    freeze_startup_objects()
    soak = TerminalsSoak(terminals, injector, rng)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    _answer({"ready": [t.uri for t in terminals]})
    try:
        while line := await reader.readline():
            command = json.loads(line)
            match command.get("cmd"):
                case "churn":
                    soak.start_churn(command)
                    _answer({"ok": True})
                case "cycle":
                    _answer(await soak.cycle(command))
                case "calm":
                    _answer(await soak.calm())
                case "snapshot":
                    _answer(soak.snapshot())
                case "stop":
                    break
                case other:
                    _answer({"error": f"unknown command {other!r}"})
    finally:
        await soak.close()
        restore()
    return 0
