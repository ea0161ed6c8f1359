"""A media node as the registry holds it: who it is, where its media is, what it has and
what it uses now. One declared schema (the field specs of rtc/signalling_schema.py): a node
writes `to_json()`, every reader goes through `parse_record`, and a record the schema refuses
is a `NodeRecordError` (the registry logs and drops it; it never reaches placement).

Capacity is the node's own `[mcu]` settings: `max_ports` ports of its costliest format with
the unit cost of each format (`[mcu.port_cost]`, mcu/port_costs.py), and `max_cp_resources`.
Load is what its running conferences hold now, counted the way the scheduler counts a
booking: the units of every booked site of each conference placed on it (a conference holds
its sites' ports from its start, whether or not they have joined yet, as a booking does), and
each conference's cpResouce.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from mcu.mcus import Mcu, McuStatus, McuType, ResourceKind
from mcu.model import VideoFormat
from mcu.port_costs import PRICED_FORMATS, PortCosts
from rtc.signalling_schema import Integer, ListOf, SchemaError, Table, Text, build, loads, spec

MAX_NODE_ID = 2**31 - 1  # MCUInfoEx.id is an xs:int
MAX_CONFERENCES = 10_000  # conference ids a node may list in its record
_COST = Integer(1, 1_000)
_PORT_COST_TABLE = Table(tuple((str(int(f)), _COST) for f in PRICED_FORMATS),
                         frozenset(str(int(f)) for f in PRICED_FORMATS))


class NodeRecordError(ValueError):
    """A registry entry the schema refuses (named field and reason)."""


@dataclass(frozen=True)
class NodeRecord:
    node_id: int = spec(Integer(1, MAX_NODE_ID))
    name: str = spec(Text(64, min_len=1, blank_ok=False))
    # the address the node's media (ICE candidates) is on: [mcu] media_address of the node
    address: str = spec(Text(255, min_len=1, blank_ok=False))
    max_ports: int = spec(Integer(1, 1_000_000))
    max_cp_resources: int = spec(Integer(1, 1_000_000))
    # unit cost per eSDK VideoFormat number (as a string key: JSON object keys are strings)
    port_costs: dict[str, int] = spec(_PORT_COST_TABLE)
    ports_used: int = spec(Integer(0, 10**9), default=0)  # port units held now
    cp_used: int = spec(Integer(0, 10**9), default=0)
    conferences: list[str] = spec(ListOf(Text(64, min_len=1), max_items=MAX_CONFERENCES),
                                  default_factory=list)
    # monotonic count of heartbeats since the node started (a restarted node starts at 1)
    beat: int = spec(Integer(0, 2**53), default=0)
    # the TCP port of the node's cascade listener on `address` (0: it takes no cascade
    # links): the root of a conference split over nodes (cascade_placement.py)
    cascade_port: int = spec(Integer(0, 65_535), default=0)
    # where the node is (`mcu-sim node --zone`, [node] zone; "" none): sites pinned to a
    # zone get their media on its nodes (site_pins.py, pinned_placement.py)
    zone: str = spec(Text(64), default="")
    # the UDP and TCP port of the node's SIP user agent on `address` (0: none): where the
    # gateway redirects a SIP dial-in to a conference on this node (mcu/nodes/sip_redirect.py)
    sip_port: int = spec(Integer(0, 65_535), default=0)
    # the TLS port of the node's SIP user agent on `address` (0: no SIP over TLS): where the
    # gateway redirects a dial-in that reached it over TLS ([sip] tls_port of the node,
    # `mcu-sim node --sip-tls-port`; docs/sip.md "SIP over TLS through the redirect")
    sip_tls_port: int = spec(Integer(0, 65_535), default=0)

    def costs(self) -> PortCosts:
        return PortCosts({VideoFormat(int(key)): cost for key, cost in self.port_costs.items()})

    def port_units(self) -> int:
        """The node's pool of port units: max_ports of its costliest format."""
        return self.costs().units(self.max_ports)

    def load(self) -> float:
        """The larger of the port and CP shares in use, 0..1+ (placement: least loaded)."""
        return max(self.ports_used / self.port_units(), self.cp_used / self.max_cp_resources)

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    def as_mcu(self) -> Mcu:
        """The node as an MCU of the platform's pool (MCUInfoEx): its id, name, media
        address, capacity; online while it is in the registry at all."""
        return Mcu(
            id=self.node_id,
            name=self.name,
            type=McuType.SOFTWARE,
            address=self.address,
            domain_name=self.address,
            status=McuStatus.ONLINE,
            capacity={ResourceKind.PORTS: self.max_ports,
                      ResourceKind.CP_RESOURCES: self.max_cp_resources},
            port_costs=self.costs(),
        )


def port_costs_json(costs: PortCosts) -> dict[str, int]:
    return {str(int(video_format)): costs.of(video_format) for video_format in PRICED_FORMATS}


def parse_record(text: str | bytes) -> NodeRecord:
    """The record in `text`, or NodeRecordError naming what the schema refuses."""
    try:
        data: Any = loads(text)
        record: NodeRecord = build(NodeRecord, data, "node")
    except (SchemaError, UnicodeDecodeError) as error:
        raise NodeRecordError(str(error)) from None
    try:
        record.costs()
    except ValueError as error:
        raise NodeRecordError(f"node.port_costs: {error}") from None
    return record

