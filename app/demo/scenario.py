"""The consultation of `mcu-sim demo`: a server and four simulated terminals in this process,
driven only through the SOAP API (zeep from the reference WSDL), proved from what the
terminals decoded and heard.

Steps, after login, booking a conference that starts now with the four sites, connecting
them and waiting until queryConfSitesStatusEx shows every site in conference. J0..J3 is the
join order, read from the first step's picture (the automatic assignment follows it):

  cp_4_1           setContinuousPresenceEx CP_4_1, no subPics: all four sites, in join order
  cp_2_1           setContinuousPresenceEx CP_2_1, subPics [J3, J1]
  content_share    setAuxStreamEx S (controlCode 0): the MCU grants S the content floor over
                   BFCP, S sends its pages (radiograph first); every other terminal decodes
                   them on its second stream (site, page, frame index from the content
                   marker; latency; PSNR of the text region); the main pictures keep the
                   faces
  content_pane     setContinuousPresenceEx CP_2_1, subPics [S(%AUX1), T]: every terminal's
                   main picture shows S's content in pane 0 (content marker read there)
  content_take     T asks for the floor itself (BFCP FloorRequest): GRANTED, S is told
                   REVOKED and stops; every other terminal now decodes T's pages (record first)
  content_lock     lockPresentationEx T; U asks for the floor over BFCP: DENIED, T keeps it
  content_release  unlockPresentationEx; setAuxStreamEx T (controlCode 1): nobody holds the
                   floor, every second stream stops
  recording        J0's sync pattern on, the others silent; setRecordBroadEx start,
                   CP_1_1 [J0], setAuxStreamEx S on then off, stop: the file from GET
                   /recordings read whole by PyAV, its content track, its sidecar, its A/V
                   offset (app/demo/recording_steps.py)
  live             setDirectBroadEx start: the HLS playlist fetched, its newest segment
                   decoded, the four site markers read in it; stop
  voice_switching  setAudioSwitchEx on; CP_4_1 automatic; J3, silent until switching
                   settled, talks louder: J3 is speaking and moves to the main pane; the
                   delay from its first louder audio block to each other terminal's decoded
                   main pane showing it is measured (switch_delay_ms, beside the hold)
  mute             setSitesMuteEx J1: nobody else hears J1
  broadcast        setBroadcastSiteEx J2: everyone else sees J2 full screen
  video_source     broadcast stopped; setVideoSourceEx J0 <- J1: J0 sees J1 full screen
  end              delScheduledConfEx: every terminal is hung up

S, T, U (content_roles): the first site in join order whose content input starts on a
radiograph, the first other one starting on a medical record, and a third site. Every
terminal has a content input (CONTENT_SIZE, slides) whose two pages alternate every
DEFAULT_PAGE_SECONDS (radiograph and record, in its own order), so a reading may show either
page of the holder: the content checks take the site from the content marker and accept any
of the holder's pages; none requires a page kind. The content steps record per terminal
`content` (site, kind, page, frame index, latency, PSNR, SSIM), whether it holds the floor,
a PNG of its second screen (`<step>-<uri>-content.png`) and the step's floor holder; the
status queries of those steps are queryConferencesStatusEx (presentation, lock),
isSendAuxStreamEx and isReceiveRemAuxStrmEx of every site.

Each step's checks are its expectations: after the SOAP calls the demo polls the terminals
(markers read in the panes of the layout the step expects, talkers heard, state) and the
status queries until every check holds or the step times out; the last observation is
recorded, with a PNG of every terminal's last decoded picture, and the checks are evaluated
on it. The MCU applies a change on its next tick and the terminals need the keyframe that
follows, audio needs a fresh second in the receivers' window: hence polling, not sleeping.

Cost: the conference is booked at 4CIF (704x576@30, 1024 kbit/s; one H.264 encoder per
picture; CP_4_1 panes of 352x288) and the terminals send 640x360: four 1080p decoders plus
four 720p decoders in the MCU would not leave a shared 2-core machine enough time.

With `browser` (`mcu-sim demo --browser`), Debian's Chromium on the MCU's /terminal page is a
fifth site that dials in after the four are in (app/demo/browser.py); it is read after the
voice-switching step (report.json "browser", expectation browser.cp). Its page negotiates no
content stream, so while content is shared the MCU puts the content in its main picture
(CONTENT_WITH_SPEAKER): read after content_share (expectation browser.content_main); it is
not among the terminals whose second streams the content checks read.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from app.demo.report import DemoReport, Expectation, StepRecord, TerminalRecord
from app.demo.soap_client import REFERENCE_WSDL, EsdkClient, SoapError, check
from gateway.enum_numbering import EnumNumbering
from gateway.settings import Settings, load_settings
from mcu.layouts import AUX_SUFFIX, layout_mode
from mcu.media.pictures import CONTENT_WITH_SPEAKER
from mcu.model import VideoFormat
from mcu.runtime import SPEAKER_HOLD_SECONDS
from rtc.bfcp.tables import RequestStatus
from rtc.bfcp.transport import ConnectionClosed
from terminals.content_receiver import ContentReceiver, ContentStatus
from terminals.documents import DocumentKind
from terminals.floor_client import FloorRefused
from terminals.marker import read_content_marker

SITE_COUNT = 4
DEMO_USER, DEMO_PASSWORD = "demo", "Demo@123"
# Levels on the talker's own scale (terminals/speech.py): a site talking at 0.5 is heard at
# ~0.5 through Opus and the mixer, an absent one below 0.02.
HEARD = 0.25
NOT_HEARD = 0.05
LOUDEST_MARGIN = 1.5  # the loud talker (1.0) against the others (0.5) heard by one terminal
LOUDER_BY = 2.0
SWITCH_GATE = 15  # WS/T 546 table 8's default
IN_CONFERENCE, ONGOING = 2, 3  # SiteStatusEx.status, ConferenceStatusEx.status
MUTED = 0  # SiteStatusEx.isMute: 0 muted (WS/T 546 table 9)
START, STOP = 0, 1  # isBroadcast
SWITCH_ON = 1  # isSwitch
FULL_SCREEN = "CP_1_1"
POLL_S = 0.5
SWITCH_POLL_S = 0.1  # how often the switch-delay watchers read the main pane
SETTLE_S = SPEAKER_HOLD_SECONDS + 1.0  # voice switching on, everyone level, before the louder talk
# A switch is the hold time plus detection, the MCU's next picture, a keyframe and transit:
# the measured delay must lie in [hold, hold + SWITCH_SLACK_S].
SWITCH_SLACK_S = 1.5
# The demo reads the panes itself at each poll; the terminals' own periodic reading (every
# 10th frame by default) would cost more CPU than everything else in the process.
NO_PERIODIC_ANALYSIS = 1 << 30
# Content: every terminal has a content input (sites of even index start on a radiograph,
# odd ones on a medical record), rendered and sent at 960x540 (slides: 5 fps), which keeps
# the content cheap beside the rest of the demo on a shared machine (the text is still sharp
# enough for a bad encode to show in the PSNR); every site is booked at 4CIF, so the MCU
# forwards the holder's content unchanged to the others' second streams (docs/runtime.md,
# "Content in the pictures"). The demo reads the second streams itself at each poll: the
# terminals' own periodic content analysis is off, as their pane reading is.
CONTENT_SIZE = (960, 540)
CONTENT_FRESH_S = 1.0  # a second stream "receives" while a frame arrived within (5 frames)
# The text region's PSNR against the page re-rendered: on a second stream the content is
# the sender's own encode, forwarded (~40 dB); in a CP_2_1 pane of the 4CIF main picture
# it is scaled to 352x198 and encoded again within 1 Mbit/s for the whole picture (~34 dB).
SECOND_STREAM_PSNR_DB = 35.0
PANE_PSNR_DB = 25.0
ON_FLOOR, OFF_FLOOR = 0, 1  # setAuxStreamEx controlCode
AUX_ON = 1  # isSendAuxStreamEx / isReceiveRemAuxStrmEx result
LOCKED = 1  # ConferenceStatusEx.isLockPresentation
# A content step's observation costs nine SOAP requests (spyne answers them on the loop that
# carries the media) and a content analysis per terminal: every second, not every half, so
# that the loop reads its media sockets in time on a loaded machine (docs/signalling.md, "ICE
# on a starved machine").
CONTENT_POLL_S = 1.0


@dataclass(frozen=True)
class TerminalVideo:
    """What the simulated terminals send (their pre-encoded camera loop)."""

    width: int = 640
    height: int = 360
    fps: int = 30
    bitrate: int = 800_000


@dataclass(frozen=True)
class DemoOptions:
    out_dir: Path | None = None  # PNGs and report.json; None: nothing written
    data_dir: Path | None = None  # the server's SQLite; None: a temporary directory
    config: Path | None = None  # TOML settings for the server
    wsdl: Path = REFERENCE_WSDL
    user: str = DEMO_USER
    password: str = DEMO_PASSWORD
    video_format: VideoFormat = VideoFormat.CIF4  # booked for every site: 704x576@30
    rate: str = "1024k"  # the conference's rate: the output bitrate
    terminal_video: TerminalVideo = field(default_factory=TerminalVideo)
    connect_timeout: float = 30.0
    step_timeout: float = 20.0
    browser: bool = False  # add a Chromium terminal (app/demo/browser.py) when installed
    content_size: tuple[int, int] = CONTENT_SIZE  # what the terminals' content inputs send


@dataclass
class Observation:
    """One poll: what every terminal decodes and hears now, and what the queries answer."""

    panes: dict[str, list[str | None]]
    latency_ms: dict[str, float | None]
    heard: dict[str, dict[str, float]]
    states: dict[str, str]
    api: dict[str, Any]
    # content steps: per terminal what its second stream (or its main picture's aux pane)
    # shows (TerminalRecord.content) and whether it holds the floor
    content: dict[str, dict[str, Any]] = field(default_factory=dict)
    holds_floor: dict[str, bool] = field(default_factory=dict)
    sending_content: dict[str, bool] = field(default_factory=dict)
    # what the step's probe read beyond the panes (app/demo/device_steps.py: "screens" and
    # "camera" per terminal, "tags")
    probed: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Check:
    key: str
    what: str
    test: Callable[[Observation], tuple[bool, str]]  # (held, what was measured)


@dataclass
class Step:
    name: str
    action: str
    act: Callable[[], Awaitable[None]]
    views: dict[str, str | None]  # terminal -> CP mode whose panes it reads (None: none)
    checks: list[Check]
    # blocking status queries for the checks; every poll makes one, which also keeps the
    # SOAP session alive (it dies 60 s after its last request by default)
    query: Callable[[], dict[str, Any]] | None = None
    # what the step's act measured: switch delays (ms) per terminal
    measured: dict[str, float | None] = field(default_factory=dict)
    # content steps: read every terminal's second stream (reads_content), or with
    # content_pane the content marker in that pane of its main picture
    reads_content: bool = False
    content_pane: int | None = None
    # the BFCP answers of the act's floor requests, by terminal
    floor_requests: dict[str, str] = field(default_factory=dict)
    poll_s: float = POLL_S  # between observations
    # more readings of the terminals at every poll (Observation.probed)
    probe: Callable[[], Awaitable[dict[str, Any]]] | None = None


class CallDropped(RuntimeError):
    """A terminal's call ended before the conference did (e.g. the machine is so loaded
    that the heartbeat or ICE consent timed out)."""


def pane_rects(layout: str) -> list[tuple[float, ...]]:
    return [tuple(pane.as_floats()) for pane in layout_mode(layout).panes]


class Consultation:
    """The scripted consultation against a running server with its terminals registered."""

    def __init__(self, soap: EsdkClient, terminals: list[Any], options: DemoOptions,
                 numbering: EnumNumbering, report: DemoReport, browser: Any = None,
                 base_url: str = "") -> None:
        self.soap = soap
        self.base_url = base_url  # the server's, for GET /recordings and /live
        self.browser = browser  # app/demo/browser.BrowserSite, or None
        self.terminals = {terminal.uri: terminal for terminal in terminals}
        self.sites = list(self.terminals)
        self.options = options
        self.numbering = numbering
        self.report = report
        self.conf_id = ""
        self.begin: datetime | None = None
        self.join_order: list[str] = list(self.sites)
        # content read in a pane of the main picture, per (terminal, pane): its latencies
        self.pane_readers: dict[tuple[str, tuple[float, ...]], ContentReceiver] = {}

    async def soap_call(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(function, *args, **kwargs)

    # ------------------------------------------------------------------ the conference

    async def book_and_connect(self) -> None:
        conf_mgr = self.soap.conf_mgr
        video_format = self.numbering.video_format_to_wire(self.options.video_format)
        booking = {
            "name": "Demo consultation",
            "beginTime": datetime.now(UTC),
            "duration": timedelta(minutes=30),
            "mediaEncryptType": 0,
            "cpResouce": SITE_COUNT,
            "presentation": 0,
            "rate": self.options.rate,
            "sites": [
                {"name": self.terminals[uri].name, "uri": uri, "type": 7, "from": 0,
                 "dialingMode": 0, "videoFormat": video_format}
                for uri in self.sites
            ] + ([{"name": self.browser.name, "uri": self.browser.uri, "type": 7, "from": 0,
                   "dialingMode": 1, "videoFormat": video_format}] if self.browser else []),
        }
        answer = check(await self.soap_call(conf_mgr.scheduleConfEx, scheduleConf=booking),
                       "scheduleConfEx")
        self.conf_id = answer.conferenceInfo.confId
        self.begin = answer.conferenceInfo.beginTime
        self.report.conf_id = self.conf_id
        await self.connect(self.sites)
        if self.browser is not None:
            # The browser dials in (dialingMode 1: the begin time does not call it), once the
            # four are in, so the automatic CP assignment (join order) keeps those four.
            info = answer.conferenceInfo
            await self.browser.terminal.join(info.accessCode or "", info.password or "")
            await self.wait_in_conference([self.browser.uri])

    async def connect(self, uris: list[str]) -> None:
        check(await self.soap_call(self.soap.conf_mgr.connectSitesEx, confId=self.conf_id,
                                   siteUris=uris), "connectSitesEx")
        await self.wait_in_conference(uris)

    async def wait_in_conference(self, uris: list[str]) -> None:
        deadline = time.monotonic() + self.options.connect_timeout
        while True:
            statuses = await self.site_statuses(uris)
            if all(status.status == IN_CONFERENCE for status in statuses.values()):
                return
            if time.monotonic() > deadline:
                states = {uri: status.status for uri, status in statuses.items()}
                raise TimeoutError(f"sites not all in conference: {states}")
            await asyncio.sleep(0.2)

    async def site_statuses(self, uris: list[str] | None = None) -> dict[str, Any]:
        answer = check(await self.soap_call(self.soap.conf_mgr.queryConfSitesStatusEx,
                                            confId=self.conf_id, siteUris=uris or self.sites),
                       "queryConfSitesStatusEx")
        return {status.uri: status for status in answer.siteStatuses}

    def conference_facts(self) -> dict[str, Any]:
        """Blocking (a step's query): what queryConferencesStatusEx says of the conference."""
        answer = check(self.soap.conf_mgr.queryConferencesStatusEx(confIds=[self.conf_id]),
                       "queryConferencesStatusEx")
        statuses = answer.conferenceStatuses or []
        if not statuses:
            return {"status": None}
        status = statuses[0]
        return {"status": status.status, "speaking": status.speaking,
                "broadcast": status.broadcast, "isAudioSwitch": status.isAudioSwitch}

    def site_status(self, uri: str) -> Any:
        """Blocking: run inside a step's query."""
        answer = check(self.soap.conf_mgr.queryConfSitesStatusEx(
            confId=self.conf_id, siteUris=[uri]), "queryConfSitesStatusEx")
        return answer.siteStatuses[0]

    async def set_layout(self, mode: str, sub_pics: list[str]) -> None:
        check(await self.soap_call(
            self.soap.conf_ctrl.setContinuousPresenceEx, confId=self.conf_id, target="0",
            presenceMode=layout_mode(mode).value, subPics=sub_pics),
            "setContinuousPresenceEx")

    # ------------------------------------------------------------------ running a step

    async def run_step(self, step: Step) -> Observation:
        loop = asyncio.get_running_loop()
        started = loop.time()
        await step.act()
        for uri, layout in step.views.items():
            self.terminals[uri].set_panes(pane_rects(layout) if layout else None)
        deadline = started + self.options.step_timeout
        while True:
            observation = await self.observe(step)
            results = [(check_, *check_.test(observation)) for check_ in step.checks]
            # A call that ended cannot show the step's effect: no use waiting for it.
            dropped = [uri for uri, layout in step.views.items()
                       if layout and observation.states[uri] != "in_call"]
            if all(held for _, held, _ in results) or dropped or loop.time() >= deadline:
                break
            await asyncio.sleep(step.poll_s)
        record = StepRecord(
            name=step.name,
            layout=_most_common([layout for layout in step.views.values() if layout]),
            action=step.action,
            settled=all(held for _, held, _ in results),
            seconds=round(loop.time() - started, 2),
            queried=observation.api,
            switch_delay_ms=dict(step.measured),
            hold_ms=SPEAKER_HOLD_SECONDS * 1000 if step.measured else None,
            floor_holder=observation.api.get("presentation") if step.reads_content else None,
            floor_requests=dict(step.floor_requests),
        )
        for uri, layout in step.views.items():
            content = observation.content.get(uri)
            record.terminals[uri] = TerminalRecord(
                snapshot=await self.snapshot(step.name, uri) if layout else None,
                layout=layout,
                panes=observation.panes.get(uri, []),
                heard=observation.heard.get(uri, {}),
                latency_ms=observation.latency_ms.get(uri),
                state=observation.states[uri],
                content=content,
                content_snapshot=await self.content_snapshot(step.name, uri)
                if content is not None and content["seen_in"] == SECOND_STREAM else None,
                holds_floor=observation.holds_floor.get(uri),
                screens=await self.screens_record(step.name, uri, observation),
                camera=observation.probed.get("camera", {}).get(uri),
            )
        self.report.steps.append(record)
        self.report.expectations += [
            Expectation(check_.key, step.name, check_.what, held, detail)
            for check_, held, detail in results
        ]
        if dropped:
            raise CallDropped(f"during {step.name} the call of {', '.join(dropped)} ended")
        return observation

    async def observe(self, step: Step) -> Observation:
        reading = [uri for uri, layout in step.views.items() if layout]
        statuses = await asyncio.gather(*(self.terminals[uri].read_panes() for uri in reading))
        panes, latency = {}, {}
        for uri, panes_read in zip(reading, statuses, strict=True):
            panes[uri] = [pane.site_uri for pane in panes_read]
            latencies = [p.latency_ms_p50 for p in panes_read if p.latency_ms_p50 is not None]
            latency[uri] = round(statistics.median(latencies), 1) if latencies else None
        heard = {
            uri: {talker: round(level, 3) for talker, level in self.terminals[uri].heard().items()}
            for uri in reading
        }
        states = {uri: terminal.state for uri, terminal in self.terminals.items()}
        content = await self.read_content(step) if step.reads_content else {}
        api = await asyncio.to_thread(step.query or self.conference_facts)
        probed = await step.probe() if step.probe is not None else {}
        return Observation(
            panes, latency, heard, states, api, content,
            holds_floor={uri: t.holds_floor for uri, t in self.terminals.items()}
            if step.reads_content else {},
            sending_content={uri: t.sending_content for uri, t in self.terminals.items()}
            if step.reads_content else {},
            probed=probed)

    async def read_content(self, step: Step) -> dict[str, dict[str, Any]]:
        """What every terminal's second stream shows now (a stream that received nothing
        within CONTENT_FRESH_S shows nothing), or with step.content_pane the content marker
        in that pane of its latest main picture (the page's PSNR measured where the MCU
        letterboxed it, the latency from the content send log)."""
        read: dict[str, dict[str, Any]] = {}
        for uri, terminal in self.terminals.items():
            if step.content_pane is None:
                receiving = terminal.content.receiving(CONTENT_FRESH_S)
                status = await terminal.read_content() if receiving else None
                read[uri] = _content_record(status, receiving, SECOND_STREAM)
                continue
            layout = step.views.get(uri) or FULL_SCREEN
            rect = pane_rects(layout)[step.content_pane]
            reader = self.pane_readers.get((uri, rect))
            if reader is None:
                reader = ContentReceiver(analyse_every=NO_PERIODIC_ANALYSIS,
                                         source_size=self.options.content_size, pane=rect)
                self.pane_readers[(uri, rect)] = reader
            frame = terminal.video.last_frame
            receiving = frame is not None and (
                time.time() - terminal.video.last_received_at <= CONTENT_FRESH_S)
            if receiving:
                reader.on_frame(frame, terminal.video.last_received_at)
            status = await reader.analyse_latest() if receiving else None
            read[uri] = _content_record(status, receiving, f"main picture pane {step.content_pane}")
        return read

    async def content_snapshot(self, step: str, uri: str) -> str | None:
        """`<step>-<uri>-content.png`: the terminal's second screen, when it receives."""
        receiver = self.terminals[uri].content
        if self.options.out_dir is None or not receiver.receiving(CONTENT_FRESH_S):
            return None
        name = f"{step}-{uri}-content.png"
        written = await asyncio.to_thread(receiver.snapshot, str(self.options.out_dir / name))
        return name if written else None

    async def screens_record(self, step: str, uri: str,
                             observation: Observation) -> list[dict[str, Any]] | None:
        """report.json's "screens" of a terminal whose screens the step read: per screen its
        hdOut ("output"), the sites read in its panes and its PNG."""
        screens = observation.probed.get("screens", {}).get(uri)
        if screens is None:
            return None
        written: list[str | None] = [None] * len(screens)
        if self.options.out_dir is not None:
            written = await asyncio.to_thread(self.terminals[uri].snapshot_screens,
                                              self.options.out_dir, f"{step}-{uri}")
        return [{"output": screen["output"], "name": screen["name"], "panes": screen["panes"],
                 "snapshot": name} for screen, name in zip(screens, written, strict=True)]

    async def snapshot(self, step: str, uri: str) -> str | None:
        if self.options.out_dir is None:
            return None
        name = f"{step}-{uri}.png"
        # PNG encoding takes tens of milliseconds: not on the loop that carries the media
        written = await asyncio.to_thread(self.terminals[uri].snapshot,
                                          str(self.options.out_dir / name))
        return name if written else None

    # ------------------------------------------------------------------ the steps

    def everyone(self, layout: str | None) -> dict[str, str | None]:
        return {uri: layout for uri in self.sites}

    def cp_4_1(self) -> Step:
        async def act() -> None:
            await self.set_layout("CP_4_1", [])

        return Step(
            "cp_4_1", "setContinuousPresenceEx CP_4_1 (11), no subPics", act,
            self.everyone("CP_4_1"),
            [
                Check("cp_4_1.all_sites",
                      "CP_4_1: every terminal sees the 4 sites, one in each pane",
                      lambda o: _each(o, lambda uri, panes: sorted(
                          p or "" for p in panes) == sorted(self.sites), o.panes)),
                Check("cp_4_1.same_order",
                      "CP_4_1: every terminal sees the same automatic assignment (join order)",
                      lambda o: _same_everywhere(o.panes)),
                Check("cp_4_1.n_minus_1",
                      "N-1: no terminal hears itself, each hears the 3 others",
                      lambda o: _each(o, self.hears_all_but_itself, o.heard)),
            ],
        )

    def hears_all_but_itself(self, uri: str, heard: dict[str, float]) -> bool:
        return all(
            heard.get(talker, 0.0) < NOT_HEARD if talker == uri
            else heard.get(talker, 0.0) >= HEARD
            for talker in self.sites
        )

    def cp_2_1(self) -> Step:
        j = self.join_order
        chosen = [j[3], j[1]]

        async def act() -> None:
            await self.set_layout("CP_2_1", chosen)

        return Step(
            "cp_2_1", f"setContinuousPresenceEx CP_2_1 (2), subPics {chosen}", act,
            self.everyone("CP_2_1"),
            [Check("cp_2_1.sub_pics",
                   f"CP_2_1: every terminal sees the chosen subPics {chosen}",
                   lambda o: _each(o, lambda uri, panes: panes == chosen, o.panes))],
        )

    def voice_switching(self) -> Step:
        j = self.join_order
        loud = j[3]
        expected = [loud, j[0], j[1], j[2]]

        delays: dict[str, float | None] = {}

        async def act() -> None:
            check(await self.soap_call(self.soap.conf_ctrl.setAudioSwitchEx,
                                       confId=self.conf_id, switchGate=SWITCH_GATE,
                                       isSwitch=SWITCH_ON), "setAudioSwitchEx")
            await self.set_layout("CP_4_1", [])
            # The talker is silent while the switch settles on another speaker, so the
            # measured switch starts from its first louder word, not from a tie.
            self.terminals[loud].speech.set_silent(True)
            await asyncio.sleep(SETTLE_S)
            delays.update(await self.measure_switch(loud))

        def delay_in_bounds(o: Observation) -> tuple[bool, str]:
            hold_ms, slack_ms = SPEAKER_HOLD_SECONDS * 1000, SWITCH_SLACK_S * 1000
            return _each(o, lambda uri, ms: hold_ms <= ms <= hold_ms + slack_ms, delays)

        def loudest_everywhere(o: Observation) -> tuple[bool, str]:
            def loudest(uri: str, heard: dict[str, float]) -> bool:
                others = [level for talker, level in heard.items() if talker not in (uri, loud)]
                loudness = heard.get(loud, 0.0)
                return uri == loud or (
                    loudness >= HEARD and loudness >= LOUDEST_MARGIN * max(others, default=0.0))

            return _each(o, loudest, o.heard)

        return Step(
            "voice_switching",
            f"{loud} talks {LOUDER_BY:g}x louder; setAudioSwitchEx on (gate {SWITCH_GATE}); "
            "setContinuousPresenceEx CP_4_1, no subPics",
            act, self.everyone("CP_4_1"),
            [
                Check("voice_switching.speaking",
                      f"voice switching: queryConferencesStatusEx shows {loud} speaking",
                      lambda o: (o.api.get("speaking") == loud,
                                 f"speaking: {o.api.get('speaking')}")),
                Check("voice_switching.loudest",
                      f"voice switching: every other terminal hears {loud} loudest",
                      loudest_everywhere),
                Check("voice_switching.main_pane",
                      f"voice switching: {loud} moves to the main pane ({expected})",
                      lambda o: _each(o, lambda uri, panes: panes == expected, o.panes)),
                Check("voice_switching.delay",
                      f"voice switching: every other terminal shows {loud} in the main pane "
                      f"{SPEAKER_HOLD_SECONDS:g} s (the hold) to "
                      f"{SPEAKER_HOLD_SECONDS + SWITCH_SLACK_S:g} s after its louder speech left",
                      delay_in_bounds),
            ],
            query=self.conference_facts,
            measured=delays,
        )

    async def measure_switch(self, loud: str) -> dict[str, float | None]:
        """`loud` talks louder; per other terminal (and the browser), the milliseconds from its
        first louder audio block leaving it (its send log) to the main pane of the decoded
        picture showing it; None when that was not seen within the step's timeout."""
        speech = self.terminals[loud].speech
        speech.set_silent(False)
        speech.talk_louder(LOUDER_BY)
        deadline = time.monotonic() + self.options.step_timeout
        main = pane_rects("CP_4_1")[0]

        async def shows_loud(uri: str) -> bool:
            if self.browser is not None and uri == self.browser.uri:
                reading = (await self.browser.terminal.read_panes([main]))[0]
                return reading is not None and reading.site_index == self.terminals[
                    loud].site_index
            panes = await self.terminals[uri].read_panes()
            return bool(panes) and panes[0].site_uri == loud

        async def watch(uri: str) -> float | None:
            while time.monotonic() < deadline:
                if await shows_loud(uri) and speech.louder_sent_at is not None:
                    return round((time.time() - speech.louder_sent_at) * 1000, 1)
                await asyncio.sleep(SWITCH_POLL_S)
            return None

        watched = [uri for uri in self.sites if uri != loud]
        for uri in watched:  # the main pane alone: a quarter of the marker reading
            self.terminals[uri].set_panes([main])
        if self.browser is not None:
            watched.append(self.browser.uri)
        return dict(zip(watched, await asyncio.gather(*(watch(uri) for uri in watched)),
                        strict=True))

    def mute(self) -> Step:
        muted = self.join_order[1]
        others = [uri for uri in self.sites if uri != muted]

        async def act() -> None:
            check(await self.soap_call(self.soap.conf_ctrl.setSitesMuteEx, confId=self.conf_id,
                                       siteUris=[muted], isMute=MUTED), "setSitesMuteEx")

        return Step(
            "mute", f"setSitesMuteEx {muted} (isMute 0)", act, self.everyone("CP_4_1"),
            [
                Check("mute.not_heard", f"mute: no other terminal hears {muted}",
                      lambda o: _each(o, lambda uri, heard: heard.get(muted, 1.0) < NOT_HEARD,
                                      {uri: o.heard.get(uri, {}) for uri in others})),
                Check("mute.still_hears", f"mute: {muted} still hears the 3 others",
                      lambda o: _each(o, self.hears_all_but_itself,
                                      {muted: o.heard.get(muted, {})})),
                Check("mute.status", f"mute: queryConfSitesStatusEx shows {muted} muted",
                      lambda o: (o.api.get("isMute") == MUTED, f"isMute: {o.api.get('isMute')}")),
            ],
            query=lambda: self.conference_facts() | {"isMute": self.site_status(muted).isMute},
        )

    def broadcast(self) -> Step:
        j = self.join_order
        broadcaster = j[2]
        others = [uri for uri in self.sites if uri != broadcaster]
        own_picture = [broadcaster] + [uri for uri in j if uri != broadcaster]

        async def act() -> None:
            check(await self.soap_call(self.soap.conf_ctrl.setBroadcastSiteEx,
                                       confId=self.conf_id, siteUri=broadcaster,
                                       isBroadcast=START), "setBroadcastSiteEx")

        views: dict[str, str | None] = {uri: FULL_SCREEN for uri in others}
        views[broadcaster] = "CP_4_1"
        return Step(
            "broadcast", f"setBroadcastSiteEx {broadcaster} (isBroadcast 0)", act, views,
            [
                Check("broadcast.full_screen",
                      f"broadcast: every other terminal sees {broadcaster} full screen",
                      lambda o: _each(o, lambda uri, panes: panes == [broadcaster],
                                      {uri: o.panes.get(uri) for uri in others})),
                Check("broadcast.own_picture",
                      f"broadcast: {broadcaster} keeps the CP picture, itself in the main pane",
                      lambda o: _each(o, lambda uri, panes: panes == own_picture,
                                      {broadcaster: o.panes.get(broadcaster)})),
                Check("broadcast.status",
                      f"broadcast: queryConferencesStatusEx shows {broadcaster} broadcast",
                      lambda o: (o.api.get("broadcast") == broadcaster,
                                 f"broadcast: {o.api.get('broadcast')}")),
            ],
            query=self.conference_facts,
        )

    def video_source(self) -> Step:
        j = self.join_order
        broadcaster, viewer, source = j[2], j[0], j[1]
        others = [uri for uri in self.sites if uri != viewer]
        cp_picture = [j[3], j[0], j[1], j[2]]  # the speaker still in the main pane

        async def act() -> None:
            check(await self.soap_call(self.soap.conf_ctrl.setBroadcastSiteEx,
                                       confId=self.conf_id, siteUri=broadcaster,
                                       isBroadcast=STOP), "setBroadcastSiteEx")
            check(await self.soap_call(self.soap.conf_ctrl.setVideoSourceEx,
                                       confId=self.conf_id, siteUri=viewer,
                                       videoSourceUri=source, isLock=0), "setVideoSourceEx")

        views: dict[str, str | None] = {uri: "CP_4_1" for uri in others}
        views[viewer] = FULL_SCREEN
        return Step(
            "video_source",
            f"setBroadcastSiteEx {broadcaster} (isBroadcast 1); "
            f"setVideoSourceEx {viewer} watches {source}",
            act, views,
            [
                Check("video_source.full_screen",
                      f"video source: {viewer} sees {source} full screen",
                      lambda o: _each(o, lambda uri, panes: panes == [source],
                                      {viewer: o.panes.get(viewer)})),
                Check("video_source.others_cp",
                      f"video source: the others are back on the CP picture {cp_picture}",
                      lambda o: _each(o, lambda uri, panes: panes == cp_picture,
                                      {uri: o.panes.get(uri) for uri in others})),
                Check("video_source.status",
                      f"video source: queryConfSitesStatusEx shows {viewer} watching {source}",
                      lambda o: (o.api.get("videoSource") == source,
                                 f"videoSource: {o.api.get('videoSource')}")),
            ],
            query=lambda: self.conference_facts() | {
                "videoSource": self.site_status(viewer).videoSource},
        )

    # ------------------------------------------------------------------ content steps

    def content_roles(self) -> tuple[str, str, str]:
        """(sharer, taker, denied): the first site in join order whose content starts on a
        radiograph shares it; the first other one starting on a medical record takes the
        floor itself; a third site is denied under the lock."""
        def first_page(uri: str) -> DocumentKind | None:
            source = self.terminals[uri].content_source
            return source.pages[0].kind if source is not None else None

        order = self.join_order
        sharer = next((u for u in order if first_page(u) is DocumentKind.RADIOGRAPH), order[0])
        taker = next((u for u in order if u != sharer and first_page(u) is DocumentKind.RECORD),
                     next(u for u in order if u != sharer))
        denied = next(u for u in order if u not in (sharer, taker))
        return sharer, taker, denied

    def floor_facts(self) -> dict[str, Any]:
        """Blocking (a content step's query): the floor as the SOAP API answers it."""
        answer = check(self.soap.conf_mgr.queryConferencesStatusEx(confIds=[self.conf_id]),
                       "queryConferencesStatusEx")
        status = (answer.conferenceStatuses or [None])[0]
        site_mgr = self.soap.site_mgr

        def result(answer: Any) -> int | str:
            # a site whose call ended answers an error code: recorded, and the check fails
            return answer.result if answer.resultCode == 0 else f"resultCode {answer.resultCode}"

        return {
            "presentation": status.presentation if status is not None else None,
            "isLockPresentation": status.isLockPresentation if status is not None else None,
            "isSendAuxStreamEx": {uri: result(site_mgr.isSendAuxStreamEx(siteUri=uri))
                                  for uri in self.sites},
            "isReceiveRemAuxStrmEx": {uri: result(site_mgr.isReceiveRemAuxStrmEx(siteUri=uri))
                                      for uri in self.sites},
        }

    async def ask_floor(self, uri: str, step: Step) -> None:
        """The person at `uri` presses "share": BFCP FloorRequest; the answer is recorded."""
        try:
            status = await asyncio.wait_for(self.terminals[uri].request_floor(),
                                            self.options.step_timeout)
            step.floor_requests[uri] = status.name
        except (FloorRefused, ConnectionClosed, TimeoutError) as error:
            step.floor_requests[uri] = f"{type(error).__name__}: {error}"

    def content_checks(self, name: str, holder: str, *, locked: bool = False) -> list[Check]:
        """The floor is `holder`'s (BFCP and SOAP agree), and every other terminal decodes
        its content on the second stream: its site, one of its pages, a frame index, the
        latency and the text's PSNR; the holder's own second stream is idle."""
        receivers = [uri for uri in self.sites if uri != holder]
        pages = {(page.kind.name.lower(), page.page)
                 for page in (self.terminals[holder].content_source.pages
                              if self.terminals[holder].content_source else ())}

        def decodes_holder(uri: str, c: dict[str, Any]) -> bool:
            return (c["receiving"] and c["site"] == holder and (c["kind"], c["page"]) in pages
                    and c["frame_index"] is not None and c["latency_ms"] is not None
                    and c["psnr_db"] is not None and c["psnr_db"] >= SECOND_STREAM_PSNR_DB)

        def floor_is_holders(o: Observation) -> tuple[bool, str]:
            holding = sorted(uri for uri, held in o.holds_floor.items() if held)
            sending = sorted(uri for uri, on in o.sending_content.items() if on)
            lock = o.api.get("isLockPresentation") == LOCKED
            return (o.api.get("presentation") == holder and holding == [holder]
                    and sending == [holder] and lock == locked,
                    f"presentation {o.api.get('presentation')}, locked {lock}, BFCP holders "
                    f"{holding}, sending content {sending}")

        def aux_answers(o: Observation) -> tuple[bool, str]:
            sends = o.api.get("isSendAuxStreamEx", {})
            receives = o.api.get("isReceiveRemAuxStrmEx", {})
            expected_send = {uri: int(uri == holder) for uri in self.sites}
            expected_receive = {uri: int(uri != holder) for uri in self.sites}
            return (sends == expected_send and receives == expected_receive,
                    f"isSendAuxStreamEx {sends}, isReceiveRemAuxStrmEx {receives}")

        lock_text = " (locked)" if locked else ""
        return [
            Check(f"{name}.floor",
                  f"{name}: {holder} holds the floor{lock_text} (BFCP, sending, "
                  "queryConferencesStatusEx presentation)", floor_is_holders),
            Check(f"{name}.second_stream",
                  f"{name}: every other terminal decodes {holder}'s content on its second "
                  f"stream (site, page, frame index, latency; text PSNR >= "
                  f"{SECOND_STREAM_PSNR_DB:g} dB)",
                  lambda o: _each(o, decodes_holder, {uri: o.content.get(uri)
                                                      for uri in receivers})),
            Check(f"{name}.holder_idle",
                  f"{name}: {holder}'s own second stream receives nothing",
                  lambda o: _each(o, lambda uri, c: not c["receiving"],
                                  {holder: o.content.get(holder)})),
            Check(f"{name}.aux_status",
                  f"{name}: isSendAuxStreamEx 1 for {holder} only, isReceiveRemAuxStrmEx 1 "
                  "for every other site", aux_answers),
        ]

    def content_share(self) -> Step:
        sharer, taker, _ = self.content_roles()
        main = [self.join_order[3], self.join_order[1]]  # cp_2_1's subPics, unchanged

        async def act() -> None:
            check(await self.soap_call(self.soap.site_mgr.setAuxStreamEx, siteUri=sharer,
                                       controlCode=ON_FLOOR), "setAuxStreamEx")

        return Step(
            "content_share", f"setAuxStreamEx {sharer} (controlCode 0): it shares its "
            f"pages ({self.first_kind(sharer)} first)", act, self.everyone("CP_2_1"),
            [*self.content_checks("content_share", sharer),
             Check("content_share.main_unchanged",
                   f"content_share: the main pictures keep the faces (CP_2_1 {main})",
                   lambda o: _each(o, lambda uri, panes: panes == main, o.panes))],
            query=self.floor_facts, reads_content=True, poll_s=CONTENT_POLL_S,
        )

    def first_kind(self, uri: str) -> str:
        source = self.terminals[uri].content_source
        return source.pages[0].kind.name.lower() if source is not None else "nothing"

    def content_pane(self) -> Step:
        sharer, taker, _ = self.content_roles()
        sub_pics = [sharer + AUX_SUFFIX, taker]

        async def act() -> None:
            await self.set_layout("CP_2_1", sub_pics)

        def pane_shows(uri: str, c: dict[str, Any]) -> bool:
            return (c["site"] == sharer and c["frame_index"] is not None
                    and c["latency_ms"] is not None and c["psnr_db"] is not None
                    and c["psnr_db"] >= PANE_PSNR_DB)

        return Step(
            "content_pane", f"setContinuousPresenceEx CP_2_1 (2), subPics {sub_pics}", act,
            self.everyone("CP_2_1"),
            [
                Check("content_pane.aux_pane",
                      f"content_pane: every terminal's main picture shows {sharer}'s content "
                      f"in pane 0 (content marker, latency; text PSNR >= {PANE_PSNR_DB:g} dB)",
                      lambda o: _each(o, pane_shows, o.content)),
                Check("content_pane.camera_pane",
                      f"content_pane: pane 1 shows {taker}'s camera, pane 0 no camera",
                      lambda o: _each(o, lambda uri, panes: panes == [None, taker], o.panes)),
            ],
            query=self.floor_facts, reads_content=True, poll_s=CONTENT_POLL_S, content_pane=0,
        )

    def content_take(self) -> Step:
        sharer, taker, _ = self.content_roles()
        step = Step("content_take", f"{taker} asks for the floor over BFCP (FloorRequest); "
                    f"{sharer} is revoked", self.noop, self.everyone("CP_2_1"), [],
                    query=self.floor_facts, reads_content=True, poll_s=CONTENT_POLL_S)

        async def act() -> None:
            await self.ask_floor(taker, step)

        step.act = act
        step.checks = [
            Check("content_take.granted", f"content_take: {taker}'s FloorRequest is GRANTED",
                  lambda o: (step.floor_requests.get(taker) == RequestStatus.GRANTED.name,
                             f"{taker}: {step.floor_requests.get(taker)}")),
            Check("content_take.revoked",
                  f"content_take: {sharer} was told REVOKED and stopped sending",
                  lambda o: self.revoked(sharer, o)),
            *self.content_checks("content_take", taker),
        ]
        return step

    def revoked(self, uri: str, o: Observation) -> tuple[bool, str]:
        floor = self.terminals[uri].floor
        last = floor.last_status.name if floor is not None and floor.last_status else None
        return (last == RequestStatus.REVOKED.name and not o.holds_floor.get(uri)
                and not o.sending_content.get(uri),
                f"{uri}: last BFCP status {last}, holds {o.holds_floor.get(uri)}, "
                f"sending {o.sending_content.get(uri)}")

    async def noop(self) -> None:
        return None

    def content_lock(self) -> Step:
        _, taker, denied = self.content_roles()
        step = Step("content_lock", f"lockPresentationEx {taker}; {denied} asks for the floor "
                    "over BFCP", self.noop, self.everyone("CP_2_1"), [],
                    query=self.floor_facts, reads_content=True, poll_s=CONTENT_POLL_S)

        async def act() -> None:
            check(await self.soap_call(self.soap.conf_ctrl.lockPresentationEx,
                                       confId=self.conf_id, siteUri=taker),
                  "lockPresentationEx")
            await self.ask_floor(denied, step)

        step.act = act
        step.checks = [
            Check("content_lock.denied", f"content_lock: {denied}'s FloorRequest is DENIED",
                  lambda o: (step.floor_requests.get(denied) == RequestStatus.DENIED.name
                             and not o.holds_floor.get(denied),
                             f"{denied}: {step.floor_requests.get(denied)}, holds "
                             f"{o.holds_floor.get(denied)}")),
            *self.content_checks("content_lock", taker, locked=True),
        ]
        return step

    def content_release(self) -> Step:
        _, taker, _ = self.content_roles()

        async def act() -> None:
            check(await self.soap_call(self.soap.conf_ctrl.unlockPresentationEx,
                                       confId=self.conf_id), "unlockPresentationEx")
            check(await self.soap_call(self.soap.site_mgr.setAuxStreamEx, siteUri=taker,
                                       controlCode=OFF_FLOOR), "setAuxStreamEx")

        def nothing_shared(o: Observation) -> tuple[bool, str]:
            holding = sorted(uri for uri, held in o.holds_floor.items() if held)
            sending = sorted(uri for uri, on in o.sending_content.items() if on)
            return (o.api.get("presentation") is None and not holding and not sending
                    and o.api.get("isLockPresentation") != LOCKED,
                    f"presentation {o.api.get('presentation')}, locked "
                    f"{o.api.get('isLockPresentation')}, BFCP holders {holding}, "
                    f"sending content {sending}")

        def aux_off(o: Observation) -> tuple[bool, str]:
            sends = o.api.get("isSendAuxStreamEx", {})
            receives = o.api.get("isReceiveRemAuxStrmEx", {})
            off = dict.fromkeys(self.sites, 0)
            return (sends == off and receives == off,
                    f"isSendAuxStreamEx {sends}, isReceiveRemAuxStrmEx {receives}")

        return Step(
            "content_release", f"unlockPresentationEx; setAuxStreamEx {taker} (controlCode 1)",
            act, self.everyone("CP_2_1"),
            [
                Check("content_release.floor_free",
                      "content_release: nobody holds the floor and nobody sends content",
                      nothing_shared),
                Check("content_release.streams_stop",
                      f"content_release: no second stream received content in the last "
                      f"{CONTENT_FRESH_S:g} s",
                      lambda o: _each(o, lambda uri, c: not c["receiving"], o.content)),
                Check("content_release.aux_status",
                      "content_release: isSendAuxStreamEx and isReceiveRemAuxStrmEx answer 0 "
                      "for every site", aux_off),
            ],
            query=self.floor_facts, reads_content=True, poll_s=CONTENT_POLL_S,
        )

    async def record_browser_content(self) -> None:
        """With `--browser`: the Chromium page negotiates no content stream, so while content
        is shared the MCU shows it in its main picture (CONTENT_WITH_SPEAKER: the page in the
        left three quarters); read after content_share (expectation browser.content_main)."""
        sharer, _, _ = self.content_roles()
        index = self.terminals[sharer].site_index
        rect = tuple(CONTENT_WITH_SPEAKER.panes[0].as_floats())
        deadline = time.monotonic() + self.options.step_timeout
        seen: int | None = None
        while True:
            picture = await self.browser.terminal.picture()
            if picture is not None:
                reading = await asyncio.to_thread(read_content_marker, picture, rect)
                seen = reading.site_index if reading is not None else None
            if seen == index or time.monotonic() > deadline:
                break
            await asyncio.sleep(POLL_S)
        self.report.expectations.append(Expectation(
            "browser.content_main", "content_share",
            f"browser: Chromium (no second stream) shows {sharer}'s content in its main "
            "picture (CONTENT_WITH_SPEAKER)",
            seen == index, f"content marker of site index {seen}, expected {index}"))

    def end(self) -> Step:
        async def act() -> None:
            check(await self.soap_call(self.soap.conf_mgr.delScheduledConfEx,
                                       confId=self.conf_id, beginTime=self.begin),
                  "delScheduledConfEx")

        return Step(
            "end", "delScheduledConfEx", act, self.everyone(None),
            [
                Check("end.hung_up", "end: every terminal was hung up (no call left)",
                      lambda o: _each(o, lambda uri, state: state == "idle", o.states)),
                Check("end.status", "end: queryConferencesStatusEx no longer shows it ongoing",
                      lambda o: (o.api.get("status") not in (None, ONGOING),
                                 f"status: {o.api.get('status')}")),
            ],
            query=self.conference_facts,
        )

    async def run(self) -> None:
        await self.book_and_connect()
        first = await self.run_step(self.cp_4_1())
        agreed, _ = _same_everywhere(first.panes)
        order = next(iter(first.panes.values()), [])
        if agreed and sorted(p or "" for p in order) == sorted(self.sites):
            self.join_order = [uri for uri in order if uri is not None]
        self.report.join_order = self.join_order
        for build in (self.cp_2_1, self.content_share, self.content_pane, self.content_take,
                      self.content_lock, self.content_release, self.voice_switching,
                      self.mute, self.broadcast, self.video_source, self.end):
            await self.run_step(build())
            if build == self.content_release:
                await self.run_recording_steps()
            if build == self.content_share and self.browser is not None:
                await self.record_browser_content()
            if build == self.voice_switching and self.browser is not None:
                await self.record_browser()
            if build == self.voice_switching:
                await self.run_device_steps()

    async def run_recording_steps(self) -> None:
        """The recording and the live broadcast (app/demo/recording_steps.py)."""
        from app.demo.recording_steps import RecordingSteps

        steps = RecordingSteps(self, self.base_url)
        await self.run_step(steps.recording())
        await self.run_step(steps.live())

    async def run_device_steps(self) -> None:
        """The three-screen room and its camera and sources (app/demo/device_steps.py)."""
        from app.demo.device_steps import ROOM_INDEX, letterbox_rect, run_device_steps
        from mcu.media.output_format import FORMAT_SIZES

        room = next(uri for uri, t in self.terminals.items() if t.site_index == ROOM_INDEX)
        size, sent = FORMAT_SIZES[self.options.video_format], self.options.terminal_video
        rect = letterbox_rect(size.width, size.height, sent.width, sent.height)
        await run_device_steps(self, room, rect, self.run_step)

    async def record_browser(self) -> None:
        """report.json's "browser", read after voice switching (the speaker in the main pane):
        the Chromium page decodes the same CP picture as the simulated terminals."""
        from app.demo.browser import browser_record

        uri_of_index = {t.site_index: uri for uri, t in self.terminals.items()}
        expected = self.report.steps[-1].terminals[self.join_order[0]].panes
        deadline = time.monotonic() + self.options.step_timeout
        while True:
            out = self.options.out_dir
            record = await browser_record(
                self.browser.terminal, pane_rects("CP_4_1"), uri_of_index,
                out / f"voice_switching-{self.browser.uri}.png" if out is not None else None)
            if record["panes"] == expected or time.monotonic() > deadline:
                break
            await asyncio.sleep(POLL_S)
        self.report.browser = record
        self.report.expectations.append(Expectation(
            "browser.cp", "voice_switching",
            "browser: Chromium decodes the same CP picture as the simulated terminals",
            record["panes"] == expected, f"browser {record['panes']}, others {expected}"))


SECOND_STREAM = "second stream"


def _content_record(status: ContentStatus | None, receiving: bool, seen_in: str
                    ) -> dict[str, Any]:
    """report.json's `content` of a terminal: what the content marker said (site, kind,
    page, frame index), the latency p50 and the text region's PSNR / SSIM."""
    def rounded(value: float | None, digits: int) -> float | None:
        return None if value is None else round(float(value), digits)

    return {
        "site": status.site_uri if status else None,
        "kind": status.kind.name.lower() if status and status.kind is not None else None,
        "page": status.page if status else None,
        "frame_index": status.frame_index if status else None,
        "latency_ms": rounded(status.latency_ms_p50 if status else None, 1),
        "psnr_db": rounded(status.psnr_db if status else None, 1),
        "ssim": rounded(status.ssim if status else None, 3),
        "receiving": receiving,
        "seen_in": seen_in,
    }


def _each(o: Observation, test: Callable[[str, Any], bool],
          values: dict[str, Any]) -> tuple[bool, str]:
    """Whether `test(uri, value)` holds for every terminal; the detail names what was seen."""
    failing = [uri for uri, value in values.items() if value is None or not test(uri, value)]
    shown = failing or list(values)
    detail = "; ".join(f"{uri}: {values[uri]}" for uri in shown)
    return not failing and bool(values), ("wrong at " if failing else "") + detail


def _same_everywhere(panes: dict[str, list[str | None]]) -> tuple[bool, str]:
    pictures = {tuple(p) for p in panes.values()}
    return len(pictures) == 1, "; ".join(f"{uri}: {p}" for uri, p in panes.items())


def _most_common(layouts: list[str]) -> str | None:
    return max(set(layouts), key=layouts.count) if layouts else None


# ---------------------------------------------------------------------- the whole demo


def demo_settings(options: DemoOptions, data_dir: Path) -> Settings:
    """The server's settings: free port on loopback, the demo's data directory."""
    return load_settings(options.config, host="127.0.0.1", port=0, data_dir=data_dir)


async def run_demo(options: DemoOptions) -> DemoReport:
    """Run the consultation end to end; the report holds every step and expectation (and
    `error` when the scenario could not go on)."""
    from app.demo.device_steps import device_for
    from app.process import running_server
    from terminals.media_sources import VideoFormat as SentVideo
    from terminals.run_command import start_terminals, stop_terminals

    started = time.monotonic()
    report = DemoReport()
    if options.out_dir is not None:
        options.out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="mcu-sim-demo-") as scratch:
        settings = demo_settings(options, options.data_dir or Path(scratch))
        numbering = EnumNumbering(settings.enum_numbering)
        sent = options.terminal_video
        async with running_server(settings) as server, contextlib.AsyncExitStack() as stack:
            browser = None
            if options.browser:
                from app.demo.browser import browser_site
                from terminals.browser_terminal import playwright_missing

                missing = playwright_missing()
                if missing is None:
                    browser = await stack.enter_async_context(
                        browser_site(server.base_url, Path(scratch)))
                else:
                    print(f"mcu-sim demo: no browser terminal: {missing}", file=sys.stderr)
            signalling_url = server.base_url.replace("http", "ws", 1) + "/signalling"
            terminals = await start_terminals(
                signalling_url, SITE_COUNT, ring_delay_s=0.2,
                media_address=settings.media_address, analyse_every=NO_PERIODIC_ANALYSIS,
                video_format=SentVideo(sent.width, sent.height, sent.fps, sent.bitrate),
                content=lambda index: "radiograph" if index % 2 == 0 else "record",
                content_size=options.content_size, device_for=device_for)
            report.sites = [terminal.uri for terminal in terminals]
            for terminal in terminals:
                terminal.content.analyse_every = NO_PERIODIC_ANALYSIS
            size = _format_size(options.video_format)
            report.output_format = f"{options.video_format.name} {size}, {options.rate}"
            try:
                soap = await asyncio.to_thread(EsdkClient.connect, server.base_url,
                                               options.wsdl)
                await asyncio.to_thread(soap.login, options.user, options.password)
                consultation = Consultation(soap, terminals, options, numbering, report,
                                            browser, server.base_url)
                await consultation.run()
            except (SoapError, CallDropped, TimeoutError, OSError) as error:
                report.error = str(error)
            finally:
                await stop_terminals(terminals)
    report.seconds = round(time.monotonic() - started, 1)
    if options.out_dir is not None:
        report.write(options.out_dir)
    return report


def _format_size(video_format: VideoFormat) -> str:
    from mcu.media.output_format import FORMAT_SIZES

    size = FORMAT_SIZES.get(video_format)
    return f"{size.width}x{size.height}@{size.fps}" if size else "default size"
