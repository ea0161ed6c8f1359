"""The media benchmark's content scenario (issue 12): 4-site 1080p30 main plus 1080p content
from one site, slides mode, measured side by side in one run.

Three variants of the same conference (four sites, CP_4_1 at 1080p30 and 2 Mbit/s for each,
presentation 0, auxVideoFormat 1080P30), each on a freshly started MCU and terminals
(benchmarks/media_load.py `measure_fresh`):
  - anchor: no content shared (every terminal has a content m-line; nobody holds the floor);
  - forwarded: the fourth site has a content input (the radiograph's pages at 1920x1080,
    H.264, 5 fps) and is granted the floor with setAuxStreamEx; every other site's content
    output (H.264, 1920x1080) equals the sender's, so the MCU passes the packets on
    unchanged (docs/runtime.md, "Content in the pictures": route "forward");
  - transcoded: the same, but the holder's content m-line offers only VP8 while the
    receivers' is H.264, so the MCU decodes the content once and encodes it once for the
    three receivers (one content encoder group, route "transcode"). The main picture is the
    same in all three variants: only the content path differs.

Reported: the MCU's CPU in each and its extra CPU for forwarded and for transcoded content
against the anchor (% of one core; target: under 15 when forwarded), the content at the
receivers (decoded fps, latency p50/p95 from send to the receiver's decoder over every
analysed frame, PSNR/SSIM of the text region), and the main picture's rx fps and latency
beside the anchor's; with each, the CPU every other process took and the datagrams the
MCU's full input sockets dropped (a starved MCU loses packets, and forwarded content cannot
conceal a loss the way a decoder does). `rounds` > 1 repeats the three in mirrored order (anchor, forwarded,
transcoded, transcoded, forwarded, anchor, ...) and averages per variant, as the shared
machine drifts.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

from benchmarks.media_load import (
    RATE_1080P,
    TARGET_FPS,
    BookedSite,
    ConferencePlan,
    ContentSetup,
    ScenarioResult,
    TerminalFleet,
    measure_fresh,
)
from mcu.model import VideoFormat

TARGET_FORWARDED_EXTRA_CPU = 15.0  # % of one core
HOLDER_INDEX = 3  # the fourth site shares; the first is the main picture's probe
ANCHOR, FORWARDED, TRANSCODED = "anchor", "forwarded", "transcoded"
VARIANTS = (ANCHOR, FORWARDED, TRANSCODED)
SETUPS: dict[str, ContentSetup | None] = {
    ANCHOR: None,
    FORWARDED: ContentSetup(HOLDER_INDEX),
    TRANSCODED: ContentSetup(HOLDER_INDEX, "VP8"),
}


def scenario_name(variant: str) -> str:
    return f"4-site + content {variant}"


def content_plan(variant: str, uris: list[str]) -> ConferencePlan:
    sites = tuple(BookedSite(uri, VideoFormat.HD1080P30, RATE_1080P) for uri in uris[:4])
    return ConferencePlan(
        f"bench content {variant}", "CP_4_1", sites,
        aux_video_format=VideoFormat.HD1080P30,
        content_holder=None if variant == ANCHOR else sites[HOLDER_INDEX].uri,
        content_outputs=1 if variant == TRANSCODED else 0,
    )


def round_order(rounds: int) -> list[str]:
    order: list[str] = []
    for number in range(rounds):
        order += list(VARIANTS if number % 2 == 0 else reversed(VARIANTS))
    return order


async def measure_content(rounds: int, timing: dict[str, float]) -> list[ScenarioResult]:
    results = []
    for variant in round_order(rounds):

        def plans_for(fleet: TerminalFleet, variant: str = variant) -> list[ConferencePlan]:
            return [content_plan(variant, fleet.uris)]

        results.append(await measure_fresh(scenario_name(variant), plans_for, 1, 0,
                                           TARGET_FPS, timing, SETUPS[variant]))
    return results


def _mean(values: list[float | None]) -> float | None:
    present = [value for value in values if value is not None]
    return round(statistics.mean(present), 1) if present else None


def _content_figure(runs: list[ScenarioResult], read: Callable[[Any], float | None]
                    ) -> float | None:
    return _mean([read(run.content) for run in runs if run.content is not None])


def content_summary(results: list[ScenarioResult]) -> dict[str, Any]:
    """Per variant the means over its runs; the extra MCU CPU against the anchor's mean."""
    by_variant = {variant: [r for r in results if r.name == scenario_name(variant)]
                  for variant in VARIANTS}
    if not all(by_variant.values()):
        raise ValueError("the content summary needs a run of every variant")
    mcu = {variant: _mean([r.mcu_cpu_percent for r in runs])
           for variant, runs in by_variant.items()}
    anchor_cpu = mcu[ANCHOR] or 0.0
    summary: dict[str, Any] = {"runs_per_variant": len(by_variant[ANCHOR])}
    for variant, runs in by_variant.items():
        figures: dict[str, Any] = {
            "mcu_cpu_percent": mcu[variant],
            "main_rx_fps_min": _mean([r.received_fps_min for r in runs]),
            "main_latency_ms_p50": _mean([r.latency_ms_p50 for r in runs]),
            "main_latency_ms_p95": _mean([r.latency_ms_p95 for r in runs]),
            "mcu_udp_drops": _mean([r.mcu_udp_drops for r in runs]),
            "others_cpu_percent": _mean([r.others_cpu_percent for r in runs]),
            "held": all(r.held for r in runs),
        }
        if variant != ANCHOR:
            figures.update(
                extra_mcu_cpu_percent=round((mcu[variant] or 0.0) - anchor_cpu, 1),
                content_decoded_fps_min=_content_figure(runs, lambda c: c.decoded_fps_min),
                content_latency_ms_p50=_content_figure(runs, lambda c: c.latency_ms_p50),
                content_latency_ms_p95=_content_figure(runs, lambda c: c.latency_ms_p95),
                content_psnr_db_min=_content_figure(runs, lambda c: c.psnr_db_min),
                content_ssim_min=_mean([r.content.ssim_min for r in runs
                                        if r.content is not None]),
            )
        summary[variant] = figures
    extra = summary[FORWARDED]["extra_mcu_cpu_percent"]
    summary["target_forwarded_extra_cpu_percent"] = TARGET_FORWARDED_EXTRA_CPU
    # A difference of CPU says something only when both sides did their work: a saturated
    # machine's MCU does less (fewer frames) and may even use less CPU with content.
    if not (summary[ANCHOR]["held"] and summary[FORWARDED]["held"]):
        summary["forwarded_target"] = "not shown: a run missed its own targets (saturated)"
    elif extra < TARGET_FORWARDED_EXTRA_CPU:
        summary["forwarded_target"] = "held"
    else:
        summary["forwarded_target"] = "missed"
    return summary


