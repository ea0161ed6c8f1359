"""The MCU's SIP user agent settings beyond its port: `[sip] tls_port`, `realm`,
`open_registrar` and the `[sip_accounts]` table (docs/sip.md, "TLS and registrar accounts").

```toml
[sip]
tls_port = 5061          # absent: no TLS (the default); 0: an ephemeral port
realm = "mcu-sim"        # the registrar's digest realm (in every HA1)
open_registrar = true    # with no [sip_accounts]: bind anyone (true) or nobody (false)

[sip_accounts]           # user = HA1 hex: 32 digits MD5, 64 SHA-256, or a list of both
"1001" = "5f4dcc3b5aa765d61d8327deb882cf99"
```
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from sip.accounts import AccountError, SipAccounts, account_ha1_pair

DEFAULT_SIP_REALM = "mcu-sim"


class SipSettingsError(ValueError):
    """A [sip] or [sip_accounts] value that cannot be used; the message says which."""


@dataclass(frozen=True)
class SipSettings:
    tls_port: int | None = None  # None: no TLS listener; 0: an ephemeral port
    realm: str = DEFAULT_SIP_REALM
    # with an empty accounts table: the registrar binds anyone (a lab's simulated rooms,
    # `mcu-sim terminals --sip --register`) or refuses every REGISTER (403)
    open_registrar: bool = True
    accounts: SipAccounts = field(default_factory=SipAccounts)

    def with_account(self, user: str, password: str) -> SipSettings:
        """These settings plus one account (its MD5 and SHA-256 HA1s, not the password)."""
        table = {u: dict(h) for u, h in self.accounts.table.items()}
        table[user] = account_ha1_pair(user, self.realm, password)
        return replace(self, accounts=SipAccounts(table))


def sip_settings(section: Mapping[str, Any], accounts: Any) -> SipSettings:
    """[sip] (less its port, read with the other ports) and [sip_accounts]."""
    tls_port = section.get("tls_port")
    if tls_port is not None and (isinstance(tls_port, bool) or not isinstance(tls_port, int)
                                 or not 0 <= tls_port <= 65535):
        raise SipSettingsError("[sip] tls_port: a TCP port 0..65535 (0: an ephemeral one); "
                               "leave it out for no TLS")
    realm = section.get("realm", DEFAULT_SIP_REALM)
    if not isinstance(realm, str) or not 0 < len(realm) <= 128 or any(
            c in realm for c in ':"\\\r\n'):
        raise SipSettingsError('[sip] realm: 1..128 characters, none of : " \\ or a newline')
    open_registrar = section.get("open_registrar", True)
    if not isinstance(open_registrar, bool):
        raise SipSettingsError("[sip] open_registrar must be true or false")
    if not isinstance(accounts, dict):
        raise SipSettingsError('[sip_accounts] maps SIP users to HA1 hex strings ("user" = '
                               '"HA1", or a list of an MD5 and a SHA-256 HA1)')
    try:
        table = SipAccounts.from_ha1s(accounts)
    except AccountError as error:
        raise SipSettingsError(f"[sip_accounts] {error}") from None
    return SipSettings(tls_port, realm, open_registrar, table)
