"""What /proc says of a process, for tests that kill parents and check their children."""

from __future__ import annotations


def running(pid: int) -> bool:
    """Running (a zombie, killed and not yet reaped, counts as ended)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
