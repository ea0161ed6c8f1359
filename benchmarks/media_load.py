"""Media load: concurrent 4-site conferences at 1080p30 and one 16-site conference.

Processes on 127.0.0.1: the MCU (`mcu-sim serve --no-terminals`, temp data dir), the
simulated terminals, one child process per 4-site conference and two for the 16-site one
(benchmarks/media_terminals.py: the terminals of a process share its send log, so latency
is glass to glass; one process's GIL would otherwise limit the load generator; in the
16-site conference the probe's latency is read on the panes of the 8 sites of its own
process), and this one, which drives the MCU
only through the SOAP API (raw SOAP 1.1, like soap_throughput.py) and reads its media
counters from GET /stats/media.

The MCU is the system under test; the terminals are the load generator and must not be the
bottleneck. So in each conference ONE terminal, the probe (its first site), decodes what it
receives, reads the panes' markers and measures latency; every other terminal receives every
packet (SRTP, RTP, jitter buffer, NACK/PLI) but only counts the complete frames its jitter
buffer hands to the decoder, without decoding them (terminals/frame_counter.py).

Scenarios, one after the other, each on a freshly started MCU and terminals (so that a
saturated scenario's aftermath does not weigh on the next), measured over a window after a
warm-up:
  - k concurrent 4-site conferences, k = 1, 2, 3 ...: every site sends the terminals' 720p30
    loop and receives CP_4_1 at 1080p30 (videoFormat 1080P30, 2 Mbit/s): one encoder per
    conference. Stops at the first k that misses; the largest k that held is the result.
  - one 16-site conference in CP_16_1: the sites send 640x360 at 30 fps (a 16-pane 1080p
    picture has 480x270 panes: a real MCU asks small-pane sites for less than 720p); the
    probe receives 1080p30 (2 Mbit/s), the other fifteen 4CIF (704x576, 768 kbit/s), so the
    MCU composes at two sizes and runs two encoders (one per distinct output format).

Measured per scenario, over the window:
  - MCU CPU: the MCU process's utime + stime from /proc (% of one core; 200 = this machine),
    and the terminal processes' (summed), and every other process's on the machine
    (/proc/stat); and of the MCU's, its event loop thread's (/proc/<pid>/task/<pid>/stat);
  - rx fps: complete video frames received per second at EVERY receiver (decoding or not):
    the MCU's sustained output rate as each site gets it; the slowest receiver is reported;
  - probe fps: frames decoded per second by each conference's probe (the slowest probe);
  - enc fps: frames encoded per second by each of the MCU's encoder groups (the slowest);
  - encoders against the distinct (picture, output format) pairs the booking implies;
  - latency p50/p95: glass to glass on the probes (a frame index's send time at the sending
    terminal -> MCU decode, composite, encode -> the probe's decoder output), read from the
    site markers in the panes of the probes' decoded pictures;
  - the load average at the end of the window;
  - the size the MCU decodes from each site at the window's end, and what the send ladder
    asked it for (GET /stats/media's `inputs`): a 16-site CP_16_1 conference's sites send
    what their 480x270 panes need when the ladder is on;
  - then, with the scenario's processes stopped, the codec floor of one of its conferences
    (benchmarks/codec_floor.py, in a child process of its own, over the same seconds of
    media, on its inputs as run: each site's video at the size and rate the send ladder
    asked of it, every voice decoded, the distinct mixes the MCU encoded per frame):
    `floor_cpu_pct`, beside `mcu_cpu_pct_per_conference` and their ratio `mcu_to_floor`;
    and `mcu_split`: the event loop's CPU beside the floor's part it runs (the Opus decodes
    and encodes), the other threads' beside theirs (the video codecs and the compositor),
    and the ratio the MCU would have were the loop to cost only its Opus.
  - the mix each site hears, at the terminals (since stop 24): the slowest receiver's 20 ms
    audio frames a second, and the longest wait between two audio packets at any receiver,
    on arrival (terminals/arrival_gaps.py); beside them the cuts in the sites' voices in
    the MCU's own mix (GET /stats/media's `voice_underruns`, `voice_samples_dropped`).
A scenario holds when every receiver gets >= 27 fps (25 for 16 sites), every probe decodes
>= 27 (25) fps, latency p95 <= 200 ms, encoders = distinct outputs, and every receiver gets
>= 49 audio frames a second with no wait over 120 ms between two audio packets.

Then the content scenario (benchmarks/media_content.py): the same 4-site 1080p30 conference
without content (the anchor), with 1080p slides from one site forwarded to the others, and
transcoded for them; the MCU's extra CPU for each against the anchor, the content's latency
and PSNR at the receivers, the main picture's figures beside the anchor's.

Then the multi-screen scenario (benchmarks/media_screens.py): the same 4-site conference
(the anchor) and with its fourth site a three-screen room; the MCU's CPU and encoders in
each, encoders still equal to the distinct outputs (the room's screen 2 adds one).

With `--ladder both` every 4-site and 16-site scenario runs twice in the same run, with
`[mcu] send_ladder` on, then off (each on a fresh MCU), and each is followed by its floor;
the summary is the ladder-on runs' with `ladder_off` beside it.

Voices: by default every site talks (at 0.5), as in every run before stop 22. With
`--talkers N` only the first N sites of each 4-site and 16-site conference talk and the
others are silent, as in a real consultation; `--voice-gate off` runs the MCU with `[mcu]
voice_gate = false` (every frame of every voice decoded, as before the gate). The floor
decodes as many voices per frame as the MCU decoded (`floor_as_run`).

    python -m benchmarks.media_load [--quick] [--json FILE] [--markdown FILE]
        [--max-conferences 4] [--window 12] [--skip-16] [--ladder default|on|off|both]
        [--talkers N] [--voice-gate on|off]
        [--skip-content | --content-only | --screens-only] [--skip-screens]
        [--content-rounds 1]

Profiling (CPU time of each process's event loop thread, app/loop_profile.py):
`MCU_SIM_PROFILE=FILE` for the MCU, `MEDIA_LOAD_TERMINALS_PROFILE=PREFIX` for the terminals
children (one file PREFIX.<pid> each).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from app.child_process import dies_with_parent
from app.loop_profile import run_profiled
from benchmarks.audio_floor import FRAMES_PER_SECOND as AUDIO_FRAMES_PER_SECOND
from benchmarks.codec_floor import FloorScenario
from benchmarks.media_terminals import SMALL_VIDEO_FORMAT, add_child_arguments
from benchmarks.soap_throughput import ACCOUNT, Client, result_code, wait_until_up
from mcu.layouts import layout_mode
from mcu.media.output_format import FORMAT_SIZES, H264, OutputFormat, parse_rate
from mcu.media.send_ladder import DOWNGRADE_HOLD_S, SETTLE_PERIOD_S
from mcu.model import SiteCallState, VideoFormat
from rtc import aiortc_hooks
from rtc.deadline import within
from terminals.media_sources import DEFAULT_VIDEO_FORMAT as DEFAULT_TERMINAL_VIDEO_FORMAT
from terminals.media_sources import VideoFormat as TerminalVideoFormat
from terminals.media_sources import ladder_format

TARGET_FPS = 27.0  # "sustains 30 fps": a receiver decoding fewer than this has fallen behind
TARGET_16_FPS = 25.0
TARGET_P95_MS = 200.0
# The mix each site hears: the MCU sends a 20 ms Opus frame every 20 ms (50 a second). A
# receiver getting fewer than 49 a second lost more than 2 % of its audio; a wait over
# 120 ms between two packets, on arrival (before the terminal's jitter buffer), is more than
# a browser's jitter buffer rides out without a cut at its usual 40-80 ms depth (WebRTC's
# NetEq grows it only after such late packets): either and the scenario did not hold.
TARGET_AUDIO_FPS = 49.0
TARGET_AUDIO_GAP_MS = 120.0
URI_PREFIX = "0177"
RATE_1080P = "2048k"
RATE_4CIF = "768k"
JOIN_TIMEOUT_S = 40.0
KEEPALIVE_EVERY_S = 20.0
LADDER_SETTLE_TIMEOUT_S = 90.0  # joined to every site sending what the ladder asked (the
# terminals encode the asked loops at nice 19: terminals/loop_encoders.py)
SETTLE_POLL_S = 0.5  # GET /stats/media while waiting for it
# Before this long after the layout was set, the asks may still be the previous layout's:
# the MCU asks for a smaller size only once the smaller need held DOWNGRADE_HOLD_S, and
# works the needs out every SETTLE_PERIOD_S (mcu/media/send_ladder.py)
LADDER_HOLD_S = DOWNGRADE_HOLD_S + 2 * SETTLE_PERIOD_S
# The 16-site conference's terminals in two processes: 16 in one process saturate its event
# loop (one core under the GIL) and drop datagrams; real terminals are 16 devices.
SMALL_PER_PROCESS = 8  # the SOAP session expires after 60 s without a request
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------------- the processes


def load_average() -> list[float]:
    return [float(value) for value in Path("/proc/loadavg").read_text().split()[:3]]


def machine_busy_seconds() -> float:
    """CPU time every process of the machine spent, all cores (/proc/stat), including other
    users' processes this one cannot see: the contention during a window."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS


