"""The newest decoded picture of each site, and the tasks that keep it fresh.

A slot holds exactly one frame: each `await track.recv()` replaces the previous one, so the
compositor always reads the latest picture and a frame that arrives between two ticks and
is replaced before the next one is simply dropped (never queued). A site's main video is
put straight from its receiver's decoder thread (mcu/media/video_decoder.py) while the loop
takes it: the slot's state changes under a lock.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from aiortc.mediastreams import MediaStreamError, MediaStreamTrack


class LatestFrameSlot:
    def __init__(self) -> None:
        self.frame: Any = None
        self.frames_received = 0
        self.frames_replaced_unseen = 0  # newer frames arrived before a tick used this one
        self._seen = True
        self._lock = threading.Lock()

    def put(self, frame: Any) -> None:
        with self._lock:
            if not self._seen:
                self.frames_replaced_unseen += 1
            self.frame = frame
            self.frames_received += 1
            self._seen = False

    def take(self) -> Any:
        """The latest frame (None before the first); marks it as used by a tick."""
        with self._lock:
            self._seen = True
            return self.frame

    def clear(self) -> None:
        """Forget the picture (its source changed): take() answers None until the next put."""
        with self._lock:
            self.frame = None
            self._seen = True


async def pump_track(track: MediaStreamTrack, consume: Callable[[Any], None]) -> None:
    """Read a remote track until it ends, handing every decoded frame to `consume`."""
    while True:
        try:
            frame = await track.recv()
        except MediaStreamError:
            return
        consume(frame)
