"""What both sides of the SIP user agent (sip/useragent.py) share: its settings, the statuses
and handler types of its callbacks, its state (dialogs, INVITEs being answered, 2xx
retransmissions, ACKs sent), its life cycle and Contact, and requests built, stamped and run
in client transactions, in or out of a dialog (RFC 3261 sections 8.1, 12-13)."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Self

from sip.dialog import Dialog
from sip.dtmf import CONTENT_TYPE as DTMF_RELAY
from sip.dtmf import DtmfEvent
from sip.errors import SipCallFailed
from sip.message import Request, Response
from sip.registrar import Registrar
from sip.transaction import ServerTransaction, Timers, TransactionLayer
from sip.transport import Peer, Transports, TransportSettings
from sip.values import NameAddr, SipUri

ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, REGISTER"
ACCEPT = ("application/sdp", DTMF_RELAY)
SUPPORTED: tuple[str, ...] = ()  # no option tags (no 100rel, no timer): Require of any is 420
SDP = "application/sdp"
MAX_REDIRECTS = 3  # 3xx answers an INVITE follows in a row (invite)

REASONS = {
    100: "Trying", 180: "Ringing", 200: "OK", 302: "Moved Temporarily", 400: "Bad Request",
    403: "Forbidden",
    404: "Not Found", 405: "Method Not Allowed", 408: "Request Timeout",
    415: "Unsupported Media Type", 416: "Unsupported URI Scheme", 420: "Bad Extension",
    480: "Temporarily Unavailable", 481: "Call/Transaction Does Not Exist",
    486: "Busy Here", 487: "Request Terminated", 488: "Not Acceptable Here",
    491: "Request Pending", 500: "Server Internal Error", 501: "Not Implemented",
    503: "Service Unavailable", 600: "Busy Everywhere", 603: "Decline",
}


@dataclass(frozen=True)
class SipReject:
    """What `on_invite` / `on_reinvite` return to refuse: the final status (486, 603...)."""

    status: int
    reason: str = ""
    # a redirection's (3xx) target, sent as its Contact (RFC 3261 section 8.1.3.4)
    contact: str = ""

    def __post_init__(self) -> None:
        if not 300 <= self.status <= 699:
            raise ValueError(f"a rejection is a 3xx-6xx status, not {self.status}")
        if self.contact and not 300 <= self.status <= 399:
            raise ValueError("only a redirection (3xx) carries a Contact")


InviteHandler = Callable[[Request], Awaitable[bytes | SipReject]]
ReinviteHandler = Callable[[Dialog, bytes], Awaitable[bytes | SipReject]]
DialogHandler = Callable[[Dialog], None]
DtmfHandler = Callable[[Dialog, DtmfEvent], None]


@dataclass
class UaSettings:
    user: str = "mcu"
    transports: TransportSettings = field(default_factory=TransportSettings)
    timers: Timers = field(default_factory=Timers)
    user_agent: str = "mcu-sim"


@dataclass
class PendingInvite:
    """An INVITE the UAS is answering: its transaction, handler task and to-tag."""

    transaction: ServerTransaction
    to_tag: str
    task: asyncio.Task[None] | None = None
    final_sent: bool = False


@dataclass
class Retransmit2xx:
    response: Response
    peer: Peer
    cseq: int
    handle: asyncio.TimerHandle | None = None
    acked: asyncio.Event = field(default_factory=asyncio.Event)


class UaCore:
    """The user agent's state and what the UAC (sip/ua_client.py) and the UAS
    (sip/ua_server.py) both use; SipUserAgent is the three together."""

    def __init__(self, settings: UaSettings | None = None, *,
                 on_invite: InviteHandler | None = None,
                 on_reinvite: ReinviteHandler | None = None,
                 on_bye: DialogHandler | None = None,
                 on_dtmf: DtmfHandler | None = None,
                 registrar: Registrar | None = None) -> None:
        self.settings = settings or UaSettings()
        self.on_invite = on_invite
        self.on_reinvite = on_reinvite
        self.on_bye = on_bye
        self.on_dtmf = on_dtmf
        self.registrar = registrar
        self.transports = Transports(self.settings.transports, self._receive)
        self.layer = TransactionLayer(self.transports, self.settings.timers)
        self.dialogs: dict[tuple[str, str, str], Dialog] = {}
        self._pending: dict[tuple[str, str, str], PendingInvite] = {}
        self._retransmits: dict[tuple[str, str, str], Retransmit2xx] = {}
        self._acks: dict[tuple[str, str, str], tuple[Request, Peer]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    # life cycle
    async def start(self) -> None:
        await self.transports.start()

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for retransmit in self._retransmits.values():
            if retransmit.handle:
                retransmit.handle.cancel()
        self.layer.close()
        await self.transports.close()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def timers(self) -> Timers:
        return self.settings.timers

    def contact(self, transport: str = "UDP", scheme: str | None = None) -> str:
        """Our Contact on a transport: `sips:` for TLS unless `scheme` says `sip` (answering a
        `sip:...;transport=tls` request, whose sender may know no `sips:`: baresip 1.0.0
        ends such a call when it cannot send its ACK to a `sips:` Contact)."""
        param = "" if transport == "UDP" else f";transport={transport.lower()}"
        if scheme is None or transport != "TLS":
            scheme = "sips" if transport == "TLS" else "sip"
        return f"{scheme}:{self.settings.user}@{self.transports.sent_by(transport)}{param}"

    def _answer_contact(self, transaction: ServerTransaction) -> str:
        """The Contact of our answers: on TLS, the scheme the request came with."""
        return self.contact(transaction.peer.transport,
                            transaction.request.request_uri.scheme)

    def uri(self, transport: str = "UDP") -> str:
        return self.contact(transport)

    def _spawn(self, coroutine: Awaitable[None]) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # building requests
    def _via(self, transport: str) -> str:
        branch = "z9hG4bK" + secrets.token_hex(8)
        return f"SIP/2.0/{transport} {self.transports.sent_by(transport)};branch={branch}"

    def _stamp(self, request: Request, transport: str) -> Request:
        request.headers.items.insert(0, ("Via", self._via(transport)))
        if request.method in ("INVITE", "REGISTER"):
            request.headers.set("Contact", f"<{self.contact(transport)}>")
        request.headers.set("User-Agent", self.settings.user_agent)
        return request

    @staticmethod
    def target(uri: SipUri, transport: str | None = None) -> tuple[str, tuple[str, int]]:
        """The transport and address a URI is reached at (no DNS: an IP or a local name)."""
        chosen = (transport or str(uri.params.get("transport") or "")).upper()
        if uri.scheme == "sips":
            chosen = "TLS"
        chosen = chosen or "UDP"
        if chosen not in ("UDP", "TCP", "TLS"):
            raise SipCallFailed(416, f"unsupported transport {chosen}", local=True)
        port = uri.port or (5061 if chosen == "TLS" else 5060)
        return chosen, (uri.host.strip("[]"), port)

    async def _transact(self, request: Request, peer: Peer,
                        on_provisional: Callable[[Response], None] | None = None) -> Response:
        """Run a client transaction to its final response (SipCallFailed(408, local) on
        timer B/F)."""
        loop = asyncio.get_running_loop()
        final: asyncio.Future[Response] = loop.create_future()

        def on_response(response: Response) -> None:
            if response.status < 200:
                if on_provisional is not None:
                    on_provisional(response)
            elif not final.done():
                final.set_result(response)

        def on_timeout() -> None:
            if not final.done():
                final.set_exception(SipCallFailed(408, "Request Timeout", local=True))

        self.layer.client(request, peer, on_response, on_timeout)
        return await final


    # dialogs
    async def _send_ack(self, dialog: Dialog, response: Response) -> None:
        """The ACK of a 2xx (section 13.2.2.4): a new transaction-less request to the remote
        target, kept to answer the 2xx's retransmissions."""
        ack = dialog.new_request("ACK")
        ack.headers.set("CSeq", f"{response.cseq.number} ACK")
        self._stamp(ack, dialog.transport)
        with contextlib.suppress(OSError, SipCallFailed, TimeoutError):
            peer = await self._dialog_peer(dialog)
            self._acks[dialog.id] = (ack, peer)
            self.transports.send(ack, peer)

    async def _dialog_peer(self, dialog: Dialog) -> Peer:
        reused = dialog.peer
        if (reused is not None and reused.connection is not None
                and not reused.connection.closed and not dialog.route_set):
            return reused
        target = dialog.remote_target
        if dialog.route_set:
            first = NameAddr.parse(dialog.route_set[0], "Route").uri
            if "lr" in first.params:
                target = first
        kind, addr = self.target(target, dialog.transport)
        return await self._peer(kind, addr)

    async def _peer(self, kind: str, addr: tuple[str, int]) -> Peer:
        """A path to a destination; SipCallFailed(503, local) when it cannot be reached."""
        try:
            return await self.transports.peer_for(kind, addr)
        except OSError as exc:
            raise SipCallFailed(503, f"no route to {addr[0]}: {exc}", local=True) from exc

    async def send_in_dialog(self, dialog: Dialog, request: Request) -> Response:
        self._stamp(request, dialog.transport)
        peer = await self._dialog_peer(dialog)
        response = await self._transact(request, peer)
        if request.method == "INVITE" and 200 <= response.status < 300:
            await self._send_ack(dialog, response)
        if response.status >= 300:
            raise SipCallFailed(response.status, response.reason)
        return response

    def end_dialog(self, dialog: Dialog, by: str) -> None:
        if not dialog.terminated.is_set():
            dialog.ended_by = by
            dialog.terminated.set()
        self.dialogs.pop(dialog.id, None)
        self._acks.pop(dialog.id, None)
        retransmit = self._retransmits.pop(dialog.id, None)
        if retransmit is not None and retransmit.handle is not None:
            retransmit.handle.cancel()

    # receiving
    def _receive(self, message: Request | Response, peer: Peer) -> None:
        self.layer.receive(message, peer)
