"""The eSDK platform key exchange (/esdk/services/platformKeyMgr) and session-encrypted
passwords, driven the way the eSDK TP Java SDK drives them.

`SdkKeyClient` is written from the SDK's public source, not from gateway/: a random 16-byte
AES key and IV (AES128Utils), sent as ASCII hex RSA-encrypted with
"RSA/ECB/OAEPWithSHA-512AndMGF1Padding" (RSA2048Utils; SunJCE: SHA-512 digest, MGF1-SHA-1),
base64; passwords then go as base64(AES-128-CBC/PKCS5Padding) under that key and IV
(ConferenceServiceExImpl.scheduleConfEx). Older builds use AESCbc128Utils' fixed key and IV.
"""

from __future__ import annotations

import base64
import logging
import os
from dataclasses import dataclass, field, replace
from datetime import timedelta, timezone
from pathlib import Path

import pytest
import requests
import zeep
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives import padding as block_padding
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from lxml import etree
from zeep.transports import Transport

from gateway import result_codes
from gateway.password_key import KEY_FILE
from gateway.settings import SettingsError, load_settings
from mcu.model import SiteCallState
from terminals.client import CallRefused, SimulatedTerminal
from terminals.media_sources import VideoFormat as SentVideo
from tests.conftest import SOAP_TIMEOUT_S, ServerThread, SoapClients, envelope

SHANGHAI = timezone(timedelta(hours=8))
PLATFORM_NS = "esdk_platform"
KEY_PATH = "/esdk/services/platformKeyMgr"
UNDECRYPTABLE_PASSWORD = 2130000030
NO_SUCH_ALGORITHM = 2130000038
PARAMETER_MISSING = 2130000039
DATA_INVALID = 2130000040
SECRET_KEY_UNDECRYPTABLE = 2130000042
OUT_OF_RANGE = result_codes.OUT_OF_RANGE
# what the SDK's RSA2048Utils uses (Java's OAEPWithSHA-512AndMGF1Padding under SunJCE)
SDK_OAEP = padding.OAEP(mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA512(), label=None)
# AESCbc128Utils of older SDK builds: "PASSWORD@ESDKNATIVE12" cut to 16 bytes by Java
FIXED_KEY, FIXED_IV = b"PASSWORD@ESDKNATIVE12"[:16], b"INITIAL@NATIVE12"
TERMINAL_URI = "01770001"
SMALL = SentVideo(320, 180, 15, 300_000)


# --- the SDK's side, from its source --------------------------------------------------------


def aes_encrypt(key: bytes, iv: bytes, password: str) -> str:
    """AES128Utils.encode + Base64Utils.encode: AES/CBC/PKCS5Padding over UTF-8."""
    padder = block_padding.PKCS7(128).padder()
    data = padder.update(password.encode("utf-8")) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return base64.b64encode(encryptor.update(data) + encryptor.finalize()).decode("ascii")


def rsa_encrypt(public_key: rsa.RSAPublicKey, data: bytes, scheme=SDK_OAEP) -> str:
    """RSA2048Utils.encode + Base64Utils.encode."""
    return base64.b64encode(public_key.encrypt(data, scheme)).decode("ascii")


@dataclass
class SdkKeyClient:
    """The key exchange as ConferenceServiceExImpl.setSecretKey does it, through a zeep
    client built from the WSDL we serve for platformKeyMgr, on the caller's HTTP session
    (its JSESSIONID cookie)."""

    service: zeep.proxy.ServiceProxy
    key: bytes = field(default_factory=lambda: os.urandom(16))
    iv: bytes = field(default_factory=lambda: os.urandom(16))
    public_key: rsa.RSAPublicKey | None = None

    @classmethod
    def for_session(cls, server, clients: SoapClients) -> SdkKeyClient:
        transport = Transport(session=clients.http, operation_timeout=SOAP_TIMEOUT_S)
        client = zeep.Client(server.url(KEY_PATH) + "?wsdl", transport=transport)
        return cls(client.service)

    def get_public_key(self, secret_type: str | None = "RSA2048"):
        answer = self.service.getPublicKey(secretType=secret_type)
        if answer.resultCode == 0:
            key = serialization.load_der_public_key(base64.b64decode(answer.publicKey))
            assert isinstance(key, rsa.RSAPublicKey) and key.key_size == 2048
            self.public_key = key
        return answer

    def set_secret_key(self) -> int:
        assert self.public_key is not None
        return self.service.setSecretKey(
            secretType="AES128",
            secretKey=rsa_encrypt(self.public_key, self.key.hex().encode("utf-8")),
            iv=rsa_encrypt(self.public_key, self.iv.hex().encode("utf-8")),
        )

    def exchange(self) -> None:
        assert self.get_public_key().resultCode == 0
        assert self.set_secret_key() == 0

    def encrypt(self, password: str) -> str:
        return aes_encrypt(self.key, self.iv, password)


