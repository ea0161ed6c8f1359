"""A media node's liveness does not depend on its media loop being on time
(mcu/nodes/heartbeat.py; docs/deployment.md "Liveness"), driven from the outside:

- a real redis-server, one `mcu-sim node` process started with the test-only control
  MCU_SIM_DEBUG_STALL_S (app/node_debug.py), `mcu-sim serve --redis`, two real terminals in
  a conference on the node, decoding each other's markers;
- SIGUSR1 holds the node's event loop busy (CPU-bound Python, nothing else of the loop runs)
  for STALL_S, more than twice the record's TTL: its record stays in Redis the whole time,
  renewed by the heartbeat thread (its beat count goes on rising while the loop is held, and
  the node logs that the loop was held that long), queryMCUInfoEx lists it at every look,
  the gateway never takes it for gone, the calls stay in conference and the terminals decode
  the markers again once the loop runs;
- the same node killed (SIGKILL) is gone from Redis within the TTL and from queryMCUInfoEx
  within registry.GONE_WITHIN_S;
- the heartbeat's own rule with a manual clock over a real Redis: a beat carries the last
  record the loop published and its beat count; a loop silent for longer than the stall
  limit gets no beat (the record expires), and beats resume when the loop publishes again.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Iterator

import pytest
import redis
import redis.asyncio as aioredis

from mcu.layouts import layout_mode
from mcu.nodes.heartbeat import Heartbeat
from mcu.nodes.node_record import NodeRecord, parse_record, port_costs_json
from mcu.nodes.registry import GONE_WITHIN_S, RECORD_TTL_MS
from mcu.port_costs import PortCosts
from tests.redis_server import redis_url
from tests.test_nodes import (
    IN_CONFERENCE,
    Platform,
    book,
    eventually,
    listed_mcus,
    node_ids,
    running_platform,
    statuses,
    terminal,
)

__all__ = ["redis_url"]  # the fixture, used by name

STALL_S = 8.0  # the loop held busy: well over the record's TTL of 3 s


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    yield from running_platform(tmp_path_factory.mktemp("node-heartbeat"),
                                {1: ("ward-a", 4, 8)},
                                node_env={"MCU_SIM_DEBUG_STALL_S": str(STALL_S)})


async def record_of(url: str) -> NodeRecord | None:
    client = aioredis.Redis.from_url(url)
    try:
        text = await client.get("mcu:node:1")
    finally:
        await client.aclose()
    return None if text is None else parse_record(text)


async def test_a_node_whose_loop_is_held_busy_stays_registered_and_keeps_its_calls(
        platform: Platform) -> None:
    soap = await asyncio.to_thread(platform.soap)
    sites = [terminal("0303001", 61), terminal("0303002", 62)]
    for t in sites:
        await t.start(platform.base_url.replace("http", "ws", 1) + "/signalling")
    try:
        conf_id = await asyncio.to_thread(book, soap, "night shift", [t.uri for t in sites])
        assert isinstance(conf_id, str), conf_id

        async def joined() -> bool:
            found = await asyncio.to_thread(statuses, soap, conf_id)
            return found == {t.uri: IN_CONFERENCE for t in sites}

        await eventually(joined, "both sites in conference")
        code = await asyncio.to_thread(
            soap.conf_ctrl.setContinuousPresenceEx, confId=conf_id, target="0",
            presenceMode=layout_mode("CP_2_1").value, subPics=[t.uri for t in sites])
        assert code == 0
        panes = [tuple(pane.as_floats()) for pane in layout_mode("CP_2_1").panes]
        for t in sites:
            t.set_panes(panes)

        async def both_markers() -> bool:
            for viewer in sites:
                seen = [pane.site_index for pane in await viewer.read_panes()]
                if seen != [t.site_index for t in sites]:
                    return False
            return True

        await eventually(both_markers, "both markers on both terminals")
        before = await record_of(platform.redis.url)
        assert before is not None and conf_id in before.conferences
        log = platform.root / "node1.log"
        held_before = log.read_text().count("event loop held busy")

        # the node's loop is held busy for STALL_S: the record stays, its beats go on
        platform.nodes[1].send_signal(signal.SIGUSR1)
        beats: list[int] = []
        listed: list[set[int]] = []
        held_at = time.monotonic()
        while time.monotonic() - held_at < STALL_S + 2.0:
            record = await record_of(platform.redis.url)
            assert record is not None, f"node 1 left Redis {time.monotonic() - held_at:.1f} s " \
                "into the stall"
            beats.append(record.beat)
            listed.append(set(await asyncio.to_thread(listed_mcus, platform, soap)))
            await asyncio.sleep(0.5)
        async def stall_logged() -> bool:
            return log.read_text().count("event loop held busy") > held_before

        await eventually(stall_logged, "the node's log of the stall")
        held = float(log.read_text().rsplit("event loop held busy for ", 1)[1].split(" s")[0])
        assert held >= STALL_S - 0.5, held  # the loop really was held that long
        assert all(found == {1} for found in listed), listed
        # the heartbeat thread went on beating while the loop was held: about one a second
        assert beats[-1] - beats[0] >= STALL_S / 2, beats
        assert platform.gateway is not None
        gateway_log = (platform.root / "gateway.log").read_text()
        assert "media node 1 left the registry" not in gateway_log
        # the calls are still up (not dropped and called again) and the media comes back
        assert await asyncio.to_thread(statuses, soap, conf_id) == {
            t.uri: IN_CONFERENCE for t in sites}
        assert all(t.state == "in_call" for t in sites)
        decoded = {t.uri: t.video.frames_decoded for t in sites}

        async def decoding_again() -> bool:
            return all(t.video.frames_decoded > decoded[t.uri] for t in sites)

        await eventually(decoding_again, "both terminals decoding after the stall")
        await eventually(both_markers, "both markers after the stall")
        after = await record_of(platform.redis.url)
        assert after is not None and after.ports_used == before.ports_used
        assert after.conferences == before.conferences  # the load it reports is the real one
    finally:
        for t in sites:
            await t.stop()


def test_a_killed_node_is_still_gone_within_the_documented_time(platform: Platform) -> None:
    soap = platform.soap()
    assert 1 in listed_mcus(platform, soap)
    killed = time.monotonic()
    platform.nodes[1].send_signal(signal.SIGKILL)
    platform.nodes[1].wait(timeout=30)
    while 1 in asyncio.run(node_ids(platform.redis.url)):
        assert time.monotonic() - killed < RECORD_TTL_MS / 1000 + 2.0, "still in Redis"
        time.sleep(0.1)
    while 1 in listed_mcus(platform, soap):
        assert time.monotonic() - killed < GONE_WITHIN_S + 3.0, "still listed"
        time.sleep(0.2)
    print(f"node 1 unlisted {time.monotonic() - killed:.1f} s after SIGKILL (documented "
          f"{GONE_WITHIN_S} s)")


# ---------------------------------------------------------------- the heartbeat's rule


class ManualClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_beat_sends_the_last_published_record_unless_the_loop_is_stuck(
        redis_url: str) -> None:
    clock = ManualClock()
    first = NodeRecord(9, "ward-z", "127.0.0.1", 4, 8, port_costs_json(PortCosts()))
    heartbeat = Heartbeat(redis_url, "hb-test:node:9", first, ttl_ms=60_000, stall_s=30.0,
                          clock=clock)
    client = redis.Redis.from_url(redis_url)
    try:
        assert heartbeat.send_beat(client)
        sent = parse_record(client.get("hb-test:node:9"))
        assert sent.beat == 1 and sent.conferences == []
        # the loop publishes what it holds now; the next beat says it
        clock.now += 1.0
        heartbeat.publish(NodeRecord(9, "ward-z", "127.0.0.1", 4, 8,
                                     port_costs_json(PortCosts()), ports_used=2,
                                     conferences=["c1"]))
        clock.now += 1.0
        assert heartbeat.send_beat(client)
        sent = parse_record(client.get("hb-test:node:9"))
        assert (sent.beat, sent.ports_used, sent.conferences) == (2, 2, ["c1"])
        assert 0 < client.pttl("hb-test:node:9") <= 60_000
        # a loop that published nothing for 29 s is busy: beats go on
        clock.now += 29.0
        assert heartbeat.send_beat(client)
        # past the stall limit it is stuck: no beat (the record would expire)
        client.delete("hb-test:node:9")
        clock.now += 2.0
        assert not heartbeat.send_beat(client)
        assert client.get("hb-test:node:9") is None and heartbeat.beat == 3
        # the loop runs again: beats resume
        heartbeat.publish(first)
        assert heartbeat.send_beat(client)
        assert parse_record(client.get("hb-test:node:9")).beat == 4
    finally:
        client.close()


def test_the_thread_beats_on_while_its_starter_is_blocked(redis_url: str) -> None:
    """The thread, not the caller, beats: the caller blocks (time.sleep here stands for a
    busy loop) and the record is renewed every interval meanwhile."""
    record = NodeRecord(10, "ward-y", "127.0.0.1", 4, 8, port_costs_json(PortCosts()))
    heartbeat = Heartbeat(redis_url, "hb-test:node:10", record, interval=0.2, ttl_ms=600)
    client = redis.Redis.from_url(redis_url)
    heartbeat.start()
    try:
        time.sleep(2.0)
        assert client.get("hb-test:node:10") is not None
        assert heartbeat.beat >= 5, heartbeat.beat
    finally:
        heartbeat.stop()
    stopped_at = heartbeat.beat
    time.sleep(1.0)
    assert heartbeat.beat == stopped_at  # no beat after stop
    assert client.get("hb-test:node:10") is None  # expired: nobody renews it
    client.close()
