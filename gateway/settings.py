"""Gateway settings: embedded defaults (gateway/defaults.toml), overridden by a TOML file
given with --config, overridden by command-line flags."""

from __future__ import annotations

import hashlib
import re
import tomllib
from dataclasses import dataclass, field, replace
from datetime import timedelta
from importlib import resources
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Any

from gateway.enum_numbering import NUMBERINGS
from gateway.node_settings import NodeSettings, NodeSettingsError, node_settings
from gateway.sip_settings import SipSettings, SipSettingsError, sip_settings
from gateway.wire import MAX_CHARS
from mcu.adhoc import AdhocTemplate, TemplateError, check_templates
from mcu.booking_rules import SchedulerSettings
from mcu.model import (
    ALLOWED_CP_RESOURCES,
    DialingMode,
    SiteSpec,
    SiteType,
    VideoFormat,
    VideoProtocol,
)
from mcu.organizations import DEFAULT_ORGANIZATIONS, Organization, OrganizationTree
from mcu.ownership import ROLES, Role
from mcu.port_costs import FORMAT_NAMES, PortCosts
from mcu.store_api import is_postgres_url
from rtc.ice import IceServer, IceServerError, parse_ice_servers
from rtc.signalling_auth import DEFAULT_REALM, digest_ha1

_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


