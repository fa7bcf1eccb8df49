"""A PostgreSQL server of the test's own (initdb in a temp dir), so it can be restarted."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.backends import free_port, missing


class OwnPostgres:
    def __init__(self, tmp: Path) -> None:
        binaries = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
        if not binaries:
            missing("PostgreSQL server binaries", "no /usr/lib/postgresql/*/bin/pg_ctl")
        self.bin = Path(binaries[-1]).parent
        # Outside pytest's private temp tree: the postgres user must be able to reach it.
        self.dir = Path(tempfile.mkdtemp(prefix="ps-test-pg-"))
        self.port = free_port()
        # initdb refuses to run as root; the server runs as the postgres system user.
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            shutil.chown(self.dir, "postgres", "postgres")
        self._run(
            str(self.bin / "initdb"),
            "-D",
            str(self.dir / "data"),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
        )

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        command = ["runuser", "-u", "postgres", "--", *args] if self._as_postgres else list(args)
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def _ctl(self, action: str) -> None:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            str(self.bin / "pg_ctl"),
            action,
            "-D",
            str(self.dir / "data"),
            "-w",
            "-m",
            "fast",
            "-l",
            str(self.dir / "log"),
            "-o",
            options,
        )

    def start(self) -> None:
        self._ctl("start")

    def stop(self) -> None:
        self._ctl("stop")

    def remove(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)
