"""git over smart HTTP against a real `mailyard serve`: the real git clones, fetches
(shallow, partial, protocol v0 and v2) and pushes with an API token; the push is
recorded and its hooks run by the served worker; refusals read well in git's own
output; a private repository answers exactly as a missing one.

One served instance for the whole module (`module_settings`): every test works on its
own repository or only reads, so they do not depend on each other's order.
"""

from __future__ import annotations

import base64
import gzip
import http.client
import os
import socket
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from accounts.models import RateLimitHit
from accounts.ratelimit import LOGIN_PER_IP
from accounts.tokens import create_token
from accounts.users import create_user
from core.db import new_session
from core.settings import Settings
from mailyard.wiring import BLUEPRINTS
from repos import storage
from repos.access import set_access
from repos.models import HooksState, Push, PushVia, RefUpdate
from repos.repositories import create_repository, get_repository
from repos.urls import https_clone_url
from tests.repos.helpers import git, git_env, work_tree
from tests.served import ServedMailyard
from web.app import create_app

pytestmark = pytest.mark.e2e

BIG = 8 * 1024 * 1024  # ~ada/big's one file: more than any socket buffer holds


@dataclass
class World:
    served: ServedMailyard
    settings: Settings
    tokens: dict[str, str]
    user_ids: dict[str, int]
    source: Path  # the work tree whose history ~ada/x holds

    def url(self, path: str, user: str | None = None, token: str | None = None) -> str:
        port = self.served.http_port
        if user is None:
            return f"http://127.0.0.1:{port}/{path}"
        return f"http://{user}:{token or self.tokens[user]}@127.0.0.1:{port}/{path}"


@pytest.fixture(scope="module")
def world(module_settings, broker_url, tmp_path_factory):
    """ada owns ~ada/x (public, three commits changing one file), ~ada/secret (private;
    bob may read it, same history), ~ada/pushed (public, empty: pushed to by the tests)
    and ~ada/big (public, x and a commit with a large random file); bob and
    carol have tokens but no rights of their own; ~ada/missing does not exist."""
    if broker_url:
        import redis

        redis.Redis.from_url(broker_url).flushdb()
    settings = module_settings
    tokens, ids = {}, {}
    with new_session(settings) as s:
        users = {n: create_user(s, n, f"{n}@example.org") for n in ("ada", "bob", "carol")}
        for name, user in users.items():
            _, tokens[name] = create_token(s, user, "git", timedelta(days=30))
        public = create_repository(s, settings, users["ada"], "x")
        secret = create_repository(s, settings, users["ada"], "secret", visibility="private")
        create_repository(s, settings, users["ada"], "pushed")
        big = create_repository(s, settings, users["ada"], "big")
        s.flush()
        set_access(s, secret, "read", user_id=users["bob"].id)
        s.commit()
        ids = {n: u.id for n, u in users.items()}
        paths = [storage.path_of(settings, r) for r in (public, secret)]
        big_path = storage.path_of(settings, big)
    source = tmp_path_factory.mktemp("source") / "work"
    source.mkdir()
    git(source, "init", "-q", "-b", "main")
    for i in range(3):  # one file changed three times: old blobs a partial clone lacks
        (source / "file.txt").write_text(f"version {i}\n")
        git(source, "add", "file.txt")
        git(source, "commit", "-qm", f"version {i}")
    for path in paths:
        git(source, "push", "-q", str(path), "main")  # no Mailyard env: not recorded
    (source / "big.bin").write_bytes(os.urandom(BIG))
    git(source, "add", "big.bin")
    git(source, "commit", "-qm", "big")
    git(source, "push", "-q", str(big_path), "main")
    git(source, "reset", "-q", "--hard", "HEAD~1")
    served = ServedMailyard(settings).start()
    yield World(served, settings, tokens, ids, source)
    served.stop()
    if served.process and served.process.poll() is None:
        served.kill()


def head_of(path: Path) -> str:
    return git(path, "rev-parse", "HEAD").stdout.strip()


def clone(world: World, url: str, target: Path, *args: str, check: bool = True):
    result = subprocess.run(
        ["git", "clone", *args, url, str(target)],
        env=git_env(),
        capture_output=True,
        text=True,
    )
    if check:
        assert result.returncode == 0, result.stderr + world.served.log()[-3000:]
    return result


