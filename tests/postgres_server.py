"""A real PostgreSQL server for the tests: Debian's binaries (`make postgresql` installs
them), a cluster made with initdb in a temporary directory, listening on 127.0.0.1 on a port
picked free, stopped and removed afterwards. PostgreSQL refuses to run as root, so when the
tests run as root the server runs as the `postgres` user the Debian package creates.

Each test gets its own schema in the one database (`new_url`): the URL sets the schema as the
search path, so stores opened on it see only that test's tables and migrate them from zero.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from itertools import count
from pathlib import Path
from urllib.parse import quote

import psycopg

USER = "postgres"


def binaries() -> Path:
    """The newest installed PostgreSQL's bin directory (Debian: /usr/lib/postgresql/N/bin)."""
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"),
                      key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit()
                      else 0)
    if not versions:
        raise RuntimeError("PostgreSQL is not installed: run `make postgresql` "
                           "(apt-get install postgresql)")
    return versions[-1].parent


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PostgresServer:
    def __init__(self) -> None:
        self.bin = binaries()
        self.root = Path(tempfile.mkdtemp(prefix="mcu-sim-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self._schemas = count(1)
        self._as_user: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.root, USER)
            self._as_user = ["runuser", "-u", USER, "--"]

    def _run(self, *command: str) -> None:
        subprocess.run([*self._as_user, *command], check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", USER,
                  "--auth=trust", "-E", "UTF8", "--no-sync")
        self._run(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "log"),
            "-w", "-t", "90", "start",
            "-o", f"-p {self.port} -c listen_addresses=127.0.0.1 "
                  f"-c unix_socket_directories={self.root} -c max_connections=200",
        )

    def stop(self) -> None:
        try:
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w",
                      "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    @property
    def base_url(self) -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/postgres"

    def new_url(self) -> str:
        """The URL of a new, empty schema (the stores opened on it make their tables)."""
        schema = f"test_{next(self._schemas)}"
        with psycopg.connect(self.base_url, autocommit=True) as connection:
            connection.execute(f"CREATE SCHEMA {schema}")
        return f"{self.base_url}?options={quote(f'-c search_path={schema}')}"
