"""HTTP digest authentication for SIP (RFC 3261 section 22, RFC 2617, RFC 8760): MD5 and
SHA-256, qop=auth. The server side makes nonces that carry their own issue time and an HMAC
over it (no state kept; a nonce older than its lifetime is answered stale=true), challenges
with one WWW-Authenticate per algorithm (SHA-256 first, RFC 8760 section 2.4), and checks an
Authorization header; the client side answers a challenge."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass

from sip.values import split_outside_quotes, unquote

ALGORITHMS = {"SHA-256": hashlib.sha256, "MD5": hashlib.md5}


def _h(algorithm: str, text: str) -> str:
    return ALGORITHMS[algorithm](text.encode("utf-8")).hexdigest()


def parse_auth(value: str) -> tuple[str, dict[str, str]]:
    """`Digest k=v, k="v"` into the scheme and its parameters (names lower-cased)."""
    scheme, _, rest = value.strip().partition(" ")
    params: dict[str, str] = {}
    try:
        pieces = split_outside_quotes(rest, ",")
    except ValueError:
        return scheme, {}
    for piece in pieces:
        name, sep, val = piece.strip().partition("=")
        if not sep:
            continue
        val = val.strip()
        params[name.strip().lower()] = unquote(val) if val.startswith('"') else val
    return scheme, params


def account_ha1(algorithm: str, username: str, realm: str, password: str) -> str:
    """HA1 = H(username:realm:password) in hex: what a registrar keeps instead of the password
    (RFC 2617 section 3.2.2.2; RFC 8760 for SHA-256)."""
    return _h(algorithm, f"{username}:{realm}:{password}")


def response_digest(algorithm: str, username: str, realm: str, password: str, method: str,
                    uri: str, nonce: str, nc: str | None, cnonce: str | None,
                    qop: str | None) -> str:
    return response_from_ha1(algorithm, account_ha1(algorithm, username, realm, password),
                             method, uri, nonce, nc, cnonce, qop)


def response_from_ha1(algorithm: str, ha1: str, method: str, uri: str, nonce: str,
                      nc: str | None, cnonce: str | None, qop: str | None) -> str:
    ha2 = _h(algorithm, f"{method}:{uri}")
    if qop:
        return _h(algorithm, f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")
    return _h(algorithm, f"{ha1}:{nonce}:{ha2}")


@dataclass
class Verdict:
    ok: bool
    username: str = ""
    stale: bool = False
    # a well-formed answer to a fresh nonce of ours naming a user we have no secret for
    unknown_user: bool = False


HA1Lookup = Callable[[str, str], str | None]  # (username, algorithm) -> HA1 hex or None


class DigestServer:
    def __init__(self, realm: str, lookup: Callable[[str], str | None], *,
                 nonce_lifetime: float = 300.0, algorithms: tuple[str, ...] = ("SHA-256", "MD5"),
                 clock: Callable[[], float] = time.time,
                 ha1_lookup: HA1Lookup | None = None) -> None:
        """lookup: a user's password; or, with ha1_lookup, the user's HA1 for an algorithm
        (the registrar keeps HA1s, not passwords: sip/accounts.py)."""
        self.realm = realm
        self.lookup = lookup
        self.ha1_lookup = ha1_lookup
        self.nonce_lifetime = nonce_lifetime
        self.algorithms = algorithms
        self.clock = clock
        self._key = os.urandom(32)

    def nonce(self) -> str:
        stamp = struct.pack(">d", self.clock()) + os.urandom(8)
        mac = hmac.new(self._key, stamp, hashlib.sha256).digest()[:16]
        return base64.urlsafe_b64encode(stamp + mac).decode().rstrip("=")

    def _nonce_state(self, nonce: str) -> str:
        """'fresh', 'stale' or 'bad'."""
        try:
            raw = base64.urlsafe_b64decode(nonce + "=" * (-len(nonce) % 4))
        except ValueError:
            return "bad"
        if len(raw) != 32:
            return "bad"
        stamp, mac = raw[:16], raw[16:]
        if not hmac.compare_digest(mac, hmac.new(self._key, stamp, hashlib.sha256).digest()[:16]):
            return "bad"
        issued = struct.unpack(">d", stamp[:8])[0]
        return "fresh" if 0 <= self.clock() - issued <= self.nonce_lifetime else "stale"

    def challenges(self, stale: bool = False,
                   algorithms: tuple[str, ...] | None = None) -> list[str]:
        """One WWW-Authenticate value per algorithm (ours unless `algorithms` narrows them)."""
        nonce = self.nonce()
        extra = ", stale=true" if stale else ""
        return [f'Digest realm="{self.realm}", nonce="{nonce}", algorithm={algorithm}, '
                f'qop="auth"{extra}' for algorithm in (algorithms or self.algorithms)]

    def check(self, authorization: str | None, method: str) -> Verdict:
        if not authorization:
            return Verdict(False)
        scheme, p = parse_auth(authorization)
        algorithm = p.get("algorithm", "MD5").upper()
        needed = ("username", "realm", "nonce", "uri", "response")
        if scheme.lower() != "digest" or algorithm not in self.algorithms or any(
                k not in p for k in needed) or p["realm"] != self.realm:
            return Verdict(False)
        state = self._nonce_state(p["nonce"])
        if state != "fresh":
            return Verdict(False, p["username"], stale=state == "stale")
        qop = p.get("qop")
        if qop is not None and (qop != "auth" or "nc" not in p or "cnonce" not in p):
            return Verdict(False, p["username"])
        if self.ha1_lookup is not None:
            ha1 = self.ha1_lookup(p["username"], algorithm)
        else:
            password = self.lookup(p["username"])
            ha1 = None if password is None else account_ha1(
                algorithm, p["username"], self.realm, password)
        if ha1 is None:
            return Verdict(False, p["username"], unknown_user=True)
        expected = response_from_ha1(algorithm, ha1, method, p["uri"], p["nonce"], p.get("nc"),
                                     p.get("cnonce"), qop)
        return Verdict(hmac.compare_digest(expected, p["response"].lower()), p["username"])


def answer_challenge(challenges: list[str], username: str, password: str, method: str,
                     uri: str) -> str | None:
    """The Authorization for the strongest challenge offered whose algorithm we know."""
    parsed = [parse_auth(c) for c in challenges]
    usable = [(p.get("algorithm", "MD5").upper(), p) for s, p in parsed
              if s.lower() == "digest" and "nonce" in p and "realm" in p]
    usable = [(a, p) for a, p in usable if a in ALGORITHMS]
    if not usable:
        return None
    usable.sort(key=lambda item: list(ALGORITHMS).index(item[0]))
    algorithm, p = usable[0]
    qop = "auth" if "auth" in [q.strip() for q in p.get("qop", "").split(",")] else None
    nc, cnonce = ("00000001", os.urandom(8).hex()) if qop else (None, None)
    digest = response_digest(algorithm, username, p["realm"], password, method, uri,
                             p["nonce"], nc, cnonce, qop)
    fields = [f'username="{username}"', f'realm="{p["realm"]}"', f'nonce="{p["nonce"]}"',
              f'uri="{uri}"', f'response="{digest}"', f"algorithm={algorithm}"]
    if qop:
        fields += [f"qop={qop}", f"nc={nc}", f'cnonce="{cnonce}"']
    return "Digest " + ", ".join(fields)
