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
"""

from __future__ import annotations

import asyncio
import logging
import math
import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiortc import (
    RTCPeerConnection,
    RTCRtpCodecCapability,
    RTCRtpTransceiver,
    RTCSessionDescription,
)
from aiortc.exceptions import OperationError

from mcu.attempt_limits import AttemptLimits
from mcu.calls import Call, CallFailure
from mcu.cdr import NegotiatedMedia
from mcu.dial_in_limits import ACCESS_CODE, SOCKET, URI
from mcu.encryption_policy import PeerOffer, Protection, decide
from mcu.endpoints import TerminalDevice, undeclared_device
from mcu.errors import DomainError, Fault
from mcu.events import ErrorInfo
from mcu.media.direct_send import send_directly
from mcu.media.engine import MediaEngine
from mcu.media.media_path import MediaPath
from mcu.media.output_format import H264, VIDEO_CODECS, output_format_for
from mcu.media.send_ladder import SendAsk, declared_ceiling
from mcu.media.site_media import SiteMedia
from mcu.media.stream_limits import describe_content_stream, describe_streams
from mcu.model import (
    Conference,
    DirectorySite,
    MediaEncryptType,
    SiteCallState,
    SiteSpec,
    SiteType,
    VideoProtocol,
)
from mcu.runtime import ConferenceRuntime
from mcu.runtime.receive_reports import StreamReceipt

if TYPE_CHECKING:
    from mcu.adhoc import AdhocConferences
from rtc.aiortc_hooks import on_keyframe_request
from rtc.audio_jitter_buffer import release_audio_at_once
from rtc.bandwidth_estimation import disable_bitrate_estimation
from rtc.codec_preferences import (
    codec_preferences,
    negotiated_codec,
    offered_codec_names,
    rtp_name,
    supported_codec_names,
)
from rtc.content_sdp import content_media, mark_content
from rtc.h264_levels import H264Profile, ProfileLevelId
from rtc.ice import rtc_configuration
from rtc.jitter_buffer import release_frames_at_marker
from rtc.screen_sdp import extra_screen_count, mark_screens
from rtc.signalling import (
    CONTENT_LABEL,
    Answer,
    Bye,
    Capabilities,
    ContentParams,
    Decline,
    Error,
    FloorParams,
    Invite,
    Join,
    Joined,
    Message,
    ReceiveStats,
    Register,
    Ringing,
    SendVideo,
)
from rtc.signalling import StreamReceipt as ReceiptMessage

log = logging.getLogger(__name__)

# Error codes of signalling `error` messages sent for calls (docs/signalling.md).
UNKNOWN_CALL = "unknown_call"
CONFERENCE_NOT_FOUND = "conference_not_found"
WRONG_PASSWORD = "wrong_password"
DIAL_IN_REFUSED = "dial_in_refused"
LOCKED = "locked"  # dial-in: too many failed attempts of this socket, URI or access code
NO_CAPACITY = "no_capacity"  # an ad-hoc conference could not start or grow: MCU capacity
BAD_SDP = "bad_sdp"
CODEC_MISMATCH = "codec_mismatch"  # dial-in: the offer has no codec the booking allows
NOT_JOINED = "not_joined"  # `stats` of a call whose site is not connected in its conference

# Bounds of one negotiation (docs/signalling.md, "Bad offers"): an offer with more media
# sections than this is refused before aiortc reads it (each would cost an ICE and a DTLS
# transport; the MCU uses one audio and one video); the terminal's SDP applied and the MCU's
# own created within NEGOTIATION_TIMEOUT_S, else the call fails with `bad_sdp`.
MAX_MEDIA_SECTIONS = 8
NEGOTIATION_TIMEOUT_S = 10.0

Send = Callable[[Message], None]


def negotiated_video_codec(sdp: str) -> str | None:
    """The video codec an SDP answer settled on, if the MCU can encode it."""
    codec = negotiated_codec(sdp, "video")
    return codec if codec in VIDEO_CODECS else None


def _take_negotiated_codecs(media: SiteMedia, sdp: str, terminal_sdp: str) -> None:
    """What the negotiated SDP (the answer) settled on: the site's output group and audio
    path follow; its content stream: the answer's codec on the content m-line, sent and
    received as the terminal's own SDP (its offer or answer) says."""
    media.video_codec = negotiated_video_codec(sdp)
    media.audio_codec = negotiated_codec(sdp, "audio")
    negotiated = content_media(sdp)
    theirs = content_media(terminal_sdp)
    codec = negotiated.codec if negotiated is not None and negotiated.port != 0 else None
    media.content_codec = codec if codec in VIDEO_CODECS else None
    media.content_send = media.content_codec is not None and theirs is not None and theirs.sends
    media.content_receive = (media.content_codec is not None and theirs is not None
                             and theirs.receives)


