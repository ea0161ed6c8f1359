"""Calls that end and start again leave nothing running behind them (the soak's churn,
benchmarks/soak.py, in a few seconds): real terminals (terminals/, in this process) are
called into a conference, then each hangs up and dials in again at once, several times; the
MCU's own asyncio tasks, counted by coroutine, come back to what they were with the same
sites in conference, and no call has a task reading its video or its audio: its audio is
decoded inline (mcu/media/inline_audio.py) and its main video on the receiver's decoder
thread straight into the site's frame slot (mcu/media/video_decoder.py), whether the MCU
called it or it dialled in. The decoded pictures alive (each holds a buffer of its decoder's
frame pool) and the decoders come back to their count too: one decoder per call, the ended
calls' freed."""

from __future__ import annotations

import asyncio
import gc
from collections import Counter
from pathlib import Path

import av
from aiortc import RTCPeerConnection

from gateway.signalling import SIGNALLING
from mcu.media.heap_trim import MIN_INTERVAL_S
from mcu.media.video_decoder import LatestPictureDecoder
from mcu.model import SiteCallState
from tests.test_media_acceptance import book, eventually, server, signalling_url, states, terminal

__all__ = ["server"]  # the fixture, shared with tests/test_media_acceptance.py

ROOT = Path(__file__).resolve().parent.parent
MCU_PACKAGES = tuple(str(ROOT / package) for package in ("mcu", "gateway", "app"))


def mcu_tasks() -> Counter[str]:
    """The running tasks whose coroutine is the MCU's own code (mcu/, gateway/, app/), by
    coroutine: the terminals run on the same loop, their tasks are not counted."""
    counts: Counter[str] = Counter()
    for task in asyncio.all_tasks():
        coro = task.get_coro()
        code = getattr(coro, "cr_code", None)
        if code is not None and code.co_filename.startswith(MCU_PACKAGES):
            counts[code.co_qualname] += 1
    return counts


def pumps_by_kind() -> Counter[str]:
    """The MCU's tasks reading remote tracks, by the kind their name gives."""
    return Counter(task.get_name().split(" ", 1)[0] for task in asyncio.all_tasks()
                   if getattr(task.get_coro(), "cr_code", None) is not None
                   and task.get_coro().cr_code.co_qualname == "pump_track")


def alive(kind: type) -> int:
    return sum(1 for obj in gc.get_objects() if isinstance(obj, kind))


def closed_peer_connections() -> int:
    """Peer connections still in memory whose call has ended (garbage not yet collected)."""
    return sum(1 for obj in gc.get_objects()
               if isinstance(obj, RTCPeerConnection) and obj.connectionState == "closed")


async def test_hanging_up_and_dialling_in_again_leaves_no_task_behind(server):
    sites = [terminal(30 + index, decode_video=False) for index in range(3)]
    for t in sites:
        await t.start(signalling_url(server))
    try:
        conf_id = book(server, [t.uri for t in sites], password="135790", cp_resource=4)
        access_code = server.gateway.scheduler.get(conf_id).access_code

        def all_in() -> bool:
            return set(states(server, conf_id).values()) == {SiteCallState.IN_CONFERENCE}

        async def settled_tasks() -> Counter[str]:
            """The task counts once two readings 0.5 s apart agree (calls settle: closing
            tasks end, the media pumps start)."""
            previous = mcu_tasks()
            for _ in range(40):
                await asyncio.sleep(0.5)
                current = mcu_tasks()
                if current == previous:
                    return current
                previous = current
            return previous

        await eventually(all_in, what="every site called into the conference")
        await eventually(lambda: all(t.stats().video.frames_received >= 10 for t in sites),
                         what="video flowing")
        before = await settled_tasks()
        frames = [t.stats().video.frames_received for t in sites]
        assert pumps_by_kind() == Counter()  # dialled out: no pump, audio nor video
        media = server.app[SIGNALLING].engine.conferences[conf_id]
        decoded = {uri: site.video_decoder.frames_decoded
                   for uri, site in media.sites.items() if site.video_decoder is not None}
        assert len(decoded) == 3
        gc.collect()
        pictures_before = alive(av.VideoFrame)  # the terminals here decode nothing

        trimmer = server.app[SIGNALLING].engine.heap_trimmer
        churn_began, trims_before = asyncio.get_running_loop().time(), trimmer.stats.trims
        for _ in range(3):
            for t in sites:  # hang up and dial back in at once
                await t.hang_up()
                await eventually(lambda t=t: states(server, conf_id)[t.uri]
                                 is SiteCallState.NOT_JOINED, what=f"{t.uri} left")
                assert await t.join(access_code, "135790") == conf_id
        collections_at_last_hang_up = trimmer.stats.collections
        await eventually(all_in, what="every site back in the conference")
        await eventually(lambda: all(t.stats().video.frames_received >= n + 10
                                     for t, n in zip(sites, frames, strict=True)),
                         what="video flowing again")

        after = await settled_tasks()
        assert pumps_by_kind() == Counter()  # dialled in: the same
        # each new call's video decoded into its slot on its receiver's thread
        await eventually(lambda: all(
            site.video_decoder is not None and site.video_decoder.frames_decoded >= 10
            and site.video_in.frames_received >= 10 for site in media.sites.values()),
            what="the new calls' video decoded into their slots")
        assert after == before, {name: after[name] - before[name]
                                 for name in {*after, *before} if after[name] != before[name]}
        # the 9 calls that ended had the C heap's free memory given back (heap_trim.py),
        # rate-limited: the first trim SETTLE_S after the first hang-up, then at most one
        # per MIN_INTERVAL_S
        assert trimmer.available
        await eventually(lambda: trimmer.stats.trims > trims_before, what="the heap trimmed")
        elapsed = asyncio.get_running_loop().time() - churn_began
        assert trimmer.stats.trims - trims_before <= 1 + elapsed / MIN_INTERVAL_S
        # and the ended calls' aiortc objects, which only a full collection frees (they
        # refer to one another in cycles), were collected after the last hang-up without
        # this test collecting: no closed peer connection is left
        await eventually(lambda: trimmer.stats.collections > collections_at_last_hang_up,
                         what="the ended calls' garbage collected")
        assert closed_peer_connections() == 0
        # the ended calls' decoders and pictures went with them: one decoder per call, the
        # decoded pictures alive as many as before the churn (give or take one per site
        # being handed over at the moment of counting)
        assert alive(LatestPictureDecoder) == 3
        pictures_after = alive(av.VideoFrame)
        assert pictures_after <= pictures_before + len(sites), (pictures_before,
                                                                 pictures_after)
    finally:
        for t in sites:
            await t.stop()
