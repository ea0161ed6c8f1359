"""Closes that run to their end (a simulated terminal's or SIP room's call teardown).

A call the MCU ends is closed by the task that follows the call (the terminal's signalling
task, the room's dialog follower), and the terminal's stop() or the room's close() cancels
that task. A close cut short leaves parts open: an RTCPeerConnection's later receivers, each
with a decoder thread waiting for ever; a floor connection with its reader running into the
event loop's shutdown. So each close runs as a task of its own under `asyncio.shield`, and
stop()/close() wait for the ones still running.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any


class Teardowns:
    def __init__(self) -> None:
        self._running: set[asyncio.Future[None]] = set()

    async def run(self, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` to its end, whatever happens to the task awaiting this."""
        teardown = asyncio.ensure_future(work)
        self._running.add(teardown)
        teardown.add_done_callback(self._running.discard)
        await asyncio.shield(teardown)

    async def wait(self) -> None:
        """Until every close begun so far has ended (its errors are its own)."""
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)
