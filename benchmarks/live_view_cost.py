"""What a console live viewer costs the MCU: `mcu-sim serve --terminals 2` in its own
process, a conference of its two simulated terminals booked from the console, then the
server's CPU (utime + stime, /proc) and its encoder groups over the phases of one run: no
viewer (the anchor), one aiortc viewer of the conference picture, the anchor again, one
viewer of a site's screens, the anchor a third time. The anchors bracket the viewers, so a
drift of the machine's load shows as anchors that differ. The phases start once both sites
are receivers of the media (GET /stats/media), not after a fixed wait. Each phase reports
the 1-minute load average at its start.

The two simulated terminals run inside the server's process (`--terminals`), so every
phase counts their decoding too; a viewer's cost is its phase minus the anchors. The
viewer (aiortc, decoding) runs in this process, so its own decoding is not counted; the
server's share is packetising, SRTP and the viewer's Opus encode.

    python -m benchmarks.live_view_cost [--seconds 15]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
import time

import aiohttp
from aiortc import RTCPeerConnection, RTCSessionDescription

from app.child_process import dies_with_parent
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


SITES = ("010100", "010101")


async def wait_joined(http, base: str, timeout: float = 90.0) -> None:
    """Until both terminals are receivers of the conference's media."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        receivers = {site for group in await stats(http, base) for site in group["sites"]}
        if set(SITES) <= receivers:
            return
        await asyncio.sleep(0.5)
    raise TimeoutError(f"the sites {SITES} did not both join within {timeout} s")


async def phase(http, base: str, pid: int, seconds: float) -> dict[str, object]:
    load = os.getloadavg()[0]
    before, frames_before, start = cpu_seconds(pid), await stats(http, base), time.monotonic()
    await asyncio.sleep(seconds)
    after, groups, wall = cpu_seconds(pid), await stats(http, base), time.monotonic() - start
    encoded = sum(g["frames_encoded"] for g in groups) - sum(
        g["frames_encoded"] for g in frames_before)
    return {"cpu_percent": round(100 * (after - before) / wall, 1),
            "encoder_groups": len(groups), "frames_encoded_per_s": round(encoded / wall, 1),
            "receivers": sorted(site for g in groups for site in g["sites"]),
            "load_average_1m": round(load, 2)}


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


async def measure(seconds: float) -> dict[str, dict[str, object]]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as data_dir:
        server = subprocess.Popen(
            dies_with_parent([sys.executable, "-m", "app.cli", "serve", "--port", str(port),
                              "--data-dir", data_dir, "--terminals", "2"]), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
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
                await wait_joined(http, base)
                await asyncio.sleep(3)  # the groups settle
                results = {"anchor 1 (no viewer)": await phase(http, base, server.pid, seconds)}
                pc, tasks = await open_viewer(http, base, csrf, conf_id, "conference")
                await asyncio.sleep(3)
                results["conference picture viewer"] = await phase(http, base, server.pid,
                                                                   seconds)
                await pc.close()
                await asyncio.sleep(2)
                results["anchor 2 (no viewer)"] = await phase(http, base, server.pid, seconds)
                pc2, tasks2 = await open_viewer(http, base, csrf, conf_id, SITES[0])
                await asyncio.sleep(3)
                results[f"site {SITES[0]} viewer"] = await phase(http, base, server.pid,
                                                                 seconds)
                await pc2.close()
                await asyncio.sleep(2)
                results["anchor 3 (no viewer)"] = await phase(http, base, server.pid, seconds)
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
    print(json.dumps({"cpu_count": os.cpu_count(), **asyncio.run(measure(args.seconds))},
                     indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
