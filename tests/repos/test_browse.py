"""Reading a repository for its pages (`repos.browse`, `repos.blame`), checked against
git itself on a generated history (`tests.repos.browse_fixture`). No database."""

from __future__ import annotations

import subprocess

import pygit2
import pytest

from repos import browse
from repos.blame import parse_porcelain
from repos.browse import EntryKind, NotInRepository
from tests.repos import browse_fixture as fx
from tests.repos.helpers import git_env


@pytest.fixture(scope="module")
def path():
    return fx.fixture_repository()


@pytest.fixture(scope="module")
def repo(path):
    return pygit2.Repository(str(path))


def git_out(path, *args: str) -> bytes:
    return subprocess.run(
        ["git", "--git-dir", str(path), *args], capture_output=True, check=True, env=git_env()
    ).stdout


def git_lines(path, *args: str) -> list[str]:
    return git_out(path, *args).decode().split()


def test_refs_resolve_as_git_resolves_them(path, repo):
    for ref in ("main", fx.SLASHED_BRANCH, fx.ANNOTATED_TAG, fx.LIGHT_TAG, "topic/30"):
        expected = git_out(path, "rev-parse", f"{ref}^{{commit}}").decode().strip()
        assert str(browse.resolve_ref(repo, ref).id) == expected, ref
    head = git_out(path, "rev-parse", "main").decode().strip()
    assert str(browse.resolve_ref(repo, head).id) == head
    assert str(browse.resolve_ref(repo, head[:7]).id) == head
    assert str(browse.resolve_ref(repo, head.upper()).id) == head


@pytest.mark.parametrize(
    "ref", ["nope", "", "main~1", "HEAD^", "main..x", "a" * 2000, "zzzz", "../x", "ab"]
)
def test_unknown_refs_are_refused_by_name(repo, ref):
    with pytest.raises(NotInRepository, match="no branch, tag or commit"):
        browse.resolve_ref(repo, ref)


def test_tree_lists_dirs_first_with_modes_sizes_submodules_and_symlinks(repo):
    commit = browse.resolve_ref(repo, "main")
    entries = browse.list_tree(repo, commit, "")
    kinds = [e.kind for e in entries]
    trees = [e for e in entries if e.kind is EntryKind.tree]
    assert kinds[: len(trees)] == [EntryKind.tree] * len(trees)
    by_name = {e.name: e for e in entries}
    assert by_name["link-to-readme"].kind is EntryKind.symlink
    assert by_name["link-to-readme"].mode_text == "lrwxrwxrwx"
    assert by_name["big.txt"].size == len(fx._big(3))
    assert by_name["img"].kind is EntryKind.tree and by_name["img"].size is None
    vendor = browse.list_tree(repo, commit, "vendor/")
    assert vendor[0].kind is EntryKind.submodule and vendor[0].sha == fx.SUBMODULE_SHA
    assert browse.list_tree(repo, commit, "tools")[0].mode_text == "-rwxr-xr-x"
    for bad in ("nope", "big.txt", "vendor/lib", "../etc", "src//file1.txt", "src/./x"):
        with pytest.raises(NotInRepository):
            browse.list_tree(repo, commit, bad)


def test_blob_info_reads_small_text_and_marks_binary(repo, path):
    commit = browse.resolve_ref(repo, "main")
    text = browse.blob_info(repo, commit, "latin1.txt")
    assert text.data == fx.LATIN1 and not text.binary and not text.too_large
    binary = browse.blob_info(repo, commit, "img/logo.bin")
    assert binary.binary and binary.data is None
    link = browse.blob_info(repo, commit, "link-to-readme")
    assert link.symlink and link.data == b"README.md"
    with pytest.raises(NotInRepository):
        browse.blob_info(repo, commit, "src")
    with pytest.raises(NotInRepository):
        browse.blob_info(repo, commit, "vendor/lib")


def test_a_blob_too_large_is_not_read_for_the_page(tmp_path):
    work = tmp_path / "w.git"
    subprocess.run(["git", "init", "-q", "--bare", str(work)], check=True, env=git_env())
    huge = b"x" * (browse.BLOB_SHOWN_MAX + 10)
    stream = (
        b"commit refs/heads/main\ncommitter A <a@b> 1700000000 +0000\ndata 2\nx\n"
        b"M 100644 inline huge\ndata %d\n" % len(huge) + huge + b"\n"
    )
    subprocess.run(
        ["git", "--git-dir", str(work), "fast-import", "--quiet"], input=stream, check=True
    )
    read: list = []
    repo = _CountingRepository(str(work), read)
    commit = browse.resolve_ref(repo, "main")
    info = browse.blob_info(repo, commit, "huge")
    assert info.too_large and info.data is None and info.size == len(huge)
    assert read == []  # only the header was read
    streamed = b"".join(browse.blob_chunks(repo, work, info.sha, info.size))
    assert streamed == huge and read == []
    assert browse.blob_info(repo, commit, "huge").too_large


