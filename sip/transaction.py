"""The transaction layer of RFC 3261 section 17: INVITE client (17.1.1) and server (17.2.1),
non-INVITE client (17.1.2) and server (17.2.2) transactions with their timers:

- A (INVITE retransmit, T1 doubling) and B (INVITE timeout, 64*T1), D (wait for response
  retransmissions after a non-2xx, 32 s or 64*T1 whichever is more; 0 on reliable transports);
- E (non-INVITE retransmit, T1 doubling up to T2) and F (timeout, 64*T1), K (T4; 0 reliable);
- G (final non-2xx retransmit, T1 doubling up to T2) and H (wait for ACK, 64*T1), I (T4; 0
  reliable); J (non-INVITE server absorbs retransmissions, 64*T1; 0 reliable); and the
  Accepted state of RFC 6026 (64*T1 after a 2xx to an INVITE).

Retransmission timers (A, E, G) run only on UDP. The client INVITE transaction sends the ACK
for a non-2xx final response itself (17.1.1.3); a 2xx ends it and goes to the UA core, which
acknowledges it and retransmits its own 2xx (section 13.3.1.4). Matching is by the top Via
branch (17.1.3, 17.2.3), with the sent-by and the method (ACK matches its INVITE)."""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Callable
from dataclasses import dataclass

from sip.message import Request, Response
from sip.transport import Peer, Transports


@dataclass(frozen=True)
class Timers:
    t1: float = 0.5
    t2: float = 4.0
    t4: float = 5.0
    d_min: float = 32.0  # timer D's floor on UDP (17.1.1.2); tests lower it with T1

    @property
    def timeout(self) -> float:  # B, F, H, J
        return 64 * self.t1

    @property
    def d(self) -> float:
        return max(self.d_min, 64 * self.t1)


class State(enum.Enum):
    CALLING = "calling"
    TRYING = "trying"
    PROCEEDING = "proceeding"
    COMPLETED = "completed"
    ACCEPTED = "accepted"  # RFC 6026: an INVITE server transaction after its 2xx
    CONFIRMED = "confirmed"
    TERMINATED = "terminated"


ResponseCallback = Callable[[Response], None]
TimeoutCallback = Callable[[], None]


class _Transaction:
    def __init__(self, layer: TransactionLayer, request: Request, peer: Peer) -> None:
        self.layer = layer
        self.request = request
        self.peer = peer
        self.state = State.TRYING
        self._handles: dict[str, asyncio.TimerHandle] = {}
        self.done = asyncio.get_running_loop().create_future()

    @property
    def timers(self) -> Timers:
        return self.layer.timers

    def _start(self, name: str, delay: float, callback: Callable[[], None]) -> None:
        self._stop(name)
        self._handles[name] = asyncio.get_running_loop().call_later(delay, callback)

    def _stop(self, name: str) -> None:
        handle = self._handles.pop(name, None)
        if handle is not None:
            handle.cancel()

    def terminate(self) -> None:
        if self.state is State.TERMINATED:
            return
        self.state = State.TERMINATED
        for handle in self._handles.values():
            handle.cancel()
        self._handles.clear()
        self.layer.forget(self)
        if not self.done.done():
            self.done.set_result(None)


