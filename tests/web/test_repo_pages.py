"""The repository pages (`web.repos`) on the generated history of
`tests.repos.browse_fixture`, checked against git: every page answers for every commit of
a sample and every path at the tip; raw bytes, blame, logs, .patch and archive equal
what git gives; names are escaped; a private repository answers as a missing one."""

from __future__ import annotations

import io
import re
import subprocess
import tarfile
from html import escape, unescape
from urllib.parse import quote

import pytest

from repos import storage
from repos.repositories import create_repository
from tests.accounts.helpers import make_user
from tests.repos import browse_fixture as fx
from tests.repos.helpers import git_env
from tests.web.test_list_access import sign_in_as


@pytest.fixture
def world(session, settings):
    ada = make_user(session, "ada", "ada@example.org")
    make_user(session, "eve", "eve@example.org")
    widget = create_repository(session, settings, ada, "widget", description="A <widget> & co")
    secret = create_repository(session, settings, ada, "secret", visibility="private")
    empty = create_repository(session, settings, ada, "empty")
    session.commit()
    for repo in (widget, secret):
        fx.fill_repository(storage.path_of(settings, repo))
    return storage.path_of(settings, widget), empty


def git_out(path, *args: str) -> bytes:
    return subprocess.run(
        ["git", "--git-dir", str(path), *args], capture_output=True, check=True, env=git_env()
    ).stdout


def get_ok(client, url: str):
    response = client.get(url)
    assert response.status_code == 200, (
        url,
        response.status_code,
        response.get_data(as_text=True)[:500],
    )
    return response


def q(path: str) -> str:
    return quote(path, safe="/")


BASE = "/~ada/widget"


def test_summary_shows_readme_escaped_clone_urls_and_recent_commits(client, world):
    page = get_ok(client, BASE).get_data(as_text=True)
    assert escape("A <widget> & its tools.") in page and "<widget>" not in page
    assert "A &lt;widget&gt; &amp; co" in page
    assert "http://archive.example.org/~ada/widget" in page and "git@" in page
    assert "Merge topic/210" in page or "Step 239" in page
    response = client.get(BASE + ".git")
    assert response.status_code in (301, 308) and response.headers["Location"].endswith(BASE)


def test_an_empty_repository_says_how_to_push(client, world):
    page = get_ok(client, "/~ada/empty").get_data(as_text=True)
    assert "This repository is empty" in page and "git push -u origin main" in page


def test_every_path_at_the_tip_answers_and_raw_bytes_equal_git(client, world):
    path, _ = world
    names = git_out(path, "ls-tree", "-r", "-t", "--name-only", "-z", "main").split(b"\0")
    for name in filter(None, (n.decode() for n in names)):
        get_ok(client, f"{BASE}/tree/main/item/{q(name)}")
        kind = (
            git_out(path, "cat-file", "-t", f"main:{name}").strip()
            if name != "vendor/lib"
            else b"commit"
        )
        if kind == b"blob":
            raw = get_ok(client, f"{BASE}/blob/main/item/{q(name)}").get_data()
            assert raw == git_out(path, "cat-file", "blob", f"main:{name}"), name
            get_ok(client, f"{BASE}/blame/main/item/{q(name)}")
            get_ok(client, f"{BASE}/log/main?path={quote(name)}")


