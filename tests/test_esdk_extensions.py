"""eSDK operations beyond the reference WSDL: the key service (getPublicKey and passwords
RSA-encrypted with its key; setSecretKey and AES passwords: tests/test_platform_key.py) and querySitesByConditionEx; and the server's dateTime format
(milliseconds) on every dateTime of an answer."""

from __future__ import annotations

import base64
import os
import re
from datetime import timedelta, timezone

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from lxml import etree

from gateway import result_codes
from gateway.password_key import KEY_FILE, PasswordKey
from gateway.services import ENDPOINTS
from mcu.errors import Fault
from mcu.model import DirectorySite, SiteType
from tests.conftest import SOAP_EXAMPLES, envelope

SHANGHAI = timezone(timedelta(hours=8))
UNDECRYPTABLE = 2130000030  # 传入参数中的密码使用RSA2048解密失败
BAD_PASSWORD = result_codes.result_code(Fault.BAD_PASSWORD)
PLATFORM_NS = "esdk_platform"
GET_PUBLIC_KEY = f'<p:getPublicKey xmlns:p="{PLATFORM_NS}"/>'
ALL_PATHS = [path for endpoint in ENDPOINTS for path in endpoint.paths]
# the standard's server format: 2013-05-07T22:46:31.235+08:00 (or Z)
SERVER_DATETIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}(Z|[+-]\d\d:\d\d)$")


def body_child(response) -> etree._Element:
    root = etree.fromstring(response.content)
    return root[-1][0]


def public_key(post_raw, session_id: str, path: str = "/esdk/services/tpCommon"):
    response = post_raw(envelope(GET_PUBLIC_KEY), path=path, cookies={"JSESSIONID": session_id})
    assert response.status_code == 200, response.text
    answer = body_child(response)
    assert answer.tag == f"{{{PLATFORM_NS}}}getPublicKeyResponse"
    assert [child.tag for child in answer] == ["resultCode", "publicKey"]
    assert answer.findtext("resultCode") == "0"
    key = serialization.load_der_public_key(base64.b64decode(answer.findtext("publicKey")))
    assert isinstance(key, rsa.RSAPublicKey) and key.key_size == 2048
    return key


def encrypt(key: rsa.RSAPublicKey, password: str, oaep: bool = False) -> str:
    """As an eSDK client does (Java RSA/ECB/PKCS1Padding), base64 of the block."""
    scheme = (
        padding.OAEP(mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None)
        if oaep
        else padding.PKCS1v15()
    )
    return base64.b64encode(key.encrypt(password.encode("ascii"), scheme)).decode("ascii")


def booking(clock, **extra) -> dict:
    info = {
        "name": "encrypted",
        "beginTime": (clock.now() + timedelta(hours=2)).astimezone(SHANGHAI),
        "duration": timedelta(minutes=45),
        "mediaEncryptType": 0,
        "cpResouce": 4,
        "presentation": 0,
        "sites": [{"name": "a", "uri": "31001", "type": 4, "from": 0, "dialingMode": 0}],
    }
    info.update(extra)
    return info


# --- getPublicKey ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", ALL_PATHS)
def test_get_public_key_is_answered_on_every_endpoint(soap, post_raw, path):
    key = public_key(post_raw, soap.session_id, path)
    # one key per server: the same on every endpoint
    assert key.public_numbers() == public_key(post_raw, soap.session_id).public_numbers()


def test_get_public_key_needs_a_session(post_raw):
    response = post_raw(envelope(GET_PUBLIC_KEY))
    assert response.status_code == 200
    assert body_child(response).findtext("resultCode") == str(result_codes.SESSION_INVALID)


def test_the_reference_get_public_key_request_is_answered(soap, post_raw):
    body = (SOAP_EXAMPLES / "getPublicKey.request.xml").read_bytes()
    response = post_raw(body, cookies={"JSESSIONID": soap.session_id})
    answer = body_child(response)
    assert answer.tag == f"{{{PLATFORM_NS}}}getPublicKeyResponse"
    assert answer.findtext("resultCode") == "0" and answer.findtext("publicKey")