def raw(world: World, method: str, path: str, body: bytes | None = None, **headers: str):
    """(status, content type, WWW-Authenticate, body) of one plain HTTP request."""
    request = urllib.request.Request(world.url(path), data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            return r.status, r.headers["Content-Type"], r.headers["WWW-Authenticate"], r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers["Content-Type"], e.headers["WWW-Authenticate"], e.read()


def basic(world: World, user: str) -> dict[str, str]:
    pair = base64.b64encode(f"{user}:{world.tokens[user]}".encode()).decode()
    return {"Authorization": f"Basic {pair}"}


# -- fetching ----------------------------------------------------------------------------


def test_anonymous_clone_of_a_public_repository(world, tmp_path) -> None:
    clone(world, world.url("~ada/x"), tmp_path / "c")
    assert head_of(tmp_path / "c") == head_of(world.source)
    assert (tmp_path / "c" / "file.txt").read_text() == "version 2\n"


def test_the_clone_url_pages_show_clones(world, tmp_path) -> None:
    settings = replace(world.settings, base_url=world.served.base_url)
    with new_session(world.settings) as s:
        url = https_clone_url(settings, get_repository(s, "ada", "x"))
    clone(world, url, tmp_path / "c")
    assert head_of(tmp_path / "c") == head_of(world.source)


def test_the_git_suffix_names_the_same_repository(world, tmp_path) -> None:
    clone(world, world.url("~ada/x.git"), tmp_path / "c")
    assert head_of(tmp_path / "c") == head_of(world.source)


@pytest.mark.parametrize("version", ["0", "1", "2"])
def test_each_protocol_version_clones(world, tmp_path, version) -> None:
    trace = tmp_path / "trace"
    result = subprocess.run(
        ["git", "-c", f"protocol.version={version}", "clone", world.url("~ada/x"), "c"],
        cwd=tmp_path,
        env=git_env(GIT_TRACE_PACKET=str(trace)),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert head_of(tmp_path / "c") == head_of(world.source)
    spoke_v2 = "< version 2" in trace.read_text()
    assert spoke_v2 == (version == "2")


def test_protocol_v2_is_offered_when_asked_for(world) -> None:
    path = "~ada/x/info/refs?service=git-upload-pack"
    status, ctype, _, v2 = raw(world, "GET", path, **{"Git-Protocol": "version=2"})
    assert status == 200 and ctype == "application/x-git-upload-pack-advertisement"
    assert b"version 2\n" in v2 and b"fetch=" in v2
    _, _, _, v0 = raw(world, "GET", path)
    assert b"version 2" not in v0 and head_of(world.source).encode() in v0


def test_shallow_clone(world, tmp_path) -> None:
    clone(world, world.url("~ada/x"), tmp_path / "c", "--depth", "1")
    c = tmp_path / "c"
    assert git(c, "rev-list", "--count", "HEAD").stdout.strip() == "1"
    assert (c / ".git" / "shallow").read_text().strip() == head_of(world.source)


def test_partial_clone_lacks_the_old_blobs_and_fetches_them_on_demand(world, tmp_path) -> None:
    clone(world, world.url("~ada/x"), tmp_path / "c", "--filter=blob:none")
    c = tmp_path / "c"
    listed = git(c, "rev-list", "--objects", "--missing=print", "--all").stdout.split("\n")
    missing = {line[1:] for line in listed if line.startswith("?")}
    old = {git(world.source, "rev-parse", f"HEAD~{n}:file.txt").stdout.strip() for n in (1, 2)}
    assert missing == old  # the checkout fetched the current version only
    # And the rest comes on demand, through upload-pack again.
    assert git(c, "show", "HEAD~2:file.txt").stdout == "version 0\n"


def test_a_gzipped_upload_pack_request_is_inflated(world) -> None:
    want = head_of(world.source)
    request = pkt(f"want {want} no-progress\n") + b"0000" + pkt("done\n")
    headers = {
        "Content-Type": "application/x-git-upload-pack-request",
        "Accept": "application/x-git-upload-pack-result",
    }
    status, ctype, _, body = raw(
        world,
        "POST",
        "~ada/x/git-upload-pack",
        gzip.compress(request),
        **headers,
        **{"Content-Encoding": "gzip"},
    )
    assert status == 200, body
    assert ctype == "application/x-git-upload-pack-result"
    assert body.startswith(b"0008NAK\nPACK")


def test_a_chunked_request_without_length_is_read_to_its_end(world) -> None:
    """git sends large requests chunked, with no Content-Length."""
    want = head_of(world.source)
    request = pkt(f"want {want} no-progress\n") + b"0000" + pkt("done\n")
    connection = http.client.HTTPConnection("127.0.0.1", world.served.http_port, timeout=30)
    connection.request(
        "POST",
        "/~ada/x/git-upload-pack",
        body=iter([request[:10], request[10:]]),
        headers={"Content-Type": "application/x-git-upload-pack-request"},
        encode_chunked=True,
    )
    response = connection.getresponse()
    body = response.read()
    connection.close()
    assert response.status == 200 and body.startswith(b"0008NAK\nPACK")


def test_a_client_that_goes_away_stops_git_on_the_server(world) -> None:
    big = git(world.source, "ls-remote", world.url("~ada/big"), "main").stdout.split()[0]
    request = pkt(f"want {big} no-progress\n") + b"0000" + pkt("done\n")
    connection = http.client.HTTPConnection("127.0.0.1", world.served.http_port, timeout=30)
    connection.request(
        "POST",
        "/~ada/big/git-upload-pack",
        body=request,
        headers={"Content-Type": "application/x-git-upload-pack-request"},
    )
    response = connection.getresponse()
    assert response.status == 200 and response.read(4096).startswith(b"0008NAK")
    assert git_processes(world.served.process.pid)  # still sending the pack
    connection.sock.shutdown(socket.SHUT_RDWR)
    connection.close()
    world.served.wait_until(
        lambda: not git_processes(world.served.process.pid), what="git on the server stopped"
    )


def git_processes(root: int) -> list[str]:
    """The command lines of the git processes below process `root`."""
    children: dict[int, list[int]] = {}
    commands = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            commands[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        ppid = int(stat.rpartition(")")[2].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            todo.append(child)
            if b"git" in commands[child].split(b" ")[0]:
                found.append(commands[child].decode(errors="replace"))
    return found


def pkt(line: str) -> bytes:
    return f"{len(line) + 4:04x}{line}".encode()


def test_dumb_http_is_not_offered(world) -> None:
    status, ctype, _, body = raw(world, "GET", "~ada/x/info/refs")
    assert (status, ctype) == (403, "text/plain; charset=utf-8")
    assert body.startswith(b"dumb HTTP is not offered")
    status, _, _, body = raw(world, "GET", "~ada/x/info/refs?service=git-annex")
    assert status == 400 and b"?service=" in body


# -- pushing -----------------------------------------------------------------------------


def test_a_push_with_a_token_is_recorded_and_its_hooks_run(world, tmp_path) -> None:
    work = tmp_path / "w"
    clone(world, world.url("~ada/x"), work)
    (work / "new.txt").write_text("new\n")
    git(work, "add", "new.txt")
    git(work, "commit", "-qm", "new file")
    before = head_of(work)
    result = git(work, "push", world.url("~ada/pushed", "ada"), "main", check=False)
    assert result.returncode == 0, result.stderr + world.served.log()[-3000:]
    with new_session(world.settings) as s:
        push = world.served.wait_until(
            lambda: s.scalar(
                select(Push).where(Push.hooks_state == HooksState.done).order_by(Push.id.desc())
            ),
            what="the push recorded and its hooks done",
        )
        assert (push.via, push.pusher_user_id) == (PushVia.http, world.user_ids["ada"])
        [update] = s.scalars(select(RefUpdate).where(RefUpdate.push_id == push.id))
        assert (update.ref, update.new_sha) == ("refs/heads/main", before)
    # An anonymous clone that fetches again sees the next push.
    reader = tmp_path / "r"
    clone(world, world.url("~ada/pushed"), reader)
    (work / "next.txt").write_text("next\n")
    git(work, "add", "next.txt")
    git(work, "commit", "-qm", "next")
    git(work, "push", "-q", world.url("~ada/pushed", "ada"), "main")
    git(reader, "fetch", "-q")
    assert git(reader, "rev-parse", "origin/main").stdout.strip() == head_of(work)


def test_a_push_larger_than_the_form_limit(world, tmp_path) -> None:
    """Past http.postBuffer (1 MiB) git sends the pack chunked; the web's 1 MiB limit
    on forms does not apply to it."""
    work = tmp_path / "w"
    clone(world, world.url("~ada/pushed"), work)
    (work / "big.bin").write_bytes(os.urandom(3 * 1024 * 1024))
    git(work, "add", "big.bin")
    git(work, "commit", "-qm", "a big file")
    result = git(work, "push", world.url("~ada/pushed", "ada"), "main", check=False)
    assert result.returncode == 0, result.stderr
    bare = storage.repository_path(world.settings, "ada", "pushed")
    assert git(bare, "rev-parse", "main").stdout.strip() == head_of(work)


def _push(world: World, tmp_path: Path, url: str):
    work = work_tree(tmp_path / "w", commits=1)
    return git(work, "push", url, "main", check=False)


def test_a_push_without_credentials_asks_for_them(world, tmp_path) -> None:
    result = _push(world, tmp_path, world.url("~ada/x"))
    assert result.returncode != 0
    port = world.served.http_port
    assert (
        f"fatal: could not read Username for 'http://127.0.0.1:{port}': terminal prompts"
        " disabled" in result.stderr
    )


def test_a_push_with_a_wrong_token_fails_authentication(world, tmp_path) -> None:
    url = world.url("~ada/x", "ada", "my_" + "x" * 43)
    result = _push(world, tmp_path, url)
    assert result.returncode != 0
    assert "remote: unknown API token: use an API token as the password" in result.stderr
    assert f"fatal: Authentication failed for '{url.replace('ada:my_' + 'x' * 43 + '@', '')}" in (
        result.stderr
    ), result.stderr
    with new_session(world.settings) as s:
        keys = set(s.scalars(select(RateLimitHit.key)))
    assert f"login:account:user:{world.user_ids['ada']}" in keys  # counted as a failure
    assert "login:ip:127.0.0.1" in keys


def test_a_push_by_a_user_without_write_is_forbidden(world, tmp_path) -> None:
    result = _push(world, tmp_path, world.url("~ada/x", "bob"))
    assert result.returncode != 0
    assert "remote: bob may not push to ~ada/x" in result.stderr
    assert "The requested URL returned error: 403" in result.stderr


# -- private repositories are missing ones -----------------------------------------------

REQUESTS = [
    ("GET", "info/refs?service=git-upload-pack"),
    ("GET", "info/refs?service=git-receive-pack"),
    ("POST", "git-upload-pack"),
    ("POST", "git-receive-pack"),
]


@pytest.mark.parametrize("who", [None, "carol"])
def test_a_private_repository_answers_as_a_missing_one(world, who) -> None:
    headers = basic(world, who) if who else {}
    for method, rest in REQUESTS:
        body = b"0000" if method == "POST" else None
        answers = [
            raw(world, method, f"~ada/{name}/{rest}", body, **headers)
            for name in ("secret", "missing", "x")
        ]
        private, missing, public = answers
        assert private == missing, (method, rest)
        expected = 401 if who is None else 404
        assert private[0] == expected and private[1] == "text/plain; charset=utf-8"
        assert private[3] == b"repository not found\n"
        # The control: the same comparison tells a repository that may be read apart.
        assert public != missing


def test_git_says_the_same_about_a_private_and_a_missing_repository(world, tmp_path) -> None:
    said = {}
    for name in ("secret", "missing"):
        for who in (None, "carol"):
            url = world.url(f"~ada/{name}", who)
            result = clone(world, url, tmp_path / f"{name}-{who}", check=False)
            assert result.returncode != 0
            said[name, who] = result.stderr.replace(name, "NAME")
    assert said["secret", None] == said["missing", None]
    assert said["secret", "carol"] == said["missing", "carol"]
    assert (
        "fatal: repository '" in said["secret", "carol"] and "not found" in said["secret", "carol"]
    )


def test_a_reader_clones_a_private_repository_with_a_token(world, tmp_path) -> None:
    clone(world, world.url("~ada/secret", "bob"), tmp_path / "c")
    assert head_of(tmp_path / "c") == head_of(world.source)


def test_a_bearer_token_works_as_well(world, tmp_path) -> None:
    header = f"http.extraHeader=Authorization: Bearer {world.tokens['bob']}"
    clone(world, world.url("~ada/secret"), tmp_path / "c", "-c", header)
    assert head_of(tmp_path / "c") == head_of(world.source)


def test_failed_credentials_are_rate_limited_per_client(world) -> None:
    """In process, from an address of its own: the served tests' 127.0.0.1 keeps its
    budget."""
    client = create_app(world.settings, BLUEPRINTS).test_client()
    client.environ_base["REMOTE_ADDR"] = "192.0.2.9"
    url = "/~ada/x/info/refs?service=git-receive-pack"

    def attempt(user: str, token: str):
        pair = base64.b64encode(f"{user}:{token}".encode()).decode()
        return client.get(url, headers={"Authorization": f"Basic {pair}"})

    for n in range(LOGIN_PER_IP.count):
        assert attempt(f"ghost{n}", "my_wrong").status_code == 401
    limited = attempt("ada", world.tokens["ada"])  # even the right token, from there
    assert limited.status_code == 429 and limited.content_type == "text/plain; charset=utf-8"
    assert limited.get_data(as_text=True).startswith("too many attempts")
    assert 0 < int(limited.headers["Retry-After"]) <= LOGIN_PER_IP.seconds
