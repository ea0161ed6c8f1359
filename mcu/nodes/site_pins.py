"""Sites pinned to where their media must be: a zone (the place a node declares, `mcu-sim node
--zone beijing` / `[node] zone`) or one node (docs/deployment.md, "Pinning sites to nodes").

The pins are the gateway's `[site_zones]` table: a site URI, or a pattern of URIs with the
shell wildcards `*`, `?` and `[...]` (fnmatch, case-sensitive), mapped to a zone name or to
`node:N` (the node whose id is N). A site URI matching several keys takes the exact URI
first, else the longest pattern (ties: the first in the table). The booking carries no
place: the reference WSDL's SiteInfoEx has no field for one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase

from mcu.nodes.node_record import MAX_NODE_ID

ZONE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
NODE_PIN = re.compile(r"node:([0-9]{1,10})")
MAX_PINS = 10_000
MAX_KEY_CHARS = 256
_WILDCARDS = frozenset("*?[")


class PinError(ValueError):
    """A [site_zones] entry or a zone name that cannot be used; the message says which."""


def check_zone(zone: str, where: str) -> str:
    """A zone name: 1..64 letters, digits, '.', '_', '-' (starting with a letter or digit)."""
    if not isinstance(zone, str) or not ZONE.fullmatch(zone):
        raise PinError(f"{where}: a zone is 1..64 letters, digits, '.', '_' or '-', "
                       f"starting with a letter or digit (got {zone!r})")
    return zone


@dataclass(frozen=True, order=True)
class Pin:
    """Where a site's media must be: a zone, or (node_id > 0) one node."""

    zone: str = ""
    node_id: int = 0

    def admits(self, node_id: int, node_zone: str) -> bool:
        return node_id == self.node_id if self.node_id else node_zone == self.zone

    def __str__(self) -> str:
        return f"node {self.node_id}" if self.node_id else f"zone {self.zone}"


def parse_pin(value: object, where: str) -> Pin:
    if not isinstance(value, str):
        raise PinError(f"{where}: a zone name or node:N")
    found = NODE_PIN.fullmatch(value)
    if found is not None:
        node_id = int(found.group(1))
        if not 1 <= node_id <= MAX_NODE_ID:
            raise PinError(f"{where}: node:N with N 1..{MAX_NODE_ID}")
        return Pin(node_id=node_id)
    return Pin(zone=check_zone(value, where))


class SitePins:
    """The [site_zones] table: which site is pinned where."""

    def __init__(self, table: Mapping[str, object] | None = None) -> None:
        table = table or {}
        if len(table) > MAX_PINS:
            raise PinError(f"[site_zones]: at most {MAX_PINS} entries")
        self._exact: dict[str, Pin] = {}
        self._patterns: list[tuple[str, Pin]] = []
        for key, value in table.items():
            where = f"[site_zones] {key!r}"
            if not isinstance(key, str) or not key.strip() or len(key) > MAX_KEY_CHARS:
                raise PinError(f"{where}: a site URI or pattern of 1..{MAX_KEY_CHARS} "
                               "characters")
            pin = parse_pin(value, where)
            if _WILDCARDS & set(key):
                self._patterns.append((key, pin))
            else:
                self._exact[key] = pin
        # longest pattern first; the table's order among equal lengths (sort is stable)
        self._patterns.sort(key=lambda item: -len(item[0]))

    def __bool__(self) -> bool:
        return bool(self._exact or self._patterns)

    def pin_of(self, uri: str) -> Pin | None:
        pin = self._exact.get(uri)
        if pin is not None:
            return pin
        return next((pin for pattern, pin in self._patterns if fnmatchcase(uri, pattern)), None)

    def pins_of(self, uris: Iterable[str]) -> dict[str, Pin]:
        """The pinned ones of `uris`, each with its pin."""
        return {uri: pin for uri in uris if (pin := self.pin_of(uri)) is not None}