class SettingsError(ValueError):
    """A settings file or flag is wrong; the message says which key and why."""


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: Path = Path("./data")
    # [store] url: "" keeps the scheduler's store in SQLite under data_dir; a postgresql://
    # URL puts it in that PostgreSQL database, which several gateways may share
    store_url: str = ""
    max_body_bytes: int = 1 << 20
    # slowloris: a request's line and headers must arrive within header_timeout_seconds of
    # the connection's start or of the previous answer (also the idle keep-alive time), its
    # body within body_timeout_seconds of the headers (docs/security.md)
    header_timeout_seconds: float = 10.0
    body_timeout_seconds: float = 30.0
    tls_cert: Path | None = None
    tls_key: Path | None = None
    session_timeout_seconds: float = 60.0
    lock_attempts: int = 3
    lock_minutes: float = 30.0
    # LoginRequests naming unknown users, per client address, before it is locked for them
    unknown_user_attempts: int = 20
    # authenticated sessions one account may hold at once; the next login is refused
    max_sessions_per_account: int = 16
    # [dial_in]: failed `join` attempts (docs/security.md, "Dial-in attempts")
    dial_in_lock_attempts: int = 10  # per socket and per URI
    dial_in_code_lock_attempts: int = 20  # per access code
    dial_in_lock_minutes: float = 15.0
    dial_in_delay_after: int = 3  # failures before the growing delay starts
    dial_in_delay_seconds: float = 1.0  # the first delay; doubles with each failure
    dial_in_max_delay_seconds: float = 30.0
    # [terminal_auth] + [terminal_credentials]: who may register on /signalling
    # (mcu/terminal_credentials.py, docs/security.md)
    terminal_realm: str = DEFAULT_REALM
    terminal_provisioning_key: str = ""
    terminal_credentials: dict[str, str] = field(default_factory=dict)  # uri -> HA1 hex
    terminal_lock_attempts: int = 5
    terminal_lock_minutes: float = 15.0
    enum_numbering: str = "esdk"
    max_ports: int = 64  # ports of the costliest format (mcu/port_costs.py)
    max_cp_resources: int = 32
    # [mcu.port_cost]: units a site port takes by its booked video format
    port_costs: PortCosts = field(default_factory=PortCosts)
    default_cp_resource: int = 4
    call_timeout_seconds: float = 30.0
    # after the answer, the time the media path (ICE, DTLS) has to come up (mcu/calls.py)
    media_timeout_seconds: float = 10.0
    media_address: str = "127.0.0.1"
    # [bfcp] port: the content floor's BFCP server (RFC 8855 over TCP, TLS when the gateway
    # runs HTTPS) listens on media_address:bfcp_port; 0 = an ephemeral port
    bfcp_port: int = 0
    # [sip] port: the MCU's SIP user agent (sip/, mcu/media/sip_endpoint.py) listens on
    # media_address:sip_port over UDP and TCP; 0 = an ephemeral port (tests)
    sip_port: int = 5060
    # [sip] tls_port, realm, open_registrar and [sip_accounts] (gateway/sip_settings.py)
    sip: SipSettings = field(default_factory=SipSettings)
    # [node] zone, cascade_tls, cascade_ca and [site_zones] (gateway/node_settings.py)
    node: NodeSettings = field(default_factory=NodeSettings)
    # STUN/TURN servers of the MCU's peer connections, announced to terminals (rtc/ice.py)
    ice_servers: tuple[IceServer, ...] = ()
    mixed_speakers: int = 4
    send_ladder: bool = True  # [mcu] send_ladder: ask sites for what their panes need
    # [mcu] voice_gate: leave undecoded a voice frame whose RFC 6464 level nobody would hear
    voice_gate: bool = True
    tombstone_retention_days: float = 30.0
    # [key_exchange]: passwords of sessions without a negotiated key may come encrypted with
    # the older eSDK SDKs' fixed AES key (gateway/session_crypto.py)
    accept_fixed_sdk_key: bool = True
    # account name -> lower-case hex SHA-256 of the password
    accounts: dict[str, str] = field(default_factory=dict)
    # account name -> role (mcu/ownership.py); an account not listed is an operator
    account_roles: dict[str, Role] = field(default_factory=dict)
    # [mcu_identity]: how queryMCUInfoEx names this process's MCU
    mcu_id: int = 1
    mcu_name: str = "mcu-sim"
    mcu_domain_name: str = ""  # empty: the media address
    # [[organizations]]: the organization tree (mcu/organizations.py)
    organizations: tuple[Organization, ...] = DEFAULT_ORGANIZATIONS
    # [[adhoc]] tables: ad-hoc conference templates (mcu/adhoc.py)
    adhoc_templates: tuple[AdhocTemplate, ...] = ()
    # [metrics]: who may read GET /metrics (gateway/metrics.py, docs/security.md)
    metrics_token: str = ""  # empty: no token asked
    metrics_allowed_addresses: tuple[IPv4Network | IPv6Network, ...] = (
        ip_network("127.0.0.1/32"), ip_network("::1/128"))

    @property
    def uses_tls(self) -> bool:
        return self.tls_cert is not None and self.tls_key is not None

    def with_terminal_secret(self, uri: str, secret: str) -> Settings:
        """These settings plus one terminal credential; only its HA1 is kept."""
        credentials = dict(self.terminal_credentials)
        credentials[uri] = digest_ha1(uri, self.terminal_realm, secret)
        return replace(self, terminal_credentials=credentials)

    def with_sip_account(self, user: str, password: str) -> Settings:
        """These settings plus one account of the MCU's SIP registrar (its HA1s only)."""
        return replace(self, sip=self.sip.with_account(user, password))

    def with_account(self, name: str, password: str, role: Role = Role.OPERATOR) -> Settings:
        """These settings plus one account (replacing one of that name, role included); the
        password is hashed here and not kept."""
        check_account_name(name)
        accounts = dict(self.accounts)
        accounts[name] = password_digest(password)
        roles = dict(self.account_roles)
        roles[name] = role
        return replace(self, accounts=accounts, account_roles=roles)

    def role_of(self, name: str) -> Role:
        return self.account_roles.get(name, Role.OPERATOR)


def check_account_name(name: str) -> None:
    """A login's userName is trimmed and bounded (docs/security.md, "SOAP input limits"): an
    account it could never name is refused at start, from a file or --account alike."""
    longest = MAX_CHARS["userName"]
    if not name or name != name.strip() or len(name) > longest:
        raise SettingsError(f"account {name!r}: a name of 1-{longest} characters without edge spaces")


def password_digest(password: str) -> str:
    return hashlib.sha256(password.encode("utf-8")).hexdigest()


