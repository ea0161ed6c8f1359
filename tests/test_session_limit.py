"""Concurrent sessions per account (`[sessions] max_per_account`; docs/gateway.md
"Sessions"): a login beyond the limit is refused with 1344274480 and evicts nobody; a
session that ends or expires frees its place; other accounts are not affected."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from gateway import result_codes
from gateway.settings import Settings, SettingsError, load_settings
from tests.conftest import DEMO, TESTER, soap_clients

MAX_SESSIONS = 3


@pytest.fixture
def gateway_settings(gateway_settings: Settings) -> Settings:
    return replace(
        gateway_settings,
        max_sessions_per_account=MAX_SESSIONS,
        session_timeout_seconds=timedelta(days=400).total_seconds(),
    )


def test_sessions_beyond_the_account_limit_are_refused_until_one_ends(gateway_server):
    url = gateway_server.base_url
    open_ = [soap_clients(url) for _ in range(MAX_SESSIONS)]
    for clients in open_:
        assert clients.login(*DEMO) == 0
    extra = soap_clients(url)
    assert extra.login(*DEMO) == result_codes.TOO_MANY_SESSIONS
    assert extra.common.KeepAlive() == result_codes.SESSION_INVALID
    # a wrong proof still says only that; the sessions already open are kept
    assert extra.login(DEMO[0], "wrong") == result_codes.WRONG_PASSWORD
    assert all(clients.common.KeepAlive() == 0 for clients in open_)
    # another account is not affected
    assert soap_clients(url).login(*TESTER) == 0
    assert open_[0].common.Logout() == 0
    assert extra.login(*DEMO) == 0
    assert extra.common.KeepAlive() == 0


def test_expired_sessions_do_not_count(gateway_server, clock):
    url = gateway_server.base_url
    for _ in range(MAX_SESSIONS):
        assert soap_clients(url).login(*DEMO) == 0
    assert soap_clients(url).login(*DEMO) == result_codes.TOO_MANY_SESSIONS
    clock.advance(timedelta(days=401))
    assert soap_clients(url).login(*DEMO) == 0


def test_the_limit_is_a_setting_with_a_default_and_a_floor(tmp_path):
    assert load_settings(data_dir=tmp_path).max_sessions_per_account == 16
    config = tmp_path / "mcu.toml"
    config.write_text("[sessions]\nmax_per_account = 0\n")
    with pytest.raises(SettingsError, match="max_per_account"):
        load_settings(config, data_dir=tmp_path)


@pytest.mark.parametrize("name", [" demo", "demo ", "d" * 65])
def test_an_account_no_login_could_name_is_refused_at_start(tmp_path, name):
    # logins are trimmed and bounded (gateway/wire.py MAX_CHARS["userName"])
    config = tmp_path / "mcu.toml"
    config.write_text(f'[accounts]\n"{name}" = "{"0" * 64}"\n')
    with pytest.raises(SettingsError, match="account"):
        load_settings(config, data_dir=tmp_path)
