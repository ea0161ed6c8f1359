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
import gc
import sys
import tempfile
import time
from pathlib import Path

from app.demo.conference_steps import ConferenceSteps
from app.demo.content_steps import ContentSteps
from app.demo.report import DemoReport, Expectation
from app.demo.soap_client import EsdkClient, SoapError, keep_session_alive
from app.demo.steps import (
    CONTENT_SIZE,
    HEARD,
    LOUDEST_MARGIN,
    NO_PERIODIC_ANALYSIS,
    NOT_HEARD,
    PANE_PSNR_DB,
    POLL_S,
    SECOND_STREAM_PSNR_DB,
    SITE_COUNT,
    SWITCH_SLACK_S,
    CallDropped,
    Check,
    DemoOptions,
    Observation,
    Step,
    TerminalVideo,
    pane_rects,
    same_everywhere,
)
from gateway.enum_numbering import EnumNumbering
from gateway.settings import Settings, load_settings
from mcu.model import VideoFormat

# What app/demo_command.py, the step modules and the tests import from here.
__all__ = [
    "CONTENT_SIZE", "HEARD", "LOUDEST_MARGIN", "NOT_HEARD", "PANE_PSNR_DB",
    "SECOND_STREAM_PSNR_DB", "SWITCH_SLACK_S", "Check", "Consultation", "DemoOptions",
    "Observation", "Step", "TerminalVideo", "demo_settings", "pane_rects", "run_demo",
]


class Consultation(ConferenceSteps, ContentSteps):
    """The scripted consultation: the steps in their order (the module's docstring)."""

    async def run(self) -> None:
        await self.book_and_connect()
        first = await self.run_step(self.cp_4_1())
        agreed, _ = same_everywhere(first.panes)
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


def demo_settings(options: DemoOptions, data_dir: Path) -> Settings:
    """The server's settings: free port on loopback, the demo's data directory."""
    return load_settings(options.config, host="127.0.0.1", port=0, data_dir=data_dir)


async def run_demo(options: DemoOptions) -> DemoReport:
    """Run the consultation end to end; the report holds every step and expectation (and
    `error` when the scenario could not go on)."""
    from app.demo.device_steps import device_for
    from app.process import running_server
    from app.serve_command import freeze_startup_objects
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
            # the server and the terminals run in this process: keep what exists now out of
            # the collector's full passes, as `mcu-sim serve` does: a test suite's process
            # holds every earlier test's objects too, and a full pass over them stalls the
            # ticks 100-200 ms (measured in tests/test_av_sync.py), the likely cause of the
            # one flash of a CI run's recording 139 ms from its click (the median -18)
            freeze_startup_objects()
            for terminal in terminals:
                terminal.content.analyse_every = NO_PERIODIC_ANALYSIS
            size = _format_size(options.video_format)
            report.output_format = f"{options.video_format.name} {size}, {options.rate}"
            try:
                soap = await asyncio.to_thread(EsdkClient.connect, server.base_url,
                                               options.wsdl)
                await asyncio.to_thread(soap.login, options.user, options.password)
                keeper = asyncio.create_task(keep_session_alive(soap))
                try:
                    consultation = Consultation(soap, terminals, options, numbering, report,
                                                browser, server.base_url)
                    await consultation.run()
                finally:
                    keeper.cancel()
            except (SoapError, CallDropped, TimeoutError, OSError) as error:
                report.error = str(error)
            finally:
                await stop_terminals(terminals)
                gc.unfreeze()
    report.seconds = round(time.monotonic() - started, 1)
    if options.out_dir is not None:
        report.write(options.out_dir)
    return report


def _format_size(video_format: VideoFormat) -> str:
    from mcu.media.output_format import FORMAT_SIZES

    size = FORMAT_SIZES.get(video_format)
    return f"{size.width}x{size.height}@{size.fps}" if size else "default size"
