"""The demo's SOAP client: zeep built from the reference WSDL, as an integrator would build it.

zeep is blocking; the demo calls it through asyncio.to_thread so the server and the
terminals keep running on the event loop meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
import zeep
from zeep.transports import Transport

from gateway.sessions import expected_proof
from gateway.settings import password_digest
from mcu.reference import REFERENCE_WSDL

log = logging.getLogger(__name__)

TNS = "http://smc.huawei.com/"

# reference binding -> path on the server (eSDK naming)
_BINDINGS = {
    "common": ("TP.Commonbinding", "/esdk/services/tpCommon"),
    "conf_mgr": ("TPProfessional.ConfMgrbinding", "/esdk/services/tpProfessionalConfMgr"),
    "conf_ctrl": ("TPProfessional.ConfCtrbinding", "/esdk/services/tpProfessionalConfCtrl"),
    "site_mgr": ("TPProfessional.SiteMgrbinding", "/esdk/services/tpProfessionalSiteMgr"),
    "terminal_conf_ctrl": ("TPProfessional.TerminalConfCtrbinding",
                           "/esdk/services/tpProfessionalConfCtrl"),
}


class SoapError(RuntimeError):
    """An operation answered a non-zero resultCode."""


@dataclass
class EsdkClient:
    """zeep services of the reference WSDL sharing one HTTP session (one JSESSIONID)."""

    http: requests.Session
    common: Any
    conf_mgr: Any
    conf_ctrl: Any
    site_mgr: Any
    terminal_conf_ctrl: Any  # setRecordBroadEx, setDirectBroadEx, queryBroadInfoEx

    @classmethod
    def connect(cls, base_url: str, wsdl: Path = REFERENCE_WSDL) -> EsdkClient:
        if not wsdl.is_file():
            raise FileNotFoundError(f"reference WSDL not found at {wsdl} (use --wsdl)")
        http = requests.Session()
        http.trust_env = False  # loopback only: no proxy from the environment
        client = zeep.Client(str(wsdl), transport=Transport(session=http, timeout=30))
        services = {
            name: client.create_service(f"{{{TNS}}}{binding}", base_url + path)
            for name, (binding, path) in _BINDINGS.items()
        }
        return cls(http=http, **services)

    def login(self, user: str, password: str) -> None:
        """LoginRequest, then Authenticate with SHA256(hex(SHA256(password)) + hex(challenge))."""
        challenge = self.common.LoginRequest(userName=user, clientType="API", version=1)
        check(challenge.resultCode, "LoginRequest")
        proof = expected_proof(password_digest(password), challenge.randomSequence)
        check(self.common.Authenticate(encryptPassword=proof), "Authenticate")


KEEPALIVE_EVERY_S = 20.0  # the session lapses after 60 s without a request (gateway/sessions.py)


async def keep_session_alive(client: EsdkClient, every_s: float = KEEPALIVE_EVERY_S) -> None:
    """KeepAlive every `every_s` until cancelled, so the session outlives the scenario's
    waits without SOAP (a voice switch watched on the terminals' pictures for up to a step's
    timeout: on a slow machine the demo lost its session after 35 steps' expectations had
    held). A KeepAlive that fails is logged; the scenario's next call reports the cause."""
    while True:
        await asyncio.sleep(every_s)
        try:
            check(await asyncio.to_thread(client.common.KeepAlive), "KeepAlive")
        except Exception as error:  # the next real call fails with the reason
            log.warning("demo KeepAlive: %s", error)


def check(answer: Any, operation: str) -> Any:
    """The answer of an operation whose resultCode must be 0 (zeep returns a bare int when the
    response holds nothing else)."""
    code = answer if isinstance(answer, int) else answer.resultCode
    if code != 0:
        raise SoapError(f"{operation} answered resultCode {code}")
    return answer
