"""Where a simulated terminal is in a call (`SimulatedTerminal.state`, `TerminalStats.state`).

A StrEnum: each state equals, hashes and prints as its string ("idle", ...), so reports and
JSON carry the same words as before. It is the terminal's own state, not a signalling
message: rtc/signalling.py's `ringing` message is a separate wire name.
"""

from __future__ import annotations

from enum import StrEnum


class CallState(StrEnum):
    IDLE = "idle"  # no call, or the last one ended
    RINGING = "ringing"  # invited, ringing before answering (or until the MCU gives up)
    CONNECTING = "connecting"  # answered or dialled in; ICE and DTLS not connected yet
    IN_CALL = "in_call"  # media connected
