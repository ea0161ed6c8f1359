"""The gateway's router of the media nodes (mcu/nodes/conference_router.py) in the test's own
event loop, as the tests of the nodes' gateway side set it up: over a runtime, a registry
(a real redis-server) and a transport (the in-process one playing the nodes)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from mcu.nodes.conference_router import ConferenceRouter
from mcu.nodes.registry import NodeRegistry
from mcu.nodes.transport import NodeTransport
from mcu.runtime import ConferenceRuntime


@asynccontextmanager
async def router_of(runtime: ConferenceRuntime, registry: NodeRegistry,
                    transport: NodeTransport, run: bool = True
                    ) -> AsyncIterator[ConferenceRouter]:
    """A ConferenceRouter that has loaded the registry's view and follows `runtime` (attached
    before the runtime's first reconcile); with `run`, its `run()` (the nodes' events read,
    the registry refreshed, forwarded state saved) as a task. At the end the task is
    cancelled and awaited and the router closed, whatever the test did."""
    router = ConferenceRouter(runtime, registry, transport)
    await router.load()
    router.attach()
    running = asyncio.get_running_loop().create_task(router.run()) if run else None
    try:
        yield router
    finally:
        if running is not None:
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)
        await router.close()
