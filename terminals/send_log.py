"""What every terminal of this process sent, and who it is: the other half of latency.

A receiver that reads site s, frame f in a pane asks when site s last sent frame f; the
difference is the glass-to-glass latency of that pane (send -> MCU decode, composite,
encode -> terminal decode). Frames repeat every loop (about 2 s), so only the latest send of
each frame index is kept and a reading older than the loop is not a latency.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class SendLog:
    _sent: dict[tuple[int, int], float] = field(default_factory=dict)
    _uris: dict[int, str] = field(default_factory=dict)
    _loop_seconds: dict[int, float] = field(default_factory=dict)

    def register_site(self, site_index: int, uri: str, loop_seconds: float) -> None:
        self._uris[site_index] = uri
        self._loop_seconds[site_index] = loop_seconds

    def forget_site(self, site_index: int) -> None:
        self._uris.pop(site_index, None)
        self._loop_seconds.pop(site_index, None)

    def site_uri(self, site_index: int) -> str | None:
        return self._uris.get(site_index)

    def site_uris(self) -> dict[int, str]:
        return dict(self._uris)

    def record_send(self, site_index: int, frame_index: int, at: float | None = None) -> None:
        self._sent[(site_index, frame_index)] = time.time() if at is None else at

    def sent_at(self, site_index: int, frame_index: int) -> float | None:
        return self._sent.get((site_index, frame_index))

    def latency(self, site_index: int, frame_index: int, received_at: float) -> float | None:
        """Seconds from the send of that frame to `received_at`; None when not knowable."""
        sent = self._sent.get((site_index, frame_index))
        if sent is None:
            return None
        latency = received_at - sent
        if latency < 0 or latency >= self._loop_seconds.get(site_index, 1.0):
            return None  # the frame was sent again since: this reading belongs to an older loop
        return latency


# Terminals of one process share this log unless given another.
PROCESS_SEND_LOG = SendLog()
