"""One rule for site URI lists (gateway/convert.py site_uris, docs/gateway.md): entries
trimmed, a URI given twice kept once, a blank entry refused, an empty list refused except
where the operation reads it as "every site"."""

from __future__ import annotations

from datetime import timedelta

import pytest

from gateway import result_codes
from gateway.convert import site_uris
from mcu.errors import DomainError, Fault
from tests.test_conf_mgr import book


def test_entries_are_trimmed_and_kept_once_in_order():
    assert site_uris([" 02 ", "01", "02"]) == ["02", "01"]


@pytest.mark.parametrize("values", [["01", ""], ["01", "   "], ["01", None], [], None])
def test_blank_entries_and_empty_lists_are_missing_parameters(values):
    with pytest.raises(DomainError) as refused:
        site_uris(values)
    assert refused.value.fault is Fault.MISSING_PARAMETER


def test_an_empty_list_may_mean_every_site_but_a_blank_entry_never():
    assert site_uris([], may_be_empty=True) == []
    with pytest.raises(DomainError):
        site_uris([" "], may_be_empty=True)


def test_every_operation_refuses_a_blank_uri_the_same_way(soap, clock):
    info = book(soap, "uris", clock.now() + timedelta(hours=1), 30, ["7001"])
    window = {"beginTime": clock.now(), "duration": timedelta(hours=2)}
    missing = result_codes.MISSING_PARAMETER
    assert soap.conf_mgr.querySiteStatusEx(siteUris=["7001", " "], **window).resultCode == missing
    assert soap.conf_mgr.connectSitesEx(confId=info.confId, siteUris=["7001", ""]) == missing
    assert soap.site_mgr.deleteSiteInfoEx(siteUris=["7001", " "]) == missing
    answer = soap.conf_mgr.queryConfSitesStatusEx(confId=info.confId, siteUris=[" "])
    assert answer.resultCode == missing
