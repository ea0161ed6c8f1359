"""A simulated terminal's call media (terminals/client.py): one RTCPeerConnection per
call, its transceivers, the loops it sends, the end of the call."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiortc import RTCPeerConnection, RTCRtpReceiver

from rtc import aiortc_hooks
from rtc.bandwidth_estimation import disable_bitrate_estimation
from rtc.codec_preferences import codec_preferences, negotiated_codec
from rtc.content_sdp import content_media
from rtc.ice import rtc_configuration
from rtc.jitter_buffer import release_frames_at_marker
from rtc.receive_path import handle_rtp_in_one_step
from rtc.screen_sdp import extra_screen_count
from rtc.signalling import Bye, SendVideo
from terminals.call_state import CallState
from terminals.camera_track import CameraVideoTrack, LoopCache
from terminals.content_source import ContentTrack
from terminals.loop_sender import send_video_directly, send_voice_directly
from terminals.media_sources import SUPPORTED_VIDEO_CODECS, SpeechTrack, VideoFormat
from terminals.terminal_base import TerminalBase
from terminals.terminal_types import TerminalCall

# the terminal's log, one name for all its modules (as when they were one module)
log = logging.getLogger("terminals.client")


class TerminalMedia(TerminalBase):
    """A terminal's calls' media: the peer connection and its transceivers, what it sends
    once the answer chose the codecs, the MCU's send requests, and the end of a call."""

    async def set_video_format(self, video_format: VideoFormat) -> None:
        """Send at another format from now on (a camera switching its resolution mid-call):
        the current call's video goes on with the loop at that format, from its keyframe.
        The loops encoded so far are of the old format: a fresh cache replaces them."""
        self.video_format = video_format
        self._loops = LoopCache(self.main_sources)
        call, codec = self._call, self._video_codec
        if call is not None and call.video_track is not None and codec is not None:
            call.video_track.loops = self._loops
            view = self.main_sources.state()
            call.video_track.use_loop(
                await self._loops.get(codec, view, video_format, background=True), view)

    def _follow_send_request(self, message: SendVideo) -> None:
        """The MCU asks for another size or rate (terminals/send_requests.py): once the
        call sends video, switch to that format's loop (encoded first if it is new)."""
        call = self._call
        if not self.send_requests.accept(message) or call is None \
                or call.video_track is None or call.video_track.loop is None:
            return  # before the call sends: _start_sending starts at the requested format
        call.tasks.append(asyncio.get_running_loop().create_task(
            self._switch_video(call, message)))

    async def _switch_video(self, call: TerminalCall, message: SendVideo) -> None:
        track, codec = call.video_track, self._video_codec
        if track is None or codec is None:
            return
        video_format = self.send_requests.format()
        view = self.main_sources.state()
        loop = await self._loops.get(codec, view, video_format, background=True)
        # a later request, or the end of the call, while the loop was encoded: not this one
        if self.send_requests.current(message) and self._call is call:
            if track.loop is None or track.loop.video_format != video_format:
                self.send_requests.switches.append(video_format)
            track.switch_loop(loop, view)

    async def hang_up(self, reason: str = "hang up") -> None:
        await self._end_call(notify=True, reason=reason)

    async def _new_call(self, call_id: str, offer: str | None = None) -> TerminalCall:
        """A call's peer connection; answering an `offer`, the content transceiver only when
        it has a content m-line (aiortc cannot leave a transceiver out of an answer)."""
        pc = RTCPeerConnection(rtc_configuration(self.ice_servers))
        call = TerminalCall(call_id, pc)
        self._call = call
        self.send_requests.new_call(call_id)
        self.call_ended.clear()
        if self.send_video:
            call.video_track = CameraVideoTrack(self.site_index, self.main_sources,
                                                self._loops, self.send_log)
            call.video_track.sync = self.sync_pattern
        if self.send_audio:
            call.speech_track = SpeechTrack(self.speech)
            call.speech_track.sync = self.sync_pattern
        audio = pc.addTransceiver(call.speech_track or "audio",
                                  direction="sendrecv" if self.send_audio else "recvonly")
        audio.setCodecPreferences(self._audio_codecs())
        if self.lean_media and call.speech_track is not None:  # Opus packets in one step
            send_voice_directly(audio.sender, call.speech_track)
        self.audio.count_frames_of(audio.receiver)
        self._lean_receive(call, audio.receiver)
        self.audio.read_levels_of(audio.receiver)
        video = pc.addTransceiver(call.video_track or "video",
                                  direction="sendrecv" if self.send_video else "recvonly")
        video.setCodecPreferences(codec_preferences("video", self._video_codecs()))
        self.video.count_frames_of(video.receiver)
        disable_bitrate_estimation(video.receiver)  # the MCU encodes at the booked rate
        release_frames_at_marker(video.receiver)  # each picture a frame interval sooner
        self._lean_receive(call, video.receiver)
        # aiortc asks its sender to encode a keyframe on PLI/FIR; our sender does not encode,
        # so the request goes to the track, which jumps to the loop's next keyframe.
        if call.video_track is not None:
            aiortc_hooks.on_keyframe_request(video.sender, call.video_track.request_keyframe)
            if self.lean_media:  # the loop's packets written and sent in one step
                send_video_directly(video.sender, call.video_track)
        if self.content_mline and (offer is None or content_media(offer) is not None):
            self._add_content_transceiver(call)
            self._add_screen_transceivers(
                call, len(self.screens) - 1 if offer is None
                else min(len(self.screens) - 1, extra_screen_count(offer)))

        @pc.on("track")
        def on_track(track) -> None:
            content = call.content_transceiver
            screens = [t.receiver.track for t in call.screen_transceivers]
            if content is not None and track is content.receiver.track:
                consume = self.content.consume(track)
            elif any(track is screen for screen in screens):
                position = 1 + next(i for i, t in enumerate(screens) if track is t)
                consume = self.screens[position].consume(track)
            else:
                consume = (self.video if track.kind == "video" else self.audio).consume(track)
            call.tasks.append(asyncio.get_running_loop().create_task(consume))

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            if pc.connectionState == "connected" and self._call is call:
                self.state = CallState.IN_CALL
                self.calls_established += 1
                self.call_started.set()
            elif pc.connectionState == "failed" and self._call is call:
                await self._end_call(notify=True, reason="media failed")

        return call

    def _lean_receive(self, call: TerminalCall, receiver: RTCRtpReceiver) -> None:
        """With lean_media, the receiver's RTP packets go through one handler doing aiortc's
        steps in aiortc's order (rtc/receive_path.py), before the receiver starts; its
        payload bytes are counted into the call's rtp_counts."""
        if self.lean_media:
            handle_rtp_in_one_step(receiver, call.rtp_counts)

    def _add_content_transceiver(self, call: TerminalCall) -> None:
        """The content m-line: sent while holding the floor, received when shown."""
        send, receive = self.content_source is not None, self.receive_content
        direction = {(True, True): "sendrecv", (True, False): "sendonly",
                     (False, True): "recvonly", (False, False): "inactive"}[(send, receive)]
        if self.content_source is not None:
            call.content_track = ContentTrack(self.content_source, uri=self.uri)
        transceiver = call.pc.addTransceiver(call.content_track or "video", direction=direction)
        transceiver.setCodecPreferences(codec_preferences("video", self._content_video_codecs()))
        disable_bitrate_estimation(transceiver.receiver)
        release_frames_at_marker(transceiver.receiver)
        self._lean_receive(call, transceiver.receiver)
        if call.content_track is not None:
            aiortc_hooks.on_keyframe_request(transceiver.sender,
                                             call.content_track.request_keyframe)
        call.content_transceiver = transceiver

    def _add_screen_transceivers(self, call: TerminalCall, count: int) -> None:
        """Screens 2.. (rtc/screen_sdp.py): one recvonly video m-line each after the content."""
        for position in range(1, count + 1):
            transceiver = call.pc.addTransceiver("video", direction="recvonly")
            transceiver.setCodecPreferences(codec_preferences("video", self._video_codecs()))
            self.screens[position].count_frames_of(transceiver.receiver)
            disable_bitrate_estimation(transceiver.receiver)
            release_frames_at_marker(transceiver.receiver)
            self._lean_receive(call, transceiver.receiver)
            call.screen_transceivers.append(transceiver)

    def _silence_unknown_video(self, call: TerminalCall) -> None:
        """An offered video m-line the terminal has no transceiver for (content, for an old
        client) is answered inactive: nothing is sent or shown on it."""
        known = {id(t) for t in (call.content_transceiver, *call.screen_transceivers)
                 if t is not None}
        videos = [t for t in call.pc.getTransceivers() if t.kind == "video"]
        for transceiver in videos[1:]:
            if id(transceiver) not in known:
                transceiver.direction = "inactive"

    async def _start_sending(self, call: TerminalCall, answer_sdp: str) -> None:
        """Tell the tracks the codecs the answer chose: the voice is sent as Opus packets or
        as frames, the video as that codec's loop."""
        codec = negotiated_codec(answer_sdp, "video")
        if codec is None or codec not in SUPPORTED_VIDEO_CODECS:
            raise ValueError(f"no common video codec (answer chose {codec})")
        self._video_codec = codec
        self._audio_codec = negotiated_codec(answer_sdp, "audio")
        if call.speech_track is not None:
            call.speech_track.use_codec(self._audio_codec)
        if call.video_track is not None:
            view = self.main_sources.state()
            video_format = self.send_requests.format()  # a request that came first: its format
            call.video_track.use_loop(await self._loops.get(codec, view, video_format), view)
            request = self.send_requests.request
            if request is not None and self.send_requests.format() != video_format:
                # asked again while that loop was being encoded: follow the latest
                call.tasks.append(asyncio.get_running_loop().create_task(
                    self._switch_video(call, request)))
        content = content_media(answer_sdp)
        self._content_codec = content.codec if content is not None and content.port else None
        if call.content_track is not None and self.content_source is not None \
                and self._content_codec in SUPPORTED_VIDEO_CODECS:
            call.content_track.use_loops(
                *await self.content_source.prepare_pages(self._content_codec))

    async def wait_closed(self) -> None:
        """Until every call this terminal began ending is torn down (`_end_call`)."""
        await self._closing.wait()

    async def _end_call(self, notify: bool, reason: str = "hang up") -> None:
        """The call is over at once (no call, state idle); its teardown runs as a task of its
        own that the caller's cancellation does not cut short. stop() cancels the signalling
        task, which may be ending the call on the MCU's Bye: an RTCPeerConnection.close()
        cut short leaves its later receivers unstopped, each with a decoder thread waiting
        for ever. stop() waits for the teardowns still running (`wait_closed`)."""
        call, self._call = self._call, None
        if call is None:
            if self.state == CallState.RINGING:
                self._ringing_call_id = None
                self.state = CallState.IDLE
            return
        self.state = CallState.IDLE
        self._ended_call_ids.append(call.call_id)
        await self._closing.run(self._tear_down(call, notify, reason))

    async def _tear_down(self, call: TerminalCall, notify: bool, reason: str) -> None:
        floor, self.floor = self.floor, None
        if floor is not None:
            await floor.close()
        if call.video_track is not None:
            self._frames_sent_before += call.video_track.frames_sent
            self._keyframe_requests_before += call.video_track.keyframe_requests
        if call.content_track is not None:
            call.content_track.stop()
        if notify:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self._send(Bye(call.call_id, reason))
        await call.pc.close()
        for task in call.tasks:
            task.cancel()
        self.call_started.clear()
        self.call_ended.set()