def video_codec_order(protocol: VideoProtocol | None, offered: Iterable[str], preferred: str) -> list[str]:
    """Video codecs to offer or accept, best first (docs/signalling.md, "Codec choice"):
    booked videoProtocol H.264 or H.264 HP: H.264 only; auto: the MCU's preference if the
    terminal has it, then whatever else of the terminal's the MCU encodes, in the terminal's
    order. Empty when nothing fits (for an H.264 booking: the terminal has no H.264; for
    H.261, H.263 or H.265: always, WEBRTC_UNSENDABLE)."""
    if protocol in WEBRTC_UNSENDABLE:
        return []
    declared = [name for codec in offered
                for name in [rtp_name(c) for c in codec_preferences("video", [codec])]
                if name in VIDEO_CODECS]
    if protocol in H264_BOOKINGS:
        return [H264] if H264 in declared else []
    order = [preferred] if preferred in declared else []
    return order + [codec for codec in dict.fromkeys(declared) if codec not in order]


H264_BOOKINGS = (VideoProtocol.H264, VideoProtocol.H264_HP)
# Booked protocols a WebRTC site cannot receive (WebRTC video is H.264, VP8 and VP9; H.261
# and H.263 are not WebRTC codecs, and the MCU encodes no H.265): the call fails with 131088
# (capability exchange failed) rather than silently sending another codec; docs/gateway.md,
# "Formats, protocols and encryption honoured".
WEBRTC_UNSENDABLE = {
    VideoProtocol.H261: "H.261",
    VideoProtocol.H263: "H.263",
    VideoProtocol.H265: "H.265",
}


class BadOffer(Exception):
    """An SDP the MCU refuses before or while negotiating it (its text says why)."""


def check_media_sections(sdp: str) -> None:
    """BadOffer when the SDP has more than MAX_MEDIA_SECTIONS m-lines."""
    sections = sum(1 for line in sdp.splitlines() if line.startswith("m="))
    if sections > MAX_MEDIA_SECTIONS:
        raise BadOffer(f"{sections} media sections: at most {MAX_MEDIA_SECTIONS}")


class NoCommonCodec(Exception):
    """The terminal declared (or its SDP offers or answers) no codec of a kind that the MCU
    can use."""


async def apply_remote_description(pc: RTCPeerConnection, sdp: str, kind: str) -> None:
    """setRemoteDescription; NoCommonCodec when aiortc finds no codec of an m-line that both
    sides have (the one case it raises OperationError for)."""
    try:
        await pc.setRemoteDescription(RTCSessionDescription(sdp, kind))
    except OperationError as error:
        raise NoCommonCodec(f"no common codec in the terminal's {kind}: {error}") from None


@asynccontextmanager
async def negotiation_bound() -> AsyncIterator[None]:
    """The negotiation inside finishes within NEGOTIATION_TIMEOUT_S, else BadOffer."""
    try:
        async with asyncio.timeout(NEGOTIATION_TIMEOUT_S):
            yield
    except TimeoutError:
        raise BadOffer(f"negotiation not done within {NEGOTIATION_TIMEOUT_S:g} s") from None


def _mcu_video_codecs(order: list[str], protocol: VideoProtocol | None
                      ) -> list[RTCRtpCodecCapability]:
    """aiortc's capabilities for `order`: H.264 only in the profile the MCU sends, High for
    a site booked H.264 HP (rtc/aiortc_hooks.py add_h264_high), else Constrained Baseline
    (aiortc also lists plain Baseline, 42001f)."""
    high = protocol is VideoProtocol.H264_HP
    return [codec for codec in codec_preferences("video", order)
            if rtp_name(codec) != H264 or _h264_profile_wanted(codec, high)]


