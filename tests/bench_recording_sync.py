"""The issue-14 A/V sync measurement over a whole recording, by hand (not collected by
pytest: a benchmark that takes minutes; it lives here because it drives the server with the
tests' helpers).

    python -m tests.bench_recording_sync [--seconds 120] [--no-live] [--json OUT]

A real server in this process, two terminals at 320x180@30 (one with the sync pattern every
2 s, the other silent after 1 s), sites and recorder at 640x360@30, setRecordBroadEx and
setDirectBroadEx over SOAP (zeep from the reference WSDL); terminals.av_sync reads the HLS
stream for 20 s from 8 s in, then the whole file after the stop. Once the sites are in, the
process's startup objects are frozen out of the garbage collector as `mcu-sim serve` does
(app/serve_command.freeze_startup_objects): without it, this process's full collection
(zeep's and spyne's schemas) stalls the ticks ~110 ms once, which `mcu-sim serve` never sees.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from app.process import running_server
from app.serve_command import freeze_startup_objects
from gateway.settings import load_settings
from gateway.signalling import SIGNALLING
from mcu.clock import ManualClock
from mcu.model import VideoFormat
from terminals import av_sync
from terminals.sync_pattern import SyncPattern
from tests.conftest import soap_clients
from tests.test_av_sync import SENT, book
from tests.test_content_stream import joined, terminal
from tests.test_live_broadcast import live_url
from tests.test_media_acceptance import eventually, signalling_url
from tests.test_recording_lifecycle import files_of, gone_within

HLS_AFTER_S = 8.0
HLS_READ_S = 20.0


async def measure(seconds: float, live: bool) -> dict:
    data = Path(tempfile.mkdtemp(prefix="avsync-"))
    clock = ManualClock()
    settings = load_settings(port=0, data_dir=data, call_timeout_seconds=600.0)
    async with running_server(settings, clock=clock) as server:
        server.clock = clock  # the tests' booking helpers read it, as the fixture sets it
        engine = server.app[SIGNALLING].engine
        engine.settings = replace(engine.settings, default_format=VideoFormat.P360)
        flashing = terminal(41, video_format=SENT, sync_pattern=SyncPattern(2.0),
                            decode_video=False, decode_audio=False)
        silent = terminal(42, video_format=SENT, decode_video=False, decode_audio=False,
                          speech_schedule=((1.0, 0.0),))
        for site in (flashing, silent):
            await site.start(signalling_url(server))
        uris = [flashing.uri, silent.uri]
        conf_id = book(server, uris)
        soap = await asyncio.to_thread(soap_clients, server.base_url)
        assert await asyncio.to_thread(soap.login, "demo", "Demo@123") == 0
        call = soap.terminal_conf_ctrl
        await eventually(lambda: joined(server, conf_id, uris), what="joined")
        freeze_startup_objects()
        load_before = os.getloadavg()
        assert await asyncio.to_thread(call.setRecordBroadEx, siteUri=flashing.uri, action=0) == 0
        if live:
            assert await asyncio.to_thread(call.setDirectBroadEx, siteUri=flashing.uri,
                                           action=0) == 0
        began = time.monotonic()
        hls = None
        if live:
            await asyncio.sleep(HLS_AFTER_S)
            url = await asyncio.to_thread(live_url, server.base_url, soap.http, conf_id)
            hls = await asyncio.to_thread(av_sync.measure, server.base_url + url, HLS_READ_S, 1.0)
            print("HLS", flush=True)
            print(av_sync.table(hls), flush=True)
        await asyncio.sleep(max(0.0, seconds - (time.monotonic() - began)))
        load_end = os.getloadavg()
        assert await asyncio.to_thread(call.setRecordBroadEx, siteUri=flashing.uri, action=1) == 0
        if live:
            assert await asyncio.to_thread(call.setDirectBroadEx, siteUri=flashing.uri,
                                           action=1) == 0
        await gone_within(conf_id, 30)
        for site in (flashing, silent):
            await site.stop()
        (path,) = files_of(data, conf_id)
        report = await asyncio.to_thread(av_sync.measure, str(path), None, 0.0)
        print("FILE", path)
        print(av_sync.table(report))
        print("load average before", load_before, "at the end", load_end)
        return {"file": report.document(), "hls": hls.document() if hls else None,
                "load_before": load_before, "load_end": load_end}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--no-live", action="store_true", help="no HLS broadcast")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    result = asyncio.run(measure(args.seconds, not args.no_live))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    passed = result["file"]["passed"] and (result["hls"] is None or result["hls"]["passed"])
    return 0 if passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
