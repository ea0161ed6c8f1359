"""benchmarks/soak.py, briefly: the runner starts the MCU and the terminals, churns, injects
loss, and its report holds every figure. A smoke test of the machinery, no timing target:
the soak itself (minutes) is run by hand (docs/benchmarks.md, "Soak")."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

from benchmarks.packet_loss import LossInjector, rtp_marked_ssrc


def rtp(marker: bool, ssrc: int) -> bytes:
    return bytes([0x80, (0x80 if marker else 0) | 96]) + bytes(6) + ssrc.to_bytes(4, "big")


def test_the_injector_drops_only_media_and_counts_marked_frames_before_the_loss():
    injector = LossInjector(loss=1.0, rng=random.Random(1))
    stun = b"\x00\x01" + bytes(18)
    dtls = b"\x16\xfe\xfd" + bytes(10)
    rtcp = bytes([0x80, 200]) + bytes(6)
    assert injector.let_in(stun) and injector.let_out(dtls)
    assert not injector.let_in(rtp(True, 7)) and not injector.let_in(rtp(False, 7))
    assert not injector.let_out(rtcp)
    assert injector.marked_received == {7: 1}
    assert rtp_marked_ssrc(rtcp) is None  # RTCP's second byte looks marked: not a frame
    figures = injector.figures()
    assert figures["to_terminals"] == {"media_datagrams": 2, "dropped": 2,
                                       "dropped_in_bursts": 0}
    assert figures["from_terminals"]["dropped"] == 1


def test_a_burst_drops_every_media_datagram_and_no_loss_drops_none():
    injector = LossInjector(loss=0.0)
    assert all(injector.let_in(rtp(False, 1)) for _ in range(100))
    injector.burst_active = True
    assert not any(injector.let_out(rtp(False, 1)) for _ in range(10))
    assert injector.sent.dropped_in_bursts == 10 and injector.received.dropped == 0


def test_a_short_soak_reports_every_figure_and_really_drops_packets(tmp_path: Path):
    out = tmp_path / "soak.json"
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks.soak", "--minutes", "0.25", "--sites", "2",
         "--warmup", "2", "--settle", "2", "--stay-min", "3", "--stay-max", "5",
         "--away-min", "0.5", "--away-max", "1", "--burst-every", "4", "--burst-ms", "300",
         "--loss", "3", "--sample-every", "4", "--json", str(out),
         "--markdown", str(tmp_path / "soak.md")],
        capture_output=True, text=True, timeout=240,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    report = json.loads(out.read_text())
    assert {v["figure"] for v in report["mcu"]} == {"rss_kib", "open_fds", "threads",
                                                   "asyncio_tasks", "gc_objects"}
    # START after one cycle (every site dialled in, as at END); the former START too
    assert [v["figure"] for v in report["mcu_vs_dialled_out"]] == [
        v["figure"] for v in report["mcu"]]
    assert all(v["start"] > 0 for v in report["mcu_vs_dialled_out"])
    assert isinstance(report["keyframe_skips"], int)
    assert isinstance(report["mcu_tasks_changed"], dict)
    samples = report["mcu_during_churn"]  # RSS read every 4 s of the 15 s churn, and at its end
    assert len(samples) >= 4 and all(s["rss_kib"] > 0 and s["threads"] > 0 for s in samples)
    assert [s["minute"] for s in samples] == sorted(s["minute"] for s in samples)
    assert samples[-1]["minute"] >= 0.25
    assert set(report["rss_trend"]) == {"first_half_kib_per_min", "second_half_kib_per_min"}
    assert report["plis"] >= 1
    for verdict in report["mcu"]:
        assert verdict["start"] > 0 and verdict["end"] > 0 and isinstance(verdict["held"], bool)
    loss = report["loss"]
    assert loss["to_terminals"]["dropped"] > 0 and loss["from_terminals"]["dropped"] > 0
    assert loss["to_terminals"]["dropped_in_bursts"] > 0 and report["bursts"] >= 2
    assert len(report["terminals"]) == 2
    for terminal in report["terminals"].values():
        assert terminal["frames_on_wire"] > 0 and terminal["frames_received"] > 0
        assert terminal["leaves"] >= 1 and terminal["joins"] >= 1  # the churn happened
        # dialled out, dialled in by the cycle, then at least once more by the churn
        assert terminal["calls"] >= 3
        assert terminal["state"] == "in_call"
    assert report["frames_lost"] == sum(t["frames_lost"] for t in report["terminals"].values())
    recovery = report["recovery_ms"]
    assert recovery["readings"] + recovery["unrecovered"] >= 1
    assert set(recovery) >= {"p50", "p95", "max", "target", "held"}
    assert (tmp_path / "soak.md").read_text().startswith("# Soak")
