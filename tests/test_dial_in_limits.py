"""Dial-in brute-force protection (docs/security.md, "Dial-in attempts", "Access codes"):
failed `join`s are limited per socket, per URI and per access code with a growing delay and
a lock; a site not booked learns nothing about the password; access codes are random and
unique. Driven through the real /signalling of a running server, on its manual clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest

from app.process import running_server
from gateway.server import dial_in_settings
from gateway.settings import SettingsError, load_settings
from gateway.signalling import SIGNALLING
from mcu.booking_rules import draw_access_code
from mcu.clock import ManualClock
from mcu.dial_in_limits import DialInLimitSettings
from mcu.errors import DomainError, Fault
from mcu.model import ConferenceSpec, SiteCallState
from rtc.signalling import Join
from tests.test_media_engine import BLUE_RGB, RED_RGB, PeerTerminal, eventually
from tests.test_signalling import A, B, C, errors, schedule, site_states

DUMMY_SDP = "v=0\r\n"  # never read: every join below is refused before its offer is


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator:
    clock = ManualClock()
    settings = load_settings(
        port=0, data_dir=tmp_path, call_timeout_seconds=5.0, media_timeout_seconds=5.0,
        dial_in_lock_attempts=5, dial_in_code_lock_attempts=6, dial_in_lock_minutes=1.0,
        dial_in_delay_after=2, dial_in_delay_seconds=1.0, dial_in_max_delay_seconds=4.0,
    )
    async with running_server(settings, clock=clock) as running:
        # the dial-in limits under test, not the per-connection message rate
        # (tests/test_connection_limits.py): 2,000 guesses in a burst pass the rate limiter
        hub = running.app[SIGNALLING]
        hub.rate_per_second, hub.rate_burst = 100_000.0, 100_000
        running.clock = clock
        yield running


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def registered(server, http, uri: str, rgb=BLUE_RGB) -> PeerTerminal:
    terminal = PeerTerminal(uri, rgb)
    await terminal.register(http, server.url("/signalling"))
    await eventually(lambda: uri in server.gateway.runtime.registry, what=f"{uri} registered")
    return terminal


async def join(terminal: PeerTerminal, code: str, password: str, call_id: str) -> dict:
    """A join with a placeholder offer; the `error` it is answered with."""
    before = len(errors(terminal))
    await terminal.ws.send_str(Join(call_id, code, password, DUMMY_SDP).to_json())
    await eventually(lambda: len(errors(terminal)) > before, what=f"answer to {call_id}")
    answer = errors(terminal)[-1]
    assert answer["call_id"] == call_id
    return answer


async def test_wrong_passwords_meet_a_growing_delay_then_a_lock(server, http):
    blue = await registered(server, http, B)
    conf_id = schedule(server, [A, B], password="123456")
    code = server.gateway.scheduler.get(conf_id).access_code
    clock = server.clock

    assert (await join(blue, code, "000001", "w1"))["code"] == "wrong_password"
    assert (await join(blue, code, "000002", "w2"))["code"] == "wrong_password"
    # after delay_after (2) failures the next attempt waits 1 s, then 2 s, 4 s
    delayed = await join(blue, code, "000003", "w3")
    assert delayed["code"] == "locked" and "retry in 1 s" in delayed["message"]
    clock.advance(timedelta(seconds=1))
    assert (await join(blue, code, "000003", "w3b"))["code"] == "wrong_password"
    clock.advance(timedelta(seconds=1))
    assert (await join(blue, code, "000004", "w4"))["code"] == "locked"  # 2 s now
    clock.advance(timedelta(seconds=1))
    assert (await join(blue, code, "000004", "w4b"))["code"] == "wrong_password"
    clock.advance(timedelta(seconds=4))
    # the 5th failure of this socket and URI locks them for lock_minutes
    assert (await join(blue, code, "000005", "w5"))["code"] == "wrong_password"

    # 2,000 guesses now: every one refused as locked, none gets to the password
    for n in range(2000):
        await blue.ws.send_str(Join(f"g{n}", code, f"{n:06d}", DUMMY_SDP).to_json())
    await eventually(lambda: len(errors(blue)) >= 5 + 2 + 2000, what="2000 answers")
    guesses = [m for m in errors(blue) if m["call_id"].startswith("g")]
    assert len(guesses) == 2000 and {m["code"] for m in guesses} == {"locked"}
    # the right password is refused too while locked
    assert (await join(blue, code, "123456", "right-but-locked"))["code"] == "locked"
    assert site_states(server, conf_id)[B] is SiteCallState.NOT_JOINED

    # a new socket for the same URI is still locked (the URI's and the code's count)
    await blue.close()
    blue = await registered(server, http, B)
    assert (await join(blue, code, "123456", "new-socket"))["code"] == "locked"

    clock.advance(timedelta(minutes=1, seconds=1))
    await blue.dial_in(code, "123456", call_id="after-lock")
    await eventually(lambda: "joined" in blue.received, what="joined after the lock")
    await eventually(lambda: site_states(server, conf_id)[B] is SiteCallState.IN_CONFERENCE,
                     what="in conference")
    await blue.close()


async def test_an_access_code_is_locked_by_wrong_passwords_from_several_sites(server, http):
    red = await registered(server, http, A, RED_RGB)
    blue = await registered(server, http, B)
    green = await registered(server, http, C)
    conf_id = schedule(server, [A, B, C], password="123456")
    code = server.gateway.scheduler.get(conf_id).access_code
    # code_lock_attempts (6) wrong passwords for the code, three from each of two sites;
    # the clock steps past each growing delay (the code's own too: it has one)
    for call_id in ("r1", "b1", "r2", "b2", "r3", "b3"):
        terminal = red if call_id[0] == "r" else blue
        assert (await join(terminal, code, "000001", call_id))["code"] == "wrong_password"
        server.clock.advance(timedelta(seconds=4))
    # the code is locked for everybody, right password included, a fresh site too
    locked = await join(green, code, "123456", "g1")
    assert locked["code"] == "locked" and "access_code" in locked["message"]
    assert (await join(blue, code, "123456", "b4"))["code"] == "locked"
    # other codes are not
    assert (await join(red, "10", "123456", "other-code"))["code"] == "conference_not_found"
    for terminal in (red, blue, green):
        await terminal.close()


async def test_a_site_not_booked_learns_nothing_about_the_password(server, http):
    outsider = await registered(server, http, C)
    conf_id = schedule(server, [A, B], password="123456")
    code = server.gateway.scheduler.get(conf_id).access_code
    right = await join(outsider, code, "123456", "right")
    wrong = await join(outsider, code, "654321", "wrong")
    assert right["code"] == wrong["code"] == "dial_in_refused"
    assert right["message"] == wrong["message"]
    assert C not in site_states(server, conf_id)
    await outsider.close()


async def test_unknown_access_codes_count_against_the_socket_and_uri(server, http):
    red = await registered(server, http, A, RED_RGB)
    clock = server.clock
    answers = []
    for n in range(5):
        answers.append((await join(red, f"9{n:07d}", "123456", f"c{n}"))["code"])
        clock.advance(timedelta(seconds=4))  # past any delay
    assert answers == ["conference_not_found"] * 5
    assert (await join(red, "98888888", "123456", "c5"))["code"] == "locked"
    await red.close()


def test_drawn_access_codes_skip_taken_ones_and_fill_a_small_space():
    taken = {str(n) for n in range(1, 9)}  # one-digit codes without a leading zero: 1..9
    assert draw_access_code(1, taken) == "9"
    with pytest.raises(DomainError) as refused:
        draw_access_code(1, taken | {"9"})
    assert refused.value.fault is Fault.CAPACITY_EXCEEDED


async def test_access_codes_are_random_and_unique(server):
    scheduler, clock = server.gateway.scheduler, server.clock
    codes = []
    for n in range(300):
        spec = ConferenceSpec(f"c{n}", clock.now() + timedelta(hours=2 * n + 1), timedelta(hours=1))
        codes.append(scheduler.schedule(spec).access_code)
    assert len(set(codes)) == len(codes)
    assert all(len(code) == 8 and code[0] != "0" and code.isdigit() for code in codes)
    steps = [int(b) - int(a) for a, b in zip(codes, codes[1:], strict=False)]
    assert sum(1 for step in steps if step == 1) < 3  # sequential codes would all step by 1
    assert codes != sorted(codes)


def test_limit_settings_are_read_from_a_config_file_and_checked(tmp_path):
    config = tmp_path / "gw.toml"
    config.write_text("[sessions]\nunknown_user_attempts = 7\n"
                      "[dial_in]\nlock_attempts = 4\ncode_lock_attempts = 9\nlock_minutes = 2\n"
                      "delay_after = 1\ndelay_seconds = 0.5\nmax_delay_seconds = 8\n")
    settings = load_settings(config)
    assert settings.unknown_user_attempts == 7
    assert dial_in_settings(settings) == DialInLimitSettings(4, 9, 2.0, 1, 0.5, 8.0)
    defaults = load_settings()
    assert (defaults.unknown_user_attempts, dial_in_settings(defaults)) == (
        20, DialInLimitSettings())
    for bad in ("[dial_in]\nlock_attempts = 0\n", "[dial_in]\nlock_minutes = 0\n",
                "[dial_in]\ndelay_seconds = -1\n", "[sessions]\nunknown_user_attempts = 0\n",
                "[dial_in]\nlock_after = 3\n"):
        config.write_text(bad)
        with pytest.raises(SettingsError):
            load_settings(config)
