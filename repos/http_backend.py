"""git's smart HTTP protocol, spoken by git's own `git http-backend` (a CGI program).

Mailyard decides who may do what (the web face checks the rights); `git http-backend`
speaks the protocol, so fetches, shallow and partial clones, protocol v2 and gzipped
requests behave exactly as with any git server. This module is the CGI bridge: the
environment the program runs in (`cgi_environment`, pure), the head of its answer
(`parse_cgi_head`, pure), and running it (`run_backend`).

Streams, both ways: the request body is copied to the program's standard input in a
thread, a chunk at a time, while its standard output is read back as the response body,
so neither a large push nor a large clone is ever held in memory. When the client goes
away before the end (the WSGI server closes the body), the program and what it started are stopped:
at once for a fetch, but a push is given `PUSH_GRACE` seconds to end first, since its
refs may be being updated and its post-receive hook (which records the push) may be
running.
"""

from __future__ import annotations

import io
import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import IO, cast

from core.settings import Settings
from repos import storage
from repos.access import RepoRight
from repos.models import PushVia, Repository

log = logging.getLogger(__name__)

CHUNK = 64 * 1024
HEAD_MAX = 16 * 1024  # git http-backend's headers are a few hundred bytes
STDERR_KEPT = 4096  # the end of the program's standard error, for the log
PUSH_GRACE = 30.0  # seconds a push whose client went away may still take to finish
STOP_WAIT = 5.0  # seconds between SIGTERM and SIGKILL
GIT_PROTOCOL_MAX = 256  # "version=2" and the like; anything longer is not a real client
# What the response may carry from the program's head (the rest is CGI's own business).
PASSED_HEADERS = frozenset({"content-type", "cache-control", "expires", "pragma"})


class GitService(StrEnum):
    upload_pack = "git-upload-pack"  # fetch and clone
    receive_pack = "git-receive-pack"  # push

    @property
    def right(self) -> RepoRight:
        return RepoRight.write if self is GitService.receive_pack else RepoRight.read


class BackendFailed(Exception):
    """git http-backend could not be run or gave no valid answer (logged; the client is
    told the server failed, never why in detail)."""


@dataclass(frozen=True)
class BackendRequest:
    """What of an HTTP request `git http-backend` needs, already checked by the caller."""

    method: str  # GET or POST
    service: GitService
    advertisement: bool  # GET info/refs?service=..., rather than POST /SERVICE
    content_type: str = ""
    content_length: int | None = None  # None: the body ends at end of input (chunked)
    content_encoding: str = ""  # "gzip": git http-backend inflates the body itself
    git_protocol: str = ""  # the Git-Protocol header: "version=2"
    remote_user: str = ""  # the authenticated user's name, or "" for anonymous
    remote_addr: str = ""

    @property
    def path_info(self) -> str:
        """The part of the URL after the repository."""
        return "/info/refs" if self.advertisement else f"/{self.service.value}"

    @property
    def query_string(self) -> str:
        return f"service={self.service.value}" if self.advertisement else ""


@dataclass(frozen=True)
class CgiHead:
    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]

    def header(self, name: str) -> str:
        return next((v for k, v in self.headers if k.lower() == name.lower()), "")


def git_http_backend() -> Path:
    """The `git http-backend` program of the git on PATH."""
    exec_path = subprocess.run(
        ["git", "--exec-path"], capture_output=True, text=True, check=True
    ).stdout.strip()
    return Path(exec_path) / "git-http-backend"


def cgi_environment(
    base: Mapping[str, str], repository_path: Path, request: BackendRequest
) -> dict[str, str]:
    """The environment of `git http-backend` for `request` on the repository at
    `repository_path`: `base` (the caller's, with `repos.storage.git_environment`), the
    CGI variables, and config that allows exactly the service the caller authorised."""
    env = {k: v for k, v in base.items() if not k.startswith(("HTTP_", "CONTENT_"))}
    env.update(
        GATEWAY_INTERFACE="CGI/1.1",
        SERVER_PROTOCOL="HTTP/1.1",
        REQUEST_METHOD=request.method,
        # The repository is the project root's only child we name: nothing in the URL
        # reaches the program's idea of a path.
        GIT_PROJECT_ROOT=str(repository_path.parent),
        PATH_INFO=f"/{repository_path.name}{request.path_info}",
        QUERY_STRING=request.query_string,
        GIT_HTTP_EXPORT_ALL="1",  # the caller checked the rights; no daemon-export-ok
        REMOTE_ADDR=request.remote_addr,
    )
    for name in ("PATH_TRANSLATED", "REMOTE_USER", "GIT_PROTOCOL"):
        env.pop(name, None)
    if request.remote_user:
        env["REMOTE_USER"] = request.remote_user
    if request.content_type:
        env["CONTENT_TYPE"] = request.content_type
    if request.content_length is not None:
        env["CONTENT_LENGTH"] = str(request.content_length)
    if request.content_encoding:
        env["HTTP_CONTENT_ENCODING"] = request.content_encoding
    if valid_git_protocol(request.git_protocol):
        env["GIT_PROTOCOL"] = request.git_protocol
    _add_config(
        env,
        {
            # Only the service the caller checked the rights for: a fetch's request can
            # never reach receive-pack, whatever it says.
            "http.uploadpack": "true",
            "http.receivepack": "true" if request.service is GitService.receive_pack else "false",
            "http.getanyfile": "false",  # dumb HTTP is not offered
        },
    )
    return env


