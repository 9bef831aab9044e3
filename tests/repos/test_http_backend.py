"""The CGI bridge to `git http-backend`: the environment it gets and the head it answers
(pure), and running the real program: its answer streamed, and stopped when the client
goes away."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from repos import storage
from repos.http_backend import (
    BackendFailed,
    BackendRequest,
    CgiHead,
    GitService,
    cgi_environment,
    parse_cgi_head,
    run_backend,
    split_head,
    valid_git_protocol,
)
from repos.repositories import create_repository
from tests.accounts.helpers import make_user
from tests.repos.helpers import git, work_tree

REPO = Path("/srv/repos/ada/x.git")


def environment(base: dict[str, str] | None = None, **fields) -> dict[str, str]:
    fields.setdefault("method", "GET")
    fields.setdefault("service", GitService.upload_pack)
    fields.setdefault("advertisement", True)
    return cgi_environment(base or {"PATH": "/usr/bin"}, REPO, BackendRequest(**fields))


def config_of(env: dict[str, str]) -> dict[str, str]:
    count = int(env["GIT_CONFIG_COUNT"])
    return {env[f"GIT_CONFIG_KEY_{i}"]: env[f"GIT_CONFIG_VALUE_{i}"] for i in range(count)}


def test_the_advertisement_names_the_repository_and_the_service() -> None:
    env = environment(remote_addr="192.0.2.7", git_protocol="version=2")
    assert env["GIT_PROJECT_ROOT"] == "/srv/repos/ada"
    assert env["PATH_INFO"] == "/x.git/info/refs"
    assert env["QUERY_STRING"] == "service=git-upload-pack"
    assert env["REQUEST_METHOD"] == "GET"
    assert env["GIT_HTTP_EXPORT_ALL"] == "1"
    assert env["GIT_PROTOCOL"] == "version=2"
    assert env["REMOTE_ADDR"] == "192.0.2.7"
    assert env["PATH"] == "/usr/bin"
    for absent in ("REMOTE_USER", "CONTENT_LENGTH", "CONTENT_TYPE", "HTTP_CONTENT_ENCODING"):
        assert absent not in env


def test_a_push_request_carries_its_body_and_who_pushes() -> None:
    env = environment(
        method="POST",
        service=GitService.receive_pack,
        advertisement=False,
        content_type="application/x-git-receive-pack-request",
        content_length=1234,
        content_encoding="gzip",
        remote_user="ada",
    )
    assert env["PATH_INFO"] == "/x.git/git-receive-pack" and env["QUERY_STRING"] == ""
    assert env["CONTENT_TYPE"] == "application/x-git-receive-pack-request"
    assert env["CONTENT_LENGTH"] == "1234"
    assert env["HTTP_CONTENT_ENCODING"] == "gzip"
    assert env["REMOTE_USER"] == "ada"
    assert config_of(env)["http.receivepack"] == "true"


def test_a_body_without_length_has_no_content_length() -> None:
    """A chunked request: git http-backend then reads to the end of its input."""
    env = environment(method="POST", advertisement=False, content_length=None)
    assert "CONTENT_LENGTH" not in env


def test_only_the_authorised_service_is_enabled() -> None:
    config = config_of(environment(remote_user="ada"))
    assert config == {
        "http.uploadpack": "true",
        "http.receivepack": "false",
        "http.getanyfile": "false",
    }


def test_the_callers_cgi_and_http_variables_do_not_reach_the_program() -> None:
    """The web process's own environment might hold any (httpoxy: HTTP_PROXY)."""
    base = {
        "PATH": "/bin",
        "HTTP_PROXY": "http://evil.example",
        "CONTENT_LENGTH": "99",
        "REMOTE_USER": "root",
        "PATH_TRANSLATED": "/etc",
        "GIT_PROTOCOL": "version=2",
    }
    env = environment(base)
    for gone in ("HTTP_PROXY", "CONTENT_LENGTH", "REMOTE_USER", "PATH_TRANSLATED"):
        assert gone not in env
    assert "GIT_PROTOCOL" not in env


def test_config_in_the_environment_already_is_kept() -> None:
    env = environment(
        {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "core.x", "GIT_CONFIG_VALUE_0": "1"}
    )
    assert env["GIT_CONFIG_KEY_0"] == "core.x"
    assert config_of(env)["http.getanyfile"] == "false"
    assert env["GIT_CONFIG_COUNT"] == "4"


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("version=2", True),
        ("version=2:object-format=sha256", True),
        ("", False),
        ("version=2\nX: y", False),
        ("version = 2", False),
        ("v" * 300, False),
        ("versión=2", False),
    ],
)
def test_git_protocol_header(value: str, valid: bool) -> None:
    assert valid_git_protocol(value) is valid
    assert ("GIT_PROTOCOL" in environment(git_protocol=value)) is valid