def test_the_key_is_kept_in_the_data_dir_across_restarts(soap, post_raw, gateway_settings):
    key = public_key(post_raw, soap.session_id)
    path = gateway_settings.data_dir / KEY_FILE
    assert path.exists() and path.stat().st_mode & 0o077 == 0  # private: owner only
    # what a restarted server loads from that directory
    again = PasswordKey(gateway_settings.data_dir).public_key_base64()
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert base64.b64decode(again) == der


def test_not_in_the_served_wsdl(gateway_server):
    """Outside the reference WSDL: in none of its endpoints' WSDLs (getPublicKey is in the
    key service's own WSDL only, tests/test_platform_key.py)."""
    import requests

    for endpoint in ENDPOINTS:
        for path in endpoint.paths:
            wsdl = requests.get(gateway_server.url(path + "?wsdl"), timeout=10).content
            assert b"querySitesByConditionEx" not in wsdl
            if endpoint.namespace != PLATFORM_NS:
                assert b"getPublicKey" not in wsdl


# --- encrypted conference passwords -----------------------------------------------------------


@pytest.mark.parametrize("oaep", [False, True], ids=["pkcs1v15", "oaep"])
def test_an_encrypted_password_books_and_is_answered_in_clear(
    soap, post_raw, clock, gateway_server, oaep
):
    key = public_key(post_raw, soap.session_id)
    answer = soap.conf_mgr.scheduleConfEx(
        scheduleConf=booking(
            clock,
            password=encrypt(key, "246810", oaep),
            chairmanPassword=encrypt(key, "135791", oaep),
        )
    )
    assert answer.resultCode == 0, answer
    assert answer.conferenceInfo.password == "246810"
    assert answer.conferenceInfo.chairmanPassword == "135791"
    # the conference holds the clear passwords (what a terminal dials with)
    booked = gateway_server.gateway.scheduler.get(answer.conferenceInfo.confId)
    assert (booked.password, booked.chairman_password) == ("246810", "135791")


def test_encrypted_passwords_work_in_every_booking_operation(soap, post_raw, clock):
    key = public_key(post_raw, soap.session_id)
    recurring = booking(
        clock,
        password=encrypt(key, "111222"),
        frequency=0,
        interval=1,
        count=3,
        weekDay=0,
        monthDay=0,
    )
    series = soap.conf_mgr.scheduleRecurrenceConferenceEx(scheduleConf=recurring)
    assert series.resultCode == 0, series
    assert series.recurrenceConfInfo.password == "111222"
    conf_id = series.recurrenceConfInfo.confId
    recurring.update(confId=conf_id, password=encrypt(key, "333444"))
    edited = soap.conf_mgr.editRecurrenceConferenceEx(editConf=recurring)
    assert edited.resultCode == 0 and edited.recurrenceConfInfo.password == "333444"

    plain = booking(clock, name="plain")
    plain["sites"][0]["uri"] = "31002"  # 31001 is busy in the series
    booked = soap.conf_mgr.scheduleConfEx(scheduleConf=plain)
    assert booked.resultCode == 0, booked
    plain.update(confId=booked.conferenceInfo.confId, chairmanPassword=encrypt(key, "555666"))
    edit = plain
    answer = soap.conf_mgr.editScheduledConfEx(editConf=edit)
    assert answer.resultCode == 0 and answer.conferenceInfo.chairmanPassword == "555666"


def test_a_blob_that_does_not_decrypt_is_refused_and_books_nothing(soap, clock, gateway_server):
    public_key_holder = gateway_server.gateway.password_key
    public_key_holder.public_key_base64()  # the key exists; the blob is not for it
    blob = base64.b64encode(os.urandom(256)).decode("ascii")
    answer = soap.conf_mgr.scheduleConfEx(scheduleConf=booking(clock, password=blob))
    assert answer.resultCode == UNDECRYPTABLE and answer.conferenceInfo is None
    assert gateway_server.gateway.scheduler.conferences() == []


