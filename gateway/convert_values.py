"""The value rules every service shares: flags (the Boolean rule), enumeration ranges,
optional strings, aware times, site URI lists, and the defaults conversion falls back on.
Part of the wire <-> domain conversion (gateway/convert.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import cast

from mcu.errors import DomainError, Fault
from mcu.model import (
    ConferenceSpec,
    SiteSpec,
    SiteType,
)

# SiteStatusEx.volume when the site is not in the conference, as the reference platform says
NO_VOLUME = 65535
DEFAULT_CP_RESOURCE = cast(int, ConferenceSpec.__dataclass_fields__["cp_resource"].default)
DEFAULT_SITE = SiteSpec(uri="")
SITE_TYPES = frozenset(kind.value for kind in SiteType if kind is not SiteType.INVALID)


# --- values ---------------------------------------------------------------------------------


def flag(value: int | str | None, default: bool) -> bool:
    """WS/T 546 4.2.3's Boolean rule: a value whose text begins with "1" is true, any other
    false; absent -> `default`. (The WSDL carries flags as int, so "" never parses.)"""
    if value is None:
        return default
    return str(value).startswith("1")


def reads_one(value: int | None) -> bool:
    """A confCtrl/siteMgr flag reads as its table's 1 (isMute/isQuiet: not; isBroadcast,
    action, controlCode: stop; isSwitch, isLock: on). Absent optional flags read as 0."""
    return flag(value, default=False)


def flag_to_wire(value: bool | None) -> int | None:
    """1 / 0, or None (the element left out) when there is no value."""
    return None if value is None else int(bool(value))


def enum_value(enum_type, value: int | None, default, field: str):
    """`value` as a member of `enum_type`, `default` when absent, OUT_OF_RANGE otherwise."""
    if value is None:
        return default
    try:
        return enum_type(value)
    except ValueError:
        raise DomainError(Fault.OUT_OF_RANGE, f"{field} {value} is out of range") from None


def text(value: str | None) -> str | None:
    """An optional string: absent or blank -> None (4.2.3: unset optional nodes are omitted,
    but clients often send them empty)."""
    if value is None or not value.strip():
        return None
    return value.strip()


def require_aware(moment: datetime | None, field: str) -> datetime | None:
    """Times without an offset are refused: the standard's format always has one."""
    if moment is not None and (moment.tzinfo is None or moment.utcoffset() is None):
        raise DomainError(Fault.BAD_TIME, f"{field} needs a UTC offset (e.g. +08:00 or Z)")
    return moment


def site_uris(
    values: Iterable[str | None] | None, member: str = "siteUris", *, may_be_empty: bool = False
) -> list[str]:
    """A list of site URIs as sent (every operation's siteUris; docs/gateway.md): each entry
    trimmed, a URI given twice kept once in its first place. A blank entry (empty, spaces
    only or nil) is refused with MISSING_PARAMETER, as is a list without entries unless
    `may_be_empty` (queryConfSitesStatusEx: no URI means every site)."""
    uris = []
    for value in values or ():
        uri = text(value)
        if uri is None:
            raise DomainError(Fault.MISSING_PARAMETER, f"{member}: empty site URI")
        uris.append(uri)
    if not uris and not may_be_empty:
        raise DomainError(Fault.MISSING_PARAMETER, member)
    return list(dict.fromkeys(uris))
