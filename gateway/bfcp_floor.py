"""The MCU's BFCP floor control server: translates BFCP messages into the floor rules
(mcu/floor.py) and the floor's changes back into BFCP messages. Translation only: every
decision is the `Floor`'s.

`conference_of(conference_id)` gives, for a BFCP conference id (the `confid` the signalling
handed out), its `Floor` and which BFCP user id is which site (the `userid`s); None when
there is no such conference. Whoever changes a floor outside BFCP (setAuxStreamEx,
lockPresentationEx, a site leaving) passes the `FloorChange` to `publish`, so that the
participants hear of it. `on_change` is called with every change made through BFCP (the
place to update ConferenceStatus.presentation and the media plane).

What each participant message does (docs/bfcp.md, "Floor control server"):
- FloorRequest: for the sender's own site (a BENEFICIARY-ID of another user: Error 5), for
  the conference's floor (another FLOOR-ID: Error 6); answered FloorRequestStatus GRANTED or
  DENIED in the same transaction; a revoked holder is told with FloorRequestStatus REVOKED;
- FloorRelease, FloorRequestQuery: FloorRequestStatus of that request;
- FloorQuery: FloorStatus (the holder's request, if any);
- UserQuery: UserStatus with the user's granted request, if any;
- ChairAction: Error 5 (the MCU is the only chair); server-to-participant primitives: Error 5;
- a refusal of the floor rules: Error with the refusal's RFC 8855 code.
When the holder changes, every connected participant of the conference gets a FloorStatus.
A participant whose BFCP connection closes (Goodbye, or it vanished) loses the floor if it
held it.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from mcu.floor import Floor, FloorChange, FloorError, Notice
from rtc.bfcp import messages
from rtc.bfcp.codec import Attribute, Grouped, Message
from rtc.bfcp.tables import AttributeType, ErrorCode, Primitive, RequestStatus
from rtc.bfcp.transport import BfcpConnection, BfcpServer

log = logging.getLogger(__name__)

# Primitives a floor control server sends but never accepts from a participant.
SERVER_ONLY = frozenset(
    {
        Primitive.FLOOR_REQUEST_STATUS,
        Primitive.USER_STATUS,
        Primitive.FLOOR_STATUS,
        Primitive.CHAIR_ACTION_ACK,
        Primitive.HELLO_ACK,
        Primitive.GOODBYE_ACK,
    }
)


@dataclass
class BfcpConference:
    floor: Floor
    sites: dict[int, str]  # BFCP user id -> site URI

    def user_of(self, site: str) -> int | None:
        for user_id, uri in self.sites.items():
            if uri == site:
                return user_id
        return None


ConferenceOf = Callable[[int], BfcpConference | None]
OnChange = Callable[[int, FloorChange], Awaitable[None]]


class FloorControlServer:
    def __init__(self, conference_of: ConferenceOf, on_change: OnChange | None = None) -> None:
        self._conference_of = conference_of
        self._on_change = on_change
        self.server = BfcpServer(self._users_of, self._handle, on_close=self._closed)

    async def start(
        self, host: str = "127.0.0.1", port: int = 0, ssl_context: ssl.SSLContext | None = None
    ) -> tuple[str, int]:
        return await self.server.start(host, port, ssl_context)

    async def close(self) -> None:
        await self.server.close()

    async def publish(
        self, conference_id: int, change: FloorChange, skip: Notice | None = None
    ) -> None:
        """Tell the participants of a change: FloorRequestStatus (transaction 0) to each
        notified site that is connected, FloorStatus to all connected when the holder
        changed. `skip`: a notice already given as the answer to a request."""
        conference = self._conference_of(conference_id)
        if conference is None:
            return
        floor = conference.floor
        for notice in change.notices:
            if notice == skip:
                continue
            user_id = conference.user_of(notice.site)
            if user_id is None:
                continue
            connection = self.server.connection_of(conference_id, user_id)
            if connection is not None:
                await connection.send(
                    messages.floor_request_status(
                        conference_id,
                        0,
                        user_id,
                        notice.request_id,
                        floor.floor_id,
                        notice.status,
                    )
                )
        if change.holder_changed:
            for user_id in conference.sites:
                connection = self.server.connection_of(conference_id, user_id)
                if connection is not None:
                    await connection.send(self._floor_status(conference_id, 0, user_id, conference))

    # ---------------------------------------------------------------- BFCP side

    def _users_of(self, conference_id: int) -> set[int] | None:
        conference = self._conference_of(conference_id)
        return None if conference is None else set(conference.sites)

    async def _handle(self, connection: BfcpConnection, message: Message) -> None:
        conference = self._conference_of(message.conference_id)
        site = None if conference is None else conference.sites.get(message.user_id)
        if conference is None or site is None:  # the conference or site went meanwhile
            await connection.send(
                messages.error(
                    message.conference_id,
                    message.transaction_id,
                    message.user_id,
                    ErrorCode.USER_DOES_NOT_EXIST,
                    "not in the conference",
                )
            )
            return
        try:
            answer, change, answered = self._answer(conference, site, message)
        except FloorError as refused:
            answer, change, answered = self._refusal(message, refused), None, None
        await connection.send(answer)
        if change is not None and change.changed:
            if self._on_change is not None:
                await self._on_change(message.conference_id, change)
            await self.publish(message.conference_id, change, skip=answered)

    def _answer(
        self, conference: BfcpConference, site: str, message: Message
    ) -> tuple[Message, FloorChange | None, Notice | None]:
        floor = conference.floor
        primitive = message.primitive
        if primitive is Primitive.FLOOR_REQUEST:
            beneficiary = message.first(AttributeType.BENEFICIARY_ID)
            if beneficiary is not None and beneficiary != message.user_id:
                return (
                    self._error(message, ErrorCode.UNAUTHORIZED_OPERATION, "third-party request"),
                    None,
                    None,
                )
            if any(f != floor.floor_id for f in message.all(AttributeType.FLOOR_ID)):
                return self._error(message, ErrorCode.INVALID_FLOOR_ID, "no such floor"), None, None
            request, change = floor.participant_request(site)
            own = Notice(site, request.request_id, request.status)
            return (
                self._request_status(message, floor, request.request_id, request.status),
                change,
                own,
            )
        if primitive is Primitive.FLOOR_RELEASE:
            request_id = message.first(AttributeType.FLOOR_REQUEST_ID)
            change = floor.participant_release(site, request_id)
            status = floor.request(request_id).status
            own = Notice(site, request_id, status)
            return self._request_status(message, floor, request_id, status), change, own
        if primitive is Primitive.FLOOR_REQUEST_QUERY:
            request = floor.request(message.first(AttributeType.FLOOR_REQUEST_ID))
            return (
                self._request_status(message, floor, request.request_id, request.status),
                None,
                None,
            )
        if primitive is Primitive.FLOOR_QUERY:
            if any(f != floor.floor_id for f in message.all(AttributeType.FLOOR_ID)):
                return self._error(message, ErrorCode.INVALID_FLOOR_ID, "no such floor"), None, None
            return (
                self._floor_status(
                    message.conference_id, message.transaction_id, message.user_id, conference
                ),
                None,
                None,
            )
        if primitive is Primitive.USER_QUERY:
            return self._user_status(message, conference), None, None
        if primitive is Primitive.ERROR:
            log.info("BFCP participant %s sent an Error: %s", site, message.attributes)
            return (
                self._error(message, ErrorCode.UNAUTHORIZED_OPERATION, "Error is not a request"),
                None,
                None,
            )
        reason = (
            "the MCU is the only chair"
            if primitive is Primitive.CHAIR_ACTION
            else (f"{primitive.name} is not for the floor control server")
        )
        return self._error(message, ErrorCode.UNAUTHORIZED_OPERATION, reason), None, None

    async def _closed(self, connection: BfcpConnection) -> None:
        if connection.conference_id is None or connection.user_id is None:
            return
        conference = self._conference_of(connection.conference_id)
        if conference is None:
            return
        site = conference.sites.get(connection.user_id)
        if site is None or conference.floor.holder != site:
            return
        change = conference.floor.chair_release(site)
        if self._on_change is not None:
            await self._on_change(connection.conference_id, change)
        await self.publish(connection.conference_id, change)

    # ---------------------------------------------------------------- messages

    @staticmethod
    def _error(message: Message, code: ErrorCode, info: str) -> Message:
        return messages.error(
            message.conference_id, message.transaction_id, message.user_id, code, info
        )

    def _refusal(self, message: Message, refused: FloorError) -> Message:
        return self._error(message, ErrorCode(refused.bfcp_error_code), refused.refusal.value)

    @staticmethod
    def _request_status(
        message: Message, floor: Floor, request_id: int, status: RequestStatus
    ) -> Message:
        return messages.floor_request_status(
            message.conference_id,
            message.transaction_id,
            message.user_id,
            request_id,
            floor.floor_id,
            status,
        )

    @staticmethod
    def _floor_status(
        conference_id: int, transaction_id: int, user_id: int, conference: BfcpConference
    ) -> Message:
        floor = conference.floor
        granted = floor.granted_request
        holder = None
        if granted is not None:
            holder_user = conference.user_of(granted.site)
            holder = (granted.request_id, 0 if holder_user is None else holder_user)
        return messages.floor_status(conference_id, transaction_id, user_id, floor.floor_id, holder)

    @staticmethod
    def _user_status(message: Message, conference: BfcpConference) -> Message:
        attributes = [
            Attribute(AttributeType.BENEFICIARY_INFORMATION, Grouped(message.user_id, ()), True)
        ]
        granted = conference.floor.granted_request
        if granted is not None and conference.user_of(granted.site) == message.user_id:
            attributes.append(
                messages.floor_request_information(
                    granted.request_id,
                    conference.floor.floor_id,
                    granted.status,
                    message.user_id,
                )
            )
        return messages.reply_to(message, Primitive.USER_STATUS, *attributes)
