"""A registrar (RFC 3261 section 10.3): REGISTER binds an address-of-record (the To URI) to
contacts for a time (the contact's expires parameter, else the Expires header, else the
default; clamped to the maximum; under the minimum answered 423 with Min-Expires), Expires 0
removes a binding and `Contact: *` with Expires 0 all of them; a REGISTER without Contact
lists the bindings. Bindings live in memory and lapse at their expiry. With credentials (user
-> password) or accounts (user -> HA1s, sip/accounts.py) the registrar challenges with digest
(sip/digest.py): a request without credentials gets 401 and a challenge (with accounts, in
the algorithms the To user's account holds), one whose nonce has expired 401 with
stale=true, and one that proves a user other than the address-of-record's, a wrong password
or a user without an account 403 Forbidden. Without either, it binds anyone when
`open_registration` (the default) and refuses every REGISTER with 403 otherwise."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from sip.accounts import SipAccounts
from sip.digest import DigestServer
from sip.errors import SipParseError
from sip.message import Request, Response
from sip.transport import error_response
from sip.values import SipUri, parse_delta_seconds


@dataclass
class Binding:
    contact: str
    expires_at: float


class Registrar:
    def __init__(self, realm: str = "mcu-sim", credentials: dict[str, str] | None = None, *,
                 min_expires: int = 60, max_expires: int = 3600, default_expires: int = 3600,
                 nonce_lifetime: float = 300.0,
                 clock: Callable[[], float] = time.monotonic,
                 accounts: SipAccounts | None = None, open_registration: bool = True) -> None:
        self.credentials = credentials
        self.accounts = accounts if accounts else None
        self.open_registration = open_registration
        self.min_expires = min_expires
        self.max_expires = max_expires
        self.default_expires = default_expires
        self.clock = clock
        self.digest = DigestServer(realm, (credentials or {}).get,
                                   nonce_lifetime=nonce_lifetime, clock=clock,
                                   ha1_lookup=self.accounts.ha1 if self.accounts else None)
        self._bindings: dict[str, dict[str, Binding]] = {}

    def lookup(self, uri: str) -> list[str]:
        """The live contacts of an address-of-record (a `sip:user@host` URI)."""
        aor = SipUri.parse(uri, "URI").aor
        now = self.clock()
        bindings = self._bindings.get(aor, {})
        for contact in [c for c, b in bindings.items() if b.expires_at <= now]:
            del bindings[contact]
        return list(bindings)

    def handle(self, request: Request, to_tag: str) -> Response:
        def answer(status: int, reason: str) -> Response:
            return error_response(request, status, reason, to_tag)

        aor_uri = request.to.uri
        if aor_uri.scheme not in ("sip", "sips"):
            return answer(416, "Unsupported URI Scheme")
        if self.credentials is not None or self.accounts is not None:
            verdict = self.digest.check(request.headers.get("Authorization"), "REGISTER")
            if not verdict.ok:
                known = verdict.username in (self.credentials or self.accounts or {})
                if verdict.username and not verdict.stale and request.headers.get(
                        "Authorization") and (known or verdict.unknown_user):
                    return answer(403, "Forbidden")
                response = answer(401, "Unauthorized")
                algorithms = (self.accounts.algorithms_of(aor_uri.user) if self.accounts
                              else None)
                for challenge in self.digest.challenges(verdict.stale, algorithms):
                    response.headers.add("WWW-Authenticate", challenge)
                return response
            if verdict.username != aor_uri.user:
                return answer(403, "Forbidden")
        elif not self.open_registration:
            return answer(403, "Registration Closed")
        header_expires = request.headers.get("Expires")
        default = (parse_delta_seconds(header_expires) if header_expires is not None
                   else self.default_expires)
        contacts = request.contacts
        bindings = self._bindings.setdefault(aor_uri.aor, {})
        now = self.clock()
        if any(c.star for c in contacts):
            if len(contacts) != 1 or default != 0:
                return answer(400, "Bad Contact")  # '*' only alone and with Expires: 0
            bindings.clear()
        changes: list[tuple[str, int]] = []
        for contact in contacts:
            if contact.star:
                continue
            raw = contact.params.get("expires")
            expires = parse_delta_seconds(raw, "Contact") if raw is not None else default
            if 0 < expires < self.min_expires:
                response = answer(423, "Interval Too Brief")
                response.headers.add("Min-Expires", str(self.min_expires))
                return response
            changes.append((str(contact.uri), min(expires, self.max_expires)))
        for uri, expires in changes:  # all or nothing: applied once every contact is valid
            if expires == 0:
                bindings.pop(uri, None)
            else:
                bindings[uri] = Binding(uri, now + expires)
        response = answer(200, "OK")
        for uri in self.lookup(str(aor_uri)):
            # rounded, not truncated: (now + 600) - now can be 599.99999999 in floats
            left = max(0, round(bindings[uri].expires_at - now))
            response.headers.add("Contact", f"<{uri}>;expires={left}")
        return response


def registered_expiry(response: Response, contact_uri: str) -> int:
    """The expiry a 200 to REGISTER grants our contact (0 when not listed)."""
    for contact in response.contacts:
        if str(contact.uri) == contact_uri:
            raw = contact.params.get("expires")
            if raw is None:
                raise SipParseError(400, "Bad Contact", "no expires in the 200")
            return parse_delta_seconds(raw, "Contact")
    return 0
