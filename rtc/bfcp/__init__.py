"""BFCP (RFC 8855): the binary codec (tables.py, codec.py), message builders (messages.py)
and the TCP transport (transport.py). No media library is imported here."""
