"""The live media nodes as the platform's MCU pool (mcu/mcus.py): one MCU per node, with its
id, name, media address and capacity from its registry record; a conference is hosted, and
each of its sites served, by the node it is placed on (conference_router.py) while that
node is live; a site of a conference split over nodes by the node of its part. A conference not running (not placed yet: placement happens when it starts)
is on no MCU.
"""

from __future__ import annotations

from mcu.errors import DomainError, Fault
from mcu.mcus import Mcu, McuPool
from mcu.model import Conference
from mcu.nodes.conference_router import ConferenceRouter


class NodePool(McuPool):
    def __init__(self, router: ConferenceRouter) -> None:  # noqa: D107 - no static MCUs
        self.router = router

    def all(self) -> list[Mcu]:
        return [node.as_mcu() for node in sorted(self.router.nodes.values(),
                                                 key=lambda node: node.node_id)]

    def get(self, mcu_id: int) -> Mcu:
        node = self.router.nodes.get(mcu_id)
        if node is None:
            raise DomainError(Fault.MCU_NOT_FOUND, str(mcu_id))
        return node.as_mcu()

    def hosting(self, conference: Conference) -> Mcu | None:
        node_id = self.router.placements.get(conference.conf_id)
        node = self.router.nodes.get(node_id) if node_id is not None else None
        return node.as_mcu() if node is not None else None

    def serving(self, conference: Conference, uri: str) -> Mcu | None:
        """The node that calls the site: of a conference split over nodes, the node of the
        site's part (cascade_placement.py); else the conference's node."""
        node_id = self.router.node_of(conference.conf_id, uri)
        node = self.router.nodes.get(node_id) if node_id is not None else None
        return node.as_mcu() if node is not None else None
