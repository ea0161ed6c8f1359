"""app/demo/soap_client.keep_session_alive: the demo's SOAP session outlives waits without
SOAP longer than the session's 60 s (a real server, its clock moved on by hand; zeep from
the reference WSDL)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from app.demo.soap_client import EsdkClient, SoapError, check, keep_session_alive
from app.process import running_server
from gateway.settings import load_settings
from mcu.clock import ManualClock


async def idle_for(clock: ManualClock, seconds: float, keepalive_every_s: float) -> None:
    """Move the server's clock on by `seconds` in steps, giving a keeper time to run."""
    for _ in range(int(seconds // 10)):
        clock.advance(timedelta(seconds=10))
        await asyncio.sleep(keepalive_every_s * 3)


async def test_the_session_outlives_a_long_wait_with_the_keeper_and_lapses_without(tmp_path):
    clock = ManualClock()
    settings = load_settings(port=0, data_dir=tmp_path)
    async with running_server(settings, clock=clock) as server:
        kept = await asyncio.to_thread(EsdkClient.connect, server.base_url)
        await asyncio.to_thread(kept.login, "demo", "Demo@123")
        bare = await asyncio.to_thread(EsdkClient.connect, server.base_url)
        await asyncio.to_thread(bare.login, "demo", "Demo@123")
        keeper = asyncio.create_task(keep_session_alive(kept, every_s=0.05))
        try:
            await idle_for(clock, 130, 0.05)  # over twice the session's 60 s
        finally:
            keeper.cancel()
        check(await asyncio.to_thread(kept.common.KeepAlive), "KeepAlive")
        with pytest.raises(SoapError, match="571052032"):
            check(await asyncio.to_thread(bare.common.KeepAlive), "KeepAlive")
