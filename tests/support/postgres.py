"""A private PostgreSQL server for tests: installed from Debian's packages when missing, started
on 127.0.0.1 on a free port in a temporary folder, stopped afterwards."""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

SUPERUSER = "postgres"  # the system account the Debian package creates


def server_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    return Path(found[-1]).parent if found else None


def ensure_installed() -> Path:
    """The server's bin folder, installing the ``postgresql`` package first if needed."""
    found = server_bin()
    if found:
        return found
    if os.geteuid() != 0:
        raise RuntimeError("PostgreSQL server not installed and not root: "
                           "sudo apt-get install -y postgresql")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-q"], check=True, env=env, capture_output=True)
    subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends", "postgresql"],
                   check=True, env=env, capture_output=True)
    found = server_bin()
    if not found:
        raise RuntimeError("apt-get install postgresql did not provide initdb")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    """``with PostgresServer() as pg:`` gives a running server with database ``crm`` and a
    password-protected role ``crm`` (the password is generated and exposed as ``password``)."""

    def __init__(self):
        self.bin = ensure_installed()
        self.port = free_port()
        self.password = secrets.token_hex(12)
        self.root = Path(tempfile.mkdtemp(prefix="crm-pg-"))
        self.data = self.root / "data"

    def _as_postgres(self, *command: str, **kwargs) -> subprocess.CompletedProcess:
        prefix = ["runuser", "-u", SUPERUSER, "--"] if os.geteuid() == 0 else []
        return subprocess.run([*prefix, *command], check=True, capture_output=True, text=True,
                              **kwargs)

    def __enter__(self) -> PostgresServer:
        if os.geteuid() == 0:
            shutil.chown(self.root, SUPERUSER)
        pwfile = self.root / "pw"
        pwfile.write_text(self.password)
        if os.geteuid() == 0:
            shutil.chown(pwfile, SUPERUSER)
        self._as_postgres(str(self.bin / "initdb"), "-D", str(self.data), "-U", "crm",
                          "--pwfile", str(pwfile), "--auth-host=scram-sha-256",
                          "--auth-local=trust", "-E", "UTF8")
        pwfile.unlink()
        self._as_postgres(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "server.log"),
            "-o", f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1", "-w", "start")
        self.sql("CREATE DATABASE crm", database="postgres")
        return self

    def __exit__(self, *exc) -> None:
        try:
            self._as_postgres(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast",
                              "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    @property
    def url(self) -> str:
        return f"jdbc:postgresql://127.0.0.1:{self.port}/crm"

    def sql(self, statement: str, database: str = "crm") -> str:
        env = {**os.environ, "PGPASSWORD": self.password}
        for attempt in range(20):
            result = subprocess.run(
                ["psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "crm", "-d", database,
                 "-v", "ON_ERROR_STOP=1", "-qAt", "-c", statement],
                capture_output=True, text=True, env=env)
            if result.returncode == 0:
                return result.stdout
            if "starting up" not in result.stderr or attempt == 19:
                raise RuntimeError(f"psql failed: {result.stderr.strip()}")
            time.sleep(0.5)
        return ""
