"""Sessions of the TP.Common login protocol (README.md of the reference folder shared beside
the repository, ../shared/reference/README.md; the repository's reference/README.md only
describes its copy).

LoginRequest opens a *challenged* session (cookie JSESSIONID) holding 16 random bytes;
Authenticate proves knowledge of the password against that challenge and, on success,
replaces the session with a new authenticated one under a new id (the old id dies, so
a sniffed pre-login cookie is worth nothing). A session dies `timeout` after its last
request.

Lockout (mcu/attempt_limits.py; docs/security.md, "SOAP login lockout"): wrong proofs are
counted per *user name*, from whatever address; `lock_attempts` of them lock that user for
`lock_duration` (LoginRequest and Authenticate of that user answer ACCOUNT_LOCKED, even with
the right password; other users are not affected). LoginRequests naming an unknown user are
counted per client address under a separate, higher limit, `unknown_user_attempts`; reaching
it locks that address for unknown names only (known users still log in from it). A success
clears the user's count.

Concurrent sessions (docs/gateway.md "Sessions"): an account holds at most
`max_per_account` authenticated, unexpired sessions. A right proof beyond them is refused
with TOO_MANY_SESSIONS (the platform's "用户的在线个数已经达到最大值") and its challenge dies;
the sessions already open are kept (none is evicted), as a platform with a per-user online
limit does. A wrong proof is answered as always, so the limit tells a guesser nothing.

An authenticated session may also hold the AES key and IV an eSDK client negotiated with
platformKeyMgr.setSecretKey (`cipher`, gateway/session_crypto.py): the passwords that
session sends are decrypted with it. It lives and dies with the session (a new session of
Authenticate starts without one), and stays out of the session's repr.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum

from gateway import result_codes
from gateway.session_crypto import SessionCipher
from mcu.attempt_limits import AttemptLimits, AttemptPolicy
from mcu.clock import Clock
from mcu.ownership import Actor, Role

CHALLENGE_BYTES = 16
HASH_TYPE = "SHA256"
# Expired sessions are swept when this many logins have happened since the last sweep,
# so the table stays bounded without a timer and without work on the hot path.
_SWEEP_EVERY = 256


def expected_proof(password_sha256_hex: str, challenge: bytes) -> bytes:
    """SHA256(ascii(hex(SHA256(password)) + hex(challenge))), raw (base64 on the wire)."""
    return hashlib.sha256((password_sha256_hex + challenge.hex()).encode("ascii")).digest()


def client_proof(password: str, random_sequence_b64: str) -> str:
    """What a client sends as encryptPassword (base64), for tools and tests."""
    digest = hashlib.sha256(password.encode("utf-8")).hexdigest()
    return base64.b64encode(
        expected_proof(digest, base64.b64decode(random_sequence_b64))
    ).decode("ascii")


class SessionState(Enum):
    CHALLENGED = "challenged"
    AUTHENTICATED = "authenticated"


@dataclass
class Session:
    session_id: str
    user: str
    state: SessionState
    last_seen: datetime
    challenge: bytes = field(default=b"", repr=False)
    cipher: SessionCipher | None = field(default=None, repr=False)  # set by setSecretKey
    role: Role = Role.OPERATOR  # the account's role, fixed at Authenticate (mcu/ownership.py)

    @property
    def authenticated(self) -> bool:
        return self.state is SessionState.AUTHENTICATED

    @property
    def actor(self) -> Actor:
        """Who this session acts for, as the ownership rule sees it."""
        return Actor(self.user, self.role)


# the scopes of the login's AttemptLimits
USER = "user"  # wrong proofs of a known user, from any address
UNKNOWN_FROM = "unknown_name_from"  # unknown user names, per client address


@dataclass
class LoginResult:
    result_code: int
    session: Session | None = None


@dataclass
class SessionStore:
    clock: Clock
    accounts: dict[str, str]  # name -> SHA-256 hex of the password
    timeout: timedelta = timedelta(seconds=60)
    lock_attempts: int = 3
    lock_duration: timedelta = timedelta(minutes=30)
    unknown_user_attempts: int = 20
    max_per_account: int = 16
    roles: dict[str, Role] = field(default_factory=dict)  # name -> role; absent: operator
    _sessions: dict[str, Session] = field(default_factory=dict)
    _logins_since_sweep: int = 0
    _limits: AttemptLimits = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._limits = AttemptLimits(
            self.clock,
            {
                USER: AttemptPolicy(self.lock_attempts, self.lock_duration),
                UNKNOWN_FROM: AttemptPolicy(self.unknown_user_attempts, self.lock_duration),
            },
        )

    # --- login protocol -------------------------------------------------------------

    def begin_login(self, user: str, address: str) -> LoginResult:
        """LoginRequest: a challenged session for a known, unlocked user."""
        now = self.clock.now()
        if user not in self.accounts:
            # guessing names: counted per address, under its own (higher) limit
            if self._limits.refusal({UNKNOWN_FROM: address}) is not None:
                return LoginResult(result_codes.ACCOUNT_LOCKED)
            self._limits.failed({UNKNOWN_FROM: address})
            return LoginResult(result_codes.UNKNOWN_USER)
        if self._limits.refusal({USER: user}) is not None:
            return LoginResult(result_codes.ACCOUNT_LOCKED)
        self._maybe_sweep(now)
        session = Session(
            session_id=_new_session_id(),
            user=user,
            state=SessionState.CHALLENGED,
            last_seen=now,
            challenge=secrets.token_bytes(CHALLENGE_BYTES),
        )
        self._sessions[session.session_id] = session
        return LoginResult(result_codes.OK, session)

    def authenticate(self, session_id: str | None, proof: bytes) -> LoginResult:
        """Authenticate: on a correct proof, a new authenticated session replaces the old.
        Wrong proofs count against the session's user, whatever the address (module doc)."""
        now = self.clock.now()
        session = self._live(session_id, now)
        if session is None:
            return LoginResult(result_codes.SESSION_INVALID)
        if session.authenticated:
            return LoginResult(result_codes.ALREADY_AUTHENTICATED)
        user = {USER: session.user}
        if self._limits.refusal(user) is not None:
            # locked since its challenge was issued: the challenge dies with the attempt
            del self._sessions[session.session_id]
            return LoginResult(result_codes.ACCOUNT_LOCKED)
        expected = expected_proof(self.accounts[session.user], session.challenge)
        if not hmac.compare_digest(expected, proof):
            session.last_seen = now
            if self._limits.failed(user):
                del self._sessions[session.session_id]
                return LoginResult(result_codes.ACCOUNT_LOCKED)
            return LoginResult(result_codes.WRONG_PASSWORD)
        self._limits.succeeded(user)
        del self._sessions[session.session_id]
        if self._open_sessions(session.user, now) >= self.max_per_account:
            return LoginResult(result_codes.TOO_MANY_SESSIONS)
        fresh = Session(
            session_id=_new_session_id(),
            user=session.user,
            state=SessionState.AUTHENTICATED,
            last_seen=now,
            role=self.roles.get(session.user, Role.OPERATOR),
        )
        self._sessions[fresh.session_id] = fresh
        return LoginResult(result_codes.OK, fresh)

    def touch(self, session_id: str | None) -> Session | None:
        """The authenticated, unexpired session of this id, its expiry pushed back."""
        now = self.clock.now()
        session = self._live(session_id, now)
        if session is None or not session.authenticated:
            return None
        session.last_seen = now
        return session

    def end(self, session_id: str) -> None:
        self._sessions.pop(session_id, None)

    def __len__(self) -> int:
        return len(self._sessions)

    def counts(self) -> dict[SessionState, int]:
        """Unexpired sessions by state (challenged: LoginRequest answered, no proof yet)."""
        now = self.clock.now()
        counts = dict.fromkeys(SessionState, 0)
        for session in self._sessions.values():
            if now - session.last_seen <= self.timeout:
                counts[session.state] += 1
        return counts

    # --- internals ------------------------------------------------------------------

    def _live(self, session_id: str | None, now: datetime) -> Session | None:
        if not session_id:
            return None
        session = self._sessions.get(session_id)
        if session is None:
            return None
        if now - session.last_seen > self.timeout:
            del self._sessions[session_id]
            return None
        return session

    def _open_sessions(self, user: str, now: datetime) -> int:
        """Authenticated, unexpired sessions of `user` (expired ones are dropped here)."""
        mine = [s for s in self._sessions.values() if s.user == user and s.authenticated]
        for session in mine:
            if now - session.last_seen > self.timeout:
                del self._sessions[session.session_id]
        return sum(1 for s in mine if now - s.last_seen <= self.timeout)

    def _maybe_sweep(self, now: datetime) -> None:
        self._logins_since_sweep += 1
        if self._logins_since_sweep < _SWEEP_EVERY:
            return
        self._logins_since_sweep = 0
        dead = [sid for sid, s in self._sessions.items() if now - s.last_seen > self.timeout]
        for sid in dead:
            del self._sessions[sid]


def _new_session_id() -> str:
    return secrets.token_hex(16).upper()
