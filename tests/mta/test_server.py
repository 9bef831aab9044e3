"""Starting and stopping intake: foreground runs end cleanly on SIGTERM, bind errors surface."""

from __future__ import annotations

import os
import signal
import smtplib
import socket
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from core.settings import SettingsError
from mailyard.wiring import ADDRESS_KINDS
from mta.server import start_intake
from tests.messages import make_message, msgid_of, send, stored

ROOT = Path(__file__).resolve().parents[2]
RUN = (
    "from core.settings import load_settings, use_settings\n"
    "from mailyard import celery_app, wiring\n"
    "from mta.server import run_intake\n"
    "run_intake(use_settings(load_settings()), wiring.ADDRESS_KINDS)\n"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"intake did not listen on {port}")


def test_run_intake_serves_until_sigterm_then_exits_cleanly(settings, session, lists):
    port = free_port()
    env = {
        **os.environ,
        "MAILYARD_DATA_DIR": str(settings.data_dir),
        "MAILYARD_DATABASE_URL": settings.database_url,
        "MAILYARD_DOMAIN": settings.domain,
        "MAILYARD_SMTP_LISTEN": f"127.0.0.1:{port}",
        "MAILYARD_LMTP_LISTEN": "",
        "MAILYARD_SUBMISSION_LISTEN": "",
        "MAILYARD_TASKS_EAGER": "1",
    }
    proc = subprocess.Popen(
        [sys.executable, "-c", RUN], cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True
    )
    try:
        wait_for_port(port, proc)
        raw = make_message()
        assert send(("127.0.0.1", port), raw) == {}
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert len(stored(session, msgid_of(raw))) == 1


def test_a_taken_port_fails_start_and_leaves_nothing_running(settings, lists):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        host, port = taken.getsockname()
        with pytest.raises(OSError):
            start_intake(
                replace(settings, smtp_listen=f"{host}:{port}", lmtp_listen=""),
                ADDRESS_KINDS,
            )
    assert not [t for t in threading.enumerate() if t.name.startswith("intake-")]


def test_intake_needs_somewhere_to_listen(settings):
    with pytest.raises(SettingsError):
        start_intake(
            replace(settings, smtp_listen="", lmtp_listen="", submission_listen=""), ADDRESS_KINDS
        )


def test_null_sender_is_accepted(intake, session):
    raw = make_message()
    with smtplib.SMTP(*intake.smtp_address, timeout=10) as client:
        assert client.sendmail("<>", ["dev@lists.example.org"], raw) == {}
    [message] = stored(session, msgid_of(raw))
    assert message.envelope_from == "<>"
