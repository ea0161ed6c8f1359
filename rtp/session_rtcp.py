"""RTCP of one RTP session (RFC 3550, 4585, 5104): reports sent (SR or RR, SDES CNAME) and
taken (loss, round trip), NACK (and the retransmissions it asks for), PLI or FIR both ways, and
bit rate limits (TMMBR, TMMBN: rtp/tmmbr.py) when `ccm tmmbr` was negotiated."""

from __future__ import annotations

import asyncio
import struct
import time
from typing import Any

import pylibsrtp
from aiortc.rtp import (
    RTCP_PSFB_FIR,
    RTCP_PSFB_PLI,
    RTCP_RTPFB_NACK,
    RtcpPacket,
    RtcpPsfbPacket,
    RtcpReceiverInfo,
    RtcpRrPacket,
    RtcpRtpfbPacket,
    RtcpSdesPacket,
    RtcpSenderInfo,
    RtcpSourceInfo,
    RtcpSrPacket,
)

from rtp.session_core import SessionCore
from rtp.tmmbr import FMT_TMMBN, FMT_TMMBR, BitrateEntry, bitrate_feedback, tmmbn, tmmbr

TMMBR = "ccm tmmbr"  # the rtcp-fb value of RFC 5104's bit rate limits
NTP_EPOCH_OFFSET = 2208988800


def ntp_now() -> int:
    now = time.time() + NTP_EPOCH_OFFSET
    return (int(now) << 32) | int((now % 1) * (1 << 32))