class ClientTransaction(_Transaction):
    """Sends `request` to `peer`; final and provisional responses go to `on_response`, and a
    timeout (B or F) or a transport failure to `on_timeout`."""

    def __init__(self, layer: TransactionLayer, request: Request, peer: Peer,
                 on_response: ResponseCallback, on_timeout: TimeoutCallback) -> None:
        super().__init__(layer, request, peer)
        self.on_response = on_response
        self.on_timeout = on_timeout
        self.invite = request.method == "INVITE"
        self.key = (request.top_via.branch or "", request.cseq.method)
        self._interval = self.timers.t1

    def start(self) -> None:
        self.state = State.CALLING if self.invite else State.TRYING
        self.layer.send(self.request, self.peer)
        if not self.peer.reliable:
            self._start("retransmit", self._interval, self._retransmit)
        self._start("timeout", self.timers.timeout, self._timed_out)

    def _retransmit(self) -> None:
        if self.state not in (State.CALLING, State.TRYING, State.PROCEEDING):
            return
        if self.invite and self.state is State.PROCEEDING:
            return  # timer A stops at the first provisional
        self.layer.send(self.request, self.peer)
        if self.invite:
            self._interval *= 2  # timer A
        elif self.state is State.PROCEEDING:
            self._interval = self.timers.t2  # timer E in Proceeding
        else:
            self._interval = min(self._interval * 2, self.timers.t2)
        self._start("retransmit", self._interval, self._retransmit)

    def _timed_out(self) -> None:
        if self.state in (State.CALLING, State.TRYING, State.PROCEEDING):
            self.terminate()
            self.on_timeout()

    def receive(self, response: Response) -> None:
        if self.state is State.COMPLETED:
            if self.invite and response.status >= 300:
                self.layer.send(self._ack(response), self.peer)  # ACK each retransmission
            return
        if self.state is State.TERMINATED:
            return
        if response.status < 200:
            self.state = State.PROCEEDING
            if self.invite:  # timers A and B run in Calling only (17.1.1.2): a ringing
                self._stop("retransmit")  # call waits for its answer or the TU's CANCEL
                self._stop("timeout")
            self.on_response(response)
            return
        self._stop("retransmit")
        self._stop("timeout")
        if self.invite and response.status < 300:
            self.terminate()  # the 2xx and its ACK belong to the UA core
            self.on_response(response)
            return
        self.state = State.COMPLETED
        if self.invite:
            self.layer.send(self._ack(response), self.peer)
            wait = 0.0 if self.peer.reliable else self.timers.d  # timer D
        else:
            wait = 0.0 if self.peer.reliable else self.timers.t4  # timer K
        self.on_response(response)
        self._start("linger", wait, self.terminate)

    def _ack(self, response: Response) -> Request:
        """Section 17.1.1.3: the ACK of a non-2xx, in the INVITE's transaction."""
        ack = Request(method="ACK", uri=self.request.uri)
        ack.headers.add("Via", self.request.headers.get_all("Via")[0])
        for name in ("Max-Forwards", "From", "Call-ID"):
            ack.headers.add(name, self.request.headers.get(name) or "")
        ack.headers.add("To", response.headers.get("To") or "")
        ack.headers.add("CSeq", f"{self.request.cseq.number} ACK")
        for route in self.request.headers.get_all("Route"):
            ack.headers.add("Route", route)
        return ack


class ServerTransaction(_Transaction):
    """Created for a request; the UA core answers through `respond`. A retransmitted request
    gets the last response again; an INVITE transaction with a non-2xx final response waits
    for its ACK (timer G retransmits, H gives up), then absorbs ACKs for T4 (timer I)."""

    def __init__(self, layer: TransactionLayer, request: Request, peer: Peer) -> None:
        super().__init__(layer, request, peer)
        self.invite = request.method == "INVITE"
        self.key = server_key(request)
        self.state = State.PROCEEDING if self.invite else State.TRYING
        self.last: Response | None = None
        self.on_ack_timeout: TimeoutCallback | None = None
        self._interval = self.timers.t1

    def respond(self, response: Response) -> None:
        if self.state in (State.COMPLETED, State.ACCEPTED, State.CONFIRMED, State.TERMINATED):
            return
        self.last = response
        self.layer.send(response, self.peer)
        if response.status < 200:
            self.state = State.PROCEEDING
            return
        if self.invite and response.status < 300:
            # RFC 6026: Accepted absorbs INVITE retransmissions for 64*T1 while the UA core
            # retransmits the 2xx itself (13.3.1.4); ACKs of the 2xx go to the core
            self.state = State.ACCEPTED
            self._start("linger", self.timers.timeout, self.terminate)
            return
        self.state = State.COMPLETED
        if self.invite:
            if not self.peer.reliable:
                self._start("retransmit", self._interval, self._retransmit)  # timer G
            self._start("timeout", self.timers.timeout, self._no_ack)  # timer H
        else:
            self._start("linger", 0.0 if self.peer.reliable else self.timers.timeout,
                        self.terminate)  # timer J

    def _retransmit(self) -> None:
        if self.state is State.COMPLETED and self.last is not None:
            self.layer.send(self.last, self.peer)
            self._interval = min(self._interval * 2, self.timers.t2)
            self._start("retransmit", self._interval, self._retransmit)

    def _no_ack(self) -> None:
        if self.state is State.COMPLETED:
            self.terminate()
            if self.on_ack_timeout is not None:
                self.on_ack_timeout()

    def retransmitted(self) -> None:
        if self.last is not None and self.state in (State.TRYING, State.PROCEEDING,
                                                    State.COMPLETED):
            self.layer.send(self.last, self.peer)

    def acked(self) -> None:
        if self.state is State.COMPLETED:
            self.state = State.CONFIRMED
            self._stop("retransmit")
            self._stop("timeout")
            self._start("linger", 0.0 if self.peer.reliable else self.timers.t4,
                        self.terminate)  # timer I