def booking(clock, uri: str = "31001", **extra) -> dict:
    info = {
        "name": "key exchange",
        "beginTime": (clock.now() + timedelta(hours=2)).astimezone(SHANGHAI),
        "duration": timedelta(minutes=45),
        "mediaEncryptType": 0,
        "cpResouce": 4,
        "presentation": 0,
        "sites": [{"name": "a", "uri": uri, "type": 4, "from": 0, "dialingMode": 0}],
    }
    info.update(extra)
    return info


@pytest.fixture
def sdk(gateway_server, soap) -> SdkKeyClient:
    return SdkKeyClient.for_session(gateway_server, soap)


# --- the served service and its WSDL ----------------------------------------------------------


def test_the_key_service_has_its_own_wsdl_in_the_platform_namespace(gateway_server):
    url = gateway_server.url(KEY_PATH)
    response = requests.get(url + "?wsdl", timeout=10)
    assert response.status_code == 200
    wsdl = etree.fromstring(response.content)
    assert wsdl.get("targetNamespace") == PLATFORM_NS
    schema = wsdl.find(".//{http://www.w3.org/2001/XMLSchema}schema")
    assert schema.get("targetNamespace") == PLATFORM_NS
    assert schema.get("elementFormDefault") == "unqualified"
    operations = {
        op.get("name") for op in wsdl.iter("{http://schemas.xmlsoap.org/wsdl/}operation")
    }
    assert operations == {"getPublicKey", "setSecretKey"}
    addresses = [
        a.get("location") for a in wsdl.iter("{http://schemas.xmlsoap.org/wsdl/soap/}address")
    ]
    assert addresses == [url]


def test_the_answers_are_in_the_platform_namespace_with_unqualified_children(
    soap, post_raw
):
    body = envelope(f'<p:getPublicKey xmlns:p="{PLATFORM_NS}"><secretType>RSA2048</secretType>'
                    "</p:getPublicKey>")
    response = post_raw(body, path=KEY_PATH, cookies={"JSESSIONID": soap.session_id})
    answer = etree.fromstring(response.content)[-1][0]
    assert answer.tag == f"{{{PLATFORM_NS}}}getPublicKeyResponse"
    assert [child.tag for child in answer] == ["resultCode", "publicKey"]
    assert answer.findtext("resultCode") == "0"


def test_get_public_key_through_our_wsdl_and_the_reference_example(sdk, soap, post_raw):
    answer = sdk.get_public_key()
    assert answer.resultCode == 0 and sdk.public_key is not None
    # an empty secretType is the platform's default, RSA2048
    assert sdk.get_public_key(secret_type=None).resultCode == 0
    # the request without secretType of the reference examples, on the key path too
    from tests.conftest import SOAP_EXAMPLES

    example = (SOAP_EXAMPLES / "getPublicKey.request.xml").read_bytes()
    response = post_raw(example, path=KEY_PATH, cookies={"JSESSIONID": soap.session_id})
    assert etree.fromstring(response.content)[-1][0].findtext("resultCode") == "0"


def test_get_public_key_of_another_algorithm_is_refused(sdk):
    answer = sdk.get_public_key(secret_type="DSA1024")
    assert answer.resultCode == NO_SUCH_ALGORITHM and answer.publicKey is None


