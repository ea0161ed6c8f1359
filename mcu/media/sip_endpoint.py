"""The MCU's Endpoint for a SIP room system (site type 7): calls as SIP dialogs (sip/) with
plain RTP or SDES-SRTP media (rtp/, mcu/media/sip_call_media.py), next to
webrtc_endpoint.py's WebRTC calls. docs/sip.md, "In the MCU", has the rules; in short:

dial-out  offer_call(call): the target is the booked `sip:`/`sips:` URI, or the contact our
          registrar holds for a booked numeric URI; an INVITE with our offer (the booking's
          mediaEncryptType and videoProtocol); 180 -> call.ringing(); 200 -> the answer settles the media
          (unusable: the call fails and is hung up with BYE), the sessions start and the
          call is in conference; a final failure -> sip.call_failure's callFailedReason.
          The call timeout firing while it rings sends CANCEL (SipCall.watch).
dial-in   SipDialIn (mcu/media/sip_dial_in.py) hands an accepted INVITE's call to a
          SipEndpoint: in conference once the ACK confirms the dialog.
either    a BYE from the site ends the call (in conference: hung up by the site; before:
          rejected); call_ended (the MCU hangs up) sends BYE, or CANCEL while ringing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from mcu.calls import Call, CallFailure, Dialer
from mcu.cdr import NegotiatedMedia
from mcu.endpoints import TerminalDevice, undeclared_device
from mcu.errors import DomainError
from mcu.events import ErrorInfo
from mcu.media.sip_ask import SipAsker
from mcu.media.sip_call_media import SipCallMedia
from mcu.media.sip_content import server_floor
from mcu.media.site_media import SiteMedia
from mcu.model import MediaEncryptType, SiteCallState, SiteType
from mcu.sip_call_failure import failure_of
from rtp.negotiation import NegotiationError
from rtp.sdp import SdpError
from sip.dialog import Dialog
from sip.errors import SipCallFailed
from sip.values import SipUri

if TYPE_CHECKING:
    from mcu.media.sip_service import SipService
    from mcu.runtime import ConferenceRuntime

log = logging.getLogger(__name__)

SIP_DEVICE_MODEL = "SIP room system"
# how often a call looks whether the runtime ended it without telling (SipCall.watch)
WATCH_INTERVAL_S = 0.2


def negotiation_failure(error: NegotiationError | SdpError) -> ErrorInfo:
    """The callFailedReason of an SDP the MCU cannot use: the booking's mediaEncryptType
    not met either way is 12378 (the site's encryption does not match the conference's);
    no codec in common, only codecs no library here runs (G.728, G.729...), or an SDP that
    does not parse are 131088 (capability exchange failed). The message says which
    medium and why."""
    if isinstance(error, NegotiationError) and error.reason.startswith("encryption"):
        return CallFailure.DTLS_FAILED.info(f"media encryption: {error}")
    return CallFailure.CODEC_MISMATCH.info(f"capability exchange: {error}")


def invite_failure(failure: SipCallFailed, encryption: MediaEncryptType) -> ErrorInfo:
    """An INVITE's final failure as the call's reason (sip/call_failure.py), except that an
    offer refused as not acceptable (488, 606) when the booking forces SRTP
    (mediaEncryptType 1) is 12378: our RTP/SAVP offer is what a plain-only site cannot
    take (the description keeps the SIP status)."""
    text = f"SIP {failure.status} {failure.reason}".strip()
    if encryption is MediaEncryptType.FORCE and failure.status in (488, 606):
        return CallFailure.DTLS_FAILED.info(f"media encryption forced, the site answered {text}")
    return failure_of(failure).info(text)


def encryption_of(call: Call, runtime: ConferenceRuntime) -> MediaEncryptType:
    """The booking's mediaEncryptType (a conference's, WS/T 546 has no per-site one);
    AUTO when the conference is gone (the call fails elsewhere then)."""
    try:
        return MediaEncryptType(int(runtime.scheduler.get(call.conf_id).spec.media_encrypt_type))
    except DomainError:
        return MediaEncryptType.AUTO


class SipCall:
    """One call of a SIP site: its SiteMedia, RTP side and dialog."""

    def __init__(self, endpoint: SipEndpoint, call: Call, media: SiteMedia,
                 rtp: SipCallMedia) -> None:
        self.endpoint = endpoint
        self.call = call
        self.media = media
        self.rtp = rtp
        self.dialog: Dialog | None = None
        self.asker = SipAsker(self)  # the send ladder's asks, over SIP and RTCP
        self.cancel = asyncio.Event()  # set: CANCEL an INVITE still ringing
        self.closed = False

    @property
    def service(self) -> SipService:
        return self.endpoint.service

    def report(self) -> None:
        conference = self.service.engine.conferences.get(self.call.conf_id)
        output = conference.output_format(self.media) if conference is not None else None
        self.call.report_media(NegotiatedMedia(
            audio_codec=self.media.audio_codec,
            video_codec=self.media.video_codec,
            video_format=f"{output.width}x{output.height}@{output.fps}" if output else None,
            rate_kbps=output.bitrate // 1000 if output else None,
            video_profile=output.profile_name if output is not None else None,
            encryption=str(self.rtp.security) if self.rtp.security else None,
        ))

    async def dial(self, target: str) -> None:
        """Dial-out: INVITE until a final answer, then media, then in conference."""
        try:
            our_offer = self.rtp.offer()
        except NegotiationError as error:  # a videoProtocol the MCU does not send (H.265)
            self.fail(negotiation_failure(error))
            return
        try:
            dialog = await self.service.ua.invite(
                target, our_offer, on_ringing=lambda _: self.call.ringing(),
                cancel=self.cancel)
        except SipCallFailed as failure:
            self.fail(invite_failure(failure, self.rtp.encryption))
            return
        except (OSError, ValueError) as error:  # no route, bad URI
            self.fail(CallFailure.NETWORK_ERROR.info(f"SIP: {error}"))
            return
        self.dialog = dialog
        if not self.call.active or self.closed:  # hung up while the 200 was on its way
            await dialog.bye()
            self.close()
            return
        try:
            plans = self.rtp.accept(dialog.remote_sdp)
        except (NegotiationError, SdpError) as error:
            self.fail(negotiation_failure(error))
            await dialog.bye()
            return
        self.start_media(plans)
        self.call.answer(self.endpoint)
        self.report()
        await self.follow(dialog)

    def start_media(self, plans: list[Any]) -> None:
        self.rtp.describe(plans)
        self.endpoint.declare_content(self.media.content_send, self.media.content_receive)
        self.rtp.start(plans)
        # asked by the send ladder when the call can be (TMMBR or image attributes)
        self.media.ask_send = self.asker.ask if self.asker.can_ask else None

    async def watch(self) -> None:
        """The runtime ends some calls without telling the endpoint (the call timeout while
        it rings, a dial-in not in conference in time): once the call is over and this one
        is not closed yet, hang up (CANCEL the INVITE while it rings, else BYE)."""
        while self.call.active and not self.closed:
            await asyncio.sleep(WATCH_INTERVAL_S)
        if not self.closed:
            self.hang_up()

    async def follow(self, dialog: Dialog) -> None:
        """Until the dialog ends: a BYE from the site (or a dialog the UA ended: no ACK) ends
        the call; the MCU's own hang-up (call_ended) has closed it already."""
        self.dialog = dialog
        await dialog.terminated.wait()
        if self.closed:
            return
        if self.call.state in (SiteCallState.CALLING, SiteCallState.RINGING):
            self.call.reject(CallFailure.NETWORK_ERROR.info(
                "SIP: the dialog ended before the call was in conference "
                f"({dialog.ended_by or 'remote'})"))
        else:
            self.call.hang_up_remote("SIP BYE from the site" if dialog.ended_by == "remote"
                                     else "SIP dialog ended")
        self.close()

    def fail(self, reason: ErrorInfo) -> None:
        if self.call.state in (SiteCallState.CALLING, SiteCallState.RINGING):
            self.call.reject(reason)
        self.close()

    def hang_up(self) -> None:
        """The MCU ends the call: BYE (or CANCEL while the INVITE rings)."""
        self.cancel.set()
        dialog = self.dialog
        if dialog is not None and not dialog.terminated.is_set():
            self.service.spawn(dialog.bye(), f"bye {self.call.uri}")
        self.close()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.endpoint.forget(self)
        self.service.calls.discard(self)
        self.service.engine.close_site(self.media)
        self.service.spawn(self.rtp.close(), f"rtp close {self.call.uri}")


