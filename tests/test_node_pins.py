"""Sites pinned to zones and nodes, and TLS on the nodes' cascade links (issue 18; docs/
deployment.md "Pinning sites to nodes", "TLS on the cascade links"), driven from the outside:

- a real redis-server, three `mcu-sim node` processes of 4 ports each in three zones (node 1
  `--zone beijing`, node 2 `[node] zone = "shanghai"`, node 3 "hangzhou"), `mcu-sim serve
  --redis` with a `[site_zones]` table (patterns, an exact URI, a `node:N` pin), zeep
  clients of the reference WSDL, real simulated terminals;
- nodes 1 and 2 run their cascade links under TLS with one shared certificate (their
  cascade_ca); node 3 has a certificate of its own and trusts only that one;
- four sites pinned two to beijing and two to shanghai, a conference that one node could
  hold whole: it spans nodes 1 and 2 (queryConfSiteMCUEx names each site's node) and every
  terminal decodes all four markers in the same panes, over the TLS link; node 1's cascade
  port speaks TLS only to a peer with the shared certificate;
- a conference with a site on node 3 (hangzhou) and one pinned to node 1: its link is
  refused (node 3 does not trust node 1's certificate), the refusal is logged as an error,
  both sites are still in conference on their own nodes, and every process goes on;
- a site pinned to a zone no live node is in: the conference is not placed, its call fails
  with the reason naming the zone (queryConfSitesStatusEx's callFailedReason).

And the pin table and the placement rule on records, alone.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gateway.settings import SettingsError, load_settings
from mcu.layouts import layout_mode
from mcu.model import SiteSpec
from mcu.nodes.node_record import NodeRecord, port_costs_json
from mcu.nodes.pinned_placement import place_pinned
from mcu.nodes.placement import Need, Reservations
from mcu.nodes.site_pins import Pin, PinError, SitePins
from mcu.port_costs import FORMAT_NAMES, PortCosts
from rtc.deadline import within
from sip.certificates import self_signed
from tests.conftest import SoapClients
from tests.test_node_cascade import records
from tests.test_nodes import (
    IN_CONFERENCE,
    Platform,
    eventually,
    node_ids,
    platform_of,
    site_mcus,
    site_mcus_or_none,
    statuses,
    terminal,
)

ONE_PORT_A_SITE = "[mcu.port_cost]\n" + "".join(f'"{name}" = 1\n' for name in FORMAT_NAMES)
BEIJING = ("0402001", "0402002")
SHANGHAI = ("0402003", "0402004")
HANGZHOU, ON_NODE_1, CHENGDU = "0402005", "0402006", "0402009"
PINS = f"""[site_zones]
"040200[12]" = "beijing"
"040200[34]" = "shanghai"
"{HANGZHOU}" = "hangzhou"
"{ON_NODE_1}" = "node:1"
"{CHENGDU}" = "chengdu"
"""


def node_config(root: Path, node_id: int, zone_line: str, cert: Path, key: Path) -> Path:
    config = root / f"node{node_id}.toml"
    config.write_text(f"[mcu]\nmax_ports = 4\nmax_cp_resources = 9\n{ONE_PORT_A_SITE}"
                      f"[tls]\ncert = \"{cert}\"\nkey = \"{key}\"\n"
                      f"[node]\ncascade_tls = true\n{zone_line}")
    return config


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    root = tmp_path_factory.mktemp("node-pins")
    shared = self_signed(root / "shared-tls", "127.0.0.1")
    own = self_signed(root / "node3-tls", "127.0.0.1")  # another key: nodes 1, 2 refuse it
    yield from platform_of(root, {
        1: ["--config", str(node_config(root, 1, "", *shared)), "--zone", "beijing"],
        2: ["--config", str(node_config(root, 2, 'zone = "shanghai"\n', *shared))],
        3: ["--config", str(node_config(root, 3, 'zone = "hangzhou"\n', *own))]},
        gateway_config=PINS)


def book(soap: SoapClients, name: str, uris: list[str]) -> int | str:
    answer = soap.conf_mgr.scheduleConfEx(scheduleConf={
        "name": name, "beginTime": datetime.now(UTC), "duration": timedelta(hours=1),
        "mediaEncryptType": 0, "cpResouce": 4, "presentation": 0, "rate": "1920k",
        "sites": [{"name": f"Site {uri}", "uri": uri, "type": 7, "from": 0, "dialingMode": 0,
                   "videoFormat": 1} for uri in uris]})  # 4CIF: the link's format too
    return answer.conferenceInfo.confId if answer.resultCode == 0 else answer.resultCode


async def tls_peer_certificate(port: int, cert: tuple[Path, Path], ca: Path) -> bool:
    """Whether node 1's cascade port completes a TLS session with a client presenting
    `cert` and trusting `ca`: the handshake, then the server's first answer (TLS 1.3 checks
    the client's certificate after the client's side of the handshake)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(cafile=str(ca))
    context.load_cert_chain(str(cert[0]), str(cert[1]))
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context)
    except (ssl.SSLError, OSError):
        return False
    try:
        writer.write(b"not json\n")  # the root answers `error` (and waits for a hello)
        await writer.drain()
        line = await within(reader.readline(), 30)
        return line.startswith(b"{")
    except (ssl.SSLError, OSError):
        return False
    finally:
        writer.close()