def content_markdown(results: list[ScenarioResult], summary: dict[str, Any]) -> str:
    lines = [
        "## Content: 4-site 1080p30 main plus 1080p content from one site (slides)",
        "",
        "| run | MCU CPU % | other CPU % | MCU UDP drops | main rx fps | main p50 / p95 ms | content decoded fps | "
        "content sent fps | content p50 / p95 ms | PSNR dB min | SSIM min | load avg | "
        "verdict |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- "
        "| --- |",
    ]
    for r in results:
        c = r.content
        load = "/".join(f"{v:.2f}" for v in r.load_average_after)
        content_cells = ("- | - | - | - | -" if c is None else
                         f"{c.decoded_fps_min} | {c.sent_fps} | {c.latency_ms_p50} / "
                         f"{c.latency_ms_p95} | {c.psnr_db_min} | {c.ssim_min}")
        lines.append(f"| {r.name} | {r.mcu_cpu_percent} | {r.others_cpu_percent} | "
                     f"{r.mcu_udp_drops} | {r.received_fps_min} | "
                     f"{r.latency_ms_p50} / {r.latency_ms_p95} | {content_cells} | {load} | "
                     f"{r.verdict} |")
    lines += ["", "Content summary: " + repr(summary), ""]
    return "\n".join(lines)