class SipEndpoint:
    """mcu.endpoints.Endpoint of one SIP site URI (a booked `sip:` URI, a number our
    registrar holds a binding for, or the site a dial-in was matched to)."""

    def __init__(self, uri: str, service: SipService) -> None:
        self._uri = uri
        self.service = service
        self.calls: list[SipCall] = []
        self._device = undeclared_device(content_send=False, content_receive=False,
                                         model=SIP_DEVICE_MODEL)

    @property
    def uri(self) -> str:
        return self._uri

    @property
    def device(self) -> TerminalDevice:
        return self._device

    async def open_call(self, call: Call) -> SipCall | None:
        """The call's media and sockets; None (the call rejected) when the conference's
        media is gone or no port is free."""
        try:
            media = self.service.engine.open_site(call)
        except DomainError:
            call.reject(CallFailure.NETWORK_ERROR.info("conference media unavailable"))
            return None
        try:
            rtp = await SipCallMedia.bind(self.service.host, media,
                                         encryption_of(call, self.service.runtime))
        except OSError as error:
            self.service.engine.close_site(media)
            call.reject(CallFailure.NETWORK_ERROR.info(f"no RTP port: {error}"))
            return None
        rtp.floor = server_floor(self.service.runtime.content, call.conf_id, call.uri)
        sip_call = SipCall(self, call, media, rtp)
        self.calls.append(sip_call)
        self.service.calls.add(sip_call)
        self.service.spawn(sip_call.watch(), f"sip call watch {call.uri}")
        return sip_call

    def declare_content(self, send: bool, receive: bool) -> None:
        """What the call's SDP settled for content, as the site's device: a content input
        (it may hold the floor) when its content m-line lets it send, a second screen when
        it lets it receive (mcu/runtime/content_floor.py reads it when the call joins)."""
        self._device = undeclared_device(content_send=send, content_receive=receive,
                                         model=SIP_DEVICE_MODEL)

    def offer_call(self, call: Call) -> None:
        target = self.service.target_of(call.uri)
        if target is None:  # a number no SIP endpoint has registered (any more)
            call.reject(CallFailure.CALLEE_OFFLINE.info(
                f"SIP: {call.uri} is not registered with the MCU's registrar"))
            return
        self.service.spawn(self._dial(call, target), f"sip dial {call.uri}")

    async def _dial(self, call: Call, target: str) -> None:
        sip_call = await self.open_call(call)
        if sip_call is not None:
            await sip_call.dial(target)

    def call_ended(self, call: Call) -> None:
        for sip_call in list(self.calls):
            if sip_call.call is call:
                sip_call.hang_up()

    def forget(self, sip_call: SipCall) -> None:
        with contextlib.suppress(ValueError):
            self.calls.remove(sip_call)


