"""The gateway's side of the media nodes (`mcu-sim serve --redis URL`): the router that places
conferences on the live nodes and relays their calls (mcu/nodes/conference_router.py), the
terminals' relay (gateway/node_signalling.py), the nodes as the MCU pool
(mcu/nodes/node_pool.py) and as the scheduler's capacity.

Wired by app/process.py between the application's start and the runtime's first reconcile,
so a gateway restarted mid-conference has the placements and site states before it starts
its conferences again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager

from aiohttp import web
from redis.asyncio import Redis

from gateway.node_signalling import relay_terminals
from gateway.server import GATEWAY
from gateway.signalling import SIGNALLING
from mcu.nodes.conference_router import ConferenceRouter
from mcu.nodes.node_pool import NodePool
from mcu.nodes.node_record import NodeRecord
from mcu.nodes.node_room import NodeRoom
from mcu.nodes.registry import REDIS_PREFIX, NodeRegistry
from mcu.nodes.site_pins import SitePins
from mcu.nodes.transport import RedisTransport
from mcu.runtime import ConferenceRuntime
from mcu.scheduler import Scheduler

log = logging.getLogger("app.node_gateway")


def follow_capacity(scheduler: Scheduler) -> Callable[[Sequence[NodeRecord]], None]:
    """The scheduler's capacity check counts every live node: the sum of their max_ports
    and max_cp_resources (ports in the gateway's [mcu.port_cost]: give every node the same
    table, docs/deployment.md). No node live: no capacity, bookings are refused."""

    def capacity(nodes: Sequence[NodeRecord]) -> None:
        settings = scheduler.settings
        settings.max_ports = sum(node.max_ports for node in nodes)
        settings.max_cp_resources = sum(node.max_cp_resources for node in nodes)

    return capacity


@asynccontextmanager
async def nodes_for_gateway(app: web.Application, runtime: ConferenceRuntime,
                            scheduler: Scheduler, redis_url: str,
                            pins: SitePins | None = None) -> AsyncIterator[ConferenceRouter]:
    """pins: sites pinned to a zone or node ([site_zones]), which placement honours."""
    redis = Redis.from_url(redis_url)
    try:
        await redis.ping()
        registry = NodeRegistry(redis, REDIS_PREFIX)
        transport = RedisTransport(redis, REDIS_PREFIX)
        router = ConferenceRouter(runtime, registry, transport, follow_capacity(scheduler))
        if pins is not None:
            router.pins = pins
        await router.load()
    except BaseException:
        await redis.aclose()
        raise
    router.attach()
    # a change to a running conference must fit on the node that runs it (node_room.py)
    scheduler.live_room = NodeRoom(router).check
    app[GATEWAY].mcus = NodePool(router)
    hub = app.get(SIGNALLING)
    if hub is not None:
        relay_terminals(hub, router)
    await transport.start()
    task = asyncio.get_running_loop().create_task(router.run(), name="node router")
    log.info("media nodes from %s: %d live", redis_url, len(router.nodes))
    try:
        yield router
    finally:
        scheduler.live_room = None
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await router.close()
        await transport.close()
        await redis.aclose()
