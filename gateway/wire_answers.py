"""Answers shaped like the reference: the optional response members written only while they
differ from their default, and `omit_defaults`, which leaves them out of an answer. Part of
the wire schema (gateway/wire.py).
"""

from __future__ import annotations

from gateway.wire_members import (
    WireType,
)
from gateway.wire_types import (
    ConferenceInfoEx,
    ConferenceStatusEx,
    RecurrenceConfInfoEx,
    SiteAccessInfoEx,
    SiteInfoEx,
    SiteStatusEx,
)

# --- answers shaped like the reference ---------------------------------------------------
# Optional response members written only while they differ from their default (docs/gateway.md,
# "Answers shaped like the reference"). Each is left out by the reference response examples
# AND absent from WS/T 546's data-type tables (4.3), the earlier revision of these types that
# existing clients were generated from: a strict unmarshaller (JAXB/CXF) built from it rejects
# an element it does not know, so such a member is written only when its value tells the
# client something absence does not. The value here is the member's default, what its
# absence means; None and "" are always defaults (spyne leaves a None member out).
WRITTEN_ONLY_WHEN_NOT_DEFAULT: dict[type[WireType], dict[str, object]] = {
    # not locked / no holder: the token-lock state of lockPresentationEx
    ConferenceStatusEx: {"isLockPresentation": 0, "lockPresentation": None},
    # the site's name is in `sites`: convert.site_access_infos fills it only where an
    # occurrence of a series names the site otherwise
    SiteAccessInfoEx: {"name": None},
    # not locked (setVideoSourceEx isLock); participantType only as booked
    SiteInfoEx: {"isLockVideoSource": 0, "participantType": None},
    SiteStatusEx: {"participantType": None, "screens": None},
    # only when booked with them (chairmanPassword is not here: the eSDK SDKs know it, and
    # the platform may have generated it, so the booking client needs it)
    ConferenceInfoEx: {"mainSiteUri": None, "conferenceNotice": None},
    RecurrenceConfInfoEx: {"timeZone": None},
}


def omit_defaults(value):
    """`value` (a response member: a WireType, a list of them, or a simple value) with every
    member of WRITTEN_ONLY_WHEN_NOT_DEFAULT that holds its default set to None, at every
    depth, so the serialiser leaves it out. Changes the objects in place and returns them."""
    if isinstance(value, list | tuple):
        for item in value:
            omit_defaults(item)
    elif isinstance(value, WireType):
        kind = type(value)
        for klass in kind.__mro__:
            for member, default in WRITTEN_ONLY_WHEN_NOT_DEFAULT.get(klass, {}).items():
                if getattr(value, member, None) in (default, ""):
                    setattr(value, member, None)
        for member in kind.get_flat_type_info(kind):
            omit_defaults(getattr(value, member, None))
    return value

