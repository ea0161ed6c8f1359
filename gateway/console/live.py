"""The console's live updates: a server-sent event stream per open page.

Fed by the runtime's events (`runtime.subscribe`, as the signalling hub and the media engine
listen) and, once a second, by the scheduler's revision and the registered terminals (a
booking made over SOAP and a terminal registering emit no runtime event). Each change is
one `changed` event naming the conference (or "" for the lists); the page fetches its
fragments again. While the stream is open it keeps its session alive, as KeepAlive would;
the stream ends when the session does (log-out, timeout) or the client goes.
"""

from __future__ import annotations

import asyncio
import json
from contextlib import suppress

from aiohttp import web

from gateway.sessions import SessionStore
from mcu.events import ConferenceEvent
from mcu.runtime import ConferenceRuntime
from mcu.scheduler import Scheduler
from rtc.deadline import within

POLL_SECONDS = 1.0
MAX_QUEUED = 256


async def event_stream(request: web.Request, runtime: ConferenceRuntime, scheduler: Scheduler,
                       sessions: SessionStore, session_id: str) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                           "Cache-Control": "no-store"})
    await response.prepare(request)
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[str] = asyncio.Queue(MAX_QUEUED)

    def offer(conf_id: str) -> None:
        with suppress(asyncio.QueueFull):  # a page that far behind refetches everything anyway
            queue.put_nowait(conf_id)

    def listener(event: object) -> None:
        if isinstance(event, ConferenceEvent):
            loop.call_soon_threadsafe(offer, event.conf_id)

    def terminals() -> tuple[str, ...]:
        return tuple(sorted(endpoint.uri for endpoint in runtime.registry.endpoints()))

    unsubscribe = runtime.subscribe(listener)
    revision, registered = scheduler.revision(), terminals()
    try:
        await response.write(b"retry: 2000\n\n")
        while True:
            try:
                conf_id = await within(queue.get(), POLL_SECONDS)
            except TimeoutError:
                if sessions.touch(session_id) is None:
                    break
                now_revision, now_registered = scheduler.revision(), terminals()
                if (now_revision, now_registered) == (revision, registered):
                    await response.write(b": idle\n\n")
                    continue
                revision, registered, conf_id = now_revision, now_registered, ""
            await response.write(f"event: changed\ndata: {json.dumps(conf_id)}\n\n".encode())
    except ConnectionResetError:  # the page went away
        pass
    finally:
        unsubscribe()
    return response
