"""The MCU's Endpoint for a terminal registered over signalling: calls as RTCPeerConnections.

One WebRtcEndpoint per registered terminal, bound to its signalling channel (the gateway's
WebSocket; here only a `send(message)` callable, mcu/ knows no HTTP). Each call is a
CallSession with its own RTCPeerConnection built from rtc.ice.rtc_configuration():

dial-out  offer_call(call): audio, video and content (second video, rtc/content_sdp.py)
          transceivers (sendrecv) fed by the call's SiteMedia, offering only the codecs the terminal declared (refused with 131088,
          no common codec, when it declared none the MCU has), and for a terminal that
          declared 2 or 3 screens one sendonly m-line per extra screen after the content
          (rtc/screen_sdp.py), `invite` with the SDP offer.
          `ringing` -> call.ringing(); `answer` -> the call timeout gives way to the media
          timeout (Call.media_path_pending), remote description, then call.answer() once the
          media path is up (mcu/media/media_path.py: ICE and DTLS connected), whether or
          not the terminal sends media; `decline` -> rejected (115), or busy (117) when its
          reason is "busy".
dial-in   `join` with access code and password, refused with `locked` while the socket,
          URI or code has too many failed attempts (mcu/dial_in_limits.py); a site not
          booked in the conference is refused (`dial_in_refused`) before its password is
          looked at, so it learns nothing about it; then the runtime accepts the site (CALLING)
          (an offer without a content m-line is answered without one: one video stream;
          screen m-lines after the content are answered sendonly up to the declared screens)
          (an ad-hoc template's code first starts its conference or books the terminal
          in the ongoing one: mcu/adhoc.py; `no_capacity` when the MCU is full),
          the terminal's offer is answered with `joined` (the media timeout starts), then
          call.answer() under the same rule as dial-out.
either    the media path failing, or not up within the media timeout, fails the call with
          what did not connect: ICE (118) or DTLS (12378); an offer or answer with no codec
          in common fails it with 131088; one of more than MAX_MEDIA_SECTIONS m-lines, one
          aiortc cannot read, or a negotiation not done within NEGOTIATION_TIMEOUT_S is
          answered `bad_sdp` and fails it with 116 (docs/signalling.md, "Bad offers").
          call_ended(call) (the MCU hangs up) -> `bye`, peer connection closed;
          `bye` from the terminal -> call.hang_up_remote() once
          in conference; before that the call fails: 116 when the terminal's media failed
          (its reason says "failed"), else 115 (it gave up: rejected).
A terminal that vanishes (signalling closed or silent) hangs up all its calls remotely.

Its parts: webrtc_call.py (CallSession, one call's peer connection), webrtc_codecs.py (the
codec choice), webrtc_negotiation.py (the bounds of a negotiation), webrtc_refusals.py (the
`error` codes and the failures of a `decline` or an early `bye`); re-exported here.
"""

from __future__ import annotations

import asyncio
import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mcu.attempt_limits import AttemptLimits
from mcu.calls import Call, CallFailure
from mcu.dial_in_limits import ACCESS_CODE, SOCKET, URI
from mcu.endpoints import TerminalDevice, undeclared_device
from mcu.errors import DomainError, Fault
from mcu.media.engine import MediaEngine
from mcu.media.webrtc_call import CallSession
from mcu.media.webrtc_codecs import (
    H264_BOOKINGS,
    WEBRTC_UNSENDABLE,
    CallCodecs,
    NoCommonCodec,
    negotiated_video_codec,
    video_codec_order,
)
from mcu.media.webrtc_negotiation import (
    MAX_MEDIA_SECTIONS,
    NEGOTIATION_TIMEOUT_S,
    BadOffer,
    apply_remote_description,
    check_media_sections,
    negotiation_bound,
)
from mcu.media.webrtc_refusals import (
    BAD_SDP,
    CODEC_MISMATCH,
    CONFERENCE_NOT_FOUND,
    DIAL_IN_REFUSED,
    LOCKED,
    NO_CAPACITY,
    NOT_JOINED,
    WRONG_PASSWORD,
    decline_failure,
    unanswered_bye_failure,
    unknown_call,
)
from mcu.model import (
    Conference,
    DirectorySite,
    MediaEncryptType,
    SiteCallState,
    SiteSpec,
    SiteType,
)
from mcu.runtime import ConferenceRuntime
from mcu.runtime.receive_reports import StreamReceipt
from rtc.signalling import (
    UNKNOWN_CALL,
    Answer,
    Bye,
    CallMessage,
    Capabilities,
    Decline,
    Error,
    Join,
    Message,
    ReceiveStats,
    Register,
    Ringing,
)
from rtc.signalling import StreamReceipt as ReceiptMessage
from rtp.encryption_policy import PeerOffer, Protection, decide

