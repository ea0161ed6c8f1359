"""Types of the C extension rtc/batch_send.c (its docstring says what it does)."""

MAX_BATCH: int
MAX_PACKET: int

def send(fd: int, host: str, port: int, packets: list[bytes], protect: int, session: int,
         /) -> tuple[int, list[bytes], int] | None: ...
