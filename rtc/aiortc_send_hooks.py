"""The send side's reaches into aiortc's and aioice's private state, in one place.

rtc/aiortc_hooks.py holds every other hook (and explains why they exist); these are the
seams of the MCU's direct send path (mcu/media/direct_send.py, docs/benchmarks.md "The send
path"), which writes an RTCRtpSender's RTP packets itself instead of its RTP loop.
tests/test_aiortc_hooks.py checks each against the installed aiortc and aioice.

On one sender, before it starts:

- `take_over_rtp`: the coroutine aiortc's `RTCRtpSender.send()` starts as the sender's RTP
  loop (`_run_rtp(codec)`) becomes the caller's, given the sender's negotiated codec and
  send parameters (or aiortc's own loop when the caller declines the codec). Around it the
  bookkeeping of aiortc's loop: its "started" and "exited" events (what `stop()` waits
  for), and at its end the track stopped and released.
- `take_over_retransmit`: a NACK the sender receives resends through the caller's
  history instead of aiortc's (`_retransmit(sequence)`, called by `_handle_rtcp_packet`).

On a running sender:

- `sender_ids`: its SSRC and RTX SSRC (what its SDP announced); `stream_ids`: all its
  packets carry (those, the payload types, mid and header extension ids);
  `sender_enabled`: whether its transceiver's direction lets it send (aiortc drops frames
  otherwise).
- `record_rtp_sent`: what aiortc's loop counts per packet sent, for its RTCP sender
  reports (packet and octet counts, the NTP and RTP timestamps of the latest packet) and
  its stats.
- `SrtpSendPath`: `RTCDtlsTransport._send_rtp` for a batch of packets, without its five
  awaits per packet: SRTP protect with the transport's own session, then the nominated ICE
  pair's socket, the transport's byte and packet counts kept; a ConnectionError when DTLS
  or ICE is not (or no longer) connected, as aiortc's. The batch is protected and sent by
  rtc/batch_send.c (libsrtp's srtp_protect through pylibsrtp's binding, one sendmmsg), what
  the socket would not take queued behind on the asyncio transport; it goes the Python way
  (pylibsrtp's `protect`, `transport.sendto` per packet, as aioice's
  `StunProtocol.send_data` does) when the transport is not asyncio's selector transport or
  still has datagrams queued, or when the datagram filter of
  `aiortc_hooks.filter_datagrams` (loss injection) is in place, which applies to it as to
  aioice's path.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiortc import RTCDtlsTransport, RTCRtpSender
from aiortc.codecs import is_rtx
from aiortc.mediastreams import MediaStreamError
from aiortc.rtcdtlstransport import State as DtlsState
from aiortc.rtcrtpparameters import RTCRtpCodecParameters, RTCRtpSendParameters

from rtc import aiortc_hooks, batch_send
from rtc.datagram_drain import open_selector_transport
from rtc.rtp_output import StreamIds
from rtc.srtp_addresses import SRTP_PROTECT, session_address

log = logging.getLogger(__name__)

# aiortc's own, as imported before anything replaces it on an instance
AIORTC_RUN_RTP = RTCRtpSender._run_rtp

# The sender's name-mangled attributes.
_RTP_STARTED = "_RTCRtpSender__rtp_started"
_RTP_EXITED = "_RTCRtpSender__rtp_exited"
_TRACK = "_RTCRtpSender__track"
_PACKET_COUNT = "_RTCRtpSender__packet_count"
_OCTET_COUNT = "_RTCRtpSender__octet_count"
_NTP_TIMESTAMP = "_RTCRtpSender__ntp_timestamp"
_RTP_TIMESTAMP = "_RTCRtpSender__rtp_timestamp"
# The DTLS transport's.
_TX_BYTES = "_RTCDtlsTransport__tx_bytes"
_TX_PACKETS = "_RTCDtlsTransport__tx_packets"

RtpLoop = Callable[[RTCRtpCodecParameters, RTCRtpSendParameters], Awaitable[None] | None]


def take_over_rtp(sender: RTCRtpSender, loop: RtpLoop) -> None:
    """When `sender` starts, run `loop(codec, parameters)` as its RTP loop instead of
    aiortc's (None from `loop`: aiortc's own runs). The awaitable ends the loop when it
    completes; ConnectionError and MediaStreamError end it quietly as they end aiortc's,
    another error is logged. Then, as aiortc's loop, the track is stopped and released."""
    aiortc_send = sender.send
    sent: list[RTCRtpSendParameters] = []

    async def send(parameters: RTCRtpSendParameters) -> None:
        if not sent:
            sent.append(parameters)
        await aiortc_send(parameters)

    async def run_rtp(codec: RTCRtpCodecParameters) -> None:
        running = loop(codec, sent[0]) if sent else None
        if running is None:
            await AIORTC_RUN_RTP(sender, codec)
            return
        getattr(sender, _RTP_STARTED).set()
        try:
            await running
        except (asyncio.CancelledError, ConnectionError, MediaStreamError):
            pass  # as aiortc's loop: stop() cancels it; a closed transport ends it
        except Exception:
            log.exception("RTP sender (%s) failed", codec.mimeType)
        track = sender.track
        if track is not None:
            track.stop()
            setattr(sender, _TRACK, None)
        getattr(sender, _RTP_EXITED).set()

    sender.send = send  # type: ignore[method-assign]
    sender._run_rtp = run_rtp  # type: ignore[method-assign]