def test_both_operations_need_a_session(gateway_server, post_raw):
    for body in (
        f'<p:getPublicKey xmlns:p="{PLATFORM_NS}"><secretType>RSA2048</secretType></p:getPublicKey>',
        f'<p:setSecretKey xmlns:p="{PLATFORM_NS}"><secretType>AES128</secretType>'
        "<secretKey>AAAA</secretKey><iv>AAAA</iv></p:setSecretKey>",
    ):
        response = post_raw(envelope(body), path=KEY_PATH)
        assert response.status_code == 200
        answer = etree.fromstring(response.content)[-1][0]
        assert [(c.tag, c.text) for c in answer] == [
            ("resultCode", str(result_codes.SESSION_INVALID))
        ]


# --- the whole SDK sequence: key exchange, AES passwords, dial-in with the clear one ------------


async def test_an_aes_password_books_in_clear_and_a_terminal_dials_in_with_it(
    gateway_server, soap, sdk, clock
):
    sdk.exchange()
    site = {"name": "t", "uri": TERMINAL_URI, "type": 4, "from": 0, "dialingMode": 1}
    answer = soap.conf_mgr.scheduleConfEx(
        scheduleConf=booking(
            clock,
            beginTime=clock.now().astimezone(SHANGHAI),
            sites=[site],
            password=sdk.encrypt("246810"),
            chairmanPassword=sdk.encrypt("135791"),
        )
    )
    assert answer.resultCode == 0, answer
    conf_id = answer.conferenceInfo.confId
    # the SDK decrypts nothing in answers: they carry the clear passwords
    assert answer.conferenceInfo.password == "246810"
    assert answer.conferenceInfo.chairmanPassword == "135791"
    booked = gateway_server.gateway.scheduler.get(conf_id)
    assert (booked.password, booked.chairman_password) == ("246810", "135791")

    terminal = SimulatedTerminal(
        uri=TERMINAL_URI, name="dial-in", site_index=1, ring_delay_s=0.1,
        video_format=SMALL, loop_frames=15, analyse_every=1 << 30,
        decode_video=False, decode_audio=False,
    )
    await terminal.start(gateway_server.url("/signalling").replace("http", "ws", 1))
    try:
        with pytest.raises(CallRefused):
            await terminal.join(booked.access_code, sdk.encrypt("246810"))
        assert await terminal.join(booked.access_code, "246810") == conf_id
        runtime = gateway_server.gateway.runtime
        statuses = runtime.status.site_statuses(conf_id, [TERMINAL_URI])
        assert statuses[0].state in (SiteCallState.CALLING, SiteCallState.IN_CONFERENCE)
    finally:
        await terminal.stop()


def test_every_booking_operation_takes_aes_passwords(gateway_server, soap, sdk, clock):
    sdk.exchange()
    recurring = booking(
        clock, password=sdk.encrypt("111222"), frequency=0, interval=1, count=2,
        weekDay=0, monthDay=0,
    )
    series = soap.conf_mgr.scheduleRecurrenceConferenceEx(scheduleConf=recurring)
    assert series.resultCode == 0, series
    conf_id = series.recurrenceConfInfo.confId
    recurring.update(confId=conf_id, password=sdk.encrypt("333444"))
    edited = soap.conf_mgr.editRecurrenceConferenceEx(editConf=recurring)
    assert edited.resultCode == 0 and edited.recurrenceConfInfo.password == "333444"

    plain = booking(clock, uri="31002", name="plain", password=sdk.encrypt("555666"))
    booked = soap.conf_mgr.scheduleConfEx(scheduleConf=plain)
    assert booked.resultCode == 0, booked
    plain.update(confId=booked.conferenceInfo.confId, chairmanPassword=sdk.encrypt("777888"))
    answer = soap.conf_mgr.editScheduledConfEx(editConf=plain)
    assert answer.resultCode == 0, answer
    stored = gateway_server.gateway.scheduler.get(booked.conferenceInfo.confId)
    assert (stored.password, stored.chairman_password) == ("555666", "777888")
    assert gateway_server.gateway.scheduler.get(conf_id).password == "333444"


