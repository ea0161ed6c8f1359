"""The SIP message codec (sip/message.py) on RFC 4475's torture messages (tests/data/sip, one
file per message, named after its section): every valid one parses with the values the RFC
says it holds, every invalid one is refused with the status the RFC asks for; plus compact
forms, multi-valued headers, serialization round trips and the size limits."""

from __future__ import annotations

from pathlib import Path

import pytest

from sip.errors import SipParseError
from sip.grammar import Limits
from sip.message import Request, Response, parse_datagram
from sip.values import NameAddr, SipUri

DATA = Path(__file__).parent / "data" / "sip"
VALID = sorted(DATA.glob("valid-*.sip"))
INVALID = sorted(DATA.glob("invalid-*.sip"))


def load(name: str) -> Request:
    message = parse_datagram((DATA / f"{name}.sip").read_bytes())
    assert isinstance(message, Request)
    return message


def test_the_torture_files_are_there() -> None:
    assert len(VALID) == 9 and len(INVALID) == 11


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.stem)
def test_valid_torture_messages_parse_and_round_trip(path: Path) -> None:
    message = parse_datagram(path.read_bytes())
    assert isinstance(message, Request)
    again = parse_datagram(message.encode())
    assert isinstance(again, Request)
    assert (again.method, again.uri, again.body) == (message.method, message.uri, message.body)
    def without_length(m: Request) -> list[tuple[str, str]]:
        return [(n, v) for n, v in m.headers.items if n != "Content-Length"]

    assert without_length(again) == without_length(message)  # it is rewritten last
    assert again.cseq == message.cseq and again.call_id == message.call_id


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_invalid_torture_messages_are_refused_with_the_rfc_status(path: Path) -> None:
    status = int(path.stem.split("-")[1])
    with pytest.raises(SipParseError) as caught:
        parse_datagram(path.read_bytes())
    assert caught.value.status == status
    assert caught.value.reason  # a reason phrase naming what is wrong


def test_wsinv_short_tortuous_invite() -> None:
    """3.1.1.1: case-insensitive and compact names, folding, LWS around ':' '/' ';' '='."""
    m = load("valid-3.1.1.1-wsinv")
    assert m.method == "INVITE" and m.request_uri.params == {"unknownparam": None}
    assert m.to.tag == "1918181833n" and m.from_.tag == "98asjd8"
    assert m.from_.display == 'J Rosenberg \\"'
    assert m.headers.get("Max-Forwards") == "0068" and m.cseq.number == 9
    vias = m.vias
    assert [(v.transport, v.host, v.branch) for v in vias] == [
        ("UDP", "192.0.2.2", "390skdjuw"), ("TCP", "spindle.example.com", "z9hG4bK9ikj8"),
        ("UDP", "192.168.255.111", "z9hG4bK30239")]
    assert m.headers.get("Subject") == ""
    assert m.headers.get("NewFangledHeader") == "newfangled value continued newfangled value"
    contact = m.contacts[0]
    assert contact.display == 'Quoted string ""'
    assert contact.params == {"newparam": "newvalue", "secondparam": None, "q": "0.33"}
    assert m.headers.get_all("Route") == [
        "<sip:services.example.com;lr;unknownwith=value;unknown-no-value>"]
    assert len(m.body) == 150 and m.content_type == "application/sdp"


def test_intmeth_wide_range_of_characters() -> None:
    m = load("valid-3.1.1.2-intmeth")
    assert m.method == "!interesting-Method0123456789_*+`.%indeed'~"
    assert m.cseq.method == m.method and m.headers.get("Max-Forwards") == "255"
    assert m.to.display == "BEL:\x07 NUL:\x00 DEL:\x7f"
    assert m.from_.tag == "_token~1'+`*%!-." and m.from_.display == "token1~` token2'+_ token3*%!.-"
    assert m.request_uri.host == "example.com"
    assert m.headers.get("extensionHeader-!.%*+_`'~") == "\ufeff大停電"


def test_escapes_and_compact_forms() -> None:
    m = load("valid-3.1.1.3-esc01")
    assert m.call_id == "esc01.239409asdfakjkn23onasd0-3234"  # i:
    assert m.content_type == "application/sdp"  # C:
    assert m.request_uri.user == "sips%3Auser%40example.com"
    assert m.request_uri.host == "example.net"
    register = load("valid-3.1.1.5-esc02")
    assert register.method == "RE%47IST%45R"
    # C%6Fntact is an unknown header, not a Contact (escapes do not apply to names)
    assert len(register.contacts) == 2
    assert register.headers.get("C%6Fntact") == "<sip:alias2@host2.example.com>"


