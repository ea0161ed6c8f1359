"""The SIP user agent core (RFC 3261 sections 8, 12-15): a UAC that places INVITEs, sends
re-INVITEs, BYEs, CANCELs, OPTIONS and REGISTERs (answering digest challenges), and a UAS that
answers INVITEs (100 Trying, 180 Ringing, then the answer or a rejection from `on_invite`),
re-INVITEs (`on_reinvite`), BYE, CANCEL (487 for the INVITE), OPTIONS, INFO with
application/dtmf-relay (`on_dtmf`), and REGISTER when it holds a registrar. Session bodies are
opaque bytes (application/sdp): the callbacks make the offers and answers.

Requests the UAS cannot take get the status of section 8.2: 416 for a non-SIP URI scheme, 420
with Unsupported for an unknown Require, 415 for a body type it does not take, 501 for an
unknown method, 405 for REGISTER without a registrar, 481 for a request in no dialog, 500 for
an out-of-order CSeq, 491 for a re-INVITE while one is pending."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from sip.dialog import Dialog
from sip.dtmf import CONTENT_TYPE as DTMF_RELAY
from sip.dtmf import DtmfEvent, parse_dtmf_relay
from sip.errors import SipCallFailed, SipParseError
from sip.message import Request, Response
from sip.registrar import Registrar, registered_expiry
from sip.transaction import ServerTransaction, Timers, TransactionLayer
from sip.transport import Peer, Transports, TransportSettings, error_response
from sip.values import NameAddr, SipUri

log = logging.getLogger(__name__)

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
class _PendingInvite:
    """An INVITE the UAS is answering: its transaction, handler task and to-tag."""

    transaction: ServerTransaction
    to_tag: str
    task: asyncio.Task[None] | None = None
    final_sent: bool = False


@dataclass
class _Retransmit2xx:
    response: Response
    peer: Peer
    cseq: int
    handle: asyncio.TimerHandle | None = None
    acked: asyncio.Event = field(default_factory=asyncio.Event)


class SipUserAgent:
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
        self.layer.on_request = self._on_request
        self.layer.on_ack = self._on_ack
        self.layer.on_stray_response = self._on_stray_response
        self.dialogs: dict[tuple[str, str, str], Dialog] = {}
        self._pending: dict[tuple[str, str, str], _PendingInvite] = {}
        self._retransmits: dict[tuple[str, str, str], _Retransmit2xx] = {}
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

    async def __aenter__(self) -> SipUserAgent:
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

    # UAC: INVITE
    async def invite(self, uri: str, offer_sdp: bytes, *,
                     on_ringing: Callable[[Response], None] | None = None,
                     transport: str | None = None,
                     cancel: asyncio.Event | None = None,
                     from_user: str | None = None,
                     redirects: int = MAX_REDIRECTS) -> Dialog:
        """Call `uri` with an offer; returns the confirmed dialog (the answer in
        `dialog.remote_sdp`). A final non-2xx raises SipCallFailed with its status; setting
        `cancel` sends CANCEL (once a provisional has come, section 9.1) and ends in 487.
        A redirection (3xx with a Contact, section 8.1.3.4) is followed: the same offer to
        its first Contact, at most `redirects` times (a gateway handing a conference's call
        to the media node that runs it, docs/sip.md "SIP on media nodes"); a call placed
        over TLS follows only a Contact reached over TLS (`sips:` or transport=tls), another
        ends it with the 3xx status."""
        target_uri = SipUri.parse(uri, "URI")
        kind, addr = self.target(target_uri, transport)
        peer = await self._peer(kind, addr)
        local_uri = f"sip:{from_user or self.settings.user}@{self.transports.sent_by(kind)}"
        local_tag = secrets.token_hex(6)
        request = Request(method="INVITE", uri=uri)
        request.headers.add("Max-Forwards", "70")
        request.headers.add("From", f"<{local_uri}>;tag={local_tag}")
        request.headers.add("To", f"<{uri}>")
        request.headers.add("Call-ID", f"{secrets.token_hex(12)}@{self.transports.host}")
        request.headers.add("CSeq", "1 INVITE")
        request.headers.add("Allow", ALLOW)
        request.headers.add("Content-Type", SDP)
        request.body = offer_sdp
        self._stamp(request, kind)
        provisional = asyncio.Event()

        def provisional_seen(response: Response) -> None:
            provisional.set()
            if response.status in (180, 183) and on_ringing is not None:
                on_ringing(response)

        canceller: asyncio.Task[None] | None = None
        if cancel is not None:
            canceller = self._spawn(self._cancel_when(cancel, provisional, request, peer))
        try:
            response = await self._transact(request, peer, provisional_seen)
        finally:
            if canceller is not None:
                canceller.cancel()
        if 300 <= response.status <= 399 and redirects > 0 and response.contacts \
                and not (cancel is not None and cancel.is_set()):
            target = str(response.contacts[0].uri)
            if target != uri:
                if kind == "TLS" and self.target(response.contacts[0].uri)[0] != "TLS":
                    # a call placed over TLS is not taken off it by a redirect (RFC 3261
                    # section 8.1.3.4 lets a client recurse from `sips:` to `sip:` only
                    # after telling its user; we have no user to ask)
                    raise SipCallFailed(response.status,
                                        f"{response.reason} (not followed: {target} is not TLS)")
                return await self.invite(target, offer_sdp, on_ringing=on_ringing,
                                         cancel=cancel, from_user=from_user,
                                         redirects=redirects - 1)
        if response.status >= 300:
            raise SipCallFailed(response.status, response.reason)
        dialog = self._uac_dialog(request, response, kind, local_uri, uri)
        dialog.local_sdp, dialog.remote_sdp = offer_sdp, response.body
        dialog.peer = peer if peer.reliable else None
        await self._send_ack(dialog, response)
        if cancel is not None and cancel.is_set():  # the 2xx crossed our CANCEL: hang up
            await dialog.bye()
            raise SipCallFailed(487, "Request Terminated")
        return dialog

    async def _cancel_when(self, cancel: asyncio.Event, provisional: asyncio.Event,
                           invite: Request, peer: Peer) -> None:
        await cancel.wait()
        await provisional.wait()
        request = Request(method="CANCEL", uri=invite.uri)  # section 9.1
        request.headers.add("Via", invite.headers.get_all("Via")[0])
        for name in ("Max-Forwards", "From", "To", "Call-ID"):
            request.headers.add(name, invite.headers.get(name) or "")
        request.headers.add("CSeq", f"{invite.cseq.number} CANCEL")
        for route in invite.headers.get_all("Route"):
            request.headers.add("Route", route)
        with contextlib.suppress(SipCallFailed):
            await self._transact(request, peer)

    def _uac_dialog(self, request: Request, response: Response, transport: str,
                    local_uri: str, remote_uri: str) -> Dialog:
        contacts = response.contacts
        if not contacts or response.to.tag is None:
            raise SipCallFailed(502, "2xx without Contact or To tag")
        dialog = Dialog(
            ua=self, call_id=request.call_id, local_tag=request.from_.tag or "",
            remote_tag=response.to.tag, local_uri=local_uri, remote_uri=remote_uri,
            remote_target=contacts[0].uri, transport=transport,
            local_seq=request.cseq.number, remote_seq=None,
            route_set=list(reversed(response.headers.get_all("Record-Route"))), role="uac")
        dialog.confirmed.set()
        self.dialogs[dialog.id] = dialog
        return dialog

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

    # UAC: OPTIONS and REGISTER
    async def options(self, uri: str, transport: str | None = None) -> Response:
        target_uri = SipUri.parse(uri, "URI")
        kind, addr = self.target(target_uri, transport)
        request = self._out_of_dialog("OPTIONS", uri, f"<{uri}>", kind)
        request.headers.add("Accept", SDP)
        response = await self._transact(request, await self._peer(kind, addr))
        if response.status >= 300:
            raise SipCallFailed(response.status, response.reason)
        return response

    def _out_of_dialog(self, method: str, uri: str, to: str, kind: str, cseq: int = 1,
                       call_id: str | None = None, from_tag: str | None = None) -> Request:
        request = Request(method=method, uri=uri)
        local = f"sip:{self.settings.user}@{self.transports.sent_by(kind)}"
        request.headers.add("Max-Forwards", "70")
        request.headers.add("From", f"<{local}>;tag={from_tag or secrets.token_hex(6)}")
        request.headers.add("To", to)
        request.headers.add("Call-ID", call_id or f"{secrets.token_hex(12)}@{self.transports.host}")
        request.headers.add("CSeq", f"{cseq} {method}")
        return self._stamp(request, kind)

    async def register(self, registrar_uri: str, aor: str, *, password: str | None = None,
                       username: str | None = None, expires: int = 3600,
                       transport: str | None = None) -> int:
        """Bind our contact to `aor` at a registrar; returns the granted expiry. One digest
        challenge (401) is answered when a password is given; any other final non-2xx (and a
        second 401) raises SipCallFailed."""
        from sip.digest import answer_challenge

        target_uri = SipUri.parse(registrar_uri, "URI")
        kind, addr = self.target(target_uri, transport)
        peer = await self._peer(kind, addr)
        call_id = f"{secrets.token_hex(12)}@{self.transports.host}"
        from_tag = secrets.token_hex(6)
        authorization: str | None = None
        for cseq in (1, 2):
            request = self._out_of_dialog("REGISTER", registrar_uri, f"<{aor}>", kind, cseq,
                                          call_id, from_tag)
            request.headers.set("From", f"<{aor}>;tag={from_tag}")
            request.headers.add("Expires", str(expires))
            if authorization:
                request.headers.add("Authorization", authorization)
            response = await self._transact(request, peer)
            if response.status == 401 and authorization is None and password is not None:
                user = username or SipUri.parse(aor, "To").user or ""
                authorization = answer_challenge(response.headers.get_all("WWW-Authenticate"),
                                                 user, password, "REGISTER", registrar_uri)
                if authorization is None:
                    raise SipCallFailed(401, "no digest challenge we can answer")
                continue
            if response.status >= 300:
                raise SipCallFailed(response.status, response.reason)
            return registered_expiry(response, self.contact(kind)) if expires else 0
        raise SipCallFailed(401, "Unauthorized")

    # receiving
    def _receive(self, message: Request | Response, peer: Peer) -> None:
        self.layer.receive(message, peer)

    def _respond(self, transaction: ServerTransaction, status: int, reason: str = "",
                 to_tag: str | None = None, body: bytes = b"",
                 content_type: str = "") -> Response:
        response = error_response(transaction.request, status, reason or REASONS.get(
            status, "Unknown"), to_tag if status > 100 else None)
        response.headers.add("Server", self.settings.user_agent)
        if body:
            response.headers.add("Content-Type", content_type)
            response.body = body
        return response

    def _send(self, transaction: ServerTransaction, response: Response) -> None:
        transaction.respond(response)

    def _reject(self, transaction: ServerTransaction, status: int, reason: str = "",
                **headers: str) -> None:
        response = self._respond(transaction, status, reason, secrets.token_hex(6))
        for name, value in headers.items():
            response.headers.add(name.replace("_", "-"), value)
        self._send(transaction, response)

    def _on_request(self, request: Request, transaction: ServerTransaction) -> None:
        method = request.method
        if method == "CANCEL":
            self._on_cancel(request, transaction)
            return
        if request.request_uri.scheme not in ("sip", "sips"):
            self._reject(transaction, 416)
            return
        unknown = [tag for tag in request.headers.get_all("Require") if tag not in SUPPORTED]
        if unknown and method not in ("ACK", "CANCEL"):
            self._reject(transaction, 420, Unsupported=", ".join(unknown))
            return
        if method not in ("INVITE", "BYE", "OPTIONS", "INFO", "REGISTER"):
            self._reject(transaction, 501, Allow=ALLOW)
            return
        if request.to.tag is not None:
            self._in_dialog(request, transaction)
            return
        if method == "INVITE":
            self._on_invite(request, transaction)
        elif method == "OPTIONS":
            response = self._respond(transaction, 200, to_tag=secrets.token_hex(6))
            response.headers.add("Allow", ALLOW)
            response.headers.add("Accept", ", ".join(ACCEPT))
            response.headers.add("Supported", ", ".join(SUPPORTED))
            self._send(transaction, response)
        elif method == "REGISTER":
            if self.registrar is None:
                self._reject(transaction, 405, Allow=ALLOW.replace(", REGISTER", ""))
            else:
                self._send(transaction, self.registrar.handle(request, secrets.token_hex(6)))
        else:  # BYE or INFO outside any dialog
            self._reject(transaction, 481)

    def _check_body(self, request: Request, transaction: ServerTransaction) -> bool:
        if request.body and request.content_type != SDP:
            self._reject(transaction, 415, Accept=SDP)
            return False
        return True

    def _on_invite(self, request: Request, transaction: ServerTransaction) -> None:
        if not self._check_body(request, transaction):
            return
        contacts = request.contacts
        if len(contacts) != 1 or contacts[0].star:
            self._reject(transaction, 400, "Bad Contact")
            return
        to_tag = secrets.token_hex(6)
        pending = _PendingInvite(transaction, to_tag)
        key = (request.call_id, request.from_.tag or "", request.top_via.branch or "")
        self._pending[key] = pending
        self._send(transaction, self._respond(transaction, 100))
        if self.on_invite is None:
            self._finish_pending(key, self._respond(transaction, 480, to_tag=to_tag))
            return
        ringing = self._respond(transaction, 180, to_tag=to_tag)
        ringing.headers.add("Contact", f"<{self._answer_contact(transaction)}>")
        self._send(transaction, ringing)
        pending.task = self._spawn(self._answer(key, request, pending))

    async def _answer(self, key: tuple[str, str, str], request: Request,
                      pending: _PendingInvite) -> None:
        transaction = pending.transaction
        assert self.on_invite is not None
        try:
            result = await self.on_invite(request)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("SIP: on_invite failed")
            result = SipReject(500, "Server Internal Error")
        if isinstance(result, SipReject):
            rejection = self._respond(transaction, result.status, result.reason, pending.to_tag)
            if result.contact:
                rejection.headers.add("Contact", f"<{result.contact}>")
            self._finish_pending(key, rejection)
            return
        response = self._respond(transaction, 200, to_tag=pending.to_tag, body=result,
                                 content_type=SDP)
        response.headers.add("Contact", f"<{self._answer_contact(transaction)}>")
        response.headers.add("Allow", ALLOW)
        for route in request.headers.get_all("Record-Route"):
            response.headers.add("Record-Route", route)
        contact = request.contacts[0]
        dialog = Dialog(
            ua=self, call_id=request.call_id, local_tag=pending.to_tag,
            remote_tag=request.from_.tag or "", local_uri=str(request.to.uri),
            remote_uri=str(request.from_.uri), remote_target=contact.uri,
            transport=transaction.peer.transport, local_seq=0,
            remote_seq=request.cseq.number, route_set=request.headers.get_all("Record-Route"),
            role="uas", local_sdp=result, remote_sdp=request.body,
            peer=transaction.peer if transaction.peer.reliable else None)
        self.dialogs[dialog.id] = dialog
        self._finish_pending(key, response)
        self._retransmit_2xx(dialog, response, transaction.peer)

    def _finish_pending(self, key: tuple[str, str, str], response: Response) -> None:
        pending = self._pending.pop(key, None)
        if pending is None or pending.final_sent:
            return
        pending.final_sent = True
        self._send(pending.transaction, response)

    def _retransmit_2xx(self, dialog: Dialog, response: Response, peer: Peer) -> None:
        """Section 13.3.1.4: the UAS core resends its 2xx (T1 doubling up to T2) until the
        ACK; with no ACK after 64*T1 the session ends with a BYE. On TCP/TLS the 2xx is
        sent once, and the ACK still awaited for 64*T1."""
        state = _Retransmit2xx(response, peer, response.cseq.number)
        self._retransmits[dialog.id] = state
        loop = asyncio.get_running_loop()
        started = loop.time()

        def again(interval: float) -> None:
            if state.acked.is_set() or dialog.terminated.is_set():
                return
            if loop.time() - started >= self.timers.timeout:
                self._retransmits.pop(dialog.id, None)
                log.info("SIP: no ACK for the 2xx of %s: BYE", dialog.call_id)
                self._spawn(dialog.bye())
                return
            if not peer.reliable:
                self.transports.send(response, peer)
            next_interval = min(interval * 2, self.timers.t2) if not peer.reliable else (
                self.timers.timeout)
            state.handle = loop.call_later(next_interval, again, next_interval)

        first = self.timers.t1 if not peer.reliable else self.timers.timeout
        state.handle = loop.call_later(first, again, first)

    def _on_ack(self, request: Request, peer: Peer) -> None:
        dialog = self.dialogs.get((request.call_id, request.to.tag or "",
                                   request.from_.tag or ""))
        if dialog is None:
            return
        retransmit = self._retransmits.get(dialog.id)
        if retransmit is not None and retransmit.cseq == request.cseq.number:
            retransmit.acked.set()
            if retransmit.handle is not None:
                retransmit.handle.cancel()
            del self._retransmits[dialog.id]
            if dialog.role == "uas" and not dialog.remote_sdp and request.body:
                # a delayed offer (an INVITE without a body): our 2xx held the offer and the
                # ACK holds the answer (RFC 3261 13.2.1, RFC 3264)
                dialog.remote_sdp = request.body
        dialog.confirmed.set()

    def _on_stray_response(self, response: Response, peer: Peer) -> None:
        """A 2xx retransmitted after its INVITE transaction ended: ACK it again."""
        if response.cseq.method != "INVITE" or not 200 <= response.status < 300:
            return
        dialog_id = (response.call_id, response.from_.tag or "", response.to.tag or "")
        sent = self._acks.get(dialog_id)
        if sent is not None:
            ack, ack_peer = sent
            if ack.cseq.number == response.cseq.number:
                self.transports.send(ack, ack_peer)

    def _on_cancel(self, request: Request, transaction: ServerTransaction) -> None:
        invite = self.layer.find_server(request, "INVITE")
        key = (request.call_id, request.from_.tag or "", request.top_via.branch or "")
        pending = self._pending.get(key)
        if invite is None:
            self._reject(transaction, 481)
            return
        if pending is None:  # already answered: the CANCEL has no effect (9.2)
            self._send(transaction, self._respond(transaction, 200, to_tag=secrets.token_hex(6)))
            return
        self._send(transaction, self._respond(transaction, 200, to_tag=pending.to_tag))
        if pending.task is not None:
            pending.task.cancel()
        self._finish_pending(key, self._respond(invite, 487, to_tag=pending.to_tag))

    def _in_dialog(self, request: Request, transaction: ServerTransaction) -> None:
        dialog = self.dialogs.get((request.call_id, request.to.tag or "",
                                   request.from_.tag or ""))
        if dialog is None:
            self._reject(transaction, 481)
            return
        cseq = request.cseq.number
        if dialog.remote_seq is not None and cseq <= dialog.remote_seq:
            self._reject(transaction, 500, "CSeq Out of Order")
            return
        dialog.remote_seq = cseq
        method = request.method
        if method == "BYE":
            self._send(transaction, self._respond(transaction, 200))
            self.end_dialog(dialog, "remote")
            if self.on_bye is not None:
                self.on_bye(dialog)
        elif method == "INVITE":
            if not self._check_body(request, transaction):
                return
            if dialog.invite_pending:  # our own re-INVITE is in progress (14.2)
                self._reject(transaction, 491)
                return
            if dialog.answering:  # an earlier INVITE of theirs still unanswered (14.2)
                self._reject(transaction, 500, "Server Internal Error", Retry_After="1")
                return
            self._spawn(self._answer_reinvite(dialog, request, transaction))
        elif method == "INFO":
            self._on_info(dialog, request, transaction)
        elif method == "OPTIONS":
            response = self._respond(transaction, 200)
            response.headers.add("Allow", ALLOW)
            response.headers.add("Accept", ", ".join(ACCEPT))
            self._send(transaction, response)
        else:
            self._reject(transaction, 405, Allow=ALLOW)

    async def _answer_reinvite(self, dialog: Dialog, request: Request,
                               transaction: ServerTransaction) -> None:
        if self.on_reinvite is None:
            self._send(transaction, self._respond(transaction, 488))
            return
        dialog.answering = True
        try:
            result = await self.on_reinvite(dialog, request.body)
        except Exception:
            log.exception("SIP: on_reinvite failed")
            result = SipReject(500, "Server Internal Error")
        finally:
            dialog.answering = False
        if isinstance(result, SipReject):
            self._send(transaction, self._respond(transaction, result.status, result.reason))
            return
        response = self._respond(transaction, 200, body=result, content_type=SDP)
        response.headers.add("Contact", f"<{self._answer_contact(transaction)}>")
        if request.contacts:
            dialog.remote_target = request.contacts[0].uri  # target refresh (12.2.2)
        dialog.local_sdp, dialog.remote_sdp = result, request.body
        self._send(transaction, response)
        self._retransmit_2xx(dialog, response, transaction.peer)

    def _on_info(self, dialog: Dialog, request: Request,
                 transaction: ServerTransaction) -> None:
        if request.content_type != DTMF_RELAY:
            self._reject(transaction, 415, Accept=DTMF_RELAY)
            return
        try:
            event = parse_dtmf_relay(request.body)
        except SipParseError as error:
            self._send(transaction, self._respond(transaction, error.status, error.reason))
            return
        self._send(transaction, self._respond(transaction, 200))
        if self.on_dtmf is not None:
            self.on_dtmf(dialog, event)
