"""The consultation of `mcu-sim demo`: a server and four simulated terminals in this process,
driven only through the SOAP API (zeep from the reference WSDL), proved from what the
terminals decoded and heard.

Steps, after login, booking a conference that starts now with the four sites, connecting
them and waiting until queryConfSitesStatusEx shows every site in conference. J0..J3 is the
join order, read from the first step's picture (the automatic assignment follows it):

  cp_4_1           setContinuousPresenceEx CP_4_1, no subPics: all four sites, in join order
  cp_2_1           setContinuousPresenceEx CP_2_1, subPics [J3, J1]
  voice_switching  setAudioSwitchEx on; CP_4_1 automatic; J3, silent until switching
                   settled, talks louder: J3 is speaking and moves to the main pane; the
                   delay from its first louder audio block to each other terminal's decoded
                   main pane showing it is measured (switch_delay_ms, beside the hold)
  mute             setSitesMuteEx J1: nobody else hears J1
  broadcast        setBroadcastSiteEx J2: everyone else sees J2 full screen
  video_source     broadcast stopped; setVideoSourceEx J0 <- J1: J0 sees J1 full screen
  end              delScheduledConfEx: every terminal is hung up

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
voice-switching step (report.json "browser", expectation browser.cp).
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
from mcu.layouts import layout_mode
from mcu.model import VideoFormat
from mcu.runtime import SPEAKER_HOLD_SECONDS

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


@dataclass
class Observation:
    """One poll: what every terminal decodes and hears now, and what the queries answer."""

    panes: dict[str, list[str | None]]
    latency_ms: dict[str, float | None]
    heard: dict[str, dict[str, float]]
    states: dict[str, str]
    api: dict[str, Any]
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
                 numbering: EnumNumbering, report: DemoReport, browser: Any = None) -> None:
        self.soap = soap
        self.browser = browser  # app/demo/browser.BrowserSite, or None
        self.terminals = {terminal.uri: terminal for terminal in terminals}
        self.sites = list(self.terminals)
        self.options = options
        self.numbering = numbering
        self.report = report
        self.conf_id = ""
        self.begin: datetime | None = None
        self.join_order: list[str] = list(self.sites)

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
            await asyncio.sleep(POLL_S)
        record = StepRecord(
            name=step.name,
            layout=_most_common([layout for layout in step.views.values() if layout]),
            action=step.action,
            settled=all(held for _, held, _ in results),
            seconds=round(loop.time() - started, 2),
            queried=observation.api,
            switch_delay_ms=dict(step.measured),
            hold_ms=SPEAKER_HOLD_SECONDS * 1000 if step.measured else None,
        )
        for uri, layout in step.views.items():
            record.terminals[uri] = TerminalRecord(
                snapshot=await self.snapshot(step.name, uri) if layout else None,
                layout=layout,
                panes=observation.panes.get(uri, []),
                heard=observation.heard.get(uri, {}),
                latency_ms=observation.latency_ms.get(uri),
                state=observation.states[uri],
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
        api = await asyncio.to_thread(step.query or self.conference_facts)
        probed = await step.probe() if step.probe is not None else {}
        return Observation(panes, latency, heard, states, api, probed)

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
        for build in (self.cp_2_1, self.voice_switching, self.mute, self.broadcast,
                      self.video_source, self.end):
            await self.run_step(build())
            if build == self.voice_switching and self.browser is not None:
                await self.record_browser()
            if build == self.voice_switching:
                await self.run_device_steps()

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
                device_for=device_for)
            report.sites = [terminal.uri for terminal in terminals]
            size = _format_size(options.video_format)
            report.output_format = f"{options.video_format.name} {size}, {options.rate}"
            try:
                soap = await asyncio.to_thread(EsdkClient.connect, server.base_url,
                                               options.wsdl)
                await asyncio.to_thread(soap.login, options.user, options.password)
                consultation = Consultation(soap, terminals, options, numbering, report,
                                            browser)
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