if TYPE_CHECKING:
    from mcu.adhoc import AdhocConferences

# the parts' names, re-exported: importers use this module's names (a new module imports
# from the part that defines one)
__all__ = [
    "BAD_SDP",
    "CODEC_MISMATCH",
    "CONFERENCE_NOT_FOUND",
    "DIAL_IN_REFUSED",
    "LOCKED",
    "NO_CAPACITY",
    "NOT_JOINED",
    "UNKNOWN_CALL",
    "WRONG_PASSWORD",
    "MAX_MEDIA_SECTIONS",
    "NEGOTIATION_TIMEOUT_S",
    "H264_BOOKINGS",
    "WEBRTC_UNSENDABLE",
    "BadOffer",
    "CallCodecs",
    "CallSession",
    "NoCommonCodec",
    "Registration",
    "Send",
    "WebRtcEndpoint",
    "apply_remote_description",
    "check_media_sections",
    "decline_failure",
    "find_live_conference",
    "negotiated_video_codec",
    "negotiation_bound",
    "unanswered_bye_failure",
    "video_codec_order",
]


Send = Callable[[Message], None]


def find_live_conference(runtime: ConferenceRuntime, access_code: str) -> Conference | None:
    for conf_id in runtime.conferences.ids():
        try:
            conference = runtime.scheduler.get(conf_id)
        except DomainError:
            continue
        if conference.access_code == access_code:
            return conference
    return None


@dataclass(frozen=True)
class Registration:
    uri: str
    name: str
    site_type: SiteType
    capabilities: Capabilities

    @classmethod
    def of(cls, message: Register) -> Registration:
        try:
            site_type = SiteType(message.site_type)
        except ValueError:
            site_type = SiteType.SIP
        return cls(message.uri, message.name, site_type, message.capabilities)