def _stat_cpu_seconds(stat_path: str) -> float:
    """utime + stime from a /proc stat file (a process's or one of its threads')."""
    text = Path(stat_path).read_text()
    fields = text[text.rindex(")") + 2 :].split()  # the name may hold spaces
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def process_cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), from /proc/<pid>/stat."""
    return _stat_cpu_seconds(f"/proc/{pid}/stat")


def thread_cpu_seconds(pid: int, tid: int) -> float:
    """utime + stime of one thread of a process, from /proc/<pid>/task/<tid>/stat (the main
    thread's tid is the pid)."""
    return _stat_cpu_seconds(f"/proc/{pid}/task/{tid}/stat")


def udp_drops(pid: int) -> int:
    """Datagrams the kernel dropped on a process's UDP sockets because their receive buffers
    were full (/proc/net/udp[6] `drops`, summed over the sockets the process holds): the
    process did not read them in time."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:  # closed meanwhile
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    drops = 0
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[9] in inodes:
                drops += int(fields[12])
    return drops


SERVING = re.compile(r"mcu-sim serving on http://127\.0\.0\.1:(\d+)")


class McuProcess:
    """`mcu-sim serve --no-terminals` on a temp data dir; `send_ladder` and `voice_gate` True
    or False set `[mcu] send_ladder` and `[mcu] voice_gate` by a `--config` file (None: the
    MCU's default)."""

    def __init__(self, data_dir: Path, log_path: Path,
                 send_ladder: bool | None = None, voice_gate: bool | None = None) -> None:
        self.data_dir = data_dir
        self.port = 0  # known once it listens (wait_until_up)
        self._log_path = log_path
        self._log = log_path.open("wb")
        config: list[str] = []
        flags = {"send_ladder": send_ladder, "voice_gate": voice_gate}
        lines = [f"{name} = {'true' if value else 'false'}\n"
                 for name, value in flags.items() if value is not None]
        if lines:
            path = log_path.parent / "mcu.toml"
            path.write_text("[mcu]\n" + "".join(lines))
            config = ["--config", str(path)]
        self.process = subprocess.Popen(
            dies_with_parent(
                # a free port of its own choosing, read back from what it prints: a port
                # found free here could be taken before the child binds it (a clean-clone
                # CI run: "address already in use")
                [sys.executable, "-m", "app.cli", "serve", "--port", "0",
                 "--data-dir", str(data_dir), "--account", f"{ACCOUNT[0]}:{ACCOUNT[1]}",
                 # any free SIP port: another MCU on the machine may hold 5060
                 "--no-terminals", "--sip-port", "0", *config]),
            stdout=self._log, stderr=subprocess.STDOUT,
        )

    async def wait_until_up(self, timeout: float = 30.0) -> None:
        """Until the server answers on the port it chose (printed as "mcu-sim serving on
        http://127.0.0.1:<port>"); RuntimeError with its log's end if it stops or is not
        up within `timeout`."""
        deadline = time.monotonic() + timeout
        while not self.port:
            found = SERVING.search(self._log_path.read_text(errors="replace"))
            if found:
                self.port = int(found.group(1))
            elif self.process.poll() is not None or time.monotonic() > deadline:
                tail = self._log_path.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"mcu-sim serve did not come up: {tail}")
            else:
                await asyncio.sleep(0.1)
        await wait_until_up(self.soap_url, timeout=max(1.0, deadline - time.monotonic()))

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def soap_url(self) -> str:
        return f"{self.base_url}/esdk/services"

    @property
    def signalling_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/signalling"

    def cpu_seconds(self) -> float:
        return process_cpu_seconds(self.process.pid)

    def loop_cpu_seconds(self) -> float:
        """The CPU time of the MCU's event loop: `mcu-sim serve` runs it on its main thread
        (app/serve_command.py); the encoders, the compositor and the decoders run on others."""
        return thread_cpu_seconds(self.process.pid, self.process.pid)

    def udp_drops(self) -> int:
        return udp_drops(self.process.pid)

    async def media_stats(self, http: aiohttp.ClientSession) -> list[dict[str, Any]]:
        async with http.get(f"{self.base_url}/stats/media") as response:
            response.raise_for_status()
            return (await response.json())["conferences"]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log.close()


class TerminalsProcess:
    """The child holding every terminal; one JSON line per command and per answer."""

    def __init__(self, process: asyncio.subprocess.Process, uris: list[str],
                 small_uris: list[str]) -> None:
        self.process = process
        self.uris = uris  # sending 720p30
        self.small_uris = small_uris  # sending 640x360

    @classmethod
    async def start(cls, server_url: str, count: int, small_count: int,
                    start_index: int = 0, content: ContentSetup | None = None,
                    room: int | None = None) -> TerminalsProcess:
        content_args = [] if content is None else (
            ["--content-site", str(content.site)]
            + (["--content-codec", content.codec] if content.codec else []))
        if room is not None:
            content_args += ["--room-site", str(room)]
        process = await asyncio.create_subprocess_exec(
            *dies_with_parent([sys.executable]), "-m", "benchmarks.media_load", "--terminals-child",
            "--server", server_url, "--count", str(count), "--small-count", str(small_count),
            "--start-index", str(start_index), "--uri-prefix", URI_PREFIX, *content_args,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )
        ready = await within(cls._read(process), 180)
        if "ready" not in ready:
            raise RuntimeError(f"terminals process: {ready}")
        return cls(process, ready["ready"], ready["small"])

    @staticmethod
    async def _read(process: asyncio.subprocess.Process) -> dict[str, Any]:
        assert process.stdout is not None
        line = await process.stdout.readline()
        if not line:
            raise RuntimeError(f"the terminals process ended (exit {await process.wait()})")
        return json.loads(line)

    async def command(self, **command: Any) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write((json.dumps(command) + "\n").encode())
        await self.process.stdin.drain()
        return await within(self._read(self.process), 30)

    async def stop(self) -> None:
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(b'{"cmd": "stop"}\n')
            await self.process.stdin.drain()
            await within(self.process.wait(), 20)
        except (TimeoutError, ConnectionError):
            self.process.kill()
            await self.process.wait()


class TerminalFleet:
    """The terminals spread over several child processes, one per conference, so that one
    process's GIL does not limit the load generator; commands go to every child and their
    snapshots merge (CPU seconds add up)."""

    def __init__(self, children: list[TerminalsProcess]) -> None:
        self.children = children
        self.uris = [uri for child in children for uri in child.uris]
        self.small_uris = [uri for child in children for uri in child.small_uris]

    @classmethod
    async def start(cls, server_url: str, conferences: int, small_count: int,
                    content: ContentSetup | None = None, room: int | None = None,
                    ) -> TerminalFleet:
        """One child per 4-site conference, and one per SMALL_PER_PROCESS small senders;
        content: a content input for one terminal of the first conference; room: which
        terminal of the first conference is a three-screen room (benchmarks/media_screens.py)."""
        layout = [(4, 0, 4 * index) for index in range(conferences)]
        for first in range(0, small_count, SMALL_PER_PROCESS):
            layout.append((0, min(SMALL_PER_PROCESS, small_count - first),
                           4 * conferences + first))
        started = await asyncio.gather(
            *(TerminalsProcess.start(server_url, count, small, start,
                                     content if number == 0 and count else None,
                                     room if number == 0 and count else None)
              for number, (count, small, start) in enumerate(layout)),
            return_exceptions=True,
        )
        children = [child for child in started if isinstance(child, TerminalsProcess)]
        failure = next((child for child in started if isinstance(child, BaseException)), None)
        if failure is not None:
            await asyncio.gather(*(child.stop() for child in children))
            raise failure
        return cls(children)

    async def command(self, **command: Any) -> dict[str, Any]:
        answers = await asyncio.gather(*(child.command(**command) for child in self.children))
        if command.get("cmd") != "snapshot":
            return answers[0]
        return {
            "at": statistics.mean(answer["at"] for answer in answers),
            "cpu_s": sum(answer["cpu_s"] for answer in answers),
            "terminals": {uri: terminal for answer in answers
                          for uri, terminal in answer["terminals"].items()},
            "latencies_ms": {uri: values for answer in answers
                             for uri, values in answer["latencies_ms"].items()},
            "content_latencies_ms": {uri: values for answer in answers
                                     for uri, values in answer["content_latencies_ms"].items()},
        }

    async def stop(self) -> None:
        await asyncio.gather(*(child.stop() for child in self.children))


# ---------------------------------------------------------------------- SOAP


@dataclass(frozen=True)
class ContentSetup:
    """Which terminal of a conference's process has a content input (its index there), and
    the codec of its content m-line (None: the main video's)."""

    site: int
    codec: str | None = None


@dataclass(frozen=True)
class BookedSite:
    uri: str
    video_format: VideoFormat
    rate: str


@dataclass(frozen=True)
class ConferencePlan:
    name: str
    layout: str  # CP mode name, set for the conference picture
    sites: tuple[BookedSite, ...]
    aux_video_format: VideoFormat | None = None  # the booking's auxVideoFormat
    content_holder: str | None = None  # granted the content floor (setAuxStreamEx) if set
    content_outputs: int = 0  # content encoders the routes imply (0: every receiver forwarded)
    screen_outputs: int = 0  # distinct pictures a multi-screen site's other screens add
    record: bool = False  # setRecordBroadEx start once joined (benchmarks/media_recording.py)
    live: bool = False  # setDirectBroadEx start once joined
    recorder_outputs: int = 0  # encoders the recorder's format adds (0: it shares a group)

    @property
    def probe(self) -> str:
        """The one site that decodes (and measures latency); the others count frames."""
        return self.sites[0].uri

    @property
    def expected_encoders(self) -> int:
        """One CP picture for everyone: one encoder per distinct output format."""
        return len({(site.video_format, site.rate) for site in self.sites}) \
            + self.content_outputs + self.screen_outputs + self.recorder_outputs

    @property
    def content_receivers(self) -> list[str]:
        return [site.uri for site in self.sites if site.uri != self.content_holder] \
            if self.content_holder else []


async def schedule(client: Client, plan: ConferencePlan) -> tuple[str, str]:
    """Book the conference starting now (the runtime starts it and dials out within a
    second); returns (confId, the beginTime sent)."""
    begin = datetime.now(UTC).isoformat(timespec="milliseconds")
    sites = "".join(
        f"<sites><name>{site.uri}</name><uri>{site.uri}</uri><type>7</type><from>0</from>"
        f"<dialingMode>0</dialingMode><rate>{site.rate}</rate>"
        f"<videoFormat>{int(site.video_format)}</videoFormat></sites>"
        for site in plan.sites
    )
    answer = await client.call(
        "tpProfessionalConfMgr", "scheduleConfEx",
        f"<scheduleConf><name>{plan.name}</name><beginTime>{begin}</beginTime>"
        "<duration>PT1H</duration><mediaEncryptType>0</mediaEncryptType>"
        + (f"<auxVideoFormat>{int(plan.aux_video_format)}</auxVideoFormat>"
           if plan.aux_video_format is not None else "")
        + f"<cpResouce>{len(plan.sites)}</cpResouce><presentation>0</presentation>{sites}"
        "</scheduleConf>",
    )
    conf_id = _element(answer, "confId")
    if result_code(answer) != 0 or conf_id is None:
        raise RuntimeError(f"scheduleConfEx: {answer[:400]}")
    return conf_id, begin


async def set_layout(client: Client, conf_id: str, plan: ConferencePlan) -> None:
    sub_pics = "".join(f"<subPics>{site.uri}</subPics>" for site in plan.sites)
    answer = await client.call(
        "tpProfessionalConfCtrl", "setContinuousPresenceEx",
        f"<confId>{conf_id}</confId><target>0</target>"
        f"<presenceMode>{layout_mode(plan.layout).value}</presenceMode>{sub_pics}",
    )
    if result_code(answer) != 0:
        raise RuntimeError(f"setContinuousPresenceEx: {answer[:400]}")


async def grant_content_floor(client: Client, uri: str) -> None:
    """setAuxStreamEx controlCode 0: the MCU, as chair, grants the site the content floor."""
    answer = await client.call(
        "tpProfessionalSiteMgr", "setAuxStreamEx",
        f"<siteUri>{uri}</siteUri><controlCode>0</controlCode>",
    )
    if result_code(answer) != 0:
        raise RuntimeError(f"setAuxStreamEx: {answer[:400]}")


async def set_broadcast(client: Client, operation: str, uri: str, action: int) -> None:
    """setRecordBroadEx / setDirectBroadEx (action 0 start, 1 stop) of the site's
    conference."""
    answer = await client.call(
        "tpProfessionalConfCtrl", operation,
        f"<siteUri>{uri}</siteUri><action>{action}</action>",
    )
    if result_code(answer) != 0:
        raise RuntimeError(f"{operation}: {answer[:400]}")


async def broadcast_status(client: Client, uri: str) -> tuple[int | None, int | None]:
    """queryBroadInfoEx: (recordBroadStatus, directBroadStatus) of the site's conference."""
    answer = await client.call("tpProfessionalConfCtrl", "queryBroadInfoEx",
                               f"<siteUri>{uri}</siteUri>")
    if result_code(answer) != 0:
        raise RuntimeError(f"queryBroadInfoEx: {answer[:400]}")

    def status(name: str) -> int | None:
        value = _element(answer, name)
        return int(value) if value is not None and value.strip() else None

    return status("recordBroadStatus"), status("directBroadStatus")


async def site_states(client: Client, conf_id: str) -> dict[str, int]:
    answer = await client.call(
        "tpProfessionalConfMgr", "queryConfSitesStatusEx", f"<confId>{conf_id}</confId>"
    )
    if result_code(answer) != 0:
        raise RuntimeError(f"queryConfSitesStatusEx: {answer[:400]}")
    states = {}
    for block in answer.split("<siteStatuses>")[1:]:
        uri, status = _element(block, "uri"), _element(block, "status")
        if uri is not None and status is not None:
            states[uri] = int(status)
    return states


async def end_conference(client: Client, conf_id: str, begin: str) -> None:
    answer = await client.call(
        "tpProfessionalConfMgr", "delScheduledConfEx",
        f"<confId>{conf_id}</confId><beginTime>{begin}</beginTime>",
    )
    if result_code(answer) != 0:
        raise RuntimeError(f"delScheduledConfEx: {answer[:400]}")


async def keep_alive(client: Client) -> None:
    answer = await client.call("tpCommon", "KeepAlive")
    if result_code(answer) != 0:
        raise RuntimeError(f"KeepAlive: {answer[:400]}")


async def keep_alive_sleep(client: Client, seconds: float) -> None:
    """Sleep, sending KeepAlive often enough that the SOAP session (60 s) outlives any window."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        await asyncio.sleep(min(left, KEEPALIVE_EVERY_S))
        if deadline - time.monotonic() > 0:
            await keep_alive(client)


def _element(text: str, name: str) -> str | None:
    start = text.find(f"<{name}>")
    if start < 0:
        return None
    start += len(name) + 2
    return text[start : text.find(f"</{name}>", start)]


# ---------------------------------------------------------------------- one scenario


@dataclass
class GroupResult:
    picture: str
    format: str
    sites: int
    encoded_fps: float
    sender_restarts: int  # in the window: a site's sender fell behind and waited for a keyframe

    @property
    def is_content(self) -> bool:
        """A transcoded second stream's encoder (the picture `content:<holder>`)."""
        return self.picture.startswith("content:")


@dataclass
class ContentResult:
    """The shared content at its receivers over the window (their second streams)."""

    holder: str
    receivers: int
    # whose content marker named the holder in the window: the latest analysis, or any
    # latency reading (a content frame's marker matched to the holder's send log)
    receivers_showing_holder: int
    decoded_fps_min: float  # content frames decoded/s, slowest receiver
    decoded_fps: dict[str, float]  # per receiver
    sent_fps: float  # content frames the holder sent/s
    latency_ms_p50: float | None  # content send -> receiver's decoder, every analysed frame
    latency_ms_p95: float | None
    latency_readings: int
    psnr_db_min: float | None  # text region, each receiver's latest analysed frame
    psnr_db_mean: float | None
    ssim_min: float | None
    codecs: dict[str, str | None]  # each site's content m-line codec


@dataclass
class ConferenceResult:
    conf_id: str
    sites: int
    encoders: int
    expected_encoders: int
    groups: list[GroupResult]
    received_fps_min: float  # complete frames received/s, slowest receiver
    received_fps_mean: float
    received_fps_by_format: dict[str, float]  # booked videoFormat -> mean over its receivers
    probe: str
    probe_decoded_fps: float
    probe_keyframes: int  # keyframes received by the probe during the window
    latency_ms_p50: float | None
    latency_ms_p95: float | None
    latency_readings: int
    content: ContentResult | None = None
    # at the window's end, per site: the size the MCU decoded from it ("480x270"; None:
    # nothing yet) and the send ladder's ask ("480x270@15"; None: not asked)
    decoded: dict[str, str | None] = field(default_factory=dict)
    asked: dict[str, str | None] = field(default_factory=dict)
    # distinct Opus mix frames the MCU encoded per second over the window (50 per mix heard)
    audio_mix_fps: float = 0.0
    # the sites' voice frames per second over the window the MCU decoded, and those it left
    # undecoded by their RFC 6464 level (nobody would hear them: docs/signalling.md)
    voice_decoded_fps: float = 0.0
    voice_undecoded_fps: float = 0.0
    # the mix's 20 ms frames received a second by the slowest receiver, and the longest wait
    # between two of them at any receiver over the window (ms)
    audio_received_fps_min: float = 0.0
    audio_gap_ms_max: float = 0.0
    # cuts in the sites' voices as the MCU's mix played them over the window (GET
    # /stats/media: the inputs that ran dry, the 48 kHz samples dropped unplayed)
    voice_underruns: int = 0
    voice_samples_dropped: int = 0


@dataclass
class ScenarioResult:
    name: str
    conferences: int
    sites: int
    window_s: float
    load_average_before: list[float]
    load_average_after: list[float]
    mcu_cpu_percent: float  # of one core (200 = both cores of this machine)
    terminals_cpu_percent: float
    others_cpu_percent: float  # everything else on the machine (other users included)
    mcu_udp_drops: int  # datagrams dropped at the MCU's full input sockets in the window
    encoders: int
    expected_encoders: int
    received_fps_min: float  # the slowest receiver of any conference (decoding or not)
    probe_decoded_fps_min: float  # the slowest probe's decoded frames/s
    latency_ms_p50: float | None
    latency_ms_p95: float | None
    latency_readings: int
    held: bool
    verdict: str
    per_conference: list[ConferenceResult] = field(default_factory=list)
    content: ContentResult | None = None  # the first conference's, when it shares content
    mcu_cpu_pct_per_conference: float = 0.0  # mcu_cpu_percent / conferences
    # of it, the MCU's event loop thread (the packet path, the audio step with its Opus
    # decodes and encodes, the ticks); the rest is its other threads (the video decoders,
    # the compositor and the encoders): see `mcu_split`
    mcu_loop_cpu_pct_per_conference: float = 0.0
    # The codec floor of one of the scenario's conferences (benchmarks/codec_floor.py), measured
    # in the same run right after the scenario, alone, on the same inputs; None: not measured
    floor_cpu_pct: float | None = None
    mcu_to_floor: float | None = None  # mcu_cpu_pct_per_conference / floor_cpu_pct
    # the ratio compares like with like only when the scenario held: an MCU that fell behind
    # encoded (and maybe decoded) fewer frames than the floor's full rate
    mcu_to_floor_valid: bool = False
    floor: dict[str, Any] | None = None  # the floor's parts (decode, encode, compositor beside)
    mcu_split: dict[str, float] | None = None  # mcu_split(): by thread, beside the floor's parts
    # the recordings' MP4 bytes on the MCU's disk at the window's end (None: none recorded)
    recorded_bytes: int | None = None
    send_ladder: bool | None = None  # [mcu] send_ladder as run (None: the MCU's default)
    voice_gate: bool | None = None  # [mcu] voice_gate as run (None: the MCU's default)
    talkers: int | None = None  # sites of each conference that talk (None: all of them)
    # joined to every site decoded at the size the ladder asked of it, before the warm-up
    # (None: not settled within LADDER_SETTLE_TIMEOUT_S; measured all the same)
    ladder_settled_s: float | None = None
    # the slowest receiver's complete frames/s while the ladder settled (the terminals'
    # one-off encoding of their asked loops beside the MCU); None: it took under 1 s
    settle_received_fps_min: float | None = None
    # the mix heard over the window: the slowest receiver's 20 ms frames a second and the
    # longest wait between two frames at any receiver (ms; TARGET_AUDIO_*)
    audio_received_fps_min: float = 0.0
    audio_gap_ms_max: float = 0.0

    @property
    def decoded_sizes(self) -> dict[str, int]:
        """How many sites the MCU decoded at each size at the window's end ("-": none)."""
        sizes: dict[str, int] = {}
        for conference in self.per_conference:
            for size in conference.decoded.values():
                sizes[size or "-"] = sizes.get(size or "-", 0) + 1
        return dict(sorted(sizes.items()))

    @property
    def main_encoded_fps_min(self) -> float:
        """The slowest main-picture encoder group (content encoders run at their own rate)."""
        return min((g.encoded_fps for c in self.per_conference for g in c.groups
                    if not g.is_content), default=0.0)


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


async def run_scenario(
    name: str,
    plans: list[ConferencePlan],
    client: Client,
    mcu: McuProcess,
    terminals: TerminalFleet,
    http: aiohttp.ClientSession,
    *,
    warmup_s: float,
    window_s: float,
    target_fps: float,
    talkers: int | None = None,
) -> ScenarioResult:
    """`talkers`: only the first this many sites of each conference talk, the others are
    silent (None: every site talks, at 0.5)."""
    booked: list[tuple[str, str, ConferencePlan]] = []
    await terminals.command(cmd="probes", uris=[plan.probe for plan in plans])
    if talkers is not None:
        await terminals.command(cmd="silence", uris=[site.uri for plan in plans
                                                     for site in plan.sites[talkers:]])
    try:
        for plan in plans:
            conf_id, begin = await schedule(client, plan)
            booked.append((conf_id, begin, plan))
        await _wait_joined(client, booked)
        for conf_id, _, plan in booked:
            await set_layout(client, conf_id, plan)
        for _, _, plan in booked:
            if plan.content_holder is not None:
                await grant_content_floor(client, plan.content_holder)
                await _wait_content(terminals, plan)
            if plan.record:
                await set_broadcast(client, "setRecordBroadEx", plan.probe, 0)
            if plan.live:
                await set_broadcast(client, "setDirectBroadEx", plan.probe, 0)
        panes = layout_mode(plans[0].layout).panes
        rects = [[float(p.x), float(p.y), float(p.w), float(p.h)] for p in panes]
        await terminals.command(cmd="panes", rects=rects, sample=[p.probe for p in plans])
        settle_from = await terminals.command(cmd="snapshot")
        small = set(terminals.small_uris)
        settle_s = await _wait_ladder_settled(
            mcu, http, client, booked,
            lambda uri: SMALL_VIDEO_FORMAT if uri in small else DEFAULT_TERMINAL_VIDEO_FORMAT)
        settle_fps = slowest_received_fps(settle_from, await terminals.command(cmd="snapshot"),
                                          [plan for _, _, plan in booked])
        await keep_alive_sleep(client, warmup_s)

        before_load = load_average()
        before_child = await terminals.command(cmd="snapshot")  # also drops warm-up latencies
        before_stats = await mcu.media_stats(http)
        before_drops = mcu.udp_drops()
        before_cpu, before_at = mcu.cpu_seconds(), time.monotonic()
        before_loop = mcu.loop_cpu_seconds()
        before_machine, before_self = machine_busy_seconds(), time.process_time()
        await keep_alive_sleep(client, window_s)
        after_cpu, after_at = mcu.cpu_seconds(), time.monotonic()
        after_loop = mcu.loop_cpu_seconds()
        after_drops = mcu.udp_drops()
        after_machine, after_self = machine_busy_seconds(), time.process_time()
        after_stats = await mcu.media_stats(http)
        after_child = await terminals.command(cmd="snapshot")
        after_load = load_average()
        # what the recorders and broadcasts were doing at the window's end (both 1 when
        # running, as queryBroadInfoEx answers from what runs)
        broadcasting = [(plan, await broadcast_status(client, plan.probe))
                        for _, _, plan in booked if plan.record or plan.live]
        recorded = (sum(path.stat().st_size for path in
                        (mcu.data_dir / "recordings").rglob("*.mp4"))
                    if any(plan.record for plan in plans) else None)
    finally:
        for conf_id, begin, _ in booked:
            await end_conference(client, conf_id, begin)
    await _wait_idle(terminals)
    # The ended conferences end at the delete's moment; the scheduler drops the sub-second
    # part of the next booking's begin, so booking within the same second would overlap.
    await asyncio.sleep(1.0)

    elapsed = after_at - before_at
    child_elapsed = after_child["at"] - before_child["at"]
    mcu_cpu = after_cpu - before_cpu
    terminals_cpu = after_child["cpu_s"] - before_child["cpu_s"]
    others_cpu = (after_machine - before_machine) - mcu_cpu - terminals_cpu \
        - (after_self - before_self)
    conferences = [
        _conference_result(conf_id, plan, before_stats, after_stats, before_child, after_child,
                           elapsed, child_elapsed)
        for conf_id, _, plan in booked
    ]
    latencies = [value for values in after_child["latencies_ms"].values() for value in values]
    received = min(result.received_fps_min for result in conferences)
    probe_decoded = min(result.probe_decoded_fps for result in conferences)
    p95 = percentile(latencies, 0.95)
    misses = []
    if received < target_fps:
        misses.append(f"a receiver got {received} fps < {target_fps}")
    if probe_decoded < target_fps:
        misses.append(f"a probe decoded {probe_decoded} fps < {target_fps}")
    if p95 is None or p95 > TARGET_P95_MS:
        misses.append(f"latency p95 {p95} ms > {TARGET_P95_MS}")
    audio_fps = min(result.audio_received_fps_min for result in conferences)
    audio_gap = max(result.audio_gap_ms_max for result in conferences)
    misses += audio_misses(audio_fps, audio_gap)
    encoders = sum(result.encoders for result in conferences)
    expected = sum(result.expected_encoders for result in conferences)
    if encoders != expected:
        misses.append(f"{encoders} encoders for {expected} distinct outputs")
    if recorded == 0:
        misses.append("the recordings hold no bytes")
    for plan, (recording, live) in broadcasting:
        if plan.record and recording != 1:
            misses.append(f"{plan.name}: recordBroadStatus {recording} at the window's end")
        if plan.live and live != 1:
            misses.append(f"{plan.name}: directBroadStatus {live} at the window's end")
    content = next((result.content for result in conferences if result.content), None)
    if content is not None and content.receivers_showing_holder < content.receivers:
        misses.append(f"{content.receivers - content.receivers_showing_holder} receivers "
                      "did not show the holder's content")
    return ScenarioResult(
        name=name,
        conferences=len(plans),
        sites=sum(len(plan.sites) for plan in plans),
        window_s=round(elapsed, 1),
        load_average_before=before_load,
        load_average_after=after_load,
        mcu_cpu_percent=round(100 * mcu_cpu / elapsed, 1),
        mcu_cpu_pct_per_conference=round(100 * mcu_cpu / elapsed / len(plans), 1),
        mcu_loop_cpu_pct_per_conference=round(
            100 * (after_loop - before_loop) / elapsed / len(plans), 1),
        terminals_cpu_percent=round(100 * terminals_cpu / child_elapsed, 1),
        others_cpu_percent=round(max(0.0, 100 * others_cpu / elapsed), 1),
        mcu_udp_drops=after_drops - before_drops,
        encoders=encoders,
        expected_encoders=expected,
        received_fps_min=received,
        probe_decoded_fps_min=probe_decoded,
        latency_ms_p50=percentile(latencies, 0.50),
        latency_ms_p95=p95,
        latency_readings=len(latencies),
        held=not misses,
        verdict="held" if not misses else "; ".join(misses),
        per_conference=conferences,
        content=content,
        recorded_bytes=recorded,
        ladder_settled_s=None if settle_s is None else round(settle_s, 1),
        settle_received_fps_min=settle_fps,
        audio_received_fps_min=round(audio_fps, 2),
        audio_gap_ms_max=audio_gap,
    )


async def _wait_joined(client: Client, booked: list[tuple[str, str, ConferencePlan]]) -> None:
    deadline = time.monotonic() + JOIN_TIMEOUT_S
    while True:
        missing = []
        for conf_id, _, plan in booked:
            try:
                states = await site_states(client, conf_id)
            except RuntimeError:  # not started yet (the runtime reconciles every second)
                states = {}
            missing += [site.uri for site in plan.sites
                        if states.get(site.uri) != SiteCallState.IN_CONFERENCE]
        if not missing:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"sites not in conference after {JOIN_TIMEOUT_S} s: {missing}")
        await asyncio.sleep(0.5)