class SipDialer:
    """The runtime's dialer with SIP: a URI registered over signalling (a WebRTC terminal)
    is called as before; otherwise a SIP site (type 7) booked with a `sip:`/`sips:` URI, or
    with a URI our SIP registrar has a binding for, is called over SIP; anything else is
    left to `fallback` (unreachable: the call timeout fails it, 109)."""

    def __init__(self, fallback: Dialer, service: SipService) -> None:
        self.fallback = fallback
        self.service = service

    def place_call(self, call: Call) -> None:
        if (call.uri not in self.service.runtime.registry
                and call.site.type in (SiteType.SIP, SiteType.VOIP_SIP)
                and self.service.target_of(call.uri) is not None):
            endpoint = SipEndpoint(call.uri, self.service)
            call.endpoint = endpoint
            endpoint.offer_call(call)
            return
        self.fallback.place_call(call)

    def clear_call(self, call: Call) -> None:
        self.fallback.clear_call(call)


def is_sip_uri(uri: str) -> bool:
    try:
        return SipUri.parse(uri, "URI").scheme in ("sip", "sips")
    except ValueError:
        return False


def spawn_guarded(coroutine: Coroutine[Any, Any, None], name: str,
                  tasks: set[asyncio.Task[None]]) -> asyncio.Task[None]:
    """A task kept in `tasks` until done; its failure is logged, never lost."""
    task = asyncio.create_task(coroutine, name=name)
    tasks.add(task)

    def done(finished: asyncio.Task[None]) -> None:
        tasks.discard(finished)
        if not finished.cancelled() and finished.exception() is not None:
            log.error("%s failed", name, exc_info=finished.exception())

    task.add_done_callback(done)
    return task