def test_a_blob_encrypted_with_another_key_is_refused(soap, clock, gateway_server):
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    answer = soap.conf_mgr.scheduleConfEx(
        scheduleConf=booking(clock, chairmanPassword=encrypt(other, "123456"))
    )
    assert answer.resultCode == UNDECRYPTABLE
    assert gateway_server.gateway.scheduler.conferences() == []


def test_the_reference_example_blob_is_huaweis_and_does_not_decrypt(soap, clock):
    example = etree.parse(str(SOAP_EXAMPLES / "scheduleConfEx.request.xml"))
    blob = example.findtext(".//password")
    assert len(base64.b64decode(blob)) == 256
    answer = soap.conf_mgr.scheduleConfEx(scheduleConf=booking(clock, password=blob))
    assert answer.resultCode == UNDECRYPTABLE


def test_an_oaep_block_that_is_not_six_digits_is_a_bad_password(soap, post_raw, clock):
    key = public_key(post_raw, soap.session_id)
    answer = soap.conf_mgr.scheduleConfEx(
        scheduleConf=booking(clock, password=encrypt(key, "12ab56", oaep=True))
    )
    assert answer.resultCode == BAD_PASSWORD


@pytest.mark.parametrize("password", ["12345", "abcdef", "bm90IGEgYmxvY2s="])
def test_clear_passwords_that_are_not_six_digits_stay_bad_passwords(soap, clock, password):
    answer = soap.conf_mgr.scheduleConfEx(scheduleConf=booking(clock, password=password))
    assert answer.resultCode == BAD_PASSWORD


# --- querySitesByConditionEx ------------------------------------------------------------------

DIRECTORY = [
    ("01010086", "VCT205"),
    ("01010010", "VCT206"),
    ("01055253", "VCT253"),
    ("01055254", "VCT254"),
    ("01099001", "Ward 3"),
    ("01099002", "OR 1"),
]


@pytest.fixture
def directory(gateway_server):
    scheduler = gateway_server.gateway.scheduler
    for uri, name in DIRECTORY:
        scheduler.add_directory_site(DirectorySite(uri=uri, name=name, type=SiteType(4), rate="30"))


def test_the_reference_query_sites_by_condition_request(soap, post_raw, directory):
    body = (SOAP_EXAMPLES / "querySitesByConditionEx.request.xml").read_bytes()
    response = post_raw(
        body, path="/esdk/services/tpProfessionalSiteMgr", cookies={"JSESSIONID": soap.session_id}
    )
    assert response.status_code == 200, response.text
    answer = body_child(response)
    assert answer.tag == "{http://smc.huawei.com/}querySitesByConditionExResponse"
    assert answer.findtext("resultCode") == "0"
    sites = [
        (site.findtext("name"), site.findtext("uri"), site.findtext("type"), site.findtext("rate"))
        for site in answer.findall("siteInfos")
    ]
    # as the reference answer: the four VCT2* sites by name, type 4, rate 30
    assert sites == [
        ("VCT205", "01010086", "4", "30"),
        ("VCT206", "01010010", "4", "30"),
        ("VCT253", "01055253", "4", "30"),
        ("VCT254", "01055254", "4", "30"),
    ]
    page = answer.find("pageInfo")
    assert [page.findtext(n) for n in ("totalPages", "currentPage", "totalRecords")] == [
        "1",
        "1",
        "4",
    ]


def query_config(page: int, per_page: int, descending: bool) -> str:
    return (
        "<queryConfig>"
        f"<sortItems><sort>{int(descending)}</sort><itemIndex>0</itemIndex></sortItems>"
        f"<pageParam><numberPerPage>{per_page}</numberPerPage>"
        f"<currentPage>{page}</currentPage></pageParam>"
        "</queryConfig>"
    )