def audio_misses(fps_min: float, gap_ms_max: float) -> list[str]:
    """What the mix heard misses of TARGET_AUDIO_*: the slowest receiver's 20 ms frames a
    second (compared unrounded: 48.96 is short) and the longest wait at any receiver."""
    misses = []
    if fps_min < TARGET_AUDIO_FPS:
        misses.append(f"a receiver heard {fps_min:.2f} audio frames/s < {TARGET_AUDIO_FPS}")
    if gap_ms_max > TARGET_AUDIO_GAP_MS:
        misses.append(f"a receiver waited {gap_ms_max} ms for audio > {TARGET_AUDIO_GAP_MS}")
    return misses


def received_rates(before: dict[str, Any], after: dict[str, Any], sites: Iterable[BookedSite],
                   elapsed: float) -> dict[str, float]:
    """Each site's complete frames received a second between two snapshots of the terminals."""
    return {site.uri: (after["terminals"][site.uri]["frames_received"]
                       - before["terminals"][site.uri]["frames_received"]) / elapsed
            for site in sites}


def slowest_received_fps(before: dict[str, Any], after: dict[str, Any],
                         plans: list[ConferencePlan]) -> float | None:
    """The slowest site's complete frames received a second between two snapshots of the
    terminals (`frames_received`, `at`); None under 1 s apart (too few frames to say)."""
    elapsed = after["at"] - before["at"]
    if elapsed < 1.0:
        return None
    rates = received_rates(before, after, (site for plan in plans for site in plan.sites),
                           elapsed)
    return round(min(rates.values()), 1) if rates else None


