"""Settings that change what a booking means on the wire: the WS/T 546 enum numbering
(wire.enum_numbering = "wst546") and the default cpResouce (mcu.default_cp_resource)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta, timezone

import pytest
from zeep.xsd import SkipValue

from gateway import result_codes
from gateway.settings import Settings, SettingsError, load_settings
from mcu.errors import Fault
from mcu.model import VideoFormat, VideoProtocol

SHANGHAI = timezone(timedelta(hours=8))
OUT_OF_RANGE = result_codes.result_code(Fault.OUT_OF_RANGE)
DEFAULT_CP = 9

# WS/T 546 table 4 numbers 4CIF..1080P60 from 0 and table 6 H.261..H.264 from 0
WST_1080P30, WST_H264 = 2, 2
WST_720P30, WST_H263 = 1, 1


@pytest.fixture
def gateway_settings(gateway_settings: Settings) -> Settings:
    return replace(gateway_settings, enum_numbering="wst546", default_cp_resource=DEFAULT_CP)


def site(uri: str, video_format: int, video_protocol: int) -> dict:
    return {
        "name": f"site {uri}",
        "uri": uri,
        "type": 4,
        "from": 0,
        "dialingMode": 0,
        "videoFormat": video_format,
        "videoProtocol": video_protocol,
    }


def booking(clock, sites: list[dict], **extra) -> dict:
    info = {
        "name": "settings",
        "beginTime": (clock.now() + timedelta(hours=1)).astimezone(SHANGHAI),
        "duration": timedelta(minutes=30),
        "mediaEncryptType": 0,
        "cpResouce": 4,
        "presentation": 0,
        "sites": sites,
    }
    info.update(extra)
    return info


# --- WS/T 546 numbering -----------------------------------------------------------------------


def test_site_formats_round_trip_in_the_standards_numbering(soap, clock, gateway_server):
    answer = soap.conf_mgr.scheduleConfEx(
        scheduleConf=booking(
            clock,
            [site("41001", WST_1080P30, WST_H264)],
            auxVideoFormat=WST_720P30,
            auxVideoProtocol=WST_H263,
        )
    )
    assert answer.resultCode == 0, answer
    info = answer.conferenceInfo
    (booked_site,) = info.sites
    assert (booked_site.videoFormat, booked_site.videoProtocol) == (WST_1080P30, WST_H264)
    assert (info.auxVideoFormat, info.auxVideoProtocol) == (WST_720P30, WST_H263)
    # inside, the domain's (eSDK) numbering: WS/T 2 = 1080P30 = eSDK 3, WS/T 2 = H.264 = eSDK 3
    stored = gateway_server.gateway.scheduler.get(info.confId)
    (domain_site,) = stored.spec.sites
    assert domain_site.video_format is VideoFormat.HD1080P30 and int(domain_site.video_format) == 3
    assert domain_site.video_protocol is VideoProtocol.H264 and int(domain_site.video_protocol) == 3
    assert stored.spec.aux_video_format is VideoFormat.HD720P30

    # an edit answers in the same numbering
    edit = booking(clock, [site("41001", 5, 0)], confId=info.confId)  # 1080P60, H.261
    edited = soap.conf_mgr.editScheduledConfEx(editConf=edit)
    assert edited.resultCode == 0, edited
    (edited_site,) = edited.conferenceInfo.sites
    assert (edited_site.videoFormat, edited_site.videoProtocol) == (5, 0)
    (domain_site,) = gateway_server.gateway.scheduler.get(info.confId).spec.sites
    assert (domain_site.video_format, domain_site.video_protocol) == (
        VideoFormat.HD1080P60,
        VideoProtocol.H261,
    )


@pytest.mark.parametrize(
    ("video_format", "video_protocol"),
    [(6, WST_H264), (WST_1080P30, 3), (-1, WST_H264)],
    ids=["format 6", "protocol 3", "format -1"],
)
def test_values_outside_the_standards_tables_are_out_of_range(
    soap, clock, gateway_server, video_format, video_protocol
):
    answer = soap.conf_mgr.scheduleConfEx(
        scheduleConf=booking(clock, [site("41002", video_format, video_protocol)])
    )
    assert answer.resultCode == OUT_OF_RANGE and answer.conferenceInfo is None
    assert gateway_server.gateway.scheduler.conferences() == []


def test_the_directory_speaks_the_standards_numbering(soap, gateway_server):
    site_info = {
        "name": "ward",
        "uri": "41003",
        "type": 4,
        "videoCapbility": [{"videoProtocol": WST_H264, "videoFormat": [WST_1080P30]}],
    }
    assert soap.site_mgr.addSiteInfoEx(orgId="1", siteInfo=site_info) == 0
    stored = gateway_server.gateway.scheduler.directory_site("41003")
    assert (stored.video_format, stored.video_protocol) == (
        VideoFormat.HD1080P30,
        VideoProtocol.H264,
    )
    (listed,) = soap.conf_mgr.querySitesEx().siteInfos
    assert (listed.videoFormat, listed.videoProtocol) == (WST_1080P30, WST_H264)


# --- default cpResouce ------------------------------------------------------------------------


def test_a_booking_without_cp_resouce_gets_the_setting(soap, clock, gateway_server):
    # the WSDL says minOccurs=1 but eSDK's own examples leave it out: so may a client
    omitted = booking(clock, [site("41010", WST_1080P30, WST_H264)], cpResouce=SkipValue)
    answer = soap.conf_mgr.scheduleConfEx(scheduleConf=omitted)
    assert answer.resultCode == 0, answer
    assert answer.conferenceInfo.cpResouce == DEFAULT_CP
    assert gateway_server.gateway.scheduler.get(answer.conferenceInfo.confId).spec.cp_resource == 9
    cp = soap.conf_mgr.getContinuousPresenceInfoEx(confId=answer.conferenceInfo.confId)
    assert cp.resultCode == 0 and cp.cpResource == DEFAULT_CP


def test_a_given_cp_resouce_wins_over_the_setting(soap, clock):
    answer = soap.conf_mgr.scheduleConfEx(
        scheduleConf=booking(clock, [site("41011", WST_1080P30, WST_H264)], cpResouce=16)
    )
    assert answer.resultCode == 0 and answer.conferenceInfo.cpResouce == 16


def test_the_embedded_default_is_four():
    assert load_settings().default_cp_resource == 4


def test_the_setting_comes_from_the_config_file(tmp_path):
    config = tmp_path / "mcu.toml"
    config.write_text("[mcu]\ndefault_cp_resource = 13\n", "utf-8")
    assert load_settings(config).default_cp_resource == 13


@pytest.mark.parametrize("value", [1, 11, 25])
def test_a_default_outside_the_allowed_set_is_refused(tmp_path, value):
    config = tmp_path / "mcu.toml"
    config.write_text(f"[mcu]\ndefault_cp_resource = {value}\n", "utf-8")
    with pytest.raises(SettingsError, match="default_cp_resource"):
        load_settings(config)


def test_the_tombstone_retention_comes_from_the_config_file_and_must_be_positive(tmp_path):
    config = tmp_path / "mcu.toml"
    config.write_text("[mcu]\ntombstone_retention_days = 7\n", "utf-8")
    assert load_settings(config).tombstone_retention_days == 7.0
    assert Settings().tombstone_retention_days == 30.0
    config.write_text("[mcu]\ntombstone_retention_days = 0\n", "utf-8")
    with pytest.raises(SettingsError, match="tombstone_retention_days"):
        load_settings(config)
