"""Child processes that end with the process that started them.

A benchmark or a test starts servers of its own (an MCU, nodes, a gateway, redis-server,
terminals). When it ends normally it stops them; when it is killed (SIGKILL: a test's
subprocess timeout, an impatient operator) nothing of it runs any more, and its children
would keep running, holding ports and cores, for every later run on the machine.

`dies_with_parent(command)` prefixes the command with util-linux's `setpriv --pdeathsig
KILL` (Essential in Debian): the kernel sends the child SIGKILL when its parent ends, and
the setting survives the exec into the real program (not a change of user or group, nor
the exec of a setuid program: the kernel clears it then; a child that changes user, as
tests/players.py runs VLC, sets it itself after the change). No `preexec_fn` (Python's documentation
calls it unsafe in a process with threads). Elsewhere than Linux, or without setpriv, the
command is returned as it is: the children then outlive a killed parent as before.

Linux ties the signal to the *thread* that started the child: start children from a thread
that lives as long as they should (the main thread, or the event loop's), never from a
short-lived worker.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Sequence

SETPRIV = shutil.which("setpriv") if sys.platform.startswith("linux") else None
PARENT_DEATH_SIGNAL = "KILL"


def dies_with_parent(command: Sequence[str]) -> list[str]:
    """The command, run so that it is killed when the process starting it ends."""
    if SETPRIV is None:
        return list(command)
    return [SETPRIV, "--pdeathsig", PARENT_DEATH_SIGNAL, "--", *command]
