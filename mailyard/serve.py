"""`mailyard serve`: intake, web and worker as child processes of one foreground command.

Separate processes keep each part as it runs at scale (and keep gunicorn's and Celery's
own signal handling intact). The parent only starts them, waits, and on Ctrl-C or
SIGTERM stops them all; if one dies, the others are stopped too.

Before any child starts, the parent makes what they would otherwise race for (the
secret key) and binds every listen address once, so a port in use ends `serve` with one
line naming the setting instead of a child's traceback after the banner. Each child runs
in its own process group: Ctrl-C reaches only the parent, which stops the children in
order (gunicorn's workers get their graceful stop, not the terminal's SIGINT as well).
"""

from __future__ import annotations

import ctypes
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Collection

from archive.tasks import sweep_pending
from core.settings import Settings, SettingsError, listen_settings, parse_listen, secret_key

STOP_TIMEOUT = 15.0


def child_commands(settings: Settings) -> dict[str, list[str]]:
    base = [sys.executable, "-m", "mailyard.cli", "--data-dir", str(settings.data_dir)]
    commands = {"worker": base + ["worker"]}
    if settings.smtp_listen or settings.lmtp_listen or settings.submission_listen:
        commands["intake"] = base + ["intake"]
    if settings.http_listen:
        commands["web"] = base + ["web"]
    return commands


def serve_all(settings: Settings) -> int:
    """Run until interrupted; returns the exit status for the command."""
    check_can_listen(settings)
    secret_key(settings)  # made once here, before the web workers would race to make it
    stopping = False

    def request_stop(signum, _frame) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    children: dict[str, subprocess.Popen] = {}
    for name, argv in child_commands(settings).items():
        children[name] = subprocess.Popen(argv, preexec_fn=_die_with_parent, process_group=0)
    _announce(settings)
    try:
        sweep_pending.delay(0)  # messages stored before a crash are ingested now
    except Exception as e:  # noqa: BLE001  the periodic sweep will try again
        print(
            f"mailyard: could not reach the broker yet ({e}); the sweep will retry", file=sys.stderr
        )
    status = 0
    while not stopping:
        for name, proc in children.items():
            if proc.poll() is not None:
                print(
                    f"mailyard: {name} exited with status {proc.returncode}; stopping",
                    file=sys.stderr,
                )
                stopping, status = True, 1
                break
        time.sleep(0.2)
    _stop_children(children)
    return status


HTTP_LISTEN = "MAILYARD_HTTP_LISTEN"


def check_can_listen(settings: Settings, names: Collection[str] | None = None) -> None:
    """Bind every TCP listen address (or those of the settings `names`), all held at
    once (so one port given to two settings is refused too), and release them; a
    failure names the setting."""
    held: list[socket.socket] = []
    try:
        for name, value in listen_settings(settings).items():
            if names is not None and name not in names:
                continue
            address = parse_listen(value, name)
            if isinstance(address, tuple):
                held.append(_bind(name, value, address))
    finally:
        for sock in held:
            sock.close()


def intake_listen_settings(settings: Settings) -> list[str]:
    """The listen settings `mailyard intake` binds: all but the web's."""
    return [name for name in listen_settings(settings) if name != HTTP_LISTEN]


def _bind(name: str, value: str, address: tuple[str, int]) -> socket.socket:
    try:
        found = socket.getaddrinfo(*address, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        return socket.create_server(address, family=found[0][0])
    except OSError as e:
        reason = e.strerror or str(e)
        raise SettingsError(f"{name}={value}: cannot listen there: {reason}") from None


def _die_with_parent() -> None:
    """Linux: a child gets SIGTERM if `serve` itself is killed, so nothing is orphaned."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def _stop_children(children: dict[str, subprocess.Popen]) -> None:
    for proc in children.values():
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    for proc in children.values():
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _announce(settings: Settings) -> None:
    parts = []
    if settings.smtp_listen:
        parts.append(f"SMTP on {settings.smtp_listen}")
    if settings.lmtp_listen:
        parts.append(f"LMTP on {settings.lmtp_listen}")
    if settings.submission_listen:
        parts.append(f"submission on {settings.submission_listen}")
    if settings.http_listen:
        parts.append(f"web on http://{settings.http_listen}/")
    print(
        f"mailyard: {', '.join(parts)}; data in {settings.data_dir}. Ctrl-C stops.",
        file=sys.stderr,
        flush=True,
    )