class RtcpSession(SessionCore):
    """An RtpSession's RTCP, out and in (the session: rtp/session.py)."""

    # ---- RTCP out
    def _report_block(self) -> list[RtcpReceiverInfo]:
        if self.remote_ssrc is None or self._highest_ext is None or self._first_ext is None:
            return []
        expected = self._highest_ext - self._first_ext + 1
        received = self.stats.packets_received - self._received_base
        lost = max(0, expected - received)
        expected_interval = expected - self._expected_prior
        received_interval = received - self._received_prior
        self._expected_prior, self._received_prior = expected, received
        lost_interval = expected_interval - received_interval
        fraction = (lost_interval << 8) // expected_interval if expected_interval > 0 and lost_interval > 0 else 0
        lsr, dlsr = 0, 0
        if self._last_sr is not None:
            lsr = self._last_sr[0]
            dlsr = int((time.monotonic() - self._last_sr[1]) * 65536)
        return [RtcpReceiverInfo(ssrc=self.remote_ssrc, fraction_lost=min(fraction, 255),
                                 packets_lost=lost, highest_sequence=(self._highest_ext - (1 << 16)) & 0xFFFFFFFF,
                                 jitter=int(self.stats.jitter), lsr=lsr, dlsr=dlsr)]

    def _report_packets(self) -> list[Any]:
        reports = self._report_block()
        first: Any
        if self.stats.packets_sent:
            first = RtcpSrPacket(ssrc=self.ssrc, sender_info=RtcpSenderInfo(
                ntp_timestamp=ntp_now(), rtp_timestamp=self.rtp_timestamp_now,
                packet_count=self.stats.packets_sent & 0xFFFFFFFF,
                octet_count=self.stats.octets_sent & 0xFFFFFFFF), reports=reports)
        else:
            first = RtcpRrPacket(ssrc=self.ssrc, reports=reports)
        sdes = RtcpSdesPacket(chunks=[RtcpSourceInfo(ssrc=self.ssrc, items=[(1, self.cname)])])
        return [first, sdes]

    def _send_rtcp(self, packets: list[Any]) -> None:
        """Packets (aiortc's RTCP packets or bytes of our own) in one compound packet."""
        data = b"".join(bytes(p) for p in packets)
        if self._tx is not None:
            data = self._tx.protect_rtcp(data)
        self._sendto(data, rtcp=True)

    async def _rtcp_loop(self) -> None:
        while True:
            await asyncio.sleep(self.rtcp_interval)
            self._send_rtcp([*self._report_packets(), *self._tmmbr_packets()])

    @property
    def tmmbr_negotiated(self) -> bool:
        return self.video and TMMBR in self.codec.feedback

    def send_tmmbr(self, bitrate: int) -> bool:
        """Ask the peer's video sender for at most `bitrate` bit/s (RFC 5104 TMMBR): sent
        now when its SSRC is known, else with the first report after it is, and repeated
        with every report until the peer's TMMBN states it. False when TMMBR was not
        negotiated (nothing is sent)."""
        if not self.tmmbr_negotiated or self.closed:
            return False
        self._tmmbr_wanted = bitrate
        packets = self._tmmbr_packets()
        if packets:
            self._send_rtcp([*self._report_packets(), *packets])
        return True

    def _tmmbr_packets(self) -> list[bytes]:
        if self._tmmbr_wanted is None or self.remote_ssrc is None:
            return []
        self.stats.tmmbr_sent += 1
        return [tmmbr(self.ssrc, self.remote_ssrc, self._tmmbr_wanted)]

    def request_keyframe(self) -> None:
        """PLI when negotiated, else FIR when negotiated, else nothing (RFC 4585/5104)."""
        if self.remote_ssrc is None:
            return
        feedback = self.codec.feedback
        if "nack pli" in feedback:
            self.stats.plis_sent += 1
            packet: Any = RtcpPsfbPacket(fmt=RTCP_PSFB_PLI, ssrc=self.ssrc, media_ssrc=self.remote_ssrc)
        elif "ccm fir" in feedback:
            self.stats.firs_sent += 1
            self._fir_seq = (self._fir_seq + 1) & 0xFF
            packet = RtcpPsfbPacket(fmt=RTCP_PSFB_FIR, ssrc=self.ssrc, media_ssrc=0,
                                    fci=struct.pack("!LB3x", self.remote_ssrc, self._fir_seq))
        else:
            return
        self._send_rtcp([*self._report_packets(), packet])

    def _send_nack(self, lost: list[int]) -> None:
        if "nack" not in self.codec.feedback or not lost or self.remote_ssrc is None:
            return
        self.stats.nacks_sent += 1
        nack = RtcpRtpfbPacket(fmt=RTCP_RTPFB_NACK, ssrc=self.ssrc, media_ssrc=self.remote_ssrc,
                               lost=lost[:256])
        self._send_rtcp([*self._report_packets(), nack])

    # ---- RTCP in
    def _on_rtcp(self, data: bytes, addr: Any) -> None:
        if self._rx is not None:
            try:
                data = self._rx.unprotect_rtcp(data)
            except pylibsrtp.Error as exc:
                self._count_srtp_failure(exc)
                return
        if self.tmmbr_negotiated:
            self._take_bitrate_feedback(data)
        for packet in RtcpPacket.parse(data):
            if isinstance(packet, RtcpSrPacket):
                self.stats.sender_reports_received += 1
                self._last_sr = ((packet.sender_info.ntp_timestamp >> 16) & 0xFFFFFFFF, time.monotonic())
                self._take_reports(packet.reports)
            elif isinstance(packet, RtcpRrPacket):
                self.stats.receiver_reports_received += 1
                self._take_reports(packet.reports)
            elif isinstance(packet, RtcpRtpfbPacket) and packet.fmt == RTCP_RTPFB_NACK:
                if packet.media_ssrc == self.ssrc and "nack" in self.codec.feedback:
                    self.stats.nacks_received += 1
                    for seq in packet.lost:
                        resend = self._history.get(seq)
                        if resend is not None:
                            self.stats.retransmitted += 1
                            self._sendto(resend, rtcp=False)
            elif isinstance(packet, RtcpPsfbPacket):
                self._on_psfb(packet)

    def _take_bitrate_feedback(self, data: bytes) -> None:
        """TMMBR for our stream (to on_tmmbr; TMMBN back when followed) and TMMBN for our
        request (it is then no longer repeated)."""
        for feedback in bitrate_feedback(data):
            for entry in feedback.entries:
                if feedback.fmt == FMT_TMMBR and entry.ssrc == self.ssrc:
                    self.stats.tmmbr_received += 1
                    self.stats.tmmbr_limit = entry.bitrate
                    if self.on_tmmbr(entry.bitrate):
                        self.stats.tmmbn_sent += 1
                        self._send_rtcp([*self._report_packets(), tmmbn(
                            self.ssrc, [BitrateEntry(feedback.sender_ssrc, entry.bitrate,
                                                     entry.overhead)])])
                elif feedback.fmt == FMT_TMMBN and entry.ssrc == self.ssrc:
                    self.stats.tmmbn_received += 1
                    self.stats.tmmbn_limit = entry.bitrate
                    if self._tmmbr_wanted is not None and entry.bitrate <= self._tmmbr_wanted:
                        self._tmmbr_wanted = None  # notified: no more repeats

    def _take_reports(self, reports: list[RtcpReceiverInfo]) -> None:
        for report in reports:
            if report.ssrc != self.ssrc:
                continue
            self.stats.remote_fraction_lost = report.fraction_lost
            self.stats.remote_packets_lost = report.packets_lost
            self.stats.remote_highest_sequence = report.highest_sequence
            if report.lsr:
                now = (ntp_now() >> 16) & 0xFFFFFFFF
                self.stats.round_trip = ((now - report.lsr - report.dlsr) & 0xFFFFFFFF) / 65536

    def _on_psfb(self, packet: RtcpPsfbPacket) -> None:
        feedback = self.codec.feedback
        if packet.fmt == RTCP_PSFB_PLI and packet.media_ssrc == self.ssrc and "nack pli" in feedback:
            self.stats.keyframe_requests_received += 1
            self.on_keyframe_request()
        elif packet.fmt == RTCP_PSFB_FIR and "ccm fir" in feedback:
            for at in range(0, len(packet.fci) - 7, 8):
                if struct.unpack_from("!L", packet.fci, at)[0] == self.ssrc:
                    self.stats.keyframe_requests_received += 1
                    self.on_keyframe_request()
