"""Start and stop the SMTP, LMTP and submission listeners of intake.

`start_intake` runs the servers on an event loop in a thread of their own, beside the
group-commit writer thread, and returns at once (for `mailyard serve` and tests);
`run_intake` does the same in the foreground until SIGINT or SIGTERM (`mailyard intake`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import ssl
import stat
import threading
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from aiosmtpd.smtp import SMTP

from core.settings import Settings, SettingsError, parse_listen
from mail.address_kinds import AddressKind
from mta.handler import IntakeHandler
from mta.replies import IntakeLMTP, IntakeSMTP
from mta.submission import SubmissionHandler, SubmissionSMTP, is_loopback
from mta.writer import GroupCommitWriter

log = logging.getLogger(__name__)

IDENT = "Mailyard"
# How long stopping waits for messages already received to be stored and answered.
DRAIN_TIMEOUT = 10.0


@dataclass
class IntakeServers:
    """Running intake; `stop()` stores what was received, answers it, and closes."""

    settings: Settings
    loop: asyncio.AbstractEventLoop
    writer: GroupCommitWriter
    handler: IntakeHandler
    thread: threading.Thread | None = None
    smtp_address: tuple[str, int] | str | None = None  # the bound address (port 0 resolved)
    lmtp_address: tuple[str, int] | str | None = None  # (host, port) or a socket path
    submission_address: tuple[str, int] | str | None = None
    submission_handler: SubmissionHandler | None = None
    _servers: list[asyncio.AbstractServer] = field(default_factory=list)
    _connections: weakref.WeakSet[SMTP] = field(default_factory=weakref.WeakSet)
    _stopped: bool = False

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        if self.loop.is_running():
            self._on_loop(self._stop_listening())
            self.writer.stop(timeout=DRAIN_TIMEOUT)
            self._on_loop(self._close_connections())
            self.loop.call_soon_threadsafe(self.loop.stop)
        else:
            self.writer.stop(timeout=DRAIN_TIMEOUT)
        if self.thread is not None:
            self.thread.join(DRAIN_TIMEOUT)
        if not self.loop.is_running():
            self.loop.close()
        if isinstance(self.lmtp_address, str):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.lmtp_address)

    def _on_loop(self, coro) -> None:
        asyncio.run_coroutine_threadsafe(coro, self.loop).result(DRAIN_TIMEOUT + 5)

    async def _stop_listening(self) -> None:
        for server in self._servers:
            server.close()

    async def _close_connections(self) -> None:
        await self.handler.wait_idle(DRAIN_TIMEOUT)
        if self.submission_handler is not None:
            await self.submission_handler.wait_idle(DRAIN_TIMEOUT)
        for connection in list(self._connections):
            if connection.transport is not None:
                connection.transport.close()
        current = asyncio.current_task()
        tasks = [t for t in asyncio.all_tasks() if t is not current]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.loop.shutdown_default_executor()  # routing and parsing threads

    async def _listen(
        self,
        smtp: tuple[str, int] | str | None,
        lmtp: tuple[str, int] | str | None,
        submission: tuple[str, int] | str | None,
        context: ssl.SSLContext | None = None,
    ):
        if smtp is not None:
            self.smtp_address = await self._serve("SMTP", self._factory(IntakeSMTP), smtp)
        if lmtp is not None:
            self.lmtp_address = await self._serve("LMTP", self._factory(IntakeLMTP), lmtp)
        if submission is not None:
            assert self.submission_handler is not None
            factory = self._factory(
                SubmissionSMTP,
                self.submission_handler,
                auth_required=True,
                auth_require_tls=True,  # lifted for loopback clients, per connection
                tls_context=context,
            )
            self.submission_address = await self._serve("submission", factory, submission)

    async def _serve(
        self, name: str, factory: Callable[[], SMTP], where: tuple[str, int] | str
    ) -> tuple[str, int] | str:
        if isinstance(where, str):
            _remove_stale_socket(where)
            server = await self.loop.create_unix_server(factory, where)
            # Postfix's lmtp client runs as another user; Dovecot's LMTP socket is 0666 too.
            os.chmod(where, 0o666)
            bound: tuple[str, int] | str = where
        else:
            server = await self.loop.create_server(factory, *where)
            bound = server.sockets[0].getsockname()[:2]
        self._servers.append(server)
        log.info("%s intake listening on %s", name, bound)
        return bound

    def _factory(
        self, protocol: type[SMTP], handler: IntakeHandler | None = None, **options: Any
    ) -> Callable[[], SMTP]:
        def make() -> SMTP:
            connection = protocol(
                handler or self.handler,
                **options,
                data_size_limit=self.settings.max_message_size,
                enable_SMTPUTF8=True,
                decode_data=False,  # keep the raw bytes; also advertises 8BITMIME
                hostname=self.settings.domain,
                ident=IDENT,
                loop=self.loop,
            )
            self._connections.add(connection)
            return connection

        return make


def _remove_stale_socket(path: str) -> None:
    """A socket left by a process that died would make bind fail; anything else stays."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise SettingsError(f"LMTP socket path {path} exists and is not a socket")
    os.unlink(path)