def test_the_sdk_repeats_the_exchange_before_each_booking_and_the_last_key_counts(
    gateway_server, soap, sdk, clock
):
    sdk.exchange()
    first = sdk.encrypt("121212")
    sdk.key, sdk.iv = os.urandom(16), os.urandom(16)
    assert sdk.set_secret_key() == 0
    answer = soap.conf_mgr.scheduleConfEx(scheduleConf=booking(clock, password=first))
    assert answer.resultCode == UNDECRYPTABLE_PASSWORD
    answer = soap.conf_mgr.scheduleConfEx(
        scheduleConf=booking(clock, password=sdk.encrypt("121212"))
    )
    assert answer.resultCode == 0 and answer.conferenceInfo.password == "121212"


def test_a_password_under_another_key_is_refused_and_books_nothing(
    gateway_server, soap, sdk, clock
):
    sdk.exchange()
    stranger = aes_encrypt(os.urandom(16), os.urandom(16), "246810")
    answer = soap.conf_mgr.scheduleConfEx(scheduleConf=booking(clock, password=stranger))
    assert answer.resultCode == UNDECRYPTABLE_PASSWORD and answer.conferenceInfo is None
    assert gateway_server.gateway.scheduler.conferences() == []
    # an AES plaintext that is not 6 digits is the usual bad password
    answer = soap.conf_mgr.scheduleConfEx(
        scheduleConf=booking(clock, password=sdk.encrypt("12ab56"))
    )
    assert answer.resultCode == OUT_OF_RANGE
    assert gateway_server.gateway.scheduler.conferences() == []


# --- refused key exchanges change nothing -----------------------------------------------------


def _bad_values(sdk: SdkKeyClient) -> dict[str, dict]:
    key = sdk.public_key
    assert key is not None
    good_key = rsa_encrypt(key, os.urandom(16).hex().encode())
    good_iv = rsa_encrypt(key, os.urandom(16).hex().encode())
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    return {
        "unknown secretType": dict(secretType="DES56", secretKey=good_key, iv=good_iv),
        "no secretKey": dict(secretType="AES128", secretKey=None, iv=good_iv),
        "no iv": dict(secretType="AES128", secretKey=good_key, iv=None),
        "PKCS#1 v1.5 instead of OAEP": dict(
            secretType="AES128",
            secretKey=rsa_encrypt(key, os.urandom(16).hex().encode(), padding.PKCS1v15()),
            iv=good_iv,
        ),
        "OAEP SHA-1 instead of SHA-512": dict(
            secretType="AES128",
            secretKey=good_key,
            iv=rsa_encrypt(
                key,
                os.urandom(16).hex().encode(),
                padding.OAEP(mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None),
            ),
        ),
        "another platform's key": dict(
            secretType="AES128", secretKey=rsa_encrypt(other, os.urandom(16).hex().encode()),
            iv=good_iv,
        ),
        "not base64": dict(secretType="AES128", secretKey="not*base64!", iv=good_iv),
        "8-byte key": dict(
            secretType="AES128", secretKey=rsa_encrypt(key, os.urandom(8).hex().encode()),
            iv=good_iv,
        ),
        "raw key bytes, not hex": dict(
            secretType="AES128", secretKey=good_key, iv=rsa_encrypt(key, os.urandom(16)),
        ),
        "32 characters that are not hex": dict(
            secretType="AES128", secretKey=rsa_encrypt(key, b"z" * 32), iv=good_iv,
        ),
    }


EXPECTED_CODES = {
    "unknown secretType": NO_SUCH_ALGORITHM,
    "no secretKey": PARAMETER_MISSING,
    "no iv": DATA_INVALID,
    "PKCS#1 v1.5 instead of OAEP": SECRET_KEY_UNDECRYPTABLE,
    "OAEP SHA-1 instead of SHA-512": SECRET_KEY_UNDECRYPTABLE,
    "another platform's key": SECRET_KEY_UNDECRYPTABLE,
    "not base64": SECRET_KEY_UNDECRYPTABLE,
    "8-byte key": DATA_INVALID,
    "raw key bytes, not hex": SECRET_KEY_UNDECRYPTABLE,
    "32 characters that are not hex": DATA_INVALID,
}


