"""benchmarks/media_content.py, briefly: the content scenario runs its three variants (no
content, forwarded, transcoded) on real MCU and terminal processes and its report holds every
figure. A smoke test of the machinery with tiny windows, no timing target: the figures are
taken by hand (docs/benchmarks.md, "Content")."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from benchmarks.media_content import ANCHOR, FORWARDED, TRANSCODED, round_order

CONTENT_FIELDS = {"holder", "receivers", "receivers_showing_holder", "decoded_fps_min",
                  "decoded_fps", "sent_fps", "latency_ms_p50", "latency_ms_p95",
                  "latency_readings", "psnr_db_min", "psnr_db_mean", "ssim_min", "codecs"}
SUMMARY_FIELDS = {"mcu_cpu_percent", "main_rx_fps_min", "main_latency_ms_p50",
                  "main_latency_ms_p95", "mcu_udp_drops", "others_cpu_percent", "held"}
CONTENT_SUMMARY_FIELDS = {"extra_mcu_cpu_percent", "content_decoded_fps_min",
                          "content_latency_ms_p50", "content_latency_ms_p95",
                          "content_psnr_db_min", "content_ssim_min"}


def test_rounds_repeat_the_variants_in_mirrored_order():
    assert round_order(1) == [ANCHOR, FORWARDED, TRANSCODED]
    assert round_order(2) == [ANCHOR, FORWARDED, TRANSCODED, TRANSCODED, FORWARDED, ANCHOR]


def test_the_content_scenario_reports_every_figure(tmp_path: Path):
    out = tmp_path / "media.json"
    markdown = tmp_path / "media.md"
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks.media_load", "--content-only", "--window", "2",
         "--warmup", "0.5", "--json", str(out), "--markdown", str(markdown)],
        capture_output=True, text=True, timeout=420,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    report = json.loads(out.read_text())
    assert "scenarios" not in report  # --content-only: no other scenario ran
    scenarios = {run["name"]: run for run in report["content"]["scenarios"]}
    assert set(scenarios) == {f"4-site + content {v}" for v in (ANCHOR, FORWARDED, TRANSCODED)}

    anchor = scenarios["4-site + content anchor"]
    assert anchor["content"] is None and anchor["mcu_cpu_percent"] > 0
    assert anchor["mcu_udp_drops"] >= 0
    for variant in (FORWARDED, TRANSCODED):
        run = scenarios[f"4-site + content {variant}"]
        content = run["content"]
        assert set(content) == CONTENT_FIELDS
        # every other site's second stream showed the holder's pages (its marker) and the
        # text region was measured against the re-rendered page
        assert content["receivers"] == 3 and content["receivers_showing_holder"] == 3
        assert content["psnr_db_min"] is not None and content["ssim_min"] is not None
        assert set(content["decoded_fps"]) == set(content["codecs"]) - {content["holder"]}
        groups = [g for conference in run["per_conference"] for g in conference["groups"]]
        content_groups = [g for g in groups if g["picture"].startswith("content:")]
        if variant == FORWARDED:  # passed on unchanged: no content encoder
            assert content_groups == []
            assert set(content["codecs"].values()) == {"H264"}
        else:  # the holder sends VP8, the receivers take H.264: one content encoder
            assert [g["picture"] for g in content_groups] == [f"content:{content['holder']}"]
            assert content["codecs"][content["holder"]] == "VP8"
        assert run["encoders"] == run["expected_encoders"]

    summary = report["content"]["summary"]
    assert set(summary[ANCHOR]) == SUMMARY_FIELDS
    for variant in (FORWARDED, TRANSCODED):
        assert set(summary[variant]) == SUMMARY_FIELDS | CONTENT_SUMMARY_FIELDS
    assert summary["forwarded_target"] in ("held", "missed") \
        or summary["forwarded_target"].startswith("not shown")
    assert "4-site + content transcoded" in markdown.read_text()
