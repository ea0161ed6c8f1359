"""setMainAuxStreamSourcesEx's aux choice end to end: what a site shares (setAuxStreamEx) is
the aux input the MCU chose, read in the second stream another site decodes.

Site A declares a camera, a PC and a document camera and has a content input; site B
receives content. After the doc camera is chosen as A's aux source and A shares, B's
decoded second stream carries A's content marker (an input's picture, not a page) and the
document camera's input tag; switching the aux source to the PC switches what B decodes.
A terminal that declared no device keeps sharing its document pages (the fallback).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from terminals.aux_input_page import InputPage
from terminals.client import SimulatedTerminal
from terminals.device_description import device_from_options
from terminals.input_pictures import read_input_tags
from terminals.marker import read_content_marker
from tests.conftest import SoapClients
from tests.test_camera_control import CAMERA, book
from tests.test_cdr import eventually, site_states, ws_url

A, B = "0179101", "0179102"
A_INDEX, B_INDEX = 56, 57
IN_CONFERENCE = 2
CAMERA_0, PC, DOC = 0, 1, 2
WAIT_S = 20.0

Seen = tuple[int | None, bool | None, int | None, list[tuple[str, int]]]


def terminal(uri: str, index: int, state_dir: Path, inputs: list[str] | None) -> SimulatedTerminal:
    device = device_from_options(1, inputs, index) if inputs else None
    return SimulatedTerminal(
        uri=uri, name=f"Site {uri}", site_index=index, ring_delay_s=0.1, video_format=CAMERA,
        loop_frames=30, analyse_every=1 << 30, decode_video=False, decode_audio=False,
        state_dir=state_dir, device=device, content="record", content_size=(640, 360))


def seen_in_content(viewer: SimulatedTerminal) -> Seen:
    """(site, is an input's picture, marker kind, input tags) of the viewer's latest decoded
    second-stream picture."""
    frame = viewer.content.last_frame
    if frame is None or not viewer.content.receiving(1.0):
        return None, None, None, []
    reading = read_content_marker(frame)
    tags = [(tag.kind, tag.input_id) for tag in read_input_tags(frame)]
    if reading is None:
        return None, None, None, tags
    return reading.site_index, reading.is_input_picture, reading.kind, tags


async def content_comes_to(viewer: SimulatedTerminal, expected: Seen) -> None:
    deadline = time.monotonic() + WAIT_S
    seen: Seen = (None, None, None, [])
    while time.monotonic() < deadline:
        seen = await asyncio.to_thread(seen_in_content, viewer)
        if seen == expected:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"the viewer's second stream showed {seen}, not {expected}")


async def sources(soap: SoapClients, site: str, main: list[int], aux: int) -> int:
    return await asyncio.to_thread(soap.site_mgr.setMainAuxStreamSourcesEx, siteUri=site,
                                   localMainSrcs=main, localAuxSrc=aux)


async def share(soap: SoapClients, site: str) -> int:
    return await asyncio.to_thread(soap.site_mgr.setAuxStreamEx, siteUri=site, controlCode=0)


@pytest.fixture
async def pair(gateway_server, soap, clock, tmp_path, request
               ) -> AsyncIterator[tuple[SimulatedTerminal, SimulatedTerminal]]:
    a = terminal(A, A_INDEX, tmp_path, request.param)
    b = terminal(B, B_INDEX, tmp_path, None)
    for t in (a, b):
        await t.start(ws_url(gateway_server.base_url))
    try:
        conf_id = await asyncio.to_thread(book, soap, clock.now(), [A, B])
        await eventually(
            lambda: set(site_states(soap, conf_id).values()) == {IN_CONFERENCE}
            and len(site_states(soap, conf_id)) == 2, "both in conference")
        yield a, b
    finally:
        for t in (a, b):
            await t.stop()


@pytest.mark.parametrize("pair", [["camera", "pc", "doc-camera"]], indirect=True)
async def test_the_shared_content_is_the_chosen_aux_input_and_follows_its_switch(pair, soap):
    a, b = pair
    assert await sources(soap, A, [CAMERA_0], DOC) == 0
    assert await share(soap, A) == 0
    doc_kind = InputPage("doc-camera", DOC).kind
    await content_comes_to(b, (A_INDEX, True, doc_kind, [("doc-camera", DOC)]))
    assert a.aux_page() == InputPage("doc-camera", DOC)
    # the aux source switched to the PC while sharing: B's second stream follows
    assert await sources(soap, A, [CAMERA_0], PC) == 0
    await content_comes_to(b, (A_INDEX, True, InputPage("pc", PC).kind, [("pc", PC)]))
    status = await b.content.analyse_latest()
    assert status.site_index == A_INDEX and status.psnr_db is None  # no page to compare


@pytest.mark.parametrize("pair", [None], indirect=True)
async def test_a_terminal_without_a_declared_device_shares_its_document_pages(pair, soap):
    a, b = pair
    # the undeclared device's PC input (1) is plugged in: the choice is accepted and sent
    assert await sources(soap, A, [CAMERA_0], 1) == 0
    await eventually(lambda: a.aux_source == 1, "A told its aux source")
    assert a.aux_page() is None
    assert await share(soap, A) == 0
    await content_comes_to(b, (A_INDEX, False, 1, []))  # A's record page (kind 1), no tag
