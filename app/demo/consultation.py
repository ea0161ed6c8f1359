"""The consultation's base: the conference booked and connected through the SOAP API,
and a step run against it (its act, the terminals polled until its checks hold or it times
out, the observation recorded in the report with the terminals' PNGs).

The steps are mixed in from app/demo/conference_steps.py and content_steps.py; the order
they run in is app/demo/scenario.py's Consultation.run.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from app.demo.report import DemoReport, Expectation, StepRecord, TerminalRecord
from app.demo.soap_client import EsdkClient, check
from app.demo.steps import (
    CONTENT_FRESH_S,
    FULL_SCREEN,
    IN_CONFERENCE,
    NO_PERIODIC_ANALYSIS,
    SECOND_STREAM,
    SITE_COUNT,
    CallDropped,
    DemoOptions,
    Observation,
    Step,
    content_record,
    most_common,
    pane_rects,
)
from gateway.enum_numbering import EnumNumbering
from mcu.layouts import layout_mode
from mcu.runtime import SPEAKER_HOLD_SECONDS
from terminals.content_receiver import ContentReceiver


class ConsultationBase:
    """The scripted consultation against a running server with its terminals registered:
    the conference and running a step (the steps: ConferenceSteps, ContentSteps)."""

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

    def everyone(self, layout: str | None) -> dict[str, str | None]:
        """Every site (not the browser) reads `layout`'s panes (None: none)."""
        return {uri: layout for uri in self.sites}

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
            layout=most_common([layout for layout in step.views.values() if layout]),
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
                read[uri] = content_record(status, receiving, SECOND_STREAM)
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
            read[uri] = content_record(status, receiving, f"main picture pane {step.content_pane}")
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
