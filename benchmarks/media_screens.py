"""The media benchmark's multi-screen scenario (issue 13): one 4-site 1080p30 conference in
which one site is a three-screen specialist room, beside its anchor, the same conference of
four single-screen sites, measured one after the other in one run.

Both on a freshly started MCU and terminals (benchmarks/media_load.py `measure_fresh`), four
sites sending the 720p30 loop and receiving CP_4_1 at 1080p30 (2 Mbit/s):
  - anchor: four single-screen sites: one CP picture, one encoder;
  - room: the fourth site declares three screens (HD1..HD3) and a camera, a PC and a
    document camera (`--room-site` of the terminals child). By the screen rule
    (docs/runtime.md, "Multi-screen sites") its screen 1 and screen 3 show the conference's
    CP picture (the CP encoder group the others are in) and its screen 2 the speaker full
    screen (or, when the room is the speaker or nobody speaks, the first other site): one
    more distinct (picture, format) output, so the MCU must run exactly two encoders. The
    room is not the probe (the first site decodes and measures latency in both).

Reported per run, like every scenario: the MCU's CPU (% of one core), the encoders against
the distinct outputs the plan implies, the encoder groups (picture, format, sites), the
receivers' fps, the probe's latency, the load average; the room's extra MCU CPU against the
anchor in the summary.
"""

from __future__ import annotations

from typing import Any

from benchmarks.media_load import (
    RATE_1080P,
    TARGET_FPS,
    BookedSite,
    ConferencePlan,
    ScenarioResult,
    TerminalFleet,
    measure_fresh,
)
from mcu.model import VideoFormat

ROOM_INDEX = 3  # the fourth site is the room; the first is the probe
ANCHOR, ROOM = "anchor", "room"
VARIANTS = (ANCHOR, ROOM)


def scenario_name(variant: str) -> str:
    return "4-site 1080p30 (anchor)" if variant == ANCHOR else "4-site, 3-screen room"


def screens_plan(variant: str, uris: list[str]) -> ConferencePlan:
    sites = tuple(BookedSite(uri, VideoFormat.HD1080P30, RATE_1080P) for uri in uris[:4])
    # the room's screen 2 (a site full screen) is the one picture the CP does not cover
    return ConferencePlan(f"bench screens {variant}", "CP_4_1", sites,
                          screen_outputs=1 if variant == ROOM else 0)


async def measure_screens(timing: dict[str, float]) -> list[ScenarioResult]:
    results = []
    for variant in VARIANTS:

        def plans_for(fleet: TerminalFleet, variant: str = variant) -> list[ConferencePlan]:
            return [screens_plan(variant, fleet.uris)]

        results.append(await measure_fresh(
            scenario_name(variant), plans_for, 1, 0, TARGET_FPS, timing,
            room=ROOM_INDEX if variant == ROOM else None))
    return results


def screens_summary(results: list[ScenarioResult]) -> dict[str, Any]:
    by_variant = {variant: next(r for r in results if r.name == scenario_name(variant))
                  for variant in VARIANTS}
    anchor, room = by_variant[ANCHOR], by_variant[ROOM]
    return {
        "anchor_mcu_cpu_percent": anchor.mcu_cpu_percent,
        "room_mcu_cpu_percent": room.mcu_cpu_percent,
        "room_extra_mcu_cpu_percent": round(room.mcu_cpu_percent - anchor.mcu_cpu_percent, 1),
        "anchor_encoders": f"{anchor.encoders}/{anchor.expected_encoders}",
        "room_encoders": f"{room.encoders}/{room.expected_encoders}",
        "encoders_equal_distinct_outputs": all(
            r.encoders == r.expected_encoders for r in by_variant.values()),
        "held": anchor.held and room.held,
    }


def screens_markdown(results: list[ScenarioResult], summary: dict[str, Any]) -> str:
    lines = [
        "## Multi-screen: a 4-site 1080p30 conference with a three-screen room, beside its "
        "anchor",
        "",
        "| run | MCU CPU % | other CPU % | encoders / distinct outputs | encoder groups "
        "(picture @ format: sites) | rx fps min | probe fps | p50 / p95 ms | load avg | "
        "verdict |",
        "| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | --- | --- |",
    ]
    for r in results:
        groups = ", ".join(f"{g.picture} @ {g.format}: {g.sites}"
                           for c in r.per_conference for g in c.groups)
        load = "/".join(f"{v:.2f}" for v in r.load_average_after)
        lines.append(f"| {r.name} | {r.mcu_cpu_percent} | {r.others_cpu_percent} | "
                     f"{r.encoders} / {r.expected_encoders} | {groups} | "
                     f"{r.received_fps_min} | {r.probe_decoded_fps_min} | "
                     f"{r.latency_ms_p50} / {r.latency_ms_p95} | {load} | {r.verdict} |")
    lines += ["", "Multi-screen summary: " + repr(summary), ""]
    return "\n".join(lines)
