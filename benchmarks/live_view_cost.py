"""What a console live viewer costs the MCU: `mcu-sim serve --terminals 2` in its own
process, a conference of its two simulated terminals booked from the console, then the
server's CPU (utime + stime, /proc) and its encoder groups over three phases of the same
run: no viewer (the anchor), one aiortc viewer of the conference picture, one of a site's
screens. The viewer (aiortc, decoding) runs in this process, so its decoding is not
counted; the server's share is packetising, SRTP and the viewer's Opus encode.

    python -m benchmarks.live_view_cost [--seconds 15]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import subprocess
import sys
import tempfile
import time

import aiohttp
from aiortc import RTCPeerConnection, RTCSessionDescription

from benchmarks.soap_server_cpu import cpu_seconds
from benchmarks.soap_throughput import free_port, wait_until_up

USER, PASSWORD = "demo", "Demo@123"


async def console(http: aiohttp.ClientSession, base: str) -> str:
    await http.post(f"{base}/login", data={"user": USER, "password": PASSWORD})
    page = await (await http.get(f"{base}/")).text()
    match = re.search(r'name="csrf-token" content="([0-9a-f]+)"', page)
    assert match, "no console session"
    return match.group(1)


async def stats(http: aiohttp.ClientSession, base: str) -> list[dict]:
    async with http.get(f"{base}/stats/media") as answer:
        return [g for c in (await answer.json())["conferences"] for g in c["groups"]]


async def phase(http, base: str, pid: int, seconds: float) -> dict[str, float]:
    before, frames_before, start = cpu_seconds(pid), await stats(http, base), time.monotonic()
    await asyncio.sleep(seconds)
    after, groups, wall = cpu_seconds(pid), await stats(http, base), time.monotonic() - start
    encoded = sum(g["frames_encoded"] for g in groups) - sum(
        g["frames_encoded"] for g in frames_before)
    return {"cpu_percent": round(100 * (after - before) / wall, 1),
            "encoder_groups": len(groups), "frames_encoded_per_s": round(encoded / wall, 1),
            "receivers": sum(len(g["sites"]) for g in groups)}


async def open_viewer(http, base: str, csrf: str, conf_id: str, view: str
                      ) -> tuple[RTCPeerConnection, list]:
    headers = {"X-CSRF-Token": csrf}
    async with http.post(f"{base}/console/live/open", data={"confId": conf_id, "view": view},
                         headers=headers) as answer:
        opened = await answer.json()
    pc = RTCPeerConnection()
    tasks: list = []

    async def drain(track) -> None:
        while True:
            await track.recv()

    pc.on("track", lambda track: tasks.append(asyncio.ensure_future(drain(track))))
    await pc.setRemoteDescription(RTCSessionDescription(opened["sdp"], "offer"))
    await pc.setLocalDescription(await pc.createAnswer())
    async with http.post(f"{base}/console/live/answer", headers=headers,
                         data={"viewer": opened["viewer"], "sdp": pc.localDescription.sdp}):
        pass
    return pc, tasks


async def measure(seconds: float) -> dict[str, dict[str, float]]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as data_dir:
        server = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve", "--port", str(port), "--data-dir",
             data_dir, "--terminals", "2"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            await wait_until_up(f"{base}/esdk/services")
            async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
                csrf = await console(http, base)
                await asyncio.sleep(3)  # the terminals register
                async with http.post(f"{base}/console/action/schedule", headers={
                        "X-CSRF-Token": csrf}, data=[("name", "bench"), ("begin", "now"),
                                                     ("duration", "30"), ("cpResource", "4"),
                                                     ("site", "010100"), ("site", "010101")]
                                     ) as answer:
                    conf_id = (await answer.json())["confId"]
                await asyncio.sleep(8)  # both join, the groups settle
                results = {"anchor (no viewer)": await phase(http, base, server.pid, seconds)}
                pc, tasks = await open_viewer(http, base, csrf, conf_id, "conference")
                await asyncio.sleep(3)
                results["conference picture viewer"] = await phase(http, base, server.pid,
                                                                   seconds)
                await pc.close()
                pc2, tasks2 = await open_viewer(http, base, csrf, conf_id, "010100")
                await asyncio.sleep(3)
                results["site 010100 viewer"] = await phase(http, base, server.pid, seconds)
                await pc2.close()
                for task in tasks + tasks2:
                    task.cancel()
                return results
        finally:
            server.terminate()
            server.wait(10)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0)
    args = parser.parse_args(argv)
    print(json.dumps(asyncio.run(measure(args.seconds)), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