def _h264_profile_wanted(codec: RTCRtpCodecCapability, high: bool) -> bool:
    stated = ProfileLevelId.parse(str(codec.parameters["profile-level-id"]))
    if high:
        return stated.profile_idc == H264Profile.HIGH.profile_idc
    return stated.constrained_baseline


@dataclass(frozen=True)
class CallCodecs:
    """What the MCU offers a terminal, or accepts of its offer, in order of preference."""

    audio: list[RTCRtpCodecCapability]
    video: list[RTCRtpCodecCapability]

    @classmethod
    def of(cls, capabilities: Capabilities, protocol: VideoProtocol | None,
           preferred_video: str, offer: str | None = None) -> CallCodecs:
        """The terminal's registered codecs (those of its `offer` too, on dial-in), audio in
        its registered order, video by video_codec_order; NoCommonCodec when a kind has none."""
        audio_names = list(capabilities.audio_codecs)
        video_names = list(capabilities.video_codecs)
        if offer is not None:
            offered_audio = set(offered_codec_names(offer, "audio"))
            offered_video = set(offered_codec_names(offer, "video"))
            audio_names = [name for name in audio_names
                           if {rtp_name(c) for c in codec_preferences("audio", [name])}
                           & offered_audio]
            video_names = [name for name in video_names
                           if {rtp_name(c) for c in codec_preferences("video", [name])}
                           & offered_video]
        audio = codec_preferences("audio", audio_names)
        if not audio:
            raise NoCommonCodec(
                f"codec mismatch: no common audio codec: the terminal registered "
                f"{capabilities.audio_codecs}"
                + (f" and offers {offered_codec_names(offer, 'audio')}" if offer else "")
                + f", the MCU has {supported_codec_names('audio')}")
        if protocol in WEBRTC_UNSENDABLE:
            raise NoCommonCodec(
                f"codec mismatch: booked {WEBRTC_UNSENDABLE[protocol]}, which a WebRTC "
                f"terminal cannot receive (WebRTC video: H.264, VP8); the MCU sends no other "
                f"codec in its place")
        video_order = video_codec_order(protocol, video_names, preferred_video)
        if not video_order:
            booked = "booked H.264, " if protocol in H264_BOOKINGS else ""
            raise NoCommonCodec(
                f"codec mismatch: {booked}no common video codec: the terminal registered "
                f"{capabilities.video_codecs}"
                + (f" and offers {offered_codec_names(offer, 'video')}" if offer else "")
                + f", the MCU sends {list(VIDEO_CODECS)}")
        return cls(audio, _mcu_video_codecs(video_order, protocol))


def unanswered_bye_failure(reason: str) -> ErrorInfo:
    """Why a call the terminal left before it was in conference failed: its media could not
    be set up (116), or it gave up on the call (115)."""
    if "fail" in reason.lower():
        return CallFailure.NETWORK_ERROR.info(f"terminal: {reason}")
    return CallFailure.CALLEE_REJECTED.info(f"terminal: {reason}" if reason else "")


def decline_failure(reason: str) -> ErrorInfo:
    """A `decline`: busy (117) when its reason is "busy" (docs/signalling.md), else rejected
    (115), with the terminal's words."""
    if reason.strip().lower() == "busy":
        return CallFailure.CALLEE_BUSY.info(f"terminal: {reason}")
    return CallFailure.CALLEE_REJECTED.info(f"terminal: {reason}" if reason else "")


def find_live_conference(runtime: ConferenceRuntime, access_code: str) -> Conference | None:
    for conf_id in runtime.conferences.ids():
        try:
            conference = runtime.scheduler.get(conf_id)
        except DomainError:
            continue
        if conference.access_code == access_code:
            return conference
    return None


