"""A simulated terminal's side of the content floor: a BFCP floor participant (RFC 8855 over
TCP, rtc/bfcp/transport.py BfcpClient) connected for one call with the RFC 8856 parameters
the call's signalling carried (rtc/signalling.py FloorParams).

`request()` is a person pressing "share" (FloorRequest), `release()` stops sharing
(FloorRelease). The MCU's own notices (transaction 0: FloorRequestStatus for a grant the
chair made with setAuxStreamEx / lockPresentationEx, REVOKED when another site takes the
floor, RELEASED; FloorStatus naming the holder) keep `holds_floor` true exactly while this
terminal's request is GRANTED, and `on_floor(granted)` is awaited on every change of it
(where the content sender starts and stops).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Awaitable, Callable

from rtc.bfcp import messages
from rtc.bfcp.codec import Grouped, Message
from rtc.bfcp.tables import AttributeType, ErrorCode, Primitive, RequestStatus
from rtc.bfcp.transport import BfcpClient, ConnectionClosed
from rtc.signalling import FloorParams

log = logging.getLogger(__name__)

OnFloor = Callable[[bool], Awaitable[None]]


class FloorRefused(Exception):
    """The floor control server answered a request with an Error."""

    def __init__(self, code: int, info: str) -> None:
        super().__init__(f"BFCP error {code}: {info}")
        self.code = code


class FloorParticipant:
    def __init__(self, params: FloorParams, on_floor: OnFloor | None = None,
                 tls: ssl.SSLContext | None = None) -> None:
        """tls: how to verify the MCU's certificate when the floor is TCP/TLS/BFCP (None:
        the system's trusted CAs)."""
        self.params = params
        self.tls = tls
        self.on_floor = on_floor
        self.request_id: int | None = None  # our current (or last) floor request
        self.last_status: RequestStatus | None = None
        self.holder_user: int | None = None  # from the last FloorStatus; None: floor free
        self.holds_floor = False
        self.statuses: list[RequestStatus] = []  # every status of our requests, in order
        self.changed = asyncio.Event()  # set on every status change (tests wait on it)
        self._client: BfcpClient | None = None
        self._notices: asyncio.Task[None] | None = None

    @property
    def connected(self) -> bool:
        return self._client is not None and not self._client.closed.is_set()

    async def connect(self) -> None:
        """Open the TCP (or TLS) connection to the MCU's floor control server and Hello."""
        tls = None
        if self.params.transport == "TCP/TLS/BFCP":
            tls = self.tls or ssl.create_default_context()
        self._client = await BfcpClient.connect(
            self.params.host, self.params.port, self.params.confid, self.params.userid, tls
        )
        self._notices = asyncio.create_task(self._follow_notices(), name="bfcp notices")
        answer = await self._client.request(Primitive.HELLO)
        self._check(answer, Primitive.HELLO_ACK)
        # a grant the chair made before we connected: learn it from the floor's status
        status = await self._client.request(
            Primitive.FLOOR_QUERY, *messages.floor_request(0, 0, 0, self.params.floorid).attributes
        )
        await self._on_notice(self._check(status, Primitive.FLOOR_STATUS))

    async def request(self) -> RequestStatus:
        """FloorRequest for ourselves (a person pressing "share"): GRANTED, or DENIED while
        the floor is locked to another site. FloorRefused for an Error."""
        client = self._require()
        answer = await client.request(
            Primitive.FLOOR_REQUEST,
            *messages.floor_request(0, 0, 0, self.params.floorid).attributes,
        )
        return await self._take_status(self._check(answer, Primitive.FLOOR_REQUEST_STATUS))

    async def release(self) -> RequestStatus | None:
        """FloorRelease of our granted request; None when we hold nothing."""
        if self.request_id is None or not self.holds_floor:
            return None
        client = self._require()
        answer = await client.request(
            Primitive.FLOOR_RELEASE,
            *messages.floor_release(0, 0, 0, self.request_id).attributes,
        )
        return await self._take_status(self._check(answer, Primitive.FLOOR_REQUEST_STATUS))

    async def close(self) -> None:
        """Goodbye and close; holding the floor ends (the MCU releases it on the close)."""
        client, self._client = self._client, None
        if client is not None:
            if not client.closed.is_set():
                with contextlib.suppress(ConnectionClosed, ConnectionError, TimeoutError):
                    await client.request(Primitive.GOODBYE, timeout=1.0)
            await client.close()
        if self._notices is not None:
            self._notices.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._notices
        await self._set_holding(False)

    # ---------------------------------------------------------------- internals

    def _require(self) -> BfcpClient:
        if self._client is None or self._client.closed.is_set():
            raise ConnectionClosed("no BFCP connection for this call")
        return self._client

    @staticmethod
    def _check(answer: Message, expected: Primitive) -> Message:
        if answer.primitive is Primitive.ERROR:
            code = answer.first(AttributeType.ERROR_CODE)
            info = answer.first(AttributeType.ERROR_INFO)
            number = int(code.code) if code is not None else int(ErrorCode.GENERIC_ERROR)
            raise FloorRefused(number, info.decode("utf-8", "replace") if info else "")
        if answer.primitive is not expected:
            raise FloorRefused(int(ErrorCode.GENERIC_ERROR), f"unexpected {answer.primitive.name}")
        return answer

    async def _take_status(self, message: Message) -> RequestStatus:
        found = messages.request_status_of(message)
        if found is None:
            raise FloorRefused(int(ErrorCode.UNABLE_TO_PARSE_MESSAGE), "no request status")
        request_id, status = found
        self.request_id, self.last_status = request_id, status
        self.statuses.append(status)
        self.changed.set()
        await self._set_holding(status is RequestStatus.GRANTED)
        return status

    async def _follow_notices(self) -> None:
        client = self._client
        assert client is not None
        while True:
            notice = await client.notices.get()
            try:
                await self._on_notice(notice)
            except Exception:  # a notice we cannot use must not stop the others
                log.exception("BFCP notice %s not handled", notice.primitive.name)

    async def _on_notice(self, notice: Message) -> None:
        if notice.primitive is Primitive.FLOOR_REQUEST_STATUS:
            await self._take_status(notice)
        elif notice.primitive is Primitive.FLOOR_STATUS:
            info = notice.first(AttributeType.FLOOR_REQUEST_INFORMATION)
            holder = None
            if isinstance(info, Grouped):
                beneficiary = info.first(AttributeType.BENEFICIARY_INFORMATION)
                if isinstance(beneficiary, Grouped):
                    holder = beneficiary.lead
            self.holder_user = holder
            if holder == self.params.userid and isinstance(info, Grouped):
                if self.request_id != info.lead or not self.holds_floor:
                    self.request_id, self.last_status = info.lead, RequestStatus.GRANTED
                    await self._set_holding(True)
            elif self.holds_floor:
                await self._set_holding(False)  # another holder, or none: ours ended
            self.changed.set()

    async def _set_holding(self, holding: bool) -> None:
        if holding == self.holds_floor:
            return
        self.holds_floor = holding
        if self.on_floor is not None:
            try:
                await self.on_floor(holding)
            except Exception:
                log.exception("on_floor(%s) failed", holding)