@pytest.mark.parametrize(("page", "per_page", "descending"), [(1, 4, False), (2, 4, True)])
def test_query_sites_by_condition_pages_like_query_sites_info(
    soap, post_raw, directory, page, per_page, descending
):
    cookies = {"JSESSIONID": soap.session_id}
    config = query_config(page, per_page, descending)
    by_condition = body_child(
        post_raw(
            envelope(f"<smc:querySitesByConditionEx>{config}</smc:querySitesByConditionEx>"),
            path="/services/siteMgr",
            cookies=cookies,
        )
    )
    info = body_child(
        post_raw(
            envelope(f"<smc:querySitesInfoEx>{config}</smc:querySitesInfoEx>"),
            path="/services/siteMgr",
            cookies=cookies,
        )
    )
    uris = [site.findtext("uri") for site in by_condition.findall("siteInfos")]
    assert uris == [site.findtext("uri") for site in info.findall("sites")]
    assert len(uris) == (4 if page == 1 else 2)
    assert etree.tostring(by_condition.find("pageInfo")) == etree.tostring(info.find("pageInfo"))


def test_query_sites_by_condition_refuses_what_query_sites_info_refuses(soap, post_raw):
    config = query_config(0, 5, False)  # pages are 1-based
    response = post_raw(
        envelope(f"<smc:querySitesByConditionEx>{config}</smc:querySitesByConditionEx>"),
        path="/services/siteMgr",
        cookies={"JSESSIONID": soap.session_id},
    )
    answer = body_child(response)
    assert answer.findtext("resultCode") == str(result_codes.OUT_OF_RANGE)
    assert [child.tag for child in answer] == ["resultCode"]


# --- dateTime format --------------------------------------------------------------------------


def datetimes(element: etree._Element, names: set[str]) -> list[str]:
    return [node.text for node in element.iter() if etree.QName(node).localname in names]


def test_every_datetime_goes_out_with_milliseconds(soap, post_raw, clock):
    cookies = {"JSESSIONID": soap.session_id}
    # 31 s after the clock's start (09:00:00Z); whole seconds in, milliseconds out
    begin = "2026-01-05T17:00:31+08:00"
    schedule = post_raw(
        envelope(
            "<smc:scheduleRecurrenceConferenceEx><scheduleConf><name>ms</name>"
            f"<beginTime>{begin}</beginTime><duration>PT30M</duration>"
            "<sites><uri>32001</uri><type>4</type><from>0</from><dialingMode>0</dialingMode>"
            "</sites><frequency>0</frequency><interval>1</interval><count>2</count>"
            "</scheduleConf></smc:scheduleRecurrenceConferenceEx>"
        ),
        path="/services/confMgr",
        cookies=cookies,
    )
    answer = body_child(schedule)
    assert answer.findtext("resultCode") == "0", schedule.text
    written = datetimes(answer, {"beginTime"})
    assert len(written) == 3  # the series and its two occurrences
    assert all(SERVER_DATETIME.match(text) for text in written), written
    assert answer.findtext("recurrenceConfInfo/beginTime") == "2026-01-05T17:00:31.000+08:00"
    conf_id = answer.findtext("recurrenceConfInfo/confId")

    clock.advance(timedelta(seconds=40))  # ongoing: begin and end come from the runtime
    status = body_child(
        post_raw(
            envelope(
                "<smc:queryConferencesStatusEx>"
                f"<confIds>{conf_id}</confIds></smc:queryConferencesStatusEx>"
            ),
            path="/services/confMgr",
            cookies=cookies,
        )
    )
    stamps = datetimes(status, {"beginTime", "endTime"})
    assert stamps and all(SERVER_DATETIME.match(text) for text in stamps), stamps

    busy = body_child(
        post_raw(
            envelope(
                "<smc:querySiteStatusEx><siteUris>32001</siteUris>"
                "<beginTime>2026-01-05T00:00:00.5Z</beginTime><duration>P2D</duration>"
                "</smc:querySiteStatusEx>"
            ),
            path="/services/confMgr",
            cookies=cookies,
        )
    )
    starts = datetimes(busy, {"startTime"})
    assert starts and all(SERVER_DATETIME.match(text) for text in starts), starts
