"""What a simulated terminal (terminals/client.py) sees and hears: its screens' panes and
pictures, the content stream it shows and sends, its statistics."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from rtc import aiortc_hooks
from terminals.camera import read_camera_view
from terminals.content_receiver import ContentStatus
from terminals.content_source import ContentTrack
from terminals.marker import ContentReading, Rect, read_content_marker
from terminals.media_sources import VideoFormat
from terminals.receiver import PaneStatus
from terminals.terminal_media import TerminalMedia
from terminals.terminal_types import ScreenStats, TerminalStats

# the terminal's log, one name for all its modules (as when they were one module)
log = logging.getLogger("terminals.client")


class TerminalViews(TerminalMedia):
    """What a terminal sees and hears (its screens, panes, content, statistics) and the
    content it sends."""

    def set_panes(self, rects: list[Rect] | None) -> None:
        """The panes (fractions of the picture) whose markers the statistics report."""
        self.video.set_panes(rects)

    async def read_panes(self) -> tuple[PaneStatus, ...]:
        """Read the panes of the latest decoded frame now."""
        return await self.video.analyse_latest()

    async def request_keyframe(self) -> int:
        """Ask the MCU for a keyframe of the video it sends (RTCP PLI), as a real endpoint
        does after losing packets; returns how many streams were asked (0 outside a call).
        aiortc has no public call for it (rtc/aiortc_hooks.py)."""
        call = self._call
        if call is None:
            return 0
        asked = 0
        for transceiver in call.pc.getTransceivers():
            if transceiver.kind == "video":
                asked += await aiortc_hooks.request_keyframe(transceiver.receiver)
        return asked

    def rtp_packet_counts(self) -> tuple[int, int]:
        """(RTP packets received, RTP packets sent) in the current call, over all its
        transceivers, as aiortc counts them for its RTCP reports (retransmissions
        received included); (0, 0) outside a call."""
        call = self._call
        if call is None:
            return 0, 0
        transceivers = call.pc.getTransceivers()
        return (sum(aiortc_hooks.receiver_rtp_packets(t.receiver) for t in transceivers),
                sum(aiortc_hooks.sender_rtp_counts(t.sender)[0] for t in transceivers))

    def received_video_ssrcs(self) -> list[int]:
        """The SSRCs the current call's video arrives on (retransmissions left out); empty
        outside a call or before the first video packet."""
        call = self._call
        if call is None:
            return []
        return [ssrc for transceiver in call.pc.getTransceivers()
                if transceiver.kind == "video"
                for ssrc in aiortc_hooks.remote_media_ssrcs(transceiver.receiver)]

    def heard(self) -> dict[str, float]:
        """Level of each talker of this process in what the MCU sends this terminal."""
        talkers = self.send_log.site_uris()
        levels = self.audio.heard(talkers)
        return {talkers[index]: level for index, level in levels.items()}

    @property
    def content_track(self) -> ContentTrack | None:
        """The current call's content track (None outside a call or without content)."""
        return self._call.content_track if self._call is not None else None

    @property
    def content_codec(self) -> str | None:
        """The codec the latest call negotiated on its content m-line."""
        return self._content_codec

    def start_content(self) -> bool:
        """Send the content from now on (the floor is held); False when the terminal has no
        content input or no call that negotiated a content stream."""
        track = self.content_track
        if track is None or self._content_codec is None:
            return False
        track.start_sending()
        return True

    def stop_content(self) -> None:
        """Stop sending content (the floor was released or revoked)."""
        track = self.content_track
        if track is not None:
            track.stop_sending()

    @property
    def sending_video_format(self) -> VideoFormat | None:
        """The format of the camera loop the current call's video goes out at; None outside
        a call, before its first loop and while a switch to another loop (a send_video
        request's) waits for its keyframe."""
        track = self._call.video_track if self._call is not None else None
        if track is None or track.loop is None or track.switch_pending:
            return None
        return track.loop.video_format

    @property
    def sending_content(self) -> bool:
        track = self.content_track
        return track is not None and track.sending

    def content_stats(self) -> ContentStatus:
        """What the second stream shows: site, page, frame index, latency, PSNR / SSIM."""
        return self.content.status()

    async def read_content(self) -> ContentStatus:
        """Analyse the latest received content frame now."""
        return await self.content.analyse_latest()

    async def request_content_keyframe(self) -> int:
        """Ask the MCU for a keyframe of the content it sends (RTCP PLI on the second
        stream); how many streams were asked (0 outside a call or before content)."""
        call = self._call
        if call is None or call.content_transceiver is None:
            return 0
        return await aiortc_hooks.request_keyframe(call.content_transceiver.receiver)

    def snapshot(self, path: str) -> bool:
        return self.video.snapshot(path)

    def screen_stats(self) -> list[ScreenStats]:
        """Each declared screen's statistics (screen 1 = the main video's), with its hdOut
        and name; a screen the call did not negotiate decodes nothing."""
        return [ScreenStats(hd_out, name, receiver.stats())
                for (hd_out, name), receiver in zip(self.screen_ports, self.screens,
                                                    strict=True)]

    def set_screen_panes(self, position: int, rects: list[Rect] | None) -> None:
        """The panes whose markers screen `position` (0 = screen 1) reports."""
        self.screens[position].set_panes(rects)

    async def read_screen(self, position: int) -> tuple[PaneStatus, ...]:
        """Read the panes of screen `position`'s latest decoded frame now."""
        return await self.screens[position].analyse_latest()

    async def read_screen_content(self, position: int) -> ContentReading | None:
        """The content marker (site, page) in screen `position`'s latest picture, if any."""
        frame = self.screens[position].last_frame
        if frame is None:
            return None
        return await asyncio.get_running_loop().run_in_executor(
            None, read_content_marker, frame)

    def snapshot_screens(self, directory: Path, stem: str) -> list[str | None]:
        """One PNG per screen, `<stem>-<screen name>.png` in `directory`: the file names
        written (None for a screen with nothing decoded yet)."""
        written: list[str | None] = []
        for (_, name), receiver in zip(self.screen_ports, self.screens, strict=True):
            file_name = f"{stem}-{name}.png"
            written.append(file_name if receiver.snapshot(str(directory / file_name)) else None)
        return written

    @property
    def live_camera_frames(self) -> int:
        """Frames of the current call its camera encoded live (while moving)."""
        track = self._call.video_track if self._call else None
        return track.live_frames_sent if track else 0

    async def read_camera_view(
        self, rect: tuple[float, float, float, float] | None = None
    ) -> tuple[float, float, float] | None:
        """Where the camera shown in the latest decoded picture (or `rect` of it) points:
        (x, y, zoom) read from the room's markers (terminals/camera.py), None if unreadable."""
        frame = self.video.last_frame
        if frame is None:
            return None
        return await asyncio.get_running_loop().run_in_executor(
            None, read_camera_view, frame, rect)

    def stats(self) -> TerminalStats:
        track = self._call.video_track if self._call else None
        return TerminalStats(
            uri=self.uri,
            registered=self.registered,
            state=self.state,
            conf_id=self._call.conf_id if self._call else None,
            video_codec=self._video_codec,
            frames_sent=self._frames_sent_before + (track.frames_sent if track else 0),
            keyframe_requests=self._keyframe_requests_before
            + (track.keyframe_requests if track else 0),
            video=self.video.stats(),
            audio_frames=self.audio.frames_received,
            heard=self.heard(),
            calls=self.calls_established,
            audio_codec=self._audio_codec,
        )
