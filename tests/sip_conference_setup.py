"""The set-up the SIP codec tests share (tests/test_sip_h264_mode0.py,
tests/test_sip_itu_codecs.py): WebRTC terminals started for a test and stopped after it, a
conference booked now over SOAP with the given sites, waited for until every site is in
conference and put in CP_4_1 with the sites as subPics (every viewer reading its panes),
and each receiving site's encoder-group format from /stats/media."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence

import requests

from terminals.client import SimulatedTerminal
from tests.test_sip_endpoint import (
    CP_4_1,
    IN_CONFERENCE,
    book,
    eventually,
    panes,
    site_statuses,
    webrtc_terminal,
    ws_url,
)


@contextlib.asynccontextmanager
async def webrtc_terminals(base_url: str, *sites: tuple[str, int]
                           ) -> AsyncIterator[list[SimulatedTerminal]]:
    """A WebRTC terminal per (uri, marker index), started against the server at `base_url`
    in that order and stopped on the way out."""
    started: list[SimulatedTerminal] = []
    try:
        for uri, index in sites:
            terminal = webrtc_terminal(uri, index)
            await terminal.start(ws_url(base_url))
            started.append(terminal)
        yield started
    finally:
        for terminal in started:
            await terminal.stop()


async def conference_in_cp_4_1(soap, clock, uris: list[str], viewers: Sequence) -> str:
    """Book `uris` now, wait until every one of them is in conference, set CP_4_1 with `uris`
    as subPics (answered 0) and every viewer reading its panes; the conference's id."""
    conf_id, _ = await asyncio.to_thread(book, soap, clock.now(), uris)
    await eventually(lambda: asyncio.to_thread(
        lambda: {s.status for s in site_statuses(soap, conf_id).values()} == {IN_CONFERENCE}
        and len(site_statuses(soap, conf_id)) == len(uris)),
        f"all {len(uris)} in conference")
    answer = await asyncio.to_thread(soap.conf_ctrl.setContinuousPresenceEx, confId=conf_id,
                                     target="0", presenceMode=CP_4_1, subPics=uris)
    assert answer == 0
    for viewer in viewers:
        viewer.set_panes(panes(CP_4_1))
    return conf_id


def group_formats(base_url: str) -> dict[str, str]:
    """Each receiving site's group format (/stats/media), e.g. "H264 704x576@30 ..."."""
    answer = requests.get(f"{base_url}/stats/media", timeout=10)
    answer.raise_for_status()
    return {site: group["format"]
            for conference in answer.json()["conferences"]
            for group in conference["groups"] for site in group["sites"]}
