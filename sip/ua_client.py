"""The UAC side of the SIP user agent (RFC 3261 sections 8.1, 9.1, 10, 13.2): INVITE (following
redirections, CANCEL on request), OPTIONS and REGISTER with one digest challenge answered."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Callable

from sip.dialog import Dialog
from sip.errors import SipCallFailed
from sip.message import Request, Response
from sip.registrar import registered_expiry
from sip.transport import Peer
from sip.ua_core import ALLOW, MAX_REDIRECTS, SDP, UaCore
from sip.values import SipUri


class UaClient(UaCore):
    """Requests the user agent places."""

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
