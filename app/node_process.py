"""One MCU media node (`mcu-sim node --redis URL`): a conference runtime over the conferences
the gateway places on it, their media engine, the WebRTC endpoints of the terminals relayed
to it (app/node_service.py), its record in the Redis registry renewed every second by a
thread of its own with its own Redis connection (mcu/nodes/heartbeat.py), so a media loop
that runs late does not make the node miss its TTL.

`running_node` is what the command runs and what tests start in a process of its own.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from redis.asyncio import Redis

from app.node_cascade import NodeCascades
from app.node_service import NodeIdentity, NodeService
from app.node_sip import floor_reports, start_node_sip
from app.node_tls import cascade_tls
from app.process import start_floor_server
from gateway.server import dial_in_settings
from gateway.settings import Settings
from mcu.clock import SystemClock
from mcu.dial_in_limits import dial_in_limits
from mcu.media.engine import MediaEngine, MediaSettings
from mcu.nodes.heartbeat import Heartbeat
from mcu.nodes.held_dialer import HeldDialer
from mcu.nodes.placed_conferences import PlacedConferences
from mcu.nodes.registry import HEARTBEAT_S, REDIS_PREFIX, NodeRegistry
from mcu.nodes.transport import RedisTransport
from mcu.runtime import SPEAKER_HOLD_SECONDS, ConferenceRuntime
from rtc.ice import use_media_address

log = logging.getLogger("app.node")

@dataclass
class RunningNode:
    identity: NodeIdentity
    service: NodeService


def media_settings(settings: Settings) -> MediaSettings:
    """The media engine's settings, as the embedded MCU takes them (gateway/server.py)."""
    return MediaSettings(mixed_speakers=settings.mixed_speakers,
                         send_ladder=settings.send_ladder,
                         voice_gate=settings.voice_gate,
                         ice_servers=settings.ice_servers,
                         recordings_dir=settings.data_dir / "recordings",
                         live_dir=settings.data_dir / "live")


def node_identity(settings: Settings, node_id: int, name: str | None) -> NodeIdentity:
    return NodeIdentity(node_id, name or f"node-{node_id}", settings.media_address,
                        settings.max_ports, settings.max_cp_resources, settings.port_costs,
                        zone=settings.node.zone)


@asynccontextmanager
async def running_node(settings: Settings, redis_url: str, node_id: int,
                       name: str | None = None) -> AsyncIterator[RunningNode]:
    use_media_address(settings.media_address)
    identity = node_identity(settings, node_id, name)
    redis = Redis.from_url(redis_url)
    try:
        await redis.ping()
    except BaseException:
        await redis.aclose()
        raise
    registry = NodeRegistry(redis, REDIS_PREFIX)
    transport = RedisTransport(redis, REDIS_PREFIX)
    await transport.clear_commands(node_id)  # nothing of a previous life of this node id
    clock = SystemClock()
    placed = PlacedConferences()
    runtime = ConferenceRuntime(
        placed, clock,
        call_timeout=settings.call_timeout_seconds,
        media_timeout=settings.media_timeout_seconds,
        speaker_hold=SPEAKER_HOLD_SECONDS,
    )
    dialer = HeldDialer(runtime.registry)
    runtime.lifecycle.dialer = dialer
    engine = MediaEngine(runtime, media_settings(settings))
    cascades = NodeCascades(engine, identity.name, identity.address, cascade_tls(settings))
    await cascades.start()
    limits = dial_in_limits(clock, dial_in_settings(settings))
    service = NodeService(identity, runtime, placed, dialer, engine, transport, registry,
                          limits, cascades)
    engine.start()  # after the service's voice switching replaced the runtime's
    # its SIP user agent and BFCP floor server (app/node_sip.py); SipListenError or OSError
    # when their ports cannot be had (mcu-sim node reports it and exits with status 2)
    sip = await start_node_sip(settings, runtime, engine, limits)
    try:
        floor = await start_floor_server(settings, runtime,
                                         floor_reports(runtime, transport, node_id,
                                                       service.leaf_floors))
    except BaseException:
        await sip.close()
        raise
    service.sip_port = sip.port  # announced in its record
    service.sip_tls_port = sip.tls_port or 0
    await transport.start()
    heartbeat = Heartbeat(redis_url, registry.record_key(node_id), service.record())
    service.on_record = heartbeat.publish
    heartbeat.start()
    loop = asyncio.get_running_loop()
    tasks = [loop.create_task(service.publish_records(HEARTBEAT_S), name="node record"),
             loop.create_task(service.serve(), name="node commands"),
             loop.create_task(service.save_states(), name="node site states")]
    log.info("media node %d (%s) on %s%s: %d ports, %d CP resources, cascade links on "
             "port %d%s, SIP on port %d%s, BFCP on port %d", identity.node_id, identity.name,
             identity.address, f" in zone {identity.zone}" if identity.zone else "",
             identity.max_ports, identity.max_cp_resources, cascades.port,
             " (TLS)" if cascades.tls is not None else "", sip.port,
             f" (TLS on {sip.tls_port})" if sip.tls_port is not None else "",
             runtime.content.bfcp_address.port if runtime.content.bfcp_address else 0)
    try:
        yield RunningNode(identity, service)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.to_thread(heartbeat.stop)  # no beat after the withdrawal below
        try:
            await registry.withdraw(node_id)  # gone at once, not after its TTL
        except Exception:
            log.exception("node %d: withdrawing from the registry failed", node_id)
        await sip.close()  # its calls' BYEs first, while the media still runs
        await floor.close()
        await service.close()
        await engine.close()
        await transport.close()
        await redis.aclose()
