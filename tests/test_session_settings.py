"""Session settings reach the wire: a configured session timeout and lock policy."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from gateway import result_codes
from gateway.settings import Settings
from tests.conftest import DEMO, soap_clients


@pytest.fixture
def gateway_settings(gateway_settings: Settings) -> Settings:
    return replace(gateway_settings, session_timeout_seconds=5, lock_attempts=2, lock_minutes=1)


def test_a_configured_timeout_ends_sessions_sooner(soap, clock):
    clock.advance(timedelta(seconds=4))
    assert soap.common.KeepAlive() == 0
    clock.advance(timedelta(seconds=5))  # exactly the timeout since the last request
    assert soap.common.KeepAlive() == 0
    clock.advance(timedelta(seconds=6))
    assert soap.common.KeepAlive() == result_codes.SESSION_INVALID


def test_a_configured_lock_policy(gateway_server, clock):
    clients = soap_clients(gateway_server.base_url)
    assert clients.login("demo", "wrong") == result_codes.WRONG_PASSWORD
    assert clients.login("demo", "wrong") == result_codes.ACCOUNT_LOCKED
    assert clients.login(*DEMO) == result_codes.ACCOUNT_LOCKED
    clock.advance(timedelta(seconds=61))
    assert clients.login(*DEMO) == 0