class CallSession:
    """One call over one RTCPeerConnection."""

    def __init__(self, endpoint: WebRtcEndpoint, call_id: str, call: Call) -> None:
        self.endpoint = endpoint
        self.call_id = call_id
        self.call = call
        self.media: SiteMedia = endpoint.engine.open_site(call)
        # its screens, as the terminal declared them (hdOut numbers, screen 1 first)
        self.media.screen_ids = tuple(port.id for port in endpoint.device.outputs) or (0,)
        # the send ladder asks over this terminal's signalling, never above what it declared
        self.media.ask_send = self.ask_send
        self.media.send_ceiling = declared_ceiling(endpoint.capabilities.video_formats)
        self.pc = RTCPeerConnection(rtc_configuration(endpoint.engine.settings.ice_servers))
        self.media_path = MediaPath(self.pc, self._media_path_down)
        self.closed = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._tuned: list[RTCRtpTransceiver] = []
        self.pc.on("track", self.media.receive)

    def spawn(self, work: Any, name: str) -> None:
        task = asyncio.create_task(self._guard(work), name=f"{name} {self.call_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        # A call closed before the task first ran (a bye right after the answer) cancels it
        # before _guard starts `work`: close it, or it is reported as never awaited.
        task.add_done_callback(lambda _: work.close())

    async def _guard(self, work: Any) -> None:
        """Negotiation errors (mostly an SDP we cannot use) end the call, never the MCU."""
        try:
            await work
        except asyncio.CancelledError:
            raise
        except Exception as error:
            log.warning("call %s of %s failed: %r", self.call_id, self.endpoint.uri, error)
            if not self.closed:
                self.endpoint.send(Error(BAD_SDP, f"call failed: {error}", self.call_id))
            if isinstance(error, NoCommonCodec):
                self.fail(CallFailure.CODEC_MISMATCH.info(str(error)))
            else:
                self.fail()

    def ask_send(self, ask: SendAsk) -> None:
        """The send ladder's ask (mcu/media/send_ladder.py) as a `send_video` message."""
        if not self.closed:
            self.endpoint.send(SendVideo(self.call_id, ask.width, ask.height, ask.fps))

    # -- dial-out ---------------------------------------------------------------------

    async def offer(self, conf_name: str, codecs: CallCodecs) -> None:
        pc, media = self.pc, self.media
        audio = pc.addTransceiver(media.audio_out, direction="sendrecv")
        audio.setCodecPreferences(codecs.audio)
        video = pc.addTransceiver(media.video_out, direction="sendrecv")
        video.setCodecPreferences(codecs.video)
        content = pc.addTransceiver(media.content_out, direction="sendrecv")
        content.setCodecPreferences(codecs.video)
        self._add_screens(len(media.screen_ids) - 1, codecs)
        self._tune_transceivers()
        offer = await pc.createOffer()
        await pc.setLocalDescription(RTCSessionDescription(self._describe(offer.sdp), "offer"))
        if self.closed:
            return
        self.endpoint.send(
            Invite(self.call_id, self.call.conf_id, conf_name,
                   mark_screens(mark_content(pc.localDescription.sdp)),
                   floor=self._floor_params(), content=self._content_params())
        )

    async def answered(self, sdp: str) -> None:
        self.call.media_path_pending(self._media_path_timed_out)
        check_media_sections(sdp)
        async with negotiation_bound():
            await apply_remote_description(self.pc, sdp, "answer")
        _take_negotiated_codecs(self.media, sdp, sdp)
        self._report_negotiated()
        await self._media_path_up()

    # -- dial-in ----------------------------------------------------------------------

    async def accept_offer(self, sdp: str) -> None:
        """Answer the terminal's offer with the codecs of docs/signalling.md's "Codec choice"
        (its registered ones, in the booking's order); none: refused, `codec_mismatch`."""
        pc, media = self.pc, self.media
        check_media_sections(sdp)
        try:
            codecs = CallCodecs.of(self.endpoint.capabilities, self.call.site.video_protocol,
                                   self.endpoint.engine.settings.preferred_codec, offer=sdp)
        except NoCommonCodec as mismatch:
            self.endpoint.send(Error(CODEC_MISMATCH, str(mismatch), self.call_id))
            self.call.reject(CallFailure.CODEC_MISMATCH.info(str(mismatch)))
            self.close()
            return
        # The transceivers exist before the offer is applied, so their preferences (not the
        # offer's order) choose the answer's codecs.
        audio = pc.addTransceiver(media.audio_out, direction="sendrecv")
        audio.setCodecPreferences(codecs.audio)
        video = pc.addTransceiver(media.video_out, direction="sendrecv")
        video.setCodecPreferences(codecs.video)
        # the offer's second video m-line is the content stream; an offer without one is
        # answered with one video stream (aiortc cannot leave a transceiver unanswered)
        if content_media(sdp) is not None:
            content = pc.addTransceiver(media.content_out, direction="sendrecv")
            content.setCodecPreferences(codecs.video)
            # screens 2.. (rtc/screen_sdp.py): as many as the offer has and the device declared
            self._add_screens(min(extra_screen_count(sdp), len(media.screen_ids) - 1), codecs)
        # Tuned before the offer is applied: applying it emits the remote tracks, and an
        # audio track that arrives before its receiver decodes inline would get a pump task
        # of its own (SiteMedia.receive) that waits for frames which never come.
        self._tune_transceivers()
        async with negotiation_bound():
            await apply_remote_description(pc, sdp, "offer")
            self._tune_transceivers()  # any transceiver the offer added (another m-line)
            answer = await pc.createAnswer()
            await pc.setLocalDescription(
                RTCSessionDescription(self._describe(answer.sdp), "answer"))
        _take_negotiated_codecs(media, pc.localDescription.sdp, sdp)
        self._report_negotiated()
        if self.closed:
            return
        self.endpoint.send(Joined(self.call_id, self.call.conf_id,
                                  mark_screens(mark_content(pc.localDescription.sdp)),
                                  floor=self._floor_params(),
                                  content=self._content_params()))
        self.call.media_path_pending(self._media_path_timed_out)
        await self._media_path_up()

    def _content_params(self) -> ContentParams | None:
        """The conference's presentation and the content frame rate it calls for at this
        site (the one content-format rule, mcu/media/content_format.py): the rate its content
        source sends at, and the rate of the content it is sent."""
        conference = self.endpoint.engine.conferences.get(self.call.conf_id)
        if conference is None:
            return None
        content = conference.content_format_of(self.media.spec, H264)
        return ContentParams(presentation=int(conference.presentation), fps=content.fps)

    def _add_screens(self, count: int, codecs: CallCodecs) -> None:
        """The m-lines of screens 2.. after the content m-line: the MCU sends, never receives."""
        for _ in range(count):
            screen = self.pc.addTransceiver(self.media.add_screen(), direction="sendonly")
            screen.setCodecPreferences(codecs.video)

    def _floor_params(self) -> FloorParams | None:
        """The RFC 8856 parameters of this call's content floor (mcu/runtime/content_floor.py),
        or None when the MCU runs no BFCP server."""
        identity = self.endpoint.runtime.content.bfcp_identity(self.call.conf_id, self.call.uri)
        if identity is None:
            return None
        address = identity.address
        return FloorParams(
            floorctrl="s-only",
            confid=identity.conference_id,
            userid=identity.user_id,
            floorid=identity.floor_id,
            label=CONTENT_LABEL,
            transport="TCP/TLS/BFCP" if address.tls else "TCP/BFCP",
            host=address.host,
            port=address.port,
        )

    def _describe(self, sdp: str) -> str:
        """The MCU's SDP with the fmtp of what it sends this site (mcu/media/stream_limits.py):
        the H.264 level of its booked format, VP8's max-fs/max-fr, Opus's parameters; on the
        content m-line those of the content this site receives (mcu/media/content_format.py,
        the rule the content forwarding and transcoding use too)."""
        conference = self.endpoint.engine.conferences.get(self.call.conf_id)
        if conference is None:
            return sdp
        output = output_format_for(self.media.spec, H264,
                                   conference_rate=conference.conference_rate,
                                   default_format=conference.default_format)
        sdp = describe_streams(sdp, output)
        content = conference.content_format_of(self.media.spec, H264)
        return describe_content_stream(sdp, content)

    def _report_negotiated(self) -> None:
        """Tell the Call what its media settled on, for its call detail record: the codecs
        of the SDP answer, the picture size, frame rate and bit rate the site receives."""
        conference = self.endpoint.engine.conferences.get(self.call.conf_id)
        output = conference.output_format(self.media) if conference is not None else None
        protection = self.endpoint.protection(self.call)
        self.call.report_media(NegotiatedMedia(
            audio_codec=self.media.audio_codec,
            video_codec=self.media.video_codec,
            video_format=f"{output.width}x{output.height}@{output.fps}" if output else None,
            rate_kbps=output.bitrate // 1000 if output else None,
            video_profile=output.profile_name if output is not None else None,
            encryption=str(protection.security) if protection.security else None,
            encryption_exempt=protection.exempt,
        ))

    async def _media_path_up(self) -> None:
        """In conference = the media path up (ICE and DTLS connected), whether the terminal
        sends media or only receives it."""
        await self.media_path.up.wait()
        if not self.closed:
            self.call.answer(self.endpoint)

    def _media_path_timed_out(self) -> ErrorInfo:
        """The call's media timeout fired: why the path is not up (ICE or DTLS)."""
        return self.media_path.failure(waited=self.call.media_timeout)

    def _media_path_down(self, reason: ErrorInfo) -> None:
        if not self.closed:
            self.fail(reason)

    # -- both -------------------------------------------------------------------------

    def _tune_transceivers(self) -> None:
        """Each transceiver once, before its receiver starts and before its remote track is
        announced."""
        # aiortc would set a flag for its own encoder, which never runs here: the receiver's
        # PLI/FIR must reach the site's encoder group instead.
        for transceiver in self.pc.getTransceivers():
            if transceiver in self._tuned:
                continue
            self._tuned.append(transceiver)
            self.media.count_rtp(transceiver)  # its RTP and RTCP feedback counts (totals())
            # the encoded frames and mixes the MCU pushes go out in the pushing call chain
            for track in self.media.outgoing_tracks():
                if transceiver.sender.track is track:
                    send_directly(transceiver.sender, track)
            if transceiver.kind == "audio":
                self.media.decode_audio_of(transceiver.receiver)
                # the mixer's fifo is the playout buffer: no 80 ms prefetch before it
                release_audio_at_once(transceiver.receiver)
            if transceiver.kind == "video":
                screen = next((track for track in self.media.screen_outs
                               if transceiver.sender.track is track), None)
                if transceiver.sender.track is self.media.content_out:
                    on_keyframe_request(transceiver.sender,
                                        self.media.content_out.request_keyframe)
                    self.media.tap_content_of(transceiver.receiver)
                elif screen is not None:
                    on_keyframe_request(transceiver.sender, screen.request_keyframe)
                else:
                    on_keyframe_request(transceiver.sender,
                                        self.media.video_out.request_keyframe)
                    if self.media.video_receiver is None:
                        self.media.decode_video_of(transceiver.receiver)
                # Our encoders run at the booked rate: a REMB estimate would change nothing.
                disable_bitrate_estimation(transceiver.receiver)
                release_frames_at_marker(transceiver.receiver)  # a frame interval sooner

    def fail(self, reason: ErrorInfo | None = None) -> None:
        """The call broke: one not yet in conference failed with `reason` (default: network
        error), one in conference was left by the terminal (the reason its end reason)."""
        if self.call.state in (SiteCallState.CALLING, SiteCallState.RINGING):
            self.call.reject(reason or CallFailure.NETWORK_ERROR.info())
        elif reason is not None:
            self.call.hang_up_remote(f"media path lost: {reason.description}")
        else:
            self.call.hang_up_remote()
        self.close()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.endpoint.forget(self)
        self.endpoint.engine.close_site(self.media)
        for task in list(self._tasks):
            if task is not asyncio.current_task():
                task.cancel()
        closing = asyncio.create_task(self.pc.close(), name=f"close {self.call_id}")
        self.endpoint.closing.add(closing)
        closing.add_done_callback(self.endpoint.closing.discard)


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
        do DTLS-SRTP (mcu/encryption_policy.py: auto and force: DTLS-SRTP; none: DTLS-SRTP,
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
        session = self._session(message.call_id)
        if session is not None:
            session.call.ringing()

    def on_answer(self, message: Answer) -> None:
        session = self._session(message.call_id)
        if session is not None:
            session.spawn(session.answered(message.sdp), "answer")

    def on_decline(self, message: Decline) -> None:
        session = self._session(message.call_id)
        if session is not None:
            session.call.reject(decline_failure(message.reason))
            session.close()

    def on_bye(self, message: Bye) -> None:
        session = self._session(message.call_id)
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
        session = self._session(message.call_id)
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

    def _session(self, call_id: str) -> CallSession | None:
        session = self.sessions.get(call_id)
        if session is None:
            self._refuse(call_id, UNKNOWN_CALL, "no such call")
        return session

    def _refuse(self, call_id: str, code: str, text: str) -> None:
        self.send(Error(code, text, call_id))


def _receipt(stream: ReceiptMessage) -> StreamReceipt:
    return StreamReceipt(stream.fps, stream.latency_ms_p50, stream.latency_ms_p95)
