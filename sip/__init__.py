"""SIP signalling (RFC 3261): the message codec, transactions, transports (UDP, TCP, TLS), the
user agent core with dialogs, a registrar with digest authentication. Not wired into the MCU
yet; docs/sip.md says what is implemented."""
