"""The UAS side of the SIP user agent (RFC 3261 sections 8.2, 9.2, 12-14): requests checked
(416, 420, 415, 501, 405, 481, 500), INVITEs answered (100, 180, then `on_invite`'s answer or
rejection, the 2xx resent until its ACK), CANCEL, BYE, re-INVITEs (`on_reinvite`, 491 while
ours is pending), OPTIONS, INFO with DTMF (`on_dtmf`), REGISTER to its registrar."""

from __future__ import annotations

import asyncio
import logging
import secrets

from sip.dialog import Dialog
from sip.dtmf import CONTENT_TYPE as DTMF_RELAY
from sip.dtmf import parse_dtmf_relay
from sip.errors import SipParseError
from sip.message import Request, Response
from sip.transaction import ServerTransaction
from sip.transport import Peer, error_response
from sip.ua_core import (
    ACCEPT,
    ALLOW,
    REASONS,
    SDP,
    SUPPORTED,
    PendingInvite,
    Retransmit2xx,
    SipReject,
    UaCore,
)

# the logger of sip/useragent.py, whose part this is: log records keep their name
log = logging.getLogger("sip.useragent")


class UaServer(UaCore):
    """Requests the user agent answers."""

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
        pending = PendingInvite(transaction, to_tag)
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
                      pending: PendingInvite) -> None:
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
        state = Retransmit2xx(response, peer, response.cseq.number)
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
