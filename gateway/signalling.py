"""Terminal signalling on the gateway's aiohttp app: the WebSocket at /signalling.

One WebSocket per terminal, JSON messages of rtc/signalling.py (docs/signalling.md). A
terminal registers its URI and becomes reachable (runtime.registry, querySitesEx); the MCU
then calls it through its WebRtcEndpoint, or it dials in with `join`.

Authentication (docs/signalling.md, "Authentication"): the MCU sends a digest `challenge`
when the socket opens; a `register` carrying the right response (mcu/terminal_credentials.py)
makes the socket that URI's. Until then the socket can only register and ping: anything else
is answered `unauthorized`. A wrong response or an unknown URI is `unauthorized` too (the
same answer), counted per socket and per URI (a lock: `locked`), and a fresh challenge
follows. A register of a URI registered on another socket replaces that socket: it is told
(`error` `replaced`), its calls end as a vanished terminal's, and it is closed.

Heartbeat: the MCU pings every terminal every `heartbeat_interval` seconds; any message from
the terminal counts as a sign of life. A terminal silent for `heartbeat_misses` intervals
(checked when that deadline falls, not at the next ping), or whose WebSocket closed, has
vanished: it is unregistered and its calls end as if it hung
up (the conference goes on; it can register and be called again). aiortc alone would notice
a dead peer only after about 30 s of ICE consent failures.

Camera control: a CameraCommanded event (ctrlCameraEx accepted by the runtime, which chose
the site whose camera moves) is sent to that site's terminal as a `camera` message. Stream
sources: a StreamSourcesChanged event (setMainAuxStreamSourcesEx or camAction 21 accepted)
is sent to that site's terminal as a `sources` message, which its main picture obeys.

Malformed input (not JSON, unknown type, a field its declared schema refuses: see
rtc/signalling_schema.py; a binary frame, a message out of place) is answered with an
`error` message and otherwise ignored; a handler that fails answers `error` `internal` (and
is logged): never a crash or a close.

Connection limits (docs/security.md, "Connection limits"):
- a message (a frame, or a fragmented message whole) over MAX_MESSAGE_BYTES closes the
  socket with 1009 (message too big; aiohttp's reader does it);
- each connection may send RATE_PER_SECOND messages a second, RATE_BURST at once (a token
  bucket); a message beyond it is answered `error` `rate_limited` and otherwise ignored;
- the messages waiting to be written to a terminal are at most OUTBOX_LIMIT: once half of
  them wait, the MCU reads nothing more from that terminal until they drain (backpressure:
  a burst of requests waits in the terminal's own socket); a terminal that does not read
  them within CLOSE_GRACE_S, or fills the outbox, is cut off with close code
  SLOW_READER_CLOSE_CODE (1008, policy violation) and has vanished, as a silent one has.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import secrets
from collections.abc import Callable, Iterable

from aiohttp import WSMsgType, web

from gateway.p2p_relay import PointToPointRelay
from gateway.terminal_device import connections_of, device_of
from mcu.dial_in_limits import DialInLimitSettings, dial_in_limits
from mcu.events import (
    CameraCommanded,
    RuntimeEvent,
    SiteCallStateChanged,
    StreamSourcesChanged,
)
from mcu.media.engine import MediaEngine, MediaSettings
from mcu.media.webrtc_endpoint import Registration, WebRtcEndpoint
from mcu.model import DirectorySite, SiteCallState
from mcu.runtime import ConferenceRuntime
from mcu.terminal_credentials import (
    TerminalAuthSettings,
    TerminalCredentials,
    Verdict,
)
from rtc.ice import use_media_address
from rtc.signalling import (
    HEARTBEAT_INTERVAL_S,
    HEARTBEAT_MISSES,
    Answer,
    Bye,
    CameraControl,
    Challenge,
    Decline,
    DeviceUpdate,
    Error,
    HeartbeatSchedule,
    Join,
    Message,
    Ping,
    PlaceCall,
    Pong,
    ReceiveStats,
    Register,
    Registered,
    Ringing,
    SignallingError,
    Sources,
    parse_message,
)

log = logging.getLogger("gateway.signalling")

SIGNALLING_PATH = "/signalling"
MEDIA_STATS_PATH = "/stats/media"  # read-only JSON of MediaEngine.stats(), for benchmarks

# Error codes of `error` messages about the connection itself (call errors: webrtc_endpoint).
MALFORMED = "malformed"
ALREADY_REGISTERED = "already_registered"
UNEXPECTED = "unexpected"
INTERNAL = "internal"  # a valid message whose handling failed on the MCU's side (logged)
RATE_LIMITED = "rate_limited"
UNAUTHORIZED = "unauthorized"  # not authenticated yet, or a register refused (docs/signalling.md)
LOCKED = "locked"  # too many refused registers of this socket or URI
REPLACED = "replaced"  # sent to a socket whose URI registered again elsewhere
UNKNOWN_INPUT = "unknown_input"  # a `device` message names an input the terminal did not declare
REPLACED_CLOSE_CODE = 4001  # the close code of that socket (4000-4999: the application's)

# Connection limits (docs/security.md). SDPs are under 64 KiB; the largest message is one.
MAX_MESSAGE_BYTES = 256 * 1024
RATE_PER_SECOND = 50.0  # messages a second a connection may send, sustained
RATE_BURST = 100  # and at once
OUTBOX_LIMIT = 256  # messages waiting to be written to one terminal
SLOW_READER_CLOSE_CODE = 1008  # WebSocket "policy violation": the terminal does not read
CLOSE_GRACE_S = 5.0  # a cut-off socket whose close frame cannot be written is aborted after this


EndpointFactory = Callable[[Register, Callable[[Message], None], str], WebRtcEndpoint]


class TokenBucket:
    """`rate` tokens a second up to `burst`; `take` spends one when there is one."""

    def __init__(self, rate: float, burst: int, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self._tokens = float(burst)
        self._stamp = now

    def take(self, now: float) -> bool:
        self._tokens = min(float(self.burst), self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True


class TerminalConnection:
    """One terminal's WebSocket: registration, heartbeat and message dispatch."""

    def __init__(self, hub: SignallingHub, ws: web.WebSocketResponse) -> None:
        self.hub = hub
        self.ws = ws
        self.endpoint: WebRtcEndpoint | None = None
        now = asyncio.get_running_loop().time()
        self.last_heard = now
        self._seq = 0
        self.key = secrets.token_hex(8)  # names this socket in the dial-in and auth limits
        self.nonce = hub.credentials.new_nonce()  # of the challenge the next register answers
        self._outbox: asyncio.Queue[str | None] = asyncio.Queue(maxsize=hub.outbox_limit)
        self._stopped = False  # the writer ends without writing what is queued
        self._closed_for_sending = False  # nothing more is queued (vanished)
        self._cut_off: asyncio.Task[None] | None = None
        self._bucket = TokenBucket(hub.rate_per_second, hub.rate_burst, now)
        self.transport: asyncio.Transport | None = None  # the socket's, set by handle()
        self.writer: asyncio.Task[None] | None = None  # write_loop's task, set by handle()

    # -- sending: one writer task, so synchronous code (the runtime's dialer) can send --

    def send(self, message: Message) -> None:
        if self._stopped or self._closed_for_sending:
            return
        try:
            self._outbox.put_nowait(message.to_json())
        except asyncio.QueueFull:
            self.cut_off()

    async def keep_up(self) -> None:
        """Backpressure: while half the outbox waits to be written, read nothing more from
        this terminal (its burst of requests waits in its own socket); one whose outbox does
        not drain within CLOSE_GRACE_S does not read and is cut off."""
        half = max(1, self._outbox.maxsize // 2)
        if self._outbox.qsize() < half or self._stopped:
            return
        try:
            async with asyncio.timeout(CLOSE_GRACE_S):
                while self._outbox.qsize() >= half and not self._stopped:
                    await asyncio.sleep(0.01)
        except TimeoutError:
            self.cut_off()

    def cut_off(self) -> None:
        """The terminal does not read what it is sent: close its socket with
        SLOW_READER_CLOSE_CODE (aborted after CLOSE_GRACE_S if even the close frame cannot
        be written); it has vanished."""
        if self._cut_off is not None:
            return
        log.warning("terminal %s does not read its messages: cut off",
                    self.uri or "(unregistered)")
        self._stopped = True  # what is queued is dropped: the socket is going
        self.vanish()
        self._cut_off = asyncio.get_running_loop().create_task(
            self._close_slow_reader(), name="signalling cut-off"
        )

    async def _close_slow_reader(self) -> None:
        try:
            async with asyncio.timeout(CLOSE_GRACE_S):
                await self.ws.close(code=SLOW_READER_CLOSE_CODE, message=b"not reading")
        except (TimeoutError, ConnectionError, RuntimeError):
            pass
        finally:
            transport = self.transport
            if transport is not None and not transport.is_closing():
                transport.abort()

    def _stop_writer(self) -> None:
        """End the write loop once what is queued is written; nothing more is queued."""
        self._closed_for_sending = True
        try:
            self._outbox.put_nowait(None)
        except asyncio.QueueFull:  # no room for the end mark: the loop ends at its next item
            self._stopped = True

    async def write_loop(self) -> None:
        while (text := await self._outbox.get()) is not None:
            if self._stopped or self.ws.closed:
                return
            try:
                await self.ws.send_str(text)
            except (ConnectionError, RuntimeError):
                return

    async def heartbeat_loop(self) -> None:
        loop = asyncio.get_running_loop()
        schedule = HeartbeatSchedule(self.hub.heartbeat_interval, self.hub.heartbeat_misses)
        while True:
            now = loop.time()
            await asyncio.sleep(max(0.0, schedule.next_wake(now, self.last_heard) - now))
            now = loop.time()
            if schedule.is_gone(now, self.last_heard):
                log.info("terminal %s silent: vanished", self.uri or "(unregistered)")
                await self.ws.close()
                return
            if schedule.take_ping(now):
                self._seq += 1
                self.send(Ping(self._seq))

    @property
    def uri(self) -> str | None:
        return self.endpoint.uri if self.endpoint is not None else None

    # -- receiving ----------------------------------------------------------------------

    def admit(self) -> bool:
        """A message arrived: it counts as a sign of life; False when it is over the rate
        (then it has been answered `rate_limited` and is to be ignored)."""
        now = asyncio.get_running_loop().time()
        self.last_heard = now
        if self._bucket.take(now):
            return True
        self.send(Error(RATE_LIMITED, f"over {self._bucket.rate:g} messages a second "
                                      f"(burst {self._bucket.burst}): ignored"))
        return False

    def on_text(self, text: str) -> None:
        if not self.admit():
            return
        try:
            message = parse_message(text)
        except SignallingError as error:  # answered for its call when its call_id is readable
            self.send(Error(MALFORMED, str(error), error.call_id))
            return
        except Exception:  # the parser must never drop the socket, whatever it meets
            log.exception("signalling message from %s not parsed", self.uri or "(unregistered)")
            self.send(Error(MALFORMED, "unreadable message"))
            return
        try:
            self.dispatch(message)
        except Exception as error:
            # A fault of the MCU while handling a valid message: logged, answered, and the
            # connection stays (docs/signalling.md: an error never closes it).
            log.exception("%s from %s failed", message.type, self.uri or "(unregistered)")
            call_id = getattr(message, "call_id", None)
            self.send(Error(INTERNAL, f"{message.type} failed: {type(error).__name__}",
                            call_id if isinstance(call_id, str) else None))

    def dispatch(self, message: Message) -> None:
        if self.endpoint is None and not isinstance(message, (Ping, Pong, Error, Register)):
            call_id = getattr(message, "call_id", None)
            self.send(Error(UNAUTHORIZED, "authenticate first: register with the challenge's "
                            "digest response", call_id if isinstance(call_id, str) else None))
            return
        match message:
            case Ping(seq=seq):
                self.send(Pong(seq))
            case Pong():
                pass
            case Error(code=code, message=text):
                log.info("terminal %s reports %s: %s", self.uri, code, text)
            case Register():
                self.register(message)
            case Ringing() | Answer() | Decline() | Bye() | Join():
                self.dispatch_to_endpoint(message)
            case DeviceUpdate():
                self.update_device(message)
            case ReceiveStats():
                if self.endpoint is not None:  # registered: refused above otherwise
                    self.endpoint.on_stats(message)
            case PlaceCall():
                if self.endpoint is None:
                    self.send(Error(UNAUTHORIZED, "register first", message.call_id))
                else:
                    self.hub.p2p.place(self, message)
            case _:
                self.send(Error(UNEXPECTED, f"{message.type} is sent by the MCU, not to it"))

    def dispatch_to_endpoint(self, message: Ringing | Answer | Decline | Bye | Join) -> None:
        """A message of a call goes to the terminal's endpoint, once it has registered."""
        endpoint = self.endpoint
        if endpoint is None:
            self.send(Error(UNAUTHORIZED, "register first", message.call_id))
            return
        if not isinstance(message, Join) and self.hub.p2p.owns(self, message.call_id):
            self.hub.p2p.relay(self, message)  # a point-to-point call (gateway/p2p_relay.py)
            return
        if isinstance(message, Join):
            endpoint.on_join(message)
        else:
            endpoint.on_call_message(message)

    def challenge(self) -> None:
        """A fresh nonce, sent as `challenge`: the next register must answer it."""
        self.nonce = self.hub.credentials.new_nonce()
        credentials = self.hub.credentials
        self.send(Challenge(credentials.realm, self.nonce))

    def register(self, message: Register) -> None:
        if self.endpoint is not None:
            if self.endpoint.uri == message.uri:
                self.send(self._registered(message.uri))  # this socket is already that URI's
            else:
                self.send(Error(ALREADY_REGISTERED, f"this connection is {self.endpoint.uri}"))
            return
        if message.auth is None:  # no guess made: not counted, the challenge stands
            self.send(Error(UNAUTHORIZED, "register needs auth: the response to the challenge"))
            return
        nonce = self.nonce
        if not nonce:  # this socket's URI was replaced: it has no challenge to answer
            self.send(Error(UNAUTHORIZED, "no challenge pending on this connection"))
            return
        self.nonce = ""  # single use, whatever the outcome
        outcome = self.hub.credentials.check(message.uri, nonce, message.auth.response, self.key)
        if outcome.verdict is not Verdict.ACCEPTED:
            refusal = outcome.refusal
            if outcome.verdict is Verdict.LOCKED and refusal is not None:
                wait = max(0, round((refusal.until - self.hub.runtime.clock.now())
                                    .total_seconds()))
                self.send(Error(LOCKED, f"too many refused registers of this {refusal.scope}: "
                                        f"locked, retry in {wait} s"))
            else:
                self.send(Error(UNAUTHORIZED, "unknown uri or wrong digest response"))
            self.challenge()
            return
        previous = self.hub.connections.get(message.uri)
        if previous is not None and previous is not self:
            # The URI authenticated again from another socket (the terminal restarted, or its
            # old socket is not yet timed out): the newer connection wins, the older one is
            # told, its calls end and it is closed.
            previous.replaced()
        self.endpoint = self.hub.new_endpoint(message, self.send, self.key)
        self.hub.connections[message.uri] = self
        self.hub.runtime.registry.register(self.endpoint)
        self.send(self._registered(message.uri))

    def update_device(self, message: DeviceUpdate) -> None:
        """`device`: inputs plugged in or unplugged. All or nothing: an id the terminal did
        not declare is answered `unknown_input` and changes nothing."""
        endpoint = self.endpoint
        if endpoint is None:
            self.send(Error(UNAUTHORIZED, "register first"))
            return
        try:
            device = endpoint.device.with_connections(connections_of(message))
        except KeyError as unknown:
            self.send(Error(UNKNOWN_INPUT, f"input {unknown.args[0]} is not one {endpoint.uri} "
                                           "declared"))
            return
        endpoint.device = device
        self.hub.runtime.devices.device_changed(endpoint.uri)

    def replaced(self) -> None:
        """This socket's URI registered again from another socket: tell it, end its calls
        (as a vanished terminal's) and close it once what is queued is written."""
        self.send(Error(REPLACED, "this uri registered again from another connection"))
        self.vanish()
        if self._cut_off is None:  # held here (the loop keeps only a weak reference)
            self._cut_off = asyncio.get_running_loop().create_task(
                self._close_replaced(), name="signalling replaced")

    async def _close_replaced(self) -> None:
        try:
            async with asyncio.timeout(CLOSE_GRACE_S):
                if self.writer is not None:
                    await asyncio.shield(self.writer)
                await self.ws.close(code=REPLACED_CLOSE_CODE, message=b"replaced")
        except (TimeoutError, ConnectionError, RuntimeError):
            transport = self.transport
            if transport is not None and not transport.is_closing():
                transport.abort()

    def _registered(self, uri: str) -> Registered:
        """The reply to `register`: the URI, and the ICE servers the terminal may use."""
        servers = self.hub.engine.settings.ice_servers
        return Registered(uri, [server.to_json() for server in servers])

    def vanish(self) -> None:
        """Unregister and hang up every call of this terminal (idempotent)."""
        endpoint, self.endpoint = self.endpoint, None
        if endpoint is None:
            return
        if self.hub.connections.get(endpoint.uri) is self:
            del self.hub.connections[endpoint.uri]
        if self.hub.runtime.registry.lookup(endpoint.uri) is endpoint:
            self.hub.runtime.registry.unregister(endpoint.uri)
        endpoint.vanished()
        self.hub.p2p.vanished(endpoint.uri)
        self.hub.remember_closing(endpoint)
        self._stop_writer()


class SignallingHub:
    def __init__(
        self,
        runtime: ConferenceRuntime,
        engine: MediaEngine,
        *,
        heartbeat_interval: float = HEARTBEAT_INTERVAL_S,
        heartbeat_misses: int = HEARTBEAT_MISSES,
        dial_in: DialInLimitSettings | None = None,
        terminal_auth: TerminalAuthSettings | None = None,
    ) -> None:
        self.runtime = runtime
        self.credentials = TerminalCredentials(runtime.clock,
                                               terminal_auth or TerminalAuthSettings())
        self.dial_in_limits = dial_in_limits(runtime.clock, dial_in or DialInLimitSettings())
        self.engine = engine
        self.heartbeat_interval = heartbeat_interval
        self.heartbeat_misses = heartbeat_misses
        self.outbox_limit = OUTBOX_LIMIT
        self.rate_per_second = RATE_PER_SECOND
        self.rate_burst = RATE_BURST
        self.connections: dict[str, TerminalConnection] = {}  # registered ones, by URI
        self._sockets: set[web.WebSocketResponse] = set()
        self._closing: set[WebRtcEndpoint] = set()
        self._unsubscribe = runtime.subscribe(self._on_event)
        self.p2p = PointToPointRelay(self, runtime.p2p)
        # set when conferences run on media nodes (gateway/node_signalling.py)
        self.endpoint_factory: EndpointFactory | None = None

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=MAX_MESSAGE_BYTES)
        await ws.prepare(request)
        self._sockets.add(ws)
        connection = TerminalConnection(self, ws)
        connection.transport = request.transport
        writer = asyncio.create_task(connection.write_loop(), name="signalling writer")
        connection.writer = writer
        connection.challenge()
        heartbeat = asyncio.create_task(connection.heartbeat_loop(), name="signalling heartbeat")
        try:
            async for frame in ws:
                if frame.type is WSMsgType.TEXT:
                    connection.on_text(frame.data)
                elif frame.type is WSMsgType.BINARY:
                    if connection.admit():
                        connection.send(Error(MALFORMED, "messages are JSON text frames"))
                elif frame.type is WSMsgType.ERROR:
                    break
                await connection.keep_up()
        finally:
            heartbeat.cancel()
            connection.vanish()
            connection._stop_writer()
            await asyncio.gather(writer, heartbeat, return_exceptions=True)
            self._sockets.discard(ws)
        return ws

    def new_endpoint(self, message: Register, send: Callable[[Message], None],
                     socket_key: str) -> WebRtcEndpoint:
        """The endpoint of a terminal that registered: its calls' media in this process,
        or, when conferences run on media nodes, `endpoint_factory`'s
        (gateway/node_signalling.py)."""
        if self.endpoint_factory is not None:
            return self.endpoint_factory(message, send, socket_key)
        return WebRtcEndpoint(
            Registration.of(message), send, self.engine, self.runtime,
            device_of(message.device, message.capabilities),
            dial_in_limits=self.dial_in_limits, socket_key=socket_key,
        )

    def _on_event(self, event: RuntimeEvent) -> None:
        # A call that ended on the MCU's side without a hang-up (timeout, refused) still has
        # a peer connection and a ringing terminal: tell the terminal and close it.
        if isinstance(event, SiteCallStateChanged) and event.state is SiteCallState.NOT_JOINED:
            connection = self.connections.get(event.uri)
            if connection is not None and connection.endpoint is not None:
                reason = event.reason.description if event.reason else "call ended"
                connection.endpoint.call_over(reason)
        elif isinstance(event, CameraCommanded):
            # ctrlCameraEx, accepted by the runtime: the camera's terminal moves it
            connection = self.connections.get(event.uri)
            if connection is not None:
                requested_by = "" if event.cam_state == 0 else event.requested_by
                connection.send(CameraControl(event.source, event.action, event.position,
                                              requested_by))
        elif isinstance(event, StreamSourcesChanged):
            # setMainAuxStreamSourcesEx / camAction 21, accepted: the terminal shows them
            connection = self.connections.get(event.uri)
            if connection is not None:
                connection.send(Sources(list(event.main_sources), event.aux_source))

    def remember_closing(self, endpoint: WebRtcEndpoint) -> None:
        self._closing.add(endpoint)

    async def close(self) -> None:
        """Server shutdown: close every terminal's socket, then wait for peer connections."""
        self._unsubscribe()
        for ws in list(self._sockets):
            await ws.close(code=1001, message=b"server shutdown")
        for connection in list(self.connections.values()):
            connection.vanish()
        await asyncio.gather(*(endpoint.wait_closed() for endpoint in self._closing))


