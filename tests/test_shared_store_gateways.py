"""Two gateways serving one platform: two real `mcu-sim serve` processes with the same
[store] url (one PostgreSQL database, tests/postgres_server.py), driven through SOAP with
zeep built from the reference WSDL. Bookings on both at once get distinct conference ids and
each gateway answers for the other's; a booking is refused on one gateway when it conflicts
with one made on the other; a gateway killed with SIGKILL right after answering keeps that
answer (the other gateway, and the killed one started again, report it).

Bookings are a day ahead, so no conference starts on either gateway during the test."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from app.child_process import dies_with_parent
from gateway import result_codes
from mcu.errors import Fault
from tests.conftest import DEMO, SoapClients, soap_clients
from tests.test_restart_persistence import PROJECT, ServerProcess, conference

SHANGHAI = timezone(timedelta(hours=8))
SITE_BUSY = result_codes.result_code(Fault.SITE_BUSY)


class Gateway(ServerProcess):
    """`mcu-sim serve --config <file with [store] url>` with its own data dir."""

    def __init__(self, config: Path, data_dir: Path) -> None:  # not ServerProcess.__init__: another command line
        self.process = subprocess.Popen(
            dies_with_parent([sys.executable, "-m", "app.cli", "serve", "--sip-port", "0", "--config", str(config),
                              "--port", "0", "--data-dir", str(data_dir), "--no-terminals"]),
            cwd=PROJECT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.base_url = self._wait_for_url()

    def login(self) -> SoapClients:
        clients = soap_clients(self.base_url)
        assert clients.login(*DEMO) == 0
        return clients


@pytest.fixture
def config(postgres_url: str, tmp_path: Path) -> Path:
    path = tmp_path / "mcu.toml"
    path.write_text(f'[store]\nurl = "{postgres_url}"\n', encoding="utf-8")
    return path


@pytest.fixture
def gateways(config: Path, tmp_path: Path) -> Iterator[list[Gateway]]:
    started: list[Gateway] = []
    try:
        for name in ("a", "b"):
            started.append(Gateway(config, tmp_path / name))
        yield started
    finally:
        for gateway in started:
            gateway.stop()


def tomorrow() -> datetime:
    at = (datetime.now(UTC) + timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
    return at.astimezone(SHANGHAI)


def all_conferences(soap: SoapClients) -> dict[str, str]:
    """confId -> name of every conference the gateway reports."""
    answer = soap.conf_mgr.queryConferencesStatusEx(confIds=[])
    assert answer.resultCode == 0, answer
    return {status.id: status.name for status in answer.conferenceStatuses}


def test_two_gateways_book_at_once_and_answer_for_each_other(gateways: list[Gateway]) -> None:
    clients = [gateway.login() for gateway in gateways]
    begin = tomorrow()
    per_gateway = 6
    booked: dict[int, list[tuple[str, str]]] = {0: [], 1: []}
    errors: list[BaseException] = []
    go = threading.Barrier(2)

    def book(index: int) -> None:
        try:
            go.wait()
            for n in range(per_gateway):
                name = f"gw{index}-{n}"
                answer = clients[index].conf_mgr.scheduleConfEx(scheduleConf=conference(
                    name, begin + timedelta(hours=n), [f"7{index}{n:03d}"]))
                assert answer.resultCode == 0, answer
                booked[index].append((answer.conferenceInfo.confId, name))
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=book, args=(index,)) for index in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not errors, errors
    expected = dict(booked[0] + booked[1])
    assert len(expected) == 2 * per_gateway  # distinct conference ids
    for soap in clients:  # each gateway answers for all of them, the other's included
        assert all_conferences(soap) == expected

    # a site booked through gateway a is busy for gateway b
    first = clients[0].conf_mgr.scheduleConfEx(
        scheduleConf=conference("on a", begin + timedelta(hours=12), ["79999"]))
    assert first.resultCode == 0, first
    clash = clients[1].conf_mgr.scheduleConfEx(
        scheduleConf=conference("on b", begin + timedelta(hours=12), ["79999"]))
    assert clash.resultCode == SITE_BUSY and clash.conferenceInfo is None
    # an edit through b of a's conference is seen by a
    edit = conference("renamed on b", begin + timedelta(hours=13), ["79999"])
    edited = clients[1].conf_mgr.editScheduledConfEx(
        editConf={**edit, "confId": first.conferenceInfo.confId})
    assert edited.resultCode == 0, edited
    assert all_conferences(clients[0])[first.conferenceInfo.confId] == "renamed on b"


def test_a_gateway_killed_right_after_answering_keeps_its_answer(
        gateways: list[Gateway], config: Path, tmp_path: Path) -> None:
    a, b = gateways
    soap_a, soap_b = a.login(), b.login()
    answer = soap_a.conf_mgr.scheduleConfEx(
        scheduleConf=conference("kept", tomorrow(), ["78001"]))
    a.kill()  # at once: nothing of a's runs after the answer
    assert answer.resultCode == 0, answer
    conf_id, access_code = answer.conferenceInfo.confId, answer.conferenceInfo.accessCode

    assert all_conferences(soap_b) == {conf_id: "kept"}
    restarted = Gateway(config, tmp_path / "a")
    gateways.append(restarted)
    soap_a = restarted.login()
    assert all_conferences(soap_a) == {conf_id: "kept"}
    # the stored booking, not a look-alike: an edit keeps the access code it was answered with
    edited = soap_a.conf_mgr.editScheduledConfEx(
        editConf={**conference("kept", tomorrow(), ["78001"]), "confId": conf_id})
    assert edited.resultCode == 0 and edited.conferenceInfo.accessCode == access_code
    # the ids go on after it on both
    after = soap_b.conf_mgr.scheduleConfEx(
        scheduleConf=conference("after", tomorrow() + timedelta(hours=2), ["78002"]))
    assert after.resultCode == 0 and int(after.conferenceInfo.confId) == int(conf_id) + 1
