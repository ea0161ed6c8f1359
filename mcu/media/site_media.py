"""The media of one site's call: what it sends us (decoded into a frame slot and an audio
fifo) and what we send it (its video track fed by an encoder group, its audio track fed by
the mixer).

Its content (aux) stream, the call's second video m-line (rtc/content_sdp.py): what it
sends arrives ENCODED through a ContentTap on the receiver (mcu/media/content_forward.py),
handed to `on_content_frame` (the conference forwards the holder's), and decoded into
`on_content_picture` only while the conference turns the tap's decoding on; what it
receives goes out on `content_out`, a SiteVideoTrack the conference puts in the content
forwarder (or, for another format, in an encoder group)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import av
from aiortc import RTCRtpReceiver
from aiortc.mediastreams import MediaStreamTrack

from mcu.calls import Call
from mcu.media.audio_mixer import AudioInput, SiteAudioTrack
from mcu.media.content_forward import ContentTap
from mcu.media.encoder_group import SiteVideoTrack
from mcu.media.frame_slots import LatestFrameSlot, pump_track
from mcu.media.inline_audio import InlineAudioDecoder, decode_audio_inline
from mcu.media.media_totals import MediaTotals
from mcu.media.output_format import PictureSize
from mcu.media.send_ladder import AskSender
from mcu.media.video_decoder import LatestPictureDecoder, decode_video_latest
from mcu.media.voice_activity import power_of_level
from mcu.model import SiteSpec
from rtc.aiortc_hooks import (
    count_rtp_and_feedback,
    receiver_rtp_packets,
    replace_decoder_queue,
    request_keyframe,
    sender_rtp_counts,
)
from rtc.receive_path import handle_rtp_in_one_step
from rtc.rtp_counts import RtpCounts

log = logging.getLogger(__name__)


class SiteMedia:
    def __init__(self, call: Call) -> None:
        self.call = call
        self.video_out = SiteVideoTrack(call.uri)
        self.audio_out = SiteAudioTrack(call.uri)
        self.video_in = LatestFrameSlot()
        self.audio_in = AudioInput()
        self.video_codec: str | None = None  # negotiated; None until the SDP answer
        self.audio_codec: str | None = None  # likewise ("OPUS", "G722", "PCMU", "PCMA")
        # the picture sizes the negotiated codec carries (a SIP site's H.261/H.263: its fmtp);
        # empty: any (ConferenceMedia.output_format fits the booked size into them)
        self.video_sizes: tuple[tuple[int, int], ...] = ()
        # the site put the video we send it on hold (a SIP re-INVITE with a=sendonly or
        # a=inactive, mcu/media/sip_reinvite.py): no encoder group feeds it until resumed
        self.video_held = False
        # its H.264 call takes only packetization-mode 0 (single NAL units): its output
        # format is the sliced one (OutputFormat.single_nal)
        self.video_single_nal = False
        self.inline_audio: InlineAudioDecoder | None = None
        # the conference's answer to "would a frame of this site at this level (dBov) be
        # heard?" (ConferenceAudio.decodes), set while the site is in a conference's media
        self.audio_gate: Callable[[str, int], bool] | None = None
        self.video_decoder: LatestPictureDecoder | None = None  # the main video's
        self.video_receiver: RTCRtpReceiver | None = None
        # the content stream (second video m-line), as the call's SDP settled it
        self.content_out = SiteVideoTrack(call.uri)
        self.content_codec: str | None = None  # negotiated on the content m-line
        self.content_send = False  # the site's SDP lets it send content
        self.content_receive = False  # it shows content on a second stream
        self.content_receiver: RTCRtpReceiver | None = None
        self.content_tap: ContentTap | None = None
        # a content stream received outside aiortc (a SIP site's, take_content): how its
        # sender is asked for a keyframe
        self._content_keyframe: Callable[[], None] | None = None
        # the screens of a multi-screen site (rtc/screen_sdp.py): the hdOut of each screen,
        # screen 1 (the main video m-line) first, from the terminal's declared device; and
        # the tracks of screens 2.. (their m-lines after the content), one per screen
        # m-line the call negotiated
        self.screen_ids: tuple[int, ...] = (0,)
        self.screen_outs: list[SiteVideoTrack] = []
        # set by the conference (ConferenceMedia.add_site)
        self.on_content_frame: Callable[[str, str, bytes, int], None] | None = None
        self.on_content_picture: Callable[[str, Any], None] | None = None
        # the call's transceivers (webrtc_call.py), for their RTP counts (totals()), and
        # what the hooks count on them (count_rtp())
        self.rtp_transceivers: list[Any] = []
        self.rtp_counts = RtpCounts()
        # the send ladder (mcu/media/send_ladder.py): how the call asks the site for a size
        # and rate (its endpoint's signalling; None: it cannot be asked), and the largest
        # format the site declared it sends (None: it declared none)
        self.ask_send: AskSender | None = None
        self.send_ceiling: PictureSize | None = None
        self.closed = False
        self._pumps: dict[str, asyncio.Task[None]] = {}  # by role (audio, video, content)

    @property
    def uri(self) -> str:
        return self.call.uri

    @property
    def spec(self) -> SiteSpec:
        return self.call.site

    def add_screen(self) -> SiteVideoTrack:
        """The track of the next screen m-line (screen 2, then 3)."""
        track = SiteVideoTrack(self.uri)
        self.screen_outs.append(track)
        return track

    def screens(self) -> list[tuple[int, SiteVideoTrack]]:
        """(hdOut, track) of every screen this call feeds, screen 1 (video_out) first."""
        tracks = [self.video_out, *self.screen_outs]
        return list(zip(self.screen_ids, tracks, strict=False))

    def outgoing_tracks(self) -> list[SiteVideoTrack | SiteAudioTrack]:
        """Every track this call sends: audio, main video, content, screens 2 and 3."""
        return [self.audio_out, self.video_out, self.content_out, *self.screen_outs]

    def count_rtp(self, transceiver: Any) -> None:
        """Count a transceiver of this call in totals(): aiortc's RTP packet counts, and the
        received payload bytes and RTCP NACK/PLI both ways (before its receiver starts)."""
        self.rtp_transceivers.append(transceiver)
        count_rtp_and_feedback(transceiver.receiver, transceiver.sender, self.rtp_counts)
        # aiortc's per-packet handling and the payload count in one step (rtc/receive_path.py)
        handle_rtp_in_one_step(transceiver.receiver, self.rtp_counts)

    def decode_audio_of(self, receiver: RTCRtpReceiver) -> None:
        """Decode this call's audio on the loop into the mix input (mcu/media/inline_audio.py);
        before the receiver starts. An audio track pumped already would never get a frame:
        its task ends now."""
        self.inline_audio = decode_audio_inline(receiver, self._audio_frame,
                                                self._audio_heard, self._audio_level_only)
        self._stop_pump("audio")

    def decode_video_of(self, receiver: RTCRtpReceiver) -> None:
        """Decode this call's main video on its receiver's decoder thread straight into
        `video_in` (mcu/media/video_decoder.py); before the receiver starts. A video track
        pumped already would never get a frame: its task ends now."""
        self.video_receiver = receiver
        self.video_decoder = decode_video_latest(receiver, self._video_frame)
        self._stop_pump("video")

    def _video_frame(self, frame: av.VideoFrame) -> None:
        if not self.closed:
            self.video_in.put(frame)

    def _audio_frame(self, frame: av.AudioFrame) -> None:
        if self.closed:
            return
        self.audio_in.add(frame)

    def _audio_heard(self, level_dbov: int) -> bool:
        """Would anyone hear a frame of this site at this level (the conference's gate,
        `audio_gate`)? Without a conference, it is decoded."""
        gate = self.audio_gate
        return gate is None or gate(self.uri, level_dbov)

    def _audio_level_only(self, level_dbov: int, samples: int) -> None:
        if not self.closed:
            self.audio_in.add_level_only(power_of_level(level_dbov), samples)

    def tap_content_of(self, receiver: RTCRtpReceiver) -> None:
        """The receiver of the content m-line: its encoded frames go to the conference
        (before the receiver starts)."""
        self.content_receiver = receiver
        self.content_tap = ContentTap(self._content_frame)
        replace_decoder_queue(receiver, self.content_tap)

    def take_content(self, ask_keyframe: Callable[[], None]) -> ContentTap:
        """A content stream received outside aiortc (a SIP site's RTP session,
        mcu/media/sip_content.py): every encoded frame goes through the returned tap
        (ContentTap.admit), the pictures it decodes to `content_picture`, and the
        conference's keyframe requests for it to `ask_keyframe` (RTCP PLI)."""
        self.content_tap = ContentTap(self._content_frame)
        self._content_keyframe = ask_keyframe
        return self.content_tap

    def content_picture(self, frame: Any) -> None:
        """A decoded picture of the content this site sends (see take_content)."""
        self._content_picture(frame)

    def _content_frame(self, codec: str, data: bytes, timestamp: int) -> None:
        if not self.closed and self.on_content_frame is not None:
            self.on_content_frame(self.uri, codec, data, timestamp)

    def _content_picture(self, frame: Any) -> None:
        if not self.closed and self.on_content_picture is not None:
            self.on_content_picture(self.uri, frame)

    def request_content_keyframe(self) -> None:
        """Ask the site for a keyframe of the content it sends (RTCP PLI)."""
        if not self.closed and self._content_keyframe is not None:
            self._content_keyframe()
            return
        receiver = self.content_receiver
        if self.closed or receiver is None:
            return
        task = asyncio.get_running_loop().create_task(
            request_keyframe(receiver), name=f"content PLI {self.uri}")
        task.add_done_callback(_log_pli_failure)

    def receive(self, track: MediaStreamTrack) -> None:
        """A remote track of the call arrived (RTCPeerConnection 'track' event)."""
        if self.closed:
            return
        if track.kind == "audio" and self.inline_audio is not None:
            return  # its frames come decoded from the receiver, never through the track
        if self.video_receiver is not None and track is self.video_receiver.track:
            return  # likewise: its decoder thread puts them in video_in
        consume: Any = self.video_in.put if track.kind == "video" else self.audio_in.add
        role = track.kind  # "audio", "video" or "content" (the second video m-line)
        if self.content_receiver is not None and track is self.content_receiver.track:
            consume, role = self._content_picture, "content"
        self._stop_pump(role)  # a call has one track of a role: a new one replaces it
        task = asyncio.create_task(
            pump_track(track, consume), name=f"{role} in {self.uri}"
        )
        task.add_done_callback(_log_failure)
        self._pumps[role] = task

    def _stop_pump(self, kind: str) -> None:
        task = self._pumps.pop(kind, None)
        if task is not None:
            task.cancel()

    def totals(self) -> MediaTotals:
        """This call's counts so far (mcu/media/media_totals.py)."""
        inline = self.inline_audio
        totals = MediaTotals(
            audio_frames_decoded=inline.frames_decoded if inline is not None else 0,
            audio_frames_undecoded=inline.frames_undecoded if inline is not None else 0,
            audio_input_underruns=self.audio_in.fifo.underruns,
            audio_input_samples_dropped=self.audio_in.fifo.samples_dropped,
            video_frames_delivered=self.video_out.packets_sent + self.content_out.packets_sent,
            video_frames_dropped=self.video_in.frames_replaced_unseen,
            rtp_payload_bytes_received=self.rtp_counts.payload_bytes_received,
            rtcp_nack_sent=self.rtp_counts.nack_sent,
            rtcp_nack_received=self.rtp_counts.nack_received,
            rtcp_pli_sent=self.rtp_counts.pli_sent,
            rtcp_pli_received=self.rtp_counts.pli_received,
        )
        for transceiver in self.rtp_transceivers:
            packets, payload_bytes = sender_rtp_counts(transceiver.sender)
            totals.rtp_packets_sent += packets
            totals.rtp_payload_bytes_sent += payload_bytes
            totals.rtp_packets_received += receiver_rtp_packets(transceiver.receiver)
        return totals

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for kind in list(self._pumps):
            self._stop_pump(kind)
        self.video_out.stop()
        self.content_out.stop()
        for track in self.screen_outs:
            track.stop()
        self.audio_out.stop()


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("media pump %s failed", task.get_name(), exc_info=task.exception())


def _log_pli_failure(task: asyncio.Task[int]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.debug("content keyframe request failed", exc_info=task.exception())