def take_over_retransmit(sender: RTCRtpSender, retransmit: Callable[[int], object]) -> None:
    """Each sequence number a NACK names goes to `retransmit` (on the loop); a transport
    that closed meanwhile makes it a no-op, as the packet would be lost anyway."""

    async def resend(sequence_number: int) -> None:
        try:
            retransmit(sequence_number)
        except ConnectionError:
            pass

    sender._retransmit = resend  # type: ignore[method-assign]


def sender_ids(sender: RTCRtpSender) -> tuple[int, int]:
    """(SSRC, RTX SSRC) of the sender, as its SDP announces them."""
    return int(sender._ssrc), int(sender._rtx_ssrc)


def stream_ids(sender: RTCRtpSender, codec: RTCRtpCodecParameters,
               parameters: RTCRtpSendParameters) -> StreamIds:
    """What the sender's packets carry, from its negotiated send parameters, as aiortc's
    sender reads them (its RTX payload type: the rtx codec whose apt is the first codec)."""
    ssrc, rtx_ssrc = sender_ids(sender)
    rtx = next((each.payloadType for each in parameters.codecs
                if is_rtx(each) and each.parameters.get("apt") == codec.payloadType), None)
    assert codec.payloadType is not None
    return StreamIds(
        ssrc=ssrc, payload_type=codec.payloadType, rtx_ssrc=rtx_ssrc,
        rtx_payload_type=rtx, mid=parameters.muxId,
        extension_ids={ext.uri: ext.id for ext in parameters.headerExtensions})


def sender_enabled(sender: RTCRtpSender) -> bool:
    return bool(sender._enabled)


def record_rtp_sent(sender: RTCRtpSender, packets: int, octets: int, ntp_time: int,
                    rtp_timestamp: int) -> None:
    """Count `packets` RTP packets of `octets` payload bytes sent, the latest at `ntp_time`
    with `rtp_timestamp`: what aiortc's loop counts for its sender reports and stats."""
    setattr(sender, _PACKET_COUNT, getattr(sender, _PACKET_COUNT) + packets)
    setattr(sender, _OCTET_COUNT, getattr(sender, _OCTET_COUNT) + octets)
    setattr(sender, _NTP_TIMESTAMP, ntp_time)
    setattr(sender, _RTP_TIMESTAMP, rtp_timestamp)


class SrtpSendPath:
    """aiortc's `RTCDtlsTransport._send_rtp` for RTP packets, a batch at a time, with no
    await: each packet protected by the transport's SRTP session and handed to the socket
    of the ICE connection's nominated pair for component 1 (RTP and RTCP are muxed)."""

    def __init__(self, transport: RTCDtlsTransport) -> None:
        self._dtls = transport

    def send(self, packets: Sequence[bytes]) -> None:
        dtls = self._dtls
        if dtls._state != DtlsState.CONNECTED:
            raise ConnectionError("Cannot send encrypted RTP, not connected")
        pair = dtls.transport._connection._nominated.get(1)
        if pair is None:
            raise ConnectionError("Cannot send data, not connected")
        udp: Any = pair.protocol.transport
        address = pair.remote_addr
        keep = aiortc_hooks.sent_datagram_filter()
        size = None
        if (keep is None and open_selector_transport(udp) is not None and not udp._buffer
                and len(packets) <= batch_send.MAX_BATCH):
            size = self._send_batch(udp, address, packets)
        if size is None:
            size = _send_each(dtls._tx_srtp.protect, udp, address, packets, keep)
        setattr(dtls, _TX_BYTES, getattr(dtls, _TX_BYTES) + size)
        setattr(dtls, _TX_PACKETS, getattr(dtls, _TX_PACKETS) + len(packets))

    def _send_batch(self, udp: Any, address: tuple[str, int],
                    packets: Sequence[bytes]) -> int | None:
        """The packets protected and sent by rtc/batch_send.c, what the socket would not
        take queued on the transport as asyncio queues it; their protected size, or None
        when batch_send declines them (nothing done)."""
        sent = batch_send.send(udp._sock_fd, address[0], address[1], list(packets),
                               SRTP_PROTECT, session_address(self._dtls._tx_srtp))
        if sent is None:
            return None
        size, unsent, error = sent
        if error:  # as asyncio's sendto: the protocol is told, the other datagrams went on
            udp._protocol.error_received(OSError(error, os.strerror(error)))
        for datagram in unsent:
            udp.sendto(datagram, address)
        return size


def _send_each(protect: Callable[[bytes], bytes], udp: Any, address: tuple[str, int],
               packets: Sequence[bytes], keep: aiortc_hooks.DatagramFilter | None) -> int:
    """The packets protected by pylibsrtp and sent one `sendto` each, those `keep` refuses
    dropped; their protected size."""
    sendto = udp.sendto
    size = 0
    for packet in packets:
        datagram = protect(packet)
        size += len(datagram)
        if keep is None or keep(datagram):
            sendto(datagram, address)
    return size
