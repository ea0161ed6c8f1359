"""The whole server, killed with SIGKILL and started again on the same data directory,
answers for everything it had answered for: conferences, occurrences, edits,
prolongations, deleted occurrences (synchSiteStatusEx tombstones) and the site directory;
a request it refused left nothing behind; and the getPublicKey key is the same.

The server runs as `python -m app.cli serve --port 0 --data-dir <tmp>` (a real process
on the system clock, bookings a day ahead so no life cycle moves during the test) and is
driven through zeep built from the reference WSDL.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from lxml import etree
from zeep.helpers import serialize_object

from app.child_process import dies_with_parent
from gateway import result_codes
from mcu.errors import Fault
from tests.conftest import DEMO, SoapClients, envelope, soap_clients

PROJECT = Path(__file__).resolve().parent.parent
SHANGHAI = timezone(timedelta(hours=8))
SERVING = re.compile(r"mcu-sim serving on (http://127\.0\.0\.1:\d+)")
OUT_OF_RANGE = result_codes.result_code(Fault.OUT_OF_RANGE)
FREE, BUSY, UNKNOWN_SITE = 0, 1, 2

PLAIN_SITE, SERIES_SITE, GONE_SITE, REFUSED_SITE, ADDED_SITE = (
    "61001",
    "61002",
    "61003",
    "61004",
    "61005",
)
ALL_SITES = [PLAIN_SITE, SERIES_SITE, GONE_SITE, REFUSED_SITE, ADDED_SITE]


class ServerProcess:
    """`mcu-sim serve` in a child process; `base_url` once it says it is serving."""

    def __init__(self, data_dir: Path) -> None:
        # killed with pytest, but only when started from the main thread: the kernel ties
        # the death signal to the starting thread, and test_cdr.py starts servers from
        # asyncio.to_thread (a worker thread that may end before the server should)
        wrap = dies_with_parent if threading.current_thread() is threading.main_thread() \
            else list
        self.process = subprocess.Popen(
            wrap([
                sys.executable,
                "-m",
                "app.cli",
                "serve",
                "--sip-port",
                "0",
                "--port",
                "0",
                "--data-dir",
                str(data_dir),
                "--no-terminals",
            ]),
            cwd=PROJECT,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.base_url = self._wait_for_url()

    def _wait_for_url(self) -> str:
        assert self.process.stdout is not None
        for line in self.process.stdout:  # ends when the process dies
            found = SERVING.search(line)
            if found:
                return found.group(1)
        raise RuntimeError(f"mcu-sim serve exited with {self.process.wait()} before serving")

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, only what was committed survives."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)
        assert self.process.returncode == -signal.SIGKILL

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)
        if self.process.stdout is not None:
            self.process.stdout.close()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def started(data_dir: Path) -> Iterator[list[ServerProcess]]:
    """Every server process a test starts, all stopped at the end."""
    processes: list[ServerProcess] = []
    yield processes
    for process in processes:
        process.stop()


def start(processes: list[ServerProcess], data_dir: Path) -> SoapClients:
    process = ServerProcess(data_dir)
    processes.append(process)
    clients = soap_clients(process.base_url)
    assert clients.login(*DEMO) == 0
    return clients


def site(uri: str) -> dict:
    return {"name": f"site {uri}", "uri": uri, "type": 4, "from": 0, "dialingMode": 0}


def conference(name: str, begin: datetime, uris: list[str], **extra) -> dict:
    info = {
        "name": name,
        "beginTime": begin,
        "duration": timedelta(hours=1),
        "password": "482910",
        "mediaEncryptType": 0,
        "cpResouce": 4,
        "presentation": 0,
        "sites": [site(uri) for uri in uris],
    }
    info.update(extra)
    return info


def snapshot(soap: SoapClients, conf_ids: list[str], window: tuple[datetime, timedelta]) -> dict:
    """What the server answers about all of it, as plain data."""
    statuses = soap.conf_mgr.queryConferencesStatusEx(confIds=conf_ids)
    free_busy = soap.conf_mgr.querySiteStatusEx(
        siteUris=ALL_SITES, beginTime=window[0], duration=window[1]
    )
    synch = soap.conf_mgr.synchSiteStatusEx(
        siteUris=ALL_SITES, beginTime=window[0], duration=window[1]
    )
    directory = soap.conf_mgr.querySitesEx()
    answers = {
        "statuses": statuses,
        "free_busy": free_busy,
        "synch": synch,
        "directory": directory,
    }
    for name, answer in answers.items():
        assert answer.resultCode == 0, (name, answer)
    return {name: serialize_object(answer, dict) for name, answer in answers.items()}


def public_key(soap: SoapClients, base_url: str) -> str:
    """getPublicKey (not in the reference WSDL, so posted as XML) in this session."""
    response = soap.http.post(
        base_url + "/esdk/services/tpCommon",
        data=envelope('<p:getPublicKey xmlns:p="esdk_platform"/>'),
        headers={"Content-Type": "text/xml; charset=utf-8"},
        timeout=30,
    )
    answer = etree.fromstring(response.content)[-1][0]
    assert answer.findtext("resultCode") == "0", response.text
    return answer.findtext("publicKey")


def states_of(answer: dict, uri: str) -> list[dict]:
    (entry,) = [item for item in answer["siteFreeBusyStates"] if item["uri"] == uri]
    return entry["states"]


def test_a_killed_server_restarts_with_everything_it_answered(data_dir, started):
    soap = start(started, data_dir)
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
    begin = tomorrow.astimezone(SHANGHAI)
    window = (begin - timedelta(hours=1), timedelta(days=6))

    plain = soap.conf_mgr.scheduleConfEx(scheduleConf=conference("plain", begin, [PLAIN_SITE]))
    assert plain.resultCode == 0, plain
    plain_id = plain.conferenceInfo.confId

    series_info = conference(
        "series", begin, [SERIES_SITE], frequency=0, interval=1, count=4, weekDay=0, monthDay=0
    )
    series = soap.conf_mgr.scheduleRecurrenceConferenceEx(scheduleConf=series_info)
    assert series.resultCode == 0, series
    series_id = series.recurrenceConfInfo.confId
    occurrences = sorted({info.beginTime for info in series.recurrenceConfInfo.siteAccessInfos})
    assert len(occurrences) == 4

    edit = conference("plain, edited", begin + timedelta(hours=2), [PLAIN_SITE, ADDED_SITE])
    edited = soap.conf_mgr.editScheduledConfEx(editConf={**edit, "confId": plain_id})
    assert edited.resultCode == 0, edited

    prolonged = soap.conf_mgr.prolongScheduledConfEx(
        confId=series_id, beginDate=occurrences[1], prolongTime=timedelta(minutes=15)
    )
    assert prolonged == 0
    assert soap.conf_mgr.delScheduledConfEx(confId=series_id, beginTime=occurrences[2]) == 0

    gone = soap.conf_mgr.scheduleConfEx(scheduleConf=conference("gone", begin, [GONE_SITE]))
    assert gone.resultCode == 0, gone
    gone_id = gone.conferenceInfo.confId
    assert soap.conf_mgr.delScheduledConfEx(confId=gone_id) == 0

    directory_site = {"name": "Radiology", "uri": "61100", "type": 4, "rate": "1920k"}
    assert soap.site_mgr.addSiteInfoEx(orgId="1", siteInfo=directory_site) == 0

    refused = soap.conf_mgr.scheduleConfEx(
        scheduleConf=conference("refused", begin, [REFUSED_SITE], cpResouce=11)
    )
    assert refused.resultCode == OUT_OF_RANGE and refused.conferenceInfo is None

    conf_ids = [plain_id, series_id]
    before = snapshot(soap, conf_ids, window)
    all_before = serialize_object(soap.conf_mgr.queryConferencesStatusEx(confIds=[]), dict)

    key_before = public_key(soap, started[-1].base_url)

    started[-1].kill()
    soap = start(started, data_dir)
    after = snapshot(soap, conf_ids, window)  # a new session: synch answers since revision 0
    assert after == before
    all_after = serialize_object(soap.conf_mgr.queryConferencesStatusEx(confIds=[]), dict)
    assert all_after == all_before

    # passwords encrypted with the key handed out before still decrypt
    assert public_key(soap, started[-1].base_url) == key_before

    # and what that means, piece by piece
    statuses = {status["id"]: status for status in after["statuses"]["conferenceStatuses"]}
    assert statuses[plain_id]["name"] == "plain, edited"
    assert statuses[plain_id]["beginTime"] == begin + timedelta(hours=2)
    assert statuses[series_id]["status"] == 2  # scheduled
    (gone_status,) = soap.conf_mgr.queryConferencesStatusEx(confIds=[gone_id]).conferenceStatuses
    assert gone_status.status == 1  # deleted: does not exist
    assert {status["id"] for status in all_after["conferenceStatuses"]} == {plain_id, series_id}

    busy = after["free_busy"]
    assert [(s["startTime"], s["state"], s["confId"]) for s in states_of(busy, ADDED_SITE)] == [
        (begin + timedelta(hours=2), BUSY, plain_id)
    ]
    series_busy = [(s["startTime"], s["span"]) for s in states_of(busy, SERIES_SITE)]
    assert series_busy == [
        (occurrences[0], timedelta(hours=1)),
        (occurrences[1], timedelta(minutes=75)),  # prolonged
        (occurrences[3], timedelta(hours=1)),  # the third was deleted
    ]
    # the refusal left nothing: the site is not even known (state 2, unknown site)
    assert [s["state"] for s in states_of(busy, REFUSED_SITE)] == [UNKNOWN_SITE]

    synch = after["synch"]
    tombstones = {
        (uri, s["confId"], s["startTime"])
        for uri in (SERIES_SITE, GONE_SITE)
        for s in states_of(synch, uri)
        if s["state"] == FREE
    }
    assert (SERIES_SITE, series_id, occurrences[2]) in tombstones
    assert (GONE_SITE, gone_id, begin) in tombstones
    assert [(s["state"], s["confId"]) for s in states_of(synch, REFUSED_SITE)] == [
        (UNKNOWN_SITE, None)
    ]

    listed = {entry["uri"]: entry for entry in after["directory"]["siteInfos"]}
    assert listed["61100"]["name"] == "Radiology"
    assert listed["61100"]["rate"] == "1920k"
