"""A SIP site that rings longer than the call timeout (mcu/media/sip_endpoint.py): the MCU
CANCELs its INVITE and the site is not joined with 129 (no answer); the MCU stopping sends
its SIP calls a BYE; the output-size fit of sites whose codec carries only some sizes
(mcu/media/output_format.py fit_to_sizes)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest

from app.process import running_server
from gateway.settings import Settings, load_settings
from mcu.calls import CallFailure
from mcu.clock import ManualClock
from mcu.media.output_format import OutputFormat, fit_to_sizes
from mcu.model import ConferenceSpec, SiteSpec, SiteType
from tests.conftest import TESTER
from tests.test_sip_endpoint import NOT_JOINED, book, room, site_statuses, wait_status

CALL_TIMEOUT_S = 2.0


@pytest.fixture
def gateway_settings(tmp_path: Path) -> Settings:
    settings = load_settings(port=0, data_dir=tmp_path / "data",
                             call_timeout_seconds=CALL_TIMEOUT_S)
    return settings.with_account(*TESTER)


async def test_a_site_ringing_past_the_call_timeout_is_cancelled_with_129(
        gateway_server, soap, clock, rooms):
    slow = await room(rooms, "room-slow", 50, ring_delay=30.0)
    conf_id, _ = await asyncio.to_thread(book, soap, clock.now(), [slow.uri])
    await wait_status(soap, conf_id, slow.uri, NOT_JOINED, "the ringing site not joined")
    status = site_statuses(soap, conf_id)[slow.uri]
    assert status.callFailedReason.errCode == CallFailure.NO_ANSWER
    for _ in range(50):  # the CANCEL reaches the site
        if slow.invites_cancelled:
            break
        await asyncio.sleep(0.1)
    assert (slow.invites_cancelled, slow.calls_answered) == (1, 0)


@pytest.mark.parametrize(("booked", "sizes", "sent"), [
    ((1280, 720), ((352, 288), (704, 576)), (704, 576)),  # the largest not larger
    ((704, 576), ((176, 144), (352, 288), (704, 576)), (704, 576)),  # as booked
    ((320, 180), ((352, 288), (704, 576)), (352, 288)),  # none smaller: the smallest
    ((1280, 720), (), (1280, 720)),  # any size
])
def test_the_output_fits_the_sizes_the_codec_carries(booked, sizes, sent) -> None:
    output = fit_to_sizes(OutputFormat("H263", *booked, 30, 768_000), sizes)
    assert (output.size, output.fps, output.bitrate) == (sent, 30, 768_000)


async def test_the_mcu_stopping_hangs_up_its_sip_calls(tmp_path: Path, rooms) -> None:
    site = await room(rooms, "room-shutdown", 49)
    clock = ManualClock()
    settings = load_settings(port=0, data_dir=tmp_path / "data")
    async with running_server(settings, clock=clock) as server:
        spec = ConferenceSpec("shutdown", clock.now(), timedelta(hours=1),
                              [SiteSpec(site.uri, name="room", type=SiteType.SIP)])
        server.gateway.scheduler.schedule(spec)
        server.gateway.runtime.reconcile()
        for _ in range(200):
            if site.call is not None:
                break
            await asyncio.sleep(0.1)
        assert site.call is not None
    for _ in range(50):  # the BYE sent while the server stopped
        if site.call is None:
            break
        await asyncio.sleep(0.1)
    assert site.call is None