def with_registered_terminals(
    directory: Iterable[DirectorySite], runtime: ConferenceRuntime | None
) -> list[DirectorySite]:
    """querySitesEx: the site directory, plus the registered terminals it does not list."""
    sites = list(directory)
    if runtime is None:
        return sites
    known = {site.uri for site in sites}
    registered = [
        endpoint.directory_site()
        for endpoint in runtime.registry.endpoints()
        if isinstance(endpoint, WebRtcEndpoint) and endpoint.uri not in known
    ]
    return sites + sorted(registered, key=lambda site: site.uri)


SIGNALLING = web.AppKey("signalling", SignallingHub)


def install_signalling(
    app: web.Application,
    runtime: ConferenceRuntime,
    media_address: str,
    settings: MediaSettings | None = None,
    dial_in: DialInLimitSettings | None = None,
    terminal_auth: TerminalAuthSettings | None = None,
    *,
    media: bool = True,
) -> SignallingHub:
    """Add /signalling and the media engine to the app; they start and stop with it.
    media=False: the conferences' media runs on media nodes (docs/runtime.md, "Nodes"), the
    engine is never started here (it holds no conference)."""
    use_media_address(media_address)
    engine = MediaEngine(runtime, settings)
    hub = SignallingHub(runtime, engine, dial_in=dial_in, terminal_auth=terminal_auth)
    app[SIGNALLING] = hub
    app.router.add_get(SIGNALLING_PATH, hub.handle)

    async def media_stats(_: web.Request) -> web.Response:
        return web.json_response(
            {"conferences": [dataclasses.asdict(stats) for stats in engine.stats()]}
        )

    app.router.add_get(MEDIA_STATS_PATH, media_stats)

    async def start(_: web.Application) -> None:
        if media:
            engine.start()

    async def stop(_: web.Application) -> None:
        await hub.close()
        await engine.close()

    app.on_startup.append(start)
    app.on_shutdown.append(stop)
    return hub