@pytest.mark.parametrize("case", sorted(EXPECTED_CODES))
def test_a_refused_set_secret_key_answers_its_code_and_keeps_the_key(
    gateway_server, soap, sdk, clock, case
):
    sdk.exchange()
    values = _bad_values(sdk)[case]
    assert sdk.service.setSecretKey(**values) == EXPECTED_CODES[case]
    # the key set before still decrypts: nothing changed
    answer = soap.conf_mgr.scheduleConfEx(
        scheduleConf=booking(clock, password=sdk.encrypt("864213"))
    )
    assert answer.resultCode == 0 and answer.conferenceInfo.password == "864213"


def test_a_refused_set_secret_key_on_a_fresh_session_sets_none(gateway_server, soap, sdk, clock):
    assert sdk.get_public_key().resultCode == 0
    values = _bad_values(sdk)["8-byte key"]
    assert sdk.service.setSecretKey(**values) == DATA_INVALID
    # still a session without a key: clear passwords as before
    answer = soap.conf_mgr.scheduleConfEx(scheduleConf=booking(clock, password="864213"))
    assert answer.resultCode == 0


# --- sessions without a key ---------------------------------------------------------------------


def test_a_session_without_a_key_keeps_clear_and_rsa_passwords(
    gateway_server, soap, soap_login, sdk, clock
):
    sdk.exchange()  # the demo session has a key; tester's has none
    other = soap_login("tester", "Tester@456")
    answer = other.conf_mgr.scheduleConfEx(scheduleConf=booking(clock, password="192837"))
    assert answer.resultCode == 0 and answer.conferenceInfo.password == "192837"
    assert sdk.public_key is not None
    rsa_password = rsa_encrypt(sdk.public_key, b"564738")  # RSA2048Utils straight on it
    answer = other.conf_mgr.scheduleConfEx(
        scheduleConf=booking(clock, uri="31002", password=rsa_password)
    )
    assert answer.resultCode == 0 and answer.conferenceInfo.password == "564738"
    # demo's key is demo's: a blob under it means nothing in tester's session
    answer = other.conf_mgr.scheduleConfEx(
        scheduleConf=booking(clock, uri="31003", password=sdk.encrypt("246810"))
    )
    assert answer.resultCode == OUT_OF_RANGE


def test_a_new_login_starts_without_a_key(gateway_server, soap, sdk, clock):
    sdk.exchange()
    assert soap.common.Logout() == 0
    assert soap.login("demo", "Demo@123") == 0
    answer = soap.conf_mgr.scheduleConfEx(
        scheduleConf=booking(clock, password=sdk.encrypt("246810"))
    )
    assert answer.resultCode == OUT_OF_RANGE  # not decrypted: taken as given, not 6 digits


# --- the older SDKs' fixed key ----------------------------------------------------------------


def test_the_fixed_key_of_older_sdks_is_accepted_without_a_negotiated_key(
    gateway_server, soap, clock
):
    answer = soap.conf_mgr.scheduleConfEx(
        scheduleConf=booking(
            clock,
            password=aes_encrypt(FIXED_KEY, FIXED_IV, "975310"),
            chairmanPassword=aes_encrypt(FIXED_KEY, FIXED_IV, "864200"),
        )
    )
    assert answer.resultCode == 0, answer
    stored = gateway_server.gateway.scheduler.get(answer.conferenceInfo.confId)
    assert (stored.password, stored.chairman_password) == ("975310", "864200")


def test_a_session_with_a_negotiated_key_uses_only_that_key(gateway_server, soap, sdk, clock):
    sdk.exchange()
    answer = soap.conf_mgr.scheduleConfEx(
        scheduleConf=booking(clock, password=aes_encrypt(FIXED_KEY, FIXED_IV, "975310"))
    )
    assert answer.resultCode == UNDECRYPTABLE_PASSWORD
    assert gateway_server.gateway.scheduler.conferences() == []


