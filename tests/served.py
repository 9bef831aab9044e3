"""A real `mailyard serve` in a child process, for end-to-end tests.

It runs on free ports with the test's own database (SQLite in its data directory, or
this worker's PostgreSQL database) and broker (SQLite, or this worker's Redis database).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from core.settings import Settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout} s")


@dataclass
class ServedMailyard:
    settings: Settings
    smtp_port: int = field(default_factory=free_port)
    http_port: int = field(default_factory=free_port)
    submission_port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None
    log_path: Path | None = None
    extra_env: dict[str, str] = field(default_factory=dict)  # more MAILYARD_* settings

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MAILYARD_")}
        env.update(
            MAILYARD_DATA_DIR=str(self.settings.data_dir),
            MAILYARD_DATABASE_URL=self.settings.database_url,
            MAILYARD_BROKER_URL=self.settings.broker_url,
            MAILYARD_DOMAIN=self.settings.domain,
            MAILYARD_BASE_URL=f"http://127.0.0.1:{self.http_port}",
            MAILYARD_SMTP_LISTEN=f"127.0.0.1:{self.smtp_port}",
            MAILYARD_SUBMISSION_LISTEN=f"127.0.0.1:{self.submission_port}",
            MAILYARD_HTTP_LISTEN=f"127.0.0.1:{self.http_port}",
            MAILYARD_WEB_WORKERS="1",
            MAILYARD_RELAY_URL=self.settings.relay_url,
        )
        env.update(self.extra_env)
        return env

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def cli(
        self, *args: str, check: bool = True, input: str | None = None
    ) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "mailyard.cli", *args],
            env=self.env,
            input=input,
            capture_output=True,
            text=True,
            check=check,
            timeout=120,
        )

    def start(self) -> ServedMailyard:
        self.log_path = self.settings.data_dir / "serve.log"
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "mailyard.cli", "serve"],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        try:
            wait_for_port(self.smtp_port)
            wait_for_port(self.submission_port)
            wait_for_port(self.http_port)
        except TimeoutError:
            self.stop()
            raise AssertionError("mailyard serve did not start:\n" + self.log()) from None
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path else ""

    def stop(self, sig: int = signal.SIGINT, timeout: float = 30.0) -> int | None:
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else None
        self.process.send_signal(sig)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError("mailyard serve did not stop in time:\n" + self.log()) from None

    def kill(self) -> None:
        """SIGKILL the whole process group at once: no process gets to clean up."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def get(self, path: str, timeout: float = 10.0) -> tuple[int, dict, bytes]:
        try:
            with urllib.request.urlopen(self.base_url + path, timeout=timeout) as r:
                return r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()

    def wait_until(self, predicate, timeout: float = 60.0, what: str = "condition"):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}\n--- serve log ---\n{self.log()}")