class _CountingRepository(pygit2.Repository):
    """A repository whose object database counts whole reads."""

    def __init__(self, path: str, reads: list) -> None:
        super().__init__(path)
        self.reads = reads

    @property
    def odb(self):
        return _CountingOdb(super().odb, self.reads)


class _CountingOdb:
    def __init__(self, odb, read: list) -> None:
        self.odb, self.reads = odb, read

    def read_header(self, oid):
        return self.odb.read_header(oid)

    def read(self, oid):
        self.reads.append(oid)
        return self.odb.read(oid)


def test_log_pages_chain_without_gaps_or_repeats(path, repo):
    for ref in ("main", fx.SLASHED_BRANCH):
        expected = git_lines(path, "log", "--format=%H", ref)
        assert len(expected) > 250
        assert _all_pages(repo, ref) == expected, ref


@pytest.mark.parametrize(
    "log_path",
    [
        "big.txt",
        "src/new.txt",
        "src/old.txt",
        "src",
        "topic/30.txt",
        "topic",
        "img/logo.bin",
        "vendor/lib",
        "nope",
        "README.md",
    ],
)
def test_the_path_log_equals_git_log_of_the_path(path, repo, log_path):
    expected = git_lines(path, "log", "--format=%H", "main", "--", log_path)
    assert _all_pages(repo, "main", log_path, limit=7) == expected


def _all_pages(repo, ref: str, log_path: str = "", limit: int = 50) -> list[str]:
    tip = browse.resolve_ref(repo, ref)
    shown: list[str] = []
    after = None
    while True:
        page = browse.log_page(repo, tip, path=log_path, after=after, limit=limit)
        shown += [c.sha for c in page.commits]
        if page.next_after is None:
            return shown
        assert page.next_after == shown[-1]
        after = page.next_after


def test_a_log_after_a_commit_not_in_it_is_refused(repo):
    main = browse.resolve_ref(repo, "main")
    other = browse.resolve_ref(repo, fx.SLASHED_BRANCH)
    with pytest.raises(NotInRepository):
        browse.log_page(repo, main.parents[0], after=str(main.id))
    with pytest.raises(NotInRepository):
        browse.log_page(repo, main, after="f" * 40)
    assert browse.log_page(repo, other, limit=1).commits[0].sha == str(other.id)


def test_commit_view_diffs_against_the_first_parent(path, repo):
    log = git_lines(path, "log", "--format=%H", "main")
    merge = git_lines(path, "log", "--merges", "--format=%H", "main")[0]
    for sha in [*log[:: len(log) // 12], merge, log[-1]]:
        view = browse.commit_view(repo, browse.resolve_commit(repo, sha))
        names = git_out(
            path,
            "diff-tree",
            "-r",
            "-M",
            "--root",
            "--name-only",
            "--no-commit-id",
            f"{sha}^1" if sha != log[-1] else sha,
            *([sha] if sha != log[-1] else []),
        )
        for name in names.decode().split():
            assert name in view.diff, (sha, name)
    renamed = next(
        s for s in log if git_out(path, "log", "-1", "--format=%s", s).startswith(b"Step 60:")
    )
    assert "rename to src/new.txt" in browse.commit_view(repo, repo.get(renamed)).diff


def test_refs_list_branches_and_annotated_tags(repo):
    names = [b.name for b in browse.branches(repo)]
    assert "main" in names and fx.SLASHED_BRANCH in names
    tags = {t.name: t for t in browse.tags(repo)}
    assert tags[fx.ANNOTATED_TAG].annotated and tags[fx.ANNOTATED_TAG].message == fx.TAG_MESSAGE
    assert tags[fx.ANNOTATED_TAG].tagger.name == "Ada Lovelace"
    assert not tags[fx.LIGHT_TAG].annotated


def test_readme_is_found_at_the_root(repo):
    name, text = browse.readme(repo, browse.resolve_ref(repo, "main"))
    assert name == "README.md" and "<widget>" in text


def test_blame_porcelain_parses_every_line_with_its_commit(path):
    for file in ("big.txt", "src/new.txt", fx.ESCAPED_NAME, "latin1.txt"):
        out = git_out(path, "blame", "--porcelain", "main", "--", file)
        lines = parse_porcelain(out)
        content = git_out(path, "cat-file", "blob", f"main:{file}")
        assert [line.content for line in lines] == content.split(b"\n")[:-1]
        assert [line.number for line in lines] == list(range(1, len(lines) + 1))
        line_porcelain = git_out(path, "blame", "--line-porcelain", "main", "--", file)
        shas = [
            row.split(b" ")[0].decode() for row in line_porcelain.split(b"\n") if _is_header(row)
        ]
        assert [line.commit.sha for line in lines] == shas
        assert all(line.commit.author for line in lines)


def _is_header(row: bytes) -> bool:
    parts = row.split(b" ")
    return len(parts) in (3, 4) and len(parts[0]) == 40 and all(p.isdigit() for p in parts[1:])


def test_blame_parser_takes_garbage_without_raising():
    assert parse_porcelain(b"") == []
    assert parse_porcelain(b"\tno header\nrandom words here\n") == []
