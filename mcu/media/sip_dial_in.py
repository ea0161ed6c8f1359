"""SIP room systems dialling a conference: `sip:<accessCode>@<mcu>`, the conference password
either in the URI's user part after `*` (`sip:<accessCode>*<password>@<mcu>`, as room
systems' dial strings carry it) or, when the URI has none and the conference has one, keyed
after the answer as RFC 4733 telephone events on the audio stream, ended with '#', within
DTMF_WAIT_S (docs/sip.md, "In the MCU").

The caller is the site booked in the conference whose URI is the caller's From address of
record (`sip:user@host`), that with the From URI's port (`sip:user@host:port`), or its user
part (a number). An ad-hoc template's code (mcu/adhoc.py) starts or joins the template's
conference as a WebRTC terminal's `join` does (mcu/media/sip_adhoc.py has its refusals).
The rules of a WebRTC `join` hold
(mcu/dial_in_limits.py: per source address, per caller URI, per access code), each refusal
a SIP status:

    too many failed attempts (locked or delayed)    403 "Dial-in Locked"
    no ongoing conference has the access code,      404 "Conference Not Found"
    and no ad-hoc template has it
    the caller is not booked in it                  403 "Not Booked"
    wrong password in the URI                       403 "Wrong Password"
    wrong or no password by DTMF                    BYE (the call, CALLING meanwhile,
                                                    not joined: 115)
    the site is in the conference already           486 "Already In Conference"
    its SDP unusable (no common codec, encryption   488 "Not Acceptable Here"
    not as booked, bad SDP)                         (the call fails: 131088 or 12378)
    BFCP lines the MCU refuses (RFC 8856)           488 "Not Acceptable Here: BFCP: <why>"
    the conference's media is gone / no RTP port    503
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from mcu.attempt_limits import AttemptLimits
from mcu.calls import Call, CallFailure
from mcu.dial_in_limits import ACCESS_CODE, SOCKET, URI
from mcu.errors import DomainError
from mcu.media.sip_adhoc import admit_adhoc
from mcu.media.sip_endpoint import SipCall, SipEndpoint, negotiation_failure
from mcu.media.webrtc_endpoint import find_live_conference
from mcu.model import Conference
from rtc.deadline import within
from rtp.bfcp_sdp import BfcpSdpError
from rtp.negotiation import NegotiationError
from rtp.sdp import SdpError
from sip.dialog import Dialog
from sip.message import Request
from sip.useragent import SipReject

if TYPE_CHECKING:
    from mcu.media.sip_service import SipService

# the ACK of our 200 (the dialog confirmed) is awaited this long before the call fails
ACK_WAIT_S = 32.0
# a password by DTMF: keyed and ended with '#' within this, at most this many digits
DTMF_WAIT_S = 20.0
MAX_PASSWORD_DIGITS = 32


class DtmfEntry:
    """The conference password keyed by a dialled-in site as RFC 4733 telephone events on its
    audio session, ended with '#'."""

    def __init__(self, sip_call: SipCall, password: str, keys: dict[str, str]) -> None:
        self.password = password
        self.keys = keys
        self.digits: list[str] = []
        self.done = asyncio.Event()
        for session in sip_call.rtp.sessions:
            if session.kind == "audio":
                session.on_digit = self._digit

    def _digit(self, digit: str) -> None:
        if self.done.is_set():
            return
        if digit == "#" or len(self.digits) >= MAX_PASSWORD_DIGITS:
            self.done.set()
        else:
            self.digits.append(digit)

    async def password_keyed(self) -> bool | None:
        """True: the right password; False: a wrong one; None: none within DTMF_WAIT_S."""
        try:
            await within(self.done.wait(), DTMF_WAIT_S)
        except TimeoutError:
            return None
        return "".join(self.digits) == self.password


class SipDialIn:
    def __init__(self, service: SipService, limits: AttemptLimits) -> None:
        self.service = service
        self.limits = limits

    async def on_invite(self, request: Request) -> bytes | SipReject:
        user = request.request_uri.user or ""
        code, star, password = user.partition("*")
        caller = request.from_.uri
        via = request.top_via
        source = str(via.params.get("received") or via.host)
        keys = {SOCKET: f"sip:{source}", URI: caller.aor, ACCESS_CODE: code}
        runtime = self.service.runtime
        if self.limits.refusal(keys) is not None:
            return SipReject(403, "Dial-in Locked")
        probing = {SOCKET: keys[SOCKET], URI: keys[URI]}
        with_port = f"{caller.aor}:{caller.port}" if caller.port is not None else ""
        candidates = [caller.aor, with_port, caller.user or ""]
        template = runtime.adhoc.template(code) if runtime.adhoc is not None and code else None
        if template is not None:  # an ad-hoc template's code (mcu/media/sip_adhoc.py)
            admitted = admit_adhoc(runtime, self.limits, template, request, candidates,
                                   password if star else None, keys)
            if isinstance(admitted, SipReject):
                return admitted
            conference, site_uri = admitted
            by_dtmf = False
        else:
            found = find_live_conference(runtime, code) if code else None
            if found is None:
                self.limits.failed(probing)
                return SipReject(404, "Conference Not Found")
            conference = found
            booked = self._booked_site(conference, candidates)
            if booked is None:
                self.limits.failed(probing)
                return SipReject(403, "Not Booked")
            site_uri = booked
            by_dtmf = bool(conference.password) and not star
            if conference.password and not by_dtmf and password != conference.password:
                self.limits.failed(keys)
                return SipReject(403, "Wrong Password")
            if not by_dtmf:
                self.limits.succeeded(probing)
        endpoint = SipEndpoint(site_uri, self.service)
        try:
            call = runtime.lifecycle.accept_dial_in(conference.conf_id, endpoint)
        except DomainError:
            return SipReject(486, "Already In Conference")
        sip_call = await endpoint.open_call(call)
        if sip_call is None:
            return SipReject(503, "Service Unavailable")
        try:
            answer, plans = sip_call.rtp.answer(request.body)
        except (NegotiationError, SdpError) as error:
            sip_call.fail(negotiation_failure(error))
            if isinstance(error, BfcpSdpError):  # the reason phrase says which line and why
                return SipReject(488, f"Not Acceptable Here: BFCP: {error}")
            return SipReject(488, "Not Acceptable Here")
        sip_call.start_media(plans)
        entry = DtmfEntry(sip_call, conference.password or "", keys) if by_dtmf else None
        self.service.spawn(self._confirm(sip_call, call, request, entry),
                           f"sip dial-in {site_uri}")
        return answer

    def _booked_site(self, conference: Conference, candidates: list[str]) -> str | None:
        live = self.service.runtime.conferences.get(conference.conf_id)
        if live is None:
            return None
        return next((uri for uri in candidates if uri and uri in live.sites), None)

    async def _confirm(self, sip_call: SipCall, call: Call, request: Request,
                       entry: DtmfEntry | None) -> None:
        """In conference once the site's ACK confirms the dialog (and, for a password
        by DTMF, once the right one is keyed); then follow the dialog."""
        dialog = await self._dialog_of(request)
        if dialog is None:
            sip_call.fail(CallFailure.NETWORK_ERROR.info("SIP: no ACK for the MCU's 200"))
            return
        sip_call.dialog = dialog
        try:
            await within(dialog.confirmed.wait(), ACK_WAIT_S)
        except TimeoutError:
            sip_call.fail(CallFailure.NETWORK_ERROR.info("SIP: no ACK for the MCU's 200"))
            return
        if entry is not None:
            watching = self.service.spawn(sip_call.follow(dialog), "sip dial-in dialog")
            keyed = await entry.password_keyed()
            if sip_call.closed:  # the site hung up meanwhile (follow() ended the call)
                return
            if not keyed:
                self.limits.failed(entry.keys)
                sip_call.fail(CallFailure.CALLEE_REJECTED.info(
                    "wrong conference password (DTMF)" if keyed is False
                    else f"no conference password keyed within {DTMF_WAIT_S:g} s (DTMF)"))
                await dialog.bye()
                return
            self.limits.succeeded({SOCKET: entry.keys[SOCKET], URI: entry.keys[URI]})
            if not dialog.terminated.is_set() and not sip_call.closed:
                call.answer(sip_call.endpoint)
                sip_call.report()
            await watching
            return
        if not dialog.terminated.is_set() and not sip_call.closed:
            call.answer(sip_call.endpoint)
            sip_call.report()
        await sip_call.follow(dialog)

    async def _dialog_of(self, request: Request) -> Dialog | None:
        """The dialog the UA made of our 200 (it exists once on_invite's answer is sent)."""
        from_tag = request.from_.tag or ""
        deadline = asyncio.get_running_loop().time() + ACK_WAIT_S
        while asyncio.get_running_loop().time() < deadline:
            for dialog in list(self.service.ua.dialogs.values()):
                if dialog.call_id == request.call_id and dialog.remote_tag == from_tag:
                    return dialog
            await asyncio.sleep(0.02)
        return None
