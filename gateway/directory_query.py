"""The QueryConfigEx engine: filter, sort and page a list of rows as the request asks. Each
query names its rows' columns: the site directory (querySitesInfoEx and
querySitesByConditionEx, `query_directory`), the MCUs (queryMCUInfoEx, `MCU_COLUMNS`) and
the ad-hoc conference templates (queryAdhocConferencesEx, `query_templates`).

Site columns (SortItemEx.itemIndex, FilterBaseEx.columnIndex), numbered in the order of
TerminalInfoEx's members, the capability flattened, then the site's organization:

    0 name (string)   1 uri (string)   2 type (int, SiteType)   3 rate (string)
    4 videoProtocol (int, wire numbering)   5 videoFormat (int, wire numbering)
    6 orgId (string: the organization given at addSiteInfoEx; queryOrganizationEx lists them)

MCU columns, in the order of MCUInfoEx's members:

    0 id (int)   1 name (string)   2 type (int)   3 ip1 (string: the media address)
    4 domainName (string)   5 stutas (int)

(port1, ip2 and port2 are never written, so they are no columns.)

Ad-hoc template columns: 0 name (string)   1 confAccessCode (string)

- StringFilterEx matches when its value occurs in the column's text, ignoring case (the
  eSDK example filters names with "VCT2"); a site without a value never matches.
- IntFilterEx (greaterThan, lessThan, equalTo are all required on the wire) matches when
  greaterThan < value < lessThan, or value == equalTo: send an empty range (e.g. 0, 0)
  to filter on equality alone, or an equalTo outside the range to filter on the range.
  Only int columns take it. Other filter types fit no column: refused.
- Several filters must all match.
- SortItemEx.sort: 0 ascending, 1 descending; several items sort by the first, then the
  next...; rows without a value sort last either way; ties keep the rows' own order
  (sites by URI, MCUs by id, templates by access code).
- pageParam: numberPerPage >= 1, currentPage >= 1 (1-based). A page past the end answers
  no rows with the true totals. focusItem is accepted (>= 0) and does not move the page.

A malformed query is refused with DomainError (MISSING_PARAMETER, OUT_OF_RANGE).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from gateway.enum_numbering import EnumNumbering
from gateway.wire import (
    DateTimeFilterEx,
    DoubleFilterEx,
    IntFilterEx,
    IPAddressFilterEx,
    StringFilterEx,
)
from mcu.adhoc import AdhocTemplate
from mcu.errors import DomainError, Fault
from mcu.mcus import Mcu
from mcu.model import DirectorySite

ASCENDING, DESCENDING = 0, 1

Row = TypeVar("Row")


@dataclass(frozen=True)
class Column(Generic[Row]):
    name: str
    is_int: bool
    value: Callable[[Row, EnumNumbering], int | str | None]


COLUMNS: tuple[Column[DirectorySite], ...] = (
    Column("name", False, lambda site, _: site.name),
    Column("uri", False, lambda site, _: site.uri),
    Column("type", True, lambda site, _: int(site.type)),
    Column("rate", False, lambda site, _: site.rate),
    Column("videoProtocol", True, lambda site, n: n.video_protocol_to_wire(site.video_protocol)),
    Column("videoFormat", True, lambda site, n: n.video_format_to_wire(site.video_format)),
    Column("orgId", False, lambda site, _: site.org_id),
)

MCU_COLUMNS: tuple[Column[Mcu], ...] = (
    Column("id", True, lambda mcu, _: mcu.id),
    Column("name", False, lambda mcu, _: mcu.name),
    Column("type", True, lambda mcu, _: int(mcu.type)),
    Column("ip1", False, lambda mcu, _: mcu.address),
    Column("domainName", False, lambda mcu, _: mcu.domain_name),
    Column("stutas", True, lambda mcu, _: int(mcu.status)),
)

# queryAdhocConferencesEx: AdhocConferenceEx's members, 0 name (string), 1 confAccessCode
ADHOC_COLUMNS: tuple[Column[AdhocTemplate], ...] = (
    Column("name", False, lambda template, _: template.name),
    Column("confAccessCode", False, lambda template, _: template.access_code),
)


def _column(columns: Sequence[Column[Row]], index: int | None, what: str) -> Column[Row]:
    if index is None:
        raise DomainError(Fault.MISSING_PARAMETER, f"{what} column index")
    if not 0 <= index < len(columns):
        raise DomainError(Fault.OUT_OF_RANGE, f"{what} column {index} not in 0..{len(columns) - 1}")
    return columns[index]


def _row_filter(
    columns: Sequence[Column[Row]], wire_filter: Any
) -> Callable[[Row, EnumNumbering], bool]:
    column = _column(columns, wire_filter.columnIndex, "filter")
    if isinstance(wire_filter, StringFilterEx):
        if wire_filter.value is None:
            raise DomainError(Fault.MISSING_PARAMETER, "StringFilterEx.value")
        needle = wire_filter.value.casefold()

        def contains(row: Row, numbering: EnumNumbering) -> bool:
            value = column.value(row, numbering)
            return value is not None and needle in str(value).casefold()

        return contains
    if isinstance(wire_filter, IntFilterEx):
        bounds = (wire_filter.greaterThan, wire_filter.lessThan, wire_filter.equalTo)
        if None in bounds:
            raise DomainError(
                Fault.MISSING_PARAMETER, "IntFilterEx: greaterThan, lessThan, equalTo"
            )
        if not column.is_int:
            raise DomainError(Fault.OUT_OF_RANGE, f"IntFilterEx on string column {column.name}")
        above, below, equal = bounds

        def in_range(row: Row, numbering: EnumNumbering) -> bool:
            value = column.value(row, numbering)
            return value is not None and (above < value < below or value == equal)

        return in_range
    if isinstance(wire_filter, DoubleFilterEx | DateTimeFilterEx | IPAddressFilterEx):
        kind = type(wire_filter).__name__
        raise DomainError(Fault.OUT_OF_RANGE, f"{kind}: no column has that type")
    raise DomainError(
        Fault.MISSING_PARAMETER, "filters: give xsi:type StringFilterEx or IntFilterEx"
    )


def _sorted(
    rows: list[Row],
    columns: Sequence[Column[Row]],
    sort_items: Sequence[Any],
    numbering: EnumNumbering,
) -> list[Row]:
    keys = []
    for item in sort_items:
        if item is None or item.sort is None:
            raise DomainError(Fault.MISSING_PARAMETER, "sortItems: sort, itemIndex")
        if item.sort not in (ASCENDING, DESCENDING):
            raise DomainError(Fault.OUT_OF_RANGE, f"sort {item.sort} is not 0 or 1")
        keys.append((_column(columns, item.itemIndex, "sort"), item.sort == DESCENDING))
    ordered = list(rows)
    # stable sorts from the last key to the first: the first key decides, the next break ties
    for column, descending in reversed(keys):
        present: list[tuple[int | str, Row]] = []
        absent: list[Row] = []
        for row in ordered:
            value = column.value(row, numbering)
            if value is None:
                absent.append(row)
            else:
                present.append((value.casefold() if isinstance(value, str) else value, row))
        present.sort(key=lambda pair: pair[0], reverse=descending)
        ordered = [row for _, row in present] + absent
    return ordered


@dataclass(frozen=True)
class Page(Generic[Row]):
    rows: list[Row]
    total_pages: int
    current_page: int
    total_records: int

    @property
    def sites(self) -> list[Row]:
        """The rows of a directory query (querySitesInfoEx's name for them)."""
        return self.rows


SitePage = Page[DirectorySite]


def query_rows(
    rows: Sequence[Row],
    columns: Sequence[Column[Row]],
    query_config: Any,
    numbering: EnumNumbering,
) -> Page[Row]:
    """Filter, sort and page `rows` (in their own order for ties) over `columns` as
    `query_config` asks (module docstring)."""
    if query_config is None:
        raise DomainError(Fault.MISSING_PARAMETER, "queryConfig")
    page = query_config.pageParam
    if page is None or page.numberPerPage is None or page.currentPage is None:
        raise DomainError(Fault.MISSING_PARAMETER, "queryConfig.pageParam")
    if page.numberPerPage < 1:
        raise DomainError(Fault.OUT_OF_RANGE, f"numberPerPage {page.numberPerPage} < 1")
    if page.currentPage < 1:
        raise DomainError(Fault.OUT_OF_RANGE, f"currentPage {page.currentPage} < 1")
    if query_config.focusItem is not None and query_config.focusItem < 0:
        raise DomainError(Fault.OUT_OF_RANGE, f"focusItem {query_config.focusItem} < 0")
    filters = [
        _row_filter(columns, item) for item in query_config.filters or () if item is not None
    ]
    matching = [row for row in rows if all(test(row, numbering) for test in filters)]
    ordered = _sorted(matching, columns, query_config.sortItems or (), numbering)
    start = (page.currentPage - 1) * page.numberPerPage
    return Page(
        rows=ordered[start : start + page.numberPerPage],
        total_pages=math.ceil(len(ordered) / page.numberPerPage),
        current_page=page.currentPage,
        total_records=len(ordered),
    )


def query_directory(
    directory: list[DirectorySite], query_config: Any, numbering: EnumNumbering
) -> SitePage:
    """The site directory, ties in URI order."""
    by_uri = sorted(directory, key=lambda site: site.uri)
    return query_rows(by_uri, COLUMNS, query_config, numbering)


def query_templates(
    templates: list[AdhocTemplate], query_config: Any, numbering: EnumNumbering
) -> Page[AdhocTemplate]:
    """queryAdhocConferencesEx: the templates (ties in their given, access-code order)
    filtered, sorted and paged by ADHOC_COLUMNS under the directory's rules."""
    return query_rows(templates, ADHOC_COLUMNS, query_config, numbering)
