"""The SIP accounts a registrar authenticates: user -> HA1 per digest algorithm, never the
password (RFC 2617 section 3.2.2.2, RFC 8760). An HA1 of 32 hex digits is MD5's, one of 64
SHA-256's; an account holding both is challenged with both (SHA-256 first), one holding one
with that one only, so a client that knows only MD5 (baresip 1.0.0's libre answers the first
challenge or none) is sent only the challenge it can answer."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from sip.digest import account_ha1

_HEX = re.compile(r"^[0-9a-f]+$")
HA1_LENGTHS = {32: "MD5", 64: "SHA-256"}
# the order challenges are sent in (RFC 8760 section 2.4: the preferred one first)
CHALLENGE_ORDER = ("SHA-256", "MD5")
MAX_USER_CHARS = 128


class AccountError(ValueError):
    """An account table entry that cannot be used; the message names the user and why."""


def algorithm_of(ha1: str) -> str:
    """The digest algorithm an HA1 hex string belongs to (by its length)."""
    text = ha1.lower()
    if not _HEX.match(text) or len(text) not in HA1_LENGTHS:
        raise AccountError("an HA1 is 32 (MD5) or 64 (SHA-256) hex digits")
    return HA1_LENGTHS[len(text)]


def check_user(user: str) -> None:
    """A SIP user part we can key on: 1..128 characters, none of them ':' '@' or blank."""
    if not 0 < len(user) <= MAX_USER_CHARS or any(c in user for c in ":@ \t\r\n;"):
        raise AccountError(f"SIP account {user[:40]!r}: a user of 1..{MAX_USER_CHARS} "
                           "characters without ':', '@', ';' or blanks")


@dataclass(frozen=True)
class SipAccounts:
    """user -> {algorithm: HA1 hex}."""

    table: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    @classmethod
    def from_ha1s(cls, table: Mapping[str, object]) -> SipAccounts:
        """From a settings table: user = "HA1" or user = ["HA1", "HA1"] (one per algorithm)."""
        accounts: dict[str, dict[str, str]] = {}
        for user, value in table.items():
            check_user(user)
            values = [value] if isinstance(value, str) else (
                list(value) if isinstance(value, list | tuple) else [])
            if not values or not all(isinstance(v, str) for v in values):
                raise AccountError(f"SIP account {user!r}: an HA1 hex string or a list of them")
            by_algorithm: dict[str, str] = {}
            for ha1 in values:
                try:
                    algorithm = algorithm_of(ha1)
                except AccountError as error:
                    raise AccountError(f"SIP account {user!r}: {error}") from None
                if algorithm in by_algorithm:
                    raise AccountError(f"SIP account {user!r}: two {algorithm} HA1s")
                by_algorithm[algorithm] = ha1.lower()
            accounts[user] = by_algorithm
        return cls(accounts)

    @classmethod
    def from_passwords(cls, realm: str, passwords: Mapping[str, str],
                       algorithms: Iterable[str] = CHALLENGE_ORDER) -> SipAccounts:
        """Accounts with the HA1s of these passwords (tests, provisioning scripts)."""
        chosen = tuple(algorithms)
        for user in passwords:
            check_user(user)
        return cls({user: {a: account_ha1(a, user, realm, password) for a in chosen}
                    for user, password in passwords.items()})

    def __bool__(self) -> bool:
        return bool(self.table)

    def __contains__(self, user: object) -> bool:
        return user in self.table

    def ha1(self, user: str, algorithm: str) -> str | None:
        return self.table.get(user, {}).get(algorithm)

    def algorithms_of(self, user: str | None) -> tuple[str, ...]:
        """The algorithms to challenge a REGISTER for `user` with: the account's; for a user
        without an account every algorithm (whatever it answers is then refused, 403)."""
        held = self.table.get(user or "")
        if held is None:
            return CHALLENGE_ORDER
        return tuple(a for a in CHALLENGE_ORDER if a in held)



def account_ha1_pair(user: str, realm: str, password: str) -> dict[str, str]:
    """{algorithm: HA1} of a password in both algorithms (what `[sip_accounts]` may list)."""
    return {a: account_ha1(a, user, realm, password) for a in CHALLENGE_ORDER}
