"""The console's log-in, session cookie and CSRF token (docs/console.md, "Log-in").

No rule of its own: a console log-in is the SOAP log-in run on the server's side. The
typed password is turned into the proof a SOAP client would send (`client_proof` of
gateway/sessions.py) against a challenge `SessionStore.begin_login` issued, and
`SessionStore.authenticate` checks it, so the password rule, the lockout (three wrong
passwords lock the account for everyone, SOAP included), the session timeout and the
per-account session limit are the SOAP ones, and the session is a SOAP session with its
account's role (mcu/ownership.py).

The session id travels in its own cookie, `CONSOLE_COOKIE`: HttpOnly, SameSite=Strict,
Secure when the server speaks HTTPS. Every change (POST) carries a CSRF token bound to the
session: HMAC-SHA256 of the session id under a key made when the server starts, checked in
constant time; a missing or wrong token is 403 and nothing changes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from aiohttp import web

from gateway import result_codes
from gateway.sessions import Session, SessionStore, client_proof

CONSOLE_COOKIE = "MCUCONSOLE"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf"
MAX_NAME = 64
MAX_PASSWORD = 256


@dataclass(frozen=True)
class LoginOutcome:
    """A log-in's result code (gateway/result_codes.py) and, on success, the session."""

    result_code: int
    session: Session | None = None

    @property
    def locked(self) -> bool:
        return self.result_code == result_codes.ACCOUNT_LOCKED


class ConsoleAuth:
    def __init__(self, sessions: SessionStore, secure: bool) -> None:
        self.sessions = sessions
        self.secure = secure
        self._csrf_key = secrets.token_bytes(32)

    def log_in(self, user: str, password: str, address: str) -> LoginOutcome:
        """LoginRequest then Authenticate, as a SOAP client would do them."""
        if not user or len(user) > MAX_NAME or len(password) > MAX_PASSWORD:
            return LoginOutcome(result_codes.UNKNOWN_USER)
        begun = self.sessions.begin_login(user, address)
        if begun.session is None:
            return LoginOutcome(begun.result_code)
        challenge = base64.b64encode(begun.session.challenge).decode("ascii")
        proof = base64.b64decode(client_proof(password, challenge))
        done = self.sessions.authenticate(begun.session.session_id, proof)
        if done.session is None:
            self.sessions.end(begun.session.session_id)  # the challenge dies with the attempt
        return LoginOutcome(done.result_code, done.session)

    def session_of(self, request: web.Request) -> Session | None:
        """The request's authenticated session (its expiry pushed back), or None."""
        return self.sessions.touch(request.cookies.get(CONSOLE_COOKIE))

    def log_out(self, session: Session) -> None:
        self.sessions.end(session.session_id)

    def set_cookie(self, response: web.StreamResponse, session: Session) -> None:
        response.set_cookie(CONSOLE_COOKIE, session.session_id, path="/", httponly=True,
                            samesite="Strict", secure=self.secure)

    def clear_cookie(self, response: web.StreamResponse) -> None:
        response.del_cookie(CONSOLE_COOKIE, path="/")

    def csrf_token(self, session: Session) -> str:
        return hmac.new(self._csrf_key, session.session_id.encode("ascii"),
                        hashlib.sha256).hexdigest()

    def csrf_ok(self, session: Session, token: str | None) -> bool:
        if token is None:
            return False
        # bytes: compare_digest refuses str with non-ASCII characters
        return hmac.compare_digest(self.csrf_token(session).encode(), token.encode("utf-8"))