class WebRtcEndpoint:
    """mcu.endpoints.Endpoint over signalling + aiortc."""

    def __init__(
        self,
        registration: Registration,
        send: Send,
        engine: MediaEngine,
        runtime: ConferenceRuntime,
        device: TerminalDevice | None = None,
        *,
        dial_in_limits: AttemptLimits,
        socket_key: str,
    ) -> None:
        """dial_in_limits: shared by every endpoint (mcu/dial_in_limits.py); socket_key
        names the signalling socket this registration lives on."""
        self.registration = registration
        self.send = send
        self.engine = engine
        self.runtime = runtime
        self.dial_in_limits = dial_in_limits
        self.socket_key = socket_key
        self._device = device or undeclared_device()
        self.sessions: dict[str, CallSession] = {}
        self.closing: set[asyncio.Task[None]] = set()

    @property
    def uri(self) -> str:
        return self.registration.uri

    @property
    def device(self) -> TerminalDevice:
        return self._device

    @device.setter
    def device(self, device: TerminalDevice) -> None:
        """What the terminal has now (its `device` message: a cable plugged or unplugged)."""
        self._device = device

    @property
    def capabilities(self) -> Capabilities:
        return self.registration.capabilities

    def directory_site(self) -> DirectorySite:
        """How the terminal shows in querySitesEx while it is registered."""
        return DirectorySite(self.uri, self.registration.name, self.registration.site_type)

    # -- Endpoint protocol (driven by the runtime's dialer) ----------------------------

    def protection(self, call: Call) -> Protection:
        """The conference's mediaEncryptType applied to this WebRTC call, whose peer can only
        do DTLS-SRTP (rtp/encryption_policy.py: auto and force: DTLS-SRTP; none: DTLS-SRTP,
        exempt). A DTLS-SRTP peer is never refused by the rule, so a WebRTC call only
        reports the outcome (its negotiated media); a SIP endpoint acts on `refusal`."""
        try:
            booked = self.runtime.scheduler.get(call.conf_id).spec.media_encrypt_type
        except DomainError:  # the conference is gone; the call will not go far
            booked = MediaEncryptType.AUTO
        return decide(booked, PeerOffer.webrtc())

    def offer_call(self, call: Call) -> None:
        try:
            codecs = CallCodecs.of(self.capabilities, call.site.video_protocol,
                                   self.engine.settings.preferred_codec)
        except NoCommonCodec as mismatch:  # nothing to invite it with
            call.reject(CallFailure.CODEC_MISMATCH.info(str(mismatch)))
            return
        try:
            session = CallSession(self, uuid.uuid4().hex, call)
        except DomainError:  # the conference's media is gone: it is ending
            call.reject(CallFailure.NETWORK_ERROR.info("conference media unavailable"))
            return
        self.sessions[session.call_id] = session
        try:
            conf_name = self.runtime.scheduler.get(call.conf_id).spec.name
        except DomainError:
            conf_name = ""
        session.spawn(session.offer(conf_name, codecs), "offer")

    def call_ended(self, call: Call) -> None:
        for session in list(self.sessions.values()):
            if session.call is call:
                self.send(Bye(session.call_id, "hang up"))
                session.close()

    # -- signalling from the terminal --------------------------------------------------

    def on_call_message(self, message: Ringing | Answer | Decline | Bye) -> None:
        """A terminal's message about one of its calls, whoever carried it (the gateway's
        signalling socket, or a media node's relay of it)."""
        match message:
            case Ringing():
                self.on_ringing(message)
            case Answer():
                self.on_answer(message)
            case Decline():
                self.on_decline(message)
            case Bye():
                self.on_bye(message)

    def on_ringing(self, message: Ringing) -> None:
        session = self._session(message)
        if session is not None:
            session.call.ringing()

    def on_answer(self, message: Answer) -> None:
        session = self._session(message)
        if session is not None:
            session.spawn(session.answered(message.sdp), "answer")

    def on_decline(self, message: Decline) -> None:
        session = self._session(message)
        if session is not None:
            session.call.reject(decline_failure(message.reason))
            session.close()

    def on_bye(self, message: Bye) -> None:
        session = self._session(message)
        if session is None:
            return
        if session.call.state in (SiteCallState.CALLING, SiteCallState.RINGING):
            # Not answered yet: the call failed, and the status must say why.
            session.call.reject(unanswered_bye_failure(message.reason))
        else:
            session.call.hang_up_remote()
        session.close()

    def on_stats(self, message: ReceiveStats) -> None:
        """`stats`: what the terminal receives in this call, kept as its site's last receive
        report (mcu/runtime/receive_reports.py, display only). Refused, nothing kept: a call
        it does not have (`unknown_call`), a site not (yet, or no longer) connected in the
        call's conference (`not_joined`), too many sites reporting (`no_capacity`)."""
        session = self._session(message)
        if session is None:
            return
        try:
            self.runtime.receive_reports.record(
                session.call.conf_id, self.uri, _receipt(message.main),
                _receipt(message.content) if message.content is not None else None)
        except DomainError as refused:
            code = NO_CAPACITY if refused.fault is Fault.CAPACITY_EXCEEDED else NOT_JOINED
            self._refuse(message.call_id, code, f"receive report refused: {refused}")

    def on_join(self, message: Join) -> None:
        if message.call_id in self.sessions:
            self._refuse(message.call_id, DIAL_IN_REFUSED, "call id already in use")
            return
        limits = self.dial_in_limits
        keys = {SOCKET: self.socket_key, URI: self.uri, ACCESS_CODE: message.access_code}
        refusal = limits.refusal(keys)
        if refusal is not None:
            wait = max(0, math.ceil((refusal.until - self.runtime.clock.now()).total_seconds()))
            what = "locked" if refusal.locked else "delayed"
            self._refuse(message.call_id, LOCKED,
                         f"too many failed dial-in attempts of this {refusal.scope}: "
                         f"{what}, retry in {wait} s")
            return
        probing = {SOCKET: self.socket_key, URI: self.uri}
        conference = find_live_conference(self.runtime, message.access_code)
        adhoc = self.runtime.adhoc
        template = adhoc.template(message.access_code) if adhoc is not None else None
        if conference is None and template is None:
            limits.failed(probing)
            self._refuse(message.call_id, CONFERENCE_NOT_FOUND,
                         f"no ongoing conference has access code {message.access_code!r}")
            return
        # a template's code admits by the template's password (none: any), and books the
        # terminal; a conference's code admits only a site booked in it, checked first
        if template is not None:
            password = template.password
        elif conference is not None:
            if not self._booked_in(conference.conf_id):
                limits.failed(probing)
                self._refuse(message.call_id, DIAL_IN_REFUSED,
                             f"{self.uri} is not booked in this conference")
                return
            password = conference.password
        if password and message.password != password:
            limits.failed(keys)
            self._refuse(message.call_id, WRONG_PASSWORD, "wrong conference password")
            return
        limits.succeeded(probing)
        if template is not None and adhoc is not None:
            conference = self._start_adhoc(message, adhoc)
            if conference is None:
                return
        assert conference is not None
        self.accept_join(message, conference.conf_id)

    def accept_join(self, message: Join, conf_id: str) -> None:
        """An admitted `join` (on_join's checks passed): the runtime takes the site's call
        and this endpoint answers the terminal's offer. A media node's relay endpoint hands
        it to the conference's node instead (gateway/node_signalling.py), whose endpoint
        comes here (app/node_service.py)."""
        try:
            call = self.runtime.lifecycle.accept_dial_in(conf_id, self)
        except DomainError as error:
            self._refuse(message.call_id, DIAL_IN_REFUSED, str(error))
            return
        try:
            session = CallSession(self, message.call_id, call)
        except DomainError as error:  # the conference's media is gone: it is ending
            call.reject(CallFailure.NETWORK_ERROR.info("conference media unavailable"))
            self._refuse(message.call_id, DIAL_IN_REFUSED, str(error))
            return
        self.sessions[session.call_id] = session
        session.spawn(session.accept_offer(message.sdp), "join")

    def _booked_in(self, conf_id: str) -> bool:
        live = self.runtime.conferences.get(conf_id)
        return live is not None and self.uri in live.sites

    def _start_adhoc(self, message: Join, adhoc: AdhocConferences) -> Conference | None:
        """The conference of an ad-hoc template's code: started now if none is ongoing, this
        terminal booked in it as a dial-in site (mcu/adhoc.py); None when refused (told)."""
        site = self.directory_site()
        spec = SiteSpec(site.uri, name=site.name, type=site.type)
        try:
            conference = adhoc.admit(message.access_code, spec)
        except DomainError as error:
            code = NO_CAPACITY if error.fault is Fault.CAPACITY_EXCEEDED else DIAL_IN_REFUSED
            self._refuse(message.call_id, code, str(error))
            return None
        self.runtime.reconcile()
        return conference

    def call_over(self, reason: str) -> None:
        """A call ended without the MCU hanging up (timeout, refusal): tell the terminal."""
        for session in list(self.sessions.values()):
            if not session.call.active:
                self.send(Bye(session.call_id, reason))
                session.close()

    def vanished(self) -> None:
        """The terminal is gone (signalling closed or silent): its calls end as if it hung up."""
        for session in list(self.sessions.values()):
            session.call.hang_up_remote()
            session.close()

    async def wait_closed(self) -> None:
        await asyncio.gather(*self.closing, return_exceptions=True)

    # -- internals ---------------------------------------------------------------------

    def forget(self, session: CallSession) -> None:
        if self.sessions.get(session.call_id) is session:
            del self.sessions[session.call_id]

    def _session(self, message: CallMessage) -> CallSession | None:
        """The call `message` is about, or None after refusing it with `unknown_call` (the
        refusal names the message: a late answer, a stats report after the call ended)."""
        session = self.sessions.get(message.call_id)
        if session is None:
            self.send(unknown_call(message))
        return session

    def _refuse(self, call_id: str, code: str, text: str) -> None:
        self.send(Error(code, text, call_id))


def _receipt(stream: ReceiptMessage) -> StreamReceipt:
    return StreamReceipt(stream.fps, stream.latency_ms_p50, stream.latency_ms_p95)
