"""Plain RTP and SDES-SRTP media for SIP room systems: SDP offer/answer (sdp.py, sdes.py,
negotiation.py), payload formats (payloads/), PyAV codecs (codecs.py), the UDP session with
RTCP, SRTP, NACK/PLI/FIR and RFC 4733 events (session.py), and aiortc-style tracks (tracks.py).
docs/sip_media.md describes it."""
