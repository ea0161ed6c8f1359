"""A simulated terminal stopped while it is still closing a call the MCU ended.

The MCU's Bye ends the call inside the terminal's signalling task; the terminal is idle at
once and closes its peer connection after. stop() cancels that task: before the fix the
cancel cut RTCPeerConnection.close() short, and the receivers it had not reached yet kept
their decoder threads waiting for ever (two of them held a CI run's exit). Now the close
runs to its end and stop() waits for it."""

from __future__ import annotations

import asyncio

from aiortc import RTCPeerConnection

from rtc.deadline import within
from terminals.call_state import CallState
from terminals.client import SimulatedTerminal
from tests.test_booked_protocols import book, terminal
from tests.test_cdr import eventually, ws_url


def decoder_threads_left(pc: RTCPeerConnection) -> list:
    """The receivers' decoder threads still set: aiortc clears one when it stops it."""
    return [thread for transceiver in pc.getTransceivers()
            if (thread := transceiver.receiver._RTCRtpReceiver__decoder_thread) is not None]


async def stop_right_after_the_bye(gateway_server, soap, clock,
                                   t: SimulatedTerminal) -> RTCPeerConnection:
    """Book `t`, let the MCU end its call and stop `t` the moment it is idle; its call's
    peer connection."""
    await t.start(ws_url(gateway_server.base_url))
    try:
        conf_id = await asyncio.to_thread(book, soap, clock.now(), t.uri)
        await eventually(lambda: t.state == CallState.IN_CALL, "in call")
        assert t._call is not None
        pc = t._call.pc
        assert decoder_threads_left(pc), "the receivers started (their threads run)"
        assert await asyncio.to_thread(
            soap.conf_mgr.disconnectSitesEx, confId=conf_id, siteUris=[t.uri]) == 0

        async def idle() -> None:
            while t.state != CallState.IDLE:
                await asyncio.sleep(0)

        await within(idle(), 30)
    finally:
        await t.stop()
    return pc


async def test_a_stop_right_after_the_mcu_s_bye_closes_the_call_to_its_end(
        gateway_server, soap, clock) -> None:
    for attempt in range(3):  # the race is the test's: stop the moment the terminal is idle
        pc = await stop_right_after_the_bye(gateway_server, soap, clock,
                                            terminal(f"018890{attempt}", 49 + attempt))
        assert pc.connectionState == "closed"
        assert decoder_threads_left(pc) == []