class TestFixedKeyOff:
    @pytest.fixture
    def gateway_settings(self, gateway_settings):
        return replace(gateway_settings, accept_fixed_sdk_key=False)

    def test_the_fixed_key_is_not_accepted(self, gateway_server, soap, clock):
        answer = soap.conf_mgr.scheduleConfEx(
            scheduleConf=booking(clock, password=aes_encrypt(FIXED_KEY, FIXED_IV, "975310"))
        )
        assert answer.resultCode == OUT_OF_RANGE
        assert gateway_server.gateway.scheduler.conferences() == []

    def test_a_negotiated_key_still_works(self, gateway_server, soap, sdk, clock):
        sdk.exchange()
        answer = soap.conf_mgr.scheduleConfEx(
            scheduleConf=booking(clock, password=sdk.encrypt("975310"))
        )
        assert answer.resultCode == 0


def test_the_setting_is_read_from_the_config_file(tmp_path: Path):
    assert load_settings().accept_fixed_sdk_key is True
    config = tmp_path / "config.toml"
    config.write_text("[key_exchange]\naccept_fixed_sdk_key = false\n")
    assert load_settings(config).accept_fixed_sdk_key is False
    config.write_text('[key_exchange]\naccept_fixed_sdk_key = "no"\n')
    with pytest.raises(SettingsError, match="accept_fixed_sdk_key"):
        load_settings(config)


# --- the key pair is kept; nothing secret is logged --------------------------------------------


def test_the_key_pair_survives_a_restart_and_is_private(gateway_settings, clock):
    def public_key_after_login() -> bytes:
        thread = ServerThread(gateway_settings, clock)
        server = thread.start()
        try:
            from tests.conftest import soap_clients

            clients = soap_clients(server.base_url)
            assert clients.login("demo", "Demo@123") == 0
            answer = SdkKeyClient.for_session(server, clients).get_public_key()
            assert answer.resultCode == 0
            return base64.b64decode(answer.publicKey)
        finally:
            thread.stop()

    first = public_key_after_login()
    path = gateway_settings.data_dir / KEY_FILE
    assert path.stat().st_mode & 0o777 == 0o600
    assert public_key_after_login() == first


def test_no_key_iv_or_password_reaches_a_log(gateway_server, soap, sdk, clock, caplog):
    caplog.set_level(logging.DEBUG)
    logging.getLogger("spyne.protocol.xml").setLevel(logging.DEBUG)  # its body dump, too
    try:
        sdk.exchange()
        assert sdk.public_key is not None
        secrets = [sdk.key.hex(), sdk.iv.hex(), "918273", "736455"]
        for case, values in _bad_values(sdk).items():
            assert sdk.service.setSecretKey(**values) == EXPECTED_CODES[case], case
        booked = soap.conf_mgr.scheduleConfEx(
            scheduleConf=booking(clock, password=sdk.encrypt("918273"))
        )
        assert booked.resultCode == 0
        refused = soap.conf_mgr.scheduleConfEx(
            scheduleConf=booking(
                clock, password=aes_encrypt(os.urandom(16), os.urandom(16), "736455")
            )
        )
        assert refused.resultCode == UNDECRYPTABLE_PASSWORD
        clear = soap.conf_mgr.scheduleConfEx(
            scheduleConf=booking(clock, uri="31002", chairmanPassword="736455")
        )
        assert clear.resultCode == 0
    finally:
        logging.getLogger("spyne.protocol.xml").setLevel(logging.NOTSET)
    # the server's loggers (the test's own zeep client logs what it sends, in this process)
    server_side = ("gateway", "spyne", "aiohttp", "mcu", "app", "rtc", "asyncio")
    logged = "\n".join(
        record.getMessage() + (record.exc_text or "")
        for record in caplog.records
        if record.name.split(".")[0] in server_side
    )
    assert "setSecretKey refused" in logged  # the refusals are logged, their values not
    for secret in secrets:
        assert secret not in logged.lower(), secret