def test_every_page_answers_for_a_sample_of_commits(client, world):
    path, _ = world
    shas = git_out(path, "log", "--format=%H", "--all").decode().split()
    merges = set(git_out(path, "log", "--merges", "--format=%H", "--all").decode().split())
    sample = shas[:: max(1, len(shas) // 25)] + sorted(merges)[:3] + [shas[-1]]
    for sha in sample:
        get_ok(client, f"{BASE}/commit/{sha}")
        get_ok(client, f"{BASE}/tree/{sha}")
        get_ok(client, f"{BASE}/log/{sha}")
        get_ok(client, f"{BASE}/tree/{sha[:10]}/item/src")
        if sha not in merges:
            patch = get_ok(client, f"{BASE}/commit/{sha}.patch").get_data()
            assert patch == git_out(path, "format-patch", "--stdout", "-1", sha)
        else:
            assert client.get(f"{BASE}/commit/{sha}.patch").status_code == 404
    for ref in ("main", fx.SLASHED_BRANCH, fx.ANNOTATED_TAG, fx.LIGHT_TAG):
        get_ok(client, f"{BASE}/tree/{ref}")
        get_ok(client, f"{BASE}/log/{ref}")
        get_ok(client, f"{BASE}/tree/{ref}/item/README.md")
    refs = get_ok(client, f"{BASE}/refs").get_data(as_text=True)
    assert fx.SLASHED_BRANCH in refs and escape("Release 1.0 <with> & markup") in refs


def test_a_blob_page_highlights_with_line_anchors(client, world):
    page = get_ok(client, f"{BASE}/tree/main/item/big.txt").get_data(as_text=True)
    assert page.count('<tr id="L') == fx.BIG_LINES
    assert 'id="L2000"' in page and 'href="#L12"' in page
    page = get_ok(client, f"{BASE}/tree/main/item/tools/run.sh").get_data(as_text=True)
    assert 'class="nb"' in page or 'class="c' in page  # Pygments' shell lexer ran
    page = get_ok(client, f"{BASE}/tree/main/item/img/logo.bin").get_data(as_text=True)
    assert "A binary file" in page
    page = get_ok(client, f"{BASE}/tree/main/item/latin1.txt").get_data(as_text=True)
    assert "caf\ufffd" in page


def test_names_and_contents_are_escaped(client, world):
    tree = get_ok(client, f"{BASE}/tree/main").get_data(as_text=True)
    assert "&lt;b&gt;&amp;.txt" in tree and "<b>&.txt" not in tree
    assert "vendor" in tree
    vendor = get_ok(client, f"{BASE}/tree/main/item/vendor").get_data(as_text=True)
    assert "submodule" in vendor and fx.SUBMODULE_SHA[:12] in vendor
    blob = get_ok(client, f"{BASE}/tree/main/item/{quote(fx.ESCAPED_NAME)}").get_data(as_text=True)
    assert "<script>" not in blob and "&lt;" in blob
    raw = client.get(f"{BASE}/blob/main/item/{quote(fx.ESCAPED_NAME)}")
    assert raw.headers["Content-Type"].startswith("text/plain")


def test_blame_lines_equal_git_blame_porcelain(client, world):
    path, _ = world
    for name in ("big.txt", "src/new.txt"):
        page = get_ok(client, f"{BASE}/blame/main/item/{name}").get_data(as_text=True)
        rows = re.findall(r'<tr id="L(\d+)">(.*?)</tr>', page, re.S)
        porcelain = git_out(path, "blame", "--line-porcelain", "main", "--", name).decode()
        expected = [
            line.split(" ")[0]
            for line in porcelain.split("\n")
            if re.match(r"^[0-9a-f]{40} \d+ \d+", line)
        ]
        assert len(rows) == len(expected)
        current = None
        for (number, row), sha in zip(rows, expected, strict=True):
            found = re.search(r'data-sha="([0-9a-f]{40})"', row)
            current = found.group(1) if found else current
            assert current == sha, (name, number)


def test_log_pages_chain_and_the_path_log_equals_git_log(client, world):
    path, _ = world
    for log_path in ("", "big.txt", "topic", "src/new.txt"):
        expected = (
            git_out(path, "log", "--format=%H", "main", "--", *([log_path] if log_path else []))
            .decode()
            .split()
        )
        shown: list[str] = []
        url = f"{BASE}/log/main" + (f"?path={quote(log_path)}" if log_path else "")
        while url:
            page = get_ok(client, url).get_data(as_text=True)
            shown += re.findall(r'href="/~ada/widget/commit/([0-9a-f]{40})"', page)
            older = re.search(r'<a rel="next" href="([^"]+)"', page)
            url = unescape(older.group(1)) if older else ""
        assert shown == expected, log_path


def test_the_archive_holds_the_files_git_ls_tree_lists(client, world):
    path, _ = world
    for ref in ("main", fx.SLASHED_BRANCH):
        response = get_ok(client, f"{BASE}/archive/{ref}.tar.gz")
        assert response.is_streamed
        with tarfile.open(fileobj=io.BytesIO(response.get_data()), mode="r:gz") as archive:
            members = [m for m in archive.getmembers() if not m.isdir()]
            prefix = "widget-" + ref.replace("/", "-") + "/"
            names = sorted(m.name.removeprefix(prefix) for m in members)
        listed = git_out(path, "ls-tree", "-r", "--name-only", "-z", ref).decode().split("\0")
        gitlinks = {"vendor/lib"}  # git archive writes a submodule as an empty directory
        assert names == sorted(n for n in listed if n and n not in gitlinks)


BAD = [
    "/tree/nope",
    "/tree/main/item/nope",
    "/tree/main/item/..%2F..%2Fetc",
    "/tree/" + "f" * 40,
    "/tree/main~1",
    "/blob/main/item/src",
    "/blob/main/item/vendor/lib",
    "/blob/nope/item/README.md",
    "/blame/main/item/nope",
    "/log/nope",
    "/log/main?after=" + "f" * 40,
    "/log/main?after=zz",
    "/commit/nope",
    "/commit/" + "0" * 40,
    "/commit/zzzz.patch",
    "/archive/nope.tar.gz",
]


@pytest.mark.parametrize("bad", BAD)
def test_bad_refs_paths_and_shas_are_404_naming_them(client, world, bad):
    response = client.get(BASE + bad)
    assert response.status_code == 404, response.status_code
    text = unescape(response.get_data(as_text=True))
    assert any(
        word in text
        for word in ("nope", "f" * 40, "0" * 40, "zz", "main~1", "src", "vendor/lib", "etc")
    )


ROUTES = [
    "",
    ".git",
    "/tree/main",
    "/tree/main/item/README.md",
    "/blob/main/item/README.md",
    "/blame/main/item/README.md",
    "/log/main",
    "/log/main?path=README.md",
    "/refs",
    "/archive/main.tar.gz",
]


@pytest.mark.parametrize("who", [None, "eve@example.org"])
def test_a_private_repository_answers_exactly_as_a_missing_one(client, settings, world, who):
    path, _ = world
    if who:
        sign_in_as(client, settings, who)
    head = git_out(path, "rev-parse", "main").decode().strip()
    for route in [*ROUTES, f"/commit/{head}", f"/commit/{head}.patch"]:
        private = client.get(f"/~ada/secret{route}")
        missing = client.get(f"/~ada/ghostx{route}")
        assert private.status_code == missing.status_code == 404, route
        assert private.get_data(as_text=True).replace("secret", "ghostx") == missing.get_data(
            as_text=True
        )


def test_the_owner_sees_the_private_repository(client, settings, world):
    """The control: the same requests reach the private repository for its owner."""
    sign_in_as(client, settings, "ada@example.org")
    for route in ROUTES[2:]:
        assert client.get(f"/~ada/secret{route}").status_code == 200, route
    assert client.get("/~ada/secret").status_code == 200
