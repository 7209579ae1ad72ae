"""A throw-away PostgreSQL server on 127.0.0.1 for the tests: initdb in a temporary folder, trust auth on loopback.

PostgreSQL refuses to run as root, so as root the server runs as the `postgres` user that Debian's
package creates. `scripts/setup-tests.sh` installs the server.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path


def _bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}")) or [shutil.which(name)]
    assert found[-1], f"PostgreSQL's {name} is needed (scripts/setup-tests.sh installs postgresql)"
    return found[-1]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class PostgresServer:
    """``with PostgresServer() as url:`` a database URL for a fresh cluster, stopped and removed afterwards."""

    def __enter__(self) -> str:
        self.folder = Path(tempfile.mkdtemp(prefix="edgekd-pg-"))
        self.folder.chmod(0o755)
        data, sockets = self.folder / "data", self.folder / "sockets"
        data.mkdir()
        sockets.mkdir()
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            for path in (data, sockets):
                os.chown(path, owner.pw_uid, owner.pw_gid)
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self.data, self.port = data, _free_port()
        self._run(_bin("initdb"), "-D", str(data), "-U", "edgekd", "--auth=trust", "-E", "UTF8", "--no-sync")
        options = f"-p {self.port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=40"
        self._run(_bin("pg_ctl"), "-D", str(data), "-o", options, "-l", str(sockets / "log"), "-w", "start")
        return f"postgresql://edgekd@127.0.0.1:{self.port}/postgres"

    def __exit__(self, *exc) -> None:
        self._run(_bin("pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop", check=False)
        shutil.rmtree(self.folder, ignore_errors=True)

    def _run(self, *argv: str, check: bool = True) -> None:
        completed = subprocess.run([*self.as_user, *argv], capture_output=True, text=True, timeout=120)  # noqa: S603
        assert completed.returncode == 0 or not check, completed.stdout + completed.stderr
