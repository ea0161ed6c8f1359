"""The MCU's SIP side as the app runs it: one SipUserAgent (sip/) on media_address at the
[sip] port, UDP and TCP, with our registrar; the dialer that sends calls of SIP sites to
SipEndpoints (mcu/media/sip_endpoint.py) and the dial-in by access code
(mcu/media/sip_dial_in.py). app/process.py starts it next to the gateway."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from mcu.attempt_limits import AttemptLimits
from mcu.calls import Dialer
from mcu.media.engine import MediaEngine
from mcu.media.sip_dial_in import SipDialIn
from mcu.media.sip_endpoint import SipCall, SipDialer, is_sip_uri, spawn_guarded
from mcu.media.sip_reinvite import on_reinvite
from mcu.runtime import ConferenceRuntime
from sip.dialog import Dialog
from sip.errors import SipListenError
from sip.registrar import Registrar
from sip.transport import TransportSettings
from sip.useragent import SipReject, SipUserAgent, UaSettings

log = logging.getLogger(__name__)

REGISTRAR_REALM = "mcu-sim"
BYE_WAIT_S = 2.0  # at shutdown, the calls' BYEs and RTP closes have this long


class SipService:
    def __init__(self, runtime: ConferenceRuntime, engine: MediaEngine, host: str, port: int,
                 dial_in_limits: AttemptLimits) -> None:
        self.runtime = runtime
        self.engine = engine
        self.host = host
        self.configured_port = port  # [sip] port (0: any free one; `port` once listening)
        self.registrar = Registrar(REGISTRAR_REALM)
        self.dial_in = SipDialIn(self, dial_in_limits)
        self.ua = SipUserAgent(
            UaSettings(user="mcu", transports=TransportSettings(
                host, udp_port=port, tcp_port=port, tls_port=None)),
            on_invite=self.dial_in.on_invite,
            on_reinvite=self._on_reinvite,
            registrar=self.registrar,
        )
        self.calls: set[SipCall] = set()  # open calls (dial-out and dial-in)
        self._tasks: set[asyncio.Task[None]] = set()

    async def _on_reinvite(self, dialog: Dialog, body: bytes) -> bytes | SipReject:
        return await on_reinvite(self, dialog, body)

    @property
    def port(self) -> int:
        return self.ua.transports.ports["UDP"]

    async def start(self) -> None:
        """Listen on host:port (UDP and TCP); SipListenError, naming the address, when that
        cannot be done (another SIP program on 5060, say)."""
        try:
            await self.ua.start()
        except OSError as error:
            await self.ua.close()
            raise SipListenError(
                error.errno, f"cannot listen for SIP on {self.host}:{self.configured_port}: "
                f"{error.strerror or error} (choose another port with --sip-port or "
                "[sip] port; 0 takes any free one)") from error
        log.info("SIP user agent on %s:%d (UDP, TCP)", self.host, self.port)

    async def close(self) -> None:
        """Hang up every SIP call (BYE, or CANCEL while ringing; their RTP sessions closed),
        give the BYEs BYE_WAIT_S to be answered, then stop the user agent."""
        for sip_call in list(self.calls):
            sip_call.hang_up()
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=BYE_WAIT_S)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.ua.close()

    def dialer(self, fallback: Dialer) -> SipDialer:
        return SipDialer(fallback, self)

    def spawn(self, coroutine: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        return spawn_guarded(coroutine, name, self._tasks)

    def target_of(self, uri: str) -> str | None:
        """Where a booked SIP site is called: its `sip:`/`sips:` URI as booked; for another
        URI (a number) the first live contact our registrar holds for `sip:<uri>@<host>`;
        None when there is none."""
        if is_sip_uri(uri):
            return uri
        if "@" in uri or ":" in uri or not uri:
            return None
        contacts = self.registrar.lookup(f"sip:{uri}@{self.host}")
        return contacts[0] if contacts else None