def sent_for_ask(own: TerminalVideoFormat, ask: str) -> TerminalVideoFormat:
    """What a terminal sending `own` sends for the send ladder's ask "960x540@30"
    (terminals/media_sources.ladder_format)."""
    size, _, fps = ask.partition("@")
    width, _, height = size.partition("x")
    return ladder_format(own, int(width), int(height), int(fps))


def unsettled_sites(stats: list[dict[str, Any]],
                    booked: list[tuple[str, str, ConferencePlan]],
                    own_format: Callable[[str], TerminalVideoFormat]) -> list[str]:
    """The booked sites whose video the MCU does not decode yet at the size their terminal
    sends for the send ladder's ask (GET /stats/media's `inputs`: `asked` "960x540@30",
    `decoded` "960x540"; the terminal sends `ladder_format(own_format(uri), ...)`: the
    size asked, or its own when the ask is larger), or, where nothing was asked, not at all
    yet."""
    inputs_of = {conference["conf_id"]: conference.get("inputs", {}) for conference in stats}
    unsettled = []
    for conf_id, _, plan in booked:
        inputs = inputs_of.get(conf_id, {})
        for site in plan.sites:
            entry = inputs.get(site.uri, {})
            asked, decoded = entry.get("asked"), entry.get("decoded")
            if decoded is None:
                unsettled.append(site.uri)
            elif asked is not None:
                sent = sent_for_ask(own_format(site.uri), asked)
                if decoded != f"{sent.width}x{sent.height}":
                    unsettled.append(site.uri)
    return unsettled


