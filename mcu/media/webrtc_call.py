"""One WebRTC call of a registered terminal (CallSession): its RTCPeerConnection, the dial-out
offer or the dial-in answer, the transceivers tuned for the MCU's media plane, and how the
call fails or closes. The endpoint that owns it: mcu/media/webrtc_endpoint.py (its module
docstring tells the whole exchange)."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from aiortc import (
    RTCPeerConnection,
    RTCRtpTransceiver,
    RTCSessionDescription,
)

from mcu.calls import Call, CallFailure
from mcu.cdr import NegotiatedMedia
from mcu.events import ErrorInfo
from mcu.media.direct_send import send_directly
from mcu.media.media_path import MediaPath
from mcu.media.output_format import H264, output_format_for
from mcu.media.send_ladder import SendAsk, declared_ceiling
from mcu.media.site_media import SiteMedia
from mcu.media.stream_limits import describe_content_stream, describe_streams
from mcu.media.webrtc_codecs import CallCodecs, NoCommonCodec, take_negotiated_codecs
from mcu.media.webrtc_negotiation import (
    apply_remote_description,
    check_media_sections,
    negotiation_bound,
)
from mcu.media.webrtc_refusals import BAD_SDP, CODEC_MISMATCH
from mcu.model import SiteCallState
from rtc.aiortc_hooks import on_keyframe_request
from rtc.audio_jitter_buffer import release_audio_at_once
from rtc.bandwidth_estimation import disable_bitrate_estimation
from rtc.content_sdp import content_media, mark_content
from rtc.ice import rtc_configuration
from rtc.jitter_buffer import release_frames_at_marker
from rtc.screen_sdp import extra_screen_count, mark_screens
from rtc.signalling import (
    CONTENT_LABEL,
    ContentParams,
    Error,
    FloorParams,
    Invite,
    Joined,
    SendVideo,
)

if TYPE_CHECKING:
    from mcu.media.webrtc_endpoint import WebRtcEndpoint

# the logger of mcu/media/webrtc_endpoint.py, whose part this is: log records keep their name
log = logging.getLogger("mcu.media.webrtc_endpoint")


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
        take_negotiated_codecs(self.media, sdp, sdp)
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
        take_negotiated_codecs(media, pc.localDescription.sdp, sdp)
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
