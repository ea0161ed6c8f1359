"""What each node of a placed conference is told to run: its `start` with the booking as it is
now (messages.Start). Sent when a restarted gateway re-announces a running conference and
when the booking of a running conference changes (BookingChanged: sites added or removed,
its end moved); a node that runs the conference already follows the new booking with its
own runtime, as the embedded runtime does (app/node_service.py).

One node: the whole booking. Split over nodes (cascades.py): each leaf the sites it holds
and the root's cascade address; the root every booked site no leaf holds, so a site added
to the booking is the root's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from mcu.live_conference import LiveConference
from mcu.nodes.cascades import Cascades
from mcu.nodes.messages import Start
from mcu.nodes.node_record import NodeRecord


def node_starts(live: LiveConference, root: int, cascades: Cascades,
                nodes: Mapping[int, NodeRecord]) -> list[tuple[int, Start]]:
    """(node id, its start) for every node of the conference, the root's first."""
    start = Start.of(live.conference, live.occurrence)
    if live.conf_id not in cascades:
        return [(root, start)]
    parts = cascades.parts(live.conf_id)
    on_leaves = {uri for uris in parts.values() for uri in uris}
    record = nodes.get(root)
    upstream = f"{record.address}:{record.cascade_port}" if record is not None else ""
    starts = [(root, replace(start, held=[site.uri for site in live.occurrence.sites
                                          if site.uri not in on_leaves]))]
    starts += [(leaf, replace(start, held=list(uris), cascade_root=upstream))
               for leaf, uris in parts.items()]
    # an empty `held` means "every site": a part left with none keeps the booking it had
    # (the gateway hung its calls up)
    return [(node_id, command) for node_id, command in starts if command.held]
