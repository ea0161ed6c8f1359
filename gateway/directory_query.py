"""The site directory query of querySitesInfoEx and querySitesByConditionEx: filter, sort
and page a list of DirectorySite as the request's QueryConfigEx asks.

Columns (SortItemEx.itemIndex, FilterBaseEx.columnIndex), numbered in the order of
TerminalInfoEx's members, the capability flattened:

    0 name (string)   1 uri (string)   2 type (int, SiteType)   3 rate (string)
    4 videoProtocol (int, wire numbering)   5 videoFormat (int, wire numbering)

- StringFilterEx matches when its value occurs in the column's text, ignoring case (the
  eSDK example filters names with "VCT2"); a site without a value never matches.
- IntFilterEx (greaterThan, lessThan, equalTo are all required on the wire) matches when
  greaterThan < value < lessThan, or value == equalTo: send an empty range (e.g. 0, 0)
  to filter on equality alone, or an equalTo outside the range to filter on the range.
  Only the int columns 2, 4 and 5 take it. Other filter types fit no column: refused.
- Several filters must all match.
- SortItemEx.sort: 0 ascending, 1 descending; several items sort by the first, then the
  next...; sites without a value sort last either way; ties keep URI order.
- pageParam: numberPerPage >= 1, currentPage >= 1 (1-based). A page past the end answers
  no sites with the true totals. focusItem is accepted (>= 0) and does not move the page.

A malformed query is refused with DomainError (MISSING_PARAMETER, OUT_OF_RANGE).

`query_rows` applies the same rules to other lists with their own columns (e.g. the
ad-hoc templates of queryAdhocConferencesEx, ADHOC_COLUMNS); rows without a URI keep
their given order on ties.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

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
from mcu.model import DirectorySite

ASCENDING, DESCENDING = 0, 1


@dataclass(frozen=True)
class Column:
    name: str
    is_int: bool
    value: Callable[[Any, EnumNumbering], int | str | None]


COLUMNS: tuple[Column, ...] = (
    Column("name", False, lambda site, _: site.name),
    Column("uri", False, lambda site, _: site.uri),
    Column("type", True, lambda site, _: int(site.type)),
    Column("rate", False, lambda site, _: site.rate),
    Column("videoProtocol", True, lambda site, n: n.video_protocol_to_wire(site.video_protocol)),
    Column("videoFormat", True, lambda site, n: n.video_format_to_wire(site.video_format)),
)

# queryAdhocConferencesEx: AdhocConferenceEx's members, 0 name (string), 1 confAccessCode
ADHOC_COLUMNS: tuple[Column, ...] = (
    Column("name", False, lambda template, _: template.name),
    Column("confAccessCode", False, lambda template, _: template.access_code),
)


def _column(index: int | None, what: str, columns: tuple[Column, ...] = COLUMNS) -> Column:
    if index is None:
        raise DomainError(Fault.MISSING_PARAMETER, f"{what} column index")
    if not 0 <= index < len(columns):
        raise DomainError(Fault.OUT_OF_RANGE, f"{what} column {index} not in 0..{len(columns) - 1}")
    return columns[index]


def _site_filter(
    wire_filter: Any, columns: tuple[Column, ...] = COLUMNS
) -> Callable[[Any, EnumNumbering], bool]:
    column = _column(wire_filter.columnIndex, "filter", columns)
    if isinstance(wire_filter, StringFilterEx):
        if wire_filter.value is None:
            raise DomainError(Fault.MISSING_PARAMETER, "StringFilterEx.value")
        needle = wire_filter.value.casefold()

        def contains(site: Any, numbering: EnumNumbering) -> bool:
            value = column.value(site, numbering)
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

        def in_range(site: Any, numbering: EnumNumbering) -> bool:
            value = column.value(site, numbering)
            return value is not None and (above < value < below or value == equal)

        return in_range
    if isinstance(wire_filter, DoubleFilterEx | DateTimeFilterEx | IPAddressFilterEx):
        kind = type(wire_filter).__name__
        raise DomainError(Fault.OUT_OF_RANGE, f"{kind}: no site column has that type")
    raise DomainError(
        Fault.MISSING_PARAMETER, "filters: give xsi:type StringFilterEx or IntFilterEx"
    )


def _sorted(
    sites: list[Any],
    sort_items: Sequence[Any],
    numbering: EnumNumbering,
    columns: tuple[Column, ...] = COLUMNS,
) -> list[Any]:
    keys = []
    for item in sort_items:
        if item is None or item.sort is None:
            raise DomainError(Fault.MISSING_PARAMETER, "sortItems: sort, itemIndex")
        if item.sort not in (ASCENDING, DESCENDING):
            raise DomainError(Fault.OUT_OF_RANGE, f"sort {item.sort} is not 0 or 1")
        keys.append((_column(item.itemIndex, "sort", columns), item.sort == DESCENDING))
    ordered = sorted(sites, key=lambda site: site.uri) if columns is COLUMNS else list(sites)
    # stable sorts from the last key to the first: the first key decides, the next break ties
    for column, descending in reversed(keys):
        present: list[tuple[int | str, Any]] = []
        absent: list[Any] = []
        for site in ordered:
            value = column.value(site, numbering)
            if value is None:
                absent.append(site)
            else:
                present.append((value.casefold() if isinstance(value, str) else value, site))
        present.sort(key=lambda pair: pair[0], reverse=descending)
        ordered = [site for _, site in present] + absent
    return ordered


@dataclass(frozen=True)
class SitePage:
    sites: list[DirectorySite]
    total_pages: int
    current_page: int
    total_records: int


def query_directory(
    directory: list[DirectorySite], query_config: Any, numbering: EnumNumbering
) -> SitePage:
    """Filter, sort and page the directory as `query_config` asks (module docstring)."""
    rows, *totals = query_rows(directory, COLUMNS, query_config, numbering)
    return SitePage(rows, *totals)


@dataclass(frozen=True)
class TemplatePage:
    templates: list[AdhocTemplate]
    total_pages: int
    current_page: int
    total_records: int


def query_templates(
    templates: list[AdhocTemplate], query_config: Any, numbering: EnumNumbering
) -> TemplatePage:
    """queryAdhocConferencesEx: the templates (in access-code order) filtered, sorted and
    paged by ADHOC_COLUMNS under the directory's rules."""
    rows, *totals = query_rows(templates, ADHOC_COLUMNS, query_config, numbering)
    return TemplatePage(rows, *totals)


def query_rows(
    rows: list[Any], columns: tuple[Column, ...], query_config: Any, numbering: EnumNumbering
) -> tuple[list[Any], int, int, int]:
    """Filter, sort and page `rows` by `columns` (module docstring): the page's rows, total
    pages, current page, total records."""
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
        _site_filter(item, columns) for item in query_config.filters or () if item is not None
    ]
    matching = [row for row in rows if all(test(row, numbering) for test in filters)]
    ordered = _sorted(matching, query_config.sortItems or (), numbering, columns)
    start = (page.currentPage - 1) * page.numberPerPage
    return (
        ordered[start : start + page.numberPerPage],
        math.ceil(len(ordered) / page.numberPerPage),
        page.currentPage,
        len(ordered),
    )