async def _wait_ladder_settled(mcu: McuProcess, http: aiohttp.ClientSession, client: Client,
                               booked: list[tuple[str, str, ConferencePlan]],
                               own_format: Callable[[str], TerminalVideoFormat],
                               timeout: float = LADDER_SETTLE_TIMEOUT_S) -> float | None:
    """Until the MCU decodes every site at the size its terminal sends for the send ladder's
    ask (each terminal has encoded its loop at that size, once, and switched to it at a
    keyframe), on two polls in a row, none before LADDER_HOLD_S (until then the asks may
    be the previous layout's), at most `timeout`; the seconds it took, None if some site had not settled
    by then (it is measured all the same, and says so on stderr). KeepAlive meanwhile, as
    keep_alive_sleep. The terminals' one-off encoding of their asked loop
    (terminals/camera_track.LoopCache) shares this machine's cores with the MCU; measured
    before it ends, a window would charge that start-up to the MCU's steady state
    (docs/benchmarks.md, "Stop 18")."""

    async def unsettled() -> list[str]:
        return unsettled_sites(await mcu.media_stats(http), booked, own_format)

    return await _poll_until_settled(unsettled, client, timeout)


async def _poll_until_settled(unsettled: Callable[[], Awaitable[list[str]]], client: Client,
                              timeout: float) -> float | None:
    """Poll `unsettled()` every SETTLE_POLL_S until it names nobody on two polls in a row,
    none counted before LADDER_HOLD_S, at most `timeout`; the seconds it took, or None (and
    the sites still unsettled on stderr). KeepAlive meanwhile, as keep_alive_sleep."""
    started = kept_alive = time.monotonic()
    settled_polls = 0
    while True:
        left = await unsettled()
        now = time.monotonic()
        settled_polls = 0 if left or now - started < LADDER_HOLD_S else settled_polls + 1
        if settled_polls == 2:
            return now - started
        if now - started > timeout:
            print(f"the send ladder had not settled after {timeout:.0f} s at {left}",
                  file=sys.stderr, flush=True)
            return None
        if now - kept_alive > KEEPALIVE_EVERY_S:
            await keep_alive(client)
            kept_alive = now
        await asyncio.sleep(SETTLE_POLL_S)


def unsettled_senders(snapshot: dict[str, Any], uris: Sequence[str]) -> list[str]:
    """The terminals of `uris` whose video does not go out yet at the format of the latest
    send_video request they got (their own, none asked): a fleet snapshot's `sending` and
    `asked` (benchmarks/media_terminals.py)."""
    terminals = snapshot["terminals"]
    return [uri for uri in uris
            if terminals[uri]["sending"] is None
            or terminals[uri]["sending"] != terminals[uri]["asked"]]


async def wait_senders_settled(fleet: TerminalFleet, client: Client, uris: Sequence[str],
                               timeout: float = LADDER_SETTLE_TIMEOUT_S) -> float | None:
    """_wait_ladder_settled seen from the terminals, for an MCU without an HTTP port to
    ask (benchmarks/node_scaling.py's nodes): until every terminal of `uris` sends its loop
    at the format the MCU's latest request asked (encoded, and switched to at a keyframe),
    with no new request between two polls in a row, none before LADDER_HOLD_S, at most
    `timeout`; the seconds it took, None if some terminal had not settled by then (measured
    all the same, said on stderr). A terminal that ignores requests settles at its own
    format; one outside a call, or sending no video, never does (it waits the whole
    `timeout`). KeepAlive meanwhile."""
    asks_before: dict[str, int] = {}

    async def unsettled() -> list[str]:
        snapshot = await fleet.command(cmd="snapshot")
        asks = {uri: snapshot["terminals"][uri]["asks"] for uri in uris}
        # a terminal asked again since the previous poll has not settled either
        asked_again = [uri for uri in uris if asks_before.get(uri) != asks[uri]]
        asks_before.update(asks)
        sending_other = unsettled_senders(snapshot, uris)
        return sending_other + [uri for uri in asked_again if uri not in sending_other]

    return await _poll_until_settled(unsettled, client, timeout)


async def _wait_content(terminals: TerminalFleet, plan: ConferencePlan,
                        timeout: float = 30.0) -> None:
    """Until every receiver's second stream shows the holder's content (its marker), at most
    `timeout`: a receiver still without it is measured all the same, and the scenario's
    verdict says so (a starved MCU may not get a whole keyframe through)."""
    deadline = time.monotonic() + timeout
    while True:
        snapshot = await terminals.command(cmd="snapshot")
        missing = [uri for uri in plan.content_receivers
                   if snapshot["terminals"][uri]["content"]["site"] != plan.content_holder]
        if not missing:
            return
        if time.monotonic() > deadline:
            print(f"no content from {plan.content_holder} after {timeout} s at {missing}",
                  file=sys.stderr, flush=True)
            return
        await asyncio.sleep(0.5)