def valid_git_protocol(value: str) -> bool:
    """Whether a Git-Protocol header may be handed on: 'key=value' items joined by ':'."""
    return (
        0 < len(value) <= GIT_PROTOCOL_MAX
        and value.isascii()
        and value.isprintable()
        and " " not in value
    )


def _add_config(env: dict[str, str], config: Mapping[str, str]) -> None:
    """git config given in the environment (GIT_CONFIG_COUNT, git 2.31+), after any
    the environment holds already."""
    try:
        count = int(env.get("GIT_CONFIG_COUNT", "0"))
    except ValueError:
        count = 0
    for key, value in config.items():
        env[f"GIT_CONFIG_KEY_{count}"] = key
        env[f"GIT_CONFIG_VALUE_{count}"] = value
        count += 1
    env["GIT_CONFIG_COUNT"] = str(count)


def split_head(data: bytes) -> tuple[bytes, bytes] | None:
    """(head, rest of the body) once `data` holds the blank line that ends a CGI head;
    None while it does not."""
    for end in (b"\r\n\r\n", b"\n\n"):
        at = data.find(end)
        if at >= 0:
            return data[:at], data[at + len(end) :]
    return None


def parse_cgi_head(head: bytes) -> CgiHead:
    """The status and headers of a CGI program's answer ('Status: 403 Forbidden' or,
    without one, 200). A header given twice keeps its last value (git http-backend
    repeats its no-cache headers on errors). BackendFailed when it is not a CGI head."""
    try:
        text = head.decode("ascii")
    except UnicodeDecodeError:
        raise BackendFailed("the CGI head is not ASCII") from None
    status, reason = 200, "OK"
    headers: dict[str, tuple[str, str]] = {}
    for line in text.replace("\r\n", "\n").split("\n"):
        if not line:
            continue
        name, colon, value = line.partition(":")
        name, value = name.strip(), value.strip()
        if not colon or not name or " " in name:
            raise BackendFailed(f"not a CGI header line: {line[:100]!r}")
        if name.lower() == "status":
            code, _, reason = value.partition(" ")
            if not (code.isdigit() and len(code) == 3):
                raise BackendFailed(f"not a CGI status: {value[:100]!r}")
            status, reason = int(code), reason.strip()
        else:
            headers[name.lower()] = (name, value)
    return CgiHead(status=status, reason=reason, headers=tuple(headers.values()))


@dataclass
class BackendResponse:
    """The program's answer: its head, and its body as an iterable of chunks that stops
    the program when closed early (a WSGI server closes it when the client goes away)."""

    head: CgiHead
    process: subprocess.Popen
    _stdout: io.BufferedReader
    _first: bytes
    _feeder: threading.Thread
    _stderr: _TailReader
    service: GitService
    _done: bool = field(default=False)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def headers(self) -> list[tuple[str, str]]:
        return [(k, v) for k, v in self.head.headers if k.lower() in PASSED_HEADERS]

    def __iter__(self) -> Iterator[bytes]:
        if self._first:
            yield self._first
        while chunk := self._stdout.read1(CHUNK):
            yield chunk
        self._finish(stopped=False)

    def close(self) -> None:
        self._finish(stopped=True)

    def stderr_tail(self) -> str:
        return self._stderr.text()

    def _finish(self, *, stopped: bool) -> None:
        with self._lock:
            if self._done:
                return
            self._done = True
        process = self.process
        if stopped:
            if self.service is GitService.receive_pack:
                # The client went away. A push may be updating refs and recording itself
                # (post-receive): let it run to its end a while, its output dropped.
                drain = _TailReader(self._stdout)
                drain.start()
                drain.join(timeout=PUSH_GRACE)
                _stop_group(process)
                drain.join(timeout=STOP_WAIT)
            else:  # a fetch has nothing left worth finishing
                _close_quietly(self._stdout)
                _stop_group(process)
        returncode = process.wait()
        self._feeder.join(timeout=STOP_WAIT)
        self._stderr.join(timeout=STOP_WAIT)
        _close_quietly(self._stdout)
        if returncode != 0 and not stopped:
            log.warning(
                "git http-backend (%s) exited with %d: %s",
                self.service.value,
                returncode,
                self._stderr.text(),
            )


