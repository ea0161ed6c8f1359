"""A terminal's answer to the MCU's `send_video` requests (the send ladder, docs/signalling.md
"Send ladder"): which format its main video is sent at in the current call.

A request names the largest size and rate the MCU needs now. The terminal sends
`ladder_format(own, ...)` (terminals/media_sources.py): the size asked when it is below its
own camera format, else its own; the lower rate. The loop at that format is encoded once,
when first asked for, and kept in the terminal's LoopCache like every loop; the track then
goes on from that loop's next keyframe (CameraVideoTrack.switch_loop), so the MCU's decoder
meets the new size at a keyframe. A terminal made with `honour=False` records the requests
and keeps sending its own format (the MCU scales what it gets).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rtc.signalling import SendVideo
from terminals.media_sources import VideoFormat, ladder_format


@dataclass
class SendRequests:
    own: VideoFormat  # the terminal's camera format: never sent larger
    honour: bool = True
    received: list[SendVideo] = field(default_factory=list)  # every request, in order
    switches: list[VideoFormat] = field(default_factory=list)  # formats switched to, in order
    call_id: str | None = None
    request: SendVideo | None = None  # the current call's latest request

    def new_call(self, call_id: str) -> None:
        self.call_id, self.request = call_id, None

    def accept(self, message: SendVideo) -> bool:
        """Note a request; True when it is for the current call and is to be followed."""
        self.received.append(message)
        if message.call_id != self.call_id or not self.honour:
            return False
        self.request = message
        return True

    def current(self, message: SendVideo | None) -> bool:
        """Whether `message` is still the latest request of the current call."""
        return message is self.request and message is not None

    def format(self) -> VideoFormat:
        """The format to send at now: its own until a request was followed."""
        request = self.request
        if request is None or not self.honour:
            return self.own
        return ladder_format(self.own, request.width, request.height, request.fps)