async def _wait_idle(terminals: TerminalFleet, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        snapshot = await terminals.command(cmd="snapshot")
        if all(t["state"] == "idle" for t in snapshot["terminals"].values()):
            return
        await asyncio.sleep(0.5)
    raise RuntimeError("terminals still in calls after the conferences ended")


def _conference_result(
    conf_id: str,
    plan: ConferencePlan,
    before_stats: list[dict[str, Any]],
    after_stats: list[dict[str, Any]],
    before_child: dict[str, Any],
    after_child: dict[str, Any],
    elapsed: float,
    child_elapsed: float,
) -> ConferenceResult:
    def groups_of(stats: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
        for conference in stats:
            if conference["conf_id"] == conf_id:
                return {(g["picture"], g["format"]): g for g in conference["groups"]}
        return {}

    inputs: dict[str, dict[str, str | None]] = next(
        (conference.get("inputs", {}) for conference in after_stats
         if conference["conf_id"] == conf_id), {})

    def mix_frames(stats: list[dict[str, Any]]) -> int:
        return next((int(conference.get("audio_frames_encoded", 0)) for conference in stats
                     if conference["conf_id"] == conf_id), 0)

    def voice_frames(stats: list[dict[str, Any]], counted: str) -> int:
        found: dict[str, dict[str, Any]] = next(
            (conference.get("inputs", {}) for conference in stats
             if conference["conf_id"] == conf_id), {})
        return sum(int(entry.get(counted, 0)) for entry in found.values())

    def voice_fps(counted: str) -> float:
        return round((voice_frames(after_stats, counted) - voice_frames(before_stats, counted))
                     / elapsed, 1)

    before_groups, after_groups = groups_of(before_stats), groups_of(after_stats)
    groups = [
        GroupResult(
            picture=key[0],
            format=key[1],
            sites=len(group["sites"]),
            encoded_fps=round(
                (group["frames_encoded"] - before_groups.get(key, {}).get("frames_encoded", 0))
                / elapsed, 1),
            sender_restarts=group["sender_restarts"]
            - before_groups.get(key, {}).get("sender_restarts", 0),
        )
        for key, group in after_groups.items()
    ]
    rates = received_rates(before_child, after_child, plan.sites, child_elapsed)
    by_format: dict[str, list[float]] = {}
    for site in plan.sites:
        by_format.setdefault(site.video_format.name, []).append(rates[site.uri])
    probe_then = before_child["terminals"][plan.probe]
    probe_now = after_child["terminals"][plan.probe]
    if not probe_now["decoding"]:
        raise RuntimeError(f"the probe {plan.probe} did not decode")
    latencies = [value for site in plan.sites
                 for value in after_child["latencies_ms"].get(site.uri, [])]
    return ConferenceResult(
        conf_id=conf_id,
        sites=len(plan.sites),
        encoders=len(after_groups),
        expected_encoders=plan.expected_encoders,
        groups=groups,
        received_fps_min=round(min(rates.values()), 1),
        received_fps_mean=round(statistics.mean(rates.values()), 1),
        received_fps_by_format={name: round(statistics.mean(v), 1)
                                for name, v in by_format.items()},
        probe=plan.probe,
        probe_decoded_fps=round(
            (probe_now["frames_decoded"] - probe_then["frames_decoded"]) / child_elapsed, 1),
        probe_keyframes=probe_now["keyframes_received"] - probe_then["keyframes_received"],
        latency_ms_p50=percentile(latencies, 0.50),
        latency_ms_p95=percentile(latencies, 0.95),
        latency_readings=len(latencies),
        content=_content_result(plan, before_child, after_child, child_elapsed),
        decoded={site.uri: inputs.get(site.uri, {}).get("decoded") for site in plan.sites},
        asked={site.uri: inputs.get(site.uri, {}).get("asked") for site in plan.sites},
        audio_mix_fps=round((mix_frames(after_stats) - mix_frames(before_stats)) / elapsed, 1),
        voice_decoded_fps=voice_fps("voice_frames_decoded"),
        voice_undecoded_fps=voice_fps("voice_frames_undecoded"),
        voice_underruns=(voice_frames(after_stats, "voice_underruns")
                         - voice_frames(before_stats, "voice_underruns")),
        voice_samples_dropped=(voice_frames(after_stats, "voice_samples_dropped")
                               - voice_frames(before_stats, "voice_samples_dropped")),
        audio_received_fps_min=round(min(
            (after_child["terminals"][site.uri]["audio_frames_received"]
             - before_child["terminals"][site.uri]["audio_frames_received"]) / child_elapsed
            for site in plan.sites), 2),
        # the wait of the period since the window's first snapshot (terminals/arrival_gaps.py)
        audio_gap_ms_max=max(float(after_child["terminals"][site.uri]["audio_gap_max_ms"])
                             for site in plan.sites),
    )


def _content_result(plan: ConferencePlan, before_child: dict[str, Any],
                    after_child: dict[str, Any], child_elapsed: float) -> ContentResult | None:
    holder = plan.content_holder
    if holder is None:
        return None
    receivers = plan.content_receivers
    now = {uri: after_child["terminals"][uri]["content"] for uri in [holder, *receivers]}
    then = {uri: before_child["terminals"][uri]["content"] for uri in [holder, *receivers]}
    decoded = [(now[uri]["frames_decoded"] - then[uri]["frames_decoded"]) / child_elapsed
               for uri in receivers]
    latencies = [value for uri in receivers
                 for value in after_child["content_latencies_ms"].get(uri, [])]
    psnrs = [now[uri]["psnr_db"] for uri in receivers if now[uri]["psnr_db"] is not None]
    ssims = [now[uri]["ssim"] for uri in receivers if now[uri]["ssim"] is not None]
    return ContentResult(
        holder=holder,
        receivers=len(receivers),
        receivers_showing_holder=sum(
            now[uri]["site"] == holder or bool(after_child["content_latencies_ms"].get(uri))
            for uri in receivers),
        decoded_fps_min=round(min(decoded), 1),
        decoded_fps=dict(zip(receivers, (round(value, 1) for value in decoded), strict=True)),
        sent_fps=round((now[holder]["frames_sent"] - then[holder]["frames_sent"])
                       / child_elapsed, 1),
        latency_ms_p50=percentile(latencies, 0.50),
        latency_ms_p95=percentile(latencies, 0.95),
        latency_readings=len(latencies),
        psnr_db_min=round(min(psnrs), 2) if psnrs else None,
        psnr_db_mean=round(statistics.mean(psnrs), 2) if psnrs else None,
        ssim_min=round(min(ssims), 4) if ssims else None,
        codecs={uri: now[uri]["codec"] for uri in [holder, *receivers]},
    )


# ---------------------------------------------------------------------- the run


def four_site_plans(count: int, uris: list[str]) -> list[ConferencePlan]:
    return [
        ConferencePlan(
            f"bench 4-site {index + 1}", "CP_4_1",
            tuple(BookedSite(uri, VideoFormat.HD1080P30, RATE_1080P)
                  for uri in uris[4 * index : 4 * index + 4]),
        )
        for index in range(count)
    ]


def sixteen_site_plan(uris: list[str]) -> ConferencePlan:
    """uris: sixteen terminals sending 640x360; the first (the probe) receives 1080p30."""
    sites = [BookedSite(uris[0], VideoFormat.HD1080P30, RATE_1080P)]
    sites += [BookedSite(uri, VideoFormat.CIF4, RATE_4CIF) for uri in uris[1:16]]
    return ConferencePlan("bench 16-site", "CP_16_1", tuple(sites))


def floor_scenario(plan: ConferencePlan, sent: TerminalVideoFormat) -> FloorScenario:
    """The codec work of one conference of the plan: every site sending `sent` (what its
    terminal sends), one H.264 output per distinct booked (videoFormat, rate), as the
    MCU's output_format_for makes it (the terminals negotiate H.264)."""
    outputs = []
    for video_format, rate in dict.fromkeys((s.video_format, s.rate) for s in plan.sites):
        size = FORMAT_SIZES[video_format]
        bitrate = parse_rate(rate)
        if bitrate is None:
            raise ValueError(f"unreadable rate {rate!r}")
        outputs.append(OutputFormat(H264, size.width, size.height, size.fps, bitrate))
    return FloorScenario(plan.name, plan.layout, (sent,) * len(plan.sites), tuple(outputs))


async def measure_floor_apart(scenario: FloorScenario, seconds: float) -> dict[str, Any]:
    """The scenario's codec floor in a child process of its own (benchmarks/codec_floor.py),
    so that its process CPU time is the codec work alone."""
    process = await asyncio.create_subprocess_exec(
        *dies_with_parent([sys.executable]), "-m", "benchmarks.codec_floor", "--spec", json.dumps(scenario.to_json()),
        "--seconds", str(seconds), "--json", "-", stdout=asyncio.subprocess.PIPE,
    )
    output, _ = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"codec floor of {scenario.name}: exit {process.returncode}")
    answer: dict[str, Any] = json.loads(output)[0]
    return answer


def floor_as_run(scenario: FloorScenario, result: ScenarioResult,
                 sent: TerminalVideoFormat) -> FloorScenario:
    """The floor's inputs as the scenario ran them (its first conference; they are alike):
    each site's video at what the send ladder asked of it (the format its terminal then
    sends, terminals/media_sources.ladder_format; `sent` where nothing was asked), as many
    voices decoded per frame as the MCU decoded (it leaves a voice nobody would hear
    undecoded; every site's when it counted none either way) and as many distinct mixes
    encoded per frame as the MCU did."""
    if not result.per_conference:
        return scenario
    conference = result.per_conference[0]
    asks = list(conference.asked.values())
    sources = list(scenario.sources)
    for index, ask in enumerate(asks[:len(sources)]):
        if ask:
            sources[index] = sent_for_ask(sent, ask)
    mixes = round(conference.audio_mix_fps / AUDIO_FRAMES_PER_SECOND, 3)
    voices = conference.voice_decoded_fps + conference.voice_undecoded_fps
    audio_sites = len(sources) if voices <= 0 else min(len(sources), round(
        len(sources) * conference.voice_decoded_fps / voices))
    return dataclasses.replace(scenario, sources=tuple(sources), audio_sites=audio_sites,
                               audio_mixes=mixes)


def mcu_split(mcu_pct: float, loop_pct: float, floor: dict[str, Any]) -> dict[str, float]:
    """One conference's MCU CPU by thread, each beside the part of the codec floor that
    thread runs (all in % of one core): the event loop runs the Opus decodes and encodes
    (the floor's audio), the other threads the video decodes and encodes and the compositor
    (the floor's video, and the compositor measured beside it). `*_over` is what a thread
    spends beyond its codecs; `mcu_to_floor_loop_at_codecs` is the MCU / floor ratio the
    other threads alone would allow, were the loop to cost no more than its Opus: the bound
    on what any change to the loop's own work (the packet path, the audio step's glue, the
    ticks) can reach."""
    floor_pct = float(floor["floor_cpu_pct"])
    loop_floor = float(floor["audio_decode_cpu_pct"]) + float(floor["audio_encode_cpu_pct"])
    threads_floor = float(floor["video_floor_cpu_pct"]) + float(floor["compositor_cpu_pct"])
    threads = mcu_pct - loop_pct
    return {
        "loop_pct": round(loop_pct, 1),
        "loop_floor_pct": round(loop_floor, 2),
        "loop_over_pct": round(loop_pct - loop_floor, 1),
        "threads_pct": round(threads, 1),
        "threads_floor_pct": round(threads_floor, 2),
        "threads_over_pct": round(threads - threads_floor, 1),
        "mcu_to_floor_loop_at_codecs": (round((threads + loop_floor) / floor_pct, 2)
                                        if floor_pct else 0.0),
    }


async def with_floor(result: ScenarioResult, scenario: FloorScenario,
                     seconds: float) -> ScenarioResult:
    """The result with its conference's codec floor, measured now (after the scenario's
    processes stopped) over the same window of media, and the MCU's ratio to it."""
    floor = await measure_floor_apart(scenario, seconds)
    result.floor = floor
    result.floor_cpu_pct = floor["floor_cpu_pct"]
    if result.floor_cpu_pct:
        result.mcu_to_floor = round(result.mcu_cpu_pct_per_conference / result.floor_cpu_pct, 2)
        result.mcu_to_floor_valid = result.held
    print(f"  floor of one conference: {result.floor_cpu_pct} % (video decode "
          f"{floor['decode_cpu_pct']} + encode {floor['encode_cpu_pct']}, audio decode "
          f"{floor['audio_decode_cpu_pct']} + encode {floor['audio_encode_cpu_pct']}; video "
          f"alone {floor['video_floor_cpu_pct']}; compositor "
          f"{floor['compositor_cpu_pct']} beside); MCU per conference "
          f"{result.mcu_cpu_pct_per_conference} % = {result.mcu_to_floor} x the floor"
          + ("" if result.mcu_to_floor_valid else " (not comparable: the scenario missed)"),
          flush=True)
    split = result.mcu_split = mcu_split(result.mcu_cpu_pct_per_conference,
                                         result.mcu_loop_cpu_pct_per_conference, floor)
    print(f"  of it the event loop {split['loop_pct']} % (its codecs, the floor's audio: "
          f"{split['loop_floor_pct']}; {split['loop_over_pct']} over), the other threads "
          f"{split['threads_pct']} % (the floor's video and the compositor: "
          f"{split['threads_floor_pct']}; {split['threads_over_pct']} over); with the loop "
          f"at its codecs alone the MCU would be {split['mcu_to_floor_loop_at_codecs']} x "
          "the floor"
          + ("" if result.mcu_to_floor_valid else " (not comparable: the scenario missed)"),
          flush=True)
    return result


async def measure(args: argparse.Namespace) -> list[ScenarioResult]:
    """Every scenario on a freshly started MCU and terminals, so that what a saturated
    scenario leaves behind (its ended calls' sockets and threads, a grown heap) does not
    weigh on the next one; each followed by its codec floor, alone."""
    timing: dict[str, Any] = {"warmup_s": args.warmup, "window_s": args.window,
                              "talkers": args.talkers}
    results: list[ScenarioResult] = []
    four_site_floor = floor_scenario(four_site_plans(1, [f"s{i}" for i in range(4)])[0],
                                     DEFAULT_TERMINAL_VIDEO_FORMAT)
    ladders: list[bool | None] = LADDER_CHOICES[args.ladder]
    holding = list(ladders)  # the settings whose previous count held
    for count in range(1, args.max_conferences + 1):

        def plans_for(fleet: TerminalFleet, count: int = count) -> list[ConferencePlan]:
            return four_site_plans(count, fleet.uris)

        for ladder in list(holding):
            result = await measure_fresh(
                f"{count} x 4-site 1080p30{ladder_label(ladder)}", plans_for, count, 0,
                TARGET_FPS, timing, send_ladder=ladder, voice_gate=args.voice_gate)
            results.append(await with_floor(
                result, floor_as_run(four_site_floor, result, DEFAULT_TERMINAL_VIDEO_FORMAT),
                args.window))
            if not result.held:
                holding.remove(ladder)
        if not holding:
            break
    if not args.skip_16:
        sixteen_floor = floor_scenario(sixteen_site_plan([f"s{i}" for i in range(16)]),
                                       SMALL_VIDEO_FORMAT)
        for ladder in ladders:
            result = await measure_fresh(
                f"1 x 16-site CP_16_1{ladder_label(ladder)}",
                lambda fleet: [sixteen_site_plan(fleet.small_uris)], 0, 16, TARGET_16_FPS,
                timing, send_ladder=ladder, voice_gate=args.voice_gate)
            print(f"  the MCU decoded from its sites (size: sites): {result.decoded_sizes}",
                  flush=True)
            results.append(await with_floor(
                result, floor_as_run(sixteen_floor, result, SMALL_VIDEO_FORMAT), args.window))
    return results


# --ladder: the `[mcu] send_ladder` settings each 4-site and 16-site scenario runs with, in
# this order (None: the MCU's default, no --config)
LADDER_CHOICES: dict[str, list[bool | None]] = {
    "default": [None], "on": [True], "off": [False], "both": [True, False]}


def ladder_label(ladder: bool | None) -> str:
    return "" if ladder is None else f", ladder {'on' if ladder else 'off'}"


async def measure_fresh(
    name: str,
    plans_for: Callable[[TerminalFleet], list[ConferencePlan]],
    conferences: int,
    small_count: int,
    target_fps: float,
    timing: dict[str, Any],
    content: ContentSetup | None = None,
    room: int | None = None,
    send_ladder: bool | None = None,
    voice_gate: bool | None = None,
) -> ScenarioResult:
    """Start the MCU and the terminals one scenario needs, measure it, stop them.
    `send_ladder`, `voice_gate`: `[mcu] send_ladder` and `[mcu] voice_gate` for this MCU
    (None: its default)."""
    with tempfile.TemporaryDirectory(prefix="media-bench-") as temp:
        mcu = McuProcess(Path(temp) / "data", Path(temp) / "mcu.log", send_ladder,
                         voice_gate)
        terminals: TerminalFleet | None = None
        client: Client | None = None
        try:
            await mcu.wait_until_up()
            client = Client(mcu.soap_url)
            await client.login(*ACCOUNT)
            started = time.monotonic()
            terminals = await TerminalFleet.start(mcu.signalling_url, conferences, small_count,
                                                  content, room)
            print(f"{name}: {4 * conferences} + {small_count} terminals registered in "
                  f"{time.monotonic() - started:.0f} s, in {len(terminals.children)} "
                  "processes", flush=True)
            async with aiohttp.ClientSession() as http:
                result = await run_scenario(name, plans_for(terminals), client, mcu, terminals,
                                            http, target_fps=target_fps, **timing)
            result.send_ladder = send_ladder
            result.voice_gate = voice_gate
            result.talkers = timing.get("talkers")
            print_row(result)
            return result
        except BaseException:
            log_tail = (Path(temp) / "mcu.log").read_text(errors="replace")[-3000:]
            print(f"--- MCU log (tail)\n{log_tail}", file=sys.stderr)
            raise
        finally:
            if client is not None:
                await client.close()
            if terminals is not None:
                await terminals.stop()
            mcu.stop()


HEADER = (f"{'scenario':<22}{'MCU cpu%':>9}{'term cpu%':>10}{'other%':>8}{'enc':>6}{'rx fps':>8}"
          f"{'probe fps':>10}{'enc fps':>9}{'p50 ms':>8}{'p95 ms':>8}{'load1':>7}  verdict")
LEGEND = ("rx fps = complete frames/s received by the slowest receiver (decoded or not); "
          "probe fps = frames/s decoded by the slowest probe (one decoding terminal per "
          "conference); enc fps = the slowest encoder group; latency = glass to glass on the "
          "probes; CPU in % of one core")


def print_row(result: ScenarioResult) -> None:
    encoded = result.main_encoded_fps_min
    print(f"{result.name:<22}{result.mcu_cpu_percent:>9}{result.terminals_cpu_percent:>10}"
          f"{result.others_cpu_percent:>8}"
          f"{f'{result.encoders}/{result.expected_encoders}':>6}{result.received_fps_min:>8}"
          f"{result.probe_decoded_fps_min:>10}{encoded:>9}{_ms(result.latency_ms_p50):>8}{_ms(result.latency_ms_p95):>8}"
          f"{result.load_average_after[0]:>7}  {result.verdict}", flush=True)
    settled, during = result.ladder_settled_s, result.settle_received_fps_min
    print("  every site sent what the send ladder asked "
          + (f"{settled} s after the layout was set" if settled is not None
             else f"(not within {LADDER_SETTLE_TIMEOUT_S:.0f} s)")
          + ("" if during is None else f" (the slowest receiver meanwhile: {during} fps)")
          + "; then the warm-up and the window", flush=True)
    underruns = sum(c.voice_underruns for c in result.per_conference)
    dropped = sum(c.voice_samples_dropped for c in result.per_conference)
    print(f"  the mix heard: the slowest receiver {result.audio_received_fps_min} frames/s of 20 ms"
          f" (target {TARGET_AUDIO_FPS}), the longest wait between two "
          f"{result.audio_gap_ms_max:.0f} ms (target {TARGET_AUDIO_GAP_MS:.0f}); in the MCU's "
          f"mix, the sites' voices ran dry {underruns} times and {dropped / 48:.0f} ms of them "
          "were dropped unplayed (all sites)", flush=True)


def _value(value: float | None) -> str:
    return "-" if value is None else str(value)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def summary(results: list[ScenarioResult]) -> dict[str, Any]:
    """The conclusion of the 4-site and 16-site scenarios; with the ladder run both ways
    (--ladder both), of those with it on, and `ladder_off` the same for those with it off."""
    settings = list(dict.fromkeys(r.send_ladder for r in results))
    if len(settings) > 1:
        conclusion = _summary([r for r in results if r.send_ladder is not False])
        conclusion["ladder_off"] = _summary([r for r in results if r.send_ladder is False])
        return conclusion
    return _summary(results)


def _summary(results: list[ScenarioResult]) -> dict[str, Any]:
    four = [r for r in results if "4-site 1080p30" in r.name]
    held = [r.conferences for r in four if r.held]
    sixteen = next((r for r in results if "16-site" in r.name), None)
    one = next((r for r in four if r.conferences == 1), None)
    three = next((r for r in four if r.conferences == 3), None)
    return {
        "send_ladder": results[0].send_ladder if results else None,
        "max_concurrent_4site_1080p30": max(held, default=0),
        # one 4-site conference: the MCU's CPU against its codec floor (the issue 17 target
        # is <= 1.3)
        "floor_4site_cpu_pct": one.floor_cpu_pct if one else None,
        "mcu_cpu_pct_4site": one.mcu_cpu_pct_per_conference if one else None,
        "mcu_to_floor_4site": one.mcu_to_floor if one else None,
        "mcu_to_floor_4site_valid": one.mcu_to_floor_valid if one else None,
        # the same conference's MCU CPU by thread beside the floor's parts (mcu_split;
        # comparable only when mcu_to_floor_4site_valid)
        "mcu_split_4site": one.mcu_split if one else None,
        "target_4site": 2,
        "three_4site_rx_fps": three.received_fps_min if three else None,
        "three_4site_p95_ms": three.latency_ms_p95 if three else None,
        "sixteen_site_fps": sixteen.received_fps_min if sixteen else None,
        "sixteen_site_held": sixteen.held if sixteen else None,
        # the sizes the MCU decoded from the 16 sites at the window's end (size: sites)
        "sixteen_site_decoded": sixteen.decoded_sizes if sixteen else None,
        "encoders_equal_distinct_outputs": all(r.encoders == r.expected_encoders for r in results),
    }


def markdown(results: list[ScenarioResult], conclusion: dict[str, Any]) -> str:
    lines = [
        "# Media load",
        "",
        f"Run {datetime.now(UTC).isoformat(timespec='seconds')} on {os.cpu_count()} cores; "
        "MCU and terminals (one process per 4-site conference, two for the 16-site one) in "
        "separate processes on this "
        "machine. One probe per conference "
        "decodes; the other terminals count the frames they receive without decoding. "
        "rx fps = the slowest receiver's complete frames received/s (decoded or not); "
        "probe fps = the slowest probe's decoded frames/s; "
        "enc fps = the slowest encoder group's frames/s; "
        "CPU in % of one core (the machine has "
        f"{100 * (os.cpu_count() or 1)} %); other = every other process on the machine during "
        "the window (other users included); latency = glass to glass (send -> MCU -> "
        "probe's decoder).",
        "",
        "Codec floor (benchmarks/codec_floor.py): one conference's video and audio decodes "
        "and encodes alone in one process, on the same inputs (each site's video at what the "
        "send ladder asked of it, the mixes the MCU encoded), over the same window of media, "
        "measured "
        "right after the scenario; the compositor's CPU is beside it, not in it. MCU / floor "
        "compares like with like only where the scenario held (marked missed otherwise).",
        "",
        "| scenario | MCU CPU % | MCU % per conference | floor % per conference "
        "| MCU / floor | compositor % (beside the floor) | terminals CPU % | other CPU % "
        "| encoders / distinct outputs "
        "| rx fps | probe fps | enc fps | latency p50 ms | p95 ms | load avg (1/5/15) "
        "| verdict |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
        "| ---: | ---: | --- | --- |",
    ]
    for r in results:
        encoded = r.main_encoded_fps_min
        load = "/".join(f"{v:.2f}" for v in r.load_average_after)
        compositor = r.floor["compositor_cpu_pct"] if r.floor else "-"
        lines.append(
            f"| {r.name} | {r.mcu_cpu_percent} | {r.mcu_cpu_pct_per_conference} | "
            f"{_value(r.floor_cpu_pct)} | {_value(r.mcu_to_floor)}"
            f"{'' if r.mcu_to_floor_valid else ' (missed)'} | {compositor} | "
            f"{r.terminals_cpu_percent} | "
            f"{r.others_cpu_percent} | "
            f"{r.encoders} / {r.expected_encoders} | {r.received_fps_min} | "
            f"{r.probe_decoded_fps_min} | {encoded} | "
            f"{_ms(r.latency_ms_p50)} | {_ms(r.latency_ms_p95)} | {load} | {r.verdict} |")
    lines += ["", "Encoder groups:", ""]
    for r in results:
        for c in r.per_conference:
            for g in c.groups:
                lines.append(f"- {r.name}, conference {c.conf_id}: {g.format} -> {g.sites} "
                             f"sites, {g.encoded_fps} fps encoded, {g.sender_restarts} sender "
                             f"restarts; received fps by format "
                             f"{c.received_fps_by_format}; probe {c.probe} decoded "
                             f"{c.probe_decoded_fps} fps")
    lines += ["", "Sizes the MCU decoded from its sites at the window's end (size: sites):", ""]
    lines += [f"- {r.name}: {r.decoded_sizes}" for r in results]
    lines += ["", "Summary: " + json.dumps(conclusion), ""]
    return "\n".join(lines)


# MEDIA_LOAD_TERMINALS_PROFILE=PREFIX: each terminals child profiles its event loop's thread
# on its CPU time (app/loop_profile.py, as MCU_SIM_PROFILE does for the MCU) into PREFIX.<pid>
TERMINALS_PROFILE_ENV = "MEDIA_LOAD_TERMINALS_PROFILE"


def main(argv: list[str] | None = None) -> int:
    aiortc_hooks.install()  # the terminals child runs WebRTC in this process
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="short windows, at most 2 conferences (about 2 minutes)")
    parser.add_argument("--max-conferences", type=int,
                        help="stop after this many (default 4; 0: only the 16-site conference)")
    parser.add_argument("--window", type=float, help="measuring window, s (default 12)")
    parser.add_argument("--warmup", type=float, help="after joining, before measuring, s")
    parser.add_argument("--skip-16", action="store_true", help="no 16-site conference")
    parser.add_argument("--ladder", choices=sorted(LADDER_CHOICES), default="default",
                        help="[mcu] send_ladder for the 4-site and 16-site scenarios: the "
                             "MCU's default, on, off, or both (each scenario on, then off)")
    parser.add_argument("--voice-gate", choices=("on", "off"), default=None,
                        help="[mcu] voice_gate for the 4-site and 16-site scenarios (default: "
                             "the MCU's, on): off decodes every frame of every voice")
    parser.add_argument("--talkers", type=int, default=None,
                        help="only this many sites of each 4-site and 16-site conference talk, "
                             "the others are silent (default: every site talks)")
    content = parser.add_mutually_exclusive_group()
    content.add_argument("--skip-content", action="store_true", help="no content scenario")
    content.add_argument("--content-only", action="store_true",
                         help="only the content scenario (anchor, forwarded, transcoded)")
    content.add_argument("--screens-only", action="store_true",
                         help="only the multi-screen scenario (anchor, three-screen room)")
    content.add_argument("--recording-only", action="store_true",
                         help="only the recording scenario (anchor, recorded, recorded + "
                              "live, then conferences recorded at once)")
    parser.add_argument("--skip-recording", action="store_true", help="no recording scenario")
    parser.add_argument("--max-recorded", type=int, default=4,
                        help="recorded conferences at most in the capacity (default 4)")
    parser.add_argument("--skip-screens", action="store_true",
                        help="no multi-screen scenario")
    parser.add_argument("--content-rounds", type=int, default=1,
                        help="runs of each content variant, in mirrored order (default 1)")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--markdown", type=Path,
                        help="markdown table (default bench-results/media_load.md)")
    parser.add_argument("--terminals-child", action="store_true", help=argparse.SUPPRESS)
    add_child_arguments(parser)
    args = parser.parse_args(argv)
    if args.terminals_child:
        from benchmarks.media_terminals import run_child

        prefix = os.environ.get(TERMINALS_PROFILE_ENV)
        return run_profiled(lambda: asyncio.run(run_child(args)),
                            f"{prefix}.{os.getpid()}" if prefix else None)
    if args.max_conferences is None:
        args.max_conferences = 2 if args.quick else 4
    if args.content_only:
        args.max_conferences, args.skip_16, args.skip_screens = 0, True, True
    if args.screens_only:
        args.max_conferences, args.skip_16, args.skip_content = 0, True, True
        args.skip_recording = True
    if args.recording_only:
        args.max_conferences, args.skip_16, args.skip_content = 0, True, True
        args.skip_screens = True
    if args.content_only:
        args.skip_recording = True
    if args.content_rounds < 1:
        parser.error("--content-rounds must be at least 1")
    if args.talkers is not None and args.talkers < 0:
        parser.error("--talkers must be 0 or more")
    args.voice_gate = None if args.voice_gate is None else args.voice_gate == "on"
    if args.max_conferences < 0 or (args.max_conferences == 0 and args.skip_16
                                    and args.skip_content and args.skip_screens
                                    and args.skip_recording):
        parser.error("nothing to measure")
    args.window = args.window or (8.0 if args.quick else 12.0)
    args.warmup = args.warmup if args.warmup is not None else (3.0 if args.quick else 4.0)
    if 4 * args.max_conferences > 64:
        parser.error("at most 16 conferences (64 site markers)")
    print(f"load average before: {load_average()}", flush=True)
    print(LEGEND, flush=True)
    print(HEADER, flush=True)
    from benchmarks.media_content import content_markdown, content_summary, measure_content

    results = asyncio.run(measure(args)) if args.max_conferences or not args.skip_16 else []
    content_results: list[ScenarioResult] = []
    if not args.skip_content:
        timing = {"warmup_s": args.warmup, "window_s": args.window}
        content_results = asyncio.run(measure_content(args.content_rounds, timing))
    screens_results: list[ScenarioResult] = []
    if not args.skip_screens:
        from benchmarks.media_screens import (
            measure_screens,
            screens_markdown,
            screens_summary,
        )

        timing = {"warmup_s": args.warmup, "window_s": args.window}
        screens_results = asyncio.run(measure_screens(timing))
    recording_results: list[ScenarioResult] = []
    if not args.skip_recording:
        from benchmarks.media_recording import (
            measure_recording,
            recording_markdown,
            recording_summary,
        )

        timing = {"warmup_s": args.warmup, "window_s": args.window}
        recording_results = asyncio.run(measure_recording(timing, args.max_recorded))
    document: dict[str, Any] = {"load_average_end": load_average()}
    text = ""
    if results:
        conclusion = summary(results)
        print(json.dumps(conclusion), flush=True)
        document.update(summary=conclusion, scenarios=[asdict(r) for r in results])
        text = markdown(results, conclusion)
    if content_results:
        content_conclusion = content_summary(content_results)
        print(json.dumps(content_conclusion), flush=True)
        document["content"] = {"summary": content_conclusion,
                               "scenarios": [asdict(r) for r in content_results]}
        text += ("\n" if text else "# Media load\n\n") + content_markdown(
            content_results, content_conclusion)
    if screens_results:
        screens_conclusion = screens_summary(screens_results)
        print(json.dumps(screens_conclusion), flush=True)
        document["screens"] = {"summary": screens_conclusion,
                               "scenarios": [asdict(r) for r in screens_results]}
        text += ("\n" if text else "# Media load\n\n") + screens_markdown(
            screens_results, screens_conclusion)
    if recording_results:
        recording_conclusion = recording_summary(recording_results)
        print(json.dumps(recording_conclusion), flush=True)
        document["recording"] = {"summary": recording_conclusion,
                                 "scenarios": [asdict(r) for r in recording_results]}
        text += ("\n" if text else "# Media load\n\n") + recording_markdown(
            recording_results, recording_conclusion)
    if args.json:
        args.json.write_text(json.dumps(document, indent=2))
    markdown_path = args.markdown or Path("bench-results") / "media_load.md"
    markdown_path.parent.mkdir(parents=True, exist_ok=True)
    markdown_path.write_text(text)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
