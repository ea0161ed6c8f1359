"""The media benchmark's recording scenario (issue 14): what recording a 4-site 1080p30
conference costs the MCU, and how many can be recorded at once.

Three variants of the same conference (four sites, CP_4_1 at 1080p30 and 2 Mbit/s for each),
each on a freshly started MCU and terminals (benchmarks/media_load.py `measure_fresh`, as
benchmarks/media_content.py does):
  - anchor: not recorded;
  - recorded: setRecordBroadEx start once every site joined (the recorder's picture, its AAC
    mix and the fragmented MP4 written on its thread);
  - recorded + live: setDirectBroadEx start as well (the HLS broadcast shares the recorder's
    encoder group: its own AAC encode and MPEG-TS segments).
Then the capacity: 1, 2, ... conferences recorded at once, each on a fresh MCU, until one
misses a target (media_load's: every receiver and probe at TARGET_FPS, latency p95, one
encoder per distinct output, and here the recorder still recording at the window's end).

The recorder joins the sites' group when they receive the conference picture at its size,
frame rate, codec and profile, whatever their bitrate (mcu/media/recorder_groups.py): the
sites' 1080p30 at 2 Mbit/s is the recorder's 1080p30, so recording adds no encoder group
(`recorder_outputs` 0); a recorder of another size would add one, counted in the expected
encoders.

Reported: the MCU's CPU in each variant and its extra CPU against the anchor (% of one
core), each run's targets, the recordings' bytes on disk, the load average beside each run
(on a shared machine the figures are honest only with it).
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
from mcu.media.output_format import FORMAT_SIZES, picture_size
from mcu.model import VideoFormat

ANCHOR, RECORDED, RECORDED_LIVE = "anchor", "recorded", "recorded + live"
VARIANTS = (ANCHOR, RECORDED, RECORDED_LIVE)
SITE_FORMAT = VideoFormat.HD1080P30


def recorder_outputs() -> int:
    """0 when the sites' picture is at the recorder's size and frame rate (the MCU's default
    format; both H.264 Constrained Baseline here), so the recorder shares their group
    whatever its bitrate (mcu/media/recorder_groups.py); else 1, its own group."""
    from mcu.media.engine import MediaSettings

    recorder = picture_size(None, MediaSettings().default_format)
    return 0 if FORMAT_SIZES[SITE_FORMAT] == recorder else 1


def recording_plan(variant: str, uris: list[str], number: int = 0) -> ConferencePlan:
    sites = tuple(BookedSite(uri, SITE_FORMAT, RATE_1080P)
                  for uri in uris[4 * number:4 * number + 4])
    recorded = variant != ANCHOR
    return ConferencePlan(
        f"bench recording {variant} {number + 1}", "CP_4_1", sites,
        record=recorded, live=variant == RECORDED_LIVE,
        recorder_outputs=recorder_outputs() if recorded else 0,
    )


def scenario_name(variant: str) -> str:
    return f"4-site {variant}"


def capacity_name(count: int) -> str:
    return f"{count} x 4-site recorded"


async def measure_recording(timing: dict[str, float], max_conferences: int
                            ) -> list[ScenarioResult]:
    """The three variants, then the capacity up to `max_conferences` or the first miss."""
    results = []
    for variant in VARIANTS:

        def plans_for(fleet: TerminalFleet, variant: str = variant) -> list[ConferencePlan]:
            return [recording_plan(variant, fleet.uris)]

        results.append(await measure_fresh(scenario_name(variant), plans_for, 1, 0,
                                           TARGET_FPS, timing))
    if not results[1].held:
        return results  # one recorded conference already misses: no capacity beyond it
    for count in range(2, max_conferences + 1):

        def many(fleet: TerminalFleet, count: int = count) -> list[ConferencePlan]:
            return [recording_plan(RECORDED, fleet.uris, number) for number in range(count)]

        result = await measure_fresh(capacity_name(count), many, count, 0, TARGET_FPS, timing)
        results.append(result)
        if not result.held:
            break
    return results


def recording_summary(results: list[ScenarioResult]) -> dict[str, Any]:
    by_name = {result.name: result for result in results}
    anchor = by_name[scenario_name(ANCHOR)]
    summary: dict[str, Any] = {"recorder_outputs": recorder_outputs()}
    for variant in (RECORDED, RECORDED_LIVE):
        run = by_name[scenario_name(variant)]
        summary[variant] = {
            "mcu_cpu_percent": run.mcu_cpu_percent,
            "extra_mcu_cpu_percent": round(run.mcu_cpu_percent - anchor.mcu_cpu_percent, 1),
            "held": run.held,
            "anchor_held": anchor.held,
            "load_average_after": run.load_average_after,
        }
    recorded_held = [1] if by_name[scenario_name(RECORDED)].held else []
    recorded_held += [r.conferences for r in results
                      if r.name.endswith("x 4-site recorded") and r.held]
    summary["max_concurrent_recorded_4site_1080p30"] = max(recorded_held, default=0)
    summary["anchor_mcu_cpu_percent"] = anchor.mcu_cpu_percent
    summary["anchor_load_average_after"] = anchor.load_average_after
    if not (anchor.held and by_name[scenario_name(RECORDED)].held):
        summary["note"] = ("a run missed its own targets (the machine saturated): its CPU "
                           "did less work, so the differences understate the cost")
    return summary


def recording_markdown(results: list[ScenarioResult], summary: dict[str, Any]) -> str:
    lines = [
        "## Recording: one 4-site 1080p30 conference recorded, recorded + live; capacity",
        "",
        "| run | MCU CPU % | other CPU % | encoders / expected | rx fps | probe fps | "
        "p50 / p95 ms | recorded MB | load avg after | verdict |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    for r in results:
        load = "/".join(f"{v:.2f}" for v in r.load_average_after)
        recorded = "-" if r.recorded_bytes is None else f"{r.recorded_bytes / 1e6:.1f}"
        lines.append(f"| {r.name} | {r.mcu_cpu_percent} | {r.others_cpu_percent} | "
                     f"{r.encoders} / {r.expected_encoders} | {r.received_fps_min} | "
                     f"{r.probe_decoded_fps_min} | {r.latency_ms_p50} / {r.latency_ms_p95} | "
                     f"{recorded} | {load} | {r.verdict} |")
    lines += ["", "Recording summary: " + repr(summary), ""]
    return "\n".join(lines)