def parse_account(text: str) -> tuple[str, str, Role]:
    """`NAME:PASSWORD[:ROLE]` as given to --account. The name ends at the first ':'; the
    password may itself contain ':'. A last ':admin' or ':operator' is the role and not part
    of the password (so a password that ends in one of those is given with the role after
    it, e.g. `NAME:pw:admin:operator`); without one the account is an operator."""
    name, sep, rest = text.partition(":")
    role = Role.OPERATOR
    head, role_sep, last = rest.rpartition(":")
    if role_sep and last in ROLES:
        rest, role = head, Role(last)
    if not sep or not name or not rest:
        raise SettingsError(f"--account wants NAME:PASSWORD or NAME:PASSWORD:admin, got {text!r}")
    return name, rest, role


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Defaults, then `config_file`, then the non-None `overrides` (Settings field names)."""
    table = _read_toml(resources.files("gateway").joinpath("defaults.toml").read_text("utf-8"))
    if config_file is not None:
        try:
            text = Path(config_file).read_text("utf-8")
        except OSError as error:
            raise SettingsError(f"cannot read config file {config_file}: {error}") from error
        _merge(table, _read_toml(text, str(config_file)))
    settings = _from_table(table)
    chosen = {key: value for key, value in overrides.items() if value is not None}
    unknown = set(chosen) - set(Settings.__dataclass_fields__)
    if unknown:
        raise SettingsError(f"unknown settings: {sorted(unknown)}")
    settings = replace(settings, **chosen)
    _check(settings)
    return settings


def _read_toml(text: str, origin: str = "defaults.toml") -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise SettingsError(f"{origin}: {error}") from error


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> None:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value


_KNOWN_KEYS = {
    "server": {"host", "port", "data_dir", "max_body_bytes", "header_timeout_seconds",
               "body_timeout_seconds"},
    "tls": {"cert", "key"},
    "store": {"url"},
    "sessions": {
        "timeout_seconds", "lock_attempts", "lock_minutes", "unknown_user_attempts",
        "max_per_account",
    },
    "dial_in": {
        "lock_attempts",
        "code_lock_attempts",
        "lock_minutes",
        "delay_after",
        "delay_seconds",
        "max_delay_seconds",
    },
    "terminal_auth": {"realm", "provisioning_key", "lock_attempts", "lock_minutes"},
    "wire": {"enum_numbering"},
    "mcu": {
        "max_ports",
        "max_cp_resources",
        "default_cp_resource",
        "call_timeout_seconds",
        "media_timeout_seconds",
        "media_address",
        "ice_servers",
        "mixed_speakers",
        "send_ladder",
        "voice_gate",
        "tombstone_retention_days",
        "port_cost",
    },
    "key_exchange": {"accept_fixed_sdk_key"},
    "bfcp": {"port"},
    "sip": {"port", "tls_port", "realm", "open_registrar"},
    "metrics": {"token", "allowed_addresses"},
    "mcu_identity": {"id", "name", "domain_name"},
}


def _from_table(table: dict[str, Any]) -> Settings:
    for section, keys in table.items():
        if section in ("accounts", "organizations", "adhoc", "terminal_credentials",
                       "sip_accounts", "node", "site_zones"):  # node: node_settings.py
            continue
        if section not in _KNOWN_KEYS or not isinstance(keys, dict):
            raise SettingsError(f"unknown settings section [{section}]")
        unknown = set(keys) - _KNOWN_KEYS[section]
        if unknown:
            raise SettingsError(f"unknown keys in [{section}]: {sorted(unknown)}")
    server, tls = table.get("server", {}), table.get("tls", {})
    sessions, wire, mcu = table.get("sessions", {}), table.get("wire", {}), table.get("mcu", {})
    accounts = table.get("accounts", {})
    accept_fixed_sdk_key = table.get("key_exchange", {}).get("accept_fixed_sdk_key", True)
    if not isinstance(accept_fixed_sdk_key, bool):
        raise SettingsError("[key_exchange] accept_fixed_sdk_key must be true or false")
    return Settings(
        host=str(server["host"]),
        port=int(server["port"]),
        data_dir=Path(server["data_dir"]),
        store_url=str(table.get("store", {}).get("url", "")),
        max_body_bytes=int(server["max_body_bytes"]),
        header_timeout_seconds=float(server["header_timeout_seconds"]),
        body_timeout_seconds=float(server["body_timeout_seconds"]),
        tls_cert=Path(tls["cert"]) if tls.get("cert") else None,
        tls_key=Path(tls["key"]) if tls.get("key") else None,
        session_timeout_seconds=float(sessions["timeout_seconds"]),
        lock_attempts=int(sessions["lock_attempts"]),
        lock_minutes=float(sessions["lock_minutes"]),
        unknown_user_attempts=int(sessions["unknown_user_attempts"]),
        max_sessions_per_account=int(sessions["max_per_account"]),
        **_dial_in(table.get("dial_in", {})),
        **_terminal_auth(table.get("terminal_auth", {}), table.get("terminal_credentials", {})),
        enum_numbering=str(wire["enum_numbering"]),
        max_ports=int(mcu["max_ports"]),
        max_cp_resources=int(mcu["max_cp_resources"]),
        port_costs=_port_costs(mcu.get("port_cost", {})),
        default_cp_resource=int(mcu["default_cp_resource"]),
        call_timeout_seconds=float(mcu["call_timeout_seconds"]),
        media_timeout_seconds=float(mcu["media_timeout_seconds"]),
        media_address=str(mcu["media_address"]),
        bfcp_port=int(table.get("bfcp", {}).get("port", 0)),
        sip_port=int(table.get("sip", {}).get("port", 5060)),
        sip=_sip(table.get("sip", {}), table.get("sip_accounts", {})),
        node=_node(table.get("node", {}), table.get("site_zones", {}),
                   Path(tls["cert"]) if tls.get("cert") else None),
        ice_servers=_ice_servers(mcu.get("ice_servers", [])),
        mixed_speakers=int(mcu["mixed_speakers"]),
        send_ladder=_flag(mcu.get("send_ladder", True), "[mcu] send_ladder"),
        voice_gate=_flag(mcu.get("voice_gate", True), "[mcu] voice_gate"),
        tombstone_retention_days=float(mcu["tombstone_retention_days"]),
        accept_fixed_sdk_key=accept_fixed_sdk_key,
        **_accounts(accounts),
        **_mcu_identity(table.get("mcu_identity", {})),
        organizations=_organizations(table.get("organizations", [])),
        adhoc_templates=adhoc_templates(table.get("adhoc", []), int(mcu["default_cp_resource"])),
        **_metrics(table.get("metrics", {})),
    )


def _sip(section: dict[str, Any], accounts: Any) -> SipSettings:
    try:
        return sip_settings(section, accounts)
    except SipSettingsError as error:
        raise SettingsError(str(error)) from None


def _node(section: Any, pins: Any, tls_cert: Path | None) -> NodeSettings:
    try:
        return node_settings(section, pins, tls_cert)
    except NodeSettingsError as error:
        raise SettingsError(str(error)) from None


def _flag(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise SettingsError(f"{name} must be true or false")
    return value


def _accounts(section: Any) -> dict[str, Any]:
    """[accounts]: `name = "<sha256 hex>"` (an operator, as every account of a file written
    before roles existed) or `name = { sha256 = "<hex>", role = "admin" | "operator" }`."""
    if not isinstance(section, dict):
        raise SettingsError("[accounts] is a table of name = digest entries")
    digests: dict[str, str] = {}
    roles: dict[str, Role] = {}
    for name, value in section.items():
        if isinstance(value, str):
            digests[name], roles[name] = value.lower(), Role.OPERATOR
            continue
        if not isinstance(value, dict) or set(value) - {"sha256", "role"} or "sha256" not in value:
            raise SettingsError(
                f'[accounts] {name}: a SHA-256 hex string or {{ sha256 = "...", role = "admin" }}'
            )
        role = value.get("role", Role.OPERATOR.value)
        if role not in ROLES:
            raise SettingsError(f"[accounts] {name}: role must be one of {', '.join(ROLES)}")
        if not isinstance(value["sha256"], str):
            raise SettingsError(f"[accounts] {name}: sha256 is a hex string")
        digests[name], roles[name] = value["sha256"].lower(), Role(role)
    return {"accounts": digests, "account_roles": roles}


def _dial_in(section: dict[str, Any]) -> dict[str, Any]:
    return {
        "dial_in_lock_attempts": int(section["lock_attempts"]),
        "dial_in_code_lock_attempts": int(section["code_lock_attempts"]),
        "dial_in_lock_minutes": float(section["lock_minutes"]),
        "dial_in_delay_after": int(section["delay_after"]),
        "dial_in_delay_seconds": float(section["delay_seconds"]),
        "dial_in_max_delay_seconds": float(section["max_delay_seconds"]),
    }


def _terminal_auth(section: dict[str, Any], credentials: Any) -> dict[str, Any]:
    if not isinstance(credentials, dict) or not all(
        isinstance(uri, str) and isinstance(ha1, str) for uri, ha1 in credentials.items()
    ):
        raise SettingsError("[terminal_credentials] maps URIs to HA1 hex strings")
    realm, key = section.get("realm", DEFAULT_REALM), section.get("provisioning_key", "")
    if not isinstance(realm, str) or not isinstance(key, str):
        raise SettingsError("[terminal_auth] realm and provisioning_key are strings")
    return {
        "terminal_realm": realm,
        "terminal_provisioning_key": key,
        "terminal_credentials": {uri: ha1.lower() for uri, ha1 in credentials.items()},
        "terminal_lock_attempts": int(section.get("lock_attempts", 5)),
        "terminal_lock_minutes": float(section.get("lock_minutes", 15.0)),
    }


METRICS_TOKEN_MAX_CHARS = 256


def _metrics(section: dict[str, Any]) -> dict[str, Any]:
    """[metrics]: token (empty, or 16-256 printable ASCII characters without spaces, as an
    HTTP Bearer token is written) and allowed_addresses (IP addresses or networks; empty:
    no address may read /metrics)."""
    token = section.get("token", "")
    if not isinstance(token, str) or (token and not (
            16 <= len(token) <= METRICS_TOKEN_MAX_CHARS
            and all("!" <= char <= "~" for char in token))):
        raise SettingsError("[metrics] token: empty, or 16-256 printable ASCII characters "
                            "without spaces")
    addresses = section.get("allowed_addresses", ["127.0.0.1", "::1"])
    if not isinstance(addresses, list) or not all(isinstance(a, str) for a in addresses):
        raise SettingsError("[metrics] allowed_addresses: a list of IP addresses or networks")
    networks = []
    for address in addresses:
        try:
            networks.append(ip_network(address.strip(), strict=False))
        except ValueError:
            raise SettingsError(f"[metrics] allowed_addresses: {address!r} is not an IP "
                                "address or network (e.g. 10.0.0.0/8)") from None
    return {"metrics_token": token, "metrics_allowed_addresses": tuple(networks)}


def _mcu_identity(section: dict[str, Any]) -> dict[str, Any]:
    return {
        "mcu_id": int(section["id"]),
        "mcu_name": str(section["name"]),
        "mcu_domain_name": str(section["domain_name"]),
    }


def _port_costs(table: Any) -> PortCosts:
    """[mcu.port_cost]: format name (as FORMAT_NAMES, e.g. "1080P30") = whole units >= 1.
    The embedded defaults give every format; a config file overrides the ones it names."""
    if not isinstance(table, dict):
        raise SettingsError('[mcu] port_cost is a table, e.g. [mcu.port_cost] "1080P30" = 8')
    costs = {}
    for name, cost in table.items():
        video_format = FORMAT_NAMES.get(str(name).upper())
        if video_format is None:
            raise SettingsError(
                f"[mcu.port_cost]: {name!r} is not a video format (one of "
                f"{', '.join(FORMAT_NAMES)})"
            )
        if isinstance(cost, bool) or not isinstance(cost, int) or cost < 1:
            raise SettingsError(f"[mcu.port_cost] {name}: a whole number >= 1, got {cost!r}")
        costs[video_format] = cost
    try:
        return PortCosts(costs)
    except ValueError as error:
        raise SettingsError(f"[mcu.port_cost]: {error}") from None


def _organizations(items: Any) -> tuple[Organization, ...]:
    """[[organizations]] tables: id, name and optionally parent (the parent's id)."""
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise SettingsError("organizations: write each one as an [[organizations]] table")
    organizations = []
    for item in items:
        unknown = set(item) - {"id", "name", "parent"}
        if unknown or "id" not in item or "name" not in item:
            raise SettingsError(
                f"[[organizations]] takes id, name and parent; got {sorted(item)}"
            )
        parent = item.get("parent")
        organizations.append(
            Organization(str(item["id"]), str(item["name"]), str(parent) if parent else None)
        )
    return tuple(organizations)


def _ice_servers(value: Any) -> tuple[IceServer, ...]:
    try:
        return parse_ice_servers(value)
    except IceServerError as error:
        raise SettingsError(f"[mcu] ice_servers: {error}") from None


def _check(settings: Settings) -> None:
    if not 0 <= settings.port <= 65535:
        raise SettingsError(f"port {settings.port} is not a TCP port")
    if not 0 <= settings.bfcp_port <= 65535:
        raise SettingsError(f"[bfcp] port {settings.bfcp_port} is not a TCP port")
    if not 0 <= settings.sip_port <= 65535:
        raise SettingsError(f"[sip] port {settings.sip_port} is not a UDP/TCP port")
    if settings.store_url and not is_postgres_url(settings.store_url):
        raise SettingsError("[store] url must be empty (SQLite under data_dir) or a "
                            "postgresql:// URL")
    if settings.max_body_bytes < 1:
        raise SettingsError("server.max_body_bytes must be at least 1")
    for key in ("header_timeout_seconds", "body_timeout_seconds"):
        if not 0 < getattr(settings, key) <= 3600:
            raise SettingsError(f"server.{key} must be over 0 and at most 3600")
    if settings.enum_numbering not in NUMBERINGS:
        raise SettingsError(f"wire.enum_numbering must be one of {NUMBERINGS}")
    if (settings.tls_cert is None) != (settings.tls_key is None):
        raise SettingsError("TLS needs both a certificate and a key")
    if settings.session_timeout_seconds <= 0 or settings.lock_attempts < 1:
        raise SettingsError("session timeout and lock attempts must be positive")
    if settings.unknown_user_attempts < 1 or settings.lock_minutes <= 0:
        raise SettingsError("sessions.unknown_user_attempts and lock_minutes must be positive")
    if settings.max_sessions_per_account < 1:
        raise SettingsError("sessions.max_per_account must be at least 1")
    if min(settings.dial_in_lock_attempts, settings.dial_in_code_lock_attempts) < 1:
        raise SettingsError("dial_in.lock_attempts and code_lock_attempts must be at least 1")
    if settings.dial_in_lock_minutes <= 0 or settings.dial_in_delay_after < 0:
        raise SettingsError("dial_in.lock_minutes must be positive, delay_after not negative")
    if settings.dial_in_delay_seconds < 0 or settings.dial_in_max_delay_seconds < 0:
        raise SettingsError("dial_in delays must not be negative")
    if not settings.terminal_realm or len(settings.terminal_realm) > 128 \
            or ":" in settings.terminal_realm:
        raise SettingsError("terminal_auth.realm: 1..128 characters, no ':'")
    if settings.terminal_lock_attempts < 1 or settings.terminal_lock_minutes <= 0:
        raise SettingsError("terminal_auth.lock_attempts and lock_minutes must be positive")
    for uri, ha1 in settings.terminal_credentials.items():
        if not uri.strip() or len(uri) > 128 or not _SHA256_HEX.match(ha1):
            raise SettingsError(f"[terminal_credentials] {uri!r}: a URI of 1..128 "
                                "characters = a SHA-256 hex digest (HA1)")
    if settings.max_ports < 1 or settings.max_cp_resources < 1:
        raise SettingsError("mcu.max_ports and mcu.max_cp_resources must be at least 1")
    if settings.default_cp_resource not in ALLOWED_CP_RESOURCES:
        raise SettingsError(
            f"mcu.default_cp_resource {settings.default_cp_resource} is not one of "
            f"{sorted(ALLOWED_CP_RESOURCES)}"
        )
    for key in ("call_timeout_seconds", "media_timeout_seconds"):
        if not getattr(settings, key) > 0:
            raise SettingsError(f"mcu.{key} must be positive")
    if settings.tombstone_retention_days <= 0:
        raise SettingsError("mcu.tombstone_retention_days must be positive")
    if not 1 <= settings.mixed_speakers <= 64:
        raise SettingsError(f"mcu.mixed_speakers {settings.mixed_speakers} is not 1..64")
    if not 0 <= settings.mcu_id <= 2**31 - 1 or not settings.mcu_name.strip():
        raise SettingsError("mcu_identity: id 0..2147483647 and a name are needed")
    try:
        OrganizationTree(settings.organizations)
    except ValueError as error:
        raise SettingsError(f"organizations: {error}") from error
    for name, digest in settings.accounts.items():
        check_account_name(name)
        if not _SHA256_HEX.match(digest):
            raise SettingsError(f"account {name!r}: not a SHA-256 hex digest")
    try:
        check_templates(
            settings.adhoc_templates,
            scheduler_settings(settings),
        )
    except TemplateError as error:
        raise SettingsError(f"[[adhoc]]: {error}") from None


def scheduler_settings(settings: Settings, **more: Any) -> SchedulerSettings:
    """The MCU's capacity as the scheduler's booking rules count it, plus `more`."""
    return SchedulerSettings(
        max_ports=settings.max_ports,
        max_cp_resources=settings.max_cp_resources,
        port_costs=settings.port_costs,
        **more,
    )


# -- [[adhoc]]: ad-hoc conference templates ------------------------------------------------

_TEMPLATE_KEYS = {
    "name", "access_code", "password", "chairman_password", "duration_minutes", "rate",
    "cp_resource", "presence_mode", "bill_code", "sites",
}
_TEMPLATE_SITE_KEYS = {"uri", "name", "type", "dialing_mode", "rate", "video_format",
                       "video_protocol"}


def adhoc_templates(tables: Any, default_cp_resource: int) -> tuple[AdhocTemplate, ...]:
    """The [[adhoc]] tables as templates; the shape of each value is checked here, the
    booking rules by mcu.adhoc.check_templates (in _check)."""
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise SettingsError("adhoc must be written as [[adhoc]] tables")
    return tuple(_template(table, number, default_cp_resource)
                 for number, table in enumerate(tables, 1))


def _template(table: dict[str, Any], number: int, default_cp_resource: int) -> AdhocTemplate:
    where = f"[[adhoc]] #{number}" + (f" ({table['name']!r})" if "name" in table else "")
    unknown = set(table) - _TEMPLATE_KEYS
    if unknown:
        raise SettingsError(f"{where}: unknown keys {sorted(unknown)}")
    for key in ("name", "access_code"):
        if key not in table:
            raise SettingsError(f"{where}: {key} is required")
    sites = table.get("sites", [])
    if not isinstance(sites, list) or not all(isinstance(site, dict) for site in sites):
        raise SettingsError(f"{where}: sites is a list of tables, e.g. [{{uri = \"01010086\"}}]")
    duration = _typed(table, "duration_minutes", (int, float), where, 120)
    if duration <= 0:
        raise SettingsError(f"{where}: duration_minutes must be positive")
    presence_mode = table.get("presence_mode")
    return AdhocTemplate(
        name=_typed(table, "name", str, where, ""),
        access_code=_typed(table, "access_code", str, where, ""),
        password=_typed(table, "password", str, where, ""),
        chairman_password=_typed(table, "chairman_password", str, where, ""),
        sites=tuple(_template_site(site, f"{where} site #{index}")
                    for index, site in enumerate(sites, 1)),
        rate=_typed(table, "rate", str, where, "") or None,
        cp_resource=_typed(table, "cp_resource", int, where, default_cp_resource),
        presence_mode=None if presence_mode is None
        else _typed(table, "presence_mode", int, where, 0),
        duration=timedelta(minutes=duration),
        bill_code=_typed(table, "bill_code", str, where, "") or None,
    )


def _template_site(table: dict[str, Any], where: str) -> SiteSpec:
    unknown = set(table) - _TEMPLATE_SITE_KEYS
    if unknown:
        raise SettingsError(f"{where}: unknown keys {sorted(unknown)}")
    if "uri" not in table:
        raise SettingsError(f"{where}: uri is required")
    try:
        video_format = table.get("video_format")
        video_protocol = table.get("video_protocol")
        return SiteSpec(
            uri=_typed(table, "uri", str, where, ""),
            name=_typed(table, "name", str, where, ""),
            type=SiteType(_typed(table, "type", int, where, int(SiteType.SIP))),
            dialing_mode=DialingMode(_typed(table, "dialing_mode", int, where, 0)),
            rate=_typed(table, "rate", str, where, "") or None,
            video_format=None if video_format is None
            else VideoFormat(_typed(table, "video_format", int, where, 0)),
            video_protocol=None if video_protocol is None
            else VideoProtocol(_typed(table, "video_protocol", int, where, 0)),
        )
    except ValueError as error:  # an enumeration value out of its table
        raise SettingsError(f"{where}: {error}") from None


def _typed(table: dict[str, Any], key: str, kind: Any, where: str, default: Any) -> Any:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, kind):
        names = " or ".join(k.__name__ for k in kind) if isinstance(kind, tuple) else kind.__name__
        raise SettingsError(f"{where}: {key} must be a {names}, got {value!r}")
    return value