class _TailReader(threading.Thread):
    """Reads a pipe to its end (so the program never blocks on it), keeping the end."""

    def __init__(self, pipe: io.BufferedReader) -> None:
        super().__init__(daemon=True, name="git-http-backend-stderr")
        self.pipe = pipe
        self.tail = b""

    def run(self) -> None:
        with self.pipe:
            while chunk := self.pipe.read1(CHUNK):
                self.tail = (self.tail + chunk)[-STDERR_KEPT:]

    def text(self) -> str:
        return self.tail.decode("utf-8", "replace").strip()


def run_backend(
    settings: Settings,
    repository: Repository,
    request: BackendRequest,
    body: IO[bytes] | None,
    *,
    pusher_id: int | None = None,
) -> BackendResponse:
    """Start `git http-backend` for `request` on `repository`, feeding it `body` (read
    to its end, in a thread), and read the head of its answer. The caller has checked
    the rights; `pusher_id` is who pushes (recorded by the post-receive hook).
    BackendFailed (logged) when the program cannot run or answers no valid head."""
    path = storage.path_of(settings, repository)
    if not path.is_dir():
        raise _failed(f"{repository.path_name}: its directory {path} is missing")
    if request.service is GitService.receive_pack:
        storage.install_hooks(path)  # hooks that name the Python running Mailyard now
    base = storage.git_environment(settings, repository, pusher_id=pusher_id, via=PushVia.http)
    env = cgi_environment(base, path, request)
    try:
        process = subprocess.Popen(
            [str(git_http_backend())],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd=path,
            # Its own process group: stopping it stops the upload-pack or receive-pack
            # it started as well.
            start_new_session=True,
        )
    except (OSError, subprocess.CalledProcessError) as e:
        raise _failed(f"cannot run git http-backend: {e}") from None
    # Popen's pipes are buffered readers: read1 returns what is there, without waiting
    # for a whole chunk.
    stdout = cast(io.BufferedReader, process.stdout)
    stderr = _TailReader(cast(io.BufferedReader, process.stderr))
    stderr.start()
    feeder = threading.Thread(
        target=_feed,
        args=(body, cast(IO[bytes], process.stdin)),
        daemon=True,
        name="git-http-backend-stdin",
    )
    feeder.start()
    data = b""
    while (parts := split_head(data)) is None:
        chunk = stdout.read1(CHUNK)
        if not chunk or len(data) > HEAD_MAX:
            _close_quietly(stdout)
            _stop_group(process)
            process.wait()
            stderr.join(timeout=STOP_WAIT)
            raise _failed(
                f"git http-backend gave no answer (exit {process.returncode}): {stderr.text()}"
            )
        data += chunk
    head_bytes, first = parts
    try:
        head = parse_cgi_head(head_bytes)
    except BackendFailed as e:
        _close_quietly(stdout)
        _stop_group(process)
        process.wait()
        raise _failed(f"git http-backend's answer: {e}") from None
    return BackendResponse(
        head=head,
        process=process,
        _stdout=stdout,
        _first=first,
        _feeder=feeder,
        _stderr=stderr,
        service=request.service,
    )


def _failed(message: str) -> BackendFailed:
    log.error("%s", message)
    return BackendFailed(message)


def _feed(body: IO[bytes] | None, stdin: IO[bytes]) -> None:
    """Copy the request body to the program, a chunk at a time, then close its input.
    The program may stop reading early (a refused request): that ends the copy."""
    try:
        if body is not None:
            while chunk := body.read(CHUNK):
                stdin.write(chunk)
    except (BrokenPipeError, ConnectionError, ValueError):
        pass  # the program closed its input, or the client went away mid-request
    except OSError as e:
        log.info("reading a git request body stopped: %s", e)
    finally:
        _close_quietly(stdin)


def _stop_group(process: subprocess.Popen) -> None:
    """Stop the program's process group (the program may have ended already, leaving the
    upload-pack or receive-pack it started): SIGTERM (git removes its lock files on it),
    then SIGKILL."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        if _group_ended(process, STOP_WAIT):
            return


def _group_ended(process: subprocess.Popen, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        process.poll()  # reap the program itself
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.02)
    return False


def _close_quietly(stream: IO[bytes] | None) -> None:
    if stream is None:
        return
    try:
        stream.close()
    except (OSError, ValueError):
        pass
