"""`mcu-sim terminals --sip` (terminals/sip_room_command.py) in its own process against a
running MCU: the room registers its number with the MCU's registrar, a conference booking
that number over SOAP calls it, and its statistics show the H.263 call (SRTP under
mediaEncryptType 0) and its own marker read in the 4CIF picture it decodes."""

from __future__ import annotations

import asyncio
import time

from tests.sip_room_process import sip_rooms_process
from tests.test_sip_endpoint import IN_CONFERENCE, book, wait_status


async def test_sip_rooms_process_registers_and_is_called_by_number(gateway_server, soap, clock):
    async with sip_rooms_process(
            gateway_server, "--count", "1", "--uri-prefix", "88", "--start-index", "7",
            "--video-codecs", "h263", "--audio-codecs", "pcmu", "--fps", "10",
            "--ring-delay", "0.1") as line_with:
        listening = await line_with("listening sip:8807@127.0.0.1:")
        assert "site index 7" in listening and "registered with" in listening
        conf_id, _ = await asyncio.to_thread(book, soap, clock.now(), ["8807"])
        await wait_status(soap, conf_id, "8807", IN_CONFERENCE, "the room in conference")
        # mediaEncryptType 0 and a room offering SDES: SRTP; alone in the conference, it
        # reads its own marker in what the MCU sends it (H.263 both ways), at the booked 4CIF
        stats = await line_with("in-call audio=PCMU,video=H263 srtp")
        deadline = time.monotonic() + 30
        while "panes=[#7]" not in stats and time.monotonic() < deadline:
            stats = await line_with("in-call")
        assert "704x576 panes=[#7]" in stats


async def test_sip_room_with_content_shares_by_bfcp_from_the_command_line(
        gateway_server, soap, clock):
    """`--content radiograph --share`: the room's call carries a content m-line and a BFCP
    m-line, it asks for the floor once its BFCP connection is up, is granted (the
    conference's presentation over SOAP) and sends its pages."""
    async with sip_rooms_process(
            gateway_server, "--count", "1", "--uri-prefix", "89", "--start-index", "3",
            "--video-codecs", "h264", "--audio-codecs", "pcmu", "--fps", "5",
            "--video-size", "320x240", "--ring-delay", "0.1",
            "--content", "radiograph", "--share") as line_with:
        await line_with("listening sip:8903@127.0.0.1:")
        conf_id, _ = await asyncio.to_thread(book, soap, clock.now(), ["8903"])
        await wait_status(soap, conf_id, "8903", IN_CONFERENCE, "the room in conference")
        await line_with("floor request: GRANTED")
        stats = await line_with("floor=held")
        assert "content=H264" in stats
        answer = await asyncio.to_thread(soap.conf_mgr.queryConferencesStatusEx,
                                         confIds=[conf_id])
        assert answer["conferenceStatuses"][0].presentation == "8903"
        await line_with("sending=yes")
