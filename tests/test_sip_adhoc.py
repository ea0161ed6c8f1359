"""SIP room systems dialling an ad-hoc template's code (mcu/media/sip_adhoc.py, docs/sip.md
"Dial-in"), from the outside: the server started with a template in its settings, watched
over SOAP (zeep from the reference WSDL), the callers simulated SIP room systems
(terminals/sip_room.py).

- a wrong password in the URI, or none, is 403 and books nothing (no conference);
- the right one starts the template's conference, the caller in it as the template's site
  its number (the From user part) names;
- a second room the template does not list dialling the same code joins that conference
  (still one) as a new SIP site, its From URI; each room decodes both markers in the
  template's two-pane picture, the listed one at its 4CIF, the other H.263 at the 4CIF its
  fmtp allows.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from gateway.settings import Settings
from mcu.layouts import layout_mode
from sip.errors import SipCallFailed
from tests.conftest import TESTER
from tests.test_adhoc import settings_with
from tests.test_sip_endpoint import (
    IN_CONFERENCE,
    eventually,
    room,
    site_statuses,
)

TEMPLATE = """
[[adhoc]]
name = "SIP ward round"
access_code = "7101"
password = "123456"
duration_minutes = 60
cp_resource = 4
presence_mode = 2
sites = [{ uri = "7201", name = "Room 7201", type = 7, dialing_mode = 1, video_format = 1 }]
"""
CP_2_1 = layout_mode(2)
PANES = [tuple(pane.as_floats()) for pane in CP_2_1.panes]


@pytest.fixture
def gateway_settings(tmp_path: Path) -> Settings:
    return settings_with(tmp_path, TEMPLATE, call_timeout_seconds=5.0).with_account(*TESTER)


def conferences(soap) -> list[object]:
    return list(soap.conf_mgr.queryConferencesStatusEx(confIds=[]).conferenceStatuses or [])


def uri_of(sip_room) -> str:
    return f"sip:{sip_room.user}@127.0.0.1:{sip_room.ua.transports.ports['UDP']}"


def sees_both(viewer, expected: list[int]):
    async def check() -> bool:
        return sorted(p.site_index for p in await viewer.read_panes()
                      if p.site_index is not None) == expected
    return check


async def test_sip_rooms_dial_a_template_code(gateway_server, soap, rooms):  # noqa: F811
    mcu = f"127.0.0.1:{gateway_server.sip.port}"
    first = await room(rooms, "7201", 61, video_codecs=("h264",), audio_codecs=("g722",))
    second = await room(rooms, "room-adhoc-2", 62, video_codecs=("h263",),
                        audio_codecs=("pcmu",))
    for dialled in (f"sip:7101*000000@{mcu}", f"sip:7101@{mcu}"):
        with pytest.raises(SipCallFailed) as refused:
            await first.dial(dialled)
        assert (refused.value.status, refused.value.reason) == (403, "Wrong Password")
    assert await asyncio.to_thread(conferences, soap) == []  # nothing was booked

    await first.dial(f"sip:7101*123456@{mcu}")
    [status] = await asyncio.to_thread(conferences, soap)
    conf_id = status.id
    assert (status.name, status.status) == ("SIP ward round", 3)
    await eventually(lambda: asyncio.to_thread(
        lambda: getattr(site_statuses(soap, conf_id).get("7201"), "status", None)
        == IN_CONFERENCE), "the first room in conference as the template's site")

    await second.dial(f"sip:7101*123456@{mcu}")
    await eventually(lambda: asyncio.to_thread(
        lambda: getattr(site_statuses(soap, conf_id).get(uri_of(second)), "status", None)
        == IN_CONFERENCE), "the second room in the same conference")
    assert [c.id for c in await asyncio.to_thread(conferences, soap)] == [conf_id]
    assert first.negotiated["video"] == "H264" and second.negotiated["video"] == "H263"
    for viewer in (first, second):
        viewer.set_panes(PANES)
    for viewer in (first, second):
        await eventually(sees_both(viewer, [61, 62]), f"{viewer.user} sees both markers")
    for viewer in (first, second):
        assert (viewer.video.last_frame.width, viewer.video.last_frame.height) == (704, 576)