async def plain_answer(port: int) -> bool:
    """Whether the port answers a plain (not TLS) line with a JSON line."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(b'{"type": "hello"}\n')
        await writer.drain()
        return (await within(reader.read(1024), 30)).startswith(b"{")
    except OSError:
        return False
    finally:
        writer.close()


async def test_pinned_sites_span_their_zones_nodes_over_tls(platform: Platform) -> None:
    soap = await asyncio.to_thread(platform.soap)
    beijing = [terminal(uri, 25 + i) for i, uri in enumerate(BEIJING)]
    shanghai = [terminal(uri, 27 + i) for i, uri in enumerate(SHANGHAI)]
    everyone = beijing + shanghai
    for t in everyone:
        await t.start(platform.base_url.replace("http", "ws", 1) + "/signalling")
    try:
        conf_id = await asyncio.to_thread(book, soap, "two cities", [t.uri for t in everyone])
        assert isinstance(conf_id, str), conf_id

        async def all_joined() -> bool:
            found = await asyncio.to_thread(statuses, soap, conf_id)
            return found == {t.uri: IN_CONFERENCE for t in everyone}

        await eventually(all_joined, "all four sites in conference")
        # one node of 4 ports would hold the four sites: the pins split them
        assert await asyncio.to_thread(site_mcus, soap, conf_id) == {
            **{t.uri: 1 for t in beijing}, **{t.uri: 2 for t in shanghai}}

        order = [beijing[0], shanghai[0], beijing[1], shanghai[1]]
        code = await asyncio.to_thread(
            soap.conf_ctrl.setContinuousPresenceEx, confId=conf_id, target="0",
            presenceMode=layout_mode("CP_4_1").value, subPics=[t.uri for t in order])
        assert code == 0
        panes = [tuple(pane.as_floats()) for pane in layout_mode("CP_4_1").panes]
        for t in everyone:
            t.set_panes(panes)
        expected = [t.site_index for t in order]
        seen: dict[str, list[int | None]] = {}

        async def everyone_sees_all_four() -> bool:
            ok = True
            for viewer in everyone:
                seen[viewer.uri] = [pane.site_index for pane in await viewer.read_panes()]
                ok = ok and seen[viewer.uri] == expected
            return ok

        await eventually(everyone_sees_all_four, "every terminal decodes the 4 markers",
                         timeout=120.0, what_else=lambda: seen)

        # the link's control connection is TLS, open only to the shared certificate
        port = (await records(platform.redis.url))[1].cascade_port
        shared = (platform.root / "shared-tls" / "cert.pem", platform.root / "shared-tls" /
                  "key.pem")
        other = (platform.root / "node3-tls" / "cert.pem", platform.root / "node3-tls" /
                 "key.pem")
        assert await tls_peer_certificate(port, shared, shared[0])
        assert not await tls_peer_certificate(port, other, shared[0])
        assert not await plain_answer(port)

        code = await asyncio.to_thread(soap.conf_mgr.delScheduledConfEx, confId=conf_id)
        assert code == 0

        async def off_the_nodes() -> bool:
            listed = await records(platform.redis.url)
            return all(conf_id not in record.conferences for record in listed.values())

        await eventually(off_the_nodes, "the conference gone from the nodes' records")
    finally:
        for t in everyone:
            await t.stop()


async def test_a_link_to_a_node_with_a_wrong_certificate_is_refused(
        platform: Platform) -> None:
    soap = await asyncio.to_thread(platform.soap)
    sites = [terminal(HANGZHOU, 29), terminal(ON_NODE_1, 30)]
    for t in sites:
        await t.start(platform.base_url.replace("http", "ws", 1) + "/signalling")
    try:
        conf_id = await asyncio.to_thread(book, soap, "untrusted", [t.uri for t in sites])
        assert isinstance(conf_id, str), conf_id

        async def both_joined() -> bool:
            found = await asyncio.to_thread(statuses, soap, conf_id)
            return found == {t.uri: IN_CONFERENCE for t in sites}

        await eventually(both_joined, "both sites in conference, each on its own node")
        assert await asyncio.to_thread(site_mcus, soap, conf_id) == {HANGZHOU: 3, ON_NODE_1: 1}
        # node 1 has the shared certificate, which node 3 does not trust (nor node 1
        # node 3's): whichever of the two is the leaf refuses the link and says so. The
        # root is the node with the most free room, the lower id on a tie: node 1 when the
        # previous test's conference has left its record, node 3 while it has not
        logs = [platform.root / "node1.log", platform.root / "node3.log"]
        refused: list[str] = []

        async def refusal_logged() -> bool:
            refused[:] = [log.read_text() for log in logs if log.exists()
                          and "cascade link to 127.0.0.1" in log.read_text()
                          and "refused: TLS with the root" in log.read_text()]
            return bool(refused)

        await eventually(refusal_logged, "the leaf logs the refused link", timeout=90.0)
        assert "ERROR app.node conference" in refused[0]
        # nothing crashed: every process runs, the calls go on, the gateway answers
        assert all(process.poll() is None for process in platform.nodes.values())
        assert platform.gateway is not None and platform.gateway.poll() is None
        assert await node_ids(platform.redis.url) == {1, 2, 3}
        assert await asyncio.to_thread(statuses, soap, conf_id) == {
            t.uri: IN_CONFERENCE for t in sites}
        code = await asyncio.to_thread(soap.conf_mgr.delScheduledConfEx, confId=conf_id)
        assert code == 0
    finally:
        for t in sites:
            await t.stop()


async def test_a_site_pinned_to_a_zone_without_a_node_fails_with_the_reason(
        platform: Platform) -> None:
    soap = await asyncio.to_thread(platform.soap)
    conf_id = await asyncio.to_thread(book, soap, "nowhere", [CHENGDU])
    assert isinstance(conf_id, str), conf_id
    found: list[object] = []

    async def failed() -> bool:
        answer = await asyncio.to_thread(soap.conf_mgr.queryConfSitesStatusEx,
                                         confId=conf_id, siteUris=[])
        assert answer.resultCode == 0, answer
        (site,) = answer.siteStatuses
        found[:] = [site.status, site.callFailedReason]
        return site.callFailedReason is not None

    await eventually(failed, "the call failed", what_else=lambda: found)
    assert "no live media node in zone chengdu" in found[1].discription  # type: ignore[attr-defined]
    assert await asyncio.to_thread(site_mcus_or_none, soap, conf_id) is None  # on no node
    code = await asyncio.to_thread(soap.conf_mgr.delScheduledConfEx, confId=conf_id)
    assert code == 0


# ---------------------------------------------------------------- the rules alone


def node(node_id: int, zone: str, ports: int = 4, used: int = 0, cp: int = 9,
         cascade_port: int = 4000) -> NodeRecord:
    return NodeRecord(node_id=node_id, name=f"n{node_id}", address="127.0.0.1",
                      max_ports=ports, max_cp_resources=cp,
                      port_costs=port_costs_json(PortCosts()), ports_used=used,
                      cascade_port=cascade_port, zone=zone)


def site(uri: str) -> SiteSpec:
    return SiteSpec(uri=uri, name=uri)


def test_the_pin_table_matches_exact_uris_then_the_longest_pattern() -> None:
    pins = SitePins({"01*": "beijing", "0123*": "shanghai", "01234": "node:7",
                     "9?9": "lab-2"})
    assert pins.pin_of("01234") == Pin(node_id=7)
    assert pins.pin_of("012345") == Pin(zone="shanghai")
    assert pins.pin_of("0199") == Pin(zone="beijing")
    assert pins.pin_of("919") == Pin(zone="lab-2")
    assert pins.pin_of("02") is None
    assert not SitePins() and pins
    for bad in ({"01*": ""}, {"01*": "two words"}, {"01*": "node:0"}, {"": "beijing"},
                {"01*": 3}):
        with pytest.raises(PinError):
            SitePins(bad)


def test_placement_honours_pins_and_waits_for_a_missing_zone() -> None:
    costs = PortCosts()
    top = costs.top
    nodes = [node(1, "beijing"), node(2, "shanghai"), node(3, "shanghai", ports=8)]
    need = Need("c", (site("b1"), site("s1"), site("b2"), site("x")), cp_resource=4)
    pins = {"b1": Pin("beijing"), "b2": Pin("beijing"), "s1": Pin("shanghai")}
    parts = place_pinned(nodes, need, Reservations(), pins)
    assert not isinstance(parts, str)
    # shanghai's site on its node with the most room (3); the loose one joins the node with
    # the most room of those used; the root: the most room (node 3)
    assert [(p.node.node_id, p.uris) for p in parts] == [(3, ("s1", "x")), (1, ("b1", "b2"))]
    # one site pinned: the others join its node while they fit (one node, no cascade)
    one = place_pinned(nodes, need, Reservations(), {"b1": Pin("beijing")})
    assert not isinstance(one, str)
    assert [(p.node.node_id, p.uris) for p in one] == [(1, ("b1", "s1", "b2", "x"))]
    assert place_pinned(nodes, need, Reservations(), {"b1": Pin(node_id=1)}) == one
    # no live node in the zone, a full zone, a zone node without cascade links: refused
    assert place_pinned(nodes, need, Reservations(), {"b1": Pin("chengdu")}) == \
        "no live media node in zone chengdu"
    full = [node(1, "beijing", used=4 * top), *nodes[1:]]
    assert place_pinned(full, need, Reservations(), pins) == \
        "no live media node in zone beijing has room for site b1"
    plain = [node(1, "beijing", cascade_port=0), *nodes[1:]]
    assert place_pinned(plain, need, Reservations(), pins) == "node 1 takes no cascade links"


def test_node_settings_are_checked(tmp_path: Path) -> None:
    config = tmp_path / "node.toml"
    config.write_text('[node]\ncascade_tls = true\n')
    with pytest.raises(SettingsError, match="cascade_tls needs cascade_ca"):
        load_settings(config)
    config.write_text('[node]\nzone = "two words"\n')
    with pytest.raises(SettingsError, match="zone"):
        load_settings(config)
    config.write_text('[site_zones]\n"01*" = "node:x"\n')
    with pytest.raises(SettingsError, match="site_zones"):
        load_settings(config)
    config.write_text('[node]\nzone = "lab-1"\ncascade_tls = true\ncascade_ca = "/ca.pem"\n'
                      '[site_zones]\n"01*" = "lab-1"\n')
    settings = load_settings(config)
    assert (settings.node.zone, settings.node.cascade_tls, str(settings.node.cascade_ca)) == \
        ("lab-1", True, "/ca.pem")
    assert settings.node.pins.pin_of("0101") == Pin("lab-1")
