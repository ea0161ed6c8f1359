"""benchmarks/media_recording.py, briefly: the recording scenario runs its three variants
(not recorded, recorded, recorded + live) on real MCU and terminal processes, each on a
fresh MCU, and its report holds every figure. A smoke test of the machinery with tiny
windows and no timing target (the figures are taken by hand: docs/benchmarks.md,
"Recording cost"): the recorded variants start the recorder (and the broadcast) over SOAP,
queryBroadInfoEx says they still run at the window's end, the recording has bytes on disk,
and the recorder's encoder is counted where its format needs one."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from benchmarks.media_recording import (
    ANCHOR,
    RECORDED,
    RECORDED_LIVE,
    recorder_outputs,
    recording_plan,
    scenario_name,
)

URIS = [f"0199{index:03d}" for index in range(8)]


def test_the_plans_record_and_broadcast_as_their_variant_says():
    anchor, recorded = recording_plan(ANCHOR, URIS), recording_plan(RECORDED, URIS)
    both = recording_plan(RECORDED_LIVE, URIS)
    assert (anchor.record, anchor.live) == (False, False)
    assert (recorded.record, recorded.live, both.record, both.live) == (True, False, True, True)
    assert anchor.expected_encoders == 1  # four sites at one format: one CP encoder
    assert recorded.expected_encoders == 1 + recorder_outputs()
    second = recording_plan(RECORDED, URIS, 1)
    assert [site.uri for site in second.sites] == URIS[4:8]


def test_the_recording_scenario_reports_every_figure(tmp_path: Path):
    out = tmp_path / "media.json"
    markdown = tmp_path / "media.md"
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks.media_load", "--recording-only", "--max-recorded",
         "1", "--window", "2", "--warmup", "0.5", "--json", str(out),
         "--markdown", str(markdown)],
        capture_output=True, text=True, timeout=600,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    report = json.loads(out.read_text())
    assert "scenarios" not in report and "content" not in report  # only the recording ran
    scenarios = {run["name"]: run for run in report["recording"]["scenarios"]}
    assert set(scenarios) == {scenario_name(v) for v in (ANCHOR, RECORDED, RECORDED_LIVE)}
    assert scenarios[scenario_name(ANCHOR)]["recorded_bytes"] is None
    for variant in (RECORDED, RECORDED_LIVE):
        run = scenarios[scenario_name(variant)]
        assert run["recorded_bytes"] > 0
        assert "BroadStatus" not in run["verdict"], run["verdict"]
        assert run["encoders"] == run["expected_encoders"], run
    for run in scenarios.values():
        assert run["mcu_cpu_percent"] > 0 and len(run["load_average_after"]) == 3
    summary = report["recording"]["summary"]
    for variant in (RECORDED, RECORDED_LIVE):
        assert set(summary[variant]) == {"mcu_cpu_percent", "extra_mcu_cpu_percent", "held",
                                         "anchor_held", "load_average_after"}
    assert summary["max_concurrent_recorded_4site_1080p30"] in (0, 1)
    assert "4-site recorded + live" in markdown.read_text()
