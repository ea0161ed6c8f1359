"""Shared fixtures: a real gateway on 127.0.0.1 (free port, temp data dir, manual clock) and
zeep clients built from the reference WSDL pointed at it.

The server runs in-process on its own event loop in a thread, so synchronous clients
(zeep, requests) can drive it from a test while the test still reaches its internals
(`gateway_server.gateway.scheduler`, `clock.advance(...)`).

Fixtures:
- `clock`: the ManualClock the server (sessions, scheduler) runs on.
- `gateway_settings`: Settings for it (port 0, tmp data dir, demo + tester accounts);
  override in a test module to change e.g. session timeout or enum numbering.
- `gateway_server`: the running server (`.base_url`, `.url(path)`, `.gateway`).
- `soap`: zeep services logged in as `demo` (`.common`, `.conf_mgr`, `.conf_ctrl`,
  `.site_mgr`, `.terminal_conf_ctrl`), one HTTP session with the JSESSIONID cookie.
- `soap_login`: a function (user, password) -> another logged-in `SoapClients`.
- `post_raw`: post raw bytes (content type, path) and get the `requests.Response`.
- `postgres_server`: one real PostgreSQL server for the session (tests/postgres_server.py);
  `postgres_url`: the URL of a new empty schema on it, one per test.
- `recordings_are_playable` (autouse, tests/recording_check.py): after each test, every
  recordings/**/*.mp4 under its tmp_path is opened and decoded with PyAV; an unplayable
  one fails the test (`@pytest.mark.stand_in_recordings` for a test's stand-in files).
- `store_url`: parametrized over the two store backends: "" (SQLite, the default) and a
  `postgres_url`; `open_test_store(url, path)` opens the store either names.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
import zeep
from zeep.transports import Transport

import gateway.settings
from app.process import RunningServer, running_server
from gateway.sessions import expected_proof
from gateway.settings import Settings, load_settings, password_digest
from mcu.clock import ManualClock
from mcu.reference import REFERENCE_WSDL, SOAP_EXAMPLES  # noqa: F401 - re-exported to tests
from mcu.store import Store
from mcu.store_api import SchedulerStore, open_store
from rtc import aiortc_hooks
from terminals.sip_room import SipRoom
from tests.exit_watchdog import (  # noqa: F401 - a process that outlives its session says why
    pytest_sessionfinish,
)
from tests.fuzz_profiles import load_profile
from tests.postgres_server import PostgresServer
from tests.recording_check import (  # noqa: F401 - every recording a test leaves is opened
    module_recordings_are_playable,
    pytest_configure,
    recordings_are_playable,
)

# As at the start of every `mcu-sim` command: aiortc's and aioice's process-wide replacements
# (rtc/aiortc_hooks.py), for every test, before any test module is imported.
aiortc_hooks.install()

# The fuzzing suite's hypothesis profile: `ci` unless HYPOTHESIS_PROFILE names another
# (`make fuzz`: `fuzz`); tests/fuzz_profiles.py.
load_profile()

TNS = "http://smc.huawei.com/"

SOAP_TIMEOUT_S = 120  # the longest a test's SOAP call may wait for its answer

DEMO = ("demo", "Demo@123")
TESTER = ("tester", "Tester@456")

# reference binding -> path on our server (eSDK naming)
BINDING_PATHS = {
    "common": ("TP.Commonbinding", "/esdk/services/tpCommon"),
    "conf_mgr": ("TPProfessional.ConfMgrbinding", "/esdk/services/tpProfessionalConfMgr"),
    "conf_ctrl": ("TPProfessional.ConfCtrbinding", "/esdk/services/tpProfessionalConfCtrl"),
    "terminal_conf_ctrl": (
        "TPProfessional.TerminalConfCtrbinding",
        "/esdk/services/tpProfessionalConfCtrl",
    ),
    "site_mgr": ("TPProfessional.SiteMgrbinding", "/esdk/services/tpProfessionalSiteMgr"),
}


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    server = PostgresServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    return postgres_server.new_url()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest) -> str:
    """"" for the SQLite store (in the test's data dir), or a PostgreSQL schema's URL."""
    return "" if request.param == "sqlite" else str(request.getfixturevalue("postgres_url"))


def open_test_store(url: str, path: Path) -> SchedulerStore:
    """The PostgreSQL store at `url`, or with url "" the SQLite store at `path`."""
    if url:
        return open_store(url, path.parent)
    return Store(path)


class ServerThread:
    """running_server() on a private event loop in a daemon thread."""

    def __init__(self, settings: Settings, clock: ManualClock) -> None:
        self._settings = settings
        self._clock = clock
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._error: BaseException | None = None
        self.server: RunningServer | None = None
        self._thread = threading.Thread(target=self._run, name="gateway", daemon=True)

    def start(self) -> RunningServer:
        self._thread.start()
        if not self._ready.wait(timeout=30):
            raise RuntimeError("gateway did not start")
        if self._error is not None:
            raise self._error
        assert self.server is not None
        return self.server

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=30)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as error:  # reported to the starting test
            self._error = error
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with running_server(self._settings, clock=self._clock) as server:
            self.server = server
            self._ready.set()
            await self._stop.wait()


def _ephemeral_sip_port() -> None:
    """Servers started in the tests' process take an ephemeral [sip] port instead of the
    default 5060 (many servers, other test runs and maybe a real SIP program share the
    machine). Patched when this conftest is imported, before any fixture of any scope, so
    module- and session-scoped servers get it too; a test may still set sip_port through
    load_settings' overrides. `mcu-sim serve` child processes are given --sip-port 0."""
    from_table = gateway.settings._from_table
    gateway.settings._from_table = (  # type: ignore[assignment]
        lambda table: dataclasses.replace(from_table(table), sip_port=0))


_ephemeral_sip_port()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def gateway_settings(tmp_path: Path) -> Settings:
    settings = load_settings(port=0, data_dir=tmp_path / "data")
    return settings.with_account(*TESTER)


@pytest.fixture
def gateway_server(gateway_settings: Settings, clock: ManualClock) -> Iterator[RunningServer]:
    thread = ServerThread(gateway_settings, clock)
    server = thread.start()
    try:
        yield server
    finally:
        thread.stop()


@dataclass
class SoapClients:
    """zeep services of the reference WSDL sharing one HTTP session (one JSESSIONID)."""

    http: requests.Session
    client: zeep.Client
    common: zeep.proxy.ServiceProxy
    conf_mgr: zeep.proxy.ServiceProxy
    conf_ctrl: zeep.proxy.ServiceProxy
    terminal_conf_ctrl: zeep.proxy.ServiceProxy
    site_mgr: zeep.proxy.ServiceProxy

    @property
    def session_id(self) -> str | None:
        return self.http.cookies.get("JSESSIONID")

    def login(self, user: str, password: str) -> int:
        """LoginRequest + Authenticate; the Authenticate resultCode (0 on success)."""
        challenge = self.common.LoginRequest(userName=user, clientType="API", version=1)
        if challenge.resultCode != 0:
            return challenge.resultCode
        proof = expected_proof(password_digest(password), challenge.randomSequence)
        return self.common.Authenticate(encryptPassword=proof)


def soap_clients(base_url: str, verify: bool | str = True) -> SoapClients:
    http = requests.Session()
    # no proxy or CA-bundle variables from the environment: loopback only, and an explicit
    # `verify` must not lose against REQUESTS_CA_BUNDLE
    http.trust_env = False
    http.verify = verify
    # a call is answered or fails within SOAP_TIMEOUT_S: never a thread blocked for good on a
    # server a test has stopped (tests/exit_watchdog.py)
    client = zeep.Client(str(REFERENCE_WSDL),
                         transport=Transport(session=http, operation_timeout=SOAP_TIMEOUT_S))
    services = {
        name: client.create_service(f"{{{TNS}}}{binding}", base_url + path)
        for name, (binding, path) in BINDING_PATHS.items()
    }
    return SoapClients(http=http, client=client, **services)


@pytest.fixture
def soap_login(gateway_server: RunningServer) -> Callable[[str, str], SoapClients]:
    def login(user: str, password: str) -> SoapClients:
        clients = soap_clients(gateway_server.base_url)
        code = clients.login(user, password)
        assert code == 0, f"login of {user} answered {code}"
        return clients

    return login


@pytest.fixture
def soap(soap_login: Callable[[str, str], SoapClients]) -> SoapClients:
    return soap_login(*DEMO)


@pytest.fixture
def post_raw(gateway_server: RunningServer) -> Callable[..., requests.Response]:
    def post(
        body: bytes,
        content_type: str = "text/xml; charset=utf-8",
        path: str = "/esdk/services/tpCommon",
        cookies: dict[str, str] | None = None,
    ) -> requests.Response:
        http = requests.Session()
        http.trust_env = False
        return http.post(
            gateway_server.url(path),
            data=body,
            headers={"Content-Type": content_type},
            cookies=cookies,
            timeout=30,
        )

    return post


def envelope(body: str, version: int = 11) -> bytes:
    """A SOAP envelope around `body` (use the prefix smc: for the service namespace)."""
    env = (
        "http://schemas.xmlsoap.org/soap/envelope/"
        if version == 11
        else "http://www.w3.org/2003/05/soap-envelope"
    )
    return (
        f'<env:Envelope xmlns:env="{env}" xmlns:smc="{TNS}"><env:Header/>'
        f"<env:Body>{body}</env:Body></env:Envelope>"
    ).encode()


@pytest.fixture
async def rooms() -> AsyncIterator[list[SipRoom]]:
    """The SIP rooms a test makes (started by the test, closed at its end)."""
    made: list[SipRoom] = []
    yield made
    for room in made:
        await room.close()