def server_key(request: Request) -> tuple[str, str, str]:
    via = request.top_via
    method = "INVITE" if request.method == "ACK" else request.method
    branch = via.branch or ""
    if not branch.startswith("z9hG4bK"):
        # an RFC 2543 peer: no unique branch, so the request's own identity (17.2.3)
        cseq = request.cseq
        branch = f"2543|{request.call_id}|{cseq.number}|{request.from_.tag}|{branch}"
    return (branch, via.sent_by, method)


class TransactionLayer:
    """Holds the live transactions and routes what the transports deliver: responses to
    their client transaction (or, when none matches, to `on_stray_response`: the 2xx
    retransmissions of section 13.2.2.4), requests to their server transaction (a
    retransmission) or to `on_request` with a new one; an ACK that matches no INVITE
    transaction in Completed goes to `on_ack` (the ACK of a 2xx)."""

    def __init__(self, transports: Transports, timers: Timers) -> None:
        self.transports = transports
        self.timers = timers
        self.clients: dict[tuple[str, str], ClientTransaction] = {}
        self.servers: dict[tuple[str, str, str], ServerTransaction] = {}
        self.on_request: Callable[[Request, ServerTransaction], None] = lambda r, t: None
        self.on_ack: Callable[[Request, Peer], None] = lambda r, p: None
        self.on_stray_response: Callable[[Response, Peer], None] = lambda r, p: None

    def send(self, message: Request | Response, peer: Peer) -> None:
        self.transports.send(message, peer)

    def client(self, request: Request, peer: Peer, on_response: ResponseCallback,
               on_timeout: TimeoutCallback) -> ClientTransaction:
        transaction = ClientTransaction(self, request, peer, on_response, on_timeout)
        self.clients[transaction.key] = transaction
        transaction.start()
        return transaction

    def forget(self, transaction: _Transaction) -> None:
        if isinstance(transaction, ClientTransaction):
            if self.clients.get(transaction.key) is transaction:
                del self.clients[transaction.key]
        elif isinstance(transaction, ServerTransaction):
            if self.servers.get(transaction.key) is transaction:
                del self.servers[transaction.key]

    def find_server(self, request: Request, method: str) -> ServerTransaction | None:
        branch, sent_by, _ = server_key(request)
        return self.servers.get((branch, sent_by, method))

    def receive(self, message: Request | Response, peer: Peer) -> None:
        if isinstance(message, Response):
            key = (message.top_via.branch or "", message.cseq.method)
            client = self.clients.get(key)
            if client is not None:
                client.receive(message)
            else:
                self.on_stray_response(message, peer)
            return
        key3 = server_key(message)
        existing = self.servers.get(key3)
        if message.method == "ACK":
            if existing is not None and existing.state in (State.COMPLETED, State.CONFIRMED):
                existing.acked()
            else:
                self.on_ack(message, peer)
            return
        if existing is not None:
            existing.retransmitted()
            return
        transaction = ServerTransaction(self, message, peer)
        self.servers[key3] = transaction
        self.on_request(message, transaction)

    def close(self) -> None:
        for transaction in [*self.clients.values(), *self.servers.values()]:
            transaction.terminate()
