"""What the gateway's router of media nodes (mcu/nodes/conference_router.py) holds: the live
nodes, placements, calls, sites' states, terminals' registrations and nodes, saved state, pins
and cascades; and what its parts share: the node of a site, a hang-up on a node, a node's call
state mirrored into the runtime's call, registry writes in the background."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from mcu.calls import Call
from mcu.events import ConferenceEvent, ErrorInfo
from mcu.model import SiteCallState
from mcu.nodes.cascades import Cascades
from mcu.nodes.messages import CallState, HangUp
from mcu.nodes.node_record import NodeRecord
from mcu.nodes.placement import Reservations
from mcu.nodes.registry import NodeRegistry
from mcu.nodes.site_pins import SitePins
from mcu.nodes.state_replay import SavedFloors
from mcu.nodes.transport import NodeTransport
from mcu.runtime import ConferenceRuntime

# the logger of mcu/nodes/conference_router.py, whose part this is: log records keep their name
log = logging.getLogger("mcu.nodes.conference_router")

NO_ROOM = "no live media node has room for the conference"


class RouterCore:
    """The router's state and what its placement (router_placement.py) and call
    (router_calls.py) parts both use; ConferenceRouter is them together."""

    def __init__(self, runtime: ConferenceRuntime, registry: NodeRegistry,
                 transport: NodeTransport,
                 capacity: Callable[[list[NodeRecord]], None] | None = None) -> None:
        """capacity: told the live nodes at every refresh (the scheduler's capacity)."""
        self.runtime = runtime
        self.registry = registry
        self.transport = transport
        self.capacity = capacity
        self.nodes: dict[int, NodeRecord] = {}  # live, as last read
        self.placements: dict[str, int] = {}  # conf_id -> node id
        self.reservations = Reservations()
        self.calls: dict[tuple[str, str], Call] = {}  # (conf_id, uri) -> the runtime's call
        self.site_states: dict[tuple[str, str], CallState] = {}  # as the nodes report
        self.registrations: dict[str, str] = {}  # uri -> its `register` message (JSON)
        self.terminal_nodes: dict[str, int] = {}  # uri -> the node of its latest call
        # a signalling message (JSON text) for a registered terminal; set by the gateway
        self.deliver: Callable[[str, str], None] | None = None
        # a terminal's call ended because its node left (uri, call id, reason): the gateway
        # tells the terminal (the node cannot)
        self.call_lost: Callable[[str, str, str], None] | None = None
        self._redial: dict[str, list[str]] = {}  # conf_id -> sites to call again once placed
        # conf_id -> its control state saved before a restart, restored when it starts again
        self.saved_state: dict[str, list[ConferenceEvent]] = {}
        self.saved_floors = SavedFloors()  # the content floor of each, given back
        self._saves: asyncio.Queue[tuple[str, str, str]] = asyncio.Queue()
        self.stopping = False  # the gateway is shutting down: its terminals are not gone
        self.dropped = 0  # node events refused by the schema (or from a stale node)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._unsubscribe: Callable[[], None] | None = None
        self.cascades = Cascades()  # conferences split over nodes: their leaves and sites
        self.pins = SitePins()  # sites pinned to a zone or node ([site_zones]; site_pins.py)
        self.unplaced: dict[str, str] = {}  # conf_id -> why its pins found no node (for now)
        # the node whose floor report the runtime is following: its PresentationChanged is
        # not sent back to that node (node_floor.py: the node is the floor's authority)
        self._floor_from: int | None = None

    def node_of(self, conf_id: str, uri: str) -> int | None:
        """The node that calls the site: its part's node when the conference is split."""
        return self.cascades.node_of(conf_id, uri, self.placements.get(conf_id))

    def hang_up_on_node(self, node_id: int, conf_id: str, uri: str, reason: str) -> None:
        """Hang up a call the node has and the gateway's runtime has not."""
        self.transport.post_command(node_id, HangUp(conf_id, uri, reason))

    @staticmethod
    def _mirror(call: Call, state: CallState) -> None:
        """The node's call moved: the runtime's call follows."""
        match state.call_state:
            case SiteCallState.RINGING:
                call.ringing()
            case SiteCallState.IN_CONFERENCE:
                call.answer()
            case SiteCallState.NOT_JOINED:
                if state.failure_code is not None and call.state in (
                        SiteCallState.CALLING, SiteCallState.RINGING):
                    call.reject(ErrorInfo(state.failure_code, state.failure_text))
                else:
                    call.hang_up_remote(state.failure_text or "site left")

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("node registry write failed: %r", task.exception())
