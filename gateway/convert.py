"""Wire <-> domain conversion of the services' types (gateway/wire.py <-> mcu/model.py, the
runtime's status records and what terminals declare), the value rules every service
shares (flags, optional strings, times, site URI lists). The services import from here;
nothing here calls the MCU.

Inbound (`*_to_domain`) validates what the domain cannot know about the wire: enumeration
ranges (DomainError OUT_OF_RANGE), the Boolean rule and the VideoFormat/VideoProtocol
numbering; members the WSDL marks minOccurs=1 but eSDK's own examples omit get the
standard's defaults. Outbound (`*_to_wire`) writes every member the WSDL requires.

Decisions where the standard is silent:
- Times go out in the offset they were booked with (the client's own offset), so a client
  sees its own wall-clock times back; times that come from the server's clock are UTC. The
  scheduler keeps whole seconds, so no fraction is written.
- A conference's `sites` lists its site list once; `siteAccessInfos` has one entry per site
  and occurrence (the eSDK example repeats `sites` per occurrence, which says nothing more).
- Passwords are written back in the scheduling answer (the platform may have generated
  them, and the booking client is the one who needs them); status answers never carry them.
- A site without busy time in the window answers one FREE state spanning the window
  (SiteFreeBusyStatesEx.states is 1..n).
- Every request passes `check_request` before its service: string members trimmed (but
  wire.KEEPS_SPACES), then every string, binary value and list held to wire.MAX_CHARS,
  MAX_BYTES and MAX_ITEMS (OUT_OF_RANGE, nothing done). dateTime values are read by
  `wire_datetime` (XSD white space collapsed; an instant outside years 1-9999 in UTC or an
  unreadable text is an UnreadableValue, a Client fault naming the member).

The conversion is held by gateway/convert_values.py (the shared value rules),
request_checks.py (what every request passes first), convert_conferences.py (sites,
conferences, statuses, conference control), convert_terminals.py (terminals, the site
directory) and convert_platform.py (CDRs, MCUs, organizations, ad-hoc templates); this
module gathers them under the one name the services import (`convert.site_uris`).
"""

from __future__ import annotations

from gateway.convert_conferences import (
    broad_info_to_wire,
    conference_info_to_wire,
    conference_spec,
    conference_status_to_wire,
    directory_site_to_wire,
    error_info_to_wire,
    free_busy_state_to_wire,
    recurrence_info_to_wire,
    recurrence_rule,
    site_access_infos,
    site_free_busy_to_wire,
    site_status_to_wire,
    site_to_domain,
    site_to_wire,
)
from gateway.convert_platform import (
    adhoc_conference_to_wire,
    adhoc_free_busy_to_wire,
    cdr_end_point,
    cdr_window,
    mcu_info_to_wire,
    mcu_resources_to_wire,
    multipoint_cdr_to_wire,
    organizations_to_wire,
    point_to_point_cdr_to_wire,
    site_mcus_to_wire,
)
from gateway.convert_terminals import (
    NO_SOURCE,
    SCREEN_SOURCE_ID_BASE,
    camera_command_from_wire,
    inputs_to_aux_streams,
    inputs_to_sources_info,
    page_info_to_wire,
    screens_to_sources_info,
    terminal_from_wire,
    terminal_to_wire,
    version_to_wire,
)
from gateway.convert_values import (
    DEFAULT_CP_RESOURCE,
    DEFAULT_SITE,
    NO_VOLUME,
    SITE_TYPES,
    enum_value,
    flag,
    flag_to_wire,
    reads_one,
    require_aware,
    site_uris,
    text,
)
from gateway.request_checks import DATETIME_EXPECTED, UnreadableValue, check_request, wire_datetime

__all__ = [
    "DATETIME_EXPECTED",
    "DEFAULT_CP_RESOURCE",
    "DEFAULT_SITE",
    "NO_SOURCE",
    "NO_VOLUME",
    "SCREEN_SOURCE_ID_BASE",
    "SITE_TYPES",
    "UnreadableValue",
    "adhoc_conference_to_wire",
    "adhoc_free_busy_to_wire",
    "broad_info_to_wire",
    "camera_command_from_wire",
    "cdr_end_point",
    "cdr_window",
    "check_request",
    "conference_info_to_wire",
    "conference_spec",
    "conference_status_to_wire",
    "directory_site_to_wire",
    "enum_value",
    "error_info_to_wire",
    "flag",
    "flag_to_wire",
    "free_busy_state_to_wire",
    "inputs_to_aux_streams",
    "inputs_to_sources_info",
    "mcu_info_to_wire",
    "mcu_resources_to_wire",
    "multipoint_cdr_to_wire",
    "organizations_to_wire",
    "page_info_to_wire",
    "point_to_point_cdr_to_wire",
    "reads_one",
    "recurrence_info_to_wire",
    "recurrence_rule",
    "require_aware",
    "screens_to_sources_info",
    "site_access_infos",
    "site_free_busy_to_wire",
    "site_mcus_to_wire",
    "site_status_to_wire",
    "site_to_domain",
    "site_to_wire",
    "site_uris",
    "terminal_from_wire",
    "terminal_to_wire",
    "text",
    "version_to_wire",
    "wire_datetime",
]
