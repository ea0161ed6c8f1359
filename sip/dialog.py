"""A dialog (RFC 3261 section 12): the state two user agents share after a 2xx to an INVITE,
identified by Call-ID and both tags, with the local and remote CSeq, the remote target (the
peer's Contact) and the route set; and the in-dialog requests the MCU uses: re-INVITE, BYE and
INFO (section 12.2.1.1 builds them)."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sip.errors import SipCallFailed
from sip.message import Request, Response
from sip.values import NameAddr, SipUri

if TYPE_CHECKING:
    from sip.transport import Peer
    from sip.ua_core import UaCore


@dataclass
class Dialog:
    ua: UaCore
    call_id: str
    local_tag: str
    remote_tag: str
    local_uri: str  # our From (UAC) or To (UAS) URI
    remote_uri: str
    remote_target: SipUri  # the peer's Contact
    transport: str  # the transport of the dialog's requests
    local_seq: int
    remote_seq: int | None
    route_set: list[str] = field(default_factory=list)
    role: str = "uac"
    local_sdp: bytes = b""
    remote_sdp: bytes = b""
    confirmed: asyncio.Event = field(default_factory=asyncio.Event)  # ACK seen (UAS)
    terminated: asyncio.Event = field(default_factory=asyncio.Event)
    ended_by: str = ""  # "local" or "remote" once terminated
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    invite_pending: bool = False  # our re-INVITE awaits its answer
    answering: bool = False  # their re-INVITE awaits ours
    # the TCP/TLS connection the dialog was made on: its requests go there while it is open
    # (a softphone calling over TLS often has no listener of its own; RFC 5923's reuse)
    peer: Peer | None = None

    @property
    def id(self) -> tuple[str, str, str]:
        return (self.call_id, self.local_tag, self.remote_tag)

    def new_request(self, method: str, body: bytes = b"", content_type: str = "") -> Request:
        """Section 12.2.1.1: Request-URI the remote target, To/From with the tags, the next
        local CSeq (ACK and CANCEL reuse theirs: not built here), Route from the route set."""
        if method not in ("ACK", "CANCEL"):
            self.local_seq += 1
        request = Request(method=method, uri=str(self.remote_target))
        request.headers.add("Max-Forwards", "70")
        request.headers.add("From", str(NameAddr(SipUri.parse(self.local_uri, "From"),
                                                 params={"tag": self.local_tag})))
        request.headers.add("To", str(NameAddr(SipUri.parse(self.remote_uri, "To"),
                                               params={"tag": self.remote_tag})))
        request.headers.add("Call-ID", self.call_id)
        request.headers.add("CSeq", f"{self.local_seq} {method}")
        for route in self.route_set:
            request.headers.add("Route", route)
        if body:
            request.headers.add("Content-Type", content_type)
            request.body = body
        return request

    async def request(self, method: str, body: bytes = b"",
                      content_type: str = "") -> Response:
        """Send an in-dialog request and wait for its final response (raises SipCallFailed
        for anything but 2xx; a 481 or 408 also ends the dialog, section 12.2.1.2)."""
        if self.terminated.is_set():
            raise SipCallFailed(481, "Call/Transaction Does Not Exist", local=True)
        try:
            return await self.ua.send_in_dialog(self, self.new_request(method, body,
                                                                       content_type))
        except SipCallFailed as failure:
            if failure.status in (408, 481):
                self.ua.end_dialog(self, "remote")
            raise

    async def reinvite(self, sdp: bytes) -> bytes:
        """A re-INVITE with a new offer; the answer is returned (and kept as remote_sdp). A
        failed re-INVITE leaves the session as it was (section 14.1)."""
        async with self._lock:
            self.invite_pending = True
            try:
                response = await self.request("INVITE", sdp, "application/sdp")
            finally:
                self.invite_pending = False
            self.local_sdp, self.remote_sdp = sdp, response.body
            return response.body

    async def bye(self) -> None:
        """End the call: the session is over as soon as the BYE is sent (section 15.1.1),
        whatever its answer, which is still awaited (or its timer F)."""
        if self.terminated.is_set():
            return
        request = self.new_request("BYE")
        self.ua.end_dialog(self, "local")
        with contextlib.suppress(SipCallFailed):
            await self.ua.send_in_dialog(self, request)

    async def info(self, body: bytes, content_type: str) -> Response:
        return await self.request("INFO", body, content_type)
