"""What SIP room systems cost the MCU in a mixed-protocol conference: `mcu-sim serve` in its
own process (the one measured: utime + stime from /proc), 2 WebRTC simulated terminals
(`mcu-sim terminals`, not decoding) and 4 SIP room systems (`mcu-sim terminals --sip`,
registered by number with the MCU's registrar) in two more processes, one 6-site conference
at 4CIF booked over SOAP. Two phases, each on a fresh server, in the same run:

    anchor   the 4 SIP rooms in H.264 (with the WebRTC terminals' H.264: one codec)
    mixed    2 SIP rooms in H.264, 2 in H.263 (the H.263 encoder groups added)

Reported per phase: the server's CPU percent of one core, its encoder groups, the frames
they encode per second, and the sites in conference.

    python -m benchmarks.sip_sites_cost [--seconds 15]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import aiohttp

from app.child_process import dies_with_parent
from app.demo.soap_client import EsdkClient, check
from benchmarks.soap_server_cpu import cpu_seconds
from benchmarks.soap_throughput import free_port, wait_until_up
from rtc.deadline import within

USER, PASSWORD = "demo", "Demo@123"
CIF4 = 1  # videoFormat (eSDK numbering)
WEBRTC = ["010100", "010101"]
ROOMS = [f"88{index:02d}" for index in range(4)]


def book(client: EsdkClient, uris: list[str]) -> str:
    info = {
        "name": "SIP bench", "beginTime": datetime.now().astimezone(),
        "duration": timedelta(minutes=30), "mediaEncryptType": 0, "cpResouce": 6,
        "presentation": 0, "rate": "1024k",
        "sites": [{"name": uri, "uri": uri, "type": 7, "from": 0, "dialingMode": 0,
                   "videoFormat": CIF4} for uri in uris],
    }
    return check(client.conf_mgr.scheduleConfEx(scheduleConf=info),
                 "scheduleConfEx").conferenceInfo.confId


def in_conference(client: EsdkClient, conf_id: str) -> int:
    answer = check(client.conf_mgr.queryConfSitesStatusEx(confId=conf_id, siteUris=[]),
                   "queryConfSitesStatusEx")
    return sum(1 for site in answer.siteStatuses if site.status == 2)


def _lines(process: subprocess.Popen, start: str, count: int) -> None:
    """Read the process's output until `count` lines starting with `start`."""
    assert process.stdout is not None
    seen = 0
    while seen < count:
        line = process.stdout.readline()
        if not line:
            raise RuntimeError(f"a helper process ended before {count} {start!r} lines")
        seen += line.startswith(start)


async def groups(http: aiohttp.ClientSession, base: str) -> list[dict]:
    async with http.get(f"{base}/stats/media") as answer:
        return [g for c in (await answer.json())["conferences"] for g in c["groups"]]


async def phase(video_codecs: list[str], seconds: float) -> dict[str, float]:
    port, sip_port = free_port(), free_port()
    base = f"http://127.0.0.1:{port}"
    root = Path(__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory() as data_dir:
        config = Path(data_dir) / "bench.toml"
        config.write_text(f"[sip]\nport = {sip_port}\n")
        server = subprocess.Popen(
            dies_with_parent([sys.executable, "-m", "app.cli", "serve", "--port", str(port),
                              "--data-dir", data_dir, "--config", str(config)]), cwd=root,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        helpers: list[subprocess.Popen] = []
        try:
            await wait_until_up(f"{base}/esdk/services")
            helpers.append(subprocess.Popen(
                dies_with_parent(
                    [sys.executable, "-m", "app.cli", "terminals", "--count", "2",
                     "--server", f"ws://127.0.0.1:{port}/signalling", "--ring-delay", "0.1",
                     "--video-size", "640x360", "--fps", "15", "--no-decode",
                     "--stats-interval", "0"]), cwd=root, text=True,
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=os.environ.copy()))
            for offset, codec in enumerate(video_codecs):
                helpers.append(subprocess.Popen(
                    dies_with_parent(
                        [sys.executable, "-m", "app.cli", "terminals", "--sip", "--count", "1",
                         "--uri-prefix", "88", "--start-index", str(offset), "--video-codecs",
                         codec, "--audio-codecs", "g722", "--video-size", "704x576", "--fps",
                         "15", "--register", f"sip:127.0.0.1:{sip_port}",
                         "--stats-interval", "0"]),
                    cwd=root, text=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL))
            # every terminal registered: 2 "registered" lines, then one "listening" per room
            await within(asyncio.gather(*(
                asyncio.to_thread(_lines, helper, "registered " if index == 0 else "listening ",
                                  2 if index == 0 else 1)
                for index, helper in enumerate(helpers))), 120)
            client = await asyncio.to_thread(EsdkClient.connect, base)
            await asyncio.to_thread(client.login, USER, PASSWORD)
            conf_id = await asyncio.to_thread(book, client, WEBRTC + ROOMS)
            deadline = time.monotonic() + 60
            while await asyncio.to_thread(in_conference, client, conf_id) < 6:
                if time.monotonic() > deadline:
                    answer = await asyncio.to_thread(
                        client.conf_mgr.queryConfSitesStatusEx, confId=conf_id, siteUris=[])
                    states = {site.uri: (site.status, site.callFailedReason)
                              for site in answer.siteStatuses}
                    raise RuntimeError(f"not every site joined within 60 s: {states}")
                await asyncio.sleep(1)
            await asyncio.sleep(5)  # the groups settle
            async with aiohttp.ClientSession() as http:
                before, encoded_before = cpu_seconds(server.pid), await groups(http, base)
                start = time.monotonic()
                await asyncio.sleep(seconds)
                after, encoded = cpu_seconds(server.pid), await groups(http, base)
                wall = time.monotonic() - start
            frames = sum(g["frames_encoded"] for g in encoded) - sum(
                g["frames_encoded"] for g in encoded_before)
            return {"cpu_percent": round(100 * (after - before) / wall, 1),
                    "encoder_groups": len(encoded),
                    "group_codecs": sorted({str(g.get("format", "")).split(" ")[0]
                                            for g in encoded}),
                    "frames_encoded_per_s": round(frames / wall, 1),
                    "sites_in_conference": await asyncio.to_thread(in_conference, client,
                                                                   conf_id)}
        finally:
            for helper in helpers:
                helper.terminate()
            for helper in helpers:
                helper.wait(20)
            server.terminate()
            server.wait(20)


async def measure(seconds: float) -> dict[str, dict[str, float]]:
    return {
        "anchor: 2 WebRTC + 4 SIP H.264": await phase(["h264"] * 4, seconds),
        "mixed: 2 WebRTC + 2 SIP H.264 + 2 SIP H.263": await phase(
            ["h264", "h264", "h263", "h263"], seconds),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0)
    args = parser.parse_args(argv)
    print(json.dumps(asyncio.run(measure(args.seconds)), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
