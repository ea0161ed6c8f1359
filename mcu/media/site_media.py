"""The media of one site's call: what it sends us (decoded into a frame slot and an audio
fifo) and what we send it (its video track fed by an encoder group, its audio track fed by
the mixer)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import av
from aiortc import RTCRtpReceiver
from aiortc.mediastreams import MediaStreamTrack

from mcu.calls import Call
from mcu.media.audio_mixer import AudioInput, SiteAudioTrack
from mcu.media.encoder_group import SiteVideoTrack
from mcu.media.frame_slots import LatestFrameSlot, pump_track
from mcu.media.inline_audio import InlineAudioDecoder, decode_audio_inline
from mcu.model import SiteSpec

log = logging.getLogger(__name__)


class SiteMedia:
    def __init__(self, call: Call) -> None:
        self.call = call
        self.video_out = SiteVideoTrack(call.uri)
        self.audio_out = SiteAudioTrack(call.uri)
        self.video_in = LatestFrameSlot()
        # The second (content) video stream: the outgoing track and the codec its call
        # negotiated for it; None when the call has no second stream (a single-screen site).
        self.content_out: SiteVideoTrack | None = None
        self.content_codec: str | None = None
        self.audio_in = AudioInput()
        self.video_codec: str | None = None  # negotiated; None until the SDP answer
        self.audio_codec: str | None = None  # likewise ("OPUS", "G722", "PCMU", "PCMA")
        self.inline_audio: InlineAudioDecoder | None = None
        self.closed = False
        self._pumps: dict[str, asyncio.Task[None]] = {}  # by track kind, one each

    @property
    def uri(self) -> str:
        return self.call.uri

    @property
    def spec(self) -> SiteSpec:
        return self.call.site

    def decode_audio_of(self, receiver: RTCRtpReceiver) -> None:
        """Decode this call's audio on the loop into the mix input (mcu/media/inline_audio.py);
        before the receiver starts. An audio track pumped already would never get a frame:
        its task ends now."""
        self.inline_audio = decode_audio_inline(receiver, self._audio_frame)
        self._stop_pump("audio")

    def _audio_frame(self, frame: av.AudioFrame) -> None:
        if self.closed:
            return
        self.audio_in.add(frame)

    def receive(self, track: MediaStreamTrack) -> None:
        """A remote track of the call arrived (RTCPeerConnection 'track' event)."""
        if self.closed:
            return
        if track.kind == "audio" and self.inline_audio is not None:
            return  # its frames come decoded from the receiver, never through the track
        consume: Any = self.video_in.put if track.kind == "video" else self.audio_in.add
        self._stop_pump(track.kind)  # a call has one track of a kind: a new one replaces it
        task = asyncio.create_task(
            pump_track(track, consume), name=f"{track.kind} in {self.uri}"
        )
        task.add_done_callback(_log_failure)
        self._pumps[track.kind] = task

    def _stop_pump(self, kind: str) -> None:
        task = self._pumps.pop(kind, None)
        if task is not None:
            task.cancel()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for kind in list(self._pumps):
            self._stop_pump(kind)
        self.video_out.stop()
        self.audio_out.stop()
        if self.content_out is not None:
            self.content_out.stop()


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("media pump %s failed", task.get_name(), exc_info=task.exception())