def test_no_lws_before_angle_and_semicolon_user() -> None:
    assert load("valid-3.1.1.6-lwsdisp").from_.display == "caller"
    semi = load("valid-3.1.1.9-semiuri")
    assert semi.request_uri.user == "user;par=u%40example.net"
    assert semi.request_uri.host == "example.com"
    assert semi.headers.get_all("Accept") == [
        "application/sdp", "application/pkcs7-mime", "multipart/mixed", "multipart/signed",
        "message/sip", "message/sipfrag"]


def test_long_values_and_many_vias() -> None:
    m = load("valid-3.1.1.7-longreq")
    assert len(m.vias) == 34 and m.vias[0].host == "sip33.example.com"
    assert m.to.uri.port == 6000 and len(m.from_.tag or "") > 150


def test_extra_octets_after_content_length_are_discarded() -> None:
    """3.1.1.8: the INVITE after the REGISTER's zero-length body is noise (18.3)."""
    m = load("valid-3.1.1.8-dblreq")
    assert m.method == "REGISTER" and m.body == b""


def test_uri_and_name_addr_values() -> None:
    uri = SipUri.parse("sips:alice@[2001:db8::1]:5061;transport=tls;lr?subject=x")
    assert (uri.scheme, uri.user, uri.host, uri.port) == ("sips", "alice", "[2001:db8::1]", 5061)
    assert uri.params == {"transport": "tls", "lr": None} and uri.headers == "subject=x"
    assert str(uri) == "sips:alice@[2001:db8::1]:5061;transport=tls;lr?subject=x"
    addr = NameAddr.parse('"A \\"B\\"" <sip:a@h;x=1>;tag=7', "From")
    assert addr.display == 'A "B"' and addr.uri.params == {"x": "1"} and addr.tag == "7"
    assert NameAddr.parse(str(addr), "From") == addr
    for bad in ("<sip:a@h", "sip:a@h:99999", '"x <sip:a@h>', "nouri"):
        with pytest.raises(SipParseError) as caught:
            NameAddr.parse(bad, "To")
        assert caught.value.status == 400


MINIMAL = (b"OPTIONS sip:u@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK1"
           b"\r\nFrom: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:u@127.0.0.1>\r\nCall-ID: c1\r\n"
           b"CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n")


def test_limits_map_to_513_and_413() -> None:
    limits = Limits(max_header_bytes=2000, max_headers=20, max_header_line=300, max_body=100)
    huge_line = MINIMAL + b"X-Big: " + b"a" * 400 + b"\r\n\r\n"
    many = MINIMAL + b"".join(b"X-%d: v\r\n" % i for i in range(30)) + b"\r\n"
    huge_head = MINIMAL + b"".join(b"X-%d: %s\r\n" % (i, b"v" * 90) for i in range(19)) + b"\r\n"
    body = MINIMAL + b"Content-Type: text/plain\r\nContent-Length: 200\r\n\r\n" + b"b" * 200
    for data, status in ((huge_line, 513), (many, 513), (huge_head, 513), (body, 413)):
        with pytest.raises(SipParseError) as caught:
            parse_datagram(data, limits)
        assert caught.value.status == status
    assert isinstance(parse_datagram(MINIMAL + b"\r\n", limits), Request)


def test_responses_parse_and_bad_status_lines_are_refused() -> None:
    response = parse_datagram(b"SIP/2.0 180 Ringing\r\n" + MINIMAL.split(b"\r\n", 1)[1]
                              + b"\r\n")
    assert isinstance(response, Response) and (response.status, response.reason) == (
        180, "Ringing")
    for line in (b"SIP/2.0 99 Low\r\n", b"SIP/2.0 7000 Big\r\n", b"SIP/3.0 200 OK\r\n"):
        with pytest.raises(SipParseError):
            parse_datagram(line + MINIMAL.split(b"\r\n", 1)[1] + b"\r\n")


def test_missing_mandatory_headers_are_named() -> None:
    for name in (b"Via", b"From", b"To", b"Call-ID", b"CSeq", b"Max-Forwards"):
        lines = [ln for ln in MINIMAL.split(b"\r\n") if not ln.startswith(name + b":")]
        with pytest.raises(SipParseError) as caught:
            parse_datagram(b"\r\n".join(lines) + b"\r\n")
        assert caught.value.status == 400 and name.decode() in caught.value.reason
