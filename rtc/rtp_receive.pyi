"""Types of the C extension rtc/rtp_receive.c (its docstring says what it does)."""

from collections.abc import Set

NACK: int
PLI: int
FRAME: int

# (NACK, ssrc, [sequence numbers]) | (PLI, ssrc)
# | (FRAME, payload_type, timestamp, data, level in dBov or None)
Event = (tuple[int, int, list[int]] | tuple[int, int]
         | tuple[int, int, int, bytes, int | None])

class RtpReceive:
    buffered: int
    keyframe_skips: int
    packets_skipped: int
    gaps_skipped: int
    def __init__(self, capacity: int = ..., nack: bool = ..., origin: int | None = ...,
                 newest: int | None = ..., audio: bool = ...) -> None: ...
    def configure(self, payload_types: dict[int, tuple[int, int]], rtx_ssrcs: dict[int, int],
                  extension_ids: tuple[int | None, ...], /) -> None: ...
    def add(self, data: bytes, /) -> bool: ...
    def add_packet(self, ssrc: int, payload_type: int, sequence_number: int, timestamp: int,
                   marker: bool | int, payload: bytes, level: int | None = ...,
                   /) -> bool: ...
    def buffered_packets(self) -> tuple[
        int | None, int | None, list[tuple[int, int, int, int, bytes, int | None]]]: ...
    def take(self) -> tuple[list[Event], int, list[int], int | None]: ...
    def stats(self, ssrc: int, /) -> tuple[
        int, int | None, int | None, int, int, int, int | None, int | None] | None: ...
    def set_stats(self, ssrc: int, clock_rate: int, base_seq: int | None,
                  max_seq: int | None, cycles: int, packets_received: int, jitter_q4: int,
                  last_arrival: int | None, last_timestamp: int | None, /) -> None: ...
    def nack_state(self) -> tuple[int | None, set[int]]: ...
    def set_nack_state(self, max_seq: int | None, missing: Set[int], /) -> None: ...