def test_a_head_without_status_is_200() -> None:
    head = parse_cgi_head(
        b"Expires: Fri, 01 Jan 1980 00:00:00 GMT\r\n"
        b"Content-Type: application/x-git-upload-pack-advertisement"
    )
    assert (head.status, head.reason) == (200, "OK")
    assert head.header("content-type") == "application/x-git-upload-pack-advertisement"


def test_a_status_and_repeated_headers() -> None:
    """git http-backend repeats its no-cache headers on a refusal."""
    head = parse_cgi_head(
        b"Pragma: no-cache\r\nStatus: 403 Forbidden\r\nPragma: no-cache\r\n"
        b"Cache-Control: no-cache, max-age=0"
    )
    assert head == CgiHead(
        status=403,
        reason="Forbidden",
        headers=(("Pragma", "no-cache"), ("Cache-Control", "no-cache, max-age=0")),
    )


@pytest.mark.parametrize(
    "head", [b"not a header", b"Status: abc", b"Status: 2000 Big", b"Bad Name: x", b"\xff: x"]
)
def test_a_head_that_is_not_cgi_is_refused(head: bytes) -> None:
    with pytest.raises(BackendFailed):
        parse_cgi_head(head)


def test_split_head() -> None:
    assert split_head(b"A: b\r\n\r\nbody\r\n\r\n") == (b"A: b", b"body\r\n\r\n")
    assert split_head(b"A: b\n\nbody") == (b"A: b", b"body")
    assert split_head(b"A: b\r\n") is None


# -- the real program ----------------------------------------------------------------------


@pytest.fixture
def hosted(session, settings, tmp_path):
    """~ada/x with a 4 MiB file: a fetch's answer far larger than a pipe holds."""
    ada = make_user(session, "ada", "ada@example.org")
    repository = create_repository(session, settings, ada, "x")
    session.commit()
    work = work_tree(tmp_path / "work", commits=1)
    (work / "big.bin").write_bytes(os.urandom(4 * 1024 * 1024))
    git(work, "add", "big.bin")
    git(work, "commit", "-qm", "big")
    git(work, "push", "-q", str(storage.path_of(settings, repository)), "main")
    return repository, git(work, "rev-parse", "HEAD").stdout.strip()


def fetch_request(want: str) -> tuple[BackendRequest, io.BytesIO]:
    lines = [f"want {want} no-progress\n", None, "done\n"]
    body = b"".join(f"{len(x) + 4:04x}{x}".encode() if x else b"0000" for x in lines)
    request = BackendRequest(
        method="POST",
        service=GitService.upload_pack,
        advertisement=False,
        content_type="application/x-git-upload-pack-request",
        content_length=len(body),
    )
    return request, io.BytesIO(body)


def test_the_advertisement_is_streamed_and_the_program_ends(settings, hosted) -> None:
    repository, head = hosted
    request = BackendRequest(method="GET", service=GitService.upload_pack, advertisement=True)
    answer = run_backend(settings, repository, request, None)
    assert answer.head.status == 200
    assert ("Content-Type", "application/x-git-upload-pack-advertisement") in answer.headers
    body = b"".join(answer)
    assert body.startswith(b"001e# service=git-upload-pack\n0000") and head.encode() in body
    assert answer.process.returncode == 0


def test_a_fetch_streams_the_whole_pack(settings, hosted) -> None:
    repository, head = hosted
    answer = run_backend(settings, repository, *fetch_request(head))
    body = b"".join(answer)
    assert body.startswith(b"0008NAK\nPACK") and len(body) > 4 * 1024 * 1024
    assert answer.process.returncode == 0


def test_closing_the_answer_early_stops_git(settings, hosted) -> None:
    repository, head = hosted
    answer = run_backend(settings, repository, *fetch_request(head))
    chunks = iter(answer)
    assert next(chunks).startswith(b"0008NAK")
    answer.close()  # the client went away
    assert answer.process.poll() is not None
    with pytest.raises(ProcessLookupError):  # upload-pack and pack-objects too
        os.killpg(answer.process.pid, 0)


def test_a_push_request_reinstalls_the_hook(settings, hosted) -> None:
    repository, _ = hosted
    hook = storage.path_of(settings, repository) / "hooks" / "post-receive"
    hook.unlink()
    request = BackendRequest(
        method="GET", service=GitService.receive_pack, advertisement=True, remote_user="ada"
    )
    answer = run_backend(settings, repository, request, None)
    assert b"report-status" in b"".join(answer)
    assert hook.stat().st_mode & 0o111


def test_a_repository_missing_on_disk_is_a_failure(settings, hosted) -> None:
    repository, _ = hosted
    storage.remove_tree(storage.path_of(settings, repository))
    request = BackendRequest(method="GET", service=GitService.upload_pack, advertisement=True)
    with pytest.raises(BackendFailed, match="is missing"):
        run_backend(settings, repository, request, None)
