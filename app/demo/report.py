"""What the demo observed: per step and terminal the decoded picture (PNG, the site marker read
in each pane), the talkers heard and the latency; the expectations checked on them.

report.json is `DemoReport.to_json()`; the stdout summary is `DemoReport.summary()`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass
class TerminalRecord:
    """What one terminal decoded and heard once the step's effect had settled."""

    snapshot: str | None  # PNG file name in the output directory (None: not written)
    layout: str | None  # the CP mode whose panes were read (None: not in a call)
    panes: list[str | None]  # site URI found in each pane; None: no readable marker
    heard: dict[str, float]  # talker URI -> level (0..1, the talker's own scale)
    latency_ms: float | None  # p50 of the panes' glass-to-glass latency
    state: str  # the terminal's call state
    # content steps: what its second stream shows (the aux-pane step: pane 0 of its main
    # picture), {"site", "kind", "page", "frame_index", "latency_ms", "psnr_db", "ssim",
    # "receiving", "seen_in"}; None outside the content steps
    content: dict | None = None
    content_snapshot: str | None = None  # PNG of its second screen (None: nothing received)
    holds_floor: bool | None = None  # its BFCP floor participant holds the floor
    # the steps that read every screen (app/demo/device_steps.py): per screen
    # {"output": hdOut, "name": "HD1", "panes": [site URI or None], "snapshot": PNG name}
    screens: list[dict] | None = None
    # the camera steps, at a viewer: {"site": the URI watched, "x", "y", "zoom"} read from
    # the room's scene markers in its decoded picture (None: none readable)
    camera: dict | None = None


@dataclass
class StepRecord:
    name: str
    layout: str | None  # what most terminals see (one terminal may see another picture)
    action: str  # the SOAP operations of the step
    settled: bool  # every check held before the step's timeout
    seconds: float  # from the SOAP calls until settled (or the timeout)
    queried: dict = field(default_factory=dict)  # the status queries' answers then
    terminals: dict[str, TerminalRecord] = field(default_factory=dict)
    # voice switching, measured from decoded media: per other terminal, milliseconds from
    # the talker's first louder audio block leaving it to the main pane showing it (None:
    # not seen within the step's timeout), beside the MCU's configured hold time
    switch_delay_ms: dict[str, float | None] = field(default_factory=dict)
    hold_ms: float | None = None
    # content steps: the floor holder (queryConferencesStatusEx presentation; None: nobody)
    # and the BFCP answers the step's floor requests got, by terminal
    floor_holder: str | None = None
    floor_requests: dict[str, str] = field(default_factory=dict)


@dataclass
class Expectation:
    key: str  # stable identifier (tests name expectations by it)
    step: str
    what: str
    held: bool
    detail: str = ""  # what was measured


@dataclass
class DemoReport:
    conf_id: str = ""
    sites: list[str] = field(default_factory=list)
    join_order: list[str] = field(default_factory=list)
    output_format: str = ""
    steps: list[StepRecord] = field(default_factory=list)
    expectations: list[Expectation] = field(default_factory=list)
    seconds: float = 0.0
    error: str | None = None  # the scenario stopped early (a SOAP call failed, ...)
    # `--browser`: {"uri", "codec", "width", "height", "fps", "panes", "colour_delta_e_max"}
    # of the Chromium terminal (app/demo/browser.py); None without it
    browser: dict | None = None
    # the recording step's file (app/demo/recording_steps.py): {"path", "duration_s",
    # "tracks", "av_offset_ms_max" (null with "reason" when no offset could be stated),
    # "events", "video_fps", "max_gap_frames", "audio_minus_video_ms", "hls_url"}
    recordings: list[dict] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.error is None and bool(self.expectations) and all(
            e.held for e in self.expectations
        )

    def step(self, name: str) -> StepRecord:
        for step in self.steps:
            if step.name == name:
                return step
        raise KeyError(name)

    def expectation(self, key: str) -> Expectation:
        for expectation in self.expectations:
            if expectation.key == key:
                return expectation
        raise KeyError(key)

    def to_json(self) -> dict:
        return asdict(self)

    def write(self, out_dir: Path) -> Path:
        path = out_dir / "report.json"
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n")
        return path

    def summary(self) -> str:
        lines = [
            f"conference {self.conf_id or '-'}: {len(self.sites)} sites, {self.output_format}, "
            f"join order {' '.join(self.join_order) or '-'}"
        ]
        for step in self.steps:
            state = "settled" if step.settled else "NOT settled"
            lines.append(f"step {step.name:<15} {step.layout or '-':<8} {state} in "
                         f"{step.seconds:.1f}s: {step.action}")
            if step.switch_delay_ms:
                delays = ", ".join(f"{uri} {'-' if ms is None else f'{ms:.0f}'}"
                                   for uri, ms in step.switch_delay_ms.items())
                lines.append(f"  switch delay (ms, hold {step.hold_ms:.0f}): {delays}")
            if step.name.startswith("content"):
                lines.append(f"  floor holder {step.floor_holder or '-'}"
                             + "".join(f", {uri} asked: {answer}"
                                       for uri, answer in step.floor_requests.items()))
                for uri, seen in step.terminals.items():
                    if seen.content is not None and seen.content["site"] is not None:
                        c = seen.content
                        lines.append(f"  {uri} {c['seen_in']}: {c['site']} page "
                                     f"{c['kind']} {c['page']}, latency {c['latency_ms']} ms, "
                                     f"PSNR {c['psnr_db']} dB")
        if self.browser is not None:
            b = self.browser
            lines.append(f"browser {b['uri']}: {b['codec']} {b['width']}x{b['height']} "
                         f"@{b['fps']}, panes {b['panes']}, "
                         f"colour delta E max {b['colour_delta_e_max']}")
        for entry in self.recordings:
            lines.append(f"recording {entry.get('path')}: {entry.get('duration_s')} s, "
                         f"tracks {entry.get('tracks')}, {entry.get('events')} sync events, "
                         f"worst |A/V offset| {entry.get('av_offset_ms_max')} ms"
                         + (f" ({entry['reason']})" if entry.get("reason") else "")
                         + f", live {entry.get('hls_url')}")
        for expectation in self.expectations:
            mark = "held  " if expectation.held else "FAILED"
            lines.append(f"  {mark} {expectation.what}"
                         + ("" if expectation.held else f" ({expectation.detail})"))
        held = sum(e.held for e in self.expectations)
        lines.append(f"{held}/{len(self.expectations)} expectations held in {self.seconds:.1f}s")
        if self.error:
            lines.append(f"stopped early: {self.error}")
        return "\n".join(lines)
