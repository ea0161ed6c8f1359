"""Types of the C extension rtc/batch_receive.c (its docstring says what it does)."""

MAX_BATCH: int

def drain(fd: int, limit: int, unprotect: int, session: int, /) -> tuple[
    list[tuple[bytes, tuple[str, int] | tuple[str, int, int, int]]], list[bytes], int, int
] | None: ...
