"""`mailyard serve` as a user runs it, in real processes: a configuration mistake is one
line naming the setting before anything starts; Ctrl-C stops every part cleanly; two
instances on one machine do not share (and remove) one gunicorn control socket."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time

import pytest

from core.settings import Settings, complete
from tests.served import ServedMailyard, free_port


def serve_refusal(server: ServedMailyard) -> subprocess.CompletedProcess:
    """`mailyard serve` that is expected to refuse to start (and so returns quickly)."""
    return subprocess.run(
        [sys.executable, "-m", "mailyard.cli", "serve"],
        env=server.env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def assert_one_line_naming(result: subprocess.CompletedProcess, setting: str) -> None:
    output = (result.stdout + result.stderr).strip()
    assert result.returncode == 1, output
    assert len(output.splitlines()) == 1, output
    assert setting in output, output
    assert "Traceback" not in output and "Ctrl-C stops" not in output


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("MAILYARD_HTTP_LISTEN", "127.0.0.1:99999"),
        ("MAILYARD_SMTP_LISTEN", "127.0.0.1:0x19"),
        ("MAILYARD_SMTP_LISTEN", "localhost"),
        ("MAILYARD_HTTP_LISTEN", "999.1.1.1:8080"),
        ("MAILYARD_LMTP_LISTEN", "127.0.0.1:-5"),
        ("MAILYARD_DATABASE_URL", "nonsense://x"),
        ("MAILYARD_DATABASE_URL", "not a url at all"),
        ("MAILYARD_DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:1/none"),
        ("MAILYARD_BROKER_URL", "nonsense://x"),
        ("MAILYARD_WEB_WORKERS", "0"),
        ("MAILYARD_WORKER_CONCURRENCY", "-2"),
    ],
)
def test_a_bad_setting_is_one_line_naming_it_before_anything_starts(settings, setting, value):
    server = ServedMailyard(settings, extra_env={setting: value})
    assert_one_line_naming(serve_refusal(server), setting)


def test_a_port_in_use_is_one_line_naming_the_setting(settings):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = ServedMailyard(settings, http_port=port)
        assert_one_line_naming(serve_refusal(server), "MAILYARD_HTTP_LISTEN")
        server = ServedMailyard(settings, smtp_port=port)
        assert_one_line_naming(serve_refusal(server), "MAILYARD_SMTP_LISTEN")


def test_two_settings_on_one_port_are_refused(settings):
    port = free_port()
    server = ServedMailyard(settings, smtp_port=port, http_port=port)
    assert_one_line_naming(serve_refusal(server), "MAILYARD_HTTP_LISTEN")


def web_workers_killed(log: str) -> set[str]:
    """The gunicorn workers that booted and never got to say they were exiting."""
    booted = set(re.findall(r"Booting worker with pid: (\d+)", log))
    exited = set(re.findall(r"Worker exiting \(pid: (\d+)\)", log))
    return booted - exited


def test_ctrl_c_with_browser_connections_open_stops_every_part_without_a_kill(settings, tmp_path):
    server = ServedMailyard(settings, extra_env={"MAILYARD_WEB_WORKERS": "2"})
    server.start()
    # A browser keeps a connection alive and opens spare ones it sends nothing on yet.
    kept_alive = socket.create_connection(("127.0.0.1", server.http_port))
    kept_alive.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert kept_alive.recv(100).startswith(b"HTTP/1.1 200")
    spare = [socket.create_connection(("127.0.0.1", server.http_port)) for _ in range(4)]
    time.sleep(0.5)
    try:
        os.killpg(server.process.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        status = server.process.wait(timeout=40)
    finally:
        server.kill()
        for connection in [kept_alive, *spare]:
            connection.close()
    log = server.log()
    assert status == 0, log
    assert "SIGKILL" not in log and "Traceback" not in log, log
    assert not web_workers_killed(log), log


def test_two_instances_do_not_share_a_gunicorn_control_socket(settings, tmp_path):
    home = tmp_path / "home"
    runtime = tmp_path / "runtime"
    home.mkdir()
    runtime.mkdir()
    machine = {"HOME": str(home), "XDG_RUNTIME_DIR": str(runtime)}
    first = ServedMailyard(settings, extra_env=machine).start()
    (tmp_path / "data2").mkdir()
    second = ServedMailyard(complete(Settings(data_dir=tmp_path / "data2")), extra_env=machine)
    try:
        second.start()
        assert second.get("/")[0] == 200
        first.stop()
        assert second.get("/")[0] == 200
    finally:
        first.kill()
        second.stop()
        second.kill()
    shared = [p for p in [*home.rglob("*"), *runtime.rglob("*")] if p.name.endswith(".ctl")]
    assert shared == [], shared
    assert "Control socket" not in first.log() + second.log()


@pytest.mark.parametrize(
    ("command", "setting"),
    [("web", "MAILYARD_HTTP_LISTEN"), ("intake", "MAILYARD_SMTP_LISTEN")],
)
def test_web_or_intake_alone_on_a_port_in_use_is_one_line_naming_it(settings, command, setting):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = ServedMailyard(settings, http_port=port, smtp_port=port)
        result = subprocess.run(
            [sys.executable, "-m", "mailyard.cli", command],
            env=server.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert_one_line_naming(result, setting)
