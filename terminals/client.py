"""A simulated terminal: signalling over the MCU's WebSocket, media over one RTCPeerConnection.

It authenticates and registers its URI (the MCU's digest challenge answered with its secret:
rtc/signalling_auth.py; no secret given: the one the public lab provisioning key derives for
its URI, which the MCU's embedded defaults accept), answers the MCU's invites (after a ring delay), declines them, or lets
them ring forever; it can dial in with an access code and password, or call another
registered terminal point to point (`call`; it answers such a call as it answers the MCU's
invite, the caller's offer relayed by the MCU); it hangs up or is hung
up with `bye`; it pings the MCU every 2 s and answers the MCU's pings, so either side sees
the other vanish within HEARTBEAT_MISSES intervals. A lost signalling connection ends the
call and is re-established every second until the terminal is stopped, except after the MCU
refused its credential (`unauthorized`, `locked`: retrying would only count more failures)
or its URI registered from another connection (`replaced`): then it stays disconnected.

Media: one audio and one video transceiver, sendrecv, offering and answering only the codecs
its capabilities declare, in their order. It sends the pre-encoded loop of the negotiated
video codec (H264 preferred, else VP8) and its synthetic voice (as Opus packets it encodes
itself when the call negotiated Opus, else as frames aiortc encodes), and keeps
statistics of what it receives (terminals/receiver.py). With decode_video=False it counts
the complete video frames it receives without decoding them (terminals/frame_counter.py):
a cheap receiver for load tests, with no picture, panes or latency; decode_audio=False
likewise counts the audio frames and hears nothing. With send_video=False (no camera) or
send_audio=False (no microphone) that transceiver is recvonly: the terminal only receives
(a display-only room). It uses the STUN/TURN servers the MCU announces in `registered`.
With lean_media (the default) its receivers handle each RTP packet in one step and its
loop and Opus voice go through the direct send path (terminals/loop_sender.py,
docs/terminals.md "The lean media path"); False keeps aiortc's own per-packet handling.

Content (aux) stream: a third transceiver, the call's second video m-line
(rtc/content_sdp.py). With `content` ("radiograph" or "record": which document's pages come
first) the terminal has a content input (terminals/content_source.py), pre-encoded at
start, and sends it on that m-line only between start_content() and stop_content() (the
floor); with receive_content it decodes the content it receives there (content_stats():
site, page, frame, latency, PSNR, terminals/content_receiver.py). The m-line's direction
says which: sendrecv, sendonly, recvonly, or inactive with neither. content_mline=False
plays an old client: it offers no second video m-line and answers one inactive.

The class is built by concern, each in its own module, one base above the other:
terminals/terminal_base.py (its state, the socket it writes to, the codecs it may send),
terminals/terminal_media.py (a call's peer connection, what it sends, the end of a call),
terminals/terminal_views.py (what it sees and hears, the content it sends, statistics),
terminals/terminal_calls.py (invites, dial-ins, calls, the floor, the device, cameras and
sources) and this module (its life cycle and signalling connection); the public types are
in terminals/terminal_types.py, imported from here as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import aiohttp

from rtc.ice import IceServerError, parse_ice_servers, use_media_address
from rtc.signalling import (
    UNKNOWN_CALL,
    Answer,
    Auth,
    Bye,
    CameraControl,
    Challenge,
    Decline,
    Error,
    HeartbeatSchedule,
    Invite,
    Joined,
    Message,
    Ping,
    Pong,
    ReceiveStats,
    Register,
    Registered,
    SendVideo,
    SignallingError,
    Sources,
    parse_message,
)
from rtc.signalling_auth import digest_ha1, digest_response
from terminals.call_state import CallState
from terminals.loop_encoders import BACKGROUND_LOOP_ENCODERS
from terminals.terminal_calls import TerminalCalls
from terminals.terminal_types import (
    CONTENT_KINDS,
    AnswerMode,
    CallRefused,
    ContentKind,
    RegistrationRefused,
    ScreenStats,
    TerminalStats,
    content_pages,
)

__all__ = [
    "CONTENT_KINDS",
    "AnswerMode",
    "CallRefused",
    "ContentKind",
    "RegistrationRefused",
    "ScreenStats",
    "SimulatedTerminal",
    "TerminalStats",
    "content_pages",
]

# the terminal's log, one name for all its modules (as when they were one module)
log = logging.getLogger("terminals.client")

RECONNECT_DELAY_S = 1.0
# Errors that end the terminal's registration attempts (it does not reconnect after them).
_FINAL_ERRORS = frozenset({"unauthorized", "locked", "replaced"})


class SimulatedTerminal(TerminalCalls):
    """A simulated terminal (the module's docstring): its life cycle and its signalling
    connection, each concern in its own base (terminals/terminal_*.py)."""

    async def start(self, server_url: str, timeout: float = 10.0) -> None:
        """Encode the video loop, connect and register; returns once registered."""
        if self.media_address:
            use_media_address(self.media_address)
        self.send_log.register_site(self.site_index, self.uri,
                                    self.loop_frames / self.video_format.fps)
        preferred = self._video_codecs()[0]
        self._audio_codecs()  # refuse a terminal that could not speak before it registers
        if self.send_video:
            BACKGROUND_LOOP_ENCODERS.start()  # ready before a call's ladder ask needs them
            await self._loop_for(preferred)
        if self.content_source is not None:
            await self.content_source.prepare(self._content_video_codecs()[0])
        self._server_url = server_url
        self._session = aiohttp.ClientSession()
        self._run_task = asyncio.get_running_loop().create_task(self._run())
        registered = asyncio.ensure_future(self._registered.wait())
        refused = asyncio.ensure_future(self._refused.wait())
        try:
            await asyncio.wait({registered, refused}, timeout=timeout,
                               return_when=asyncio.FIRST_COMPLETED)
        finally:
            registered.cancel()
            refused.cancel()
        if self.refusal is not None:
            raise RegistrationRefused(f"{self.uri}: {self.refusal.code}: {self.refusal.message}")
        if not self._registered.is_set():
            raise TimeoutError(f"{self.uri}: not registered within {timeout} s")

    async def stop(self) -> None:
        """Hang up, close the signalling connection and stop reconnecting."""
        self._stopping = True
        for task in list(self._tasks):
            task.cancel()
        await self.hang_up("terminal stopped")
        if self._ws is not None:
            await self._ws.close()
        if self._run_task is not None:
            self._run_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._run_task
        await self.wait_closed()
        if self._session is not None:
            await self._session.close()
        self.send_log.forget_site(self.site_index)

    async def _run(self) -> None:
        assert self._session is not None and self._server_url is not None
        while not self._stopping and self.refusal is None:
            try:
                async with self._session.ws_connect(self._server_url, heartbeat=None,
                                                    ssl=self.tls or True) as ws:
                    self._ws = ws
                    await self._serve_connection(ws)
            except (aiohttp.ClientError, OSError) as error:
                log.info("%s: signalling unavailable: %s", self.uri, error)
            finally:
                self._ws = None
                self._registered.clear()
            if not (self.keep_call_on_reconnect and self.state == CallState.IN_CALL):
                await self._end_call(notify=False)
            if not self._stopping and self.refusal is None:
                await asyncio.sleep(RECONNECT_DELAY_S)

    async def _serve_connection(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        loop = asyncio.get_running_loop()
        self._last_heard = loop.time()
        self._challenged = False  # registers once per connection: at its first challenge
        heartbeat = loop.create_task(self._heartbeat(ws))
        reporter = loop.create_task(self._report_loop())
        try:
            async for message in ws:
                if message.type != aiohttp.WSMsgType.TEXT:
                    break
                self._last_heard = loop.time()
                try:
                    parsed = parse_message(message.data)
                except SignallingError as error:
                    log.warning("%s: bad message from the MCU: %s", self.uri, error)
                    continue
                await self._on_message(parsed)
        finally:
            heartbeat.cancel()
            reporter.cancel()

    async def _report_loop(self) -> None:
        """Every stats_interval_s of a conference call in progress (media connected): the
        `stats` message (docs/signalling.md, "Receive statistics")."""
        if self.stats_interval_s is None:
            return
        while True:
            await asyncio.sleep(self.stats_interval_s)
            report = self.receive_report(time.monotonic())
            if report is not None:
                await self._send(report)
                self.reports_sent = [*self.reports_sent[-99:], report]

    def receive_report(self, now: float) -> ReceiveStats | None:
        """What this terminal received since the previous call of this method in the same
        conference call: the main picture (decoded frames a second, else counted ones; the
        latency of the markers read) and the content stream (null when none arrived); None
        outside a conference call, and at its first reading (no interval yet)."""
        call = self._call
        if call is None or not call.conf_id or self.state != CallState.IN_CALL:
            self._metered_call = None
            return None
        if call.call_id != self._metered_call:
            self._metered_call = call.call_id
            self._main_meter.reset()
            self._content_meter.reset()
        frames = self.video.frames_decoded if self.video.decode else self.video.frames_received
        main = self._main_meter.receipt(now, frames, self.video.recent_latencies())
        content = self._content_meter.receipt(now, self.content.frames_decoded,
                                              self.content.recent_latencies())
        if main is None:
            return None
        if content is not None and content.fps == 0:
            content = None  # no content frame arrived in the interval
        return ReceiveStats(call.call_id, main, content)

    async def _heartbeat(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        loop = asyncio.get_running_loop()
        schedule = HeartbeatSchedule()
        while True:
            now = loop.time()
            await asyncio.sleep(max(0.0, schedule.next_wake(now, self._last_heard) - now))
            now = loop.time()
            if schedule.is_gone(now, self._last_heard):
                log.warning("%s: the MCU is silent, reconnecting", self.uri)
                await ws.close()
                return
            if schedule.take_ping(now):
                self._ping_seq += 1
                await self._send(Ping(self._ping_seq))

    async def _on_message(self, message: Message) -> None:
        if isinstance(message, Challenge):
            if not self._challenged and not self.registered:
                self._challenged = True
                ha1 = digest_ha1(self.uri, message.realm, self._secret)
                auth = Auth(digest_response(ha1, message.nonce))
                await self._send(Register(self.uri, self.name, self.site_type,
                                          self.capabilities, auth, self.device))
        elif isinstance(message, Error) and message.code in _FINAL_ERRORS \
                and (message.code == "replaced" or not self.registered):
            log.warning("%s: the MCU refused it: %s: %s", self.uri, message.code,
                        message.message)
            self.refusal = message
            self._refused.set()
            if self._ws is not None:
                await self._ws.close()
        elif isinstance(message, Registered):
            try:
                self.ice_servers = parse_ice_servers(message.ice_servers)
            except IceServerError as error:
                log.warning("%s: unusable ICE servers from the MCU: %s", self.uri, error)
            self._registered.set()
        elif isinstance(message, Ping):
            await self._send(Pong(message.seq))
        elif isinstance(message, Pong):
            # any message counts as a sign of life; a round trip may wait for this one
            waiter = self._pong_waiters.pop(message.seq, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(None)
        elif isinstance(message, Invite):
            # The loop keeps only a weak reference to a task: hold it until it is done.
            task = asyncio.get_running_loop().create_task(self._on_invite(message))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        elif isinstance(message, (Joined, Answer, Decline, Error, Bye)) \
                and self._pending_join is not None \
                and message.call_id == self._joining_call_id and not self._pending_join.done():
            self._pending_join.set_result(message)
        elif isinstance(message, Bye):
            if message.call_id == self._ringing_call_id:
                self._ringing_call_id = None  # the MCU gave up (or the caller cancelled)
                self._ended_call_ids.append(message.call_id)
                if self.state == CallState.RINGING:
                    self.state = CallState.IDLE
            if self._call is not None and message.call_id == self._call.call_id:
                await self._end_call(notify=False)
        elif isinstance(message, CameraControl):
            self._move_camera(message)
        elif isinstance(message, Sources):
            self._choose_sources(message)
        elif isinstance(message, SendVideo):
            self._follow_send_request(message)
        elif isinstance(message, Error):
            crossed = message.code == UNKNOWN_CALL and message.call_id in self._ended_call_ids
            log.log(logging.DEBUG if crossed else logging.WARNING, "%s: MCU error %s: %s",
                    self.uri, message.code, message.message)