def tls_context(settings: Settings) -> ssl.SSLContext | None:
    """The server side of STARTTLS from `tls_cert_file` and `tls_key_file`, or None when
    neither is set; a SettingsError naming the setting when they cannot be used."""
    cert, key = settings.tls_cert_file, settings.tls_key_file
    if not cert and not key:
        return None
    if not cert or not key:
        missing = "MAILYARD_TLS_KEY_FILE" if cert else "MAILYARD_TLS_CERT_FILE"
        raise SettingsError(f"STARTTLS needs {missing} too")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as e:
        raise SettingsError(f"MAILYARD_TLS_CERT_FILE/MAILYARD_TLS_KEY_FILE: {e}") from None
    return context


def start_intake(settings: Settings, kinds: Sequence[AddressKind]) -> IntakeServers:
    """Listen for SMTP on `settings.smtp_listen`, LMTP on `settings.lmtp_listen` and
    authenticated submission on `settings.submission_listen` (any may be empty, not all)
    for mail to the address `kinds`, tried in order; returns once all are bound."""
    smtp = parse_listen(settings.smtp_listen)
    lmtp = parse_listen(settings.lmtp_listen)
    submission = parse_listen(settings.submission_listen)
    if smtp is None and lmtp is None and submission is None:
        raise SettingsError(
            "intake needs MAILYARD_SMTP_LISTEN, MAILYARD_LMTP_LISTEN or MAILYARD_SUBMISSION_LISTEN"
        )
    # A bad certificate is said before anything starts.
    context = tls_context(settings) if submission is not None else None
    if isinstance(submission, tuple) and context is None and not is_loopback(submission):
        log.warning(
            "submission on %s offers AUTH to loopback clients only: set"
            " MAILYARD_TLS_CERT_FILE and MAILYARD_TLS_KEY_FILE for STARTTLS",
            settings.submission_listen,
        )
    writer = GroupCommitWriter(settings).start()
    loop = asyncio.new_event_loop()
    intake = IntakeServers(settings, loop, writer, IntakeHandler(settings, writer, kinds))
    if submission is not None:
        intake.submission_handler = SubmissionHandler(settings, writer, kinds)
    intake.thread = threading.Thread(target=loop.run_forever, name="intake-loop", daemon=True)
    intake.thread.start()
    try:
        intake._on_loop(intake._listen(smtp, lmtp, submission, context))
    except BaseException:
        intake.stop()
        raise
    return intake


def run_intake(settings: Settings, kinds: Sequence[AddressKind]) -> None:
    """Run intake in the foreground until SIGINT or SIGTERM, then stop cleanly: what
    was received by then is stored and answered before the process exits."""
    intake = start_intake(settings, kinds)
    done = threading.Event()
    previous: dict[signal.Signals, Callable[[int, FrameType | None], object] | int | None] = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, lambda *_: done.set())
    try:
        while not done.wait(1.0):
            pass
    finally:
        log.info("stopping intake")
        intake.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
